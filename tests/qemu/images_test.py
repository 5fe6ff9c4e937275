#!/usr/bin/env python3
"""Prove that every artifact of `make images` boots, and serves, under QEMU (TCG).

For each tested appliance, from build/images/<app>/ exactly as shipped (default command line; QEMU is
stopped once the checks pass):
  boots   ISO in BIOS and UEFI (OVMF) mode, raw disk BIOS and UEFI, the VMDK as a disk (format=vmdk), the VMDK
          inside the OVA with the OVF's own CPU count and RAM, the VHDX in BIOS and UEFI mode (format=vhdx),
          PXE with QEMU's TFTP: the e1000's iPXE ROM running boot.ipxe (BIOS, Multiboot1) and OVMF loading
          GRUB's EFI network image (UEFI, Multiboot2). Every guest has an e1000 on user networking with a
          hostfwd on 127.0.0.1; an appliance that serves is reached through it (echo: bytes come back).
          The Firecracker bundle: no Firecracker here, so QEMU's microvm machine with the same devices boots the
          bundle's kernel with its boot_args and vm-config.json's vCPU count, memory and MAC (PVH; virtio-net on
          virtio-mmio version 2 on a slirp network shaped like the bundle's tap: 172.16.0.0, gateway .1), with
          ACPI (newer Firecracker) and without (older Firecracker, acpi=off); the appliance must print its
          static address and serve through a hostfwd to it.
  files   SHA256SUMS, qemu-img check of every VMDK/VHDX, the raw disk's GPT, the OVA's tar order, manifest
          and OVF (well-formed per xmllint; names the disk, the e1000 NIC and the serial port; vmx-10, 1 vCPU,
          BIOS, no ExtraConfig), the stream-optimized VMDK's version, the Hyper-V script, the PXE tree and
          its dnsmasq example (dnsmasq --test), and the Firecracker bundle: vm-config.json against Firecracker's
          configuration schema (FC_SCHEMA), the kernel against what Firecracker's ELF loader needs for PVH
          (firecracker_elf), run.sh (sh -n and its commands).
Which appliances: those of --apps whose images exist and that serve something (PROFILES); hello only when
none of them serves. --matrix quick boots the subset `make test` runs; full boots everything."""
import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from qemu_harness import Failure, Guest, Runner, connect, expect, free_port, pvh_copy  # noqa: E402

BOOT_TIMEOUT = 150       # a UEFI boot is ~15 s alone under TCG; two run at once
SERVE_TIMEOUT = 90       # from boot to "ready" (DHCP included)


# ------------------------------------------------------------------------------------------------------
# What each appliance serves and how to check it. Adding an appliance is one line here.
def check_tcp_echo(port):
    data = os.urandom(64 * 1024)
    s = connect(port)
    try:
        s.settimeout(30)
        s.sendall(data)
        got = bytearray()
        while len(got) < len(data):
            b = s.recv(65536)
            if not b:
                raise Failure(f"connection closed after {len(got)} of {len(data)} echoed bytes")
            got += b
        if bytes(got) != data:
            raise Failure("the echoed bytes differ from the ones sent")
    except socket.timeout:
        raise Failure(f"echo timed out after {len(got)} of {len(data)} bytes")
    finally:
        s.close()
    return f"{len(data)} bytes echoed"


def check_http_get(port):
    s = connect(port)
    try:
        s.settimeout(30)
        s.sendall(b"GET / HTTP/1.0\r\nHost: skerry\r\n\r\n")
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    finally:
        s.close()
    if not re.match(rb"HTTP/1\.[01] 200", got):
        raise Failure(f"GET / did not answer 200: {got[:120]!r}")
    return f"GET / -> 200, {len(got)} bytes"


class Profile:
    def __init__(self, port=None, check=None, ready=None):
        self.port, self.check = port, check
        self.ready = ready  # regex in the serial log once the appliance serves; default "<app>: ready on ... port N"


PROFILES = {
    "http": Profile(80, check_http_get),
    "echo": Profile(7, check_tcp_echo),
    "hello": Profile(ready=r"boot: ready after \d+ ms"),
}
PREFERENCE = ["http", "echo"]   # the primary appliance, when present, comes first


def ready_pattern(app):
    p = PROFILES.get(app, Profile())
    if p.ready:
        return p.ready
    if p.port:
        return rf"{app}: ready on \S+ port {p.port}\b"
    return r"boot: ready after \d+ ms"


# ------------------------------------------------------------------------------------------------------


