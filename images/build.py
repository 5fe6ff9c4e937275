#!/usr/bin/env python3
"""Skerry image builder: the pieces of `make images` that are more than one command.

  build.py disk     KERNEL OUT.img [--cmdline S]          raw GPT disk, boots BIOS and UEFI (no loop devices, no mounts)
  build.py ova      DISK.img OUT.ova --app A --mem-mib N  OVF 1.0 + stream-optimized VMDK v3 + SHA-256 manifest
  build.py hyperv   OUT.ps1 --app A --mem-mib N           PowerShell script creating the Hyper-V VM
  build.py pxe      KERNEL OUTDIR [--cmdline S]           PXE tree: iPXE (BIOS) and GRUB EFI netboot (UEFI)
  build.py firecracker KERNEL OUTDIR [--cmdline S] --mem-mib N   Firecracker bundle: kernel, vm-config.json, run.sh
  build.py sums     DIR                                   DIR/SHA256SUMS over every file below DIR
  build.py readme   OUT --apps "a b" --mem-mib N          the release README (import steps per hypervisor)

Everything is written to a temporary name first and renamed at the end, so an interrupted build leaves no
half-written artifact behind. Timestamps, GUIDs and volume serials are fixed (derived from the appliance name
and SOURCE_DATE_EPOCH) so the same inputs give the same bytes where the tools allow it."""
import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
GRUB_PC = "/usr/lib/grub/i386-pc"
GRUB_EFI = "/usr/lib/grub/x86_64-efi"
UNDIONLY = "/usr/lib/ipxe/undionly.kpxe"
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))
MIB = 1024 * 1024
SECTOR = 512

# Disk layout (sectors of 512 bytes): GPT, a 1 MiB BIOS boot partition holding GRUB's core.img, and the EFI
# system partition (FAT32) holding GRUB for UEFI, the menu and the kernel. BIOS GRUB reads the same ESP.
DISK_MIB = 64
BIOS_START, BIOS_SECTORS = 2048, 2048
ESP_START = 4096
GPT_TAIL = 33                              # backup GPT: 32 sectors of entries + header
BIOS_BOOT_TYPE = "21686148-6449-6E6F-744E-656564454649"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

# GRUB modules built into the boot images (nothing is loaded from disk or network later, except in PXE where
# grub-mknetdir ships the whole module directory).
GRUB_COMMON_MODS = ["part_gpt", "part_msdos", "fat", "iso9660", "normal", "configfile", "echo", "test", "ls", "cat",
                    "search", "search_fs_file", "serial", "terminal", "multiboot2", "multiboot", "all_video",
                    "gfxterm", "video", "halt", "reboot", "sleep"]
GRUB_PC_MODS = ["biosdisk"] + GRUB_COMMON_MODS
GRUB_EFI_MODS = GRUB_COMMON_MODS
GRUB_NET_MODS = GRUB_COMMON_MODS + ["efinet", "net", "tftp", "http"]

# boot.img (GRUB's MBR code) fields, from grub/i386/pc/boot.h, and diskboot.img's first block list.
BOOT_KERNEL_SECTOR = 0x5C
BOOT_DRIVE_CHECK = 0x66
BOOT_NT_MAGIC = 0x1B8
DISKBOOT_BLOCKLIST_START = 0x200 - 12      # u64 start, u16 length, u16 segment


def fail(msg, hint=None):
    print(f"images: {msg}", file=sys.stderr)
    if hint:
        print(f"images: what to do: {hint}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, **kw)
    if p.returncode != 0:
        out = p.stdout.decode("utf-8", "replace")
        fail(f"{cmd[0]} failed ({' '.join(cmd)}):\n{out}",
             "install the image tools with 'make setup' (scripts/setup.sh) and try again")
    return p.stdout


def need(path, pkg):
    if not os.path.exists(path):
        fail(f"{path} is missing", f"install {pkg} ('make setup' does)")


def stable_guid(*parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "skerry:" + ":".join(parts))).upper()


def commit(tmp, out):
    os.replace(tmp, out)


