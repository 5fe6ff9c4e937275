#!/usr/bin/env python3
"""`make bench-ab BASE=<rev>`: this tree's appliances against those of another revision, interleaved.

A change that must not slow anything down (say a driver restructuring) is judged by Skerry against Skerry: the
two builds take turns, round by round (BENCH_ROUNDS, default 4), so slow drift of the machine (other guests on
the host, thermal limits) hits both alike, which two `make bench` runs minutes apart do not guarantee. Same
measurements as tests/bench/bench.py (same QEMU, TCG, e1000, user networking). Prints every run, the medians
and after/before, and writes build/bench/ab.json. Not a test: it reports."""
import importlib.util
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "bench.py"))
b = importlib.util.module_from_spec(spec)
spec.loader.exec_module(b)
b.OUT = os.path.join(ROOT, "build", "bench")
NIC = "e1000_tap" if os.environ.get("BENCH_AB_TAP") == "1" else "e1000"
os.makedirs(b.OUT, exist_ok=True)


def measure(root, add):
    k = lambda app: os.path.join(root, "build", "appliances", f"{app}.elf")
    vm = b.Vm("ab-iperf", k("iperf"), nic=NIC)
    try:
        b.first_wait(vm.fwd["iperf3"])
        add("iperf3_tcp_Mbit_s", b.iperf3(vm.fwd["iperf3"]))
        add("iperf3_tcp_reverse_Mbit_s", b.iperf3(vm.fwd["iperf3"], reverse=True))
        add("iperf2_tcp_Mbit_s", b.iperf2(vm.fwd["iperf2"]))
    finally:
        vm.stop()
    vm = b.Vm("ab-http", k("http"), nic=NIC)
    try:
        b.first_http(vm.fwd["http"], vm.t0)
        add("http_1k_req_per_s_c1", b.wrk(vm.fwd["http"], 1))
        add("http_1k_req_per_s_c8", b.wrk(vm.fwd["http"], 8))
        add("http_1MiB_download_MiB_per_s", b.download_rate(vm.fwd["http"]))
    finally:
        vm.stop()
    vm = b.Vm("ab-echo", k("echo"), nic=NIC)
    try:
        add("boot_to_echo_s", b.first_echo(vm.fwd["echo"], vm.t0))
        add("echo_round_trips_per_s", b.echo_round_trips(vm.fwd["echo"]))
        add("echo_MiB_per_s", b.echo_rate(vm.fwd["echo"]))
    finally:
        vm.stop()


def main():
    base = sys.argv[1]
    rounds = int(os.environ.get("BENCH_ROUNDS", "4"))
    trees = {"before": base, "after": ROOT}
    res = {t: {} for t in trees}
    tap = None
    if NIC == "e1000_tap":
        tap, b.HOST[0] = b.TapNet(), b.TAP_GUEST
    for r in range(rounds):
        for t, root in trees.items():
            print(f"bench-ab: round {r + 1}/{rounds}, {t}", flush=True)
            measure(root, lambda key, v, t=t: res[t].setdefault(key, []).append(v))
    if tap:
        tap.close()
    print(f"\n{'metric':30} {'before: runs':34} {'median':>8}  {'after: runs':34} {'median':>8}  after/before")
    for key in res["before"]:
        bb, aa = res["before"][key], res["after"][key]
        mb, ma = statistics.median(bb), statistics.median(aa)
        fmt = lambda xs: "[" + ", ".join(f"{x:.3g}" for x in xs) + "]"
        print(f"{key:30} {fmt(bb):34} {mb:8.4g}  {fmt(aa):34} {ma:8.4g}  {ma / mb:5.2f}")
    with open(os.path.join(b.OUT, "ab.json"), "w") as f:
        json.dump({"base": base, "rounds": rounds, "results": res}, f, indent=1)


if __name__ == "__main__":
    main()
