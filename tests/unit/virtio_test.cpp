// The virtio core and the virtio-net driver against the device model (virtio_model.hpp): negotiation, MAC/MTU/link
// from the configuration, receive and transmit (zero copy, scatter-gather, checksum offload both ways), notification
// and interrupt suppression, the NIC contract (no nesting), and a malicious device (bad used ids and lengths, used
// index jumps, multi-buffer frames, configuration changes mid-traffic, NEEDS_RESET). The same driver also runs
// through the real MmioTransport (versions 1 and 2) in front of the model. Plus the pure parts: the virtqueue layout
// and event arithmetic, `virtio_mmio.device=` parsing, the DSDT scan.
#include <gtest/gtest.h>

#include <string.h>

#include <memory>
#include <random>
#include <vector>

#include "drivers/bus/virtio/mmio_transport.hpp"
#include "drivers/bus/virtio/virtio.hpp"
#include "drivers/bus/virtio/virtqueue.hpp"
#include "drivers/nic/virtio_net/virtio_net.hpp"
#include "kernel/dma.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "virtio_model.hpp"

using namespace skerry;
using virtio::bit;
using virtio::test::DirectTransport;
using virtio::test::MmioFront;
using virtio::test::NetModel;
using virtio_net::Driver;

namespace {

const uint8_t kMac[6] = {0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF};

// A client that records everything and checks the contract: no callback while another is running.
class Client final : public net::NicClient {
public:
    Driver* drv = nullptr;
    bool hold = false;
    int depth = 0, nested = 0;
    std::vector<std::vector<uint8_t>> frames;
    std::vector<net::RxChecksum> sums;
    std::vector<void*> held, done;
    std::vector<bool> links;
    int ready = 0;
    const std::vector<uint8_t>* reply = nullptr;  // transmit this from inside receive()
    int replies_full = 0;

    struct Enter {
        Client& c;
        explicit Enter(Client& cl) : c(cl) {
            if (c.depth++) ++c.nested;
        }
        ~Enter() { --c.depth; }
    };

    bool receive(const net::RxFrame& f) override {
        Enter e(*this);
        const auto* p = static_cast<const uint8_t*>(f.data);
        frames.emplace_back(p, p + f.len);
        sums.push_back(f.checksum);
        if (reply) {
            net::TxFrame t{};
            t.segs[0] = {reply->data(), static_cast<uint32_t>(reply->size())};
            t.count = 1;
            t.total_len = static_cast<uint32_t>(reply->size());
            t.cookie = reinterpret_cast<void*>(0x1000 + frames.size());
            if (drv->transmit(t) == net::TxStatus::Full) ++replies_full;
        }
        if (hold) {
            held.push_back(f.buffer);
        } else {
            drv->rx_release(f.buffer);
        }
        return true;
    }
    void tx_done(void* cookie) override {
        Enter e(*this);
        done.push_back(cookie);
    }
    void link_changed(bool up) override {
        Enter e(*this);
        links.push_back(up);
    }
    void tx_ready() override {
        Enter e(*this);
        ++ready;
    }
    void release_all() {
        std::vector<void*> h;
        h.swap(held);
        for (void* b : h) drv->rx_release(b);
    }
};

std::vector<uint8_t> eth_frame(size_t len, uint32_t seq) {
    std::vector<uint8_t> f(len);
    for (size_t i = 0; i < len; ++i) f[i] = static_cast<uint8_t>(i * 7 + seq);
    memcpy(f.data(), kMac, 6);
    const uint8_t src[6] = {0x02, 0, 0, 0, 0, 1};
    memcpy(f.data() + 6, src, 6);
    f[12] = 0x88;  // not IP: no checksum business
    f[13] = 0xB5;
    return f;
}

uint16_t csum(const uint8_t* p, size_t n, uint32_t s = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) s += p[i] << 8 | p[i + 1];
    if (n & 1) s += p[n - 1] << 8;
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return static_cast<uint16_t>(~s);
}

// An Ethernet + IPv4 + UDP frame with a valid IPv4 header checksum; the UDP checksum field holds `udp_sum`.
std::vector<uint8_t> udp_frame(size_t payload, uint16_t udp_sum = 0) {
    std::vector<uint8_t> f(14 + 20 + 8 + payload, 0);
    memcpy(f.data(), kMac, 6);
    f[6] = 2;
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;
    const uint16_t tot = static_cast<uint16_t>(20 + 8 + payload);
    ip[2] = static_cast<uint8_t>(tot >> 8);
    ip[3] = static_cast<uint8_t>(tot);
    ip[8] = 64;
    ip[9] = 17;
    ip[12] = 10, ip[15] = 2;
    ip[16] = 10, ip[19] = 15;
    const uint16_t c = csum(ip, 20);
    ip[10] = static_cast<uint8_t>(c >> 8);
    ip[11] = static_cast<uint8_t>(c);
    uint8_t* udp = ip + 20;
    udp[1] = 7, udp[3] = 7;
    udp[4] = static_cast<uint8_t>((8 + payload) >> 8);
    udp[5] = static_cast<uint8_t>(8 + payload);
    udp[6] = static_cast<uint8_t>(udp_sum >> 8);
    udp[7] = static_cast<uint8_t>(udp_sum);
    for (size_t i = 0; i < payload; ++i) udp[8 + i] = static_cast<uint8_t>(i * 13);
    return f;
}

