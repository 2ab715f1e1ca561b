#!/usr/bin/env python3
"""Scriptable TCP peer for the sockcat suites.

    peer.py listen  [--host H] [--ready FILE] COMMON...
    peer.py connect --port P [--host H] [--source-port P] COMMON...
    peer.py stall   [--host H] --ready FILE --hold GATE
    peer.py stdio   [--stdin FILE] [--stdout FILE] -- CMD...

listen accepts one client (port 0; the bound port goes to --ready), connect
opens one connection. Then a receiver and a sender run at the same time:

  --send FILE          bytes to send (default: none)
  --send-when GATE     wait until the file GATE exists before sending
  --send-after N|eof   wait until N bytes were received (or EOF) first
  --reply-sha          after EOF, send the hex sha256 of what was received
  --then ACTION        after sending: shut (default, half-close), keep,
                       close (full close) or reset (SO_LINGER 0 close once
                       everything sent was acknowledged; needs --no-read)
  --then-when GATE     wait until GATE exists before ACTION
  --no-read            never read
  --read-when GATE     start reading only once GATE exists
  --idle SECS          stop reading after SECS without data (end "idle")
  --report FILE        written once reading ends: "BYTES SHA256 END",
                       END one of eof, idle, reset, error:<errno name>
  --save FILE          the received bytes (written as they come)
  --sent FILE          created once everything was sent (before ACTION)
  --done FILE          created once ACTION was taken
  --addr FILE          "LOCALPORT PEERADDR PEERPORT" once connected
  --hold GATE          keep the socket open at the end until GATE exists
  --timeout SECS       give up (exit 3) after SECS (default 30)

stall listens with an accept queue that is full, so that a further connect
to it stalls in SYN-SENT; it prints the port to --ready and waits for GATE.
Exit status 2 means stall could not make a connect stall here.

stdio runs CMD with stdin and/or stdout on one end of a socketpair: --stdin
FILE is written into it and then half-closed, --stdout FILE receives what CMD
writes until EOF. Exits with CMD's status.

Gates are files the shell script creates; every wait is bounded by --timeout.
"""
import argparse
import errno
import fcntl
import hashlib
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time

CHUNK = 256 * 1024


def write_atomic(path, text):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def wait_gate(path, deadline):
    # gate.all next to a gate opens every gate (the suites' tearDown).
    every = os.path.join(os.path.dirname(path), "gate.all")
    while not os.path.exists(path) and not os.path.exists(every):
        if time.monotonic() > deadline:
            sys.stderr.write("peer.py: gate %s never opened\n" % path)
            os._exit(3)
        time.sleep(0.01)


def resolve(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, port)


class Peer:
    def __init__(self, args, sock):
        self.a = args
        self.s = sock
        self.deadline = time.monotonic() + args.timeout
        self.cond = threading.Condition()
        self.received = 0
        self.eof = False
        self.digest = hashlib.sha256()

    # -- receiving ---------------------------------------------------------
    def receiver(self):
        a = self.a
        if a.read_when:
            wait_gate(a.read_when, self.deadline)
        save = open(a.save, "wb") if a.save else None
        end = "eof"
        if a.idle:
            self.s.settimeout(a.idle)
        try:
            while True:
                try:
                    data = self.s.recv(CHUNK)
                except socket.timeout:
                    end = "idle"
                    break
                if not data:
                    break
                self.digest.update(data)
                if save:
                    save.write(data)
                    save.flush()
                with self.cond:
                    self.received += len(data)
                    self.cond.notify_all()
        except ConnectionResetError:
            end = "reset"
        except OSError as e:
            end = "error:%s" % errno.errorcode.get(e.errno, e.errno)
        if save:
            save.close()
        if a.report:
            write_atomic(a.report, "%d %s %s\n" %
                         (self.received, self.digest.hexdigest(), end))
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    # -- sending -----------------------------------------------------------
    def wait_received(self, want):
        with self.cond:
            while not self.eof and (want is None or self.received < want):
                left = self.deadline - time.monotonic()
                if left <= 0:
                    sys.stderr.write("peer.py: gave up waiting for data\n")
                    os._exit(3)
                self.cond.wait(left)

    def unacked(self):
        buf = fcntl.ioctl(self.s.fileno(), termios.TIOCOUTQ, b"\0" * 4)
        return struct.unpack("i", buf)[0]

    def sender(self):
        a = self.a
        try:
            if a.send_when:
                wait_gate(a.send_when, self.deadline)
            if a.send_after is not None:
                self.wait_received(None if a.send_after == "eof"
                                   else int(a.send_after))
            if a.send:
                with open(a.send, "rb") as f:
                    while True:
                        data = f.read(CHUNK)
                        if not data:
                            break
                        self.s.sendall(data)
            if a.reply_sha:
                self.wait_received(None)
                self.s.sendall((self.digest.hexdigest() + "\n").encode())
            if a.sent:
                write_atomic(a.sent, "sent\n")
            if a.then_when:
                wait_gate(a.then_when, self.deadline)
            if a.then == "shut":
                self.s.shutdown(socket.SHUT_WR)
            elif a.then == "close":
                self.s.shutdown(socket.SHUT_RDWR)
                self.s.close()
            elif a.then == "reset":
                while self.unacked() > 0:
                    if time.monotonic() > self.deadline:
                        os._exit(3)
                    time.sleep(0.005)
                self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
                self.s.close()
            if a.done:
                write_atomic(a.done, "done\n")
        except OSError as e:
            # The other side went away; the report says what was received.
            sys.stderr.write("peer.py: send: %s\n" % e)

    def run(self):
        a = self.a
        if a.addr:
            local = self.s.getsockname()
            remote = self.s.getpeername()
            write_atomic(a.addr, "%d %s %d\n"
                         % (local[1], remote[0], remote[1]))
        threads = [threading.Thread(target=self.sender, daemon=True)]
        if not a.no_read:
            threads.append(threading.Thread(target=self.receiver, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, self.deadline - time.monotonic()))
            if t.is_alive():
                sys.stderr.write("peer.py: timed out\n")
                os._exit(3)
        if a.hold:
            wait_gate(a.hold, self.deadline)
        if a.then not in ("close", "reset"):
            self.s.close()
        return 0


