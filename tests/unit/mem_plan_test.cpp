// The memory plan (kernel/mem_plan.hpp) at each tier, and the network stack's buffer budget (net/net_memory.hpp).
#include <gtest/gtest.h>

#include <string.h>

#include <string>

#include "kernel/mem_plan.hpp"
#include "net/net_memory.hpp"

extern "C" {
void* skerry_net_mem_malloc(size_t size);
void* skerry_net_mem_calloc(size_t count, size_t size);
void skerry_net_mem_free(void* p);
extern uint32_t skerry_lwip_tcp_snd_buf;
}

namespace skerry {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;

// What a guest of `m` MiB has free after a 1.6 MiB kernel image, low memory and page tables (as logged at boot).
uint64_t free_at(uint64_t m) { return m * kMiB - 2700 * kKiB; }

void expect_consistent(const mem_plan::Plan& p) {
    // The heap and the NIC buffers fit in what was free, with the page allocator's margin.
    EXPECT_LE(p.heap_bytes + p.nic_rx_buffers * 2 * kKiB, p.free_bytes) << p.free_bytes;
    EXPECT_EQ(p.heap_bytes % p.heap_align, 0u);
    // Lent buffers leave a full ring to refill from.
    EXPECT_LE(p.rx_lend + p.nic_rx_ring, p.nic_rx_buffers);
    EXPECT_GT(p.rx_lend, 0u);
    EXPECT_LE(p.net_buffers, p.heap_bytes / 2);
    EXPECT_GE(p.tcp_snd_buf, 64 * kKiB);
    EXPECT_LE(p.tcp_snd_buf, 512 * kKiB);
    EXPECT_EQ(p.nic_rx_ring % 8, 0u);  // e1000: a multiple of 8; virtio: a power of two
    EXPECT_EQ(p.nic_rx_ring & (p.nic_rx_ring - 1), 0u);
}

TEST(MemPlan, TinyGuestStillGetsAUsableHeapAndRing) {
    const mem_plan::Plan p = mem_plan::compute(free_at(8), 0);
    EXPECT_EQ(p.tier, mem_plan::Tier::Tiny);
    EXPECT_EQ(p.nic_rx_ring, 128u);
    EXPECT_GE(p.heap_bytes, 2 * kMiB);  // HTTPS needs mbedTLS's buffers (~40 KiB a connection) and the key
    EXPECT_GE(p.tcp_snd_buf, 128 * kKiB);
    expect_consistent(p);
}

TEST(MemPlan, EveryTierFromFourMiBToTwoGiBIsConsistent) {
    for (uint64_t m = 4; m <= 2048; m = m < 64 ? m + 1 : m * 2) expect_consistent(mem_plan::compute(free_at(m), 0));
}

TEST(MemPlan, TiersGrowWithMemory) {
    EXPECT_EQ(mem_plan::compute(free_at(16), 0).tier, mem_plan::Tier::Small);
    EXPECT_EQ(mem_plan::compute(free_at(16), 0).nic_rx_ring, 256u);
    const mem_plan::Plan big = mem_plan::compute(free_at(256), 0);
    EXPECT_EQ(big.tier, mem_plan::Tier::Large);
    EXPECT_EQ(big.nic_rx_ring, 1024u);
    EXPECT_EQ(big.tcp_snd_buf, 512 * kKiB);
    EXPECT_EQ(big.heap_bytes, free_at(256) / 2 / (2 * kMiB) * (2 * kMiB));
    uint64_t last = 0;
    for (uint64_t m = 8; m <= 1024; m *= 2) {
        const mem_plan::Plan p = mem_plan::compute(free_at(m), 0);
        EXPECT_GE(p.heap_bytes, last) << m;
        last = p.heap_bytes;
    }
}

TEST(MemPlan, HeapOptionIsHonouredWithinWhatThereIs) {
    EXPECT_EQ(mem_plan::compute(free_at(256), 8 * kMiB).heap_bytes, 8 * kMiB);
    const mem_plan::Plan p = mem_plan::compute(free_at(8), 64 * kMiB);  // more than there is: what fits
    expect_consistent(p);
    EXPECT_EQ(p.heap_bytes, mem_plan::compute(free_at(8), 0).heap_bytes);
}

TEST(MemPlan, TheConsoleLineSaysWhatWasChosen) {
    char line[512];
    mem_plan::format(mem_plan::compute(free_at(8), 0), line, sizeof line);
    const std::string s = line;
    EXPECT_NE(s.find("(tiny)"), std::string::npos) << s;
    EXPECT_NE(s.find("128 descriptors"), std::string::npos) << s;
    EXPECT_NE(s.find("TCP send buffer"), std::string::npos) << s;
}

TEST(NetMemory, LargeAllocationsStopAtTheBudgetSmallOnesDoNot) {
    net::memory::configure(8 * kKiB, 128 * kKiB);
    EXPECT_EQ(skerry_lwip_tcp_snd_buf, 128 * kKiB);
    const net::memory::Stats before = net::memory::stats();
    void* a = skerry_net_mem_malloc(5000);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(skerry_net_mem_malloc(5000), nullptr);  // 10000 > 8 KiB
    EXPECT_EQ(net::memory::stats().refused, before.refused + 1);
    void* small[64];
    for (void*& s : small) ASSERT_NE(s = skerry_net_mem_malloc(net::memory::kSmall), nullptr);  // ACKs still go out
    void* b = skerry_net_mem_calloc(1, 3000);
    ASSERT_NE(b, nullptr);
    for (size_t i = 0; i < 3000; ++i) ASSERT_EQ(static_cast<unsigned char*>(b)[i], 0);
    EXPECT_EQ(net::memory::stats().in_budget, before.in_budget + 8000);
    skerry_net_mem_free(a);
    skerry_net_mem_free(b);
    for (void* s : small) skerry_net_mem_free(s);
    EXPECT_EQ(net::memory::stats().in_budget, before.in_budget);
    EXPECT_EQ(net::memory::stats().small, before.small);
    EXPECT_EQ(skerry_net_mem_calloc(SIZE_MAX / 2, 4), nullptr);  // overflow refused, not wrapped
    net::memory::configure(1 * kKiB, 1);                         // out of range: clamped
    EXPECT_EQ(skerry_lwip_tcp_snd_buf, 64 * kKiB);
    net::memory::configure(~0ull, 512 * kKiB);
}

TEST(NetMemory, SegmentSizedBlocksAreReusedAndChargedWhole) {
    net::memory::configure(4 * kMiB, 512 * kKiB);
    const net::memory::Stats before = net::memory::stats();
    void* a = skerry_net_mem_malloc(1514);  // a copied frame
    ASSERT_NE(a, nullptr);
    memset(a, 0xab, 1514);
    const uint64_t charged = net::memory::stats().in_budget - before.in_budget;
    EXPECT_GE(charged, 1514u);
    skerry_net_mem_free(a);
    void* b = skerry_net_mem_malloc(600);  // the same block class: the freed block comes back
    EXPECT_EQ(b, a);
    EXPECT_EQ(net::memory::stats().in_budget - before.in_budget, charged);
    void* z = skerry_net_mem_calloc(2, 700);  // zeroed even when the block is a reused one
    skerry_net_mem_free(b);
    void* c = skerry_net_mem_calloc(1, 1400);
    for (size_t i = 0; i < 1400; ++i) ASSERT_EQ(static_cast<unsigned char*>(c)[i], 0) << i;
    skerry_net_mem_free(c);
    skerry_net_mem_free(z);
    EXPECT_EQ(net::memory::stats().in_budget, before.in_budget);
    net::memory::configure(~0ull, 512 * kKiB);
}

}  // namespace
}  // namespace skerry