net::TxFrame tx_frame(const std::vector<const std::vector<uint8_t>*>& pieces, void* cookie) {
    net::TxFrame f{};
    for (const auto* p : pieces) {
        f.segs[f.count++] = {p->data(), static_cast<uint32_t>(p->size())};
        f.total_len += static_cast<uint32_t>(p->size());
    }
    f.cookie = cookie;
    return f;
}
void* cookie(uintptr_t n) { return reinterpret_cast<void*>(n); }

class VirtioNetTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::reset();
        baseline_ = dma::in_use();
    }
    void TearDown() override {
        drv.reset();
        hw::set_model(nullptr);
        if (model) {
            EXPECT_TRUE(model->violations.empty()) << "first: " << model->violations.front();
        }
        log::reset();
        EXPECT_EQ(dma::in_use(), baseline_) << "DMA memory leaked";
    }
    // Tests see the interrupt path at once unless they ask for lingering.
    static virtio_net::Options no_linger() {
        virtio_net::Options o;
        o.linger_ns = 0;
        return o;
    }
    void make(bool legacy = false, virtio_net::Options o = no_linger()) {
        model = std::make_unique<NetModel>(legacy);
        transport = std::make_unique<DirectTransport>(*model, legacy ? "model, legacy" : "model");
        drv = std::make_unique<Driver>();
        client.drv = drv.get();
        opts = o;
    }
    void start(bool legacy = false, virtio_net::Options o = no_linger()) {
        make(legacy, o);
        ASSERT_TRUE(drv->init(*transport, opts));
        ASSERT_TRUE(drv->start(client));
    }
    // Runs the loop until nothing is left to do (interrupt work, pollers, the end-of-iteration hook).
    void settle() {
        for (int i = 0; i < 50 && loop::run_once(); ++i) {
        }
    }

    std::unique_ptr<NetModel> model;
    std::unique_ptr<DirectTransport> transport;
    std::unique_ptr<Driver> drv;
    virtio_net::Options opts;
    Client client;
    size_t baseline_ = 0;
};

TEST_F(VirtioNetTest, NegotiatesAndReadsTheConfiguration) {
    ASSERT_NO_FATAL_FAILURE(start());
    const uint64_t f = model->driver_features;
    EXPECT_TRUE(f & bit(virtio::kFeatureVersion1));
    EXPECT_TRUE(f & bit(virtio::kFeatureEventIdx));
    EXPECT_TRUE(f & bit(virtio_net::kFeatMac));
    EXPECT_TRUE(f & bit(virtio_net::kFeatMrgRxbuf));
    EXPECT_FALSE(f & bit(virtio::kFeatureIndirectDesc));  // offered, not wanted
    EXPECT_FALSE(f & bit(virtio_net::kFeatCtrlVq));
    EXPECT_EQ(model->status,
              virtio::kStatusAcknowledge | virtio::kStatusDriver | virtio::kStatusFeaturesOk | virtio::kStatusDriverOk);
    EXPECT_EQ(memcmp(drv->mac(), kMac, 6), 0);
    EXPECT_EQ(drv->mtu(), 1500);
    EXPECT_TRUE(drv->link_up());
    EXPECT_EQ(client.links, std::vector<bool>{true});
    EXPECT_EQ(model->avail_idx(0), 256);  // every receive descriptor holds a buffer
    EXPECT_EQ(drv->offloads(),
              net::kOffloadTxTcpUdpChecksum | net::kOffloadTxTcp6UdpChecksum | net::kOffloadRxChecksum);
    settle();
    EXPECT_EQ(model->q[0].notifies, 1u);  // told once about the buffers
}

TEST_F(VirtioNetTest, RefusesAModernDeviceWithoutVersion1AndFailsItCleanly) {
    make();
    model->offered &= ~bit(virtio::kFeatureVersion1);
    EXPECT_FALSE(drv->init(*transport, opts));
    EXPECT_TRUE(model->status & virtio::kStatusFailed);
}

TEST_F(VirtioNetTest, DeviceRefusingFeaturesOkIsFailed) {
    make();
    model->refuse_features_ok = true;  // FEATURES_OK does not stick
    EXPECT_FALSE(drv->init(*transport, opts));
    EXPECT_TRUE(model->status & virtio::kStatusFailed);
    EXPECT_FALSE(model->status & virtio::kStatusDriverOk);
}

TEST_F(VirtioNetTest, WithoutMacFeatureAMacIsMadeLocallyAdministered) {
    const uint8_t fallback[6] = {0x13, 0x22, 0x33, 0x44, 0x55, 0x66};
    virtio_net::Options o = no_linger();
    o.fallback_mac = fallback;
    make(false, o);
    model->offered &= ~bit(virtio_net::kFeatMac);
    ASSERT_TRUE(drv->init(*transport, opts));
    EXPECT_EQ(drv->mac()[0], 0x12);  // multicast bit cleared, local bit set
    EXPECT_EQ(memcmp(drv->mac() + 1, fallback + 1, 5), 0);
}

TEST_F(VirtioNetTest, SmallMtuFromTheDeviceIsUsedAndFramesBeyondItDropped) {
    make();
    model->mtu = 1280;
    ASSERT_TRUE(drv->init(*transport, opts));
    ASSERT_TRUE(drv->start(client));
    EXPECT_EQ(drv->mtu(), 1280);
    ASSERT_TRUE(model->deliver(eth_frame(1280 + 14, 1)));
    ASSERT_TRUE(model->deliver(eth_frame(1400, 2)));
    settle();
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, 1u);
}

