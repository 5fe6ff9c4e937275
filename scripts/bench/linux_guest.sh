#!/usr/bin/env bash
# Builds the Linux guest the benchmark compares Skerry with: Debian's own kernel package and a small
# busybox initramfs running the same services on the same ports (busybox httpd :80, iperf -s :5001,
# iperf3 -s :5201, a TCP/UDP/vsock echo on :7: tests/bench/linux_echo.c). Everything comes from Debian packages at bench time;
# nothing is committed. Output: <out>/vmlinuz and <out>/initrd.img (gzip cpio).
# NICs: e1000, and virtio-net on PCI (virtio_pci) and on MMIO (virtio_mmio, QEMU's microvm and Firecracker):
# the modules and everything they depend on (each module's own "depends" list), loaded at boot in dependency
# order (what is built into the kernel, per modules.builtin, needs no module).
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

# The stamp names the kernel package and the recipe's contents (this script, the echo server's source): a changed
# recipe rebuilds the guest.
echo_src="$(cd "$(dirname "$0")/../.." && pwd)/tests/bench/linux_echo.c"
stamp="$out/.built-$kpkg-$(cat "$0" "$echo_src" | sha256sum | cut -c1-12)"
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
for a in sh mount insmod ip udhcpc httpd sleep cat echo ifconfig route poweroff mkdir readlink; do ln -sf busybox "$r/bin/$a"; done
# NIC drivers the bench may use, with their dependencies, in load order (modules/order). The package ships no
# modules.dep (depmod makes it at install time), so the dependencies come from each module's own .modinfo
# section ("depends=a,b", what `modinfo -F depends` prints); modules.builtin names what is built in.
mods="$work/kernel/lib/modules/$kver"
# vsock for the vsock tests (harmless without a vsock device): the stack and its virtio transport.
vsock_modules="vmw_vsock_virtio_transport"
python3 - "$mods" "$r/modules" e1000 virtio_net virtio_pci 'virtio_mmio?' $vsock_modules <<'PY' || fail "resolving NIC modules failed"
import lzma, os, struct, sys
root, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
name = lambda p: os.path.basename(p).split(".ko")[0].replace("-", "_")
paths = {}
for d, _, files in os.walk(os.path.join(root, "kernel")):
    for f in files:
        if ".ko" in f:
            paths[name(f)] = os.path.join(d, f)
builtin = set()
if os.path.exists(os.path.join(root, "modules.builtin")):
    builtin = {name(l.strip()) for l in open(os.path.join(root, "modules.builtin")) if l.strip()}

def load(path):
    if path.endswith((".zst", ".gz")):
        sys.exit(f"linux-guest: {path}: compressed in a form this script does not unpack")
    return lzma.open(path).read() if path.endswith(".xz") else open(path, "rb").read()

def depends(data):
    """The module's .modinfo section (ELF64 little-endian): NUL-separated key=value strings."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    sec = lambda i: struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    stroff = sec(shstrndx)[4]
    for i in range(shnum):
        nm, _, _, _, off, size = sec(i)
        if data[stroff + nm:data.index(b"\0", stroff + nm)] == b".modinfo":
            for kv in data[off:off + size].split(b"\0"):
                if kv.startswith(b"depends="):
                    return [d.replace("-", "_") for d in kv[8:].decode().split(",") if d]
            return []
    sys.exit("linux-guest: a module without a .modinfo section")

order, seen = [], set()
def visit(m, optional=False):
    if m in seen:
        return
    seen.add(m)
    if m not in paths:
        if m in builtin:
            print(f"linux-guest: {m}: built into the kernel")
        elif optional:
            print(f"linux-guest: {m}: not in this kernel (neither a module nor built in)")
        else:
            sys.exit(f"linux-guest: no module {m} in the package, and not built in")
        return
    data = load(paths[m])
    for d in depends(data):
        visit(d)
    open(os.path.join(dest, m + ".ko"), "wb").write(data)   # busybox insmod wants the plain object
    order.append(m)
for m in wanted:   # a trailing '?': optional
    visit(m.rstrip("?"), m.endswith("?"))
open(os.path.join(dest, "order"), "w").write("\n".join(order) + "\n")
print("linux-guest: modules (load order): " + " ".join(order))
PY
# Dynamic tools from this Debian system, with their libraries.
for b in socat iperf iperf3; do
  src=$(command -v "$b")
  cp "$src" "$r/bin/$b"
  ldd "$src" | awk '/=> \// {print $3} /^\t\/lib64/ {print $1}' | while read -r lib; do
    mkdir -p "$r$(dirname "$lib")"
    cp -L "$lib" "$r$lib"
  done
done
# The echo server: one process and a poll() loop on TCP, UDP and vsock port 7 (tests/bench/linux_echo.c), built
# statically with this machine's gcc, so its figures measure echoing and not a process per connection.
gcc -O2 -static -o "$r/bin/linux_echo" "$echo_src" || fail "building the echo server failed"
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
for m in $(cat /modules/order); do insmod "/modules/$m.ko"; done
# The echo on port 7 (tests/bench/linux_echo.c): one process for vsock here, one for TCP and UDP where socat's used
# to start (after the services), so the boot-to-echo figure is not moved.
# vsock services (before the NIC's DHCP, which may wait): a source of zeros on port 8 (the backpressure tests),
# and port 9 relays each connection to the host's port 5000 (a guest-initiated connection on the host's demand).
# backlog=128: socat's 5 refuses a burst of connections; -t 60: socat waits that long (not 0.5 s) for the data
# still in flight after an EOF.
# The vsock echo starts last: the tests take its answer as the sign that the others listen too.
socat VSOCK-LISTEN:8,fork,backlog=128 EXEC:"/bin/cat /dev/zero" 2>/dev/null &
socat -t 60 VSOCK-LISTEN:9,fork,backlog=128 VSOCK-CONNECT:2:5000 2>/dev/null &
# HTTP on vsock port 80 (the benchmark): busybox httpd in inetd mode, one per connection, as on TCP.
socat VSOCK-LISTEN:80,fork,backlog=128 EXEC:"httpd -i -h /www" 2>/dev/null &
# socat is dynamically linked and slow to start under TCG, the static echo is not: the echo waits a second, in the
# background (the NIC's bring-up and the boot-to-echo figure do not wait for it).
[ -e /dev/vsock ] && (sleep 1; linux_echo 7 vsock & echo "linux-guest: vsock ready" > /dev/console) &
ip link set lo up
ip link set eth0 up
udhcpc -q -n -t 10 -i eth0 -s /udhcpc.sh >/dev/null 2>&1 || ip addr add 10.0.2.15/24 dev eth0
httpd -p 80 -h /www
iperf -s -D >/dev/null 2>&1
iperf3 -s -D >/dev/null 2>&1
linux_echo 7 inet &
drv=$(readlink /sys/class/net/eth0/device/driver); up=$(readlink /sys/class/net/eth0/device/../driver)
echo "linux-guest: ready on $(ip -4 -o addr show eth0 | awk '{print $4}') (eth0: ${drv##*/}${up:+ on ${up##*/}})" > /dev/console
while true; do sleep 3600; done
SH
chmod +x "$r/init"
(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img"
rm -rf "$work"
touch "$stamp"
echo "linux-guest: $kpkg ($kver) kernel and initramfs in $out"
