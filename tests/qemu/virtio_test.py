#!/usr/bin/env python3
"""Every appliance (echo, http, iperf) over virtio-net under QEMU (TCG), with stock clients, on four machines:

  q35-msix        -machine q35, virtio-net-pci (modern; MSI-X)
  pc-intx         -machine pc (i440fx), virtio-net-pci,vectors=0 (no MSI-X table: the driver must use INTx)
  microvm-acpi    -machine microvm, virtio-net-device on virtio-MMIO version 2, booted by PVH; QEMU 7.2 describes
                  the MMIO transports only in the DSDT here (it appends virtio_mmio.device= to the command line
                  only when ACPI is off), so the kernel has to find the NIC through ACPI
  microvm-noacpi  -machine microvm,acpi=off, the same device, found through the virtio_mmio.device=<size>@<addr>:<irq>
                  option QEMU appends to the command line (auto-kernel-cmdline); no ACPI at all, as on Firecracker

One boot per (appliance, machine), user networking with hostfwd on 127.0.0.1, several checks against it:
  boot     the NIC is virtio-net (PCI address or MMIO transport in its name, the interrupt kind), DHCP, ready
  echo     1 MiB byte-exact over TCP; then the link taken down and up through QMP set_link in the middle of a
           2 MiB echo: the appliance logs both changes, the transfer finishes byte-exact, a new connection works
  http     curl GET of index.html and the 1 MiB file over HTTP and HTTPS (curl -k), bodies compared byte for byte
  iperf    iperf3 -t 2 client to appliance and -R (appliance to client), each summarised on the console
And one more boot, on q35 with a tap (vnet_hdr=on) in a network namespace the test creates, where QEMU offers
checksum offload (CSUM, GUEST_CSUM; slirp cannot): the NIC must say it uses both, echo over TCP (IPv4, IPv6) and UDP.
Every wait polls with a deadline; every transfer is bounded. Prints the measured figures at the end."""
import argparse
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from qemu_harness import Failure, Guest, Runner, connect, expect, free_port, pvh_copy  # noqa: E402
from net_test import TCP6_CLIENT, Netns, echo_bytes  # noqa: E402
from http_test import WWW, curl  # noqa: E402
from iperf_test import check, client, mbits  # noqa: E402

READY_TIMEOUT = 90
MAC = "52:54:00:12:34:56"  # QEMU's default for the first NIC
RESULTS = {}

MMIO_V2 = ["-global", "virtio-mmio.force-legacy=false"]


class Machine:
    def __init__(self, name, args, device, bus, irq=None, pvh=False):
        self.name = name
        self.args = args
        self.device = device
        self.bus = bus  # what the NIC's name must show: its PCI address or its MMIO transport
        self.irq = irq  # the interrupt kind the driver must report (None: not checked)
        self.pvh = pvh  # boot through the PVH note (microvm has no Multiboot loader in its firmware path)


# The NIC's name says where the driver found it and through which transport: "virtio-net 00:02.0 (modern PCI)",
# "virtio-net mmio 0xfeb00e00 (MMIO v2)". QEMU 7.2's microvm puts the first device on its last transport: with ACPI
# the 24th (0xfeb02e00) on GSI 24 + 23 of the second I/O APIC, without ACPI the 8th (0xfeb00e00) on GSI 5 + 7.
PCI = (r"^virtio-net [0-9a-f]{2}:[0-9a-f]{2}\.[0-7] \(modern PCI\)$", "a PCI address and the modern transport")
MACHINES = [
    Machine("q35-msix", ["-machine", "q35"], "virtio-net-pci", PCI, irq=r"interrupts MSI-X"),
    Machine("pc-intx", ["-machine", "pc"], "virtio-net-pci,vectors=0", PCI, irq=r"interrupts INTx"),
    Machine("microvm-acpi", ["-machine", "microvm"] + MMIO_V2, "virtio-net-device",
            (r"^virtio-net mmio 0xfeb02e00 \(MMIO v2\)$", "the DSDT's transport 0xfeb02e00 and MMIO version 2"),
            irq=r"interrupts GSI 47", pvh=True),
    Machine("microvm-noacpi", ["-machine", "microvm,acpi=off"] + MMIO_V2, "virtio-net-device",
            (r"^virtio-net mmio 0xfeb00e00 \(MMIO v2\)$", "the command line's transport 0xfeb00e00 and MMIO version 2"),
            irq=r"interrupts GSI 12", pvh=True),
]


