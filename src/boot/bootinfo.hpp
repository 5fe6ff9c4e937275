// Boot information, normalised from the three entry protocols Skerry supports:
//   Multiboot1 (EAX = 0x2BADB002, EBX -> multiboot_info), Multiboot2 (EAX = 0x36D76289, EBX -> tag list)
//   and PVH (EBX -> hvm_start_info, magic 0x336EC578).
//
// Everything the kernel needs is COPIED into BootInfo: the memory map, the command line, the loader name,
// framebuffer facts and a copy of the ACPI RSDP. Once a parse_*() call has returned, nothing the loader left
// in memory is referenced any more, so the page allocator does not need to avoid the loader's structures
// (it must only run after parsing). BootInfo lives in static storage (it is ~10 KiB); the parsers use a few
// hundred bytes of stack and no heap.
//
// The parsers read guest-physical memory only through a PhysReader, never outside the sizes the structures
// declare, so a malformed structure yields a ParseResult error (or a warning bit) and never a wild access.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/bytes.hpp"

namespace skerry::boot {

inline constexpr uint32_t kMultiboot1Magic = 0x2BADB002;  // EAX at entry from a Multiboot1 loader
inline constexpr uint32_t kMultiboot2Magic = 0x36D76289;  // EAX at entry from a Multiboot2 loader
inline constexpr uint32_t kPvhMagic = 0x336EC578;         // hvm_start_info.magic (the entry stub also uses it)

// Reads guest-physical memory. Returns false (and may leave dst partially written) if any byte of
// [phys, phys + len) is not readable. Implementations must handle phys + len overflowing.
class PhysReader {
public:
    virtual bool read(uint64_t phys, void* dst, size_t len) const = 0;

protected:
    ~PhysReader() = default;
};

// The kernel's reader: physical memory is identity mapped (the boot stub maps the first 4 GiB). Reads
// outside [lo, hi) fail; the default keeps page 0 (null-pointer guard) and everything above 4 GiB out.
// In host tests the access goes through hw::phys_to_virt(), i.e. the installed hw::Model.
class IdentityPhysReader final : public PhysReader {
public:
    constexpr IdentityPhysReader(uint64_t lo = 0x1000, uint64_t hi = 0x1'0000'0000ull) : lo_(lo), hi_(hi) {}
    bool read(uint64_t phys, void* dst, size_t len) const override;

private:
    uint64_t lo_, hi_;
};

enum class Protocol : uint8_t { None = 0, Multiboot1, Multiboot2, Pvh };
const char* protocol_name(Protocol p);

// ---------------------------------------------------------------------------------------------- memory
enum class MemType : uint8_t { Usable = 0, Reserved, AcpiReclaimable, AcpiNvs, Bad };
const char* mem_type_name(MemType t);
// E820 / Multiboot / PVH type numbers: 1 usable, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad;
// anything else is Reserved.
MemType mem_type_from_e820(uint32_t type);
// UEFI memory descriptor types. Boot-services code/data count as usable only once boot services exited.
MemType mem_type_from_efi(uint32_t type, bool boot_services_active);

struct MemRegion {
    uint64_t base;
    uint64_t length;  // never 0 in a sanitized map; base + length never wraps (clamped to 2^64 - 1)
    MemType type;
    uint32_t raw_type;  // the loader's type number (E820 or EFI), for the log
    uint64_t end() const { return base + length; }
};

inline constexpr size_t kMaxMemRegions = 128;

struct MemoryMap {
    MemRegion entries[kMaxMemRegions];
    size_t count;
    bool truncated;  // more regions than kMaxMemRegions: the tail was dropped

