#!/usr/bin/env python3
"""Boot the hello appliance through every entry protocol under QEMU (TCG) and check its serial log.

  Multiboot1 (QEMU -kernel), PVH (QEMU -kernel with the Multiboot1 header disabled in a copy),
  GRUB ISO in BIOS mode and in UEFI mode (OVMF) via Multiboot2, the deliberate-fault dumps,
  and a malformed command line.
Exits through isa-debug-exit: status = (code << 1) | 1, so a clean poweroff(0) is 1 and the
fatal stop (0x7E) is 253."""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from qemu_harness import Failure, Guest, Runner, expect, expect_exit, pvh_copy  # noqa: E402

CLEAN_EXIT = 1
FATAL_EXIT = (0x7E << 1) | 1
BOOT_TIMEOUT = 90


def check_common_boot(g, protocol, mem_mib, cmdline_marker=None):
    expect(g, r"Skerry \S+ \(hello\)", what="version banner")
    expect(g, rf"boot: {protocol}", what=f"boot protocol {protocol}")
    m = expect(g, r"memory: (\d+) MiB usable", what="memory size")
    usable = int(m.group(1))
    if not (mem_mib * 0.6 <= usable <= mem_mib):
        raise Failure(f"usable memory {usable} MiB is implausible for -m {mem_mib}M")
    expect(g, r"hypervisor: \S+", what="hypervisor line")
    # One line per device with the driver that took it (the PCI bus matched it to a registered ID table), or none.
    expect(g, r"pci 00:00\.0 8086:\S+ class 06\.00 Host bridge: no driver\n",
           what="the PCI host bridge in the device list, taken by no driver")
    expect(g, r"pci 00:0\d\.0 8086:100e class 02\.00 Ethernet controller: e1000 \(82540EM\)\n",
           what="the e1000 NIC in the device list, taken by the e1000 driver")
    expect(g, r"devices: \d+ found, [1-9]\d* taken by a driver, [1-9]\d* NIC\(s\) for the network stack",
           what="the device registry's summary with the NIC handed to the network stack")
    if cmdline_marker:
        expect(g, rf"cmdline: .*{re.escape(cmdline_marker)}", what="command line echoed")


def check_no_hyperv_path(g):
    """Outside Hyper-V the Hyper-V bring-up (quiesce, reference clock, VMBus) must not run or log anything."""
    lines = [l for l in g.log().splitlines() if re.search(r"\b(hyperv|vmbus): ", l)]
    if lines:
        raise Failure(f"{g.name}: the Hyper-V path ran outside Hyper-V:\n    " + "\n    ".join(lines))


def test_multiboot1(kernel):
    def run(workdir):
        g = Guest(["-kernel", kernel, "-append", "debug_exit=0xf4 poweroff_after=300 marker=mb1",
                   "-device", "e1000"], "multiboot1", workdir)
        try:
            check_common_boot(g, "Multiboot1", 128, "marker=mb1")
            expect(g, r"pci 00:01\.0 8086:7000 class 06\.01 ISA bridge: no driver\n",
                   what="i440fx's ISA bridge, taken by no driver")
            expect(g, r"timer: event loop woke after \d+ ms", what="a timer firing from the idle loop")
            expect(g, r"irq: 00:0\d\.0 8086:100e interrupt delivered via INTx, I/O APIC GSI \d+",
                   what="a device interrupt through the I/O APIC")
            expect(g, r"time: wall clock 20\d\d-\d\d-\d\d", what="the wall clock from the CMOS RTC")
            expect(g, r"hello: libc: malloc\+free 4 MiB ok, monotonic clock ok .*date 20\d\d-.*getentropy "
                      r"Function not implemented", what="newlib: heap, clocks, and getentropy's error without RDRAND")
            expect(g, r"exit\(0\): powering off", what="exit() powering off")
            expect_exit(g, CLEAN_EXIT, BOOT_TIMEOUT)
            check_no_hyperv_path(g)
        finally:
            g.kill()
    return run


def test_pvh(kernel):
    def run(workdir):
        # q35: PCI Express, so configuration access goes through ECAM found in the ACPI MCFG table.
        # -cpu max: XSAVE with AVX state and RDRAND, which qemu64 (the other tests) lacks.
        g = Guest(["-machine", "q35", "-cpu", "max", "-kernel", pvh_copy(kernel, workdir),
                   "-append", "debug_exit=0xf4 poweroff_after=300 marker=pvh", "-device", "e1000"],
                  "pvh", workdir, mem="256M")
        try:
            check_common_boot(g, "PVH", 256, "marker=pvh")
            expect(g, r"acpi: RSDP", what="ACPI RSDP from the PVH start info")
            expect(g, r"pci: \d+ devices \(configuration access: ECAM\)", what="ECAM from the MCFG table on q35")
            expect(g, r"pci 00:0\d\.0 8086:10d3 class 02\.00 Ethernet controller: e1000 \(82574L\)\n",
                   what="q35's e1000e, taken by the e1000 driver")
            expect(g, r"irq: 00:0\d\.0 8086:10d3 interrupt delivered via MSI", what="an MSI from q35's e1000e")
            expect(g, r"cpu: state saving XSAVE \(\d+ bytes\), RDRAND available", what="XSAVE/AVX state and RDRAND")
            expect(g, r"hello: libc: .*getentropy ok \(RDRAND\)", what="getentropy from RDRAND")
            expect_exit(g, CLEAN_EXIT, BOOT_TIMEOUT)
        finally:
            g.kill()
    return run


