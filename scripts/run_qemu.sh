#!/bin/sh
# Boot an appliance kernel in QEMU on the serial console: run_qemu.sh <kernel.elf> [cmdline] [memory]
set -eu
kernel=$1; cmdline=${2:-}; mem=${3:-128M}
accel=tcg
[ -w /dev/kvm ] && accel=kvm
echo "Booting $kernel in QEMU ($accel, $mem, e1000 NIC, user networking)."
echo "Serial console below. Quit with Ctrl-A then X."
exec qemu-system-x86_64 -accel $accel -m "$mem" -nographic -no-reboot \
    -netdev user,id=n0 -device e1000,netdev=n0 \
    -device isa-debug-exit,iobase=0xf4,iosize=4 \
    -kernel "$kernel" -append "$cmdline"