class Appliance:
    """One guest of one appliance on one machine; forwards maps guest ports to free ports on 127.0.0.1."""

    def __init__(self, machine, app, kernel, guest_ports, ready):
        self.m, self.app, self.kernel = machine, app, kernel
        self.guest_ports, self.ready = guest_ports, ready
        self.g = None
        self.booted = False
        self.port = {}

    def boot(self, workdir):
        fwd = []
        for gp in self.guest_ports:
            self.port[gp] = free_port()
            fwd.append(f"hostfwd=tcp:127.0.0.1:{self.port[gp]}-:{gp}")
        kernel = pvh_copy(self.kernel, workdir) if self.m.pvh else self.kernel
        t0 = time.monotonic()
        self.g = Guest(self.m.args + ["-netdev", "user,id=n0," + ",".join(fwd),
                                      "-device", f"{self.m.device},netdev=n0,id=nic0",
                                      "-kernel", kernel, "-append", "debug_exit=0xf4"],
                       f"virtio-{self.m.name}-{self.app}", workdir, qmp=True)
        g = self.g
        if self.m.pvh:
            expect(g, r"boot: PVH", timeout=READY_TIMEOUT, what="the PVH boot line")
        # The first NIC line, or the line saying there is none (fails at once rather than at the deadline); whole
        # lines only: the log may be read while QEMU is in the middle of writing one.
        first = expect(g, r"(net e0: [^\n]*|net: no network interface found)\n", timeout=READY_TIMEOUT,
                       what="the network stack's first NIC (e0)").group(1)
        m = re.match(r"net e0: (virtio-net[^,\n]*), MAC ([0-9a-f:]{17}), link up", first)
        if not m:
            seen = "\n    ".join(l for l in g.log().splitlines() if re.search(r"virtio|devices: |acpi: |cmdline: ", l))
            raise Failure(f"e0 is not a virtio-net NIC with its link up: {first!r}; related lines:\n    {seen}")
        if not re.search(self.m.bus[0], m.group(1)):
            raise Failure(f"the NIC's name {m.group(1)!r} shows no {self.m.bus[1]}")
        if m.group(2) != MAC:
            raise Failure(f"MAC {m.group(2)}, QEMU gave {MAC}")
        if self.m.irq:
            expect(g, rf"^.*virtio-net .*\b{self.m.irq}\b", timeout=10, what=f"the virtio-net driver's {self.m.irq}")
        expect(g, r"net e0: 10\.0\.2\.15/24 .*DHCP", timeout=READY_TIMEOUT, what="the DHCP lease 10.0.2.15")
        expect(g, self.ready, timeout=READY_TIMEOUT, what=f"the {self.app} ready line")
        RESULTS[f"{self.m.name} {self.app}: start to ready, s"] = time.monotonic() - t0
        self.booted = True

    def case(self, fn):
        def run(workdir):
            if not self.booted:
                raise Failure("the guest did not boot (see the boot step)")
            if self.g.proc.poll() is not None:
                raise Failure("the guest is gone (an earlier check crashed it?)")
            fn(self)
        return run

    def kill(self):
        if self.g:
            self.g.kill()


# ------------------------------------------------------------------------------------------------ echo
def t_echo(a):
    data = random.Random(12).randbytes(1 << 20)
    s = connect(a.port[7])
    try:
        t0 = time.monotonic()
        back = echo_bytes(s, data, timeout=60)
        dt = time.monotonic() - t0
    finally:
        s.close()
    if back != data:
        raise Failure("TCP echo of 1 MiB returned different bytes")
    RESULTS[f"{a.m.name} echo 1 MiB: MiB/s"] = 1 / dt
    expect(a.g, r"echo: .* closed after 1048576 bytes", timeout=10, what="the connection's counters at close")


def t_link_flap(a):
    """set_link off once 256 KiB of a 2 MiB echo are back (frames in flight both ways are lost), on again once the
    appliance has logged the change; the transfer must finish byte-exact, and a new connection must work."""
    g = a.g
    data = random.Random(13).randbytes(2 << 20)
    at = {}

    def flap(sent, received):
        if at or received < 256 * 1024:
            return
        since = len(g.log())
        g.qmp("set_link", name="n0", up=False)
        down = expect(g, r"net e0: link down", timeout=15, what="the link-down line after set_link off", since=since)
        g.qmp("set_link", name="n0", up=True)
        expect(g, r"net e0: link up", timeout=15, what="the link-up line after set_link on", since=down.end())
        at.update(received=received, up=time.monotonic())

    s = connect(a.port[7])
    try:
        back = echo_bytes(s, data, timeout=90, progress=flap)
    finally:
        s.close()
    if not at:
        raise Failure("the transfer ended before the link was taken down")
    if back != data:
        raise Failure(f"the echo across the link change returned different bytes (link down after {at['received']})")
    RESULTS[f"{a.m.name} echo: link up to transfer done, s"] = time.monotonic() - at["up"]
    s = connect(a.port[7])
    try:
        small = random.Random(14).randbytes(64 * 1024)
        if echo_bytes(s, small, timeout=30) != small:
            raise Failure("a new connection after the link change echoed different bytes")
    finally:
        s.close()


# ------------------------------------------------------------------------------------------------ http
def synth_1m():
    """appliances/http/http.mk's --synth 1m.bin=1048576, as scripts/gen_www.py makes it: a 4 KiB block repeated."""
    return random.Random("1m.bin").randbytes(4096) * 256


