#!/usr/bin/env python3
"""`make bench`: Skerry's appliances against a Linux guest in the same QEMU (TCG, e1000, user networking).

Every figure is measured on both guests in the same run, repeated (median), and reported as a ratio:
  boot-to-first-response (echo, HTTP), echo round trips/s and 1 MiB echo rate, HTTP 1 KiB requests/s with
  wrk at 1 and 8 connections, 1 MiB download rate, iperf3 and iperf2 TCP throughput (both directions for
  iperf3), the smallest -m at which the appliance still serves, and the kernel image size.
An appliance that is not built yet (http, iperf) is reported as missing, not skipped silently.
Writes build/bench/results.json and build/bench/chart.png (gnuplot). Not a test: targets are reported."""
import argparse
import json
import os
import random
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "bench")
PORTS = {"echo": 7, "http": 80, "iperf2": 5001, "iperf3": 5201}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Vm:
    """A guest with every service port forwarded to 127.0.0.1."""

    def __init__(self, kind, kernel, initrd=None, mem="256M", append=""):
        self.fwd = {name: free_port() for name in PORTS}
        fwd = ",".join(f"hostfwd=tcp:127.0.0.1:{self.fwd[n]}-:{p}" for n, p in PORTS.items())
        fwd += f",hostfwd=udp:127.0.0.1:{self.fwd['iperf3']}-:5201"
        self.log = os.path.join(OUT, f"{kind}.serial.log")
        cmd = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-m", mem, "-display", "none", "-no-reboot",
               "-monitor", "none", "-serial", f"file:{self.log}", "-netdev", f"user,id=n0,{fwd}",
               "-device", "e1000,netdev=n0", "-kernel", kernel]
        if initrd:
            cmd += ["-initrd", initrd, "-append", f"console=ttyS0 quiet {append}".strip()]
        else:
            cmd += ["-append", append]
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------------------------------ measurements
def first_echo(port, t0, timeout=120):
    """Seconds from t0 until an echo round trip succeeds (slirp accepts before the guest listens, so only a
    real answer counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # A short timeout: slirp accepts at once and then retransmits a lost SYN to the guest only
            # after a second, which would blur the figure; a fresh attempt every 0.3 s does not.
            with socket.create_connection(("127.0.0.1", port), timeout=0.3) as s:
                s.sendall(b"ping\n")
                if s.recv(16):
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.05)
    return None


def first_http(port, t0, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.3) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/"):
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.05)
    return None


def echo_round_trips(port, seconds=2.0):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


def echo_rate(port, size=1 << 20):
    data = random.Random(1).randbytes(size)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
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
    r = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", f"http://127.0.0.1:{port}{path}"],
                       capture_output=True, text=True, timeout=seconds + 30)
    for line in r.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def download_rate(port, path="/1m.bin"):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}",
                        f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=60)
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
    args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"] + (["-R"] if reverse else [])
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


def iperf2(port, seconds=3):
    try:
        r = subprocess.run(["iperf", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-y", "C"],
                           capture_output=True, text=True, timeout=seconds + 30)
        line = [x for x in r.stdout.splitlines() if x.count(",") >= 8][-1]
        return float(line.split(",")[8]) / 1e6
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return None


# ------------------------------------------------------------------------------------------------ runs
def run_skerry(app, runs, results):
    kernel = os.path.join(ROOT, "build", "appliances", f"{app}.elf")
    if not os.path.exists(kernel):
        results["missing"].append(app)
        return
    for _ in range(runs):
        vm = Vm(f"skerry-{app}", kernel)
        try:
            if app == "echo":
                add(results, "skerry", "boot_to_echo_s", first_echo(vm.fwd["echo"], vm.t0))
                add(results, "skerry", "echo_round_trips_per_s", echo_round_trips(vm.fwd["echo"]))
                add(results, "skerry", "echo_MiB_per_s", echo_rate(vm.fwd["echo"]))
            elif app == "http":
                add(results, "skerry", "boot_to_http_s", first_http(vm.fwd["http"], vm.t0))
                add(results, "skerry", "http_1k_req_per_s_c1", wrk(vm.fwd["http"], 1))
                add(results, "skerry", "http_1k_req_per_s_c8", wrk(vm.fwd["http"], 8))
                add(results, "skerry", "http_1MiB_download_MiB_per_s", download_rate(vm.fwd["http"]))
            elif app == "iperf":
                first_wait(vm.fwd["iperf3"])
                add(results, "skerry", "iperf3_tcp_Mbit_s", iperf3(vm.fwd["iperf3"]))
                add(results, "skerry", "iperf3_tcp_reverse_Mbit_s", iperf3(vm.fwd["iperf3"], reverse=True))
                add(results, "skerry", "iperf2_tcp_Mbit_s", iperf2(vm.fwd["iperf2"]))
        finally:
            vm.stop()
    results["skerry"].setdefault("image_bytes", {})[app] = os.path.getsize(kernel)


def first_wait(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
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


def run_linux(guest_dir, runs, results):
    kernel, initrd = os.path.join(guest_dir, "vmlinuz"), os.path.join(guest_dir, "initrd.img")
    for _ in range(runs):
        vm = Vm("linux", kernel, initrd)
        try:
            add(results, "linux", "boot_to_echo_s", first_echo(vm.fwd["echo"], vm.t0))
            add(results, "linux", "boot_to_http_s", first_http(vm.fwd["http"], vm.t0))
            add(results, "linux", "echo_round_trips_per_s", echo_round_trips(vm.fwd["echo"]))
            add(results, "linux", "echo_MiB_per_s", echo_rate(vm.fwd["echo"]))
            add(results, "linux", "http_1k_req_per_s_c1", wrk(vm.fwd["http"], 1))
            add(results, "linux", "http_1k_req_per_s_c8", wrk(vm.fwd["http"], 8))
            add(results, "linux", "http_1MiB_download_MiB_per_s", download_rate(vm.fwd["http"]))
            add(results, "linux", "iperf3_tcp_Mbit_s", iperf3(vm.fwd["iperf3"]))
            add(results, "linux", "iperf3_tcp_reverse_Mbit_s", iperf3(vm.fwd["iperf3"], reverse=True))
            add(results, "linux", "iperf2_tcp_Mbit_s", iperf2(vm.fwd["iperf2"]))
        finally:
            vm.stop()
    results["linux"].setdefault("image_bytes", {})["linux"] = os.path.getsize(kernel) + os.path.getsize(initrd)


def min_memory(kind, sizes, start, probe):
    """Smallest -m (MiB) from `sizes` (descending) at which the guest still answers."""
    best = None
    for mib in sizes:
        vm = start(mib)
        try:
            ok = probe(vm) is not None
        finally:
            vm.stop()
        if not ok:
            break
        best = mib
    return best


def add(results, who, key, value):
    results[who].setdefault("samples", {}).setdefault(key, []).append(value)


# ---------------------------------------------------------------------------------------------- report
HIGHER_BETTER = {"echo_round_trips_per_s", "echo_MiB_per_s", "http_1k_req_per_s_c1", "http_1k_req_per_s_c8",
                 "http_1MiB_download_MiB_per_s", "iperf3_tcp_Mbit_s", "iperf3_tcp_reverse_Mbit_s",
                 "iperf2_tcp_Mbit_s"}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def report(results):
    keys = sorted(set(results["skerry"].get("samples", {})) | set(results["linux"].get("samples", {})))
    rows = []
    for k in keys:
        s = median(results["skerry"].get("samples", {}).get(k, []))
        lx = median(results["linux"].get("samples", {}).get(k, []))
        ratio = None
        if s and lx:
            ratio = s / lx if k in HIGHER_BETTER else lx / s
        rows.append((k, s, lx, ratio))
    results["table"] = [{"metric": k, "skerry": s, "linux": lx, "advantage": r} for k, s, lx, r in rows]
    fmt = lambda v: "-" if v is None else (f"{v:.3g}" if v < 100 else f"{v:.0f}")  # noqa: E731
    print(f"\n{'metric':34} {'Skerry':>10} {'Linux':>10} {'Skerry advantage':>17}")
    for k, s, lx, r in rows:
        print(f"{k:34} {fmt(s):>10} {fmt(lx):>10} {('-' if r is None else f'{r:.2f}x'):>17}")
    for app, size in results["skerry"].get("image_bytes", {}).items():
        print(f"{'image size ' + app:34} {size / 1024:9.0f}K")
    if results.get("min_memory_mib"):
        for who, v in results["min_memory_mib"].items():
            print(f"{'smallest -m serving (' + who + ')':34} {('-' if v is None else f'{v}M'):>10}")
    if results["missing"]:
        print(f"not built yet, so not measured: {', '.join(results['missing'])}")


def chart(results):
    if not shutil.which("gnuplot"):
        print("bench: gnuplot missing (make setup installs gnuplot-nox); no chart")
        return
    data = os.path.join(OUT, "chart.dat")
    with open(data, "w") as f:
        for row in results["table"]:
            if row["advantage"]:
                f.write(f'"{row["metric"]}" {row["advantage"]:.3f}\n')
    script = f"""set terminal pngcairo size 1000,500 noenhanced
