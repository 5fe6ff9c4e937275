#!/usr/bin/env python3
"""`make bench`: Skerry's appliances against a Linux guest in the same QEMU (TCG, user networking), on two NICs:
an e1000 and a virtio-net-pci (modern only: disable-legacy=on), both on QEMU's default `pc` machine (i440fx).

Every figure is measured on both guests on every set in the same run, under two CPU models (QEMU's default qemu64
and `max`; BENCH_CPUS), repeated (min/median/max), and reported as a ratio of each guest's better model's median:
  boot-to-first-response (echo, HTTP), echo round trips/s and 1 MiB echo rate, HTTP 1 KiB requests/s with
  wrk at 1 and 8 connections, 1 MiB download rate, iperf3 and iperf2 TCP throughput (both directions for
  iperf3), the smallest -m at which the appliance still serves, and the kernel image size.
An appliance that is not built yet (http, iperf) is reported as missing, not skipped silently. A guest that does
not answer (no driver for the NIC, a crash) gets "n/a" with the reason in every cell it would have filled; every
wait is bounded, so such a guest costs at most FIRST_ANSWER_S[guest] seconds per appliance, not a hung bench.
Writes build/bench/results.json (the e1000 set at the top level as before, the virtio-net set under
"virtio_net" in the same shape) and build/bench/chart.png (gnuplot). Not a test: targets are reported.
The "e1000_tap" set is the e1000 again on a tap device in a network namespace the bench creates (a dnsmasq there
gives both guests 10.0.2.15, the clients run inside): the host kernel's TCP in place of slirp's, so a figure that
moves between the two sets is slirp's doing, not the guest's.
The "vsock" set runs both guests on q35 with no NIC and a vhost-user-vsock-pci device behind the test backend
(build/tools/skerry-vsock-backend, Firecracker's hybrid vsock): echo round trips/s and the 1 MiB echo rate straight
through the backend's Unix socket, and HTTP 1 KiB requests/s with wrk through skerry-vsock, as a user would; the
backend's and skerry-vsock's CPU use is reported beside them (neither may be the bottleneck).
--nics picks the sets (default all)."""
import argparse
import ctypes
import json
import os
import random
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "qemu"))
from vsock_vm import VsockVm, cpu_seconds  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "bench")
PORTS = {"echo": 7, "http": 80, "https": 443, "iperf2": 5001, "iperf3": 5201}
# The NICs compared: results key -> (label, QEMU -device without netdev, PCI vendor:device the guest sees).
# Same machine (QEMU's default pc/i440fx) and CPU for both, so the NIC is the only difference.
NICS = {
    "e1000": ("e1000", "e1000", "8086:100e"),
    "virtio_net": ("virtio-net-pci (modern, pc)", "virtio-net-pci,disable-legacy=on", "1af4:1041"),
    "vsock": ("vsock (vhost-user, q35)", None, None),  # no NIC: run_vsock
    # The e1000 again, on a tap device in a network namespace the bench creates, the clients in that namespace: the
    # host kernel's TCP in place of slirp's (TapNet).
    "e1000_tap": ("e1000 over tap", "e1000", "8086:100e"),
}
VSOCK_METRICS = ["vsock_echo_round_trips_per_s", "vsock_echo_MiB_per_s", "vsock_http_1k_req_per_s_c1",
                 "vsock_http_1k_req_per_s_c8"]
