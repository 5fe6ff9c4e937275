#include "kernel/ksyms.hpp"

// Table format (little endian), see scripts/gen_ksyms.py:
//   u64 count; then count entries { u64 address; u32 name_offset; u32 size }, sorted by address;
//   then the NUL-terminated names. An empty table (first link) is just count = 0.
extern "C" const uint8_t __ksyms_start[], __ksyms_end[];

namespace skerry::ksyms {
namespace {
struct Entry {
    uint64_t address;
    uint32_t name_offset;
    uint32_t size;
};
}  // namespace

size_t count() {
    if (static_cast<size_t>(__ksyms_end - __ksyms_start) < sizeof(uint64_t)) return 0;
    return *reinterpret_cast<const uint64_t*>(__ksyms_start);
}

const char* lookup(uint64_t addr, uint64_t* offset) {
    size_t n = count();
    size_t table_bytes = static_cast<size_t>(__ksyms_end - __ksyms_start);
    if (n == 0 || 8 + n * sizeof(Entry) > table_bytes) return nullptr;
    const Entry* entries = reinterpret_cast<const Entry*>(__ksyms_start + 8);
    const char* names = reinterpret_cast<const char*>(entries + n);
    size_t names_bytes = table_bytes - 8 - n * sizeof(Entry);
    // Last entry with address <= addr.
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entries[mid].address <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return nullptr;
    const Entry& e = entries[lo - 1];
    uint64_t off = addr - e.address;
    if (e.size != 0 && off >= e.size) return nullptr;
    if (e.name_offset >= names_bytes) return nullptr;
    if (offset) *offset = off;
    return names + e.name_offset;
}

}  // namespace skerry::ksyms
