#!/usr/bin/env python3
"""Many clients at once against an echoing server (sockcat listen -k -e cat).

    ex_client.py [--clients N] [--bytes B] [--unix PATH] [--timeout S]
                 [--read-exact] [--window W] HOST PORT

Every client connects, sends B bytes of its own data (a 16-byte header
naming it, then random bytes shared by all) while it reads, half-closes,
reads to EOF and compares the sha256 of what came back with what it sent.
--read-exact: it never half-closes, and stops reading after B bytes and
closes instead of waiting for EOF (for a server that ends the whole
conversation on a client's half-close, as ncat --exec does).
--window W: a client sends no more than W bytes ahead of what has come
back (for a server whose relay blocks on a full pipe while the program
waits to write, as ncat --exec does: it stops with both pipes full).
Prints one line:

    clients=N ok=N failed=N seconds=F clients_per_second=F

and exits 0 when every client got its own bytes back whole, 1 otherwise.
"""
import argparse
import asyncio
import hashlib
import os
import sys
import time


BODY = b""


async def one(args, ident):
    received = [0]
    came_back = asyncio.Event()

    header = (b"client %08d\n" % ident)[:args.bytes]
    body = memoryview(BODY)[:args.bytes - len(header)]
    sha = hashlib.sha256(header)
    sha.update(body)
    want = sha.hexdigest()
    if args.unix:
        reader, writer = await asyncio.open_unix_connection(args.unix)
    else:
        reader, writer = await asyncio.open_connection(args.host, args.port)

    async def wait_window(upto):
        while args.window and upto - received[0] > args.window:
            came_back.clear()
            await came_back.wait()

    async def send():
        writer.write(header)
        step = min(65536, args.window) if args.window else 65536
        for off in range(0, len(body), step):
            await wait_window(len(header) + off + len(body[off:off + step]))
            writer.write(body[off:off + step])
            await writer.drain()
        if not args.read_exact:
            writer.write_eof()

    sender = asyncio.ensure_future(send())
    got = hashlib.sha256()
    left = args.bytes
    while not args.read_exact or left > 0:
        block = await reader.read(65536)
        if not block:
            break
        left -= len(block)
        got.update(block)
        received[0] += len(block)
        came_back.set()
    await sender
    writer.close()
    return got.hexdigest() == want


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=10)
    p.add_argument("--bytes", type=int, default=65536)
    p.add_argument("--unix")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--read-exact", action="store_true")
    p.add_argument("--window", type=int, default=0)
    p.add_argument("host", nargs="?", default="127.0.0.1")
    p.add_argument("port", nargs="?", type=int, default=0)
    args = p.parse_args()
    global BODY
    BODY = os.urandom(args.bytes)
    start = time.monotonic()
    tasks = [asyncio.ensure_future(one(args, i)) for i in range(args.clients)]
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for t in pending:
        t.cancel()
    ok = sum(1 for t in done if not t.exception() and t.result())
    seconds = time.monotonic() - start
    print("clients=%d ok=%d failed=%d seconds=%.2f clients_per_second=%.1f"
          % (args.clients, ok, args.clients - ok, seconds, args.clients / seconds))
    return 0 if ok == args.clients else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