    // Appends a region; a region that starts where the previous one ends and has the same type is merged
    // into it (keeping the first raw_type). Zero-length regions are ignored. Returns false (and sets
    // truncated) when full.
    bool add(uint64_t base, uint64_t length, MemType type, uint32_t raw_type);
    uint64_t total(MemType type) const;  // bytes of this type (sanitized maps: no double counting)
};

// Sorts by base, drops zero-length regions, clamps regions that wrap past 2^64, and resolves overlaps:
// in a range claimed by several regions the most restrictive type wins, in the order
//   Usable < AcpiReclaimable < AcpiNvs < Reserved < Bad
// (so any non-usable claim beats Usable). Adjacent regions of the same type are merged.
// `out` must not alias `in`. Returns the number of overlapping ranges that had to be resolved.
size_t sanitize_memory_map(const MemoryMap& in, MemoryMap& out);

// ------------------------------------------------------------------------------------------ framebuffer
enum class FramebufferType : uint8_t { None = 0, Indexed, Rgb, EgaText };

struct ColorField {
    uint8_t position, size;  // bit position and width of the channel in a pixel (RGB only)
};

struct Framebuffer {
    FramebufferType type;  // None: no framebuffer information
    uint64_t phys;
    uint32_t pitch;          // bytes per line (EGA text: bytes per row of characters)
    uint32_t width, height;  // pixels (EGA text: characters)
    uint8_t bpp;
    ColorField red, green, blue;  // Rgb
    uint32_t palette_colors;      // Indexed: number of palette entries (the palette itself is not copied)
};

// ---------------------------------------------------------------------------------------------- ACPI
struct Rsdp {
    uint64_t phys;      // where the RSDP is, 0 = unknown (Multiboot2 only gives a copy; PVH may give 0)
    uint8_t bytes[36];  // copy of the RSDP (v1: 20 bytes, v2+: 36 bytes), valid when copy_len != 0
    uint8_t copy_len;   // 0 = no copy
    uint8_t revision;   // from the copy
    bool checksum_ok;   // the copy's checksum(s) verified
};

struct Efi {
    uint64_t system_table;      // physical address, 0 = none (Multiboot2 tags 11/12)
    uint8_t system_table_bits;  // 32 or 64, 0 = none
    bool boot_services_active;  // Multiboot2 tag 18: ExitBootServices() was not called
    bool memory_map_from_efi;   // the memory map came from the EFI memory map (tag 17), not tag 6
};

// ------------------------------------------------------------------------------------------- warnings
// Non-fatal oddities, one bit each in BootInfo::warnings, for the kernel to log (warning_text()).
enum Warning : uint32_t {
    kWarnCmdlineTruncated = 1u << 0,  // longer than kCmdlineSize - 1 bytes
    kWarnLoaderNameTruncated = 1u << 1,
    kWarnLoaderNameBad = 1u << 2,       // unreadable or unterminated loader name, left empty
    kWarnMemoryMapTruncated = 1u << 3,  // more than kMaxMemRegions entries
    kWarnMemoryMapLegacy = 1u << 4,     // no memory map: built from mem_lower/mem_upper
    kWarnNoMemoryMap = 1u << 5,         // no memory information at all
    kWarnMemoryMapOverlap = 1u << 6,    // overlapping regions (resolved, non-usable wins)
    kWarnMemoryMapOdd = 1u << 7,        // zero-length or wrapping entries, unknown entry version
    kWarnDuplicateTag = 1u << 8,        // a Multiboot2 tag given twice; the last wins
    kWarnFramebufferOdd = 1u << 9,      // unknown framebuffer type or short framebuffer info
    kWarnRsdpBad = 1u << 10,            // RSDP copy too short, bad signature or bad checksum
    kWarnRsdpUnreadable = 1u << 11,     // PVH rsdp_paddr could not be read (address kept)
    kWarnPvhNewerVersion = 1u << 12,    // hvm_start_info version > 1, parsed as version 1
    kWarnMemoryMapFromEfi = 1u << 13,   // no Multiboot2 memory map tag: the EFI memory map was used
    kWarnShortTag = 1u << 14,           // a Multiboot2 tag shorter than its fixed fields, ignored
    kWarnMb1FlagsOdd = 1u << 15,        // Multiboot1 flags with both a.out and ELF symbols (bits 4, 5)
};
inline constexpr int kWarningBits = 16;
const char* warning_text(uint32_t warning_bit);  // one bit; nullptr for an unknown bit

inline constexpr size_t kCmdlineSize = 4096;    // buffer size including the NUL
inline constexpr size_t kLoaderNameSize = 128;  // buffer size including the NUL

struct BootInfo {
    Protocol protocol;
    uint32_t magic;
    uint64_t info_phys;

    MemoryMap firmware_map;  // as the loader reported it (loader order, contiguous duplicates merged)
    MemoryMap memory_map;    // sanitize_memory_map(firmware_map): what the page allocator consumes

    bool have_basic_meminfo;  // mem_lower/mem_upper given (Multiboot1 flag 0, Multiboot2 tag 4)
    uint32_t mem_lower_kib, mem_upper_kib;

    bool have_cmdline;
    size_t cmdline_len;
    char cmdline[kCmdlineSize];  // always NUL-terminated
    // Offset into cmdline of the kernel arguments. Multiboot1 loaders that follow QEMU's convention put the
    // image path first ("/boot/hello.elf loglevel=7"); such a first word (no '=', contains '/' or '.') is
    // skipped. 0 for the other protocols.
    size_t args_offset;
    const char* args() const { return cmdline + args_offset; }

    bool have_loader_name;
    char loader_name[kLoaderNameSize];  // always NUL-terminated

    Framebuffer framebuffer;
    Rsdp rsdp;
    Efi efi;

    uint32_t warnings;
    bool has_warning(uint32_t w) const { return (warnings & w) != 0; }

