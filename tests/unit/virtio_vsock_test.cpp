// The virtio-vsock driver against the virtio device model (virtio_model.hpp, raw packets on three queues): CID from
// the configuration, packets to and from the engine, what a device must not get away with (short used lengths,
// headers that claim more than was written), the event queue (TRANSPORT_RESET, unknown events), and a full transmit
// queue that holds the engine back until the device takes its packets.
#include <gtest/gtest.h>

#include <string.h>

#include <memory>
#include <vector>

#include "drivers/vsock/virtio_vsock/virtio_vsock.hpp"
#include "kernel/dma.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "virtio_model.hpp"

using namespace skerry;
using namespace skerry::net::vsock;
using virtio::bit;
using virtio::test::DirectTransport;
using virtio::test::NetModel;

namespace {

std::vector<uint8_t> packet(Op op, uint32_t hport, uint32_t gport, const std::vector<uint8_t>& payload = {},
                            uint64_t dst_cid = 3, uint32_t fwd = 0, uint32_t flags = 0) {
    Header h{};
    h.src_cid = kCidHost;
    h.dst_cid = dst_cid;
    h.src_port = hport;
    h.dst_port = gport;
    h.len = static_cast<uint32_t>(payload.size());
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(op);
    h.flags = flags;
    h.buf_alloc = 256 * 1024;
    h.fwd_cnt = fwd;
    std::vector<uint8_t> b(kHeaderSize);
    encode(h, b.data());
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}

struct Echo {
    int closed = 0;
    net::Error why = net::Error::None;
};
void echo_readable(Conn& c, void*) {
    uint8_t buf[8192];
    size_t n;
    while ((n = c.read(buf, sizeof buf)) > 0) c.write(buf, n);
}
void echo_closed(Conn&, net::Error why, void* ctx) {
    ++static_cast<Echo*>(ctx)->closed;
    static_cast<Echo*>(ctx)->why = why;
}
void echo_accept(Engine&, Conn& c, void* ctx) {
    c.set_handlers(ConnHandlers{nullptr, echo_readable, nullptr, echo_closed}, ctx);
}

class VirtioVsockTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::reset();
        baseline_ = dma::in_use();
        model = std::make_unique<NetModel>(false);
        model->type = virtio::kTypeVsock;
        model->offered = bit(virtio::kFeatureVersion1) | bit(virtio::kFeatureEventIdx);
        model->config = {3, 0, 0, 0, 0, 0, 0, 0};
        for (auto& q : model->q) q.max = 64;
        transport = std::make_unique<DirectTransport>(*model);
    }
    void TearDown() override {
        drv.reset();
        EXPECT_TRUE(model->violations.empty()) << model->violations.front();
        EXPECT_EQ(dma::in_use(), baseline_);
        log::reset();
    }
    bool start() {
        drv = std::make_unique<virtio_vsock::Driver>();
        virtio_vsock::Options o;
        o.linger_ns = 0;
        if (!drv->init(*transport, o)) return false;
        return drv->engine().listen(7, echo_accept, &app);
    }
    void settle() {
        for (int i = 0; i < 50 && loop::run_once(); ++i) {
        }
    }
    std::vector<Header> sent() {
        std::vector<Header> hs;
        for (const auto& b : model->take_raw(1)) {
            EXPECT_GE(b.size(), kHeaderSize);
            if (b.size() >= kHeaderSize) {
                hs.push_back(decode(b.data()));
                last_payloads.emplace_back(b.begin() + kHeaderSize, b.end());
            }
        }
        settle();
        return hs;
    }

    std::unique_ptr<NetModel> model;
    std::unique_ptr<DirectTransport> transport;
    std::unique_ptr<virtio_vsock::Driver> drv;
    std::vector<std::vector<uint8_t>> last_payloads;
    Echo app;
    size_t baseline_ = 0;
};

TEST_F(VirtioVsockTest, OpensEchoesAndClosesThroughTheQueues) {
    ASSERT_TRUE(start());
    EXPECT_EQ(drv->local_cid(), 3u);
    EXPECT_EQ(model->status & virtio::kStatusDriverOk, virtio::kStatusDriverOk);
    EXPECT_EQ(model->avail_idx(0), 64);  // every receive buffer posted
    EXPECT_EQ(model->avail_idx(2), 8);   // and the event buffers
    ASSERT_TRUE(model->deliver_raw(0, packet(Op::Request, 1000, 7)));
    settle();
    auto hs = sent();
    ASSERT_EQ(hs.size(), 1u);
    EXPECT_EQ(hs[0].op, static_cast<uint16_t>(Op::Response));
    EXPECT_EQ(hs[0].src_cid, 3u);
    const std::vector<uint8_t> hello = {'h', 'e', 'l', 'l', 'o'};
    ASSERT_TRUE(model->deliver_raw(0, packet(Op::Rw, 1000, 7, hello)));
    settle();
    last_payloads.clear();
    hs = sent();
    ASSERT_EQ(hs.size(), 1u);
    EXPECT_EQ(hs[0].op, static_cast<uint16_t>(Op::Rw));
    EXPECT_EQ(last_payloads[0], hello);
    ASSERT_TRUE(model->deliver_raw(0, packet(Op::Shutdown, 1000, 7, {}, 3, 5, kShutdownRcv | kShutdownSend)));
    settle();
    hs = sent();
    ASSERT_FALSE(hs.empty());
    EXPECT_EQ(hs.back().op, static_cast<uint16_t>(Op::Rst));
    EXPECT_EQ(drv->engine().connections(), 1u);  // the application has not closed its side yet
}