def sh(cmd, what):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        raise Failure(f"{what}: {' '.join(cmd)} failed ({p.returncode}):\n{out}")
    return out


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Images:
    """Paths of one appliance's artifacts, and the OVA unpacked once (shared by the file checks and the boot)."""

    def __init__(self, root, app, workdir):
        self.app, self.dir = app, os.path.join(root, app)
        self.iso, self.img = self.path(".iso"), self.path(".img")
        self.vmdk, self.vhdx, self.ova = self.path(".vmdk"), self.path(".vhdx"), self.path(".ova")
        self.ps1, self.pxe = self.path("-hyperv.ps1"), os.path.join(self.dir, "pxe")
        self.fc = os.path.join(self.dir, "firecracker")
        self.ova_dir = os.path.join(workdir, f"{app}-ova")
        self._lock = threading.Lock()
        self._ova = None

    def path(self, suffix):
        return os.path.join(self.dir, self.app + suffix)

    def unpacked_ova(self):
        """(members in tar order, OVF path, VMDK path) of the OVA extracted into the work directory."""
        with self._lock:
            if self._ova is None:
                shutil.rmtree(self.ova_dir, ignore_errors=True)
                os.makedirs(self.ova_dir)
                with tarfile.open(self.ova) as t:
                    members = t.getmembers()
                    for m in members:
                        if not m.isfile() or "/" in m.name or m.name.startswith("."):
                            raise Failure(f"unexpected OVA member {m.name!r}")
                    t.extractall(self.ova_dir)
                names = [m.name for m in members]
                ovf = [n for n in names if n.endswith(".ovf")]
                vmdk = [n for n in names if n.endswith(".vmdk")]
                if len(ovf) != 1 or len(vmdk) != 1:
                    raise Failure(f"the OVA should hold one .ovf and one .vmdk, it holds {names}")
                self._ova = (names, os.path.join(self.ova_dir, ovf[0]), os.path.join(self.ova_dir, vmdk[0]))
            return self._ova


# ------------------------------------------------------------------------------------------------------
# Boots
OVF_NS = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1",
          "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
          "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
          "vmw": "http://www.vmware.com/schema/ovf"}


def ovf_items(ovf_path):
    root = ET.parse(ovf_path).getroot()
    items = []
    for it in root.iter(f"{{{OVF_NS['ovf']}}}Item"):
        d = {c.tag.split("}")[1]: (c.text or "").strip() for c in it if c.tag.startswith(f"{{{OVF_NS['rasd']}}}")}
        items.append(d)
    return root, items


def ovf_hardware(ovf_path):
    _, items = ovf_items(ovf_path)
    cpus = [int(i["VirtualQuantity"]) for i in items if i.get("ResourceType") == "3"]
    mem = [i for i in items if i.get("ResourceType") == "4"]
    if len(cpus) != 1 or len(mem) != 1 or mem[0].get("AllocationUnits") != "byte * 2^20":
        raise Failure("the OVF does not give exactly one CPU count and one memory size in MiB")
    return cpus[0], int(mem[0]["VirtualQuantity"])


def boot_test(imgs, kind, mem_mib):
    app = imgs.app
    prof = PROFILES.get(app, Profile())

    def run(workdir):
        uefi = kind.endswith("uefi")
        smp = 1
        mem = mem_mib
        netdev = "user,id=n0"
        hostport = None
        if prof.port:
            hostport = free_port()
            netdev += f",hostfwd=tcp:127.0.0.1:{hostport}-:{prof.port}"
        protocol, loader = r"Multiboot2", r"GRUB"
        if kind.startswith("iso"):
            args = ["-cdrom", imgs.iso]
        elif kind.startswith("img"):
            args = ["-drive", f"file={imgs.img},format=raw,snapshot=on"]
        elif kind.startswith("vmdk"):
            args = ["-drive", f"file={imgs.vmdk},format=vmdk,snapshot=on"]
        elif kind.startswith("vhdx"):
            args = ["-drive", f"file={imgs.vhdx},format=vhdx,snapshot=on"]
        elif kind.startswith("ova"):
            _, ovf, vmdk = imgs.unpacked_ova()
            smp, mem = ovf_hardware(ovf)   # boot it the way the OVF describes the VM
            args = ["-drive", f"file={vmdk},format=vmdk,snapshot=on"]
        elif kind == "pxe-bios":
            netdev += f",tftp={imgs.pxe},bootfile=boot.ipxe"
            args = ["-boot", "n"]
            protocol, loader = r"Multiboot1", r"iPXE"
        elif kind == "pxe-uefi":
            netdev += f",tftp={imgs.pxe},bootfile=boot/grub/x86_64-efi/core.efi"
            args = ["-boot", "n"]
        else:
            raise Failure(f"unknown boot kind {kind}")
        args += ["-smp", str(smp), "-netdev", netdev, "-device", "e1000,netdev=n0"]
        g = Guest(args, f"{app}-{kind}", workdir, uefi=uefi, mem=f"{mem}M")
        try:
            expect(g, rf"Skerry \S+ \({re.escape(app)}\)", BOOT_TIMEOUT, what=f"the {app} banner")
            expect(g, rf"boot: {protocol}, loader '{loader}", 10, what=f"{protocol} from {loader}")
            expect(g, ready_pattern(app), SERVE_TIMEOUT, what=f"{app} ready")
            if prof.check:
                return prof.check(hostport)
            return None
        finally:
            g.kill()
    return run


