#!/usr/bin/env python3
"""The vsock test backend (build/tools/skerry-vsock-backend) and skerry-vsock against a driver nobody here wrote:
Debian's Linux guest (scripts/bench/linux_guest.sh; vmw_vsock_virtio_transport, socat on vsock ports 7/8/9) in
QEMU 7.2 TCG, through vhost-user. Per machine (q35: vhost-user-vsock-pci; microvm: vhost-user-vsock-device on
virtio-MMIO v2, acpi=off):

  <m>-echo-skerry-vsock   1 MiB byte-exact echo: TCP 127.0.0.1 -> skerry-vsock -> hybrid UDS -> backend -> guest:7
  <m>-guest-to-host       the guest connects to CID 2 port 5000 (its socat relay on port 9, on our demand); the
                          backend connects it to <uds>_5000 where the test listens; 256 KiB each way
  <m>-refused             CONNECT to a guest port nobody listens on is closed without OK; a guest connect to a
                          host port nobody listens on is refused (RST), counted by the backend
  <m>-concurrent          N connections x S bytes echoed at once, byte-exact (8 x 4 MiB; --full: 50 x 20 MiB)
  <m>-backpressure        a host that neither reads nor stops writing (guest port 8 sends zeros, reads nothing):
                          the backend stops taking from the guest at its advertised buffer (never holds more)
                          and stops reading the host socket when the guest's credit is used up; then the host
                          reads again and the stream resumes

microvm is not in the default run: Debian's 6.1 kernel cannot find the device there. With acpi=off it gets
virtio_mmio.device= on its command line, but its config lacks VIRTIO_MMIO_CMDLINE_DEVICES ("unknown parameter
'device' ignored"); with microvm's ACPI (which lists the device) it stops in its timer set-up under TCG (no PM
timer or HPET to calibrate against, no timer interrupt seen). --machines q35,microvm tries it anyway.

The backend's CPU time is printed with the transfer rates (it must not be the bottleneck)."""
import argparse
import hashlib
import os
import select
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from qemu_harness import Failure, Runner, expect  # noqa: E402
from vsock_vm import VsockVm  # noqa: E402

MEM = "256M"
BOOT_TIMEOUT = 150


def echo(sock, data, timeout=300):
    """Send data and half-close while reading the echo; returns (ok, seconds)."""
    h = hashlib.sha256()
    got = [0]

    def reader():
        while True:
            b = sock.recv(262144)
            if not b:
                break
            h.update(b)
            got[0] += len(b)

    sock.settimeout(timeout)
    t = threading.Thread(target=reader, daemon=True)
    t0 = time.monotonic()
    t.start()
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    t.join(timeout)
    dt = time.monotonic() - t0
    return got[0] == len(data) and h.digest() == hashlib.sha256(data).digest(), dt, got[0]


def wait_ready(vm):
    expect(vm.guest, r"linux-guest: vsock ready", BOOT_TIMEOUT, "the guest's vsock services")
    deadline = time.monotonic() + 60
    while True:  # the driver may finish its start a moment after the services
        s = vm.hybrid(7)
        if s:
            ok, _, _ = echo(s, b"ping\n", 30)
            s.close()
            if ok:
                return
        if time.monotonic() > deadline:
            raise Failure("no echo from guest vsock port 7 within 60 s of the guest's services")
        time.sleep(0.2)


