#!/usr/bin/env python3
"""A user-space frame relay between a QEMU guest's NIC and a tap device, impairing what passes: what nftables cannot
do on this machine's kernel (it has no netem) - reordering, duplication, delay and corruption - and loss too.

QEMU sends and receives its frames as UDP datagrams (`-netdev socket,id=n0,udp=127.0.0.1:<relay
port>,localaddr=127.0.0.1:<qemu port>`, one Ethernet frame per datagram); the relay writes them to the tap device
(opened by name, without packet information: IFF_TAP | IFF_NO_PI, Linux's Documentation/networking/tuntap.rst) and
sends what the tap device gives back to QEMU. Each direction is impaired on its own, frame by frame, from a seeded
generator, so a run can be replayed:
  --loss P      drop the frame
  --corrupt P   flip one byte past the Ethernet and IPv4 headers (TCP/UDP checksums must catch it)
  --dup P       deliver the frame twice
  --reorder P   hold the frame back until the next one in that direction has gone (at most 50 ms)
  --delay MS    deliver every frame MS milliseconds late (the same for all: no reordering by itself)
Run it inside the network namespace that holds the tap device; it prints one JSON line of counts per direction on
SIGTERM or SIGINT (to --stats as well when given) and exits. Every wait is bounded by the next frame's due time."""
import argparse
import fcntl
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
HOLD_MAX_S = 0.05


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


class Direction:
    def __init__(self, name, args, rnd, send):
        self.name, self.a, self.rnd, self.send = name, args, rnd, send
        self.held = None  # (frame, held since) for reordering
        self.counts = {k: 0 for k in ("frames", "delivered", "lost", "corrupted", "duplicated", "reordered")}

    def impair(self, frame, now, queue, seq):
        """Decides this frame's fate; what is delivered goes on the queue as (due, seq, frame, direction)."""
        self.counts["frames"] += 1
        if self.rnd.random() < self.a.loss:
            self.counts["lost"] += 1
            return seq
        if len(frame) > 34 and self.rnd.random() < self.a.corrupt:
            b = bytearray(frame)
            i = self.rnd.randrange(34, len(b))
            b[i] ^= 1 << self.rnd.randrange(8)
            frame = bytes(b)
            self.counts["corrupted"] += 1
        copies = 2 if self.rnd.random() < self.a.dup else 1
        if copies == 2:
            self.counts["duplicated"] += 1
        due = now + self.a.delay / 1000.0
        if self.held is None and self.rnd.random() < self.a.reorder:
            self.held = (frame, now)
            self.counts["reordered"] += 1
            return seq
        for _ in range(copies):
            seq += 1
            heapq.heappush(queue, (due, seq, frame, self))
        if self.held is not None:  # the held frame goes after this one
            seq += 1
            heapq.heappush(queue, (due, seq, self.held[0], self))
            self.held = None
        return seq

    def release_stale(self, now, queue, seq):
        if self.held is not None and now - self.held[1] > HOLD_MAX_S:
            seq += 1
            heapq.heappush(queue, (now + self.a.delay / 1000.0, seq, self.held[0], self))
            self.held = None
        return seq


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qemu-port", type=int, required=True, help="the UDP port QEMU's socket netdev listens on")
    ap.add_argument("--relay-port", type=int, required=True, help="the UDP port this relay listens on")
    ap.add_argument("--tap", default="tap0")
    for k in ("loss", "corrupt", "dup", "reorder"):
        ap.add_argument(f"--{k}", type=float, default=0.0)
    ap.add_argument("--delay", type=float, default=0.0, help="milliseconds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stats", help="also write the final counts here")
    a = ap.parse_args()

    tap = open_tap(a.tap)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", a.relay_port))
    udp.setblocking(False)
    qemu = ("127.0.0.1", a.qemu_port)
    rnd = random.Random(a.seed)
    to_tap = Direction("guest_to_host", a, rnd, lambda f: os.write(tap, f))
    to_guest = Direction("host_to_guest", a, rnd, lambda f: udp.sendto(f, qemu))
    queue, seq = [], 0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("relay ready", flush=True)
    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, frame, d = heapq.heappop(queue)
            try:
                d.send(frame)
                d.counts["delivered"] += 1
            except OSError:
                pass  # QEMU not listening yet, or the tap device is down: the frame is lost
        for d in (to_tap, to_guest):
            seq = d.release_stale(now, queue, seq)
        wait = 0.01
        if queue:
            wait = max(0.0, min(wait, queue[0][0] - now))
        try:
            r, _, _ = select.select([udp, tap], [], [], wait)
        except InterruptedError:
            continue
        now = time.monotonic()
        if udp in r:
            for _ in range(64):
                try:
                    frame = udp.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                seq = to_tap.impair(frame, now, queue, seq)
        if tap in r:
            for _ in range(64):
                try:
                    frame = os.read(tap, 65536)
                except (BlockingIOError, InterruptedError):
                    break
                seq = to_guest.impair(frame, now, queue, seq)
    out = json.dumps({d.name: d.counts for d in (to_tap, to_guest)})
    print(out, flush=True)
    if a.stats:
        with open(a.stats, "w") as f:
            f.write(out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