# How long a guest may take to answer its first request before its cells are n/a (Skerry answers in about 1.5 s
# on e1000, the Linux guest in about 9 s; a loaded machine doubles that at worst).
FIRST_ANSWER_S = {"skerry": 45, "linux": 90}
# The CPU models each guest runs under: QEMU's default (qemu64) and `max`. Under TCG `max` roughly halves the Linux
# guest's TCP throughput, so every ratio is taken against the better of Linux's two figures (BENCH_CPUS overrides).
CPUS = ["qemu64", "max"]
CPU = ["qemu64"]  # the model of the runs in progress (add() files samples under it)
HOST = ["127.0.0.1"]  # where the clients find the guest: slirp's forwarded ports here, the guest itself over tap
TAP_GUEST = "10.0.2.15"  # over tap both guests get this address from a dnsmasq in the namespace (as from slirp)
APP_METRICS = {
    "echo": ["boot_to_echo_s", "echo_round_trips_per_s", "echo_MiB_per_s"],
    "http": ["boot_to_http_s", "http_1k_req_per_s_c1", "http_1k_req_per_s_c8", "http_1MiB_download_MiB_per_s"],
    "iperf": ["iperf3_tcp_Mbit_s", "iperf3_tcp_reverse_Mbit_s", "iperf2_tcp_Mbit_s", "ceiling_udp_in_Mbit_s"],
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Vm:
    """A guest with every service port forwarded to 127.0.0.1."""

    def __init__(self, kind, kernel, initrd=None, mem="256M", append="", nic="e1000", cpu=None, extra=()):
        self.nic = nic
        if nic.endswith("_tap"):  # the guest's own ports, on the tap device of the namespace we run in
            self.fwd = dict(PORTS)
            netdev = "tap,id=n0,ifname=tap0,script=no,downscript=no"
        else:
            self.fwd = {name: free_port() for name in PORTS}
            fwd = ",".join(f"hostfwd=tcp:127.0.0.1:{self.fwd[n]}-:{p}" for n, p in PORTS.items())
            fwd += f",hostfwd=udp:127.0.0.1:{self.fwd['iperf3']}-:5201"
            netdev = f"user,id=n0,{fwd}"
        self.log = os.path.join(OUT, f"{kind}.serial.log")
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", cpu or CPU[0], "-m", mem, "-display", "none", "-no-reboot",
               "-monitor", "none", "-serial", f"file:{self.log}", "-netdev", netdev,
               "-device", f"{NICS[nic][1]},netdev=n0", "-kernel", kernel]
        if initrd:
            cmd += ["-initrd", initrd, "-append", f"console=ttyS0 quiet {append}".strip()]
        else:
            cmd += ["-append", append]
        cmd += list(extra)
        open(self.log, "w").close()   # not the previous guest's log (its panic) while QEMU starts
        self.t0 = time.monotonic()
        self.qemu_log = os.path.join(OUT, f"{kind}.qemu.log")   # QEMU's own complaints (a hostfwd port taken)
        with open(self.qemu_log, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        self._checked, self._panicked = 0.0, False

    def alive(self):
        """QEMU runs and the guest has not panicked (Linux short of memory panics at once; waiting out the
        timeout after that only makes the bench longer)."""
        if self.proc.poll() is not None or self._panicked:
            return False
        if time.monotonic() - self._checked > 0.5:
            self._checked = time.monotonic()
            try:
                self._panicked = bool(re.search(rb"Kernel panic - not syncing|\*\*\* KERNEL PANIC",
                                                open(self.log, "rb").read()))
            except OSError:
                pass
        return not self._panicked

    def wait_log(self, pattern, timeout):
        """True once the serial log matches (the guest's own word that it is up), False after timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            try:
                if re.search(pattern, open(self.log, "rb").read().decode("utf-8", "replace")):
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def why_silent(self, waited):
        """Why the guest did not answer, for the n/a cells: QEMU gone, a NIC nobody drove, or the log's end."""
        try:
            log = open(self.log, "rb").read().decode("utf-8", "replace").replace("\r", "")
        except OSError:
            log = ""
        where = os.path.relpath(self.log, ROOT)
        if self.proc.poll() is not None:
            try:
                err = open(self.qemu_log, errors="replace").read().strip().splitlines()
            except OSError:
                err = []
            return f"QEMU exited ({self.proc.returncode}) before answering" + (f": {err[-1][:120]}" if err else
                                                                                  f"; see {where}")
        if self._panicked:
            return f"the guest panicked; see {where}"
        pci_id = NICS[self.nic][2]
        if re.search(rf"{pci_id} .*: no driver", log):
            return f"no answer within {waited:.0f} s: the guest has no driver for the {NICS[self.nic][0]} ({pci_id})"
        lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
        last = lines[-1][-100:] if lines else "(empty)"
        return f"no answer within {waited:.0f} s; {where} ends: {last}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class TapNet:
    """A network namespace with a tap device (10.0.2.2/24) and a dnsmasq handing out 10.0.2.15, entered by this
    process while the tap set runs: QEMU (started inside) opens the tap there, and every client runs there too.
    Leaves nothing behind."""
    libc = ctypes.CDLL(None, use_errno=True)

    def __init__(self):
        self.name = f"skerry-bench-{os.getpid()}"
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.dnsmasq = None
        self.sh(f"ip netns add {self.name}")
        for cmd in ("ip link set lo up", "ip tuntap add tap0 mode tap", "ip link set tap0 up",
                    "ip addr add 10.0.2.2/24 dev tap0"):
            self.sh(f"ip netns exec {self.name} {cmd}")
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if self.libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                raise OSError(ctypes.get_errno(), "setns into the bench namespace")
        finally:
            os.close(fd)
        self.dnsmasq = subprocess.Popen(
            ["dnsmasq", "--no-daemon", "--port=0", "--interface=tap0", "--bind-interfaces", "--no-resolv", "--no-ping",
             f"--dhcp-range={TAP_GUEST},{TAP_GUEST},255.255.255.0,1h", "--dhcp-option=3,10.0.2.2",
             "--leasefile-ro", "--log-facility=-", "--conf-file=/dev/null"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def sh(cmd):
        subprocess.run(cmd, shell=True, check=True, capture_output=True, timeout=30)

    @staticmethod
    def possible():
        return os.geteuid() == 0 and os.path.exists("/dev/net/tun") and shutil.which("dnsmasq") is not None

    def close(self):
        if self.dnsmasq:
            self.dnsmasq.kill()
            self.dnsmasq.wait()
        self.libc.setns(self.home, 0x40000000)
        os.close(self.home)
        subprocess.run(f"ip netns del {self.name}", shell=True, capture_output=True)


# ------------------------------------------------------------------------------------------ measurements
def first_echo(port, t0, timeout=120, alive=lambda: True):
    """Seconds from t0 until an echo round trip succeeds (slirp accepts before the guest listens, so only a
    real answer counts); None after `timeout` or once alive() says QEMU is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            # A short timeout: slirp accepts at once and then retransmits a lost SYN to the guest only
            # after a second, which would blur the figure; a fresh attempt every 0.3 s does not.
            with socket.create_connection((HOST[0], port), timeout=0.3) as s:
                s.sendall(b"ping\n")
                if s.recv(16):
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.05)
    return None


def first_http(port, t0, timeout=120, alive=lambda: True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((HOST[0], port), timeout=0.3) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/"):
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.05)
    return None


def serves_https(port, timeout=30):
    """The HTTPS page comes back whole (200): the key is made, mbedTLS has its buffers, a handshake completes."""
    r = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(timeout),
                        f"https://{HOST[0]}:{port}/"], capture_output=True, text=True)
    return r.stdout.strip() == "200"


def connect_to(target):
    """A connected socket: `target` is a forwarded TCP port on 127.0.0.1, or a function that opens the socket."""
    if callable(target):
        s = target()
        if s is None:
            raise ConnectionRefusedError("refused")
        return s
    s = socket.create_connection((HOST[0], target), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def echo_round_trips(target, seconds=2.0):
    with connect_to(target) as s:
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            s.sendall(b"x" * 64)
            got = 0
            while got < 64:
                b = s.recv(64 - got)
                if not b:
                    return None
                got += len(b)
            n += 1
        return n / (time.monotonic() - t0)


def echo_rate(target, size=1 << 20):
    data = random.Random(1).randbytes(size)
    with connect_to(target) as s:
        s.setblocking(False)
        got, sent, t0 = 0, 0, time.monotonic()
        while got < size and time.monotonic() - t0 < 60:
            r, w, _ = select.select([s], [s] if sent < size else [], [], 1)
            if w:
                try:
                    sent += s.send(data[sent:sent + 65536])
                except BlockingIOError:
                    pass
            if r:
                b = s.recv(65536)
                if not b:
                    return None
                got += len(b)
        return (size / (1 << 20)) / (time.monotonic() - t0) if got == size else None


def wrk(port, conns, seconds=3, path="/1k.html"):
    if not shutil.which("wrk"):
        return None
    r = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", f"http://{HOST[0]}:{port}{path}"],
                       capture_output=True, text=True, timeout=seconds + 30)
    for line in r.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def download_rate(port, path="/1m.bin"):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}",
                        f"http://{HOST[0]}:{port}{path}"], capture_output=True, text=True, timeout=60)
    try:
        code, size, t = r.stdout.split()
        if code != "200" or int(size) < (1 << 20) or float(t) <= 0:
            return None
        return int(size) / (1 << 20) / float(t)
    except ValueError:
        return None


def iperf3(port, reverse=False, seconds=3, attempts=3):
    """Mbit/s received. A server still closing the previous test answers "busy" (Linux's iperf3 does for a
    moment after each test): try again, a bounded number of times, and say why when it never worked."""
    args = ["iperf3", "-c", HOST[0], "-p", str(port), "-t", str(seconds), "-J"] + (["-R"] if reverse else [])
    why = "no attempt"
    for _ in range(attempts):
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30)
            j = json.loads(r.stdout)
            if "error" in j:
                why = j["error"]
            else:
                return j["end"]["sum_received"]["bits_per_second"] / 1e6
        except (subprocess.TimeoutExpired, ValueError, KeyError) as e:
            why = repr(e)
        time.sleep(1)
    print(f"  iperf3{' -R' if reverse else ''}: no result ({why})", flush=True)
    return None


def iperf3_udp(port, reverse=False, seconds=3, rate="0"):
    """The ceiling: iperf3 UDP, 1400-byte datagrams as fast as the sender can (-b 0), Mbit/s that arrived. The
    receiver does almost nothing per datagram, so this is about what the NIC model and QEMU's network carry."""
    args = ["iperf3", "-c", HOST[0], "-p", str(port), "-u", "-b", rate, "-l", "1400", "-t", str(seconds),
            "-J"] + (["-R"] if reverse else [])
    for _ in range(3):
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30)
            j = json.loads(r.stdout)
            if "error" not in j:
                s = j["end"]["sum"]
                return s["bits_per_second"] * (1 - s.get("lost_percent", 0) / 100) / 1e6
        except (subprocess.TimeoutExpired, ValueError, KeyError):
            pass
        time.sleep(1)
    return None


def iperf2(port, seconds=3):
    try:
        r = subprocess.run(["iperf", "-c", HOST[0], "-p", str(port), "-t", str(seconds), "-y", "C"],
                           capture_output=True, text=True, timeout=seconds + 30)
        line = [x for x in r.stdout.splitlines() if x.count(",") >= 8][-1]
        return float(line.split(",")[8]) / 1e6
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return None


# ------------------------------------------------------------------------------------------------ runs
# A "set" is one NIC's results: {"skerry": {"samples": {...}, "image_bytes": {...}}, "linux": {...},
# "na": {"skerry": {metric: reason}, "linux": {...}}, "table": [...], "min_memory_mib": {...}}. The e1000 set is
# the top level of results.json (as before virtio-net was added); the virtio-net set is results["virtio_net"].
def measure(s, who, key, fn, *args, **kw):
    """Add one sample; a socket or tool error (a guest that stopped answering mid-run) is an n/a with its
    reason, never an exception that ends the bench."""
    try:
        value = fn(*args, **kw)
        why = None if value is not None else f"{fn.__name__} gave no result"
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        value, why = None, f"{fn.__name__} failed: {type(e).__name__}: {e}"
    add(s, who, key, value, why)


def silent(s, who, keys, why):
    for k in keys:
        add(s, who, k, None, why)
    print(f"  {who}: n/a ({why})", flush=True)


def start_answering(s, who, keys, make_vm, first, wait):
    """Start a guest and wait (at most `wait` s) for its first answer: (vm, first(vm)), or (None, None) with
    its cells made n/a. A QEMU that exits at once (a hostfwd port taken between free_port and QEMU's bind) is
    started once more; a guest that runs but does not answer is not."""
    for _ in range(2):
        vm = make_vm()
        t = first(vm)
        if t is not None:
            return vm, t
        why, exited = vm.why_silent(wait), vm.proc.poll() is not None
        vm.stop()
        if not exited:
            break
    silent(s, who, keys, why)
    return None, None


def run_skerry(app, runs, results, nic="e1000"):
    s = results if nic == "e1000" else results[nic]
    kernel = os.path.join(ROOT, "build", "appliances", f"{app}.elf")
    if not os.path.exists(kernel):
        if app not in results["missing"]:
            results["missing"].append(app)
        return
    suffix = "" if nic == "e1000" else f"-{nic}"
    wait = FIRST_ANSWER_S["skerry"]

    def iperf_ready(vm):
        # slirp accepts (and holds) a forwarded connection whether or not the guest answers, so a held
        # connection proves nothing: the appliance's own "ready" line (it has its address) comes first.
        t_end = time.monotonic() + wait
        ok = vm.wait_log(r"iperf: ready on", wait) and \
            first_wait(vm.fwd["iperf3"], max(1, t_end - time.monotonic()), vm.alive)
        return True if ok else None
    first = {"echo": lambda vm: first_echo(vm.fwd["echo"], vm.t0, wait, vm.alive),
             "http": lambda vm: first_http(vm.fwd["http"], vm.t0, wait, vm.alive),
             "iperf": iperf_ready}[app]
    for _ in range(runs):
        vm, t = start_answering(s, "skerry", APP_METRICS[app], lambda: Vm(f"skerry-{app}{suffix}", kernel, nic=nic),
                                first, wait)
        if vm is None:
            break  # the next runs would not answer either: the bench stays bounded
        try:
            if app == "echo":
                add(s, "skerry", "boot_to_echo_s", t)
                measure(s, "skerry", "echo_round_trips_per_s", echo_round_trips, vm.fwd["echo"])
                measure(s, "skerry", "echo_MiB_per_s", echo_rate, vm.fwd["echo"])
            elif app == "http":
                add(s, "skerry", "boot_to_http_s", t)
                measure(s, "skerry", "http_1k_req_per_s_c1", wrk, vm.fwd["http"], 1)
                measure(s, "skerry", "http_1k_req_per_s_c8", wrk, vm.fwd["http"], 8)
                measure(s, "skerry", "http_1MiB_download_MiB_per_s", download_rate, vm.fwd["http"])
            elif app == "iperf":
                measure(s, "skerry", "iperf3_tcp_Mbit_s", iperf3, vm.fwd["iperf3"])
                measure(s, "skerry", "iperf3_tcp_reverse_Mbit_s", iperf3, vm.fwd["iperf3"], reverse=True)
                measure(s, "skerry", "iperf2_tcp_Mbit_s", iperf2, vm.fwd["iperf2"])
                measure(s, "skerry", "ceiling_udp_in_Mbit_s", iperf3_udp, vm.fwd["iperf3"])
        finally:
            vm.stop()
    s["skerry"].setdefault("image_bytes", {})[app] = os.path.getsize(kernel)


def first_wait(port, timeout=60, alive=lambda: True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with socket.create_connection((HOST[0], port), timeout=1) as s:
                s.settimeout(0.5)
                try:
                    if s.recv(1) == b"":
                        time.sleep(0.2)
                        continue
                except socket.timeout:
                    return True  # connected and held open: a listener answered
        except OSError:
            pass
        time.sleep(0.1)
    return False


def run_linux(guest_dir, runs, results, nic="e1000"):
    s = results if nic == "e1000" else results[nic]
    kernel, initrd = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initrd.img")
    suffix = "" if nic == "e1000" else f"-{nic}"
    wait = FIRST_ANSWER_S["linux"]
    for _ in range(runs):
        vm, t = start_answering(s, "linux", [k for ks in APP_METRICS.values() for k in ks],
                                lambda: Vm(f"linux{suffix}", kernel, initrd, nic=nic),
                                lambda vm: first_echo(vm.fwd["echo"], vm.t0, wait, vm.alive), wait)
        if vm is None:
            break
        try:
            add(s, "linux", "boot_to_echo_s", t)
            measure(s, "linux", "boot_to_http_s", first_http, vm.fwd["http"], vm.t0, wait, vm.alive)
            measure(s, "linux", "echo_round_trips_per_s", echo_round_trips, vm.fwd["echo"])
            measure(s, "linux", "echo_MiB_per_s", echo_rate, vm.fwd["echo"])
            measure(s, "linux", "http_1k_req_per_s_c1", wrk, vm.fwd["http"], 1)
            measure(s, "linux", "http_1k_req_per_s_c8", wrk, vm.fwd["http"], 8)
            measure(s, "linux", "http_1MiB_download_MiB_per_s", download_rate, vm.fwd["http"])
            measure(s, "linux", "iperf3_tcp_Mbit_s", iperf3, vm.fwd["iperf3"])
            measure(s, "linux", "iperf3_tcp_reverse_Mbit_s", iperf3, vm.fwd["iperf3"], reverse=True)
            measure(s, "linux", "iperf2_tcp_Mbit_s", iperf2, vm.fwd["iperf2"])
            measure(s, "linux", "ceiling_udp_in_Mbit_s", iperf3_udp, vm.fwd["iperf3"])
        finally:
            vm.stop()
    s["linux"].setdefault("image_bytes", {})["linux"] = os.path.getsize(kernel) + os.path.getsize(initrd)


def run_vsock(guest_dir, runs, results):
    """The vsock set: each guest on q35 with no NIC, its vsock device behind the test backend."""
    s = results["vsock"]
    tools = os.path.join(ROOT, "build", "tools")
    linux = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initrd.img")
    wait = {"skerry": FIRST_ANSWER_S["skerry"], "linux": FIRST_ANSWER_S["linux"] + 60}
    for who, app, kernel, initrd, mem, ready in (
            ("skerry", "echo", os.path.join(ROOT, "build", "appliances", "echo.elf"), None, "128M",
             r"echo: ready on vsock"),
            ("skerry", "http", os.path.join(ROOT, "build", "appliances", "http.elf"), None, "128M",
             r"http: ready on vsock"),
            ("linux", "all", linux[0], linux[1], "256M", r"linux-guest: vsock ready")):
        keys = [k for k in VSOCK_METRICS if app == "all" or k.startswith(f"vsock_{app}")]
        if not os.path.exists(kernel):
            silent(s, who, keys, f"{os.path.relpath(kernel, ROOT)} not built")
            continue
        for _ in range(runs):
            vm = None
            try:
                vm = VsockVm("q35", kernel, f"bench-vsock-{who}-{app}", tools, OUT, initrd=initrd, mem=mem, cpu=CPU[0])
                up = vm.guest.wait_for(ready, wait[who])
                deadline = time.monotonic() + 30
                while up and time.monotonic() < deadline:  # a listener answers (Linux: a moment after the line)
                    probe = vm.hybrid(7 if app != "http" else 80, 5)
                    if probe:
                        probe.close()
                        break
                    time.sleep(0.2)
                else:
                    silent(s, who, keys, f"no vsock answer within {wait[who]} s; see {vm.guest.log_path}")
                    break
                cpu0, t0 = vm.cpu_seconds(), time.monotonic()
                tool_cpu = None
                if app in ("echo", "all"):
                    measure(s, who, "vsock_echo_round_trips_per_s", echo_round_trips, lambda: vm.hybrid(7))
                    measure(s, who, "vsock_echo_MiB_per_s", echo_rate, lambda: vm.hybrid(7))
                if app in ("http", "all"):
                    tool, port = vm.forward(80)
                    try:
                        measure(s, who, "vsock_http_1k_req_per_s_c1", wrk, port, 1)
                        measure(s, who, "vsock_http_1k_req_per_s_c8", wrk, port, 8)
                        tool_cpu = cpu_seconds(tool.pid)
                    finally:
                        tool.kill()
                        tool.wait()
                dt = time.monotonic() - t0
                cpu = s.setdefault("helper_cpu", {}).setdefault(who, {})
                cpu.setdefault("backend", []).append((vm.cpu_seconds() - cpu0) / dt)
                if tool_cpu is not None:
                    cpu.setdefault("skerry-vsock", []).append(tool_cpu / dt)
            except Exception as e:  # noqa: BLE001 - a broken run is an n/a with its reason, never the bench's end
                silent(s, who, keys, f"{type(e).__name__}: {e}")
                break
            finally:
                if vm:
                    vm.stop()


def min_memory(kind, sizes, start, probe, hint=None):
    """Smallest -m (MiB) from `sizes` (descending) at which the guest still answers. With a hint (the e1000
    set's answer), start there: down while it serves, else up until it does; a few boots instead of a scan."""
    def serves(mib):
        vm = start(mib)
        try:
            return probe(vm) is not None
        finally:
            vm.stop()
    i = sizes.index(hint) if hint in sizes else 0
    if i and not serves(sizes[i]):
        for j in range(i - 1, -1, -1):
            if serves(sizes[j]):
                return sizes[j]
        return None
    best = sizes[i] if i else None
    for mib in sizes[i + 1 if i else 0:]:
        if not serves(mib):
            break
        best = mib
    return best


def add(s, who, key, value, why=None):
    s[who].setdefault("samples", {}).setdefault(key, {}).setdefault(CPU[0], []).append(value)
    if value is None and why:
        s.setdefault("na", {}).setdefault(who, {}).setdefault(key, why)


# ---------------------------------------------------------------------------------------------- report
HIGHER_BETTER = {"echo_round_trips_per_s", "echo_MiB_per_s", "http_1k_req_per_s_c1", "http_1k_req_per_s_c8",
                 "http_1MiB_download_MiB_per_s", "iperf3_tcp_Mbit_s", "iperf3_tcp_reverse_Mbit_s",
                 "iperf2_tcp_Mbit_s", "ceiling_udp_in_Mbit_s"} | set(VSOCK_METRICS)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    """(min, median, max) of the runs that gave a result, or None."""
    xs = [x for x in xs if x is not None]
    return (min(xs), statistics.median(xs), max(xs)) if xs else None


def table(s):
    """The set's rows. Per guest and CPU model: (min, median, max) over the runs; per guest, its better model's
    median; Skerry's advantage is its better median over Linux's better median. A value that is missing has its
    reason."""
    keys = sorted(set(s["skerry"].get("samples", {})) | set(s["linux"].get("samples", {})))
    rows = []
    for k in keys:
        row = {"metric": k}
        higher = k in HIGHER_BETTER
        for who in ("skerry", "linux"):
            by_cpu = s[who].get("samples", {}).get(k)
            stats = {cpu: spread(xs) for cpu, xs in (by_cpu or {}).items()}
            row[f"{who}_by_cpu"] = {cpu: list(st) for cpu, st in stats.items() if st}
            best = None
            for cpu, st in stats.items():
                if st and (best is None or (st[1] > stats[best][1] if higher else st[1] < stats[best][1])):
                    best = cpu
            row[who] = stats[best][1] if best else None
            row[f"{who}_cpu"] = best
            if row[who] is None:
                row[f"{who}_na"] = s.get("na", {}).get(who, {}).get(k) or \
                    ("not measured" if by_cpu is None else "no result in any run")
        sk, lx = row["skerry"], row["linux"]
        row["advantage"] = (sk / lx if higher else lx / sk) if sk and lx else None
        rows.append(row)
    s["table"] = rows
    return rows


def fmt(v):
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def report(results, nics):
    sets = {n: (results if n == "e1000" else results[n]) for n in nics}
    tables = {n: {r["metric"]: r for r in table(sets[n])} for n in nics}
    keys = sorted(set().union(*[set(t) for t in tables.values()]))
    notes = []

    def cell(row, who):
        if row is None:
            return "-"
        v = row[who]
        if v is None:
            why = row[f"{who}_na"]
            if why not in notes:
                notes.append(why)
            return f"n/a[{notes.index(why) + 1}]"
        return f"{fmt(v)} {row[f'{who}_cpu'][:3]}"

    print("\nMedians, each guest under its better CPU model (qem = qemu64, QEMU's default; max = -cpu max); "
          "advantage = Skerry's over Linux's")
    print(f"{'':30}" + "".join(f" | {NICS[n][0]:^32}" for n in nics))
    print(f"{'metric':30}" + "".join(f" | {'Skerry':>11} {'Linux':>11} {'adv.':>8}" for _ in nics))
    for k in keys:
        line = f"{k:30}"
        for n in nics:
            row = tables[n].get(k)
            adv = row["advantage"] if row else None
            line += f" | {cell(row, 'skerry'):>11} {cell(row, 'linux'):>11} {('-' if adv is None else f'{adv:.2f}x'):>8}"
        print(line)
    print("\nEvery run, min / median / max per CPU model:")
    for n in nics:
        for k in keys:
            row = tables[n].get(k)
            if not row:
                continue
            parts = []
            for who in ("skerry", "linux"):
                for cpu, st in sorted(row[f"{who}_by_cpu"].items()):
                    parts.append(f"{who} {cpu} {fmt(st[0])}/{fmt(st[1])}/{fmt(st[2])}")
            print(f"  {NICS[n][0][:14]:14} {k:30} " + "; ".join(parts))
    for app, size in results["skerry"].get("image_bytes", {}).items():
        print(f"{'image size ' + app:30} {size / 1024:9.0f}K")
    if results.get("boot_floor_s"):
        print(f"{'boot floor (print, power off)':30} {fmt(results['boot_floor_s'])} s: QEMU start to exit of a "
              "kernel that powers off at once, by the same boot path")
    for n in nics:
        for who, v in sets[n].get("min_memory_mib", {}).items():
            why = sets[n].get("na", {}).get("min_memory_mib", {}).get(who, "none of the sizes served")
            print(f"{'smallest -m serving (' + who + ', ' + NICS[n][0] + ')':62} "
                  f"{(f'n/a: {why}' if v is None else f'{v}M'):>6}")
        at = sets[n].get("iperf_at_min_memory")
        if at:
            for k in ("iperf3_tcp_Mbit_s", "iperf3_tcp_reverse_Mbit_s"):
                full = median([x for xs in sets[n]["skerry"].get("samples", {}).get(k, {}).values() for x in xs
                               if x is not None])
                print(f"{'skerry iperf at ' + str(at['mib']) + 'M, ' + k + ' (' + NICS[n][0] + ')':62} "
                      f"{fmt(at[k]):>6} (at 256M: {fmt(full)})")
    if "vsock" in sets:
        for who, procs in sets["vsock"].get("helper_cpu", {}).items():
            text = ", ".join(f"{p} {median(v) * 100:.0f}%" for p, v in procs.items() if median(v) is not None)
            print(f"{'vsock helpers CPU (' + who + ')':30} {text} of one core during the measurements (median)")
    for i, why in enumerate(notes):
        print(f"n/a[{i + 1}]: {why}")
    if results["missing"]:
        print(f"not built yet, so not measured: {', '.join(results['missing'])}")


def chart(results, nics):
    """Skerry's advantage per metric and set on a log scale, each bar labelled with the two absolute medians."""
    if not shutil.which("gnuplot"):
        print("bench: gnuplot missing (make setup installs gnuplot-nox); no chart")
        return
    data = os.path.join(OUT, "chart.dat")
    lines = []
    for i, n in enumerate(nics):
        for row in (results if n == "e1000" else results[n])["table"]:
            if row["advantage"]:
                label = f"{fmt(row['skerry'])} vs {fmt(row['linux'])}"
                lines.append(f'"{NICS[n][0][:12]}: {row["metric"]}" {row["advantage"]:.4f} "{label}"')
    with open(data, "w") as f:
        f.write("\n".join(lines) + "\n")
    height = max(400, 22 * len(lines) + 120)
    script = f"""set terminal pngcairo size 1200,{height} noenhanced
set output '{os.path.join(OUT, "chart.png")}'
set title 'Skerry vs Linux guest, each at its better CPU model: advantage (log scale); labels: the medians'
set style fill solid
set logscale x 10
set xrange [0.1:*]
set yrange [-1:{len(lines)}]
set ytics nomirror font ',8'
set grid xtics
unset key
set arrow from 1, graph 0 to 1, graph 1 nohead dt 2
plot '{data}' using 2:0:(1):2:($0-0.35):($0+0.35):ytic(1) with boxxyerror, \
     '' using ($2*1.15):0:3 with labels left font ',8'
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print(f"bench: gnuplot failed: {r.stderr.strip()}")


def boot_floor():
    """Seconds from QEMU's start to its exit for the hello kernel told to power off at once: the boot path's cost
    (QEMU, SeaBIOS, loading, the kernel's own start) that no appliance can go below."""
    kernel = os.path.join(ROOT, "build", "appliances", "hello.elf")
    if not os.path.exists(kernel):
        return None
    xs = []
    for _ in range(3):
        vm = Vm("boot-floor", kernel, mem="128M", append="poweroff_after=1")
        try:
            vm.proc.wait(timeout=60)
            xs.append(time.monotonic() - vm.t0)
        except subprocess.TimeoutExpired:
            pass
        finally:
            vm.stop()
    return median(xs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    ap.add_argument("--linux", default=os.path.join(ROOT, "build", "linux-guest"))
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--nics", default=os.environ.get("BENCH_NICS", ",".join(NICS)),
                    help=f"comma-separated NIC sets to measure, of {', '.join(NICS)} (default: all)")
    ap.add_argument("--cpus", default=os.environ.get("BENCH_CPUS", ",".join(CPUS)),
                    help="comma-separated QEMU CPU models each guest runs under (default: qemu64,max)")
    args = ap.parse_args()
    cpus = [c for c in args.cpus.split(",") if c]
    nics = [n for n in args.nics.split(",") if n]
    for n in nics:
        if n not in NICS:
            ap.error(f"unknown NIC set {n!r}; known: {', '.join(NICS)}")
    os.makedirs(OUT, exist_ok=True)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{os.cpu_count()} CPUs, QEMU TCG, " + subprocess.run(
                   ["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
               "runs": args.runs, "skerry": {}, "linux": {}, "missing": [],
               "nic": {"label": NICS["e1000"][0], "device": NICS["e1000"][1], "machine": "pc"}}
    for n in nics:
        if n != "e1000":
            results[n] = {"nic": {"label": NICS[n][0], "device": NICS[n][1],
                                  "machine": "q35" if n == "vsock" else "pc"},
                          "skerry": {}, "linux": {}}
    results["cpus"] = cpus
    t_start = time.monotonic()
    CPU[0] = cpus[0]
    results["boot_floor_s"] = boot_floor()
    for cpu in cpus:
        CPU[0] = cpu
        for n in nics:
            if n == "vsock":
                print(f"bench: Skerry and the Linux guest over vsock, -cpu {cpu} ({args.runs} runs)", flush=True)
                run_vsock(args.linux, args.runs, results)
                continue
            tap = None
            if n.endswith("_tap"):
                if not TapNet.possible():
                    print(f"bench: {NICS[n][0]}: skipped (needs root, /dev/net/tun and dnsmasq)", flush=True)
                    continue
                tap, HOST[0] = TapNet(), TAP_GUEST
            try:
                for app in ("echo", "http", "iperf"):
                    print(f"bench: Skerry {app} on {NICS[n][0]}, -cpu {cpu} ({args.runs} runs)", flush=True)
                    run_skerry(app, args.runs, results, n)
                print(f"bench: Linux guest on {NICS[n][0]}, -cpu {cpu} ({args.runs} runs)", flush=True)
                run_linux(args.linux, args.runs, results, n)
            finally:
                if tap:
                    tap.close()
                    HOST[0] = "127.0.0.1"
    CPU[0] = cpus[0]
    if not args.skip_memory:
        app = "http" if "http" not in results["missing"] else "echo"
        kernel = os.path.join(ROOT, "build", "appliances", f"{app}.elf")
        # Skerry answers in about 1.5 s; a size that does not answer within 20 s does not serve.
        def probe(vm):  # HTTP and HTTPS both served (the http appliance), or the echo
            if app != "http":
                return first_echo(vm.fwd["echo"], vm.t0, 20, vm.alive)
            t = first_http(vm.fwd["http"], vm.t0, 20, vm.alive)
            return t if t is not None and serves_https(vm.fwd["https"]) else None
        hints = {}
        for n in [n for n in nics if n in ("e1000", "virtio_net")]:
            print(f"bench: smallest memory that still serves, {NICS[n][0]}", flush=True)
            s = results if n == "e1000" else results[n]
            linux = os.path.join(args.linux, "vmlinuz"), os.path.join(args.linux, "initrd.img")
            sfx = "" if n == "e1000" else f"-{n}"
            # A guest that never answered on this NIC is not searched (every size would wait out its timeout).
            boot_key = "boot_to_http_s" if app == "http" else "boot_to_echo_s"
            answered = {who: any(x is not None for xs in s[who].get("samples", {}).get(key, {}).values() for x in xs)
                        for who, key in (("skerry", boot_key), ("linux", "boot_to_echo_s"))}
            s["min_memory_mib"] = {
                f"skerry {app}": min_memory("skerry", [64, 32, 16, 12, 8, 6, 4],
                                            lambda m: Vm(f"mem-{app}{sfx}", kernel, mem=f"{m}M", nic=n), probe,
                                            hints.get("skerry")) if answered["skerry"] else None,
                "linux": min_memory("linux", [256, 128, 96, 64, 48],
                                    lambda m: Vm(f"mem-linux{sfx}", *linux, mem=f"{m}M", nic=n),
                                    lambda vm: first_echo(vm.fwd["echo"], vm.t0, 90, vm.alive),
                                    hints.get("linux")) if answered["linux"] else None,
            }
            for who, key in ((f"skerry {app}", "skerry"), ("linux", "linux")):
                if not answered[key]:
                    s.setdefault("na", {}).setdefault("min_memory_mib", {})[who] = \
                        "not searched: the guest never answered on this NIC (see above)"
            # The later sets start their search where the first one ended (a few boots instead of a scan).
            hints.setdefault("skerry", s["min_memory_mib"][f"skerry {app}"])
            hints.setdefault("linux", s["min_memory_mib"]["linux"])
            # The iperf appliance at that size: full throughput, or how much of it (the memory plan's tiny tier).
            m = s["min_memory_mib"][f"skerry {app}"]
            if m and "iperf" not in results["missing"]:
                vm = Vm(f"mem-iperf{sfx}", os.path.join(ROOT, "build", "appliances", "iperf.elf"), mem=f"{m}M", nic=n)
                try:
                    if first_wait(vm.fwd["iperf3"]) is not None:
                        s["iperf_at_min_memory"] = {
                            "mib": m,
                            "iperf3_tcp_Mbit_s": median([iperf3(vm.fwd["iperf3"]) for _ in range(3)]),
                            "iperf3_tcp_reverse_Mbit_s": median([iperf3(vm.fwd["iperf3"], reverse=True)
                                                                 for _ in range(3)])}
                finally:
                    vm.stop()
    results["duration_s"] = round(time.monotonic() - t_start)
    report(results, nics)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    chart(results, nics)
    print(f"bench: {os.path.join(OUT, 'results.json')}, {os.path.join(OUT, 'chart.png')} "
          f"({results['duration_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
