// VMBus ring buffers: layout, packet format, wrap, full, signalling rules and a malicious peer
// (docs/protocols/hyperv-vmbus.md §7).
// The guest's Ring and a second Ring on the same memory (the host's view) play writer and reader.
#include <gtest/gtest.h>
#include <string.h>

#include <random>
#include <vector>

#include "drivers/bus/vmbus/ring.hpp"

namespace skerry::vmbus {
namespace {

struct Mem {
    explicit Mem(size_t data_pages) : words((4096 + data_pages * 4096) / 8, 0) {}
    uint8_t* base() { return reinterpret_cast<uint8_t*>(words.data()); }
    size_t size() const { return words.size() * 8; }
    uint32_t& u32(size_t off) { return *reinterpret_cast<uint32_t*>(base() + off); }
    uint8_t* data() { return base() + 4096; }
    std::vector<uint64_t> words;
};

TEST(VmbusRing, LayoutConstants) {
    EXPECT_EQ(kRingOffWriteIndex, 0u);
    EXPECT_EQ(kRingOffReadIndex, 4u);
    EXPECT_EQ(kRingOffInterruptMask, 8u);
    EXPECT_EQ(kRingOffPendingSendSz, 12u);
    EXPECT_EQ(kRingOffFeatureBits, 64u);
    EXPECT_EQ(__builtin_offsetof(PacketDescriptor, offset8), 2u);
    EXPECT_EQ(__builtin_offsetof(PacketDescriptor, len8), 4u);
    EXPECT_EQ(__builtin_offsetof(PacketDescriptor, flags), 6u);
    EXPECT_EQ(__builtin_offsetof(PacketDescriptor, transaction_id), 8u);
}

TEST(VmbusRing, AttachChecksGeometry) {
    Mem m(1);
    Ring r;
    EXPECT_EQ(r.attach(m.base(), 4096), RingStatus::NotAttached);
    EXPECT_EQ(r.attach(m.base(), 4096 + 100), RingStatus::NotAttached);
    EXPECT_EQ(r.attach(nullptr, 8192), RingStatus::NotAttached);
    bool sig;
    EXPECT_EQ(r.write_packet(6, 0, 1, nullptr, 0, "x", 1, sig), RingStatus::NotAttached);
    ASSERT_EQ(r.attach(m.base(), m.size()), RingStatus::Ok);
    EXPECT_EQ(r.data_size(), 4096u);
    m.u32(0) = 12;  // a host that left a misaligned index behind
    Ring r2;
    EXPECT_EQ(r2.attach(m.base(), m.size()), RingStatus::Corrupt);
}

TEST(VmbusRing, InbandPacketGoldenBytes) {
    Mem m(1);
    Ring tx;
    ASSERT_EQ(tx.attach(m.base(), m.size()), RingStatus::Ok);
    const uint8_t payload[5] = {1, 2, 3, 4, 5};
    bool sig = false;
    ASSERT_EQ(tx.write_packet(kPacketDataInband, kPacketFlagCompletionRequested, 0x1122334455667788ull, nullptr, 0,
                              payload, sizeof payload, sig),
              RingStatus::Ok);
    EXPECT_TRUE(sig);  // empty -> non-empty, interrupt_mask 0
    const uint8_t golden[40] = {
        0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00,  // type 6, offset8 2, len8 3 (16+5 -> 24), flags 1
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // transaction id
        1,    2,    3,    4,    5,    0,    0,    0,     // payload, zero padding to 8
        0,    0,    0,    0,    0,    0,    0,    0,     // trailer: start offset 0 << 32
        0,    0,    0,    0,    0,    0,    0,    0,
    };
    EXPECT_EQ(memcmp(m.data(), golden, 40), 0);
    EXPECT_EQ(m.u32(kRingOffWriteIndex), 32u);
    // The second packet's trailer carries its start offset (32) in the upper half.
    ASSERT_EQ(tx.write_packet(kPacketCompletion, 0, 7, nullptr, 0, nullptr, 0, sig), RingStatus::Ok);
    EXPECT_FALSE(sig);  // ring was not empty
    uint64_t trailer;
    memcpy(&trailer, m.data() + 48, 8);
    EXPECT_EQ(trailer, 32ull << 32);
    EXPECT_EQ(m.u32(kRingOffWriteIndex), 56u);
}

TEST(VmbusRing, ExtraHeaderSetsOffset8) {
    Mem m(1);
    Ring tx, host;
    ASSERT_EQ(tx.attach(m.base(), m.size()), RingStatus::Ok);
    ASSERT_EQ(host.attach(m.base(), m.size()), RingStatus::Ok);
    const uint8_t hdr[24] = {0, 0, 0, 0, 1, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x99};  // GPA-direct, 1 range
    const uint8_t nvsp[16] = {107};
    bool sig;
    ASSERT_EQ(tx.write_packet(kPacketDataGpaDirect, 1, 5, hdr, sizeof hdr, nvsp, sizeof nvsp, sig), RingStatus::Ok);
    EXPECT_EQ(tx.write_packet(kPacketDataGpaDirect, 1, 5, hdr, 20, nvsp, sizeof nvsp, sig), RingStatus::TooBig);
    PacketDescriptor d;
    ASSERT_EQ(host.peek(d), RingStatus::Ok);
    EXPECT_EQ(d.type, kPacketDataGpaDirect);
    EXPECT_EQ(d.offset8, 5);  // 16 + 24 bytes
    EXPECT_EQ(d.len8, 7);
    uint8_t buf[64];
    size_t len;
    ASSERT_EQ(host.read(buf, sizeof buf, len, sig), RingStatus::Ok);
    EXPECT_EQ(len, 56u);
    EXPECT_EQ(memcmp(buf + 16, hdr, 24), 0);
    EXPECT_EQ(buf[40], 107);
}

TEST(VmbusRing, SignalRules) {
    Mem m(1);
    Ring tx, host;
    ASSERT_EQ(tx.attach(m.base(), m.size()), RingStatus::Ok);
    ASSERT_EQ(host.attach(m.base(), m.size()), RingStatus::Ok);
    bool sig;
    ASSERT_EQ(tx.write_packet(6, 0, 1, nullptr, 0, "abc", 3, sig), RingStatus::Ok);
    EXPECT_TRUE(sig);
    ASSERT_EQ(tx.write_packet(6, 0, 2, nullptr, 0, "abc", 3, sig), RingStatus::Ok);
    EXPECT_FALSE(sig);
    uint8_t buf[64];
    size_t len;
    ASSERT_EQ(host.read(buf, sizeof buf, len, sig), RingStatus::Ok);
    ASSERT_EQ(host.read(buf, sizeof buf, len, sig), RingStatus::Ok);
    EXPECT_EQ(host.read(buf, sizeof buf, len, sig), RingStatus::Empty);
    // Empty again: the next write signals, unless the reader masked interrupts.
    host.set_interrupt_mask(true);
    EXPECT_EQ(m.u32(kRingOffInterruptMask), 1u);
    ASSERT_EQ(tx.write_packet(6, 0, 3, nullptr, 0, "abc", 3, sig), RingStatus::Ok);
    EXPECT_FALSE(sig);
    ASSERT_EQ(host.skip(sig), RingStatus::Ok);
    host.set_interrupt_mask(false);
    ASSERT_EQ(tx.write_packet(6, 0, 4, nullptr, 0, "abc", 3, sig), RingStatus::Ok);
    EXPECT_TRUE(sig);
    EXPECT_EQ(tx.stats().signals, 2u);
}

TEST(VmbusRing, WrapAroundPreservesContents) {
    Mem m(1);
    Ring tx, host;
    ASSERT_EQ(tx.attach(m.base(), m.size()), RingStatus::Ok);
    ASSERT_EQ(host.attach(m.base(), m.size()), RingStatus::Ok);
    std::mt19937 rng(1);
    uint64_t tid = 0;
    int wraps = 0;
    for (int i = 0; i < 2000; ++i) {
        std::vector<uint8_t> p(rng() % 700);
        for (auto& b : p) b = static_cast<uint8_t>(rng());
        const uint32_t start = m.u32(kRingOffWriteIndex);
        bool sig;
        ASSERT_EQ(tx.write_packet(6, 0, ++tid, nullptr, 0, p.data(), p.size(), sig), RingStatus::Ok) << i;
        const uint32_t total = static_cast<uint32_t>(((16 + p.size() + 7) & ~size_t{7}) + 8);
        if (start + total > 4096) wraps++;
        EXPECT_EQ(m.u32(kRingOffWriteIndex), (start + total) % 4096);
        // The trailer sits just before the new write index, possibly wrapped.
        uint8_t tb[8];
        for (int k = 0; k < 8; ++k) tb[k] = m.data()[(start + total - 8 + k) % 4096];
        uint64_t trailer;
        memcpy(&trailer, tb, 8);
        EXPECT_EQ(trailer, static_cast<uint64_t>(start) << 32);
        std::vector<uint8_t> out(1024);
        size_t len;
        ASSERT_EQ(host.read(out.data(), out.size(), len, sig), RingStatus::Ok);
        PacketDescriptor d;
        memcpy(&d, out.data(), 16);
        EXPECT_EQ(d.transaction_id, tid);
        if (!p.empty()) {
            ASSERT_EQ(memcmp(out.data() + 16, p.data(), p.size()), 0) << i;
        }
        EXPECT_EQ(host.bytes_to_read(), 0u);
    }
    EXPECT_GT(wraps, 100);
}

TEST(VmbusRing, NeverFillsCompletely) {
    Mem m(1);
    Ring tx, host;
    ASSERT_EQ(tx.attach(m.base(), m.size()), RingStatus::Ok);
    ASSERT_EQ(host.attach(m.base(), m.size()), RingStatus::Ok);
    uint8_t payload[1000] = {};
    bool sig;
    // Packets of 16 + 1000 + 8 = 1024 bytes: only 3 fit in 4096 (a 4th would make the ring exactly full).
    for (int i = 0; i < 3; ++i) ASSERT_EQ(tx.write_packet(6, 0, i, nullptr, 0, payload, 1000, sig), RingStatus::Ok);
    EXPECT_EQ(tx.bytes_to_write(), 1024u);
    EXPECT_EQ(tx.write_packet(6, 0, 9, nullptr, 0, payload, 1000, sig), RingStatus::Full);
    EXPECT_EQ(tx.stats().full, 1u);
    ASSERT_EQ(tx.write_packet(6, 0, 9, nullptr, 0, payload, 992, sig), RingStatus::Ok);  // 1016 < 1024 fits
    EXPECT_EQ(tx.bytes_to_write(), 8u);
    EXPECT_EQ(tx.write_packet(6, 0, 9, nullptr, 0, nullptr, 0, sig), RingStatus::Full);
    ASSERT_EQ(host.skip(sig), RingStatus::Ok);
    EXPECT_EQ(tx.bytes_to_write(), 1032u);
    ASSERT_EQ(tx.write_packet(6, 0, 9, nullptr, 0, payload, 1000, sig), RingStatus::Ok);  // 1032 > 1024
    EXPECT_EQ(tx.write_packet(6, 0, 9, nullptr, 0, nullptr, 0, sig), RingStatus::Full);
    // Too big ever to fit.
    std::vector<uint8_t> big(4096);
    EXPECT_EQ(tx.write_packet(6, 0, 9, nullptr, 0, big.data(), big.size(), sig), RingStatus::TooBig);
}

TEST(VmbusRing, ReadIntoSmallBufferKeepsPacket) {
    Mem m(1);
    Ring tx, host;
    ASSERT_EQ(tx.attach(m.base(), m.size()), RingStatus::Ok);
    ASSERT_EQ(host.attach(m.base(), m.size()), RingStatus::Ok);
    bool sig;
    uint8_t p[100] = {42};
    ASSERT_EQ(tx.write_packet(6, 0, 1, nullptr, 0, p, sizeof p, sig), RingStatus::Ok);
    uint8_t small[32];
    size_t len;
    EXPECT_EQ(host.read(small, sizeof small, len, sig), RingStatus::BufferTooSmall);
    EXPECT_EQ(len, 120u);
    uint8_t big[128];
    ASSERT_EQ(host.read(big, sizeof big, len, sig), RingStatus::Ok);
    EXPECT_EQ(big[16], 42);
}

// Reader-side pending_send_sz: the writer (here the host) sets feature bit 0 and pending_send_sz.
TEST(VmbusRing, PendingSendSizeSignalsOnlyOnCrossing) {
    Mem m(1);
    Ring host_tx, guest_rx;
    ASSERT_EQ(host_tx.attach(m.base(), m.size()), RingStatus::Ok);
    ASSERT_EQ(guest_rx.attach(m.base(), m.size()), RingStatus::Ok);
    uint8_t p[1000] = {};
    bool sig;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(host_tx.write_packet(6, 0, i, nullptr, 0, p, 1000, sig), RingStatus::Ok);
    // free = 1024. Host wants 1500 bytes.
    host_tx.set_pending_send_sz(1500);
    ASSERT_EQ(guest_rx.skip(sig), RingStatus::Ok);  // feature bit clear: no signal whatever the sizes
    EXPECT_FALSE(sig);
    ASSERT_EQ(host_tx.write_packet(6, 0, 3, nullptr, 0, p, 1000, sig), RingStatus::Ok);  // free back to 1024
    host_tx.set_writer_feature_pending_send_sz(true);
    EXPECT_EQ(m.u32(kRingOffFeatureBits) & 1, 1u);
    ASSERT_EQ(guest_rx.skip(sig), RingStatus::Ok);  // 1024 -> 2048: crosses 1500
    EXPECT_TRUE(sig);
    ASSERT_EQ(guest_rx.skip(sig), RingStatus::Ok);  // 2048 -> 3072: was already enough
    EXPECT_FALSE(sig);
    // Exactly pending is "not enough": 1024 -> 2048 with pending 2048 does not signal; 2048 -> 3072 does.
    ASSERT_EQ(host_tx.write_packet(6, 0, 4, nullptr, 0, p, 1000, sig), RingStatus::Ok);
    ASSERT_EQ(host_tx.write_packet(6, 0, 5, nullptr, 0, p, 1000, sig), RingStatus::Ok);
    EXPECT_EQ(host_tx.bytes_to_write(), 1024u);
    host_tx.set_pending_send_sz(2048);
    ASSERT_EQ(guest_rx.skip(sig), RingStatus::Ok);
    EXPECT_FALSE(sig);
    ASSERT_EQ(guest_rx.skip(sig), RingStatus::Ok);
    EXPECT_TRUE(sig);
    // pending_send_sz 0: nothing to do.
    host_tx.set_pending_send_sz(0);
    ASSERT_EQ(guest_rx.skip(sig), RingStatus::Ok);
    EXPECT_FALSE(sig);
}

// A malicious or broken host: every bad index or descriptor is reported, sticky, counted, and never crashes.
TEST(VmbusRing, CorruptPeerWriteIndex) {
    for (uint32_t bad : {4u, 4096u, 0xFFFFFFF8u, 4100u}) {
        Mem m(1);
        Ring rx;
        ASSERT_EQ(rx.attach(m.base(), m.size()), RingStatus::Ok);
        m.u32(kRingOffWriteIndex) = bad;
        PacketDescriptor d;
        uint8_t buf[64];
        size_t len;
        bool sig;
        EXPECT_EQ(rx.peek(d), RingStatus::Corrupt) << bad;
        m.u32(kRingOffWriteIndex) = 0;  // fixing it afterwards does not help: the ring stays condemned
        EXPECT_EQ(rx.read(buf, sizeof buf, len, sig), RingStatus::Corrupt);
        EXPECT_TRUE(rx.corrupt());
        EXPECT_EQ(rx.stats().corruptions, 1u);
    }
}

TEST(VmbusRing, CorruptPeerReadIndex) {
    Mem m(1);
    Ring tx;
    ASSERT_EQ(tx.attach(m.base(), m.size()), RingStatus::Ok);
    m.u32(kRingOffReadIndex) = 4097;
    bool sig;
    EXPECT_EQ(tx.write_packet(6, 0, 1, nullptr, 0, "x", 1, sig), RingStatus::Corrupt);
    EXPECT_EQ(tx.bytes_to_write(), 0u);
    EXPECT_EQ(m.u32(kRingOffWriteIndex), 0u);  // nothing published
}

TEST(VmbusRing, CorruptDescriptors) {
    struct Case {
        const char* what;
        uint16_t offset8, len8;
        uint32_t write_index;
    } cases[] = {
        {"offset8 < 2", 1, 3, 32},
        {"len8 < offset8", 4, 3, 32},
        {"len8 beyond the written data", 2, 10, 32},
        {"len8 = 0xFFFF", 2, 0xFFFF, 32},
        {"fewer bytes than a descriptor", 2, 2, 8},
    };
    for (const Case& c : cases) {
        Mem m(1);
        Ring rx;
        ASSERT_EQ(rx.attach(m.base(), m.size()), RingStatus::Ok);
        PacketDescriptor d{6, c.offset8, c.len8, 0, 0};
        memcpy(m.data(), &d, sizeof d);
        m.u32(kRingOffWriteIndex) = c.write_index;
        PacketDescriptor out;
        EXPECT_EQ(rx.peek(out), RingStatus::Corrupt) << c.what;
    }
}

TEST(VmbusRing, RandomGarbageNeverCrashes) {
    std::mt19937 rng(7);
    for (int iter = 0; iter < 3000; ++iter) {
        Mem m(1 + iter % 3);
        Ring rx, tx;
        ASSERT_EQ(rx.attach(m.base(), m.size()), RingStatus::Ok);
        ASSERT_EQ(tx.attach(m.base(), m.size()), RingStatus::Ok);
        for (size_t i = 0; i < 32; ++i) m.data()[rng() % (m.size() - 4096)] = static_cast<uint8_t>(rng());
        m.u32(kRingOffWriteIndex) = (rng() % 2) ? static_cast<uint32_t>(rng()) : (rng() % (m.size() - 4096)) & ~7u;
        m.u32(kRingOffPendingSendSz) = static_cast<uint32_t>(rng());
        m.u32(kRingOffFeatureBits) = static_cast<uint32_t>(rng());
        uint8_t buf[256];
        size_t len;
        bool sig;
        for (int k = 0; k < 8; ++k) {
            const RingStatus s = rx.read(buf, sizeof buf, len, sig);
            if (s == RingStatus::BufferTooSmall) {
                ASSERT_NE(rx.skip(sig), RingStatus::BufferTooSmall);
            }
            if (s == RingStatus::Empty || s == RingStatus::Corrupt) break;
        }
        (void)tx.write_packet(6, 0, 1, nullptr, 0, buf, rng() % 200, sig);
    }
}

}  // namespace
}  // namespace skerry::vmbus
