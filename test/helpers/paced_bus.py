"""A paced serial line for tests: relays bytes between two pty ends at a real baud rate.

  /usr/bin/python3 paced_bus.py --a PATH --b PATH --baud 9600 [--bits 10]

Each byte takes `bits` bit times on the wire (10 for 8N1): a byte read from one end at time t is written to
the other end no earlier than when its last bit would have arrived, and bytes queue behind each other, so a
10-register answer at 9600 baud takes ~26 ms, and a late answer or inter-frame silence is real. Both
directions are independent (full duplex; an RS-485 master never talks over its slave anyway).
Prints {"ready": true} once both ends are open; EOF on stdin stops it.
"""

import argparse
import json
import os
import sys
import termios
import threading
import time
import tty
from collections import deque


def open_raw(path):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


class Direction:
    def __init__(self, src, dst, char_time):
        self.src = src
        self.dst = dst
        self.char_time = char_time
        self.pending = deque()  # (due, byte)
        self.cond = threading.Condition()
        self.next_free = 0.0

    def reader(self):
        while True:
            try:
                data = os.read(self.src, 4096)
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            with self.cond:
                for b in data:
                    # A byte starts on the wire when written or when the previous one has finished, whichever is later.
                    start = max(now, self.next_free)
                    self.next_free = start + self.char_time
                    self.pending.append((self.next_free, b))
                self.cond.notify()

    def writer(self):
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
                due = self.pending[0][0]
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            out = bytearray()
            now = time.monotonic()
            with self.cond:
                while self.pending and self.pending[0][0] <= now:
                    out.append(self.pending.popleft()[1])
            if out:
                try:
                    os.write(self.dst, bytes(out))
                except OSError:
                    return


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", required=True)
    parser.add_argument("--b", required=True)
    parser.add_argument("--baud", type=int, required=True)
    parser.add_argument("--bits", type=int, default=10)
    args = parser.parse_args()
    char_time = args.bits / args.baud
    fa = open_raw(args.a)
    fb = open_raw(args.b)
    for src, dst in ((fa, fb), (fb, fa)):
        d = Direction(src, dst, char_time)
        threading.Thread(target=d.reader, daemon=True).start()
        threading.Thread(target=d.writer, daemon=True).start()
    sys.stdout.write(json.dumps({"ready": True}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()


if __name__ == "__main__":
    main()
