#!/usr/bin/env python3
"""The hello appliance on QEMU's microvm machine (TCG), booted by PVH: the Firecracker-like platform.

  microvm-acpi-off  -M microvm,acpi=off: interrupt controllers from qboot's MP table, the TSC measured against
                    the PIT, power-off by i8042 reset then triple fault (QEMU runs with -no-reboot, so it exits)
  microvm-acpi      -M microvm (hardware-reduced ACPI, no PM timer or HPET): the MADT, the PIT, power-off through
                    the FADT's sleep control register
  microvm-rtc-off   -M microvm,rtc=off: no CMOS RTC, said so, no date made up

Each checks the clock source line against a q35 boot of the same kernel on this machine (its TSC measured against
the ACPI PM timer; TCG's TSC is the host's), times the hello appliance's 64 ms clock self-check on the host, and
times poweroff_after=4000 from the first log line to QEMU's exit. The guests power off by themselves (no
debug_exit= on their command line), so QEMU's exit status is 0."""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from qemu_harness import Failure, Guest, Runner, expect, expect_exit, pvh_copy  # noqa: E402

BOOT_TIMEOUT = 60
TSC_MARGIN = 0.10  # TCG: the PIT and PM timer follow the host clock, the TSC the host's TSC; allow 10%
reference = {}


def timed_lines(g, patterns, timeout):
    """Polls the serial log every 2 ms; returns {pattern: (host time first seen, match)} for every pattern, or
    raises when one is missing at the deadline. Also records QEMU's exit time under the key 'exit'."""
    seen = {}
    deadline = time.monotonic() + timeout
    rx = {p: re.compile(p, re.M) for p in patterns}
    while True:
        now = time.monotonic()
        log = g.log()
        for p, r in rx.items():
            if p not in seen:
                m = r.search(log)
                if m:
                    seen[p] = (now, m)
        if "exit" not in seen and g.proc.poll() is not None:
            seen["exit"] = (now, None)
        if len(seen) == len(patterns) + 1 or now > deadline:
            break
        if g.proc.poll() is not None and len(seen) < len(patterns) + 1:
            # exited: one last look at the log, then stop
            log = g.log()
            for p, r in rx.items():
                if p not in seen and r.search(log):
                    seen[p] = (now, r.search(log))
            break
        time.sleep(0.002)
    missing = [p for p in patterns if p not in seen]
    if missing:
        tail = "\n    ".join(g.log().splitlines()[-25:])
        raise Failure(f"{g.name}: not seen within {timeout}s: {missing}; last lines:\n    {tail}")
    return seen


def tsc_mhz(g, what):
    m = expect(g, r"time: TSC (\d+)\.(\d+) MHz \(([^\n]*)\), one-shot", what=what)
    return int(m.group(1)) + int(m.group(2)) / 1000.0, m.group(3)


def test_reference(kernel):
    def run(workdir):
        g = Guest(["-machine", "q35", "-kernel", kernel, "-append", "debug_exit=0xf4 poweroff_after=200"],
                  "microvm-reference-q35", workdir)
        try:
            mhz, source = tsc_mhz(g, "the q35 boot's TSC line")
            if "PM timer" not in source:
                raise Failure(f"q35's TSC should be measured against the ACPI PM timer, got: {source}")
            reference["mhz"] = mhz
            expect_exit(g, 1, BOOT_TIMEOUT)
        finally:
            g.kill()
    return run


def check_clock_and_poweroff(g, start, power_patterns):
    banner = r"Skerry \S+ \(hello\)"
    arm = r"clock: self-check: arming a 64 ms timer"
    fired = r"clock: self-check: the 64 ms timer fired after (\d+)\.(\d+) ms by the clock .*: (ok|OUT OF RANGE)"
    reached = r"poweroff_after: 4000 ms reached"
    seen = timed_lines(g, [banner, arm, fired] + power_patterns + [reached], BOOT_TIMEOUT)
    if seen[fired][1].group(3) != "ok":
        raise Failure(f"{g.name}: the guest says its 64 ms self-check is out of range: {seen[fired][1].group(0)}")
    real = seen[fired][0] - seen[arm][0]
    if not 0.03 <= real <= 1.0:
        raise Failure(f"{g.name}: the 64 ms self-check took {real:.3f} s of real time")
    # poweroff_after counts from the kernel's timer arming, a few tens of ms after the banner.
    power = seen["exit"][0] - seen[banner][0]
    if not 3.5 <= power <= 6.5:
        raise Failure(f"{g.name}: poweroff_after=4000 powered off {power:.2f} s after the first log line")
    print(f"  {g.name}: 64 ms self-check {real * 1000:.0f} ms real, power-off {power:.2f} s after the banner "
          f"({time.monotonic() - start:.1f} s since QEMU started)", flush=True)