# ------------------------------------------------------------------------------------------------------
# The Firecracker bundle. Firecracker's --config-file schema (docs/protocols/firecracker.md; Firecracker
# v1.12.0 to v1.16.1, src/vmm/src/resources.rs `VmmConfig` and src/vmm/src/vmm_config/*.rs): the top level is
# kebab-case and ignores nothing it does not know only because serde is not told to deny it, but every section
# denies unknown fields; "boot-source" and "drives" (a list, no default) are required.
FC_TOP = {"balloon", "drives", "boot-source", "cpu-config", "logger", "machine-config", "metrics", "mmds-config",
          "network-interfaces", "vsock", "entropy"}
FC_SCHEMA = {  # section: ({required field: type}, {optional field: type})
    "boot-source": ({"kernel_image_path": str}, {"initrd_path": str, "boot_args": str}),
    "machine-config": ({"vcpu_count": int, "mem_size_mib": int},
                       {"smt": bool, "cpu_template": str, "track_dirty_pages": bool, "huge_pages": str}),
    "network-interfaces": ({"iface_id": str, "host_dev_name": str},
                           {"guest_mac": str, "rx_rate_limiter": dict, "tx_rate_limiter": dict}),
    "vsock": ({"guest_cid": int, "uds_path": str}, {"vsock_id": str}),
}
FC_CMDLINE_MAX = 2048          # layout::CMDLINE_MAX_SIZE, including what Firecracker appends (virtio_mmio.device=...)
FC_HIMEM = 0x100000            # the ELF loader's highmem_start: no entry point or segment below 1 MiB
XEN_ELFNOTE_PHYS32_ENTRY = 18


def fc_config(imgs):
    try:
        cfg = json.load(open(os.path.join(imgs.fc, "vm-config.json")))
    except (OSError, ValueError) as e:
        raise Failure(f"firecracker/vm-config.json: {e}")
    return cfg


def check_fc_section(name, obj):
    required, optional = FC_SCHEMA[name]
    if not isinstance(obj, dict):
        raise Failure(f"vm-config.json: {name} is not an object")
    for k, t in required.items():
        if k not in obj:
            raise Failure(f"vm-config.json: {name} lacks the required field {k}")
    for k, v in obj.items():
        t = required.get(k) or optional.get(k)
        if t is None:
            raise Failure(f"vm-config.json: {name}.{k} is not a Firecracker field (sections deny unknown fields)")
        if v is not None and (not isinstance(v, t) or (t is int and isinstance(v, bool))):
            raise Failure(f"vm-config.json: {name}.{k} should be {t.__name__}, it is {v!r}")


