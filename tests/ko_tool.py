#!/usr/bin/env python3
"""Peers and checkers for the keep-open and stats suites.

Every subcommand is bounded by --timeout (default 20 s) and reports what it
saw as one JSON object in a --status file, written atomically (temp file and
rename), so a shell test can wait for that file and read it.

  client    one TCP client: sends lines, a file, a text or a byte stream,
            reads (or refuses to read until told), half-closes, holds, resets
  multi     many TCP connections from one process, each sends one line
  feed      writes a seeded byte stream into a FIFO (sockcat's stdin), notes
            when the writes stop making progress (stdin paused)
  reader    reads a FIFO (sockcat's stdout), optionally only after a release
            file appears, and checksums each client's share of the bytes
  lines     prints numbered lines on stdout, one write per line (for socat,
            ncat and nc.openbsd clients)
  check-lines   checks an output file made of several clients' lines
  check-prefix  checks that one client's share of an output file is a prefix
                of the stream it sent
  fionread  bytes waiting in a FIFO
  stream    writes a seeded stream on stdout
  refused   connects until the port refuses (listener closed)
  json      prints fields of the one JSON line found in a file
"""

import argparse
import errno
import hashlib
import json
import os
import random
import select
import socket
import sys
import threading
import time

CHUNK = 65536

# Each client of a demultiplexed test draws its bytes from its own alphabet,
# so one client's share of the merged output is the output with every other
# byte deleted.
ALPHABETS = {
    "lower": b"abcdefghijklmnop",
    "upper": b"ABCDEFGHIJKLMNOP",
    "digit": b"0123456789+-*/=_",
}


def alpha_table(name):
    letters = ALPHABETS[name]
    return bytes(letters[b & 15] for b in range(256))


def others_of(name):
    """Bytes that do not belong to alphabet NAME."""
    keep = set(ALPHABETS[name])
    return bytes(b for b in range(256) if b not in keep)


def stream_chunks(seed, alphabet=None):
    """Endless deterministic chunks of CHUNK bytes."""
    rng = random.Random(seed)
    table = alpha_table(alphabet) if alphabet else None
    while True:
        block = rng.randbytes(CHUNK)
        yield block.translate(table) if table else block


def stream_bytes(seed, nbytes, alphabet=None):
    out = bytearray()
    for block in stream_chunks(seed, alphabet):
        if len(out) >= nbytes:
            break
        out += block
    return bytes(out[:nbytes])


def line_for(tag, seq):
    pad = (hashlib.sha1(("%s:%d" % (tag, seq)).encode()).hexdigest() * 2)
    return ("%s %06d %s\n" % (tag, seq, pad[:8 + seq % 40])).encode()


def write_status(path, obj):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.write("\n")
    os.rename(tmp, path)


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def expired(self):
        return self.left() <= 0


def wait_file(path, deadline, stop=None):
    """Waits until PATH exists; False when the deadline passes first."""
    while not os.path.exists(path):
        if deadline.expired() or (stop is not None and stop.is_set()):
            return False
        time.sleep(0.01)
    return True


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# --------------------------------------------------------------------------
# client


