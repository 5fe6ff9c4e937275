// The physical page allocator: one bit per 4 KiB page over [0, limit), in storage the caller provides.
//
// Two bitmaps: `used` (1 = not allocatable: reserved or handed out) and `avail` (1 = the page is RAM that
// belongs to the allocator, i.e. it was added free and not reserved since). A page can only be freed if it
// belongs to the allocator and is currently handed out, so double frees and frees of reserved pages are
// detected and refused. Physical page 0 is never handed out (0 is the "none" result).
//
// Single-page allocations are fast: a word-at-a-time scan from a hint (the lowest word that may hold a free
// page). Multi-page allocations find the lowest run of free pages with the requested alignment below a
// maximum address (e.g. 4 GiB for 32-bit DMA). No locking: the kernel runs on one CPU and does not
// allocate pages from interrupt handlers.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry {

class PageAllocator {
public:
    static constexpr uint64_t kPageSize = 4096;

    // Bytes of storage (8-byte aligned) needed to manage [0, limit).
    static size_t bitmap_bytes(uint64_t limit);

    // Takes `bitmap_storage` (bitmap_bytes(limit) bytes, 8-byte aligned); every page starts reserved.
    void init(void* bitmap_storage, uint64_t limit);
    // Makes the whole pages inside [base, base + length) free (rounds inward). Parts beyond the limit and
    // page 0 are ignored; pages that already belong to the allocator (free or handed out) are left alone.
    void add_free(uint64_t base, uint64_t length);
    // Takes every page touching [base, base + length) out of the allocator (rounds outward), whether it
    // was free or handed out (a later free() of it fails).
    void reserve(uint64_t base, uint64_t length);

    // A contiguous run of `pages` pages aligned to `align` (a power of two; values below kPageSize mean
    // kPageSize) lying entirely below max_addr. Returns the physical address, or 0 when there is none.
    uint64_t alloc(size_t pages = 1, uint64_t align = kPageSize, uint64_t max_addr = ~0ull);
    // Returns pages from alloc(). False (and nothing changed) when phys is misaligned or outside the
    // limit, or when any of the pages is free already or reserved (double or invalid free).
    bool free(uint64_t phys, size_t pages = 1);

    size_t free_pages() const { return free_; }
    size_t total_pages() const { return total_; }  // pages that belong to the allocator (free + used)
    size_t used_pages() const { return total_ - free_; }
    uint64_t limit_pages() const { return pages_; }
    bool is_free(uint64_t phys) const;  // the page holding phys is free

private:
    static constexpr uint64_t kAll = ~0ull;
    bool test(const uint64_t* map, size_t page) const { return (map[page / 64] >> (page % 64)) & 1; }
    static void set_bit(uint64_t* map, size_t page) { map[page / 64] |= 1ull << (page % 64); }
    static void clear_bit(uint64_t* map, size_t page) { map[page / 64] &= ~(1ull << (page % 64)); }
    // First page in [from, limit) with a clear `used` bit (limit when none).
    size_t next_free(size_t from, size_t limit) const;
    // First page in [from, limit) with a set `used` bit (limit when none).
    size_t next_used(size_t from, size_t limit) const;
    void mark_used(size_t first, size_t count);

    uint64_t* used_ = nullptr;
    uint64_t* avail_ = nullptr;
    size_t pages_ = 0;
    size_t words_ = 0;
    size_t free_ = 0;
    size_t total_ = 0;
    size_t hint_word_ = 0;  // no free page below word hint_word_ of `used`
};

}  // namespace skerry