TEST_F(VirtioNetTest, ReceivesFramesZeroCopyAndRefills) {
    ASSERT_NO_FATAL_FAILURE(start());
    std::vector<std::vector<uint8_t>> want;
    for (uint32_t i = 0; i < 600; ++i) {  // more than the ring: buffers must come back and be reused
        want.push_back(eth_frame(60 + (i * 37) % 1455, i));
        ASSERT_TRUE(model->deliver(want.back())) << i;
        if (i % 50 == 49) settle();
    }
    settle();
    ASSERT_EQ(client.frames.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(client.frames[i], want[i]) << i;
    EXPECT_EQ(drv->rx_buffers_free() + drv->rxq().in_flight(), drv->rx_buffers_total());
    EXPECT_EQ(client.nested, 0);
}

TEST_F(VirtioNetTest, HeldBuffersRunThePoolDryWithoutLosingAny) {
    ASSERT_NO_FATAL_FAILURE(start());
    client.hold = true;
    size_t delivered = 0;
    for (uint32_t i = 0; i < 1000 && model->deliver(eth_frame(100, i)); ++i) {
        ++delivered;
        if (i % 32 == 31) settle();
    }
    settle();
    EXPECT_EQ(client.frames.size(), delivered);
    EXPECT_EQ(delivered, 512u);                          // the pool: twice the ring
    EXPECT_FALSE(model->deliver(eth_frame(100, 9999)));  // no buffer: the device drops (its counter)
    client.release_all();
    settle();
    EXPECT_TRUE(model->deliver(eth_frame(100, 10000)));
}

TEST_F(VirtioNetTest, ReceiveChecksumStates) {
    ASSERT_NO_FATAL_FAILURE(start());
    const auto good = udp_frame(100);
    auto bad_ip = udp_frame(100);
    bad_ip[14 + 10] ^= 0xFF;  // a wrong IPv4 header checksum under DATA_VALID: not trusted
    ASSERT_TRUE(model->deliver(good, virtio_net::kHdrDataValid));
    ASSERT_TRUE(model->deliver(bad_ip, virtio_net::kHdrDataValid));
    ASSERT_TRUE(model->deliver(good, 0));
    settle();
    ASSERT_EQ(client.sums.size(), 3u);
    EXPECT_EQ(client.sums[0], net::RxChecksum::Good);
    EXPECT_EQ(client.sums[1], net::RxChecksum::Unknown);
    EXPECT_EQ(client.sums[2], net::RxChecksum::Unknown);
}

TEST_F(VirtioNetTest, ReceivedPartialChecksumIsCompleted) {
    ASSERT_NO_FATAL_FAILURE(start());
    auto f = udp_frame(33);
    // Pseudo-header sum in the field, as a sender with CHECKSUM_PARTIAL leaves it.
    const uint8_t* ip = f.data() + 14;
    uint32_t pseudo = (ip[12] << 8 | ip[13]) + (ip[14] << 8 | ip[15]) + (ip[16] << 8 | ip[17]) +
                      (ip[18] << 8 | ip[19]) + 17 + (8 + 33);
    while (pseudo >> 16) pseudo = (pseudo & 0xFFFF) + (pseudo >> 16);
    f[14 + 20 + 6] = static_cast<uint8_t>(pseudo >> 8);
    f[14 + 20 + 7] = static_cast<uint8_t>(pseudo);
    ASSERT_TRUE(model->deliver(f, virtio_net::kHdrNeedsCsum, 1, 14 + 20, 6));
    // Offsets outside the frame: dropped.
    ASSERT_TRUE(model->deliver(f, virtio_net::kHdrNeedsCsum, 1, 2000, 6));
    settle();
    ASSERT_EQ(client.frames.size(), 1u);
    const auto& got = client.frames[0];
    // The UDP checksum now verifies over the pseudo header and the datagram.
    uint32_t s = pseudo;
    for (size_t i = 14 + 20; i + 1 < got.size(); i += 2) s += got[i] << 8 | got[i + 1];
    if ((got.size() - 34) & 1) s += got.back() << 8;
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    // (pseudo counted twice above: once as the field's old value inside the datagram sum is replaced by the result)
    uint32_t v = (ip[12] << 8 | ip[13]) + (ip[14] << 8 | ip[15]) + (ip[16] << 8 | ip[17]) + (ip[18] << 8 | ip[19]) +
                 17 + (8 + 33);
    for (size_t i = 14 + 20; i + 1 < got.size(); i += 2) v += got[i] << 8 | got[i + 1];
    if ((got.size() - 34) & 1) v += got.back() << 8;
    while (v >> 16) v = (v & 0xFFFF) + (v >> 16);
    EXPECT_EQ(v, 0xFFFFu);
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, 1u);
}

