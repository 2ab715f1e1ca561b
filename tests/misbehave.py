#!/usr/bin/env python3
"""Misbehaving peers for the timer and ending suites.

    misbehave.py server --ready FILE [--report FILE] [--hold SECS]
        accepts one client on 127.0.0.1 port 0 (the port goes to FILE),
        reads everything, never writes and never closes its side (it holds
        the connection SECS more after the client's EOF, default 20);
        --report gets "BYTES SHA256" once the client's EOF came, --times
        "ACCEPTED EOF" (time.monotonic() seconds, comparable across processes).
    misbehave.py client --port P [--send TEXT] [--half-close] [--ready FILE]
        [--hold SECS]
        connects, sends TEXT, half-closes if asked, writes FILE once that is
        done, then reads (discarding) and never closes for SECS (default 20).
    misbehave.py udp-echo --ready FILE
        answers each datagram with it, forever (bounded by 20 s).
"""
import argparse
import hashlib
import os
import socket
import sys
import time


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def server(a):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    write_atomic(a.ready, "%d\n" % s.getsockname()[1])
    s.settimeout(20)
    c, _ = s.accept()
    accepted = time.monotonic()
    c.settimeout(20)
    h, n = hashlib.sha256(), 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        h.update(d)
        n += len(d)
    if a.report:
        write_atomic(a.report, "%d %s\n" % (n, h.hexdigest()))
    if a.times:
        write_atomic(a.times, "%.6f %.6f\n" % (accepted, time.monotonic()))
    time.sleep(a.hold)


def client(a):
    c = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    if a.send:
        c.sendall(a.send.encode())
    if a.half_close:
        c.shutdown(socket.SHUT_WR)
    if a.ready:
        write_atomic(a.ready, "%d\n" % c.getsockname()[1])
    end = time.monotonic() + a.hold
    c.settimeout(0.2)
    while time.monotonic() < end:
        try:
            if not c.recv(1 << 16):
                time.sleep(0.05)
        except socket.timeout:
            pass
        except OSError:
            break


def udp_echo(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    write_atomic(a.ready, "%d\n" % s.getsockname()[1])
    s.settimeout(20)
    while True:
        d, peer = s.recvfrom(65536)
        s.sendto(d, peer)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="kind", required=True)
    sp = sub.add_parser("server")
    sp.add_argument("--ready", required=True)
    sp.add_argument("--report")
    sp.add_argument("--hold", type=float, default=20)
    sp.add_argument("--times")
    cp = sub.add_parser("client")
    cp.add_argument("--port", type=int, required=True)
    cp.add_argument("--send")
    cp.add_argument("--half-close", action="store_true")
    cp.add_argument("--ready")
    cp.add_argument("--hold", type=float, default=20)
    up = sub.add_parser("udp-echo")
    up.add_argument("--ready", required=True)
    a = p.parse_args()
    try:
        {"server": server, "client": client, "udp-echo": udp_echo}[a.kind](a)
    except socket.timeout:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
