// The physical page allocator: rounding, free/reserved overlaps, aligned runs, address limits, exhaustion,
// double frees and reuse after fragmentation.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "kernel/page_alloc.hpp"

using skerry::PageAllocator;

namespace {

constexpr uint64_t kPage = PageAllocator::kPageSize;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

class PageAllocTest : public ::testing::Test {
protected:
    void make(uint64_t limit) {
        storage.assign(PageAllocator::bitmap_bytes(limit) / 8 + 1, 0xA5A5A5A5A5A5A5A5ull);  // garbage on purpose
        pa.init(storage.data(), limit);
    }
    std::vector<uint64_t> storage;
    PageAllocator pa;
};

TEST(PageAllocBitmap, Bytes) {
    // Two bits per page, whole 64-bit words.
    EXPECT_EQ(PageAllocator::bitmap_bytes(0), 0u);
    EXPECT_EQ(PageAllocator::bitmap_bytes(1), 16u);  // one partial page: one word each
    EXPECT_EQ(PageAllocator::bitmap_bytes(64 * kPage), 16u);
    EXPECT_EQ(PageAllocator::bitmap_bytes(65 * kPage), 32u);
    EXPECT_EQ(PageAllocator::bitmap_bytes(kGiB), 2u * 32768u);               // 262144 pages: 32 KiB per bitmap
    EXPECT_EQ(PageAllocator::bitmap_bytes(4 * kGiB + 1), 2u * 16385u * 8u);  // 1048577 pages in 16385 words
}

TEST_F(PageAllocTest, StartsReservedAndNeverHandsOutPageZero) {
    make(16 * kMiB);
    EXPECT_EQ(pa.free_pages(), 0u);
    EXPECT_EQ(pa.total_pages(), 0u);
    EXPECT_EQ(pa.alloc(), 0u);
    pa.add_free(0, 2 * kPage);  // page 0 must stay out
    EXPECT_EQ(pa.free_pages(), 1u);
    EXPECT_EQ(pa.alloc(), kPage);
    EXPECT_EQ(pa.alloc(), 0u);
    EXPECT_FALSE(pa.free(0));
}

TEST_F(PageAllocTest, AddFreeRoundsInwardReserveRoundsOutward) {
    make(16 * kMiB);
    pa.add_free(0x1800, 0x3000);  // [0x1800, 0x4800): only pages 0x2000 and 0x3000 are whole
    EXPECT_EQ(pa.free_pages(), 2u);
    EXPECT_FALSE(pa.is_free(0x1000));
    EXPECT_TRUE(pa.is_free(0x2000));
    EXPECT_TRUE(pa.is_free(0x3000));
    EXPECT_FALSE(pa.is_free(0x4000));

    pa.add_free(0x10000, 0x10000);  // 16 pages 0x10000..0x1ffff
    EXPECT_EQ(pa.free_pages(), 18u);
    pa.reserve(0x10fff, 2);  // touches pages 0x10000 and 0x11000
    EXPECT_EQ(pa.free_pages(), 16u);
    EXPECT_FALSE(pa.is_free(0x10000));
    EXPECT_FALSE(pa.is_free(0x11000));
    EXPECT_TRUE(pa.is_free(0x12000));
    pa.reserve(0x1f000, 1);
    EXPECT_EQ(pa.free_pages(), 15u);
    EXPECT_EQ(pa.total_pages(), 15u);
    pa.reserve(0x30000, 0);  // nothing
    EXPECT_EQ(pa.free_pages(), 15u);
}

TEST_F(PageAllocTest, OverlapsAndLimitClamping) {
    make(1 * kMiB);            // 256 pages
    pa.add_free(0, 2 * kMiB);  // beyond the limit: clamped; page 0 out
    EXPECT_EQ(pa.free_pages(), 255u);
    pa.add_free(0x4000, 0x4000);  // already free: no double counting
    EXPECT_EQ(pa.free_pages(), 255u);
    EXPECT_EQ(pa.total_pages(), 255u);
    pa.reserve(0x8000, 0x8000);
    pa.reserve(0xC000, 0x8000);  // overlaps the previous reservation
    EXPECT_EQ(pa.free_pages(), 255u - 12u);
    EXPECT_EQ(pa.total_pages(), 255u - 12u);
    pa.reserve(0xF0000, ~0ull);  // runs to the end of the address space
    EXPECT_EQ(pa.free_pages(), 255u - 12u - 16u);
    // A reserved range can be given back with add_free (later calls win).
    pa.add_free(0x8000, 0x8000);
    EXPECT_EQ(pa.free_pages(), 255u - 4u - 16u);
    pa.add_free(0xFFFFF000, ~0ull);  // wrapping length: clamped, nothing inside the limit
    EXPECT_EQ(pa.free_pages(), 255u - 4u - 16u);
}

TEST_F(PageAllocTest, ReserveAnAllocatedPageMakesItsFreeFail) {
    make(1 * kMiB);
    pa.add_free(kPage, 8 * kPage);
    uint64_t p = pa.alloc();
    ASSERT_NE(p, 0u);
    EXPECT_EQ(pa.used_pages(), 1u);
    pa.reserve(p, kPage);
    EXPECT_EQ(pa.total_pages(), 7u);
    EXPECT_EQ(pa.used_pages(), 0u);
    EXPECT_FALSE(pa.free(p));
}

TEST_F(PageAllocTest, SinglePagesAreDistinctAndCounted) {
    make(4 * kMiB);
    pa.add_free(kMiB, 3 * kMiB);
    const size_t n = pa.free_pages();
    EXPECT_EQ(n, 768u);
    std::set<uint64_t> seen;
    for (size_t i = 0; i < n; ++i) {
        uint64_t p = pa.alloc();
        ASSERT_NE(p, 0u);
        ASSERT_EQ(p % kPage, 0u);
        ASSERT_GE(p, kMiB);
        ASSERT_LT(p, 4 * kMiB);
        ASSERT_TRUE(seen.insert(p).second) << std::hex << p;
    }
    EXPECT_EQ(pa.free_pages(), 0u);
    EXPECT_EQ(pa.used_pages(), 768u);
    EXPECT_EQ(pa.alloc(), 0u);  // exhausted
    EXPECT_EQ(pa.alloc(4), 0u);
    // Free one in the middle: the next allocation gets exactly it back.
    ASSERT_TRUE(pa.free(2 * kMiB + 5 * kPage));
    EXPECT_EQ(pa.alloc(), 2 * kMiB + 5 * kPage);
}

TEST_F(PageAllocTest, ContiguousAlignedRuns) {
    make(64 * kMiB);
    pa.add_free(kPage * 3, 32 * kMiB);  // starts unaligned
    const size_t before = pa.free_pages();
    uint64_t a = pa.alloc(16, 64 * 1024);
    ASSERT_NE(a, 0u);
    EXPECT_EQ(a % (64 * 1024), 0u);
    EXPECT_EQ(a, 64 * 1024u);  // the lowest 64 KiB boundary with 16 free pages
    EXPECT_EQ(pa.free_pages(), before - 16);
    for (uint64_t p = a; p < a + 16 * kPage; p += kPage) EXPECT_FALSE(pa.is_free(p));

    uint64_t b = pa.alloc(512, 2 * kMiB);  // 2 MiB aligned 2 MiB (a huge page)
    ASSERT_NE(b, 0u);
    EXPECT_EQ(b % (2 * kMiB), 0u);
    EXPECT_TRUE(b >= a + 16 * kPage || b + 2 * kMiB <= a);

    uint64_t c = pa.alloc(3);  // pages 3..15 are free below a
    EXPECT_EQ(c, 3 * kPage);

    EXPECT_EQ(pa.alloc(1, 3 * kPage), 0u);  // alignment not a power of two
    EXPECT_NE(pa.alloc(1, 16), 0u);         // alignment below a page means a page
    EXPECT_EQ(pa.alloc(0), 0u);             // nothing asked
    EXPECT_EQ(pa.alloc(64 * 1024), 0u);     // more than there is
    EXPECT_TRUE(pa.free(a, 16));
    EXPECT_TRUE(pa.free(b, 512));
    EXPECT_TRUE(pa.free(c, 3));
}

TEST_F(PageAllocTest, MaxAddressForDma32) {
    make(8 * kGiB);
    pa.add_free(kMiB, 3 * kGiB - kMiB);             // low RAM below the PCI hole
    pa.add_free(4 * kGiB, 4 * kGiB);                // high RAM
    pa.reserve(kMiB, 3 * kGiB - kMiB - 8 * kPage);  // only the last 8 low pages stay free
    ASSERT_EQ(pa.free_pages(), 8u + 1048576u);

    for (int i = 0; i < 8; ++i) {
        uint64_t p = pa.alloc(1, kPage, 1ull << 32);
        ASSERT_NE(p, 0u);
        EXPECT_LT(p + kPage, 1ull << 32);
    }
    EXPECT_EQ(pa.alloc(1, kPage, 1ull << 32), 0u);  // only high memory left
    uint64_t high = pa.alloc();
    EXPECT_GE(high, 4 * kGiB);
    // A run must lie entirely below max_addr: the page just below the limit does not fit two pages.
    EXPECT_TRUE(pa.free(3 * kGiB - kPage));
    EXPECT_EQ(pa.alloc(2, kPage, 3 * kGiB), 0u);
    EXPECT_EQ(pa.alloc(1, kPage, 3 * kGiB - 1), 0u);  // the page ends past max_addr
    EXPECT_EQ(pa.alloc(1, kPage, 3 * kGiB), 3 * kGiB - kPage);
}

TEST_F(PageAllocTest, DoubleAndInvalidFreesChangeNothing) {
    make(4 * kMiB);
    pa.add_free(kMiB, kMiB);
    uint64_t p = pa.alloc(4);
    ASSERT_NE(p, 0u);
    const size_t free_before = pa.free_pages();
    EXPECT_FALSE(pa.free(p + 1));  // misaligned
    EXPECT_FALSE(pa.free(p, 5));   // the fifth page is free already
    EXPECT_FALSE(pa.free(p, 0));
    EXPECT_FALSE(pa.free(64 * kMiB));            // beyond the limit
    EXPECT_FALSE(pa.free(3 * kMiB - kPage, 2));  // never added (reserved)
    EXPECT_FALSE(pa.free(~0ull & ~(kPage - 1), 2));
    EXPECT_EQ(pa.free_pages(), free_before);
    for (int i = 0; i < 4; ++i) EXPECT_FALSE(pa.is_free(p + i * kPage));

    EXPECT_TRUE(pa.free(p, 4));
    EXPECT_EQ(pa.free_pages(), free_before + 4);
    EXPECT_FALSE(pa.free(p, 4));  // double free
    EXPECT_FALSE(pa.free(p + kPage));
    EXPECT_EQ(pa.free_pages(), free_before + 4);
}

TEST_F(PageAllocTest, FragmentationThenCoalescedReuse) {
    make(2 * kMiB);
    pa.add_free(kMiB, kMiB);  // 256 pages
    std::vector<uint64_t> pages;
    for (uint64_t p; (p = pa.alloc()) != 0;) pages.push_back(p);
    ASSERT_EQ(pages.size(), 256u);
    // Free every other page: 128 free pages but no run of two.
    for (size_t i = 0; i < pages.size(); i += 2) ASSERT_TRUE(pa.free(pages[i]));
    EXPECT_EQ(pa.free_pages(), 128u);
    EXPECT_EQ(pa.alloc(2), 0u);
    // Free pages 64..79: with their free neighbours they form one run of 17 pages at page index 64.
    for (size_t i = 65; i < 80; i += 2) ASSERT_TRUE(pa.free(pages[i]));
    uint64_t run = pa.alloc(16, 16 * kPage);
    EXPECT_EQ(run, kMiB + 64 * kPage);
    EXPECT_EQ(pa.alloc(2), 0u);
    ASSERT_TRUE(pa.free(run, 16));
    EXPECT_EQ(pa.alloc(17), kMiB + 64 * kPage);  // page 80 is free too
    // Single pages come from the lowest free ones first.
    EXPECT_EQ(pa.alloc(), pages[0]);
    EXPECT_EQ(pa.alloc(), pages[2]);
}

TEST_F(PageAllocTest, FreeAfterHintMovedUpIsFoundAgain) {
    make(1 * kMiB);
    pa.add_free(kPage, 255 * kPage);
    std::vector<uint64_t> got;
    for (int i = 0; i < 200; ++i) got.push_back(pa.alloc());
    ASSERT_TRUE(pa.free(got[3]));
    EXPECT_EQ(pa.alloc(), got[3]);
    ASSERT_TRUE(pa.free(got[10], 1));
    ASSERT_TRUE(pa.free(got[11], 1));
    EXPECT_EQ(pa.alloc(2), got[10]);
}

}  // namespace