def common(p):
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--send")
    p.add_argument("--send-when")
    p.add_argument("--send-after")
    p.add_argument("--reply-sha", action="store_true")
    p.add_argument("--then", default="shut",
                   choices=["shut", "keep", "close", "reset"])
    p.add_argument("--then-when")
    p.add_argument("--no-read", action="store_true")
    p.add_argument("--read-when")
    p.add_argument("--idle", type=float)
    p.add_argument("--report")
    p.add_argument("--save")
    p.add_argument("--sent")
    p.add_argument("--done")
    p.add_argument("--addr")
    p.add_argument("--hold")
    p.add_argument("--timeout", type=float, default=30)


def cmd_listen(a):
    family, addr = resolve(a.host, 0)
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.bind(addr)
    ls.listen(1)
    ls.settimeout(a.timeout)
    if a.ready:
        write_atomic(a.ready, "%d\n" % ls.getsockname()[1])
    sock, _ = ls.accept()
    sock.settimeout(None)
    ls.close()
    return Peer(a, sock).run()


def cmd_connect(a):
    family, addr = resolve(a.host, a.port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    if a.source_port:
        sock.bind((a.host, a.source_port))
    sock.settimeout(a.timeout)
    sock.connect(addr)
    sock.settimeout(None)
    return Peer(a, sock).run()


def cmd_stall(a):
    deadline = time.monotonic() + a.timeout
    family, addr = resolve(a.host, 0)
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.bind(addr)
    ls.listen(0)
    addr = (a.host, ls.getsockname()[1])
    fillers = []
    stalled = False
    for _ in range(16):
        c = socket.socket(family, socket.SOCK_STREAM)
        c.setblocking(False)
        c.connect_ex(addr)
        fillers.append(c)
        _, w, _ = select.select([], [c], [], 0.3)
        if not w:
            stalled = True
            break
    if not stalled:
        return 2
    write_atomic(a.ready, "%d\n" % addr[1])
    wait_gate(a.hold, deadline)
    return 0


def cmd_stdio(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    kw = {}
    threads = []
    mine = []
    if a.stdin:
        ours, theirs = socket.socketpair()
        kw["stdin"] = theirs.fileno()
        mine.append((ours, theirs))

        def feed(s=ours):
            try:
                with open(a.stdin, "rb") as f:
                    while True:
                        data = f.read(CHUNK)
                        if not data:
                            break
                        s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                sys.stderr.write("peer.py: stdin: %s\n" % e)
        threads.append(threading.Thread(target=feed, daemon=True))
    if a.stdout:
        ours, theirs = socket.socketpair()
        kw["stdout"] = theirs.fileno()
        mine.append((ours, theirs))

        def drain(s=ours):
            with open(a.stdout, "wb") as f:
                while True:
                    data = s.recv(CHUNK)
                    if not data:
                        break
                    f.write(data)
        threads.append(threading.Thread(target=drain, daemon=True))
    proc = subprocess.Popen(cmd, **kw)
    for _, theirs in mine:
        theirs.close()
    for t in threads:
        t.start()
    try:
        rc = proc.wait(a.timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return 124
    for t in threads:
        t.join(a.timeout)
    return rc if rc >= 0 else 128 - rc


def main():
    ap = argparse.ArgumentParser(prog="peer.py")
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("listen")
    common(p)
    p.add_argument("--ready")
    p = sub.add_parser("connect")
    common(p)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--source-port", type=int)
    p = sub.add_parser("stall")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--ready", required=True)
    p.add_argument("--hold", required=True)
    p.add_argument("--timeout", type=float, default=30)
    p = sub.add_parser("stdio")
    p.add_argument("--stdin")
    p.add_argument("--stdout")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.mode != "stdio":
        signal.alarm(int(a.timeout) + 5)
    return {"listen": cmd_listen, "connect": cmd_connect,
            "stall": cmd_stall, "stdio": cmd_stdio}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
