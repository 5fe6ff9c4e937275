// Memory a device reads or writes by DMA: physically contiguous, aligned, below a given address (32-bit
// devices). In the kernel it comes from the page allocator and is identity mapped (virt == phys). Host
// tests link dma_host.cpp instead, which hands out host memory whose "physical" address is the host
// address, so a device model can reach it through hw::Model::phys_to_host.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::dma {

struct Region {
    uint64_t phys = 0;
    void* virt = nullptr;
    size_t size = 0;
};

// Zeroed memory of at least `size` bytes (rounded up to pages), aligned to `align` (a power of two,
// at least 4096), entirely below `limit`. False when there is none.
bool alloc(size_t size, Region& out, uint64_t align = 4096, uint64_t limit = ~0ull);
void free(Region& r);

// Bytes handed out and not yet freed (for the status output and leak checks in tests).
size_t in_use();

}  // namespace skerry::dma
