#!/usr/bin/env python3
"""Skerry's virtio-vsock driver, vsock socket family and appliances end to end, through the vhost-user test backend
(build/tools/skerry-vsock-backend, Firecracker's hybrid vsock on the host side; proven against Linux's driver by
vsock_linux_test.py) and the users' tool skerry-vsock, with stock clients. The machines have no NIC at all: the
appliances serve on vsock alone. Per machine (q35: vhost-user-vsock-pci, MSI-X; microvm: vhost-user-vsock-device on
virtio-MMIO v2, PVH):

  <m>-log-stream         the echo appliance boots with log.stream=vsock:2:5140 and nobody listening: refused, it
                         retries; once the host listens on <uds>_5140 (the backend's guest-initiated connection)
                         the boot log arrives, then new lines as the console writes them
  <m>-echo-1mib          1 MiB byte-exact: TCP 127.0.0.1 -> skerry-vsock -> hybrid UDS -> backend -> guest echo:7
  <m>-echo-concurrent    50 connections x 20 MiB at once, both ways, byte-exact (Firecracker's own vsock test's size)
  <m>-echo-stalled-host  a host that writes 4 MiB and reads nothing for 3 s: the writer is held back (the guest never
                         takes more than its advertised buffer, the backend stops reading the host socket), then the
                         host reads and everything arrives byte-exact
  <m>-echo-host-vanishes the host side closes mid-transfer; the guest logs the end and serves the next connection
  <m>-http               curl through skerry-vsock: GET / and /1m.bin byte-exact (http appliance, vsock port 80)
  <m>-iperf3             stock iperf3 -c through skerry-vsock, both directions (iperf appliance, vsock port 5201)
  <m>-refused            CONNECT to a guest port nobody listens on gets no OK (the guest answered RST)"""
import argparse
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from qemu_harness import Failure, Runner, expect  # noqa: E402
from vsock_linux_test import echo  # noqa: E402
from vsock_vm import VsockVm  # noqa: E402

MEM = "128M"


def boot(vm, ready):
    expect(vm.guest, r"devices: .*vsock", 60, "the vsock transport handed to the socket layer")
    expect(vm.guest, ready, 60, "the appliance ready on vsock")


def test_echo(vm):
    s = vm.hybrid(7)
    if not s:
        raise Failure("CONNECT 7 got no OK")
    data = os.urandom(1 << 20)
    ok, dt, n = echo(s, data, 60)
    s.close()
    if not ok:
        raise Failure(f"echo: {n} of {len(data)} bytes back, or different")
    print(f"measured: vsock echo 1 MiB: MiB/s = {1 / dt:.2f}")


def test_concurrent(vm, n=50, size=20 << 20):
    results = [None] * n

    def one(i):
        try:
            s = vm.hybrid(7, 60)
            data = os.urandom(size)
            results[i] = echo(s, data, 120)[0] if s else False
            if s:
                s.close()
        except OSError as e:
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    bad = [i for i, r in enumerate(results) if r is not True]
    if bad:
        raise Failure(f"connections {bad} failed: {[results[i] for i in bad]}")
    print(f"measured: vsock echo {n} x {size >> 20} MiB at once: MiB/s = {n * size / (1 << 20) / (time.monotonic() - t0):.2f}")


def test_stalled_host(vm):
    s = vm.hybrid(7)
    if not s:
        raise Failure("CONNECT 7 got no OK")
    data = os.urandom(4 << 20)
    sent = [0]

    def writer():
        try:
            view = memoryview(data)
            while sent[0] < len(data):
                sent[0] += s.send(view[sent[0]:sent[0] + 65536])
        except OSError:
            pass

    s.settimeout(60)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    time.sleep(3)  # nobody reads: the echo's way back fills, then the way in
    held = sent[0]
    if held >= len(data):
        raise Failure("all 4 MiB were taken while nobody read the echo: no back-pressure")
    got = bytearray()
    while len(got) < len(data):
        b = s.recv(262144)
        if not b:
            break
        got.extend(b)
    t.join(30)
    s.close()
    if bytes(got) != data:
        raise Failure(f"{len(got)} bytes back after the stall, expected {len(data)} byte-exact")
    print(f"measured: vsock stalled host: bytes taken before the host read = {held}")


def test_host_vanishes(vm):
    mark = len(vm.guest.log())
    s = vm.hybrid(7)
    if not s:
        raise Failure("CONNECT 7 got no OK")
    s.sendall(os.urandom(512 << 10))
    s.close()  # gone mid-transfer, the echo still on its way back
    expect(vm.guest, r"echo: vsock:2:\d+ (closed|ended)", 30, "the guest noticing the host side went away", since=mark)
    test_echo(vm)  # and it serves the next one


