#!/usr/bin/env python3
"""Writes the seed corpus of the Hyper-V fuzz target (tests/unit/hv_fuzz.cpp) into tests/unit/hv_fuzz_seeds/.

The seeds are the golden messages of the unit tests (docs/protocols/hyperv-vmbus.md §3-§7 and
docs/protocols/netvsc-rndis.md §2-§5) laid out in the fuzz target's input format, so the fuzzer starts from a
complete VMBus handshake, a GPADL/open/rescind/unload sequence, a version walk, SynIC slots, well-formed rings and
NVSP/RNDIS messages. Run it after changing the input format."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hv_fuzz_seeds")
NETVSC = bytes.fromhex("635161F83EDFC546913FF2D2F965ED0E")
IDE = bytes.fromhex("32264132CB86A2449B5C50D1417354F5")
OK = b"\x00"  # the fuzz port's answer to one hypercall: success


def u32(v):
    return struct.pack("<I", v)


def msg(t, body=b""):
    return u32(t) + u32(0) + body


def version_response(supported, conn_id=1):
    return msg(15, bytes([supported, 0, 0, 0]) + u32(conn_id))


def offer(cls, relid, sub=0):
    m = bytearray(196)
    m[0:4] = u32(1)
    m[8:24] = cls
    m[24:40] = bytes(range(16))
    m[180:182] = struct.pack("<H", sub)
    m[184:188] = u32(relid)
    m[192:196] = u32(relid | 2 << 12)
    return bytes(m)


def handle(m):  # op 0: one message into Connection::handle
    return b"\x00" + bytes([len(m)]) + m


def slot(m, size=None, flags=0):  # op 3: the message through the SIM slot (type 1)
    size = len(m) if size is None else size
    header = bytes([size, flags, 0, 0]) + struct.pack("<Q", 0x1122334455667788)
    return b"\x03" + header + m.ljust(240, b"\x00")


def connection_seeds():
    hello = handle(version_response(1)) + OK + handle(offer(NETVSC, 1)) + handle(offer(IDE, 2)) + handle(msg(4))
    yield "conn-handshake", b"\x00" + OK + hello
    gpadl = b"\x05\x01\x04\x00" + OK + handle(msg(10, u32(1) + u32(0xE1E10) + u32(0)))
    opened = b"\x06\x01\x00\x00\x01" + OK + handle(msg(6, u32(1) + u32(1) + u32(0)))
    rescind = handle(msg(2, u32(1))) + b"\x06\x01\x03" + OK + OK
    unload = b"\x06\x00\x04" + OK + handle(msg(17))
    yield "conn-gpadl-open-rescind-unload", b"\x00" + OK + hello + gpadl + opened + rescind + unload
    walk = handle(version_response(0)) + OK + handle(version_response(0)) + OK + b"\x04" + OK + hello
    yield "conn-version-walk", b"\x00" + OK + walk
    yield "conn-slot", b"\x00" + OK + slot(version_response(1)) + OK + slot(offer(NETVSC, 3), flags=1) + \
        slot(msg(4), size=250)


def ring_seed(name, packets, ops):
    data = b"".join(packets)
    head = b"\x01" + b"\x00" + u32(len(data)) + u32(0) + bytes(8) + u32(1)
    return name, head + data.ljust(4096, b"\x00") + ops


def packet(ptype, payload, flags=0, tid=7):
    body = payload + bytes(-len(payload) % 8)
    length8 = (16 + len(body)) // 8
    start = 0
    return struct.pack("<HHHHQ", ptype, 2, length8, flags, tid) + body + struct.pack("<Q", start << 32)


def ring_seeds():
    p1 = packet(6, b"inband payload")
    p2 = bytearray(packet(0xB, u32(108) + u32(1), tid=9))
    p2[-8:] = struct.pack("<Q", len(p1) << 32)
    yield ring_seed("ring-two-packets", [p1, bytes(p2)], b"\x00\x02\x10\x01\x03\x00\x00\x00\x00\x20")


def nvsp_seeds():
    yield "nvsp-init-complete", b"\x02" + u32(2) + u32(0x60001) + u32(0) + u32(1)
    yield "nvsp-recv-buf-complete", b"\x02" + u32(102) + u32(1) + u32(1) + u32(0) + u32(1806) + u32(580) + \
        u32(1806 * 580)
    init_cmplt = u32(0x80000002) + u32(52) + u32(1) + u32(0) + u32(1) + u32(0) + u32(0) + u32(8) + \
        u32(0xEFFFFFFF) + u32(3) + u32(0) + u32(0) + u32(0)
    yield "rndis-init-cmplt", b"\x02" + init_cmplt
    query = u32(0x80000004) + u32(30) + u32(2) + u32(0) + u32(6) + u32(16) + bytes.fromhex("00155d010203")
    yield "rndis-query-cmplt", b"\x02" + query
    status = u32(7) + u32(20) + u32(0x4001000B) + u32(0) + u32(0)
    yield "rndis-indicate-status", b"\x02" + status
    frame = bytes(60)
    pkt = u32(1) + u32(44 + len(frame)) + u32(36) + u32(len(frame)) + bytes(28) + frame
    yield "rndis-packet", b"\x02" + pkt


def main():
    os.makedirs(OUT, exist_ok=True)
    for gen in (connection_seeds, ring_seeds, nvsp_seeds):
        for name, data in gen():
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