TEST_F(VirtioNetTest, TransmitsScatterGatherAndCompletesInTheNextPass) {
    ASSERT_NO_FATAL_FAILURE(start());
    const auto a = eth_frame(14, 1);
    const std::vector<uint8_t> b(100, 0xAB), c(1400, 0xCD);
    ASSERT_EQ(drv->transmit(tx_frame({&a, &b, &c}, cookie(1))), net::TxStatus::Queued);
    ASSERT_EQ(drv->transmit(tx_frame({&a, &b}, cookie(2))), net::TxStatus::Queued);
    EXPECT_EQ(model->q[1].notifies, 0u);  // the doorbell waits for the end of the loop iteration
    settle();
    EXPECT_EQ(model->q[1].notifies, 1u);
    ASSERT_EQ(model->process_tx(), 2u);
    ASSERT_EQ(model->sent.size(), 2u);
    std::vector<uint8_t> want = a;
    want.insert(want.end(), b.begin(), b.end());
    want.insert(want.end(), c.begin(), c.end());
    EXPECT_EQ(model->sent[0].data, want);
    EXPECT_EQ(model->sent[0].hdr, std::vector<uint8_t>(12, 0));
    settle();  // the batch-end interrupt runs a pass
    EXPECT_EQ(client.done, (std::vector<void*>{cookie(1), cookie(2)}));
    EXPECT_EQ(client.nested, 0);
}

TEST_F(VirtioNetTest, TransmitChecksumOffloadSetsTheHeader) {
    ASSERT_NO_FATAL_FAILURE(start());
    // UDP with the pseudo-header sum in the field (what the glue does for offloaded frames).
    auto f = udp_frame(50);
    const uint8_t* ip = f.data() + 14;
    uint32_t pseudo = (ip[12] << 8 | ip[13]) + (ip[14] << 8 | ip[15]) + (ip[16] << 8 | ip[17]) +
                      (ip[18] << 8 | ip[19]) + 17 + 58;
    while (pseudo >> 16) pseudo = (pseudo & 0xFFFF) + (pseudo >> 16);
    f[14 + 26] = static_cast<uint8_t>(pseudo >> 8);
    f[14 + 27] = static_cast<uint8_t>(pseudo);
    net::TxFrame t = tx_frame({&f}, cookie(7));
    t.offload = net::kOffloadTxTcpUdpChecksum;
    t.l3_offset = 14;
    t.l4_offset = 34;
    ASSERT_EQ(drv->transmit(t), net::TxStatus::Queued);
    settle();
    ASSERT_EQ(model->process_tx(), 1u);
    const auto& h = model->sent[0].hdr;
    EXPECT_EQ(h[0], virtio_net::kHdrNeedsCsum);
    EXPECT_EQ(h[6] | h[7] << 8, 34);
    EXPECT_EQ(h[8] | h[9] << 8, 6);
    // The device filled it in: the datagram now verifies.
    const auto& d = model->sent[0].data;
    uint32_t v = (ip[12] << 8 | ip[13]) + (ip[14] << 8 | ip[15]) + (ip[16] << 8 | ip[17]) + (ip[18] << 8 | ip[19]) +
                 17 + 58;
    for (size_t i = 34; i + 1 < d.size(); i += 2) v += d[i] << 8 | d[i + 1];
    while (v >> 16) v = (v & 0xFFFF) + (v >> 16);
    EXPECT_EQ(v, 0xFFFFu);
    // Offsets that contradict the IPv4 header: refused, counted.
    t.l4_offset = 40;
    EXPECT_EQ(drv->transmit(t), net::TxStatus::Dropped);
    EXPECT_EQ(drv->counters().tx_dropped_bad_frame, 1u);
}

TEST_F(VirtioNetTest, BadFramesAreDroppedNotQueued) {
    ASSERT_NO_FATAL_FAILURE(start());
    const std::vector<uint8_t> tiny(10, 1), huge(1600, 2);
    EXPECT_EQ(drv->transmit(tx_frame({&tiny}, cookie(1))), net::TxStatus::Dropped);
    EXPECT_EQ(drv->transmit(tx_frame({&huge}, cookie(2))), net::TxStatus::Dropped);
    net::TxFrame empty{};
    EXPECT_EQ(drv->transmit(empty), net::TxStatus::Dropped);
    auto f = eth_frame(60, 1);
    net::TxFrame lie = tx_frame({&f}, cookie(3));
    lie.total_len = 61;
    EXPECT_EQ(drv->transmit(lie), net::TxStatus::Dropped);
    EXPECT_EQ(drv->counters().tx_dropped_bad_frame, 4u);
    settle();
    EXPECT_EQ(model->process_tx(), 0u);
}

TEST_F(VirtioNetTest, FullQueueSaysFullThenTxReady) {
    virtio_net::Options o = no_linger();
    o.tx_ring = 16;
    ASSERT_NO_FATAL_FAILURE(start(false, o));
    const auto f = eth_frame(60, 1);
    int queued = 0;
    while (drv->transmit(tx_frame({&f}, cookie(100 + queued))) == net::TxStatus::Queued) ++queued;
    EXPECT_EQ(queued, 8);  // two descriptors a frame (header + data)
    EXPECT_EQ(client.ready, 0);
    settle();
    EXPECT_EQ(model->process_tx(), 8u);
    settle();
    EXPECT_EQ(client.done.size(), 8u);
    EXPECT_EQ(client.ready, 1);
    EXPECT_EQ(drv->counters().tx_dropped_ring_full, 1u);
}

TEST_F(VirtioNetTest, ContractRepliesFromInsideReceiveNeverNest) {
    virtio_net::Options o = no_linger();
    o.tx_ring = 16;
    ASSERT_NO_FATAL_FAILURE(start(false, o));
    const auto answer = eth_frame(80, 9);
    client.reply = &answer;
    size_t sent = 0;
    for (int round = 0; round < 10; ++round) {
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(model->deliver(eth_frame(100, static_cast<uint32_t>(round * 20 + i))));
        settle();
        sent += model->process_tx();
        settle();
    }
    EXPECT_EQ(client.nested, 0);
    EXPECT_EQ(client.frames.size(), 200u);
    EXPECT_GT(client.replies_full, 0);
    EXPECT_EQ(sent + static_cast<size_t>(client.replies_full), 200u);
    EXPECT_EQ(client.done.size(), sent);
}