    void reset();  // all zero / empty
};

// ------------------------------------------------------------------------------------------- parsing
enum class ParseError : uint8_t {
    Ok = 0,
    UnknownMagic,         // parse(): the entry magic is none of the three protocols
    Unreadable,           // the info structure itself cannot be read
    Misaligned,           // Multiboot2 info not 8-byte aligned
    BadMagic,             // PVH: hvm_start_info.magic wrong
    TotalSizeTooSmall,    // Multiboot2 total_size < 16
    TotalSizeTooLarge,    // Multiboot2 total_size > kMaxMb2Size
    TagTooSmall,          // a Multiboot2 tag with size < 8
    TagOverrun,           // a tag (or its header) running past total_size
    MissingEndTag,        // the tags end without the type-0 end tag
    MmapEntryTooSmall,    // memory map entry size smaller than the entry structure (or 0)
    MmapOverrun,          // a memory map entry running past the declared map length
    MmapTooLarge,         // memory map length / entry count beyond sanity bounds
    MmapUnreadable,       // the memory map cannot be read
    CmdlineUnreadable,    // the command line pointer points at unreadable memory
    CmdlineUnterminated,  // no NUL within the tag, or within kMaxStringScan bytes
};
const char* parse_error_text(ParseError e);

struct ParseResult {
    ParseError error;
    uint32_t tag;     // Multiboot2: the tag type involved (0 otherwise)
    uint32_t offset;  // offset in the info structure / tag list / memory map where the problem is
    bool ok() const { return error == ParseError::Ok; }
};

inline constexpr uint32_t kMaxMb2Size = 1u << 20;           // bound on Multiboot2 total_size
inline constexpr uint32_t kMaxMb1MmapLength = 1u << 20;     // bound on Multiboot1 mmap_length
inline constexpr uint32_t kMaxPvhMemmapEntries = 1u << 16;  // bound on hvm_start_info.memmap_entries
inline constexpr size_t kMaxStringScan = 64 * 1024;         // a C string pointer: NUL must come by then

// Each parser resets `out`, fills it and finally sets out.memory_map = sanitize(out.firmware_map).
// On error `out` holds what was parsed before the problem (memory_map sanitized from it), so the kernel can
// log what it has; the error names what was wrong.
ParseResult parse_multiboot1(uint64_t info_phys, const PhysReader& mem, BootInfo& out);
ParseResult parse_multiboot2(uint64_t info_phys, const PhysReader& mem, BootInfo& out);
ParseResult parse_pvh(uint64_t start_info_phys, const PhysReader& mem, BootInfo& out);
// Dispatch on the magic the entry stub recorded (EAX for Multiboot, kPvhMagic for PVH).
ParseResult parse(uint32_t magic, uint64_t info_phys, const PhysReader& mem, BootInfo& out);

// ----------------------------------------------------------------------------- helpers for the parsers
namespace detail {
enum class StrStatus : uint8_t { Ok, Truncated, Unreadable, Unterminated };
// Copies the C string at phys into buf (size >= 1; always NUL-terminated, *len_out = bytes copied).
// The NUL must be within scan_limit bytes (for a string inside a structure: the bytes left in it);
// a string longer than size - 1 is cut (Truncated). Reads nothing at or beyond phys + scan_limit.
StrStatus copy_phys_string(const PhysReader& mem, uint64_t phys, size_t scan_limit, char* buf, size_t size,
                           size_t* len_out);
// The command line at phys into out.cmdline (have_cmdline, cmdline_len, kWarnCmdlineTruncated). Ok, or
// CmdlineUnreadable / CmdlineUnterminated with the command line left empty and have_cmdline false.
ParseError copy_cmdline(const PhysReader& mem, uint64_t phys, size_t scan_limit, BootInfo& out);
// The boot loader's name at phys into out.loader_name (have_loader_name, kWarnLoaderNameTruncated); one
// that cannot be read is left empty with kWarnLoaderNameBad (not an error).
void copy_loader_name(const PhysReader& mem, uint64_t phys, size_t scan_limit, BootInfo& out);
// Adds a loader-reported region to out.firmware_map, flagging zero-length/wrapping entries and overflow.
void add_region(BootInfo& out, uint64_t base, uint64_t length, MemType type, uint32_t raw_type);
void add_legacy_regions(BootInfo& out);       // from mem_lower/mem_upper, when there is no memory map
void set_cmdline_args_offset(BootInfo& out);  // the Multiboot1 image-path convention (see args_offset)
void store_rsdp_copy(BootInfo& out, const uint8_t* bytes, size_t len);  // validates, keeps the best copy
void finish(BootInfo& out);  // sanitizes the map, sets the map-related warnings
using bytes::le16;
using bytes::le32;
using bytes::le64;
}  // namespace detail

}  // namespace skerry::boot
