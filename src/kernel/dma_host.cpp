// Host-test DMA memory: aligned host allocations whose "physical" address is the host address. A caller's address
// limit is honoured: when the heap's memory lies above it (sanitizer heaps live high), the region comes from an
// anonymous mapping in the low 2 GiB (MAP_32BIT) instead, as a 32-bit device or a legacy virtio queue needs.
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <map>

#include "kernel/dma.hpp"

namespace skerry::dma {
namespace {
size_t used;
struct Mapping {
    void* base;
    size_t len;
};
std::map<void*, Mapping>& low_mappings() {
    static std::map<void*, Mapping> m;
    return m;
}
}  // namespace

bool alloc(size_t size, Region& out, uint64_t align, uint64_t limit) {
    out = Region{};
    if (size == 0) return false;
    if (align < 4096) align = 4096;
    const size_t rounded = (size + 4095) & ~size_t{4095};
    void* p = aligned_alloc(static_cast<size_t>(align), rounded);
    if (!p) return false;
    uint64_t phys = reinterpret_cast<uint64_t>(p);
    if (phys + rounded > limit) {
        ::free(p);
        const size_t len = rounded + static_cast<size_t>(align);
        void* base = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (base == MAP_FAILED) return false;
        phys = (reinterpret_cast<uint64_t>(base) + align - 1) & ~(align - 1);
        if (phys + rounded > limit) {
            munmap(base, len);
            return false;
        }
        p = reinterpret_cast<void*>(phys);
        low_mappings()[p] = {base, len};
    }
    memset(p, 0, rounded);
    out = {phys, p, rounded};
    used += rounded;
    return true;
}

void free(Region& r) {
    if (!r.size) return;
    auto& m = low_mappings();
    const auto it = m.find(r.virt);
    if (it != m.end()) {
        munmap(it->second.base, it->second.len);
        m.erase(it);
    } else {
        ::free(r.virt);
    }
    used -= r.size;
    r = Region{};
}

size_t in_use() { return used; }

}  // namespace skerry::dma