def test_grub_bios(iso):
    def run(workdir):
        g = Guest(["-cdrom", iso, "-device", "e1000"], "grub-bios", workdir)
        try:
            check_common_boot(g, "Multiboot2", 128)
            expect(g, r"boot: .*loader 'GRUB", what="GRUB as the loader name")
            expect(g, r"console: VGA text", what="the VGA text console on a BIOS boot")
            expect_exit(g, CLEAN_EXIT, BOOT_TIMEOUT)
        finally:
            g.kill()
    return run


def test_grub_uefi(iso):
    def run(workdir):
        g = Guest(["-cdrom", iso, "-device", "e1000"], "grub-uefi", workdir, uefi=True, mem="256M")
        try:
            check_common_boot(g, "Multiboot2", 256)
            expect(g, r"console: framebuffer \d+x\d+", what="the framebuffer console on a UEFI boot")
            expect(g, r"acpi: RSDP", what="ACPI RSDP from GRUB's tag")
            expect_exit(g, CLEAN_EXIT, BOOT_TIMEOUT)
            check_no_hyperv_path(g)
        finally:
            g.kill()
    return run


def test_fault(kernel, kind, patterns):
    def run(workdir):
        g = Guest(["-kernel", kernel, "-append", f"debug_exit=0xf4 fault={kind}"], f"fault-{kind}", workdir)
        try:
            for p, what in patterns:
                expect(g, p, what=what)
            expect_exit(g, FATAL_EXIT, BOOT_TIMEOUT)
        finally:
            g.kill()
    return run


def test_bad_cmdline(kernel):
    def run(workdir):
        g = Guest(["-kernel", kernel, "-append",
                   'debug_exit=0xf4 poweroff_after=100 loglevel=banana nosuchoption=1 "unterminated'],
                  "bad-cmdline", workdir)
        try:
            expect(g, r"cmdline: .*'loglevel'.*default", what="an error naming loglevel and its default")
            expect(g, r"cmdline: .*nosuchoption", what="an error naming the unknown option")
            expect(g, r"pci 00:00\.0", what="boot continuing after command-line errors")
            expect_exit(g, CLEAN_EXIT, BOOT_TIMEOUT)
        finally:
            g.kill()
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--iso", required=True)
    ap.add_argument("--logs", default="build/test-logs/boot")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = ap.parse_args()
    r = Runner(args.logs)
    sym = r"<[^>]*\+0x[0-9a-f]+>"
    tests = [
        ("boot-multiboot1", test_multiboot1(args.kernel)),
        ("boot-pvh", test_pvh(args.kernel)),
        ("boot-grub-bios", test_grub_bios(args.iso)),
        ("boot-grub-uefi", test_grub_uefi(args.iso)),
        ("fault-pagefault", test_fault(args.kernel, "pagefault", [
            (r"KERNEL EXCEPTION: page fault \(#PF\)", "the page-fault dump"),
            (r"Page fault at 0x0000000000000", "CR2 near zero"),
            (r"RIP 0x[0-9a-f]+ " + sym, "RIP with a symbol name"),
            (r"CR2=0x", "control registers"),
            (r"Backtrace:\n(  0x[0-9a-f]+ " + sym + r"\n){2,}", "a symbolised backtrace of 2+ frames")])),
        ("fault-stack-overflow", test_fault(args.kernel, "stackoverflow", [
            (r"guard page below the boot stack: stack overflow", "the guard page catching the overflow"),
            (r"Backtrace:", "a backtrace")])),
        ("fault-invalid-opcode", test_fault(args.kernel, "ud", [
            (r"KERNEL EXCEPTION: invalid opcode \(#UD\)", "the #UD dump")])),
        ("fault-double-fault", test_fault(args.kernel, "doublefault", [
            (r"KERNEL EXCEPTION: double fault \(#DF\)", "the #DF dump"),
            (r"Handler on the double-fault stack", "the double fault handled on its own stack")])),
        ("cmdline-malformed", test_bad_cmdline(args.kernel)),
    ]
    for name, fn in tests:
        if args.only and args.only not in name:
            continue
        r.run(name, fn)
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