def t_http(a):
    expect(a.g, r"https: ready on 10\.0\.2\.15 port 443", timeout=30, what="the https ready line")
    index = open(os.path.join(WWW, "index.html"), "rb").read()
    big = synth_1m()
    for scheme, port in (("http", a.port[80]), ("https", a.port[443])):
        out = os.path.join(a.g.workdir, f"{a.g.name}.{scheme}.out")
        for path, want in (("/", index), ("/1m.bin", big)):
            t0 = time.monotonic()
            curl(port, "-k", "-o", out, path=path, scheme=scheme)
            dt = time.monotonic() - t0
            body = open(out, "rb").read()
            if body != want:
                raise Failure(f"{scheme} GET {path}: {len(body)} bytes, not the {len(want)} bytes served")
        RESULTS[f"{a.m.name} {scheme} GET 1 MiB: MiB/s"] = 1 / dt


# ----------------------------------------------------------------------------------------------- iperf
def t_iperf3(a):
    base = ["iperf3", "-c", "127.0.0.1", "-p", str(a.port[5201]), "-t", "2"]
    for extra, key, console in (([], "client->appliance", r"iperf3: TCP receive from 10\.0\.2\.2: [1-9]\d* bytes"),
                                (["-R"], "appliance->client (-R)", r"iperf3: TCP send to 10\.0\.2\.2: [1-9]\d* bytes")):
        since = len(a.g.log())
        out = check(client(base + extra), " ".join(base + extra))
        rate = mbits(out, "receiver")
        if not rate:
            raise Failure(f"{' '.join(base + extra)}: no receiver rate:\n{out}")
        RESULTS[f"{a.m.name} iperf3 {key}: Mbit/s"] = rate
        expect(a.g, console, timeout=10, what="the console summary of the test", since=since)


# ------------------------------------------------------------------------------------- tap: checksum offload
# Slirp has no virtio-net header, so QEMU offers no CSUM/GUEST_CSUM on user networking; a tap with vnet_hdr=on does,
# and then the host's stack sends the guest TCP/UDP with the checksum left to finish (NEEDS_CSUM) and takes the
# guest's partial checksums. Over such a tap in a network namespace: echo over TCP (IPv4 and IPv6) and UDP.
UDP4_CLIENT = r"""
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
ok = 0
for i in range(20):
    payload = (f"datagram {i} " * 100).encode()
    u.sendto(payload, ("192.168.77.2", 7))
    try:
        ok += u.recvfrom(4096)[0] == payload
    except socket.timeout:
        pass
print("ok" if ok >= 18 else f"only {ok} of 20 datagrams came back intact")
"""


def t_tap_offload(kernel):
    def run(workdir):
        Netns.check_possible()
        ns = Netns()
        g = None
        try:
            g = ns.guest(kernel, workdir, "virtio-tap-offload", device="virtio-net-pci", tap_opts=",vnet_hdr=on",
                         machine=("-machine", "q35"))
            expect(g, r"net e0: virtio-net .*, TX checksum offload, RX checksum offload", timeout=READY_TIMEOUT,
                   what="e0 on virtio-net with TX and RX checksum offload (CSUM, GUEST_CSUM)")
            expect(g, r"echo: ready on 192\.168\.77\.2 port 7", timeout=READY_TIMEOUT, what="the echo ready line")
            for what, code in (("TCP over IPv4", TCP6_CLIENT.replace('"fd77::2"', '"192.168.77.2"')),
                               ("TCP over IPv6", TCP6_CLIENT), ("UDP over IPv4", UDP4_CLIENT)):
                out = ns.python(code, timeout=60).strip()
                if out != "ok":
                    raise Failure(f"echo {what} through the tap: {out}")
        finally:
            if g:
                g.kill()
            ns.close()
    return run


APPS = [
    # appliance, guest ports, ready line, checks
    ("echo", (7,), r"echo: ready on 10\.0\.2\.15 port 7", [("echo-dhcp-1MiB", t_echo), ("echo-link-flap", t_link_flap)]),
    ("http", (80, 443), r"http: ready on 10\.0\.2\.15 port 80", [("http-get-https", t_http)]),
    ("iperf", (5201,), r"iperf: ready on 10\.0\.2\.15", [("iperf3-both-ways", t_iperf3)]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--echo", required=True, help="the echo appliance's kernel")
    ap.add_argument("--http", required=True, help="the http appliance's kernel")
    ap.add_argument("--iperf", required=True, help="the iperf appliance's kernel")
    ap.add_argument("--logs", default="build/test-logs/virtio")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = ap.parse_args()
    r = Runner(args.logs)
    r.only = args.only or r.only
    kernels = {"echo": args.echo, "http": args.http, "iperf": args.iperf}
    for m in MACHINES:
        for app, ports, ready, checks in APPS:
            names = [f"virtio-{m.name}-{name}" for name, _ in checks]
            if r.only and not any(r.only in n for n in names):
                for n in names:
                    r.selected(n)  # counted as left out; and no boot for a group QEMU_K leaves out entirely
                continue
            a = Appliance(m, app, kernels[app], ports, ready)
            try:
                r.run(f"virtio-{m.name}-{app}-boot", a.boot, always=True)
                for name, (_, fn) in zip(names, checks):
                    r.run(name, a.case(fn))
            finally:
                a.kill()
    r.run("virtio-q35-tap-checksum-offload", t_tap_offload(args.echo))
    for k, v in RESULTS.items():
        print(f"measured: {k} = {v:.2f}")
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
