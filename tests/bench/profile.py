#!/usr/bin/env python3
"""`make profile`: where a Skerry appliance's CPU time goes under a load, by sampling the guest's instruction
pointer through QEMU's monitor (HMP `info registers` over QMP) while a stock client runs, and folding the samples
onto the kernel's symbols (nm of the debug image). Halted samples (the CPU in `hlt`) count as idle.

    python3 tests/bench/profile.py --app iperf --load "iperf3 -c {host} -p {port} -t 8"          # slirp
    python3 tests/bench/profile.py --app iperf --tap --load "iperf3 -c {host} -p {port} -t 8 -R"  # tap

Each sample stops the vCPU for a moment, so the load runs a little slower than unobserved; the shares, not the
absolute rate, are the result. Not a test."""
import argparse
import bisect
import collections
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import bench  # noqa: E402

PORTS = {"iperf": 5201, "http": 80, "echo": 7}


def symbols(elf):
    out = subprocess.run(["nm", "-C", "--defined-only", "-n", elf], capture_output=True, text=True).stdout
    addrs, names = [], []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1].lower() in ("t", "w"):
            addrs.append(int(parts[0], 16))
            names.append(parts[2])
    return addrs, names


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.s.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile("rw")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "return" in r or "error" in r:
                return r.get("return")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="iperf", choices=sorted(PORTS))
    ap.add_argument("--load", required=True, help="the client command; {host} and {port} are filled in")
    ap.add_argument("--tap", action="store_true", help="e1000 on a tap device in a namespace instead of slirp")
    ap.add_argument("--cpu", default="qemu64")
    ap.add_argument("--hz", type=float, default=200)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--callers", default="", help="comma-separated symbol substrings whose callers to sample "
                    "(frameless leaves such as memcpy: the word at the stack pointer)")
    args = ap.parse_args()
    kernel = os.path.join(ROOT, "build", "appliances", f"{args.app}.elf")
    addrs, names = symbols(os.path.join(ROOT, "build", "appliances", f"{args.app}.debug.elf"))
    os.makedirs(bench.OUT, exist_ok=True)
    tap = None
    if args.tap:
        tap, bench.HOST[0] = bench.TapNet(), bench.TAP_GUEST
    qdir = tempfile.mkdtemp(prefix="skerry-prof-")
    qmp_path = os.path.join(qdir, "qmp.sock")
    vm = None
    try:
        bench.CPU[0] = args.cpu
        vm = bench.Vm(f"profile-{args.app}", kernel, nic="e1000_tap" if args.tap else "e1000",
                      extra=["-qmp", f"unix:{qmp_path},server=on,wait=off"])
        if not vm.wait_log(r"ready on", 60):
            sys.exit("profile: the appliance did not get ready")
        port = vm.fwd["iperf3" if args.app == "iperf" else args.app]
        if args.app == "iperf":
            bench.first_wait(port, 30, vm.alive)
        q = Qmp(qmp_path)
        load = subprocess.Popen(shlex.split(args.load.format(host=bench.HOST[0], port=port)),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        samples = collections.Counter()
        callers = collections.Counter()
        halted = total = 0
        period = 1 / args.hz
        time.sleep(0.5)  # past the connection set-up
        while load.poll() is None:
            t = time.monotonic()
            regs = q.cmd("human-monitor-command", **{"command-line": "info registers"}) or ""
            m = re.search(r"RIP=([0-9a-f]+)", regs)
            if m:
                total += 1
                if " HLT=1" in regs:
                    halted += 1
                else:
                    rip = int(m.group(1), 16)
                    i = bisect.bisect_right(addrs, rip) - 1
                    name = names[i] if i >= 0 else hex(rip)
                    samples[name] += 1
                    if args.callers and any(c in name for c in args.callers.split(",")):
                        # A leaf without a frame (newlib's memcpy): the return address is at the stack pointer.
                        sp = re.search(r"RSP=([0-9a-f]+)", regs)
                        mem = q.cmd("human-monitor-command", **{"command-line": f"x /1gx 0x{sp.group(1)}"}) or ""
                        v = re.search(r":\s+0x([0-9a-f]+)", mem)
                        if v:
                            j = bisect.bisect_right(addrs, int(v.group(1), 16)) - 1
                            callers[f"{name} <- {names[j] if j >= 0 else v.group(1)}"] += 1
            time.sleep(max(0.0, period - (time.monotonic() - t)))
        out = load.stdout.read()
        print("\n".join(out.strip().splitlines()[-6:]))
        busy = total - halted
        print(f"\nprofile: {total} samples, {halted} halted ({100 * halted / max(total, 1):.0f}% idle), {busy} busy")
        for name, n in samples.most_common(args.top):
            print(f"{100 * n / max(busy, 1):6.1f}%  {n:6}  {name}")
        for name, n in callers.most_common(args.top):
            print(f"  caller {n:6}  {name}")
    finally:
        if vm:
            vm.stop()
        if tap:
            tap.close()


if __name__ == "__main__":
    main()