def test_log_stream(vm):
    """log.stream=vsock:2:5140: the guest connects to the host (the backend takes it to <uds>_5140). Nobody listened
    at boot, so the guest was refused and retries; once we listen, the whole log so far arrives, then new lines."""
    expect(vm.guest, r"log: log stream to vsock:2:5140: connection refused", 30, "the first attempt refused")
    path = f"{vm.uds}_5140"
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(path)
    lst.listen(1)
    lst.settimeout(40)  # the guest retries after 1, 2, 4 ... s
    try:
        conn, _ = lst.accept()
    finally:
        lst.close()
        os.unlink(path)
    conn.settimeout(30)
    got = bytearray()

    def wait_for(text):
        deadline = time.monotonic() + 30
        while text not in got:
            if time.monotonic() > deadline:
                raise Failure(f"{text!r} did not arrive over the log stream; got {bytes(got[-600:])!r}")
            b = conn.recv(65536)
            if not b:
                raise Failure(f"the log stream ended before {text!r}")
            got.extend(b)

    try:
        wait_for(b"I hypervisor: ")  # the boot log, replayed from the ring
        wait_for(b"echo: ready on vsock CID 3 port 7")
        wait_for(b"log: streaming the console log to vsock:2:5140")
        s = vm.hybrid(7)
        if not s:
            raise Failure("CONNECT 7 got no OK")
        ok, _, _ = echo(s, b"x" * 1000, 30)
        s.close()
        if not ok:
            raise Failure("echo failed while the log streamed")
        wait_for(b"closed after 1000 bytes")  # a line written now arrives too
    finally:
        conn.close()
    serial = vm.guest.log()
    i = serial.find("closed after 1000 bytes")
    line = serial[serial.rfind("\n", 0, i) + 1:serial.find("\n", i)]
    if line.encode() not in got:
        raise Failure(f"the stream's line differs from the console's: {line!r}")


def test_refused(vm):
    if vm.hybrid(9999) is not None:
        raise Failure("CONNECT to a port nobody listens on got OK")


def test_http(vm):
    tool, port = vm.forward(80)
    try:
        idx = subprocess.run(["curl", "-sS", "--max-time", "30", f"http://127.0.0.1:{port}/"], capture_output=True)
        if idx.returncode != 0 or b"<html" not in idx.stdout.lower():
            raise Failure(f"GET / over vsock: rc {idx.returncode} {idx.stderr!r} {idx.stdout[:200]!r}")
        big = subprocess.run(["curl", "-sS", "--max-time", "60", f"http://127.0.0.1:{port}/1m.bin"], capture_output=True)
        if big.returncode != 0 or len(big.stdout) != 1 << 20:
            raise Failure(f"GET /1m.bin over vsock: rc {big.returncode}, {len(big.stdout)} bytes {big.stderr!r}")
    finally:
        tool.kill()
        tool.wait()


def test_iperf3(vm):
    tool, port = vm.forward(5201)
    try:
        for extra, what in (([], "client->appliance"), (["-R"], "appliance->client")):
            r = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "2", "-f", "m"] + extra,
                               capture_output=True, text=True, timeout=60)
            rates = [ln for ln in r.stdout.splitlines() if "receiver" in ln]
            if r.returncode != 0 or not rates:
                raise Failure(f"iperf3 {what} over vsock: rc {r.returncode}: {r.stdout[-400:]} {r.stderr[-300:]}")
            print(f"measured: vsock iperf3 {what}: Mbit/s = {rates[-1].split('Mbits/sec')[0].split()[-1]}")
    finally:
        tool.kill()
        tool.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", required=True)
    ap.add_argument("--http", required=True)
    ap.add_argument("--iperf", required=True)
    ap.add_argument("--tools", default="build/tools")
    ap.add_argument("--logs", default="build/test-logs/vsock-skerry")
    ap.add_argument("--machines", default="q35,microvm")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = ap.parse_args()
    if args.only:
        os.environ["QEMU_K"] = args.only
    runner = Runner(args.logs)
    for machine in args.machines.split(","):
        for app, kernel, ready, tests in (
                ("echo", args.echo, r"echo: ready on vsock CID 3 port 7",
                 [("log-stream", test_log_stream), ("echo-1mib", test_echo), ("echo-concurrent", test_concurrent), ("echo-stalled-host", test_stalled_host),
                  ("echo-host-vanishes", test_host_vanishes), ("refused", test_refused)]),
                ("http", args.http, r"http: ready on vsock CID 3 port 80", [("http", test_http)]),
                ("iperf", args.iperf, r"iperf3 ready on vsock CID 3 port 5201", [("iperf3", test_iperf3)])):
            state = {}

            def start(w, machine=machine, app=app, kernel=kernel, ready=ready):
                cmdline = "log.stream=vsock:2:5140" if app == "echo" else ""
                state["vm"] = VsockVm(machine, kernel, f"vsock-{machine}-{app}", args.tools, w, cmdline, mem=MEM)
                boot(state["vm"], ready)

            runner.run(f"{machine}-{app}-boot", start, always=True)
            for t, fn in tests:
                if "vm" in state:
                    runner.run(f"{machine}-{t}", lambda _w, fn=fn: fn(state["vm"]))
            if "vm" in state:
                state["vm"].stop()
    return runner.summary()


if __name__ == "__main__":
    sys.exit(main())
