#include "kernel/mem_plan.hpp"

#include <stdio.h>

namespace skerry::mem_plan {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;
constexpr uint64_t kBufferBytes = 2 * kKiB;  // one NIC receive buffer (e1000 and virtio-net both use 2 KiB)

// Page-allocator memory kept beyond the NIC receive buffers: descriptor rings, virtqueues, a vsock device's
// buffers (two 128 x 4 KiB queues), the Hyper-V pages, a second NIC's smaller needs.
constexpr uint64_t kPagesMargin = 1536 * kKiB;
constexpr uint64_t kLargeFrom = 48 * kMiB;  // from here: deep rings, half of memory for the heap
constexpr uint64_t kSmallFrom = 12 * kMiB;
constexpr uint64_t kMinHeap = 512 * kKiB;
constexpr uint64_t kMaxHeap = 1ull << 30;

uint64_t align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

Plan initial() { return compute(256 * kMiB, 0); }
Plan plan_in_force = initial();

}  // namespace

Plan compute(uint64_t free_bytes, uint64_t heap_request) {
    Plan p{};
    p.free_bytes = free_bytes;
    if (free_bytes >= kLargeFrom) {
        // A burst of a whole TCP window (slirp delivers one at once) waits in the ring, not in QEMU's queue,
        // and the tail moves less often: under TCG iperf3 measured ~740 Mbit/s with 256 descriptors, ~930 with
        // 1024 (README, Benchmark).
        p.tier = Tier::Large;
        p.nic_rx_ring = 1024;
        p.nic_rx_buffers = 1536;
    } else if (free_bytes >= kSmallFrom) {
        p.tier = Tier::Small;
        p.nic_rx_ring = 256;
        p.nic_rx_buffers = 512;
    } else {
        p.tier = Tier::Tiny;
        p.nic_rx_ring = 128;
        p.nic_rx_buffers = 384;
    }
    // Lent buffers must leave the ring a full set to refill from. A tiny guest may get fewer buffers than
    // planned (the driver stops at the first chunk that does not fit: 352 of 384 at -m 4), so it lends half.
    const uint16_t spare = static_cast<uint16_t>(p.nic_rx_buffers - p.nic_rx_ring);
    const uint16_t cap = p.tier == Tier::Tiny ? 128 : 256;
    p.rx_lend = spare < cap ? spare : cap;

    const uint64_t pages_needed = p.nic_rx_buffers * kBufferBytes + kPagesMargin;
    uint64_t room = free_bytes > pages_needed ? free_bytes - pages_needed : 0;
    uint64_t heap;
    if (p.tier == Tier::Large) {
        heap = free_bytes / 2;  // the rest stays with the page allocator (DMA, a second NIC, later devices)
        if (heap > kMaxHeap) heap = kMaxHeap;
        p.heap_align = 2 * kMiB;
    } else {
        heap = room;
        p.heap_align = 64 * kKiB;
    }
    if (heap_request) heap = heap_request < room || room == 0 ? heap_request : room;
    heap = align_down(heap, p.heap_align);
    if (heap < kMinHeap) heap = free_bytes >= kMinHeap ? kMinHeap : 0;
    p.heap_bytes = heap;

    // The network stack may fill half the heap with buffers; the rest is for connection state, TLS and the
    // applications. Small allocations (headers, ACKs, control segments) are outside this budget (net_memory).
    p.net_buffers = heap / 2;
    if (p.net_buffers > 256 * kMiB) p.net_buffers = 256 * kMiB;
    // A TCP connection may queue an eighth of it: several bulk senders fit at once.
    uint64_t snd = align_down(p.net_buffers / 8, 64 * kKiB);
    if (snd < 64 * kKiB) snd = 64 * kKiB;
    if (snd > 512 * kKiB) snd = 512 * kKiB;
    p.tcp_snd_buf = static_cast<uint32_t>(snd);
    return p;
}

const char* tier_name(Tier t) {
    switch (t) {
    case Tier::Tiny: return "tiny";
    case Tier::Small: return "small";
    case Tier::Large: return "large";
    }
    return "?";
}

void format(const Plan& p, char* out, size_t size) {
    snprintf(out, size,
             "%llu KiB free (%s): heap %llu KiB; NIC receive %u descriptors, %u buffers (%llu KiB), %u lent at once; "
             "network buffers up to %llu KiB, TCP send buffer %u KiB a connection",
             static_cast<unsigned long long>(p.free_bytes / kKiB), tier_name(p.tier),
             static_cast<unsigned long long>(p.heap_bytes / kKiB), static_cast<unsigned>(p.nic_rx_ring),
             static_cast<unsigned>(p.nic_rx_buffers),
             static_cast<unsigned long long>(p.nic_rx_buffers * kBufferBytes / kKiB), static_cast<unsigned>(p.rx_lend),
             static_cast<unsigned long long>(p.net_buffers / kKiB), static_cast<unsigned>(p.tcp_snd_buf / kKiB));
}

const Plan& current() { return plan_in_force; }
void set(const Plan& p) { plan_in_force = p; }

}  // namespace skerry::mem_plan
