#!/usr/bin/env python3
"""Runs a command and times it against the monotonic clock.

    timer_run.py [--stdin FILE | --stdin-open] [--out FILE] [--err FILE]
                 [--limit SECS] -- CMD...

--stdin-open gives CMD a pipe that stays open and silent (a quiet person at
a terminal, without the terminal); --stdin FILE feeds FILE (default: an
empty stdin). Prints "STATUS MILLISECONDS" when CMD ends: its exit status
(128+N for signal N, 124 when --limit passed and it was killed); --end
FILE gets the monotonic time of its end, to compare with a peer's.
"""
import argparse
import os
import subprocess
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--stdin")
    p.add_argument("--stdin-open", action="store_true")
    p.add_argument("--out", default=os.devnull)
    p.add_argument("--err", default=os.devnull)
    p.add_argument("--limit", type=float, default=20.0)
    p.add_argument("--end", help="write time.monotonic() at CMD's end here")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    keep = None
    if a.stdin_open:
        r, keep = os.pipe()
        stdin = r
    elif a.stdin:
        stdin = open(a.stdin, "rb")
    else:
        stdin = subprocess.DEVNULL
    with open(a.out, "wb") as out, open(a.err, "wb") as err:
        start = time.monotonic()
        child = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err)
        if a.stdin_open:
            os.close(r)
        try:
            status = child.wait(timeout=a.limit)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            status = 124
        end = time.monotonic()
        elapsed = (end - start) * 1000
    if a.end:
        with open(a.end, "w") as f:
            f.write("%.6f\n" % end)
    if keep is not None:
        os.close(keep)
    if status < 0:
        status = 128 - status
    print(status, int(round(elapsed)))


if __name__ == "__main__":
    sys.exit(main())
