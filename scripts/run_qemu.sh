#!/bin/sh
# Boot an appliance kernel in QEMU on the serial console: run_qemu.sh <kernel.elf> [cmdline] [memory] [accel]
# accel: tcg (default; works everywhere) or kvm (when /dev/kvm is usable on this host).
# QEMU's user networking gives the guest 10.0.2.15 by DHCP; that address is not reachable from this
# machine, so the appliance's ports are forwarded to 127.0.0.1 (FWD_BASE + port, e.g. echo's 7 -> 10007).
set -eu
kernel=$1; cmdline=${2:-}; mem=${3:-128M}; accel=${4:-tcg}
app=$(basename "$kernel" .elf)
base=${FWD_BASE:-10000}
cpu=max  # RDRAND (getentropy, TLS keys) and XSAVE/AVX under TCG
[ "$accel" = kvm ] && cpu=host
case "$app" in
    echo)  tcp="7"; udp="7" ;;
    http)  tcp="80 443"; udp="" ;;
    iperf) tcp="5001 5201"; udp="5001 5201" ;;
    *)     tcp=""; udp="" ;;
esac
fwd=""
for p in $tcp; do fwd="$fwd,hostfwd=tcp:127.0.0.1:$((base + p))-:$p"; done
for p in $udp; do fwd="$fwd,hostfwd=udp:127.0.0.1:$((base + p))-:$p"; done
echo "Booting $app in QEMU ($accel, $mem RAM, e1000 NIC on QEMU user networking)."
case "$app" in
    echo)  echo "Reach it from this machine:  nc 127.0.0.1 $((base + 7))   or   socat - UDP:127.0.0.1:$((base + 7))" ;;
    http)  echo "Reach it from this machine:  curl http://127.0.0.1:$((base + 80))/" ;;
    iperf) echo "Reach it from this machine:  iperf3 -c 127.0.0.1 -p $((base + 5201))   or   iperf -c 127.0.0.1 -p $((base + 5001))" ;;
esac
[ -n "$fwd" ] && echo "(the guest's own address below is inside QEMU's user network; ports are forwarded to 127.0.0.1)"
echo "Quit with Ctrl-A then X."
exec qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -m "$mem" -nographic -no-reboot \
    -netdev "user,id=n0$fwd" -device e1000,netdev=n0 \
    -device isa-debug-exit,iobase=0xf4,iosize=4 \
    -kernel "$kernel" -append "$cmdline"