TEST_F(VirtioNetTest, OneNotificationPerIterationAndOnlyWhenAsked) {
    ASSERT_NO_FATAL_FAILURE(start());
    settle();
    const uint64_t before = model->q[1].notifies;
    const auto f = eth_frame(60, 1);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1 + i))), net::TxStatus::Queued);
    settle();
    EXPECT_EQ(model->q[1].notifies, before + 1);
    // The device says it will look at the ring by itself until index 100: no notification for the next frames.
    model->set_avail_event(1, 100);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(20 + i))), net::TxStatus::Queued);
    settle();
    EXPECT_EQ(model->q[1].notifies, before + 1);
    EXPECT_EQ(model->process_tx(), 15u);
    settle();
    EXPECT_EQ(client.done.size(), 15u);
    EXPECT_LE(model->interrupts_raised, 3u);  // completions signal once per batch, not once per frame
}

TEST_F(VirtioNetTest, ReceiveInterruptIsReArmedAfterAPass) {
    ASSERT_NO_FATAL_FAILURE(start());
    settle();
    ASSERT_TRUE(model->deliver(eth_frame(60, 1)));
    EXPECT_EQ(model->interrupts_raised, 1u);
    settle();
    EXPECT_EQ(model->used_event(0), 1);  // interrupt at the next frame
    ASSERT_TRUE(model->deliver(eth_frame(60, 2)));
    EXPECT_EQ(model->interrupts_raised, 2u);
    settle();
    EXPECT_EQ(client.frames.size(), 2u);
}

TEST_F(VirtioNetTest, WhileFramesFlowThePollerTakesThemWithTheInterruptOff) {
    virtio_net::Options o = no_linger();
    o.linger_ns = 60ull * 1000000000ull;  // longer than the test
    ASSERT_NO_FATAL_FAILURE(start(false, o));
    settle();
    ASSERT_TRUE(model->deliver(eth_frame(60, 1)));
    EXPECT_EQ(model->interrupts_raised, 1u);
    for (int i = 0; i < 3; ++i) loop::run_once();
    for (uint32_t i = 2; i < 50; ++i) {
        ASSERT_TRUE(model->deliver(eth_frame(60, i)));
        loop::run_once();  // the poller's pass
    }
    EXPECT_EQ(client.frames.size(), 49u);
    EXPECT_EQ(model->interrupts_raised, 1u);  // no interrupt per frame while polling
}

TEST_F(VirtioNetTest, MaliciousUsedIdsAndLengthsAreDroppedAndCounted) {
    ASSERT_NO_FATAL_FAILURE(start());
    settle();
    model->push_used_raw(0, 5000, 100);  // out of range
    settle();
    model->push_used_raw(0, 3, 100000);  // a real head with a length beyond its buffer
    settle();
    EXPECT_EQ(client.frames.size(), 0u);
    EXPECT_GE(drv->counters().device_errors, 2u);
    EXPECT_EQ(drv->rxq().counters().bad_used_id, 1u);
    EXPECT_EQ(drv->rxq().counters().bad_used_len, 1u);
    EXPECT_GE(drv->counters().rx_dropped_bad_frame, 1u);
    // One head returned twice in a row: the second time the driver no longer has it outstanding.
    model->push_used_raw(0, 7, 5);
    model->push_used_raw(0, 7, 5);
    settle();
    EXPECT_EQ(drv->rxq().counters().bad_used_id, 2u);
    EXPECT_EQ(client.frames.size(), 0u);
    model->violations.clear();  // the model's own bookkeeping was bypassed on purpose
}

TEST_F(VirtioNetTest, UsedIndexJumpResetsTheDeviceAndTrafficResumes) {
    ASSERT_NO_FATAL_FAILURE(start());
    const auto f = eth_frame(60, 1);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1 + i))), net::TxStatus::Queued);
    settle();
    model->bump_used_idx(0, 4000);
    settle();
    EXPECT_EQ(drv->resets(), 1u);
    EXPECT_GE(model->resets, 2);  // init and the recovery
    EXPECT_EQ(drv->state(), Driver::State::Running);
    EXPECT_EQ(client.done.size(), 3u);  // frames in flight came back
    EXPECT_EQ(drv->counters().tx_errors, 3u);
    ASSERT_TRUE(model->deliver(eth_frame(70, 5)));
    settle();
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(drv->rx_buffers_free() + drv->rxq().in_flight(), drv->rx_buffers_total());
}

TEST_F(VirtioNetTest, NeedsResetIsHonouredAndTrafficResumes) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(model->deliver(eth_frame(60, 1)));
    settle();
    model->set_needs_reset();
    settle();
    EXPECT_EQ(drv->resets(), 1u);
    EXPECT_FALSE(model->status & virtio::kStatusNeedsReset);
    EXPECT_TRUE(model->status & virtio::kStatusDriverOk);
    ASSERT_TRUE(model->deliver(eth_frame(60, 2)));
    const auto f = eth_frame(60, 3);
    ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(9))), net::TxStatus::Queued);
    settle();
    EXPECT_EQ(model->process_tx(), 1u);
    settle();
    EXPECT_EQ(client.frames.size(), 2u);
    EXPECT_EQ(client.done.size(), 1u);
}

