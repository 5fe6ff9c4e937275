// PVH: struct hvm_start_info (EBX at the PVH entry). Version 0 ends after rsdp_paddr (40 bytes); version 1
// adds memmap_paddr/memmap_entries (56 bytes). Address fields of 0 mean "absent".
#include <string.h>

#include "boot/bootinfo.hpp"

namespace skerry::boot {
namespace {

using detail::le32;
using detail::le64;

constexpr size_t kMagic = 0, kVersion = 4, kCmdline = 24, kRsdp = 32, kMemmapAddr = 40, kMemmapEntries = 48;
constexpr size_t kSizeV0 = 40, kSizeV1 = 56;
constexpr size_t kMemmapEntrySize = 24;  // u64 addr, u64 size, u32 type, u32 reserved

ParseResult err(ParseError e, uint32_t offset) { return ParseResult{e, 0, offset}; }

ParseResult parse_impl(uint64_t phys, const PhysReader& mem, BootInfo& out) {
    uint8_t si[kSizeV1] = {};
    if (!mem.read(phys, si, 8)) return err(ParseError::Unreadable, 0);
    if (le32(si + kMagic) != kPvhMagic) return err(ParseError::BadMagic, kMagic);
    const uint32_t version = le32(si + kVersion);
    if (version > 1) out.warnings |= kWarnPvhNewerVersion;
    const size_t size = version >= 1 ? kSizeV1 : kSizeV0;
    if (!mem.read(phys, si, size)) return err(ParseError::Unreadable, 0);

    // Memory map (version 1 only).
    const uint64_t memmap = version >= 1 ? le64(si + kMemmapAddr) : 0;
    const uint32_t entries = version >= 1 ? le32(si + kMemmapEntries) : 0;
    if (entries > kMaxPvhMemmapEntries) return err(ParseError::MmapTooLarge, kMemmapEntries);
    if (entries > 0 && memmap == 0) return err(ParseError::MmapUnreadable, kMemmapAddr);
    for (uint32_t i = 0; memmap != 0 && i < entries; i++) {
        uint8_t e[kMemmapEntrySize];
        const uint64_t off = static_cast<uint64_t>(i) * kMemmapEntrySize;
        if (memmap + off < memmap || !mem.read(memmap + off, e, sizeof e))
            return err(ParseError::MmapUnreadable, static_cast<uint32_t>(off));
        const uint32_t type = le32(e + 16);
        detail::add_region(out, le64(e), le64(e + 8), mem_type_from_e820(type), type);
    }

    // ACPI RSDP: keep the address, and a copy when it is readable (it normally is: BIOS area or RAM).
    const uint64_t rsdp = le64(si + kRsdp);
    if (rsdp != 0) {
        out.rsdp.phys = rsdp;
        uint8_t r[36];
        if (!mem.read(rsdp, r, 20)) {
            out.warnings |= kWarnRsdpUnreadable;
        } else {
            size_t len = 20;
            if (memcmp(r, "RSD PTR ", 8) == 0 && r[15] >= 2 && mem.read(rsdp + 20, r + 20, 16)) len = 36;
            detail::store_rsdp_copy(out, r, len);
        }
    }

    const uint64_t cmdline = le64(si + kCmdline);
    if (cmdline != 0) {
        const ParseError e = detail::copy_cmdline(mem, cmdline, kMaxStringScan, out);
        if (e != ParseError::Ok) return err(e, kCmdline);
    }
    return err(ParseError::Ok, 0);
}

}  // namespace

ParseResult parse_pvh(uint64_t start_info_phys, const PhysReader& mem, BootInfo& out) {
    out.reset();
    out.protocol = Protocol::Pvh;
    out.magic = kPvhMagic;
    out.info_phys = start_info_phys;
    ParseResult r = parse_impl(start_info_phys, mem, out);
    detail::finish(out);
    return r;
}

}  // namespace skerry::boot
