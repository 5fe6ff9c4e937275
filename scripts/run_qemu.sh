#!/bin/sh
# Boot an appliance kernel in QEMU on the serial console: run_qemu.sh <kernel.elf> [cmdline] [memory] [accel]
# accel: tcg (default; works everywhere) or kvm (when /dev/kvm is usable on this host).
set -eu
kernel=$1; cmdline=${2:-}; mem=${3:-128M}; accel=${4:-tcg}
app=$(basename "$kernel" .elf)
cpu=max  # RDRAND (getentropy, TLS keys) and XSAVE/AVX under TCG
[ "$accel" = kvm ] && cpu=host
echo "Booting $app in QEMU ($accel, $mem RAM, e1000 NIC on user networking)."
echo "The appliance's log follows on the serial console; it ends with how to reach its service."
echo "Quit with Ctrl-A then X."
exec qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -m "$mem" -nographic -no-reboot \
    -netdev user,id=n0 -device e1000,netdev=n0 \
    -device isa-debug-exit,iobase=0xf4,iosize=4 \
    -kernel "$kernel" -append "$cmdline"
