// Multiboot2: a u32 total_size, u32 reserved, then 8-byte aligned tags {u32 type, u32 size, payload}
// ending with a type-0 tag. Every read stays inside total_size and inside the tag being parsed.
#include <string.h>

#include "boot/bootinfo.hpp"

namespace skerry::boot {
namespace {

using detail::le16;
using detail::le32;
using detail::le64;

enum : uint32_t {
    kTagEnd = 0,
    kTagCmdline = 1,
    kTagLoaderName = 2,
    kTagBasicMeminfo = 4,
    kTagMmap = 6,
    kTagFramebuffer = 8,
    kTagEfi32 = 11,
    kTagEfi64 = 12,
    kTagAcpiOld = 14,
    kTagAcpiNew = 15,
    kTagEfiMmap = 17,
    kTagEfiBootServices = 18,
};

constexpr uint32_t kMmapEntryMin = 24;      // u64 base, u64 length, u32 type, u32 reserved
constexpr uint32_t kEfiDescriptorMin = 40;  // UEFI EFI_MEMORY_DESCRIPTOR

ParseResult err(ParseError e, uint32_t tag, uint32_t offset) { return ParseResult{e, tag, offset}; }
ParseResult ok() { return ParseResult{ParseError::Ok, 0, 0}; }

struct Walk {
    const PhysReader& mem;
    BootInfo& out;
    uint64_t base;  // physical address of the info structure
    bool have_mmap = false;
    uint32_t efi_mmap_off = 0, efi_mmap_size = 0;  // the last tag 17, parsed after the walk
    uint32_t seen = 0;                             // tag types < 32 already seen
};

// tag 6: u32 entry_size, u32 entry_version, then entries
ParseResult parse_mmap(Walk& w, uint32_t off, uint32_t size) {
    if (size < 16) return err(ParseError::TagTooSmall, kTagMmap, off);
    uint8_t hdr[8];
    if (!w.mem.read(w.base + off + 8, hdr, 8)) return err(ParseError::Unreadable, kTagMmap, off);
    const uint32_t entry_size = le32(hdr), version = le32(hdr + 4);
    if (entry_size < kMmapEntryMin) return err(ParseError::MmapEntryTooSmall, kTagMmap, off);
    if (version != 0) w.out.warnings |= kWarnMemoryMapOdd;
    if ((size - 16) % entry_size != 0) w.out.warnings |= kWarnMemoryMapOdd;
    // The last memory map tag wins.
    w.out.firmware_map.count = 0;
    w.out.firmware_map.truncated = false;
    w.have_mmap = true;
    for (uint32_t e = 16; size - e >= entry_size; e += entry_size) {
        uint8_t buf[kMmapEntryMin];
        if (!w.mem.read(w.base + off + e, buf, sizeof buf)) return err(ParseError::MmapUnreadable, kTagMmap, off + e);
        const uint32_t type = le32(buf + 16);
        detail::add_region(w.out, le64(buf), le64(buf + 8), mem_type_from_e820(type), type);
    }
    return ok();
}

// tag 17: u32 descriptor_size, u32 descriptor_version, then EFI memory descriptors
ParseResult parse_efi_mmap(Walk& w, uint32_t off, uint32_t size) {
    uint8_t hdr[8];
    if (!w.mem.read(w.base + off + 8, hdr, 8)) return err(ParseError::Unreadable, kTagEfiMmap, off);
    const uint32_t desc_size = le32(hdr);
    if (desc_size < kEfiDescriptorMin) return err(ParseError::MmapEntryTooSmall, kTagEfiMmap, off);
    w.out.efi.memory_map_from_efi = true;
    w.out.warnings |= kWarnMemoryMapFromEfi;
    for (uint32_t e = 16; size - e >= desc_size; e += desc_size) {
        uint8_t d[kEfiDescriptorMin];
        if (!w.mem.read(w.base + off + e, d, sizeof d)) return err(ParseError::MmapUnreadable, kTagEfiMmap, off + e);
        const uint32_t type = le32(d);
        const uint64_t phys = le64(d + 8), pages = le64(d + 24);
        uint64_t length = pages << 12;
        if (pages > (~0ull >> 12)) {
            w.out.warnings |= kWarnMemoryMapOdd;
            length = ~0ull;  // add_region clamps at the top of the address space
        }
        detail::add_region(w.out, phys, length, mem_type_from_efi(type, w.out.efi.boot_services_active), type);
    }
    return ok();
}

void parse_framebuffer(Walk& w, uint32_t off, uint32_t size) {
    // Common part: u64 addr, u32 pitch, u32 width, u32 height, u8 bpp, u8 type, u16 reserved; colour info at 32.
    uint8_t t[38] = {};
    if (size < 32) {
        w.out.warnings |= kWarnFramebufferOdd;
        return;
    }
    const uint32_t avail = size < sizeof t ? size : static_cast<uint32_t>(sizeof t);
    if (!w.mem.read(w.base + off, t, avail)) {
        w.out.warnings |= kWarnFramebufferOdd;
        return;
    }
    Framebuffer fb{};
    fb.phys = le64(t + 8);
    fb.pitch = le32(t + 16);
    fb.width = le32(t + 20);
    fb.height = le32(t + 24);
    fb.bpp = t[28];
    switch (t[29]) {
    case 0:
        if (avail < 34) break;
        fb.type = FramebufferType::Indexed;
        fb.palette_colors = le16(t + 32);
        break;
    case 1:
        if (avail < 38) break;
        fb.type = FramebufferType::Rgb;
        fb.red = {t[32], t[33]};
        fb.green = {t[34], t[35]};
        fb.blue = {t[36], t[37]};
        break;
    case 2: fb.type = FramebufferType::EgaText; break;
    default: break;
    }
    if (fb.type == FramebufferType::None) {
        w.out.warnings |= kWarnFramebufferOdd;
        return;
    }
    w.out.framebuffer = fb;
}

ParseResult parse_tag(Walk& w, uint32_t type, uint32_t off, uint32_t size) {
    BootInfo& out = w.out;
    const uint64_t payload = w.base + off + 8;
    const uint32_t payload_len = size - 8;
    switch (type) {
    case kTagCmdline: {
        const ParseError e = detail::copy_cmdline(w.mem, payload, payload_len, out);
        if (e != ParseError::Ok) return err(e, type, off);
        out.args_offset = 0;  // GRUB passes only the arguments, without the image path
        return ok();
    }
    case kTagLoaderName: {
        detail::copy_loader_name(w.mem, payload, payload_len, out);
        return ok();
    }
    case kTagBasicMeminfo: {
        uint8_t m[8];
        if (payload_len < 8 || !w.mem.read(payload, m, 8)) {
            out.warnings |= kWarnShortTag;
            return ok();
        }
        out.have_basic_meminfo = true;
        out.mem_lower_kib = le32(m);
        out.mem_upper_kib = le32(m + 4);
        return ok();
    }
    case kTagMmap: return parse_mmap(w, off, size);
    case kTagFramebuffer: parse_framebuffer(w, off, size); return ok();
    case kTagEfi32:
    case kTagEfi64: {
        const uint32_t len = type == kTagEfi32 ? 4 : 8;
        uint8_t p[8] = {};
        if (payload_len < len || !w.mem.read(payload, p, len)) {
            out.warnings |= kWarnShortTag;
            return ok();
        }
        if (type == kTagEfi32 && out.efi.system_table_bits == 64) return ok();  // prefer the 64-bit one
        out.efi.system_table = type == kTagEfi32 ? le32(p) : le64(p);
        out.efi.system_table_bits = static_cast<uint8_t>(len * 8);
        return ok();
    }
    case kTagAcpiOld:
    case kTagAcpiNew: {
        uint8_t r[36];
        const uint32_t len = payload_len < sizeof r ? payload_len : static_cast<uint32_t>(sizeof r);
        if (!w.mem.read(payload, r, len)) {
            out.warnings |= kWarnRsdpBad;
            return ok();
        }
        detail::store_rsdp_copy(out, r, len);
        return ok();
    }
    case kTagEfiMmap:
        if (size < 16) return err(ParseError::TagTooSmall, type, off);
        w.efi_mmap_off = off;
        w.efi_mmap_size = size;
        return ok();
    case kTagEfiBootServices: out.efi.boot_services_active = true; return ok();
    default: return ok();  // modules, ELF sections, APM, VBE, network, image handles, load base: not needed
    }
}

ParseResult parse_impl(Walk& w) {
    if (w.base & 7) return err(ParseError::Misaligned, 0, 0);
    uint8_t hdr[8];
    if (!w.mem.read(w.base, hdr, 8)) return err(ParseError::Unreadable, 0, 0);
    const uint32_t total = le32(hdr);
    if (total < 16) return err(ParseError::TotalSizeTooSmall, 0, 0);
    if (total > kMaxMb2Size) return err(ParseError::TotalSizeTooLarge, 0, 0);

    uint32_t off = 8;
    for (;;) {
        if (off > total || total - off < 8) return err(ParseError::MissingEndTag, 0, off);
        if (!w.mem.read(w.base + off, hdr, 8)) return err(ParseError::Unreadable, 0, off);
        const uint32_t type = le32(hdr), size = le32(hdr + 4);
        if (size < 8) return err(ParseError::TagTooSmall, type, off);
        if (size > total - off) return err(ParseError::TagOverrun, type, off);
        if (type == kTagEnd) break;
        if (type < 32) {
            constexpr uint32_t kSingle = (1u << kTagCmdline) | (1u << kTagLoaderName) | (1u << kTagBasicMeminfo) |
                                         (1u << kTagMmap) | (1u << kTagFramebuffer) | (1u << kTagEfi32) |
                                         (1u << kTagEfi64) | (1u << kTagAcpiOld) | (1u << kTagAcpiNew) |
                                         (1u << kTagEfiMmap);
            if ((w.seen & kSingle & (1u << type)) != 0) w.out.warnings |= kWarnDuplicateTag;
            w.seen |= 1u << type;
        }
        ParseResult r = parse_tag(w, type, off, size);
        if (!r.ok()) return r;
        off += (size + 7) & ~7u;  // size <= total - off <= 1 MiB: no overflow
    }

    // After the walk, because tag 18 (boot services still active) may follow tag 17.
    if (!w.have_mmap && w.efi_mmap_size != 0) {
        ParseResult r = parse_efi_mmap(w, w.efi_mmap_off, w.efi_mmap_size);
        if (!r.ok()) return r;
    }
    if (!w.have_mmap && w.efi_mmap_size == 0) detail::add_legacy_regions(w.out);
    return ok();
}

}  // namespace

ParseResult parse_multiboot2(uint64_t info_phys, const PhysReader& mem, BootInfo& out) {
    out.reset();
    out.protocol = Protocol::Multiboot2;
    out.magic = kMultiboot2Magic;
    out.info_phys = info_phys;
    Walk w{mem, out, info_phys};
    ParseResult r = parse_impl(w);
    detail::finish(out);
    return r;
}

}  // namespace skerry::boot