TEST_F(VirtioNetTest, LinkChangesMidTraffic) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(model->deliver(eth_frame(60, 1)));
    model->set_link(false);
    settle();
    model->set_link(true);
    ASSERT_TRUE(model->deliver(eth_frame(60, 2)));
    settle();
    EXPECT_EQ(client.links, (std::vector<bool>{true, false, true}));
    EXPECT_EQ(client.frames.size(), 2u);
    EXPECT_EQ(drv->counters().link_changes, 2u);
}

TEST_F(VirtioNetTest, MultiBufferFramesAreDroppedWithTheirContinuations) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(model->deliver(eth_frame(100, 1), 0, 3));  // claims three buffers
    ASSERT_TRUE(model->deliver(eth_frame(100, 2)));        // continuation 1
    ASSERT_TRUE(model->deliver(eth_frame(100, 3)));        // continuation 2
    ASSERT_TRUE(model->deliver(eth_frame(100, 4)));        // a real frame again
    ASSERT_TRUE(model->deliver(eth_frame(100, 5), 0, 0));  // num_buffers 0: malformed
    ASSERT_TRUE(model->deliver(eth_frame(100, 6)));
    settle();
    ASSERT_EQ(client.frames.size(), 2u);
    EXPECT_EQ(client.frames[0], eth_frame(100, 4));
    EXPECT_EQ(client.frames[1], eth_frame(100, 6));
}

TEST_F(VirtioNetTest, ShortAndGsoFramesAreDropped) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(model->deliver(eth_frame(100, 1), 0, 1, 0, 0, 12 + 5));  // shorter than an Ethernet header
    ASSERT_TRUE(model->deliver(eth_frame(100, 2), 0, 1, 0, 0, 0));
    settle();
    EXPECT_EQ(client.frames.size(), 0u);
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, 2u);
}

TEST_F(VirtioNetTest, LegacyDeviceUsesTheShortHeaderAndLegacyLayout) {
    ASSERT_NO_FATAL_FAILURE(start(true));
    EXPECT_FALSE(model->driver_features & bit(virtio::kFeatureVersion1));
    // MRG_RXBUF negotiated keeps the 12-byte header even on a legacy device.
    EXPECT_EQ(model->hdr_len(), 12u);
    ASSERT_TRUE(model->deliver(eth_frame(300, 1)));
    settle();
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(client.frames[0], eth_frame(300, 1));
}

TEST_F(VirtioNetTest, LegacyDeviceWithoutMergeableBuffersHasATenByteHeader) {
    make(true);
    model->offered &= ~bit(virtio_net::kFeatMrgRxbuf);
    ASSERT_TRUE(drv->init(*transport, opts));
    ASSERT_TRUE(drv->start(client));
    EXPECT_EQ(model->hdr_len(), 10u);
    ASSERT_TRUE(model->deliver(eth_frame(300, 1)));
    const auto f = eth_frame(64, 2);
    ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1))), net::TxStatus::Queued);
    settle();
    ASSERT_EQ(model->process_tx(), 1u);
    EXPECT_EQ(model->sent[0].hdr.size(), 10u);
    EXPECT_EQ(model->sent[0].data, f);
    settle();
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(client.frames[0], eth_frame(300, 1));
}

TEST_F(VirtioNetTest, PolledWithoutInterrupts) {
    make();
    transport->with_interrupts = false;
    ASSERT_TRUE(drv->init(*transport, opts));
    ASSERT_TRUE(drv->start(client));
    ASSERT_TRUE(model->deliver(eth_frame(60, 1)));
    EXPECT_EQ(model->interrupt, nullptr);
    drv->poll(64);
    EXPECT_EQ(client.frames.size(), 1u);
}

TEST_F(VirtioNetTest, RandomDeviceGarbageNeverCrashes) {
    ASSERT_NO_FATAL_FAILURE(start());
    std::mt19937 rng(12345);
    for (int i = 0; i < 2000; ++i) {
        switch (rng() % 6) {
        case 0: model->push_used_raw(static_cast<uint16_t>(rng() % 2), rng() % 300, rng() % 5000); break;
        case 1: model->bump_used_idx(static_cast<uint16_t>(rng() % 2), static_cast<uint16_t>(rng() % 3)); break;
        case 2:
            (void)model->deliver(eth_frame(14 + rng() % 1500, i), static_cast<uint8_t>(rng() % 4),
                                 static_cast<uint16_t>(rng() % 3));
            break;
        case 3: model->set_link(rng() % 2); break;
        case 4: {
            const auto f = eth_frame(60, i);
            (void)drv->transmit(tx_frame({&f}, cookie(1 + i)));
            (void)model->process_tx();
            break;
        }
        default: settle(); break;
        }
        if (i % 100 == 0) drv->watchdog();
    }
    settle();
    model->violations.clear();  // garbage on purpose
    EXPECT_EQ(client.nested, 0);
    EXPECT_EQ(drv->state(), Driver::State::Running);
}

// ---------------------------------------------------------------------------------------------------------
// The driver through the real MMIO transport.

class VirtioMmioTest : public ::testing::TestWithParam<uint32_t> {
protected:
    void TearDown() override {
        drv.reset();
        t.reset();
        hw::set_model(nullptr);
        log::reset();
    }
    std::unique_ptr<NetModel> model;
    std::unique_ptr<MmioFront> front;
    std::unique_ptr<virtio::MmioTransport> t;
    std::unique_ptr<Driver> drv;
    Client client;
};

