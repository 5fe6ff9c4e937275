// The kernel's page tables: RAM identity mapped with 2 MiB pages (write-back), everything else below
// 4 GiB identity mapped uncached (MMIO), the kernel image in 4 KiB pages (text read-only+executable,
// rodata read-only, data no-execute), page 0 and the stack guard pages not present, NX on all data.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::paging {

struct RamRange {
    uint64_t base, length;
};

// alloc_page returns the physical address of a free 4 KiB page (it need not be zeroed), 0 when none.
// Must be called while the early (boot) page tables are active; switches CR3 to the new tables.
bool init(const RamRange* ram, size_t count, uint64_t (*alloc_page)());

// Identity-map [phys, phys+len) uncached (device memory), e.g. a 64-bit BAR above the RAM map.
// Cheap when already mapped. Returns false when no page-table memory is left.
bool map_mmio(uint64_t phys, uint64_t len);

// Mark [phys, phys+len) write-combining when PAT is available (framebuffers); otherwise leaves it UC.
void set_write_combining(uint64_t phys, uint64_t len);

// Where the virtual/physical space is mapped (for the boot log).
uint64_t mapped_top();
size_t table_pages();
bool nx_enabled();

}  // namespace skerry::paging