class Client:
    def __init__(self, a):
        self.a = a
        self.deadline = Deadline(a.timeout)
        self.t0 = None
        self.received = 0
        self.rhash = hashlib.sha256()
        self.end = None
        self.end_after = None
        self.sent = 0
        self.shash = hashlib.sha256()
        self.stalled = False
        self.stalled_at = None
        self.send_error = None
        self.stop = threading.Event()
        self.reader_done = threading.Event()
        self.out = open(a.out, "wb") if a.out else None

    # The reader runs in its own thread so a client can read and send at
    # once; the socket is non-blocking and both sides use select().
    def reader(self):
        s = self.sock
        try:
            if self.a.no_read:
                if self.a.release:
                    wait_file(self.a.release, self.deadline, self.stop)
                else:
                    self.stop.wait(self.deadline.left())
                if self.stop.is_set() or self.deadline.expired():
                    self.end = "open"
                    return
            while True:
                if self.stop.is_set():
                    self.end = "open"
                    return
                if self.deadline.expired():
                    self.end = "timeout"
                    return
                r, _, _ = select.select([s], [], [], 0.05)
                if not r:
                    continue
                try:
                    data = s.recv(CHUNK)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    self.end = "reset"
                    return
                except OSError as e:
                    self.end = "error:%s" % errno.errorcode.get(e.errno, e.errno)
                    return
                if not data:
                    self.end = "eof"
                    return
                self.received += len(data)
                self.rhash.update(data)
                if self.out:
                    self.out.write(data)
                    self.out.flush()
        finally:
            self.end_after = time.monotonic() - self.t0
            self.reader_done.set()

    def send_all(self, data, stall_secs=None):
        """Sends DATA; returns False when the connection failed."""
        s = self.sock
        view = memoryview(data)
        last = time.monotonic()
        while view:
            if self.deadline.expired():
                self.send_error = "timeout"
                return False
            _, w, _ = select.select([], [s], [], 0.05)
            n = 0
            if w:
                try:
                    n = s.send(view[:CHUNK])
                except BlockingIOError:
                    n = 0
                except OSError as e:
                    self.send_error = errno.errorcode.get(e.errno, str(e.errno))
                    return False
            now = time.monotonic()
            if n:
                self.shash.update(view[:n])
                self.sent += n
                view = view[n:]
                last = now
            elif (stall_secs and not self.stalled
                  and now - last >= stall_secs):
                self.stalled = True
                self.stalled_at = self.sent
                if self.a.stall_file:
                    write_status(self.a.stall_file, {"sent": self.sent})
        return True

    def payloads(self):
        a = self.a
        if a.send_text is not None:
            yield a.send_text.encode().decode("unicode_escape").encode(
                "latin-1"), None
        if a.send_file:
            with open(a.send_file, "rb") as f:
                yield f.read(), None
        if a.send_lines:
            tag, count = a.send_lines.split(":")
            for seq in range(int(count)):
                yield line_for(tag, seq), a.delay_ms / 1000.0
            return
        if a.send_stream:
            alphabet, seed, nbytes = a.send_stream.split(":")
            left = int(nbytes)
            for block in stream_chunks(int(seed), alphabet):
                if left <= 0:
                    break
                yield block[:left], a.delay_ms / 1000.0
                left -= len(block[:left])

    def run(self):
        a = self.a
        s = socket.socket(family_of(a.host), socket.SOCK_STREAM)
        if a.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
        if a.sndbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, a.sndbuf)
        if a.src:
            s.bind((a.src, 0))
        s.settimeout(max(self.deadline.left(), 0.1))
        self.t0 = time.monotonic()
        try:
            s.connect((a.host, a.port))
        except OSError as e:
            write_status(a.status, {
                "connected": False,
                "error": errno.errorcode.get(e.errno, str(e.errno))})
            return 3
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.port = s.getsockname()[1]
        if a.port_file:
            write_status(a.port_file, self.port)
        th = threading.Thread(target=self.reader, daemon=True)
        th.start()

        ok = True
        if a.go:
            wait_file(a.go, self.deadline)
        if a.after_eof:
            self.reader_done.wait(max(self.deadline.left(), 0))
        paused = False
        for data, pause in self.payloads():
            if a.pause_at is not None and not paused and self.sent >= a.pause_at:
                paused = True
                wait_file(a.pause_file, self.deadline)
            if not self.send_all(data, a.stall_secs):
                ok = False
                break
            if pause:
                time.sleep(pause)
        if ok and a.shut:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                self.send_error = errno.errorcode.get(e.errno, str(e.errno))
        if a.hold:
            wait_file(a.hold, self.deadline, self.reader_done
                      if a.hold_until_eof else None)
        elif not a.no_read or a.release:
            self.reader_done.wait(max(self.deadline.left(), 0))
        self.stop.set()
        th.join(5)
        if a.rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        if self.out:
            self.out.close()
        write_status(a.status, {
            "connected": True, "port": self.port,
            "received": self.received, "sha_received": self.rhash.hexdigest(),
            "end": self.end, "end_after": round(self.end_after or 0, 3),
            "sent": self.sent, "sha_sent": self.shash.hexdigest(),
            "stalled": self.stalled, "stalled_at": self.stalled_at,
            "send_error": self.send_error})
        return 0


