// The physical page allocator (see page_alloc.hpp).
#include "kernel/page_alloc.hpp"

#include <string.h>

namespace skerry {
namespace {

constexpr uint64_t kPage = PageAllocator::kPageSize;

size_t pages_for(uint64_t limit) { return static_cast<size_t>(limit / kPage + (limit % kPage != 0)); }
size_t words_for(size_t pages) { return (pages + 63) / 64; }
// base + length, clamped at 2^64 - 1 instead of wrapping.
uint64_t end_of(uint64_t base, uint64_t length) { return length > ~0ull - base ? ~0ull : base + length; }

// The first page in [from, limit) whose bit, flipped by `flip` (all ones: look for clear bits), is set;
// limit if there is none.
size_t next_bit(const uint64_t* words, uint64_t flip, size_t from, size_t limit) {
    size_t p = from;
    while (p < limit) {
        size_t w = p / 64;
        uint64_t bits = (words[w] ^ flip) & (~0ull << (p % 64));  // at or after p in this word
        if (bits) {
            size_t found = w * 64 + static_cast<size_t>(__builtin_ctzll(bits));
            return found < limit ? found : limit;
        }
        p = (w + 1) * 64;
    }
    return limit;
}

}  // namespace

size_t PageAllocator::bitmap_bytes(uint64_t limit) { return 2 * words_for(pages_for(limit)) * sizeof(uint64_t); }

void PageAllocator::init(void* bitmap_storage, uint64_t limit) {
    pages_ = pages_for(limit);
    words_ = words_for(pages_);
    used_ = static_cast<uint64_t*>(bitmap_storage);
    avail_ = used_ + words_;
    memset(used_, 0xFF, words_ * sizeof(uint64_t));
    memset(avail_, 0, words_ * sizeof(uint64_t));
    free_ = 0;
    total_ = 0;
    hint_word_ = 0;
}

void PageAllocator::add_free(uint64_t base, uint64_t length) {
    const uint64_t end = end_of(base, length);
    uint64_t first = base / kPage + (base % kPage != 0);  // round inward
    uint64_t last = end / kPage;                          // exclusive
    if (first < 1) first = 1;                             // page 0 is never free
    if (last > pages_) last = pages_;
    for (uint64_t p = first; p < last;) {
        const size_t page = static_cast<size_t>(p);
        if (page % 64 == 0 && last - p >= 64 && avail_[page / 64] == 0) {  // a whole word of reserved pages
            avail_[page / 64] = kAll;
            used_[page / 64] = 0;
            free_ += 64;
            total_ += 64;
            p += 64;
            continue;
        }
        if (!test(avail_, page)) {
            set_bit(avail_, page);
            clear_bit(used_, page);
            ++free_;
            ++total_;
        }
        ++p;
    }
    if (first < last && first / 64 < hint_word_) hint_word_ = static_cast<size_t>(first / 64);
}

void PageAllocator::reserve(uint64_t base, uint64_t length) {
    if (length == 0) return;
    const uint64_t end = end_of(base, length);
    uint64_t first = base / kPage;                     // round outward
    uint64_t last = end / kPage + (end % kPage != 0);  // exclusive
    if (last > pages_) last = pages_;
    for (uint64_t p = first; p < last; ++p) {
        const size_t page = static_cast<size_t>(p);
        if (!test(avail_, page)) continue;
        if (!test(used_, page)) --free_;
        clear_bit(avail_, page);
        set_bit(used_, page);
        --total_;
    }
}

size_t PageAllocator::next_free(size_t from, size_t limit) const { return next_bit(used_, ~0ull, from, limit); }

size_t PageAllocator::next_used(size_t from, size_t limit) const { return next_bit(used_, 0, from, limit); }

void PageAllocator::mark_used(size_t first, size_t count) {
    for (size_t p = first; p < first + count; ++p) set_bit(used_, p);
    free_ -= count;
}

uint64_t PageAllocator::alloc(size_t pages, uint64_t align, uint64_t max_addr) {
    if (pages == 0 || pages > free_) return 0;
    if (align < kPage) align = kPage;
    if (align & (align - 1)) return 0;
    size_t limit = pages_;
    if (max_addr / kPage < limit) limit = static_cast<size_t>(max_addr / kPage);
    if (pages > limit) return 0;
    const uint64_t align_pages = align / kPage;

    if (pages == 1 && align_pages == 1) {
        // Fast path: the first word below the limit, from the hint on, that has a clear bit.
        const size_t limit_words = words_for(limit);
        for (size_t w = hint_word_; w < limit_words; ++w) {
            if (used_[w] == kAll) continue;
            size_t page = w * 64 + static_cast<size_t>(__builtin_ctzll(~used_[w]));
            if (page >= limit) break;
            hint_word_ = w;
            mark_used(page, 1);
            return page * kPage;
        }
        return 0;  // nothing below the hint is free (the hint is a lower bound)
    }

    size_t pos = hint_word_ * 64;
    while (pos < limit) {
        pos = next_free(pos, limit);
        if (pos >= limit) break;
        uint64_t aligned = (pos + align_pages - 1) / align_pages * align_pages;
        if (aligned >= limit || limit - aligned < pages) break;
        pos = static_cast<size_t>(aligned);
        size_t used = next_used(pos, pos + pages);
        if (used >= pos + pages) {
            mark_used(pos, pages);
            return pos * kPage;
        }
        pos = used + 1;
    }
    return 0;
}

bool PageAllocator::free(uint64_t phys, size_t pages) {
    if (pages == 0 || phys % kPage) return false;
    const uint64_t first = phys / kPage;
    if (first >= pages_ || pages > pages_ - first) return false;
    const size_t start = static_cast<size_t>(first);
    for (size_t p = start; p < start + pages; ++p) {
        if (!test(avail_, p) || !test(used_, p)) return false;
    }
    for (size_t p = start; p < start + pages; ++p) clear_bit(used_, p);
    free_ += pages;
    if (start / 64 < hint_word_) hint_word_ = start / 64;
    return true;
}

bool PageAllocator::is_free(uint64_t phys) const {
    const uint64_t page = phys / kPage;
    return page < pages_ && !test(used_, static_cast<size_t>(page));
}

}  // namespace skerry