def write_file(out, text, newline=None):
    """Write text to out through a temporary name (no half-written file on interruption)."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".tmp", "w", newline=newline) as f:
        f.write(text)
    os.replace(out + ".tmp", out)


def app_of(kernel):
    return os.path.basename(kernel).removesuffix(".elf")


# ------------------------------------------------------------------------------------------------------
def grub_cfg(app, cmdline):
    text = open(os.path.join(HERE, "grub.cfg.in")).read()
    return text.replace("@APP@", app).replace("@CMDLINE@", cmdline)


# ------------------------------------------------------------------------------------------------------
def fat_image(path, sectors, files, label, serial):
    """A FAT32 file system of `sectors` sectors built with mtools (no mount): files = {dos path: host path}."""
    with open(path, "wb") as f:
        f.truncate(sectors * SECTOR)
    # One sector per cluster keeps the cluster count above FAT32's minimum (65525) for a small ESP;
    # -H: hidden sectors = the partition's start, as firmware and Windows expect in the BPB.
    run(["mformat", "-i", path, "-F", "-c", "1", "-h", "64", "-s", "32", "-T", str(sectors), "-H", str(ESP_START),
         "-N", serial, "-v", label, "::"])
    dirs = set()
    for dos in files:
        parts = dos.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    for d in sorted(dirs, key=lambda d: (d.count("/"), d)):
        run(["mmd", "-i", path, "::/" + d])
    for dos, host in sorted(files.items()):
        run(["mcopy", "-i", path, host, "::/" + dos.strip("/")])


def cmd_disk(a):
    for f, pkg in [(os.path.join(GRUB_PC, "boot.img"), "grub-pc-bin"), (os.path.join(GRUB_EFI, "kernel.img"),
                   "grub-efi-amd64-bin"), ("/usr/bin/mformat", "mtools"), ("/usr/sbin/sfdisk", "fdisk")]:
        need(f, pkg)
    app = app_of(a.kernel)
    total = DISK_MIB * MIB // SECTOR
    esp_sectors = total - GPT_TAIL - ESP_START
    esp_sectors -= esp_sectors % 8               # keep the ESP a whole number of 4 KiB blocks
    with tempfile.TemporaryDirectory(prefix="skerry-disk-") as tmp:
        cfg = os.path.join(tmp, "grub.cfg")
        open(cfg, "w").write(grub_cfg(app, a.cmdline))
        # UEFI: GRUB with its prefix on the device it was loaded from (the ESP).
        efi = os.path.join(tmp, "BOOTX64.EFI")
        run(["grub-mkimage", "-O", "x86_64-efi", "-d", GRUB_EFI, "-p", "/boot/grub", "-o", efi] + GRUB_EFI_MODS)
        # BIOS: core.img in the BIOS boot partition; its prefix is partition 2 of the disk it booted from.
        core = os.path.join(tmp, "core.img")
        run(["grub-mkimage", "-O", "i386-pc", "-d", GRUB_PC, "-p", "(,gpt2)/boot/grub", "-o", core] + GRUB_PC_MODS)
        core_img = bytearray(open(core, "rb").read())
        if len(core_img) > BIOS_SECTORS * SECTOR:
            fail(f"GRUB core.img is {len(core_img)} bytes, more than the BIOS boot partition holds")
        # diskboot.img (core.img's first sector) loads the rest from the sector after it.
        core_img[DISKBOOT_BLOCKLIST_START:DISKBOOT_BLOCKLIST_START + 8] = (BIOS_START + 1).to_bytes(8, "little")

        esp = os.path.join(tmp, "esp.img")
        serial = hashlib.sha256(f"skerry-esp-{app}".encode()).hexdigest()[:8]
        fat_image(esp, esp_sectors, {"EFI/BOOT/BOOTX64.EFI": efi, "boot/grub/grub.cfg": cfg,
                                     f"boot/{app}.elf": a.kernel}, "SKERRY", serial)

        disk = a.out + ".tmp"
        os.makedirs(os.path.dirname(os.path.abspath(disk)), exist_ok=True)
        with open(disk, "wb") as f:
            f.truncate(total * SECTOR)
        table = (f"label: gpt\nlabel-id: {stable_guid(app, 'disk')}\nunit: sectors\nfirst-lba: 2048\n"
                 f"start={BIOS_START}, size={BIOS_SECTORS}, type={BIOS_BOOT_TYPE}, "
                 f"uuid={stable_guid(app, 'biosboot')}, name=\"BIOS boot\"\n"
                 f"start={ESP_START}, size={esp_sectors}, type={ESP_TYPE}, "
                 f"uuid={stable_guid(app, 'esp')}, name=\"EFI system\"\n")
        run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", disk], input=table.encode())
        boot_img = bytearray(open(os.path.join(GRUB_PC, "boot.img"), "rb").read())
        with open(disk, "r+b") as f:
            mbr = bytearray(f.read(SECTOR))
            # GRUB's MBR code, keeping the protective MBR's disk signature and partition entry.
            boot_img[BOOT_KERNEL_SECTOR:BOOT_KERNEL_SECTOR + 8] = BIOS_START.to_bytes(8, "little")
            boot_img[BOOT_DRIVE_CHECK:BOOT_DRIVE_CHECK + 2] = b"\x90\x90"  # a hard disk: trust DL (as grub-bios-setup)
            mbr[:BOOT_NT_MAGIC] = boot_img[:BOOT_NT_MAGIC]
            f.seek(0)
            f.write(mbr)
            f.seek(BIOS_START * SECTOR)
            f.write(core_img)
            f.seek(ESP_START * SECTOR)
            copy_sparse(esp, f)
    commit(disk, a.out)


def copy_sparse(src, dst, block=64 * 1024):
    """Copy src into the open file dst at its position, seeking over zero blocks (the disk file stays sparse)."""
    zero = bytes(block)
    with open(src, "rb") as s:
        while True:
            b = s.read(block)
            if not b:
                break
            if b == zero[:len(b)]:
                dst.seek(len(b), os.SEEK_CUR)
            else:
                dst.write(b)


# ------------------------------------------------------------------------------------------------------
OVF_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Skerry {app} appliance {version}: OVF 1.0 for VMware ESXi / vSphere / Workstation / Fusion. -->
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common"
          xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
          xmlns:vmw="http://www.vmware.com/schema/ovf"
          xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
          xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{vmdk}" ovf:id="file1" ovf:size="{vmdk_size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{disk_mib}" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The logical network the appliance serves on</Info>
    <Network ovf:name="VM Network">
      <Description>The network the e1000 adapter connects to (DHCP expected)</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="skerry-{app}">
    <Info>Skerry {app} network appliance</Info>
    <Name>skerry-{app}</Name>
    <AnnotationSection>
      <Info>Description</Info>
      <Annotation>Skerry {app} appliance {version}. Serial console at 115200 8N1 on serial port 1; the same log on the screen.</Annotation>
    </AnnotationSection>
    <OperatingSystemSection ovf:id="102" vmw:osType="otherGuest64">
      <Info>The kind of installed guest operating system</Info>
      <Description>Other 64-bit</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>skerry-{app}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-10</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{mem_mib}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{mem_mib}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>E1000 ethernet adapter on "VM Network"</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <Item ovf:required="false">
        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:Description>Serial port 1: the appliance's console (115200 8N1); give it a file or network backing after import</rasd:Description>
        <rasd:ElementName>Serial port 1</rasd:ElementName>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.serialport.device</rasd:ResourceSubType>
        <rasd:ResourceType>21</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="bios"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def stream_vmdk(raw, out):
    """Debian's python3-vmdkstream: stream-optimized VMDK, format version 3 (what ESXi's importer expects)."""
    try:
        import VMDKstream
    except ImportError:
        # A python3 other than Debian's (pyenv, venv) does not see Debian's dist-packages; the module is pure Python.
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import VMDKstream
    except ImportError:
        fail("the python3 module VMDKstream is missing", "install python3-vmdkstream ('make setup' does)")
    VMDKstream.convert_to_stream(raw, out)
    hdr = open(out, "rb").read(8)
    if hdr[:4] != b"KDMV" or int.from_bytes(hdr[4:8], "little") != 3:
        fail(f"{out} is not a version 3 sparse VMDK")


def cmd_ova(a):
    base = f"{a.app}"
    ovf_name, mf_name, vmdk_name = f"{base}.ovf", f"{base}.mf", f"{base}-disk1.vmdk"
    size = os.path.getsize(a.disk)
    if size % MIB:
        fail(f"{a.disk} is not a whole number of MiB")
    with tempfile.TemporaryDirectory(prefix="skerry-ova-") as tmp:
        vmdk = os.path.join(tmp, vmdk_name)
        stream_vmdk(a.disk, vmdk)
        ovf = OVF_TEMPLATE.format(app=a.app, version=a.version, vmdk=vmdk_name, vmdk_size=os.path.getsize(vmdk),
                                  disk_mib=size // MIB, mem_mib=a.mem_mib).encode()
        files = [(ovf_name, ovf)]
        digests = [(ovf_name, hashlib.sha256(ovf).hexdigest()), (vmdk_name, sha256_file(vmdk))]
        mf = "".join(f"SHA256({n})= {h}\n" for n, h in digests).encode()
        tmp_out = a.out + ".tmp"
        os.makedirs(os.path.dirname(os.path.abspath(tmp_out)), exist_ok=True)
        # OVF 1.0 section 5.3: descriptor first, then the manifest, then the files in References order. ustar.
        with tarfile.open(tmp_out, "w", format=tarfile.USTAR_FORMAT) as t:
            for name, data in [(ovf_name, ovf), (mf_name, mf)]:
                t.addfile(tar_info(name, len(data)), io.BytesIO(data))
            with open(vmdk, "rb") as f:
                t.addfile(tar_info(vmdk_name, os.path.getsize(vmdk)), f)
    commit(tmp_out, a.out)


def tar_info(name, size):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = size, EPOCH, 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------------
def template(name, **subst):
    text = open(os.path.join(HERE, name)).read()
    for k, v in subst.items():
        text = text.replace(f"@{k}@", str(v))
    return text


def cmd_hyperv(a):
    # CRLF: the script is for Windows.
    write_file(a.out, template("hyperv.ps1.in", APP=a.app, MEM=a.mem_mib), newline="\r\n")


# ------------------------------------------------------------------------------------------------------
def cmd_pxe(a):
    need(UNDIONLY, "ipxe")
    need(os.path.join(GRUB_EFI, "kernel.img"), "grub-efi-amd64-bin")
    app = app_of(a.kernel)
    # iPXE passes at most 512 bytes of command line, and its own leading image name counts.
    if len(a.cmdline) > 400:
        fail(f"the kernel command line is {len(a.cmdline)} bytes; iPXE's Multiboot1 loader passes at most 512")
    out = os.path.abspath(a.outdir)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "boot", "grub"))
    # UEFI clients: GRUB's EFI network image and its modules (no locales, fonts or themes: serial + text).
    run(["grub-mknetdir", f"--net-directory={tmp}", "--subdir=boot/grub", "-d", GRUB_EFI,
         "--locales=", "--fonts=", "--themes=", "--install-modules=" + " ".join(GRUB_NET_MODS)])
    for d in ("locale", "fonts", "themes"):
        p = os.path.join(tmp, "boot", "grub", d)
        if os.path.isdir(p) and not os.listdir(p):
            os.rmdir(p)
    open(os.path.join(tmp, "boot", "grub", "grub.cfg"), "w").write(grub_cfg(app, a.cmdline))
    shutil.copyfile(a.kernel, os.path.join(tmp, "boot", f"{app}.elf"))
    # BIOS clients: Debian's iPXE (chained from the NIC's PXE ROM) and the script it runs.
    shutil.copyfile(UNDIONLY, os.path.join(tmp, "undionly.kpxe"))
    open(os.path.join(tmp, "boot.ipxe"), "w").write(template("boot.ipxe.in", APP=app, CMDLINE=a.cmdline))
    open(os.path.join(tmp, "dnsmasq.conf"), "w").write(template("dnsmasq.conf.in", APP=app))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


# ------------------------------------------------------------------------------------------------------
# Firecracker (docs/protocols/firecracker.md): `firecracker --no-api --config-file vm-config.json` boots the ELF by
# PVH (Firecracker 1.12.0 and later use the XEN_ELFNOTE_PHYS32_ENTRY note; older ones would take the ELF entry
# in 64-bit mode and fail). Field names are Firecracker's own (src/vmm/src/vmm_config/*.rs, resources.rs):
# the top level is kebab-case, the fields snake_case; "drives" has no default there, so it must be present.
# Firecracker has no DHCP server: the appliance gets the static address of Firecracker's network-setup guide
# (guest 172.16.0.2/30, tap 172.16.0.1), and Firecracker appends virtio_mmio.device=... for the NIC itself.
FC_TAP, FC_HOST_IP, FC_GUEST_IP, FC_PREFIX = "tap0", "172.16.0.1", "172.16.0.2", 30
FC_GUEST_MAC = "06:00:AC:10:00:02"     # locally administered, unicast; the last four bytes spell the guest IP
FC_MIN_VERSION = "1.12.0"
FC_VSOCK_CID, FC_VSOCK_UDS = 3, "v.sock"


def firecracker_config(kernel_name, cmdline, mem_mib):
    boot_args = f"ip={FC_GUEST_IP}/{FC_PREFIX} gw={FC_HOST_IP}"
    if cmdline:
        boot_args += " " + cmdline
    return {
        "boot-source": {"kernel_image_path": kernel_name, "boot_args": boot_args},
        "drives": [],
        "machine-config": {"vcpu_count": 1, "mem_size_mib": mem_mib, "smt": False},
        "network-interfaces": [{"iface_id": "eth0", "host_dev_name": FC_TAP, "guest_mac": FC_GUEST_MAC}],
        # virtio-vsock: Firecracker listens on uds_path (relative to where it runs: run.sh starts it in the bundle)
        # for host-initiated connections ("CONNECT <port>"); skerry-vsock forwards a TCP port through it.
        "vsock": {"guest_cid": FC_VSOCK_CID, "uds_path": FC_VSOCK_UDS},
    }


def cmd_firecracker(a):
    app = app_of(a.kernel)
    if not 1 <= a.mem_mib <= 128:
        fail(f"--mem-mib {a.mem_mib}: the Firecracker bundle asks for at most 128 MiB")
    out = os.path.abspath(a.outdir)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    shutil.copyfile(a.kernel, os.path.join(tmp, f"{app}.elf"))
    config = firecracker_config(f"{app}.elf", a.cmdline, a.mem_mib)
    with open(os.path.join(tmp, "vm-config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    subst = dict(APP=app, TAP=FC_TAP, HOST_IP=FC_HOST_IP, GUEST_IP=FC_GUEST_IP, PREFIX=FC_PREFIX,
                 MAC=FC_GUEST_MAC, MEM=a.mem_mib, FC_VERSION=FC_MIN_VERSION, BOOT_ARGS=config["boot-source"]["boot_args"],
                 VSOCK_CID=FC_VSOCK_CID, VSOCK_UDS=FC_VSOCK_UDS)
    run_sh = os.path.join(tmp, "run.sh")
    open(run_sh, "w").write(template("firecracker-run.sh.in", **subst))
    os.chmod(run_sh, 0o755)
    open(os.path.join(tmp, "README.txt"), "w").write(template("firecracker-README.txt.in", **subst))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


# ------------------------------------------------------------------------------------------------------
def cmd_sums(a):
    entries = []
    for root, dirs, files in os.walk(a.dir):
        dirs.sort()
        for n in sorted(files):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, a.dir)
            if rel in ("SHA256SUMS", "SHA256SUMS.tmp"):
                continue
            entries.append((rel, sha256_file(p)))
    tmp = os.path.join(a.dir, "SHA256SUMS.tmp")
    with open(tmp, "w") as f:
        for rel, h in sorted(entries):
            f.write(f"{h}  {rel}\n")
    os.replace(tmp, os.path.join(a.dir, "SHA256SUMS"))


def cmd_readme(a):
    apps = a.apps.split()
    write_file(a.out, template("README.dist.txt", APPS=", ".join(apps), APP=apps[0], MEM=a.mem_mib,
                               VERSION=a.version))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("disk"); s.add_argument("kernel"); s.add_argument("out"); s.add_argument("--cmdline", default="")
    s = sub.add_parser("ova"); s.add_argument("disk"); s.add_argument("out"); s.add_argument("--app", required=True)
    s.add_argument("--mem-mib", type=int, required=True); s.add_argument("--version", default="unknown")
    s = sub.add_parser("hyperv"); s.add_argument("out"); s.add_argument("--app", required=True)
    s.add_argument("--mem-mib", type=int, required=True)
    s = sub.add_parser("pxe"); s.add_argument("kernel"); s.add_argument("outdir"); s.add_argument("--cmdline", default="")
    s = sub.add_parser("firecracker"); s.add_argument("kernel"); s.add_argument("outdir")
    s.add_argument("--cmdline", default=""); s.add_argument("--mem-mib", type=int, required=True)
    s = sub.add_parser("sums"); s.add_argument("dir")
    s = sub.add_parser("readme"); s.add_argument("out"); s.add_argument("--apps", required=True)
    s.add_argument("--mem-mib", type=int, required=True); s.add_argument("--version", default="unknown")
    a = p.parse_args()
    a.cmdline = getattr(a, "cmdline", "").strip()
    globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    main()