def cmd_client(a):
    return Client(a).run()


# --------------------------------------------------------------------------
# multi


def cmd_multi(a):
    deadline = Deadline(a.timeout)
    socks, ports, errors = [], [], []
    for i in range(a.count):
        s = socket.socket(family_of(a.host), socket.SOCK_STREAM)
        s.settimeout(max(deadline.left(), 0.1))
        try:
            s.connect((a.host, a.port))
            s.sendall(("%s-%d\n" % (a.prefix, i)).encode())
        except OSError as e:
            errors.append(errno.errorcode.get(e.errno, str(e.errno)))
            s.close()
            continue
        socks.append(s)
        ports.append(s.getsockname()[1])
    if a.port_file:
        write_status(a.port_file, ports)
    if a.release:
        wait_file(a.release, deadline)
    for s in socks:
        s.close()
    write_status(a.status, {"connected": len(socks), "ports": ports,
                            "errors": errors})
    return 0


# --------------------------------------------------------------------------
# feed


def cmd_feed(a):
    deadline = Deadline(a.timeout)
    # Our own open file description: O_NONBLOCK here does not touch the
    # reading end that sockcat holds.
    fd = os.open(a.fifo, os.O_WRONLY | os.O_NONBLOCK)
    total = a.bytes if a.bytes is not None else a.until_stall
    gen = stream_chunks(a.seed)
    h = hashlib.sha256()
    written = 0
    stalled, stalled_at = False, None
    pending = b""
    last = time.monotonic()
    timed_out = False
    t0 = time.monotonic()
    while written < total:
        if deadline.expired():
            timed_out = True
            break
        if a.rate and not stalled:
            # Keep to the average rate, so a reading client keeps up; after
            # a pause of our own, catch up by at most 50 ms worth (a burst
            # would outrun a client that reads at the rate).
            due = written / (a.rate * 1048576.0)
            t0 = max(t0, time.monotonic() - due - 0.05)
            ahead = due - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(min(ahead, 0.05))
                last = time.monotonic()
                continue
        if not pending:
            pending = next(gen)[:total - written]
        _, w, _ = select.select([], [fd], [], 0.05)
        n = 0
        if w:
            try:
                n = os.write(fd, pending)
            except BlockingIOError:
                n = 0
        now = time.monotonic()
        if n:
            h.update(pending[:n])
            written += n
            pending = pending[n:]
            last = now
            continue
        if not stalled and now - last >= a.stall_secs:
            stalled, stalled_at = True, written
            write_status(a.stall_file, {"written": written})
            if a.resume:
                wait_file(a.resume, deadline)
            if a.until_stall is not None:
                total = written + len(pending) + a.after
            last = time.monotonic()
    os.close(fd)
    write_status(a.status, {"written": written, "sha": h.hexdigest(),
                            "stalled": stalled, "stalled_at": stalled_at,
                            "timed_out": timed_out})
    return 0 if not timed_out else 1


# --------------------------------------------------------------------------
# reader


def cmd_reader(a):
    deadline = Deadline(a.timeout)
    fd = os.open(a.fifo, os.O_RDONLY)
    if a.release:
        wait_file(a.release, deadline)
    total = 0
    h = hashlib.sha256()
    parts = {name: (others_of(name), hashlib.sha256(), [0])
             for name in (a.demux or [])}
    out = open(a.out, "wb") if a.out else None
    timed_out = False
    os.set_blocking(fd, False)
    while True:
        if deadline.expired():
            timed_out = True
            break
        r, _, _ = select.select([fd], [], [], 0.05)
        if not r:
            continue
        try:
            data = os.read(fd, 1 << 20)
        except BlockingIOError:
            continue
        if not data:
            break
        total += len(data)
        h.update(data)
        if out:
            out.write(data)
        for drop, ph, count in parts.values():
            share = data.translate(None, drop)
            ph.update(share)
            count[0] += len(share)
    os.close(fd)
    if out:
        out.close()
    write_status(a.status, {
        "total": total, "sha": h.hexdigest(), "timed_out": timed_out,
        "parts": {name: {"bytes": c[0], "sha": ph.hexdigest()}
                  for name, (_, ph, c) in parts.items()}})
    return 0