set output '{os.path.join(OUT, "chart.png")}'
set title 'Skerry vs Linux guest, same QEMU (TCG, e1000): advantage (x), higher is better'
set style fill solid
set boxwidth 0.6
set xtics rotate by -30
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2
plot '{data}' using 2:xtic(1) with boxes notitle
"""
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print(f"bench: gnuplot failed: {r.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    ap.add_argument("--linux", default=os.path.join(ROOT, "build", "linux-guest"))
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{os.cpu_count()} CPUs, QEMU TCG, " + subprocess.run(
                   ["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
               "runs": args.runs, "skerry": {}, "linux": {}, "missing": []}
    for app in ("echo", "http", "iperf"):
        print(f"bench: Skerry {app} ({args.runs} runs)", flush=True)
        run_skerry(app, args.runs, results)
    print(f"bench: Linux guest ({args.runs} runs)", flush=True)
    run_linux(args.linux, args.runs, results)
    if not args.skip_memory:
        print("bench: smallest memory that still serves", flush=True)
        app = "http" if "http" not in results["missing"] else "echo"
        kernel = os.path.join(ROOT, "build", "appliances", f"{app}.elf")
        probe = (lambda vm: first_http(vm.fwd["http"], vm.t0, 40)) if app == "http" else \
            (lambda vm: first_echo(vm.fwd["echo"], vm.t0, 40))
        results["min_memory_mib"] = {
            f"skerry {app}": min_memory("skerry", [64, 32, 16, 12, 8, 6, 4],
                                        lambda m: Vm(f"mem-{app}", kernel, mem=f"{m}M"), probe),
            "linux": min_memory("linux", [256, 128, 96, 64, 48],
                                lambda m: Vm("mem-linux", os.path.join(args.linux, "vmlinuz"),
                                             os.path.join(args.linux, "initrd.img"), mem=f"{m}M"),
                                lambda vm: first_echo(vm.fwd["echo"], vm.t0, 90)),
        }
    report(results)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    chart(results)
    print(f"bench: {os.path.join(OUT, 'results.json')}, {os.path.join(OUT, 'chart.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
