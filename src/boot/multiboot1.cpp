// Multiboot1: the multiboot_info structure (EBX when EAX = 0x2BADB002). Field presence is given by `flags`;
// only the part of the structure the flags declare is read.
#include <string.h>

#include "boot/bootinfo.hpp"

namespace skerry::boot {
namespace {

using detail::le16;
using detail::le32;
using detail::le64;

// multiboot_info offsets
constexpr size_t kFlags = 0, kMemLower = 4, kMemUpper = 8, kCmdline = 16, kMmapLength = 44, kMmapAddr = 48,
                 kLoaderName = 64, kFbAddr = 88, kFbPitch = 96, kFbWidth = 100, kFbHeight = 104, kFbBpp = 108,
                 kFbType = 109, kFbColor = 110;
constexpr size_t kInfoSize = 116;

// Bytes of multiboot_info needed when flag bit i is the highest one set (bits 0..12).
constexpr uint8_t kNeeded[13] = {12, 16, 20, 28, 44, 44, 52, 60, 64, 68, 72, 88, 116};

constexpr uint32_t kFlagMem = 1u << 0, kFlagCmdline = 1u << 2, kFlagAout = 1u << 4, kFlagElf = 1u << 5,
                   kFlagMmap = 1u << 6, kFlagLoaderName = 1u << 9, kFlagFramebuffer = 1u << 12;

constexpr uint32_t kMmapEntryMin = 20;  // u64 base, u64 length, u32 type (after the u32 size field)

ParseResult err(ParseError e, uint32_t offset) { return ParseResult{e, 0, offset}; }

ParseResult parse_mmap(uint32_t addr, uint32_t length, const PhysReader& mem, BootInfo& out) {
    if (length > kMaxMb1MmapLength) return err(ParseError::MmapTooLarge, 0);
    uint32_t off = 0;
    while (off < length) {
        if (length - off < 4) return err(ParseError::MmapOverrun, off);
        uint8_t buf[4 + kMmapEntryMin];
        if (!mem.read(static_cast<uint64_t>(addr) + off, buf, 4)) return err(ParseError::MmapUnreadable, off);
        const uint32_t size = le32(buf);  // size of the entry, not counting this field
        if (size < kMmapEntryMin) return err(ParseError::MmapEntryTooSmall, off);
        if (size > length - off - 4) return err(ParseError::MmapOverrun, off);
        if (!mem.read(static_cast<uint64_t>(addr) + off + 4, buf + 4, kMmapEntryMin))
            return err(ParseError::MmapUnreadable, off);
        const uint32_t type = le32(buf + 20);
        detail::add_region(out, le64(buf + 4), le64(buf + 12), mem_type_from_e820(type), type);
        off += 4 + size;
    }
    return err(ParseError::Ok, 0);
}

void parse_framebuffer(const uint8_t* info, BootInfo& out) {
    Framebuffer& fb = out.framebuffer;
    fb.phys = le64(info + kFbAddr);
    fb.pitch = le32(info + kFbPitch);
    fb.width = le32(info + kFbWidth);
    fb.height = le32(info + kFbHeight);
    fb.bpp = info[kFbBpp];
    const uint8_t* c = info + kFbColor;
    switch (info[kFbType]) {
    case 0:
        fb.type = FramebufferType::Indexed;
        fb.palette_colors = le16(c + 4);  // u32 palette address, u16 number of colours
        break;
    case 1:
        fb.type = FramebufferType::Rgb;
        fb.red = {c[0], c[1]};
        fb.green = {c[2], c[3]};
        fb.blue = {c[4], c[5]};
        break;
    case 2: fb.type = FramebufferType::EgaText; break;
    default:
        out.warnings |= kWarnFramebufferOdd;
        fb = Framebuffer{};
        break;
    }
}

ParseResult parse_impl(uint64_t info_phys, const PhysReader& mem, BootInfo& out) {
    uint8_t info[kInfoSize] = {};
    if (!mem.read(info_phys, info, 4)) return err(ParseError::Unreadable, 0);
    const uint32_t flags = le32(info + kFlags);
    size_t needed = 4;
    for (int bit = 0; bit < 13; bit++)
        if (flags & (1u << bit)) needed = kNeeded[bit];
    if (!mem.read(info_phys, info, needed)) return err(ParseError::Unreadable, 0);

    if ((flags & kFlagAout) && (flags & kFlagElf)) out.warnings |= kWarnMb1FlagsOdd;
    if (flags & kFlagMem) {
        out.have_basic_meminfo = true;
        out.mem_lower_kib = le32(info + kMemLower);
        out.mem_upper_kib = le32(info + kMemUpper);
    }

    // Most important first: the memory map, then the rest, so an error late still leaves a usable map.
    if (flags & kFlagMmap) {
        ParseResult r = parse_mmap(le32(info + kMmapAddr), le32(info + kMmapLength), mem, out);
        if (!r.ok()) return r;
    } else {
        detail::add_legacy_regions(out);
    }

    if (flags & kFlagFramebuffer) parse_framebuffer(info, out);

    if (flags & kFlagLoaderName) detail::copy_loader_name(mem, le32(info + kLoaderName), kCmdlineSize, out);

    if (flags & kFlagCmdline) {
        const ParseError e = detail::copy_cmdline(mem, le32(info + kCmdline), kMaxStringScan, out);
        if (e != ParseError::Ok) return err(e, kCmdline);
        detail::set_cmdline_args_offset(out);
    }
    return err(ParseError::Ok, 0);
}

}  // namespace

ParseResult parse_multiboot1(uint64_t info_phys, const PhysReader& mem, BootInfo& out) {
    out.reset();
    out.protocol = Protocol::Multiboot1;
    out.magic = kMultiboot1Magic;
    out.info_phys = info_phys;
    ParseResult r = parse_impl(info_phys, mem, out);
    detail::finish(out);
    return r;
}

}  // namespace skerry::boot
