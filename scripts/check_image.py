#!/usr/bin/env python3
"""Check the invariants every loader relies on in a Skerry kernel image.

- every PT_LOAD has file offset == address - load base (Multiboot1 a.out-kludge fields are then valid);
- a Multiboot1 header in the first 8 KiB (4-byte aligned, checksum, address fields matching the ELF);
- a Multiboot2 header in the first 32 KiB (8-byte aligned, checksum);
- a PVH note (Xen, type 18) in its own PT_NOTE with p_align 4, pointing into the text;
- no instruction addresses memory through %fs or %gs: the kernel sets no FS/GS base, so such an access
  (typically a stack-protector canary read from %fs:0x28, when code was built without
  -mstack-protector-guard=global) would fault;
- with --same-text-as FIRST: the text symbols have the same addresses as in the first link.
Exits non-zero with a message naming the broken invariant."""
import argparse
import struct
import subprocess
import sys

LOAD_BASE = 0x200000


def fail(msg):
    sys.exit(f"check_image: {msg}")


def phdrs(data):
    if data[:4] != b"\x7fELF" or data[4] != 2:
        fail("not an ELF64 file")
    e_phoff, = struct.unpack_from("<Q", data, 0x20)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    out = []
    for i in range(e_phnum):
        p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = struct.unpack_from(
            "<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        out.append(dict(type=p_type, offset=p_offset, vaddr=p_vaddr, paddr=p_paddr, filesz=p_filesz,
                        memsz=p_memsz, align=p_align))
    return out


def text_symbols(path):
    out = subprocess.run(["nm", "--defined-only", path], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            syms[parts[2]] = int(parts[0], 16)
    return syms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("elf")
    ap.add_argument("--same-text-as")
    args = ap.parse_args()
    data = open(args.elf, "rb").read()
    ph = phdrs(data)
    loads = [p for p in ph if p["type"] == 1]
    if not loads:
        fail("no PT_LOAD segments")
    for p in loads:
        if p["vaddr"] != p["paddr"]:
            fail(f"segment at {p['vaddr']:#x} has a different physical address")
        if p["vaddr"] - p["offset"] != LOAD_BASE:
            fail(f"segment at {p['vaddr']:#x} has file offset {p['offset']:#x}: Multiboot1 needs offset == address - {LOAD_BASE:#x}")
    load_end = max(p["vaddr"] + p["filesz"] for p in loads)
    mem_end = max(p["vaddr"] + p["memsz"] for p in loads)

    mb1 = None
    for off in range(0, min(8192, len(data)) - 12, 4):
        magic, flags, csum = struct.unpack_from("<III", data, off)
        if magic == 0x1BADB002 and (magic + flags + csum) & 0xFFFFFFFF == 0:
            mb1 = (off, flags)
            break
    if not mb1:
        fail("no valid Multiboot1 header in the first 8 KiB")
    off, flags = mb1
    if flags & 0x10000:
        header_addr, load_addr, load_end_addr, bss_end_addr, entry = struct.unpack_from("<IIIII", data, off + 12)
        if header_addr - load_addr != off:
            fail("Multiboot1 header_addr/load_addr do not match the header's file offset")
        if load_addr != LOAD_BASE or load_end_addr < load_end or bss_end_addr < mem_end:
            fail(f"Multiboot1 address fields {load_addr:#x}..{load_end_addr:#x}/{bss_end_addr:#x} do not cover the image")
        if load_end_addr - load_addr > len(data):
            fail("Multiboot1 load_end_addr lies beyond the end of the file")

    mb2 = False
    for off in range(0, min(32768, len(data)) - 16, 8):
        magic, arch, length, csum = struct.unpack_from("<IIII", data, off)
        if magic == 0xE85250D6 and (magic + arch + length + csum) & 0xFFFFFFFF == 0:
            mb2 = True
            break
    if not mb2:
        fail("no valid Multiboot2 header in the first 32 KiB")

    notes = [p for p in ph if p["type"] == 4]
    pvh = False
    for p in notes:
        if p["align"] != 4:
            fail(f"PT_NOTE p_align is {p['align']}; QEMU needs 4")
        pos, end = p["offset"], p["offset"] + p["filesz"]
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = data[pos + 12:pos + 12 + namesz]
            desc_off = pos + 12 + ((namesz + 3) & ~3)
            if name.rstrip(b"\0") == b"Xen" and ntype == 18 and descsz >= 4:
                entry, = struct.unpack_from("<I", data, desc_off)
                if not any(l["vaddr"] <= entry < l["vaddr"] + l["filesz"] for l in loads):
                    fail(f"PVH entry {entry:#x} is outside the loaded image")
                pvh = True
            pos = desc_off + ((descsz + 3) & ~3)
    if not pvh:
        fail("no PVH (Xen PHYS32_ENTRY) note")

    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", args.elf], check=True, capture_output=True,
                         text=True).stdout
    func = "?"
    for line in dis.splitlines():
        if line.endswith(">:"):
            func = line.split("<", 1)[-1][:-2]
        elif "%fs:" in line or "%gs:" in line:
            fail(f"{func} addresses memory through a segment base the kernel never sets: {line.strip()} "
                 "(was it built with -mstack-protector-guard=global?)")

    if args.same_text_as:
        a, b = text_symbols(args.same_text_as), text_symbols(args.elf)
        moved = [n for n in a if n in b and a[n] != b[n]]
        if moved:
            fail(f"text symbols moved between the two links (e.g. {moved[0]}): backtraces would be wrong")


if __name__ == "__main__":
    main()