TEST_P(VirtioMmioTest, EchoesFramesThroughTheRegisters) {
    const uint32_t version = GetParam();
    model = std::make_unique<NetModel>(version == 1);
    front = std::make_unique<MmioFront>(*model, 0xfeb00e00, version);
    hw::set_model(front.get());
    t = std::make_unique<virtio::MmioTransport>();
    ASSERT_TRUE(t->init({0xfeb00e00, 0x200, 12}, *front));
    EXPECT_EQ(t->device_type(), virtio::kTypeNet);
    EXPECT_EQ(t->legacy(), version == 1);
    drv = std::make_unique<Driver>();
    client.drv = drv.get();
    virtio_net::Options o;
    o.linger_ns = 0;
    ASSERT_TRUE(drv->init(*t, o));
    ASSERT_TRUE(drv->start(client));
    EXPECT_EQ(front->gsi, 12u);
    EXPECT_STREQ(t->interrupt_mode(), "GSI 12 (edge, active high)");  // a command-line device: as Linux takes it
    EXPECT_FALSE(front->gsi_level);
    const auto reply = eth_frame(90, 77);
    client.reply = &reply;
    for (uint32_t i = 0; i < 40; ++i) {
        ASSERT_TRUE(model->deliver(eth_frame(64 + i, i)));
        for (int k = 0; k < 5 && loop::run_once(); ++k) {
        }
        model->process_tx();
    }
    for (int k = 0; k < 20 && loop::run_once(); ++k) {
    }
    EXPECT_EQ(client.frames.size(), 40u);
    EXPECT_EQ(model->sent.size(), 40u);
    EXPECT_EQ(model->isr, 0u);  // every interrupt acknowledged
    EXPECT_TRUE(model->violations.empty()) << model->violations.front();
}

TEST_P(VirtioMmioTest, EmptySlotAndBadMagicAreNotDevices) {
    model = std::make_unique<NetModel>(false);
    front = std::make_unique<MmioFront>(*model, 0xfeb00000, GetParam());
    front->device_id = 0;
    hw::set_model(front.get());
    virtio::MmioTransport empty;
    EXPECT_FALSE(empty.init({0xfeb00000, 0x200, 5}, *front));
}

INSTANTIATE_TEST_SUITE_P(Versions, VirtioMmioTest, ::testing::Values(1u, 2u));

// ---------------------------------------------------------------------------------------------------------
// Pure parts.

TEST(VirtqueueLayout, ModernAndLegacy) {
    const virtio::QueueLayout m = virtio::queue_layout(256, false);
    EXPECT_EQ(m.avail, 4096u);
    EXPECT_EQ(m.used, 4096u + 6 + 512 + 2);  // 4-byte aligned after the available ring
    EXPECT_EQ(m.total, m.used + 6 + 8 * 256);
    const virtio::QueueLayout l = virtio::queue_layout(256, true);
    EXPECT_EQ(l.used, 8192u);  // the next page
    EXPECT_EQ(virtio::queue_layout(1024, true).used, 16384u + 4096u);
}

TEST(VirtqueueLayout, NeedEvent) {
    EXPECT_TRUE(virtio::need_event(0, 1, 0));
    EXPECT_FALSE(virtio::need_event(5, 3, 0));
    EXPECT_TRUE(virtio::need_event(5, 6, 3));
    EXPECT_TRUE(virtio::need_event(0xFFFF, 2, 0xFFFE));  // across the wrap
    EXPECT_FALSE(virtio::need_event(10, 10, 10));
}

TEST(VirtioMmioOption, ParsesWhatVmmsWrite) {
    virtio::MmioDeviceSpec s;
    ASSERT_TRUE(virtio::parse_mmio_device("512@0xfeb00e00:12", 17, s));
    EXPECT_EQ(s.base, 0xfeb00e00u);
    EXPECT_EQ(s.size, 512u);
    EXPECT_EQ(s.irq, 12u);
    const char* fc = "4K@0xd0000000:5";
    ASSERT_TRUE(virtio::parse_mmio_device(fc, strlen(fc), s));
    EXPECT_EQ(s.size, 4096u);
    EXPECT_EQ(s.base, 0xd0000000u);
    EXPECT_EQ(s.irq, 5u);
    const char* with_id = "0x1000@0xd0001000:6:3";
    ASSERT_TRUE(virtio::parse_mmio_device(with_id, strlen(with_id), s));
    EXPECT_EQ(s.irq, 6u);
    for (const char* bad : {"", "512", "512@", "512@0xfeb00e00", "512@0xfeb00e00:", "512@0xzz:5", "16@0x1000:5",
                            "4K@0xfffffffffffff000:5", "4K@0x1000:5x", "4K@0x1000:300", "99999999999999999999@0:1"}) {
        EXPECT_FALSE(virtio::parse_mmio_device(bad, strlen(bad), s)) << bad;
    }
}