# --------------------------------------------------------------------------
# lines, checks, small tools


def cmd_lines(a):
    deadline = Deadline(a.timeout)
    if a.go:
        wait_file(a.go, deadline)
    out = sys.stdout.buffer
    for seq in range(a.count):
        out.write(line_for(a.tag, seq))
        out.flush()
        if a.delay_ms:
            time.sleep(a.delay_ms / 1000.0)
    return 0


def cmd_check_lines(a):
    """Every line whole and known, each tag's lines all there and in order."""
    want = {}
    for spec in a.tags:
        tag, count = spec.split(":")
        want[tag] = int(count)
    seen = {tag: [] for tag in want}
    problems = []
    with open(a.file, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        problems.append("output does not end with a newline")
    for no, line in enumerate(data.split(b"\n")[:-1], 1):
        fields = line.split(b" ")
        ok = len(fields) == 3 and fields[0].decode("latin-1") in want
        if ok:
            tag = fields[0].decode()
            try:
                seq = int(fields[1])
            except ValueError:
                ok = False
        if ok and line + b"\n" != line_for(tag, seq):
            ok = False
        if not ok:
            problems.append("line %d broken: %r" % (no, line[:120]))
            continue
        seen[tag].append(seq)
    for tag, count in want.items():
        if seen[tag] != list(range(count)):
            got = seen[tag]
            problems.append("%s: %d lines, first out of order or missing "
                            "near index %s" % (
                                tag, len(got),
                                next((i for i, v in enumerate(got)
                                      if v != i), len(got))))
    for p in problems[:10]:
        print(p)
    return 1 if problems else 0


def cmd_check_prefix(a):
    """One client's share of FILE is a prefix of what it sent; prints its
    length."""
    with open(a.file, "rb") as f:
        share = f.read().translate(None, others_of(a.alphabet))
    expect = stream_bytes(a.seed, len(share), a.alphabet)
    if share != expect:
        bad = next(i for i in range(len(share)) if share[i] != expect[i])
        print("%s share differs from its stream at byte %d" % (
            a.alphabet, bad))
        return 1
    print(len(share))
    return 0


def cmd_stream(a):
    """Writes a seeded stream to stdout (for files used as stdin)."""
    sys.stdout.buffer.write(stream_bytes(a.seed, a.bytes, a.alphabet))
    return 0


def cmd_refused(a):
    """Connects again and again until the port refuses; prints the outcome."""
    deadline = Deadline(a.timeout)
    t0 = time.monotonic()
    while not deadline.expired():
        s = socket.socket(family_of(a.host), socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.connect((a.host, a.port))
        except ConnectionRefusedError:
            print("refused after %.2f s" % (time.monotonic() - t0))
            return 0
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.02)
    print("still accepting")
    return 1


def cmd_fionread(a):
    import fcntl
    import struct
    import termios
    fd = os.open(a.fifo, os.O_RDONLY | os.O_NONBLOCK)
    n = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
    os.close(fd)
    print(n)
    return 0


def cmd_json(a):
    """Finds the single line of FILE that is a JSON object and prints the
    requested fields, one per line; exit 1 unless exactly one such line."""
    found = []
    with open(a.file, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    print("not JSON: %r" % line)
                    return 1
    if len(found) != 1:
        print("%d JSON lines" % len(found))
        return 1
    obj = found[0]
    if not isinstance(obj, dict):
        print("not an object")
        return 1
    for key in a.keys:
        print(json.dumps(obj.get(key)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--timeout", type=float, default=20.0)
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("client")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--src", help="local address to bind")
    c.add_argument("--rcvbuf", type=int)
    c.add_argument("--sndbuf", type=int)
    c.add_argument("--port-file")
    c.add_argument("--status")
    c.add_argument("--out", help="file for the bytes received")
    c.add_argument("--no-read", action="store_true",
                   help="read nothing (until --release exists)")
    c.add_argument("--release", help="with --no-read: start reading then")
    c.add_argument("--go", help="send only once this file exists")
    c.add_argument("--after-eof", action="store_true",
                   help="send only after receiving EOF")
    c.add_argument("--send-text", help="backslash escapes allowed")
    c.add_argument("--send-file")
    c.add_argument("--send-lines", metavar="TAG:COUNT",
                   help="numbered lines, one send() each")
    c.add_argument("--delay-ms", type=float, default=0.0,
                   help="pause after each line or 64 KiB of a stream")
    c.add_argument("--send-stream", metavar="ALPHABET:SEED:BYTES")
    c.add_argument("--pause-at", type=int, metavar="BYTES",
                   help="once BYTES are sent, wait for --pause-file")
    c.add_argument("--pause-file")
    c.add_argument("--stall-secs", type=float,
                   help="note when sending makes no progress this long")
    c.add_argument("--stall-file")
    c.add_argument("--shut", action="store_true",
                   help="half-close after sending")
    c.add_argument("--hold", help="stay connected until this file exists")
    c.add_argument("--hold-until-eof", action="store_true",
                   help="with --hold: also stop holding at EOF")
    c.add_argument("--rst", action="store_true",
                   help="end with a reset instead of a FIN")

    m = sub.add_parser("multi")
    m.add_argument("host")
    m.add_argument("port", type=int)
    m.add_argument("count", type=int)
    m.add_argument("--prefix", default="multi")
    m.add_argument("--port-file")
    m.add_argument("--release")
    m.add_argument("--status")

    f = sub.add_parser("feed")
    f.add_argument("fifo")
    f.add_argument("--seed", type=int, default=1)
    g = f.add_mutually_exclusive_group(required=True)
    g.add_argument("--bytes", type=int)
    g.add_argument("--until-stall", type=int, metavar="MAX",
                   help="write until stdin stops being read (at most MAX)")
    f.add_argument("--after", type=int, default=1 << 20,
                   help="with --until-stall: bytes to add after resuming")
    f.add_argument("--rate", type=float, help="MiB/s at most")
    f.add_argument("--stall-secs", type=float, default=1.5)
    f.add_argument("--stall-file")
    f.add_argument("--resume")
    f.add_argument("--status")

    r = sub.add_parser("reader")
    r.add_argument("fifo")
    r.add_argument("--release")
    r.add_argument("--out")
    r.add_argument("--demux", action="append", choices=sorted(ALPHABETS))
    r.add_argument("--status")

    ln = sub.add_parser("lines")
    ln.add_argument("tag")
    ln.add_argument("count", type=int)
    ln.add_argument("--delay-ms", type=float, default=0.0)
    ln.add_argument("--go")

    cl = sub.add_parser("check-lines")
    cl.add_argument("file")
    cl.add_argument("tags", nargs="+", metavar="TAG:COUNT")

    cp = sub.add_parser("check-prefix")
    cp.add_argument("file")
    cp.add_argument("alphabet", choices=sorted(ALPHABETS))
    cp.add_argument("seed", type=int)

    st = sub.add_parser("stream")
    st.add_argument("seed", type=int)
    st.add_argument("bytes", type=int)
    st.add_argument("--alphabet", choices=sorted(ALPHABETS))

    rf = sub.add_parser("refused")
    rf.add_argument("host")
    rf.add_argument("port", type=int)

    fi = sub.add_parser("fionread")
    fi.add_argument("fifo")

    js = sub.add_parser("json")
    js.add_argument("file")
    js.add_argument("keys", nargs="*")

    a = p.parse_args()
    return {"client": cmd_client, "multi": cmd_multi, "feed": cmd_feed,
            "reader": cmd_reader, "lines": cmd_lines,
            "check-lines": cmd_check_lines, "check-prefix": cmd_check_prefix,
            "stream": cmd_stream, "refused": cmd_refused, "fionread": cmd_fionread,
            "json": cmd_json}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
