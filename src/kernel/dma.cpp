#include "kernel/dma.hpp"

#include <string.h>

#include "hw/hw.hpp"
#include "kernel/kernel.hpp"

namespace skerry::dma {
namespace {
size_t used;
}

bool alloc(size_t size, Region& out, uint64_t align, uint64_t limit) {
    out = Region{};
    if (size == 0) return false;
    if (align < PageAllocator::kPageSize) align = PageAllocator::kPageSize;
    const size_t pages = (size + PageAllocator::kPageSize - 1) / PageAllocator::kPageSize;
    const uint64_t phys = kernel::pages().alloc(pages, align, limit);
    if (!phys) return false;
    out.phys = phys;
    out.size = pages * PageAllocator::kPageSize;
    out.virt = hw::phys_to_virt(phys, out.size);
    memset(out.virt, 0, out.size);
    used += out.size;
    return true;
}

void free(Region& r) {
    if (!r.size) return;
    kernel::pages().free(r.phys, r.size / PageAllocator::kPageSize);
    used -= r.size;
    r = Region{};
}

size_t in_use() { return used; }

}  // namespace skerry::dma
