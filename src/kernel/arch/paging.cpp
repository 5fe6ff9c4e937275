#include "kernel/arch/paging.hpp"

#include <string.h>

#include "hw/hw.hpp"
#include "kernel/arch/cpu.hpp"
#include "kernel/arch/gdt.hpp"

extern "C" char __image_start[], __text_end[], __rodata_end[], __image_end[];

namespace skerry::paging {
namespace {

constexpr uint64_t kPresent = 1ull << 0;
constexpr uint64_t kWritable = 1ull << 1;
constexpr uint64_t kPwt = 1ull << 3;
constexpr uint64_t kPcd = 1ull << 4;
constexpr uint64_t kHuge = 1ull << 7;       // PS in a PD entry
constexpr uint64_t kPatLarge = 1ull << 12;  // PAT bit in a 2 MiB entry
constexpr uint64_t kPatSmall = 1ull << 7;   // PAT bit in a 4 KiB entry
constexpr uint64_t kNx = 1ull << 63;
constexpr uint64_t kAddrMask = 0x000FFFFFFFFFF000ull;
constexpr uint64_t k2M = 2ull << 20;
constexpr uint64_t k1G = 1ull << 30;

uint64_t* pml4;
uint64_t (*page_source)();
uint64_t nx_bit;
uint64_t top;
size_t pages_used;
bool pat_ok;

uint64_t* table(uint64_t phys) { return static_cast<uint64_t*>(hw::phys_to_virt(phys)); }

uint64_t new_table() {
    uint64_t p = page_source ? page_source() : 0;
    if (!p) return 0;
    memset(table(p), 0, 4096);
    ++pages_used;
    return p;
}

// The table an upper-level entry points to, created (present, writable) when it has none. nullptr: no page.
uint64_t* next_level(uint64_t& entry) {
    if (!(entry & kPresent)) {
        uint64_t t = new_table();
        if (!t) return nullptr;
        entry = t | kPresent | kWritable;
    }
    return table(entry & kAddrMask);
}

// Returns the page directory covering addr, creating the upper levels as needed.
uint64_t* pd_for(uint64_t addr) {
    uint64_t* pdpt = next_level(pml4[(addr >> 39) & 511]);
    return pdpt ? next_level(pdpt[(addr >> 30) & 511]) : nullptr;
}

bool overlaps_ram(uint64_t base, uint64_t len, const RamRange* ram, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (ram[i].base < base + len && base < ram[i].base + ram[i].length) return true;
    return false;
}

bool map_2m(uint64_t addr, uint64_t flags) {
    uint64_t* pd = pd_for(addr);
    if (!pd) return false;
    pd[(addr >> 21) & 511] = addr | flags | kHuge | kPresent;
    return true;
}

// Replace the 2 MiB mapping at addr (2 MiB aligned) by a page table with per-page flags.
template <typename Fn>
bool split_2m(uint64_t addr, Fn flags_for_page) {
    uint64_t* pd = pd_for(addr);
    if (!pd) return false;
    uint64_t t = new_table();
    if (!t) return false;
    uint64_t* pt = table(t);
    for (int i = 0; i < 512; ++i) {
        uint64_t page = addr + static_cast<uint64_t>(i) * 4096;
        uint64_t f = flags_for_page(page);
        pt[i] = f ? (page | f | kPresent) : 0;
    }
    pd[(addr >> 21) & 511] = t | kPresent | kWritable;
    return true;
}

bool is_guard(uint64_t page) {
    const uint64_t* guards;
    int n = gdt::guard_pages(&guards);
    for (int i = 0; i < n; ++i)
        if (guards[i] == page) return true;
    return false;
}

}  // namespace

bool init(const RamRange* ram, size_t count, uint64_t (*alloc_page)()) {
    page_source = alloc_page;
    nx_bit = (hw::cpuid(0x80000000).eax >= 0x80000001 && (hw::cpuid(0x80000001).edx & (1u << 20))) ? kNx : 0;
    pat_ok = hw::cpuid(1).edx & (1u << 16);
    uint64_t p = new_table();
    if (!p) return false;
    pml4 = table(p);

    top = 4 * k1G;
    for (size_t i = 0; i < count; ++i) {
        uint64_t end = ram[i].base + ram[i].length;
        if (end > top) top = end;
    }
    top = (top + k1G - 1) & ~(k1G - 1);

    const uint64_t data_flags = kWritable | nx_bit;
    const uint64_t mmio_flags = kWritable | nx_bit | kPcd | kPwt;
    const uint64_t image_start = reinterpret_cast<uint64_t>(__image_start);
    const uint64_t image_end = reinterpret_cast<uint64_t>(__image_end);
    const uint64_t text_end = reinterpret_cast<uint64_t>(__text_end);
    const uint64_t rodata_end = reinterpret_cast<uint64_t>(__rodata_end);
    const uint64_t image_2m_start = image_start & ~(k2M - 1);
    const uint64_t image_2m_end = (image_end + k2M - 1) & ~(k2M - 1);

    for (uint64_t a = 0; a < top; a += k2M) {
        bool ok;
        if (a == 0) {
            // First 2 MiB: page 0 unmapped (null pointers fault), legacy VGA window uncached.
            ok = split_2m(0, [&](uint64_t page) -> uint64_t {
                if (page == 0) return 0;
                if (page >= 0xA0000 && page < 0xC0000) return mmio_flags;
                return overlaps_ram(page, 4096, ram, count) ? data_flags : mmio_flags;
            });
        } else if (a >= image_2m_start && a < image_2m_end) {
            ok = split_2m(a, [&](uint64_t page) -> uint64_t {
                if (is_guard(page)) return 0;
                if (page >= image_start && page < text_end) return 0;  // read-only, executable
                if (page >= text_end && page < rodata_end && page >= image_start) return nx_bit;  // read-only
                return data_flags;
            });
        } else {
            ok = map_2m(a, overlaps_ram(a, k2M, ram, count) ? data_flags : mmio_flags);
        }
        if (!ok) return false;
    }
    // Text pages: present, not writable, executable. split_2m adds kPresent; a flags value of 0 would
    // mean "not present", so patch the text pages now.
    for (uint64_t page = image_start & ~4095ull; page < text_end; page += 4096) {
        uint64_t* pd = pd_for(page);
        uint64_t* pt = table(pd[(page >> 21) & 511] & kAddrMask);
        pt[(page >> 12) & 511] = page | kPresent;
    }
    cpu::write_cr3(reinterpret_cast<uint64_t>(pml4));
    return true;
}

bool map_mmio(uint64_t phys, uint64_t len) {
    if (!pml4 || len == 0) return false;
    uint64_t start = phys & ~(k2M - 1);
    uint64_t end = (phys + len + k2M - 1) & ~(k2M - 1);
    for (uint64_t a = start; a < end; a += k2M) {
        uint64_t* pd = pd_for(a);
        if (!pd) return false;
        uint64_t& e = pd[(a >> 21) & 511];
        if (e & kPresent) continue;  // already mapped (RAM or MMIO)
        e = a | kPresent | kWritable | kHuge | kPcd | kPwt | nx_bit;
        cpu::invlpg(a);
        if (a + k2M > top) top = a + k2M;
    }
    return true;
}

void set_write_combining(uint64_t phys, uint64_t len) {
    if (!pat_ok || !pml4) return;
    // PAT entry 5 (PAT=1, PCD=0, PWT=1) becomes write-combining; the other entries keep their defaults.
    constexpr uint32_t kPatMsr = 0x277;
    uint64_t pat = hw::rdmsr(kPatMsr);
    pat = (pat & ~(0xFFull << 40)) | (0x01ull << 40);
    hw::wrmsr(kPatMsr, pat);
    uint64_t start = phys & ~(k2M - 1);
    uint64_t end = (phys + len + k2M - 1) & ~(k2M - 1);
    for (uint64_t a = start; a < end; a += k2M) {
        uint64_t* pd = pd_for(a);
        if (!pd) return;
        uint64_t& e = pd[(a >> 21) & 511];
        if (!(e & kPresent) || !(e & kHuge)) continue;
        e = (e & ~(kPcd | kPwt)) | kPatLarge | kPwt;
        cpu::invlpg(a);
    }
    (void)kPatSmall;
    cpu::write_cr3(cpu::read_cr3());
}

uint64_t mapped_top() { return top; }
size_t table_pages() { return pages_used; }
bool nx_enabled() { return nx_bit != 0; }

}  // namespace skerry::paging
