#!/usr/bin/env python3
"""Misbehaving TCP peers for tests/test_faults*.sh (peer.py has the polite ones).

    faultpeer.py drip        --ready FILE --bytes N [--every SECS] --report FILE
    faultpeer.py reset-after --ready FILE --after N --report FILE
    faultpeer.py stdin-reset --send FILE --report FILE -- CMD...

drip accepts one client, sends N bytes one at a time, SECS apart (0.1),
half-closes, reads to EOF; the report is "SENT_SHA256 RECEIVED_BYTES".

reset-after accepts one client, reads until it has N bytes, then resets
the connection (SO_LINGER 0: whatever was still unread makes it a reset
for certain); the report is "RECEIVED_BYTES".

stdin-reset runs CMD with its stdin on a TCP connection, sends FILE over
it, waits until the kernel has it all acknowledged, then resets it: CMD's
reads of stdin fail with ECONNRESET. The report is "SENT_BYTES", written
before the reset. Exits with CMD's status (128+N for a signal).

Every wait is bounded by --timeout (default 20 s; exit 3 when it runs out).
"""
import argparse
import fcntl
import hashlib
import os
import socket
import struct
import subprocess
import sys
import termios
import time


def write_atomic(path, text):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def accept_one(ready, timeout):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(timeout)
    write_atomic(ready, "%d\n" % ls.getsockname()[1])
    sock, _ = ls.accept()
    ls.close()
    sock.settimeout(timeout)
    return sock


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def unacked(sock):
    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4)
    return struct.unpack("i", buf)[0]


def cmd_drip(a):
    sock = accept_one(a.ready, a.timeout)
    digest = hashlib.sha256()
    for i in range(a.bytes):
        byte = bytes([(i * 37 + 11) % 256])
        sock.sendall(byte)
        digest.update(byte)
        time.sleep(a.every)
    sock.shutdown(socket.SHUT_WR)
    received = 0
    while True:
        data = sock.recv(65536)
        if not data:
            break
        received += len(data)
    write_atomic(a.report, "%s %d\n" % (digest.hexdigest(), received))
    return 0


def cmd_reset_after(a):
    sock = accept_one(a.ready, a.timeout)
    received = 0
    while received < a.after:
        data = sock.recv(min(65536, a.after - received))
        if not data:
            break
        received += len(data)
    write_atomic(a.report, "%d\n" % received)
    reset(sock)
    return 0


def cmd_stdin_reset(a):
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    theirs = socket.create_connection(ls.getsockname(), timeout=a.timeout)
    ours, _ = ls.accept()
    ls.close()
    proc = subprocess.Popen(cmd, stdin=theirs.fileno())
    theirs.close()
    deadline = time.monotonic() + a.timeout
    sent = 0
    with open(a.send, "rb") as f:
        data = f.read()
    ours.settimeout(a.timeout)
    ours.sendall(data)
    sent = len(data)
    while unacked(ours) > 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    write_atomic(a.report, "%d\n" % sent)
    reset(ours)
    try:
        rc = proc.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        return 124
    return rc if rc >= 0 else 128 - rc


def main():
    ap = argparse.ArgumentParser(prog="faultpeer.py")
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("drip")
    p.add_argument("--ready", required=True)
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--every", type=float, default=0.1)
    p.add_argument("--report", required=True)
    p = sub.add_parser("reset-after")
    p.add_argument("--ready", required=True)
    p.add_argument("--after", type=int, required=True)
    p.add_argument("--report", required=True)
    p = sub.add_parser("stdin-reset")
    p.add_argument("--send", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    for p in sub.choices.values():
        p.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()
    try:
        return {"drip": cmd_drip, "reset-after": cmd_reset_after,
                "stdin-reset": cmd_stdin_reset}[a.mode](a)
    except (socket.timeout, TimeoutError):
        sys.stderr.write("faultpeer.py: timed out\n")
        return 3


if __name__ == "__main__":
    sys.exit(main())
