// Boot information: the protocol-independent parts (reader, memory map, strings, RSDP, dispatch).
// The protocol parsers are in multiboot1.cpp, multiboot2.cpp and pvh.cpp.
#include "boot/bootinfo.hpp"

#include <string.h>

#include "hw/hw.hpp"

namespace skerry::boot {

bool IdentityPhysReader::read(uint64_t phys, void* dst, size_t len) const {
    if (len == 0) return true;
    if (phys < lo_ || phys >= hi_ || len > hi_ - phys) return false;
    const void* src = hw::phys_to_virt(phys, len);
    if (src == nullptr) return false;
    memcpy(dst, src, len);
    return true;
}

const char* protocol_name(Protocol p) {
    switch (p) {
    case Protocol::Multiboot1: return "Multiboot1";
    case Protocol::Multiboot2: return "Multiboot2";
    case Protocol::Pvh: return "PVH";
    case Protocol::None: break;
    }
    return "none";
}

const char* mem_type_name(MemType t) {
    switch (t) {
    case MemType::Usable: return "usable";
    case MemType::Reserved: return "reserved";
    case MemType::AcpiReclaimable: return "ACPI reclaimable";
    case MemType::AcpiNvs: return "ACPI NVS";
    case MemType::Bad: return "bad";
    }
    return "?";
}

MemType mem_type_from_e820(uint32_t type) {
    switch (type) {
    case 1: return MemType::Usable;
    case 3: return MemType::AcpiReclaimable;
    case 4: return MemType::AcpiNvs;
    case 5: return MemType::Bad;
    default: return MemType::Reserved;
    }
}

MemType mem_type_from_efi(uint32_t type, bool boot_services_active) {
    switch (type) {
    case 1:  // EfiLoaderCode
    case 2:  // EfiLoaderData
    case 7:  // EfiConventionalMemory
        return MemType::Usable;
    case 3:  // EfiBootServicesCode
    case 4:  // EfiBootServicesData
        return boot_services_active ? MemType::Reserved : MemType::Usable;
    case 8: return MemType::Bad;              // EfiUnusableMemory
    case 9: return MemType::AcpiReclaimable;  // EfiACPIReclaimMemory
    case 10: return MemType::AcpiNvs;         // EfiACPIMemoryNVS
    default: return MemType::Reserved;        // runtime services, MMIO, PAL code, persistent, ...
    }
}

bool MemoryMap::add(uint64_t base, uint64_t length, MemType type, uint32_t raw_type) {
    if (length == 0) return true;
    if (count > 0) {
        MemRegion& last = entries[count - 1];
        if (last.type == type && last.base + last.length == base && base + length >= base &&
            last.length + length >= last.length) {
            last.length += length;
            return true;
        }
    }
    if (count >= kMaxMemRegions) {
        truncated = true;
        return false;
    }
    entries[count++] = MemRegion{base, length, type, raw_type};
    return true;
}

uint64_t MemoryMap::total(MemType type) const {
    uint64_t sum = 0;
    for (size_t i = 0; i < count; i++)
        if (entries[i].type == type) sum += entries[i].length;
    return sum;
}

namespace {
int priority(MemType t) {
    switch (t) {
    case MemType::Usable: return 0;
    case MemType::AcpiReclaimable: return 1;
    case MemType::AcpiNvs: return 2;
    case MemType::Reserved: return 3;
    case MemType::Bad: return 4;
    }
    return 3;
}
constexpr uint64_t kMaxEnd = ~0ull;
uint64_t clamped_end(const MemRegion& r) { return r.length > kMaxEnd - r.base ? kMaxEnd : r.base + r.length; }
}  // namespace

size_t sanitize_memory_map(const MemoryMap& in, MemoryMap& out) {
    out.count = 0;
    out.truncated = in.truncated;
    size_t overlaps = 0;
    const size_t n = in.count < kMaxMemRegions ? in.count : kMaxMemRegions;

    // Sweep the boundaries from low to high. At each point p, the regions covering [p, next) decide its type.
    bool any = false;
    uint64_t p = kMaxEnd;
    for (size_t i = 0; i < n; i++) {
        const MemRegion& r = in.entries[i];
        if (r.length == 0 || clamped_end(r) == r.base) continue;
        any = true;
        if (r.base < p) p = r.base;
    }
    if (!any) return 0;

    for (;;) {
        int best = -1;
        size_t best_idx = 0, covering = 0;
        uint64_t next = kMaxEnd;
        for (size_t i = 0; i < n; i++) {
            const MemRegion& r = in.entries[i];
            const uint64_t end = clamped_end(r);
            if (r.length == 0 || end == r.base) continue;
            if (r.base <= p && p < end) {
                covering++;
                if (priority(r.type) > best) {
                    best = priority(r.type);
                    best_idx = i;
                }
                if (end < next) next = end;
            } else if (r.base > p && r.base < next) {
                next = r.base;
            }
        }
        if (covering == 0) {
            if (next == kMaxEnd) break;  // nothing above p
            p = next;
            continue;
        }
        if (covering > 1) overlaps++;
        const MemRegion& w = in.entries[best_idx];
        MemRegion* last = out.count ? &out.entries[out.count - 1] : nullptr;
        if (last && last->type == w.type && last->base + last->length == p) {
            last->length += next - p;
        } else if (out.count < kMaxMemRegions) {
            out.entries[out.count++] = MemRegion{p, next - p, w.type, w.raw_type};
        } else {
            out.truncated = true;
            break;
        }
        if (next == kMaxEnd) break;
        p = next;
    }
    return overlaps;
}

const char* warning_text(uint32_t w) {
    switch (w) {
    case kWarnCmdlineTruncated: return "command line too long, truncated";
    case kWarnLoaderNameTruncated: return "loader name too long, truncated";
    case kWarnLoaderNameBad: return "loader name unreadable or unterminated, ignored";
    case kWarnMemoryMapTruncated: return "memory map has too many entries, the rest were dropped";
    case kWarnMemoryMapLegacy: return "no memory map: using mem_lower/mem_upper";
    case kWarnNoMemoryMap: return "no memory information from the loader";
    case kWarnMemoryMapOverlap: return "memory map has overlapping entries (the non-usable type wins)";
    case kWarnMemoryMapOdd: return "memory map has empty, wrapping or odd entries";
    case kWarnDuplicateTag: return "a Multiboot2 tag was given more than once (the last wins)";
    case kWarnFramebufferOdd: return "framebuffer info short or of unknown type, ignored";
    case kWarnRsdpBad: return "ACPI RSDP copy short, or bad signature/checksum";
    case kWarnRsdpUnreadable: return "ACPI RSDP address given but unreadable";
    case kWarnPvhNewerVersion: return "hvm_start_info version newer than 1, parsed as version 1";
    case kWarnMemoryMapFromEfi: return "memory map taken from the EFI memory map";
    case kWarnShortTag: return "a Multiboot2 tag was shorter than its fields, ignored";
    case kWarnMb1FlagsOdd: return "Multiboot1 flags claim both a.out and ELF symbols";
    default: return nullptr;
    }
}

const char* parse_error_text(ParseError e) {
    switch (e) {
    case ParseError::Ok: return "ok";
    case ParseError::UnknownMagic: return "unknown boot protocol magic";
    case ParseError::Unreadable: return "boot information structure unreadable";
    case ParseError::Misaligned: return "boot information not 8-byte aligned";
    case ParseError::BadMagic: return "bad hvm_start_info magic";
    case ParseError::TotalSizeTooSmall: return "Multiboot2 total_size too small";
    case ParseError::TotalSizeTooLarge: return "Multiboot2 total_size implausibly large";
    case ParseError::TagTooSmall: return "tag smaller than its header or fixed fields";
    case ParseError::TagOverrun: return "tag runs past total_size";
    case ParseError::MissingEndTag: return "no end tag";
    case ParseError::MmapEntryTooSmall: return "memory map entry size smaller than an entry";
    case ParseError::MmapOverrun: return "memory map entry runs past the map";
    case ParseError::MmapTooLarge: return "memory map implausibly large";
    case ParseError::MmapUnreadable: return "memory map unreadable";
    case ParseError::CmdlineUnreadable: return "command line unreadable";
    case ParseError::CmdlineUnterminated: return "command line not NUL-terminated";
    }
    return "?";
}

void BootInfo::reset() { memset(static_cast<void*>(this), 0, sizeof *this); }

namespace detail {

StrStatus copy_phys_string(const PhysReader& mem, uint64_t phys, size_t scan_limit, char* buf, size_t size,
                           size_t* len_out) {
    size_t copied = 0, n = 0;
    StrStatus st = StrStatus::Unterminated;
    bool done = false;
    while (!done && n < scan_limit) {
        const uint64_t addr = phys + n;
        if (addr < phys) {  // wrapped around the address space
            st = StrStatus::Unreadable;
            break;
        }
        // 64-byte aligned chunks never cross a page, so a readable string is never refused because the
        // chunk after its NUL is unmapped. If a chunk fails anyway, retry it byte by byte.
        size_t chunk = 64 - static_cast<size_t>(addr & 63);
        if (chunk > scan_limit - n) chunk = scan_limit - n;
        uint8_t tmp[64];
        bool unreadable = false;
        if (!mem.read(addr, tmp, chunk)) {
            for (size_t i = 0; i < chunk; i++) {
                if (!mem.read(addr + i, &tmp[i], 1)) {
                    chunk = i;
                    unreadable = true;
                    break;
                }
            }
        }
        for (size_t i = 0; i < chunk; i++, n++) {
            if (tmp[i] == 0) {
                st = StrStatus::Ok;
                done = true;
                break;
            }
            if (copied + 1 < size) buf[copied++] = static_cast<char>(tmp[i]);
        }
        if (!done && unreadable) {
            st = StrStatus::Unreadable;
            break;
        }
    }
    buf[copied] = '\0';
    if (st == StrStatus::Ok && n > copied) st = StrStatus::Truncated;
    if (len_out) *len_out = copied;
    return st;
}

void add_region(BootInfo& out, uint64_t base, uint64_t length, MemType type, uint32_t raw_type) {
    if (length == 0) {
        out.warnings |= kWarnMemoryMapOdd;
        return;
    }
    if (length > kMaxEnd - base) {
        out.warnings |= kWarnMemoryMapOdd;
        length = kMaxEnd - base;
        if (length == 0) return;
    }
    if (!out.firmware_map.add(base, length, type, raw_type)) out.warnings |= kWarnMemoryMapTruncated;
}

void add_legacy_regions(BootInfo& out) {
    if (!out.have_basic_meminfo) return;
    out.warnings |= kWarnMemoryMapLegacy;
    uint64_t lower = static_cast<uint64_t>(out.mem_lower_kib) * 1024;
    if (lower > 0xA0000) lower = 0xA0000;  // conventional memory ends at 640 KiB whatever the loader says
    add_region(out, 0, lower, MemType::Usable, 1);
    add_region(out, 0x100000, static_cast<uint64_t>(out.mem_upper_kib) * 1024, MemType::Usable, 1);
}

ParseError copy_cmdline(const PhysReader& mem, uint64_t phys, size_t scan_limit, BootInfo& out) {
    const StrStatus st = copy_phys_string(mem, phys, scan_limit, out.cmdline, sizeof out.cmdline, &out.cmdline_len);
    if (st == StrStatus::Unreadable || st == StrStatus::Unterminated) {
        out.cmdline[0] = '\0';
        out.cmdline_len = 0;
        out.have_cmdline = false;
        return st == StrStatus::Unreadable ? ParseError::CmdlineUnreadable : ParseError::CmdlineUnterminated;
    }
    if (st == StrStatus::Truncated) out.warnings |= kWarnCmdlineTruncated;
    out.have_cmdline = true;
    return ParseError::Ok;
}

void copy_loader_name(const PhysReader& mem, uint64_t phys, size_t scan_limit, BootInfo& out) {
    const StrStatus st = copy_phys_string(mem, phys, scan_limit, out.loader_name, sizeof out.loader_name, nullptr);
    out.have_loader_name = st == StrStatus::Ok || st == StrStatus::Truncated;
    if (st == StrStatus::Truncated) out.warnings |= kWarnLoaderNameTruncated;
    if (!out.have_loader_name) {
        out.loader_name[0] = '\0';
        out.warnings |= kWarnLoaderNameBad;
    }
}

void set_cmdline_args_offset(BootInfo& out) {
    const char* s = out.cmdline;
    size_t i = 0;
    while (s[i] == ' ' || s[i] == '\t') i++;
    const size_t start = i;
    bool has_eq = false, looks_like_path = false;
    while (s[i] != '\0' && s[i] != ' ' && s[i] != '\t') {
        if (s[i] == '=') has_eq = true;
        if (s[i] == '/' || s[i] == '.') looks_like_path = true;
        i++;
    }
    if (i == start || has_eq || !looks_like_path) {
        out.args_offset = 0;
        return;
    }
    while (s[i] == ' ' || s[i] == '\t') i++;
    out.args_offset = i;
}

void store_rsdp_copy(BootInfo& out, const uint8_t* bytes, size_t len) {
    if (len < 20 || memcmp(bytes, "RSD PTR ", 8) != 0) {
        out.warnings |= kWarnRsdpBad;
        return;
    }
    const uint8_t revision = bytes[15];
    const size_t copy_len = (revision >= 2 && len >= 36) ? 36 : 20;
    if (out.rsdp.copy_len > copy_len) return;  // keep the v2 copy we already have
    uint8_t sum = 0;
    for (size_t i = 0; i < 20; i++) sum = static_cast<uint8_t>(sum + bytes[i]);
    bool ok = sum == 0;
    if (copy_len == 36) {
        uint8_t ext = 0;
        for (size_t i = 0; i < 36; i++) ext = static_cast<uint8_t>(ext + bytes[i]);
        ok = ok && ext == 0;
    }
    memset(out.rsdp.bytes, 0, sizeof out.rsdp.bytes);
    memcpy(out.rsdp.bytes, bytes, copy_len);
    out.rsdp.copy_len = static_cast<uint8_t>(copy_len);
    out.rsdp.revision = revision;
    out.rsdp.checksum_ok = ok;
    if (!ok) out.warnings |= kWarnRsdpBad;
}

void finish(BootInfo& out) {
    if (out.firmware_map.truncated) out.warnings |= kWarnMemoryMapTruncated;
    if (sanitize_memory_map(out.firmware_map, out.memory_map) > 0) out.warnings |= kWarnMemoryMapOverlap;
    if (out.memory_map.truncated) out.warnings |= kWarnMemoryMapTruncated;
    if (out.memory_map.count == 0) out.warnings |= kWarnNoMemoryMap;
}

}  // namespace detail

ParseResult parse(uint32_t magic, uint64_t info_phys, const PhysReader& mem, BootInfo& out) {
    switch (magic) {
    case kMultiboot1Magic: return parse_multiboot1(info_phys, mem, out);
    case kMultiboot2Magic: return parse_multiboot2(info_phys, mem, out);
    case kPvhMagic: return parse_pvh(info_phys, mem, out);
    default:
        out.reset();
        out.magic = magic;
        out.info_phys = info_phys;
        return ParseResult{ParseError::UnknownMagic, 0, 0};
    }
}

}  // namespace skerry::boot