def check_fc_schema(cfg, mem_limit_mib=128):
    """vm-config.json against Firecracker's schema and this bundle's promises; returns a one-line summary."""
    unknown = set(cfg) - FC_TOP
    if unknown:
        raise Failure(f"vm-config.json: unknown top-level keys {sorted(unknown)} (Firecracker's are kebab-case)")
    for k in ("boot-source", "drives"):
        if k not in cfg:
            raise Failure(f"vm-config.json lacks {k!r}, which Firecracker requires")
    if not isinstance(cfg["drives"], list):
        raise Failure("vm-config.json: drives must be a list")
    check_fc_section("boot-source", cfg["boot-source"])
    mc = cfg.get("machine-config")
    if mc is None:
        raise Failure("vm-config.json has no machine-config (vCPUs and memory)")
    check_fc_section("machine-config", mc)
    if mc["vcpu_count"] != 1 or not 1 <= mc["mem_size_mib"] <= mem_limit_mib:
        raise Failure(f"machine-config asks for {mc['vcpu_count']} vCPU(s), {mc['mem_size_mib']} MiB; "
                      f"the bundle promises 1 vCPU and at most {mem_limit_mib} MiB")
    nets = cfg.get("network-interfaces")
    if not isinstance(nets, list) or len(nets) != 1:
        raise Failure("vm-config.json should have exactly one network interface")
    check_fc_section("network-interfaces", nets[0])
    mac = nets[0].get("guest_mac")
    if not mac or not re.fullmatch(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", mac) or int(mac[:2], 16) & 1:
        raise Failure(f"guest_mac {mac!r} is not a unicast MAC written as six colon-separated hex bytes")
    if cfg.get("vsock") is None:
        raise Failure("vm-config.json has no vsock device")
    check_fc_section("vsock", cfg["vsock"])
    if not 3 <= cfg["vsock"]["guest_cid"] < 0xFFFFFFFF:
        raise Failure(f"vsock guest_cid {cfg['vsock']['guest_cid']} is not a guest CID (3 and up)")
    args = cfg["boot-source"].get("boot_args") or ""
    if not all(32 <= ord(c) < 127 for c in args) or len(args) > FC_CMDLINE_MAX - 256:
        raise Failure(f"boot_args must be printable ASCII and leave room for Firecracker's additions: {args!r}")
    return (f"{mc['vcpu_count']} vCPU, {mc['mem_size_mib']} MiB, {nets[0]['host_dev_name']} {mac}, "
            f"boot_args {args!r}")


def firecracker_elf(path, mem_mib):
    """What Firecracker's ELF loader (rust-vmm linux-loader, Elf::load) checks and does, applied to the kernel:
    ELF magic, little-endian, 56-byte program headers after the ELF header, the entry point at or above 1 MiB;
    PT_LOAD segments copied to p_paddr (so they must fit below mem_mib); every PT_NOTE segment is parsed and the
    last one decides, so the last PT_NOTE must hold the Xen PHYS32_ENTRY note (else no PVH: Firecracker would
    jump to the ELF entry in 64-bit mode). Returns the PVH entry address."""
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[5] != 1:
        raise Failure(f"{os.path.basename(path)} is not a little-endian ELF")
    e_entry, e_phoff = struct.unpack_from("<QQ", data, 24)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    if e_phentsize != 56 or e_phoff < 64:
        raise Failure(f"program headers of {e_phentsize} bytes at {e_phoff}: not what the loader accepts")
    if e_entry < FC_HIMEM:
        raise Failure(f"ELF entry {e_entry:#x} is below 1 MiB; Firecracker refuses it")
    pvh, end = None, 0
    for i in range(e_phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz, p_memsz, _ = struct.unpack_from("<IIQQQQQQ", data, e_phoff + 56 * i)
        if p_type == 1 and p_filesz:
            if p_paddr < FC_HIMEM:
                raise Failure(f"PT_LOAD at {p_paddr:#x}, below 1 MiB")
            end = max(end, p_paddr + p_memsz)
        elif p_type == 4:
            pvh, off = None, p_offset   # the loader keeps only the last PT_NOTE's answer
            while off + 12 <= p_offset + p_filesz:
                namesz, descsz, ntype = struct.unpack_from("<III", data, off)
                name = data[off + 12:off + 12 + namesz]
                desc = off + 12 + ((namesz + 3) & ~3)
                if ntype == XEN_ELFNOTE_PHYS32_ENTRY and name == b"Xen\0" and descsz >= 4:
                    pvh = struct.unpack_from("<I", data, desc)[0]
                    break
                off = desc + ((descsz + 3) & ~3)
    if pvh is None:
        raise Failure("the last PT_NOTE segment has no Xen PHYS32_ENTRY note: Firecracker would not boot it by PVH")
    if end > mem_mib << 20:
        raise Failure(f"the kernel's segments end at {end:#x}, beyond {mem_mib} MiB of guest memory")
    return pvh


def check_firecracker_files(imgs, mem_mib):
    def run(workdir):
        cfg = fc_config(imgs)
        summary = check_fc_schema(cfg, mem_mib)
        kernel = os.path.join(imgs.fc, cfg["boot-source"]["kernel_image_path"])
        if os.path.isabs(cfg["boot-source"]["kernel_image_path"]) or not os.path.isfile(kernel):
            raise Failure("kernel_image_path must name the kernel inside the bundle (run.sh starts Firecracker there)")
        if sha256(kernel) != sha256(os.path.join(imgs.pxe, "boot", f"{imgs.app}.elf")):
            raise Failure("the bundle's kernel differs from the one in the other images")
        pvh = firecracker_elf(kernel, cfg["machine-config"]["mem_size_mib"])
        run_sh = os.path.join(imgs.fc, "run.sh")
        if not os.stat(run_sh).st_mode & stat.S_IXUSR:
            raise Failure("run.sh is not executable")
        sh(["sh", "-n", run_sh], "sh -n run.sh")
        text = open(run_sh).read()
        tap = cfg["network-interfaces"][0]["host_dev_name"]
        for needle in [f"TAP={tap}", "ip tuntap add dev \"$TAP\" mode tap", "--no-api --config-file vm-config.json"]:
            if needle not in text:
                raise Failure(f"run.sh lacks {needle!r}")
        if "skerry-vsock" not in open(os.path.join(imgs.fc, "README.txt")).read():
            raise Failure("firecracker/README.txt does not say how to reach the appliance over vsock")
        return f"{summary}; PVH entry {pvh:#x}; run.sh ok"
    return run


def fc_guest_net(boot_args):
    """The slirp network that stands in for the bundle's tap: the guest's static ip= and gw= from boot_args."""
    ip = re.search(r"\bip=([\d.]+)/(\d+)", boot_args)
    gw = re.search(r"\bgw=([\d.]+)", boot_args)
    if not ip or not gw:
        raise Failure(f"boot_args {boot_args!r} carry no static ip=/gw= (Firecracker has no DHCP server)")
    net = ".".join(ip.group(1).split(".")[:3]) + ".0/24"
    return ip.group(1), gw.group(1), net


def boot_firecracker_microvm(imgs, acpi):
    app = imgs.app
    prof = PROFILES.get(app, Profile())

    def run(workdir):
        cfg = fc_config(imgs)
        boot_args = cfg["boot-source"].get("boot_args") or ""
        mc, nic = cfg["machine-config"], cfg["network-interfaces"][0]
        guest_ip, gw, net = fc_guest_net(boot_args)
        netdev = f"user,id=n0,net={net},host={gw}"
        hostport = None
        if prof.port:
            hostport = free_port()
            netdev += f",hostfwd=tcp:127.0.0.1:{hostport}-{guest_ip}:{prof.port}"
        # Firecracker never looks at Multiboot; QEMU tries it first (also on microvm): the harness's PVH-only copy.
        kernel = pvh_copy(os.path.join(imgs.fc, cfg["boot-source"]["kernel_image_path"]), workdir)
        machine = "microvm" + ("" if acpi else ",acpi=off")
        # Firecracker appends virtio_mmio.device=<size>@<addr>:<irq> for every device, with ACPI or without.
        # QEMU's microvm does so only without ACPI; with ACPI we append what it would have: the one device sits
        # on the last of its 24 transports (virtio-mmio-bus.23 in `info qtree`), 0xfeb00000 + 23 * 512, wired to
        # GSI 24 + 23 on the second I/O APIC (hw/i386/microvm.c, QEMU 7.2).
        append = boot_args + (" virtio_mmio.device=512@0xfeb02e00:47" if acpi else "")
        args = ["-M", machine, "-global", "virtio-mmio.force-legacy=false", "-smp", str(mc["vcpu_count"]),
                "-kernel", kernel, "-append", append,
                "-netdev", netdev, "-device", f"virtio-net-device,netdev=n0,mac={nic['guest_mac']}"]
        t0 = time.monotonic()
        g = Guest(args, f"{app}-firecracker-microvm{'' if acpi else '-noacpi'}", workdir, mem=f"{mc['mem_size_mib']}M")
        try:
            expect(g, rf"Skerry \S+ \({re.escape(app)}\)", BOOT_TIMEOUT, what=f"the {app} banner")
            expect(g, r"boot: PVH", 10, what="a PVH boot")
            if prof.port:
                # An appliance without a NIC says so at once: fail then, not at the timeout.
                m = expect(g, rf"{app}: ready on {re.escape(guest_ip)} port {prof.port}\b|(?P<down>{app}: no network)",
                           SERVE_TIMEOUT, what=f"{app} ready on the bundle's address {guest_ip}")
                if m.group("down"):
                    raise Failure(f"{app} found no NIC on microvm (virtio-net on virtio-mmio); last lines:\n    " +
                                  "\n    ".join(g.log().splitlines()[-12:]))
            else:
                expect(g, ready_pattern(app), SERVE_TIMEOUT, what=f"{app} ready")
            ready = time.monotonic() - t0
            detail = f"ready on {guest_ip} {ready:.1f} s after QEMU started"
            if prof.check:
                detail += "; " + prof.check(hostport)
            return detail
        finally:
            g.kill()
    return run


BOOT_KINDS_FULL = ["iso-bios", "iso-uefi", "img-bios", "img-uefi", "vmdk-bios", "ova-vmdk-bios", "vhdx-bios",
                   "vhdx-uefi", "pxe-bios", "pxe-uefi"]
BOOT_KINDS_QUICK = ["iso-bios", "iso-uefi", "vhdx-uefi", "ova-vmdk-bios", "pxe-bios", "pxe-uefi"]
FC_KINDS_FULL = {"firecracker-microvm": True, "firecracker-microvm-noacpi": False}   # kind: ACPI on
FC_KINDS_QUICK = {"firecracker-microvm": True}


# ------------------------------------------------------------------------------------------------------
# File checks
def check_sums(imgs):
    def run(workdir):
        listed = set()
        for line in open(os.path.join(imgs.dir, "SHA256SUMS")):
            m = re.fullmatch(r"([0-9a-f]{64})  (\S+)\n", line)
            if not m:
                raise Failure(f"malformed SHA256SUMS line {line!r}")
            listed.add(m.group(2))
            if sha256(os.path.join(imgs.dir, m.group(2))) != m.group(1):
                raise Failure(f"SHA256SUMS: {m.group(2)} does not match")
        for f in [imgs.iso, imgs.img, imgs.vmdk, imgs.vhdx, imgs.ova, imgs.ps1, os.path.join(imgs.pxe, "boot.ipxe"),
                  os.path.join(imgs.fc, "vm-config.json"), os.path.join(imgs.fc, "run.sh"),
                  os.path.join(imgs.fc, f"{imgs.app}.elf")]:
            if os.path.relpath(f, imgs.dir) not in listed:
                raise Failure(f"SHA256SUMS does not list {os.path.relpath(f, imgs.dir)}")
        return f"{len(listed)} files match"
    return run


def check_disk_formats(imgs):
    def run(workdir):
        for path, fmt in [(imgs.vmdk, "vmdk"), (imgs.vhdx, "vhdx")]:
            sh(["qemu-img", "check", "-f", fmt, path], f"qemu-img check {os.path.basename(path)}")
        info = json.loads(sh(["qemu-img", "info", "--output=json", "-f", "vmdk", imgs.vmdk], "qemu-img info"))
        if info["format-specific"]["data"]["create-type"] != "monolithicSparse":
            raise Failure(f"{imgs.vmdk} is not monolithic sparse")
        raw_size = os.path.getsize(imgs.img)
        for path, fmt in [(imgs.vmdk, "vmdk"), (imgs.vhdx, "vhdx")]:
            info = json.loads(sh(["qemu-img", "info", "--output=json", "-f", fmt, path], "qemu-img info"))
            if info["virtual-size"] != raw_size:
                raise Failure(f"{path}: virtual size {info['virtual-size']} != the raw disk's {raw_size}")
        # The raw disk: GPT with a BIOS boot partition and an EFI system partition, GRUB's code in the MBR.
        pt = json.loads(sh(["sfdisk", "--json", imgs.img], "sfdisk"))["partitiontable"]
        types = [p["type"].upper() for p in pt["partitions"]]
        if pt["label"] != "gpt" or types != ["21686148-6449-6E6F-744E-656564454649",
                                             "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"]:
            raise Failure(f"unexpected partition table: {pt}")
        mbr = open(imgs.img, "rb").read(512)
        if mbr[510:] != b"\x55\xaa" or b"GRUB" not in mbr:
            raise Failure("the raw disk's MBR has no GRUB boot code")
        return "qemu-img check ok (vmdk, vhdx); GPT with BIOS boot + ESP"
    return run


def check_ova(imgs):
    def run(workdir):
        names, ovf, vmdk = imgs.unpacked_ova()
        if not names[0].endswith(".ovf") or not names[1].endswith(".mf"):
            raise Failure(f"OVA order must be descriptor, manifest, files; it is {names}")
        with tarfile.open(imgs.ova) as t:
            if t.format not in (tarfile.USTAR_FORMAT,) and any(m.pax_headers for m in t.getmembers()):
                raise Failure("the OVA is not a plain ustar archive")
        # Manifest: exactly "SHA256(file)= hex" for every other member.
        lines = open(os.path.join(imgs.ova_dir, names[1]), "rb").read().decode("ascii").splitlines()
        listed = {}
        for line in lines:
            m = re.fullmatch(r"SHA256\(([^)]+)\)= ([0-9a-f]{64})", line)
            if not m:
                raise Failure(f"manifest line not of the form 'SHA256(file)= hex': {line!r}")
            listed[m.group(1)] = m.group(2)
        if set(listed) != set(names) - {names[1]}:
            raise Failure(f"manifest lists {sorted(listed)}, the OVA holds {names}")
        for n, h in listed.items():
            if sha256(os.path.join(imgs.ova_dir, n)) != h:
                raise Failure(f"manifest checksum of {n} does not match")
        sh(["xmllint", "--noout", ovf], "xmllint")
        root, items = ovf_items(ovf)
        text = open(ovf).read()
        if "ExtraConfig" in text:
            raise Failure("the OVF has ExtraConfig entries")
        ns = OVF_NS
        systype = root.find(".//ovf:VirtualHardwareSection/ovf:System/vssd:VirtualSystemType", ns)
        if systype is None or systype.text != "vmx-10":
            raise Failure("VirtualSystemType is not vmx-10")
        by_type = {}
        for it in items:
            by_type.setdefault(it.get("ResourceType"), []).append(it)
        cpus, mem = ovf_hardware(ovf)
        if cpus != 1:
            raise Failure(f"the OVF asks for {cpus} vCPUs, not 1")
        nics = by_type.get("10", [])
        if len(nics) != 1 or nics[0].get("ResourceSubType") != "E1000":
            raise Failure(f"the OVF's NIC is not one e1000: {nics}")
        if len(by_type.get("21", [])) != 1:
            raise Failure("the OVF has no serial port (ResourceType 21)")
        disks = by_type.get("17", [])
        if len(disks) != 1 or disks[0].get("HostResource") != "ovf:/disk/vmdisk1":
            raise Failure(f"the OVF's disk item is wrong: {disks}")
        disk = root.find(".//ovf:DiskSection/ovf:Disk", ns)
        file_el = root.find(".//ovf:References/ovf:File", ns)
        q = lambda el, a: el.get(f"{{{ns['ovf']}}}{a}")  # noqa: E731
        if q(disk, "diskId") != "vmdisk1" or q(disk, "fileRef") != q(file_el, "id") or \
                q(file_el, "href") != os.path.basename(vmdk) or "streamOptimized" not in q(disk, "format"):
            raise Failure("DiskSection/References do not name the stream-optimized VMDK in the OVA")
        if int(q(file_el, "size")) != os.path.getsize(vmdk):
            raise Failure("References gives the wrong VMDK size")
        if int(q(disk, "capacity")) * (1 << 20) != os.path.getsize(imgs.img):
            raise Failure("the OVF disk capacity differs from the disk's size")
        fw = [c for c in root.iter(f"{{{ns['vmw']}}}Config") if c.get(f"{{{ns['vmw']}}}key") == "firmware"]
        if len(fw) != 1 or fw[0].get(f"{{{ns['vmw']}}}value") != "bios":
            raise Failure("the OVF does not ask for BIOS firmware")
        hdr = open(vmdk, "rb").read(12)
        if hdr[:4] != b"KDMV" or int.from_bytes(hdr[4:8], "little") != 3:
            raise Failure("the OVA's VMDK is not a version 3 sparse extent")
        info = json.loads(sh(["qemu-img", "info", "--output=json", "-f", "vmdk", vmdk], "qemu-img info"))
        if info["format-specific"]["data"]["create-type"] != "streamOptimized":
            raise Failure("the OVA's VMDK is not stream-optimized")
        sh(["qemu-img", "check", "-f", "vmdk", vmdk], "qemu-img check of the OVA's VMDK")
        return f"vmx-10, {cpus} vCPU, {mem} MiB, e1000, serial, streamOptimized v3, manifest ok"
    return run


def check_hyperv_and_pxe(imgs):
    def run(workdir):
        ps1 = open(imgs.ps1, "rb").read().decode("utf-8")
        for needle in ["New-VM", "-Generation $Generation", "[int]$Generation = 2", "-EnableSecureBoot Off",
                       "Set-VMComPort", "-SwitchName $SwitchName", f"{imgs.app}.vhdx", "Start-VM"]:
            if needle not in ps1:
                raise Failure(f"the Hyper-V script lacks {needle!r}")
        for f in ["undionly.kpxe", "boot.ipxe", f"boot/{imgs.app}.elf", "boot/grub/grub.cfg",
                  "boot/grub/x86_64-efi/core.efi", "dnsmasq.conf"]:
            if not os.path.isfile(os.path.join(imgs.pxe, f)):
                raise Failure(f"pxe/{f} is missing")
        script = open(os.path.join(imgs.pxe, "boot.ipxe")).read()
        if not script.startswith("#!ipxe\n") or f"kernel boot/{imgs.app}.elf" not in script:
            raise Failure("boot.ipxe does not load the kernel")
        if f"multiboot2 /boot/{imgs.app}.elf" not in open(os.path.join(imgs.pxe, "boot/grub/grub.cfg")).read():
            raise Failure("the PXE grub.cfg does not load the kernel by multiboot2")
        if shutil.which("dnsmasq"):
            sh(["dnsmasq", "--test", f"--conf-file={os.path.join(imgs.pxe, 'dnsmasq.conf')}"], "dnsmasq --test")
            return "script ok; pxe tree complete; dnsmasq.conf syntax ok"
        return "script ok; pxe tree complete (dnsmasq not installed: its syntax not checked)"
    return run


# ------------------------------------------------------------------------------------------------------
class ParallelRunner(Runner):
    """The harness's Runner, safe to call from worker threads; a test may return a detail string."""

    def __init__(self, logs):
        super().__init__(logs)
        self.lock = threading.Lock()

    def run(self, name, fn):
        t0 = time.monotonic()
        try:
            detail = fn(self.workdir)
            line, ok = f"PASS {name} ({time.monotonic() - t0:.1f}s){': ' + detail if detail else ''}", True
        except Failure as e:
            line, ok = f"FAIL {name} ({time.monotonic() - t0:.1f}s): {e}", False
        except Exception as e:  # a harness error is a failure too, never a silent pass
            line, ok = f"FAIL {name}: harness error {type(e).__name__}: {e}", False
        with self.lock:
            if ok:
                self.passed += 1
            else:
                self.failed += 1
            print(line, flush=True)


def pick_apps(root, apps):
    have = [a for a in apps if os.path.isfile(os.path.join(root, a, "SHA256SUMS"))]
    serving = [a for a in have if PROFILES.get(a, Profile()).port]
    serving.sort(key=lambda a: PREFERENCE.index(a) if a in PREFERENCE else len(PREFERENCE))
    return have, serving or have[:1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="build/images")
    ap.add_argument("--apps", default="", help="appliances to consider (default: every directory in --images)")
    ap.add_argument("--matrix", choices=["quick", "full"], default="full")
    ap.add_argument("--mem-mib", type=int, default=128, help="guest RAM for every boot except the OVA's (OVF's own)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="guests booting at once")
    ap.add_argument("--logs", default="build/test-logs/images")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = ap.parse_args()
    apps = args.apps.split() or sorted(os.listdir(args.images))
    have, booted = pick_apps(args.images, apps)
    for a in apps:
        if a not in have:
            print(f"images: no images for {a} in {args.images} (make images builds them): not tested", flush=True)
    if not have:
        print(f"images: no images in {args.images} for {apps}: run make images", file=sys.stderr)
        return 1
    r = ParallelRunner(args.logs)
    print(f"images: file checks for {' '.join(have)}; {args.matrix} boot matrix for {' '.join(booted)}", flush=True)
    imgs = {a: Images(args.images, a, r.workdir) for a in have}
    tests = []
    kinds = BOOT_KINDS_FULL if args.matrix == "full" else BOOT_KINDS_QUICK
    # Boots first, UEFI ones (the slowest) leading, so the two workers stay busy; file checks fill the gaps.
    for kind in sorted(kinds, key=lambda k: not k.endswith("uefi")):
        for a in booted:
            tests.append((f"image-{a}-{kind}", boot_test(imgs[a], kind, args.mem_mib)))
    for kind, acpi in (FC_KINDS_FULL if args.matrix == "full" else FC_KINDS_QUICK).items():
        for a in booted:
            tests.append((f"image-{a}-{kind}", boot_firecracker_microvm(imgs[a], acpi)))
    for a in have:
        tests += [(f"image-{a}-sha256sums", check_sums(imgs[a])),
                  (f"image-{a}-disk-formats", check_disk_formats(imgs[a])),
                  (f"image-{a}-ova", check_ova(imgs[a])),
                  (f"image-{a}-hyperv-pxe-files", check_hyperv_and_pxe(imgs[a])),
                  (f"image-{a}-firecracker-files", check_firecracker_files(imgs[a], args.mem_mib))]
    tests = [(n, f) for n, f in tests if (not args.only or args.only in n) and r.selected(n)]
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for f in [pool.submit(r.run, n, fn) for n, fn in tests]:
            f.result()
    print(f"images: {len(tests)} tests in {time.monotonic() - t0:.0f}s", flush=True)
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