TEST_F(VirtioVsockTest, UntrustedLengthsAndCidsAreDropped) {
    ASSERT_TRUE(start());
    ASSERT_TRUE(model->deliver_raw(0, packet(Op::Request, 1000, 7), 10));  // used length shorter than a header
    auto lie = packet(Op::Rw, 1000, 7, std::vector<uint8_t>(10, 1));
    lie[24] = 200;  // the header claims 200 bytes; 10 were written
    ASSERT_TRUE(model->deliver_raw(0, lie));
    settle();
    EXPECT_EQ(drv->counters().rx_bad, 2u);
    ASSERT_TRUE(model->deliver_raw(0, packet(Op::Request, 1000, 7, {}, 99)));  // not our CID
    settle();
    EXPECT_EQ(drv->engine().counters().rx_bad, 1u);
    EXPECT_TRUE(sent().empty());                                  // none of these were answered
    EXPECT_EQ(model->avail_idx(0) - model->q[0].last_avail, 64);  // every buffer went back to the device
}

TEST_F(VirtioVsockTest, TransportResetEndsConnectionsAndKeepsTheListener) {
    ASSERT_TRUE(start());
    ASSERT_TRUE(model->deliver_raw(0, packet(Op::Request, 1000, 7)));
    settle();
    sent();
    ASSERT_TRUE(model->deliver_raw(2, {0, 0, 0, 0}));  // TRANSPORT_RESET
    settle();
    EXPECT_EQ(app.closed, 1);
    EXPECT_EQ(app.why, net::Error::Reset);
    EXPECT_EQ(drv->counters().transport_resets, 1u);
    ASSERT_TRUE(model->deliver_raw(2, {7, 0, 0, 0}));  // an event nobody defined
    settle();
    EXPECT_EQ(drv->counters().bad_events, 1u);
    ASSERT_TRUE(model->deliver_raw(0, packet(Op::Request, 1001, 7)));
    settle();
    const auto hs = sent();
    ASSERT_EQ(hs.size(), 1u);
    EXPECT_EQ(hs[0].op, static_cast<uint16_t>(Op::Response));
    EXPECT_EQ(model->avail_idx(2) - model->q[2].last_avail, 8);  // event buffers went back
}

TEST_F(VirtioVsockTest, AFullTransmitQueueHoldsTheEngineBack) {
    model->q[1].max = 4;
    ASSERT_TRUE(start());
    ASSERT_TRUE(model->deliver_raw(0, packet(Op::Request, 1000, 7)));
    settle();
    sent();
    // 40 KiB to echo: many packets, four transmit slots.
    std::vector<uint8_t> data(40 * 1024);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
    uint32_t fwd = 0;
    for (size_t off = 0; off < data.size(); off += 4000) {
        const size_t n = std::min<size_t>(4000, data.size() - off);
        ASSERT_TRUE(
            model->deliver_raw(0, packet(Op::Rw, 1000, 7,
                                         std::vector<uint8_t>(data.begin() + off, data.begin() + off + n), 3, fwd)));
        settle();
    }
    std::vector<uint8_t> back;
    for (int round = 0; round < 200 && back.size() < data.size(); ++round) {
        last_payloads.clear();
        const auto hs = sent();  // the device takes the packets: slots free, the engine goes on
        for (size_t i = 0; i < hs.size(); ++i) {
            if (hs[i].op == static_cast<uint16_t>(Op::Rw))
                back.insert(back.end(), last_payloads[i].begin(), last_payloads[i].end());
        }
    }
    EXPECT_EQ(back, data);
    EXPECT_GT(drv->counters().tx_no_room, 0u);
}

TEST_F(VirtioVsockTest, ReservedCidsAreRefused) {
    model->config = {2, 0, 0, 0, 0, 0, 0, 0};  // the host's CID
    drv = std::make_unique<virtio_vsock::Driver>();
    EXPECT_FALSE(drv->init(*transport));
    EXPECT_TRUE(model->status & virtio::kStatusFailed);
}

}  // namespace
