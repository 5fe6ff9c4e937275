#!/usr/bin/env bash
# Builds the Linux guest the benchmark compares Skerry with: Debian's own kernel package and a small
# busybox initramfs running the same services on the same ports (busybox httpd :80, iperf -s :5001,
# iperf3 -s :5201, a TCP/UDP echo on :7 via socat). Everything comes from Debian packages at bench time;
# nothing is committed. Output: <out>/vmlinuz and <out>/initrd.img (gzip cpio).
#   linux_guest.sh <outdir>
set -euo pipefail
out=${1:?usage: linux_guest.sh <outdir>}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work="$out/work"
rm -rf "$work"
mkdir -p "$work/debs" "$work/root"

fail() { echo "linux-guest: $1" >&2; exit 1; }
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || fail "cannot resolve linux-image-amd64 (apt lists missing? run make setup)"
for b in socat iperf iperf3; do command -v "$b" >/dev/null || fail "$b is not installed (run make setup)"; done

stamp="$out/.built-$kpkg-$(sha256sum "$0" | cut -c1-12)"
if [ -e "$stamp" ] && [ -e "$out/vmlinuz" ] && [ -e "$out/initrd.img" ]; then exit 0; fi

echo "linux-guest: fetching $kpkg and busybox-static"
(cd "$work/debs" && apt-get download -q "$kpkg" busybox-static >/dev/null 2>"$work/apt.log") ||
  { cat "$work/apt.log" >&2; fail "apt-get download failed"; }
dpkg-deb -x "$work"/debs/linux-image-*.deb "$work/kernel"
dpkg-deb -x "$work"/debs/busybox-static_*.deb "$work/bb"
kver=$(ls "$work/kernel/lib/modules")
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"

r="$work/root"
mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,tmp,www,lib,lib64,usr/lib,modules}
cp "$work/bb/bin/busybox" "$r/bin/busybox"
for a in sh mount insmod ip udhcpc httpd sleep cat echo ifconfig route poweroff mkdir; do ln -sf busybox "$r/bin/$a"; done
# NIC drivers the bench may use (modules, loaded in order).
for m in drivers/net/ethernet/intel/e1000/e1000.ko; do
  cp "$work/kernel/lib/modules/$kver/kernel/$m" "$r/modules/"
done
# vsock (the vsock tests; harmless without a vsock device): virtio transports and the vsock stack, in load
# order (virtio_ring before virtio, which uses it) in their own directory; a failed insmod (a module already
# loaded) is ignored.
vsock_modules="drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_pci_legacy_dev.ko
  drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci.ko drivers/virtio/virtio_mmio.ko
  net/vmw_vsock/vsock.ko net/vmw_vsock/vmw_vsock_virtio_transport_common.ko net/vmw_vsock/vmw_vsock_virtio_transport.ko"
mkdir -p "$r/modules/vsock"
n=10
for m in $vsock_modules; do
  f="$work/kernel/lib/modules/$kver/kernel/$m"
  [ -e "$f" ] && cp "$f" "$r/modules/vsock/$n-$(basename "$m")"
  n=$((n + 1))
done
# Dynamic tools from this Debian system, with their libraries.
for b in socat iperf iperf3; do
  src=$(command -v "$b")
  cp "$src" "$r/bin/$b"
  ldd "$src" | awk '/=> \// {print $3} /^\t\/lib64/ {print $1}' | while read -r lib; do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
done
head -c 1024 /dev/zero | tr '\0' 'x' > "$r/www/1k.html"
head -c $((1024 * 1024)) /dev/urandom > "$r/www/1m.bin"
echo '<html><body>Linux guest</body></html>' > "$r/www/index.html"
cat > "$r/udhcpc.sh" <<'SH'
#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "$router"
exit 0
SH
chmod +x "$r/udhcpc.sh"
cat > "$r/init" <<'SH'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in /modules/*.ko; do insmod "$m"; done
# vsock services (before the NIC's DHCP, which may wait): echo on port 7, a source of zeros on port 8 (the
# backpressure tests), and port 9 relays each connection to the host's port 5000 (a guest-initiated connection
# on the host's demand). -t 60: socat waits that long (not 0.5 s) for the data still in flight after an EOF.
# insmod does not read module options from the kernel command line (modprobe would): pass virtio_mmio's
# device= options (QEMU's microvm and Firecracker put the MMIO devices there) by hand.
mmio=$(for w in $(cat /proc/cmdline); do case "$w" in virtio_mmio.device=*) echo "${w#virtio_mmio.}";; esac; done)
for m in /modules/vsock/*.ko; do
  case "$m" in *virtio_mmio.ko) insmod "$m" $mmio 2>/dev/null;; *) insmod "$m" 2>/dev/null;; esac
done
socat -t 60 VSOCK-LISTEN:7,fork,backlog=128 EXEC:/bin/cat 2>/dev/null &
socat VSOCK-LISTEN:8,fork,backlog=128 EXEC:"/bin/cat /dev/zero" 2>/dev/null &
socat -t 60 VSOCK-LISTEN:9,fork,backlog=128 VSOCK-CONNECT:2:5000 2>/dev/null &
[ -e /dev/vsock ] && echo "linux-guest: vsock ready" > /dev/console
ip link set lo up
ip link set eth0 up
udhcpc -q -n -t 10 -i eth0 -s /udhcpc.sh >/dev/null 2>&1 || ip addr add 10.0.2.15/24 dev eth0
httpd -p 80 -h /www
iperf -s -D >/dev/null 2>&1
iperf3 -s -D >/dev/null 2>&1
socat TCP-LISTEN:7,fork,reuseaddr EXEC:/bin/cat &
socat UDP-RECVFROM:7,fork EXEC:/bin/cat &
echo "linux-guest: ready on $(ip -4 -o addr show eth0 | awk '{print $4}')" > /dev/console
while true; do sleep 3600; done
SH
chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img"
rm -rf "$work"
touch "$stamp"
echo "linux-guest: $kpkg ($kver) kernel and initramfs in $out"
