#!/usr/bin/env python3
"""Clients of `sockcat listen --broker` for test_broker.sh.

mesh: N clients join (TCP addresses in turn, a Unix path, or UDP), wait
until sockcat's stderr says every one has joined, write "go" to sockcat's
stdin (a fifo), and once each has read "go" (the broadcast of stdin), send
LINES lines "cI lJ" in a few writes. Each checks that it gets every other
client's lines in each sender's order and none of its own. Prints one line:
"ok" or what went wrong; exit status 0 or 1.

stuck: connects and never reads (a slow client), until killed.
"""
import argparse
import os
import re
import select
import socket
import sys
import time


def parse_target(text):
    kind, _, rest = text.partition(":")
    if kind == "unix":
        return (socket.AF_UNIX, socket.SOCK_STREAM, rest)
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    stype = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    return (family, stype, (host, int(port)))


def connect(target):
    family, stype, addr = target
    s = socket.socket(family, stype)
    if family == socket.AF_UNIX or stype == socket.SOCK_STREAM:
        s.connect(addr)
    else:
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        s.connect(addr)
    return s


def wait_joined(err_path, pattern, count, deadline):
    rx = re.compile(pattern)
    while time.time() < deadline:
        try:
            with open(err_path, errors="replace") as f:
                if sum(1 for line in f if rx.search(line)) >= count:
                    return True
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return False


class Client:
    def __init__(self, index, sock, dgram):
        self.index = index
        self.sock = sock
        self.dgram = dgram
        self.buf = b""
        self.go = False
        self.next_seq = {}
        self.count = 0
        self.errors = []
        self.eof = False

    def take(self, line):
        if not self.go:
            if line == b"go":
                self.go = True
            elif not line.startswith(b"hello "):
                self.errors.append("before go: %r" % line)
            return
        if line.startswith(b"hello "):
            return  # a UDP client making itself known
        m = re.fullmatch(rb"c(\d+) l(\d+)", line)
        if not m:
            self.errors.append("bad line %r" % line[:80])
            return
        sender, seq = int(m.group(1)), int(m.group(2))
        if sender == self.index:
            self.errors.append("got its own line %r" % line)
            return
        if self.next_seq.get(sender, 0) != seq:
            self.errors.append("from c%d: l%d after l%d" % (sender, seq, self.next_seq.get(sender, 0) - 1))
        self.next_seq[sender] = seq + 1
        self.count += 1

    def read(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.errors.append("read: %s" % e)
            self.eof = True
            return
        if not data:
            self.eof = True
            return
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            self.take(line)


def mesh(args):
    targets = [parse_target(t) for t in args.target]
    dgram = targets[0][1] == socket.SOCK_DGRAM
    deadline = time.time() + args.timeout
    clients = []
    for i in range(args.clients):
        s = connect(targets[i % len(targets)])
        clients.append(Client(i, s, dgram))
        if dgram:
            s.send(b"hello c%d\n" % i)
    if not wait_joined(args.err, args.join, args.clients, deadline):
        print("not every client joined")
        return 1
    with open(args.go, "w") as f:
        f.write("go\n")
    for c in clients:
        c.sock.setblocking(False)
    expected = (args.clients - 1) * args.lines
    batches = {c.index: 0 for c in clients}
    per_write = max(1, args.lines // args.writes)
    while time.time() < deadline:
        busy = [c for c in clients if c.count < expected and not c.eof]
        if not busy and all(b * per_write >= args.lines for b in batches.values()):
            break
        ready, _, _ = select.select([c.sock for c in clients if not c.eof], [], [], 0.05)
        by_sock = {c.sock: c for c in clients}
        for s in ready:
            by_sock[s].read()
        for c in clients:
            first = batches[c.index] * per_write
            if c.go and first < args.lines:
                lines = range(first, min(args.lines, first + per_write))
                if dgram:
                    for j in lines:
                        c.sock.send(b"c%d l%d\n" % (c.index, j))
                else:
                    c.sock.setblocking(True)
                    c.sock.sendall(b"".join(b"c%d l%d\n" % (c.index, j) for j in lines))
                    c.sock.setblocking(False)
                batches[c.index] += 1
    problems = []
    for c in clients:
        if c.count != expected:
            problems.append("c%d got %d of %d lines" % (c.index, c.count, expected))
        problems += ["c%d: %s" % (c.index, e) for e in c.errors[:3]]
    print("; ".join(problems[:6]) if problems else "ok")
    return 1 if problems else 0


def stuck(args):
    s = connect(parse_target(args.target[0]))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with open(args.ready, "w") as f:
        f.write("%d\n" % s.getsockname()[1] if s.family != socket.AF_UNIX else "1\n")
    time.sleep(args.timeout)
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--timeout", type=float, default=20)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("mesh")
    m.add_argument("--target", action="append", required=True,
                   help="tcp:HOST:PORT, udp:HOST:PORT or unix:PATH (repeat to take turns)")
    m.add_argument("--clients", type=int, default=3)
    m.add_argument("--lines", type=int, default=20)
    m.add_argument("--writes", type=int, default=4)
    m.add_argument("--err", required=True, help="sockcat's stderr (with -v)")
    m.add_argument("--join", default="connection from", help="a joined client's -v line")
    m.add_argument("--go", required=True, help="sockcat's stdin, a fifo")
    st = sub.add_parser("stuck")
    st.add_argument("--target", action="append", required=True)
    st.add_argument("--ready", required=True)
    args = p.parse_args()
    sys.exit(mesh(args) if args.cmd == "mesh" else stuck(args))


if __name__ == "__main__":
    main()
