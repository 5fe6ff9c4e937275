// Host-test DMA memory: aligned host allocations whose "physical" address is the host address.
#include <stdlib.h>
#include <string.h>

#include "kernel/dma.hpp"

namespace skerry::dma {
namespace {
size_t used;
}

bool alloc(size_t size, Region& out, uint64_t align, uint64_t limit) {
    out = Region{};
    if (size == 0) return false;
    if (align < 4096) align = 4096;
    const size_t rounded = (size + 4095) & ~size_t{4095};
    void* p = aligned_alloc(static_cast<size_t>(align), rounded);
    if (!p) return false;
    const uint64_t phys = reinterpret_cast<uint64_t>(p);
    if (phys + rounded > limit) {
        ::free(p);
        return false;
    }
    memset(p, 0, rounded);
    out = {phys, p, rounded};
    used += rounded;
    return true;
}

void free(Region& r) {
    if (!r.size) return;
    ::free(r.virt);
    used -= r.size;
    r = Region{};
}

size_t in_use() { return used; }

}  // namespace skerry::dma