def check_tsc(g):
    mhz, source = tsc_mhz(g, "the TSC line")
    if "measured against the PIT (channel 0" not in source:
        raise Failure(f"{g.name}: the TSC should be measured against the PIT, got: {source}")
    ref = reference.get("mhz")
    if ref is None:
        raise Failure("no q35 reference TSC frequency (the reference boot failed)")
    if abs(mhz - ref) > ref * TSC_MARGIN:
        raise Failure(f"{g.name}: TSC {mhz:.3f} MHz, q35 reference {ref:.3f} MHz: more than {TSC_MARGIN:.0%} apart")


def microvm(kernel, workdir, machine, name):
    return Guest(["-machine", machine, "-kernel", pvh_copy(kernel, workdir), "-append", "poweroff_after=4000",
                  "-global", "virtio-mmio.force-legacy=false"], name, workdir)


def test_acpi_off(kernel):
    def run(workdir):
        start = time.monotonic()
        g = microvm(kernel, workdir, "microvm,acpi=off", "microvm-acpi-off")
        try:
            check_clock_and_poweroff(g, start, [r"power: trying the i8042 reset", r"power: still running; triple fault"])
            expect(g, r"boot: PVH", what="PVH boot")
            expect(g, r"acpi: no RSDP found \(no ACPI\)", what="no ACPI")
            expect(g, r"mptable: MP 1\.4 floating pointer at 0x9fc00, table at 0x[0-9a-f]+ OEM 'QBOOT'.* 1 CPU, "
                      r"I/O APIC id \d+ at 0xfec00000", what="qboot's MP table")
            expect(g, r"apic: interrupt controllers from the MP table", what="the interrupt controllers' source")
            expect(g, r"apic: xAPIC, local APIC id 0, 1 I/O APIC\(s\) with 24 GSIs", what="one I/O APIC, 24 GSIs")
            expect(g, r"time: wall clock 20\d\d-\d\d-\d\d", what="the wall clock from the CMOS RTC")
            check_tsc(g)
            expect_exit(g, 0, BOOT_TIMEOUT)
        finally:
            g.kill()
    return run


def test_acpi(kernel):
    def run(workdir):
        start = time.monotonic()
        g = microvm(kernel, workdir, "microvm", "microvm-acpi")
        try:
            check_clock_and_poweroff(g, start, [r"power: ACPI S5 \(SLP_TYP 5\) through the sleep control register"])
            expect(g, r"acpi: .*no PM timer, no HPET.*hardware-reduced, sleep control at 0x[0-9a-f]+",
                   what="microvm's hardware-reduced ACPI")
            expect(g, r"apic: interrupt controllers from the ACPI MADT", what="the interrupt controllers' source")
            expect(g, r"time: wall clock 20\d\d-\d\d-\d\d", what="the wall clock from the CMOS RTC")
            check_tsc(g)
            if "power: trying the i8042" in g.log():
                raise Failure("ACPI power-off did not work: the i8042 fallback ran")
            expect_exit(g, 0, BOOT_TIMEOUT)
        finally:
            g.kill()
    return run


def test_rtc_off(kernel):
    def run(workdir):
        start = time.monotonic()
        g = microvm(kernel, workdir, "microvm,rtc=off", "microvm-rtc-off")
        try:
            check_clock_and_poweroff(g, start, [r"power: ACPI S5"])
            expect(g, r"time: no CMOS RTC: wall clock starts at the epoch", what="no CMOS RTC, said so")
            if re.search(r"time: wall clock \d", g.log()):
                raise Failure("a wall-clock date was printed without an RTC")
            expect(g, r"hello: libc: .*date 1970-01-01T00:00:\d\dZ", what="libc's date at the epoch")
            check_tsc(g)
            expect_exit(g, 0, BOOT_TIMEOUT)
        finally:
            g.kill()
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--logs", default="build/test-logs/microvm")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = ap.parse_args()
    if args.only:
        os.environ["QEMU_K"] = args.only
    r = Runner(args.logs)
    r.run("microvm-reference-q35", test_reference(args.kernel), always=True)
    r.run("microvm-acpi-off", test_acpi_off(args.kernel))
    r.run("microvm-acpi", test_acpi(args.kernel))
    r.run("microvm-rtc-off", test_rtc_off(args.kernel))
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