// A DSDT body as QEMU's microvm writes it (Scope(\_SB) { Device(VR23) { _HID "LNRO0005", _UID 23, _CCA 1,
// _CRS { Memory32Fixed(RW, 0xfeb02e00, 0x200), Interrupt(Consumer, Level, ActiveHigh, Exclusive) { 47 } } } }),
// built by hand from the AML encodings in docs/protocols/virtio.md §6.3.
std::vector<uint8_t> microvm_dsdt(uint32_t base, uint32_t irq, uint8_t irq_flags = 0x01) {
    std::vector<uint8_t> crs = {0x86, 0x09, 0x00, 0x01};
    for (int i = 0; i < 4; ++i) crs.push_back(static_cast<uint8_t>(base >> (8 * i)));
    for (uint32_t v : {0x200u}) {
        for (int i = 0; i < 4; ++i) crs.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
    crs.insert(crs.end(), {0x89, 0x06, 0x00, irq_flags, 0x01});
    for (int i = 0; i < 4; ++i) crs.push_back(static_cast<uint8_t>(irq >> (8 * i)));
    crs.insert(crs.end(), {0x79, 0x00});
    std::vector<uint8_t> buf = {0x0A, static_cast<uint8_t>(crs.size())};
    buf.insert(buf.end(), crs.begin(), crs.end());
    std::vector<uint8_t> body = {0x08, '_',  'H', 'I', 'D', 0x0D, 'L',  'N', 'R',  'O', '0', '0', '0', '5',
                                 0x00, 0x08, '_', 'U', 'I', 'D',  0x0A, 23,  0x08, '_', 'C', 'C', 'A', 0x01};
    body.insert(body.end(), {0x08, '_', 'C', 'R', 'S', 0x11});
    body.push_back(static_cast<uint8_t>(1 + buf.size()));  // one-byte package length (< 64)
    body.insert(body.end(), buf.begin(), buf.end());
    std::vector<uint8_t> dev = {'V', 'R', '2', '3'};
    dev.insert(dev.end(), body.begin(), body.end());
    // Device package length: two bytes (the body is longer than 63).
    const size_t dlen = dev.size() + 2;
    std::vector<uint8_t> device = {0x5B, 0x82, static_cast<uint8_t>(0x40 | (dlen & 0x0F)),
                                   static_cast<uint8_t>(dlen >> 4)};
    device.insert(device.end(), dev.begin(), dev.end());
    std::vector<uint8_t> scope_body = {'_', 'S', 'B', '_'};
    scope_body.insert(scope_body.end(), device.begin(), device.end());
    const size_t slen = scope_body.size() + 2;
    std::vector<uint8_t> aml = {0x10, static_cast<uint8_t>(0x40 | (slen & 0x0F)), static_cast<uint8_t>(slen >> 4)};
    aml.insert(aml.end(), scope_body.begin(), scope_body.end());
    return aml;
}

TEST(VirtioAcpiScan, FindsMicrovmDevices) {
    auto aml = microvm_dsdt(0xfeb02e00, 47);
    const auto second = microvm_dsdt(0xfeb02c00, 46);
    aml.insert(aml.end(), second.begin(), second.end());
    virtio::MmioDeviceSpec s[4];
    ASSERT_EQ(virtio::find_acpi_mmio_devices(aml.data(), aml.size(), s, 4), 2u);
    EXPECT_EQ(s[0].base, 0xfeb02e00u);
    EXPECT_EQ(s[0].size, 0x200u);
    EXPECT_EQ(s[0].irq, 47u);
    EXPECT_TRUE(s[0].level);  // flags 0x01 (QEMU): consumer, level (bit 1 clear), active high
    EXPECT_FALSE(s[0].active_low);
    EXPECT_EQ(s[1].base, 0xfeb02c00u);
    EXPECT_EQ(s[1].irq, 46u);
    EXPECT_EQ(virtio::find_acpi_mmio_devices(aml.data(), aml.size(), s, 1), 1u);  // bounded by max
}

TEST(VirtioAcpiScan, FirecrackerDescribesEdgeTriggeredLines) {
    // Firecracker's DSDT: Extended IRQ (consumer, edge, active high, exclusive): flags bits 0 and 1 set.
    const auto aml = microvm_dsdt(0xc0001000, 5, 0x03);
    virtio::MmioDeviceSpec s[1];
    ASSERT_EQ(virtio::find_acpi_mmio_devices(aml.data(), aml.size(), s, 1), 1u);
    EXPECT_FALSE(s[0].level);
    EXPECT_FALSE(s[0].active_low);
}

TEST(VirtioAcpiScan, OtherHidsAndGarbageFindNothingAndNeverReadOutside) {
    auto aml = microvm_dsdt(0xfeb02e00, 47);
    auto other = aml;
    const auto at = std::search(other.begin(), other.end(), std::begin("LNRO"), std::begin("LNRO") + 4);
    ASSERT_NE(at, other.end());
    *at = 'X';
    virtio::MmioDeviceSpec s[4];
    EXPECT_EQ(virtio::find_acpi_mmio_devices(other.data(), other.size(), s, 4), 0u);
    // Every truncation and many random corruptions: bounded (ASan watches), never more than the one device.
    for (size_t n = 0; n < aml.size(); ++n) {
        std::vector<uint8_t> cut(aml.begin(), aml.begin() + static_cast<long>(n));  // exact-size heap copy
        EXPECT_LE(virtio::find_acpi_mmio_devices(cut.data(), cut.size(), s, 4), 1u);
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 3000; ++i) {
        auto m = aml;
        for (int k = 0; k < 3; ++k) m[rng() % m.size()] = static_cast<uint8_t>(rng());
        EXPECT_LE(virtio::find_acpi_mmio_devices(m.data(), m.size(), s, 4), 4u);
    }
}

}  // namespace