def test_echo_skerry_vsock(vm, args):
    tool = subprocess.Popen([sys.executable, os.path.join(args.tools, "skerry-vsock"), "--uds", vm.uds,
                             "--port", "7", "--listen", "127.0.0.1:0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        r, _, _ = select.select([tool.stdout], [], [], 10)
        line = tool.stdout.readline().decode() if r else ""
        if "forwarding 127.0.0.1:" not in line:
            raise Failure(f"skerry-vsock did not start: {line!r}")
        port = int(line.split("127.0.0.1:")[1].split()[0])
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        data = os.urandom(1 << 20)
        ok, dt, n = echo(s, data, 120)
        s.close()
        if not ok:
            raise Failure(f"1 MiB echo through skerry-vsock: {n} bytes back, or different")
        print(f"    1 MiB echo through skerry-vsock: {dt:.2f} s ({len(data) / dt / 2**20:.1f} MiB/s each way)")
    finally:
        tool.terminate()
        tool.wait(timeout=10)


def test_guest_to_host(vm, args):
    path = vm.uds + "_5000"
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(path)
    lst.listen(4)
    lst.settimeout(30)
    before = vm.stats()["conns_guest"]
    try:
        trigger = vm.hybrid(9)
        if not trigger:
            raise Failure("guest port 9 (the relay to CID 2 port 5000) refused")
        conn, _ = lst.accept()  # the guest's connection, through the backend
        conn.settimeout(60)
        a, b = os.urandom(256 << 10), os.urandom(256 << 10)
        out = {}

        def pull(sock, n, key):
            buf = bytearray()
            while len(buf) < n:
                d = sock.recv(65536)
                if not d:
                    break
                buf += d
            out[key] = bytes(buf)

        ts = [threading.Thread(target=pull, args=(conn, len(a), "at_host")),
              threading.Thread(target=pull, args=(trigger, len(b), "at_trigger"))]
        for t in ts:
            t.start()
        trigger.sendall(a)
        conn.sendall(b)
        for t in ts:
            t.join(60)
        if out.get("at_host") != a or out.get("at_trigger") != b:
            raise Failure("guest-initiated connection: data differs or short")
        conn.close()
        trigger.close()
        st = vm.stats()
        if st["conns_guest"] != before + 1:
            raise Failure(f"backend counted {st['conns_guest'] - before} guest-initiated connections, expected 1")
    finally:
        lst.close()
        os.unlink(path)


def test_refused(vm, args):
    t0 = time.monotonic()
    if vm.hybrid(4444) is not None:
        raise Failure("CONNECT to a guest port nobody listens on got OK")
    if time.monotonic() - t0 > 3:
        raise Failure("refused CONNECT took longer than 3 s (RST not passed on?)")
    before = vm.stats()["conns_refused"]
    trigger = vm.hybrid(9)  # its relay connects to CID 2 port 5000, where nothing listens now
    if not trigger:
        raise Failure("guest port 9 refused")
    trigger.settimeout(10)
    if trigger.recv(1) != b"":
        raise Failure("relay without a host listener did not close")
    trigger.close()
    if vm.stats()["conns_refused"] != before + 1:
        raise Failure("the backend did not count the refused guest connection")


def test_concurrent(vm, args, n, size):
    results = [None] * n
    cpu0, t0 = vm.cpu_seconds(), time.monotonic()

    def one(i):
        s = vm.hybrid(7, timeout=30)
        if not s:
            results[i] = (False, 0, "refused")
            return
        results[i] = echo(s, os.urandom(size), 600)
        s.close()

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(900)
    dt, cpu = time.monotonic() - t0, vm.cpu_seconds() - cpu0
    bad = [i for i, r in enumerate(results) if not r or not r[0]]
    if bad:
        raise Failure(f"{len(bad)} of {n} connections short or different: {[results[i] for i in bad[:3]]}")
    total = n * size / 2**20
    print(f"    {n} x {size >> 20} MiB echoed at once: {dt:.1f} s, {total / dt:.1f} MiB/s each way; "
          f"backend CPU {cpu:.2f} s ({100 * cpu / dt:.0f}% of one core)")


def test_backpressure(vm, args):
    s = vm.hybrid(8)
    if not s:
        raise Failure("guest port 8 refused")
    s.setblocking(False)
    chunk = b"\0" * 65536
    written, deadline = 0, time.monotonic() + 8
    stuck_since = None
    while time.monotonic() < deadline:  # write without reading until writes stop being taken for 1.5 s
        try:
            written += s.send(chunk)
            stuck_since = None
        except BlockingIOError:
            stuck_since = stuck_since or time.monotonic()
            if time.monotonic() - stuck_since > 1.5:
                break
            time.sleep(0.05)
    st1 = vm.stats()
    time.sleep(1.0)
    st2 = vm.stats()
    if stuck_since is None:
        raise Failure(f"host writes never blocked ({written} bytes taken while the guest reads nothing)")
    if written > 8 << 20:
        raise Failure(f"{written} bytes taken before the writer was held back")
    if st2["bytes_to_guest"] != st1["bytes_to_guest"] or st2["bytes_to_host"] != st1["bytes_to_host"]:
        raise Failure("bytes still moving while both ends are stalled")
    if st2["held"] > st2["buf_alloc"] or st2["max_held"] > st2["buf_alloc"] or st2["credit_violations"]:
        raise Failure(f"backend held more than it advertised: {st2}")
    if st2["held"] < st2["buf_alloc"] // 2:
        raise Failure(f"the stalled guest->host stream holds only {st2['held']} bytes in the backend")
    # The host reads again: the guest's zeros flow.
    s.setblocking(True)
    s.settimeout(30)
    got = 0
    while got < 4 << 20:
        d = s.recv(262144)
        if not d or d.count(0) != len(d):
            raise Failure(f"stream after the stall: {'EOF' if not d else 'non-zero bytes'} after {got} bytes")
        got += len(d)
    s.close()
    print(f"    stalled: host writer held back after {written >> 10} KiB; backend holds {st2['held'] >> 10} KiB "
          f"of its {st2['buf_alloc'] >> 10} KiB for the host reader; 4 MiB read after the stall")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--linux", default="build/linux-guest")
    ap.add_argument("--tools", default="build/tools")
    ap.add_argument("--logs", default="build/test-logs/vsock")
    ap.add_argument("--machines", default="q35", help="q35 and/or microvm (see the note on microvm above)")
    ap.add_argument("--full", action="store_true", help="50 x 20 MiB concurrent echo (slow under TCG)")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = ap.parse_args()
    if args.only:
        os.environ["QEMU_K"] = args.only
    n, size = (50, 20 << 20) if args.full else (8, 4 << 20)
    r = Runner(args.logs)
    for machine in args.machines.split(","):
        vm = None

        def boot(_w, machine=machine):
            nonlocal vm
            vm = VsockVm(machine, os.path.join(args.linux, "vmlinuz"), f"vsock-{machine}", args.tools, r.workdir,
                         initrd=os.path.join(args.linux, "initrd.img"), mem=MEM)
            wait_ready(vm)

        try:
            r.run(f"{machine}-boot", boot, always=True)
            if r.failed:
                continue
            r.run(f"{machine}-echo-skerry-vsock", lambda _w: test_echo_skerry_vsock(vm, args))
            r.run(f"{machine}-guest-to-host", lambda _w: test_guest_to_host(vm, args))
            r.run(f"{machine}-refused", lambda _w: test_refused(vm, args))
            r.run(f"{machine}-concurrent", lambda _w: test_concurrent(vm, args, n, size))
            r.run(f"{machine}-backpressure", lambda _w: test_backpressure(vm, args))
            st = vm.stats()
            print(f"    backend: {st['bytes_to_guest'] >> 20} MiB to the guest, {st['bytes_to_host'] >> 20} MiB to "
                  f"the host, {st['tx_packets']} + {st['rx_packets']} packets, CPU {vm.cpu_seconds():.2f} s, "
                  f"dropped {st['dropped']}, credit violations {st['credit_violations']}")
        finally:
            if vm:
                vm.stop()
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
