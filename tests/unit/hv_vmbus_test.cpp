// The guest's VMBus connection state machine against the host simulator (hv_host_sim): version negotiation and
// fallback, offers, GPADLs with body messages, open/close, rescind, unload, and a misbehaving host.
#include <gtest/gtest.h>
#include <string.h>

#include <vector>

#include "drivers/bus/vmbus/channel.hpp"
#include "drivers/bus/vmbus/vmbus.hpp"
#include "hv_fake.hpp"
#include "hv_host_sim.hpp"
#include "kernel/dma.hpp"

namespace skerry::vmbus {
namespace {

using hvtest::HostSim;
using hvtest::HvModel;

const Guid kOtherClass = make_guid(0x32412632, 0x86cb, 0x44a2, 0x9b5c50d1417354f5ull);  // some other device

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\n";
    return s;
}

struct VmbusTest : ::testing::Test {
    void SetUp() override {
        hw::set_model(&model);
        ASSERT_TRUE(dma::alloc(4096, sim_page));
        ASSERT_TRUE(dma::alloc(4096, sief_page));
        ASSERT_TRUE(dma::alloc(4096, post_page));
        ASSERT_TRUE(dma::alloc(3 * 4096, pages));  // interrupt page + 2 monitor pages
        ASSERT_TRUE(synic.enable(sim_page.phys, sief_page.phys, hv::kVmbusSint, 0x40, true));
        host.devices = {{kOtherClass, make_guid(1, 2, 3, 4), 0}, {kNetvscClass, make_guid(5, 6, 7, 8), 0}};
        cfg.port = &host;
        cfg.synic = &synic;
        cfg.post_buffer = static_cast<hv::PostMessageInput*>(post_page.virt);
        cfg.post_buffer_phys = post_page.phys;
        cfg.vp_index = 0;
        cfg.interrupt_page = pages.phys;
        cfg.monitor_page1 = pages.phys + 4096;
        cfg.monitor_page2 = pages.phys + 8192;
    }
    void TearDown() override {
        EXPECT_TRUE(host.violations.empty()) << joined(host.violations);
        hw::set_model(nullptr);
        dma::free(sim_page);
        dma::free(sief_page);
        dma::free(post_page);
        dma::free(pages);
    }
    // Poll until the host has nothing more for us (its replies are queued synchronously on each post).
    void pump(Connection& c) {
        for (int i = 0; i < 100 && c.poll() != 0; ++i) {
        }
    }
    void connect(Connection& c) {
        ASSERT_TRUE(c.start());
        pump(c);
        ASSERT_EQ(c.state(), State::Ready) << state_name(c.state());
    }

    HvModel model;
    HostSim host{model};
    hv::Synic synic;
    dma::Region sim_page, sief_page, post_page, pages;
    Connection::Config cfg;
};

TEST_F(VmbusTest, NegotiatesNewestVersionAndCollectsOffers) {
    host.msg_conn_id = 7;  // the guest must use what the host returns
    Connection c(cfg);
    connect(c);
    EXPECT_EQ(c.version(), kVersionWin10V53);
    EXPECT_EQ(host.version(), kVersionWin10V53);
    EXPECT_EQ(c.msg_conn_id(), 7u);
    EXPECT_EQ(host.received, (std::vector<uint32_t>{kMsgInitiateContact, kMsgRequestOffers}));
    ASSERT_EQ(c.offer_count(), 2u);
    const ChannelOffer* n = c.find_offer(kNetvscClass);
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(n->offer.child_relid, 2u);
    EXPECT_EQ(n->offer.connection_id, 2u | (2u << 12));
    EXPECT_EQ(c.stats().dropped, 0u);
}

TEST_F(VmbusTest, OldHostWithoutConnection4GoesStraightTo41) {
    host.max_version = kVersionWin10V41;
    Connection c(cfg);
    connect(c);
    EXPECT_EQ(c.version(), kVersionWin10V41);
    EXPECT_EQ(c.msg_conn_id(), kConnIdMessage);  // not the version number the host put in the field
    EXPECT_EQ(host.received, (std::vector<uint32_t>{kMsgInitiateContact, kMsgRequestOffers}));
}

TEST_F(VmbusTest, WalksDownThroughRefusedVersions) {
    host.max_version = kVersionWin10V51;
    Connection c(cfg);
    connect(c);
    EXPECT_EQ(c.version(), kVersionWin10V51);
    EXPECT_EQ(host.received.size(), 4u);  // 5.3, 5.2 refused; 5.1 accepted; REQUESTOFFERS
}

TEST_F(VmbusTest, Win81HostNegotiates30) {
    host.max_version = kVersionWin81;
    Connection c(cfg);
    connect(c);
    EXPECT_EQ(c.version(), kVersionWin81);
}

TEST_F(VmbusTest, MaxVersionCapsTheFirstAttempt) {
    cfg.max_version = kVersionWin10;
    Connection c(cfg);
    connect(c);
    EXPECT_EQ(c.version(), kVersionWin10);
    EXPECT_EQ(host.received.size(), 2u);
}

TEST_F(VmbusTest, NoCommonVersionFails) {
    host.max_version = kVersionWin7;
    Connection c(cfg);
    ASSERT_TRUE(c.start());
    pump(c);
    EXPECT_EQ(c.state(), State::Failed);
    EXPECT_EQ(c.failure(), Failure::NoCommonVersion);
}

TEST_F(VmbusTest, SilentHostTimesOutThroughEveryVersion) {
    host.answer_contact = false;  // e.g. KVM with Hyper-V enlightenments: SynIC but no VMBus server
    Connection c(cfg);
    ASSERT_TRUE(c.start());
    int attempts = 1;
    while (c.state() == State::Contacting && attempts < 50) {
        pump(c);
        c.on_timeout();
        attempts++;
    }
    EXPECT_EQ(c.state(), State::Failed);
    EXPECT_EQ(c.failure(), Failure::NoCommonVersion);
    EXPECT_EQ(attempts, static_cast<int>(kGuestVersionCount) + 1);
}

std::vector<uint32_t> delays;

TEST_F(VmbusTest, TransientPostFailuresAreRetriedWithBackoff) {
    host.insufficient_buffers = 3;
    delays.clear();
    cfg.delay_us = [](uint32_t us) { delays.push_back(us); };
    Connection c(cfg);
    connect(c);
    EXPECT_EQ(c.stats().post_retries, 3u);
    EXPECT_EQ(delays, (std::vector<uint32_t>{1, 2, 4}));
}

TEST_F(VmbusTest, PersistentShortageGivesUp) {
    host.insufficient_buffers = 1000;
    Connection c(cfg);
    EXPECT_FALSE(c.start());
    EXPECT_EQ(c.state(), State::Failed);
    EXPECT_EQ(c.failure(), Failure::PostFailed);
    EXPECT_EQ(c.stats().post_retries, 100u);
}

TEST_F(VmbusTest, InvalidConnectionIdAfterContactMeansTooFast) {
    host.busy_connection = 2;  // REQUESTOFFERS refused twice: retried, not fatal
    Connection c(cfg);
    connect(c);
    EXPECT_EQ(c.stats().post_retries, 2u);
}

TEST_F(VmbusTest, HostRefusingTheConnectionFails) {
    cfg.monitor_page2 = 0;  // one monitor page: the builder refuses rather than sending it
    Connection c(cfg);
    EXPECT_FALSE(c.start());
    EXPECT_EQ(c.state(), State::Failed);
}

TEST_F(VmbusTest, GpadlWithBodiesOpenCloseTeardown) {
    Connection c(cfg);
    connect(c);
    const uint32_t relid = c.find_offer(kNetvscClass)->offer.child_relid;
    // A 1 MiB receive buffer: 256 PFNs, header + 9 bodies.
    std::vector<uint64_t> rx(256);
    for (size_t i = 0; i < rx.size(); ++i) rx[i] = 0x40000 + 3 * i;
    const uint32_t rx_gpadl = c.create_gpadl(relid, GpadlRange{256 * 4096, 0, rx.data(), rx.size()});
    ASSERT_NE(rx_gpadl, 0u);
    EXPECT_EQ(c.gpadl_state(rx_gpadl), GpadlState::Pending);
    pump(c);
    EXPECT_EQ(c.gpadl_state(rx_gpadl), GpadlState::Created);
    ASSERT_EQ(host.gpadls().count(rx_gpadl), 1u);
    EXPECT_EQ(host.gpadls().at(rx_gpadl).pfns, rx);
    // Ring GPADL: 17 + 17 pages; open with the first 17 as the guest->host ring.
    dma::Region ring_mem;  // real memory: the host maps the rings at open
    ASSERT_TRUE(dma::alloc(34 * 4096, ring_mem));
    std::vector<uint64_t> ring(34);
    for (size_t i = 0; i < ring.size(); ++i) ring[i] = (ring_mem.phys >> 12) + i;
    const uint32_t ring_gpadl = c.create_gpadl(relid, GpadlRange{34 * 4096, 0, ring.data(), ring.size()});
    ASSERT_NE(ring_gpadl, 0u);
    EXPECT_NE(ring_gpadl, rx_gpadl);
    EXPECT_FALSE(c.open_channel(relid, ring_gpadl, 17));  // not created yet
    pump(c);
    ASSERT_TRUE(c.open_channel(relid, ring_gpadl, 17));
    EXPECT_EQ(c.channel_state(relid), ChannelState::Opening);
    pump(c);
    EXPECT_EQ(c.channel_state(relid), ChannelState::Open);
    EXPECT_TRUE(host.channels().at(relid).open);
    EXPECT_EQ(host.channels().at(relid).downstream_pages, 17u);
    EXPECT_FALSE(c.open_channel(relid, ring_gpadl, 17));  // already open
    ASSERT_TRUE(c.close_channel(relid));
    EXPECT_FALSE(host.channels().at(relid).open);
    ASSERT_TRUE(c.teardown_gpadl(relid, ring_gpadl));
    ASSERT_TRUE(c.teardown_gpadl(relid, rx_gpadl));
    pump(c);
    EXPECT_EQ(c.gpadl_state(ring_gpadl), GpadlState::Free);
    EXPECT_EQ(c.gpadl_state(rx_gpadl), GpadlState::Free);
    EXPECT_TRUE(host.gpadls().empty());
    dma::free(ring_mem);
}

TEST_F(VmbusTest, GpadlRequiresAKnownChannel) {
    Connection c(cfg);
    connect(c);
    uint64_t pfn = 0x1234;
    EXPECT_EQ(c.create_gpadl(99, GpadlRange{4096, 0, &pfn, 1}), 0u);
    EXPECT_EQ(c.create_gpadl(1, GpadlRange{8192, 0, &pfn, 1}), 0u);  // inconsistent range
}

TEST_F(VmbusTest, RescindAndRelease) {
    Connection c(cfg);
    connect(c);
    const uint32_t relid = c.find_offer(kNetvscClass)->offer.child_relid;
    host.rescind(relid);
    pump(c);
    EXPECT_EQ(c.stats().rescinds, 1u);
    EXPECT_EQ(c.find_offer(kNetvscClass), nullptr);
    uint64_t pfn = 0x1234;
    EXPECT_EQ(c.create_gpadl(relid, GpadlRange{4096, 0, &pfn, 1}), 0u);
    ASSERT_TRUE(c.release_relid(relid));
    EXPECT_EQ(host.channels().count(relid), 0u);
    EXPECT_EQ(c.offer_count(), 1u);
    EXPECT_FALSE(c.release_relid(1));  // not rescinded
}

TEST_F(VmbusTest, Unload) {
    Connection c(cfg);
    connect(c);
    ASSERT_TRUE(c.unload());
    EXPECT_EQ(c.state(), State::Unloading);
    pump(c);
    EXPECT_EQ(c.state(), State::Unloaded);
    EXPECT_FALSE(host.connected());
}

// A misbehaving host: malformed, oversized, unknown and out-of-order messages are dropped and counted.
TEST_F(VmbusTest, MalformedAndOutOfOrderHostMessagesAreDropped) {
    Connection c(cfg);
    connect(c);
    const uint64_t before = c.stats().dropped;
    uint8_t m[240] = {};
    m[0] = kMsgOfferChannel;
    model.send(2, 1, m, 100);  // offer too short
    m[0] = 99;
    model.send(2, 1, m, 8);         // unknown type
    model.send(2, 1, m, 240, 250);  // slot claims 250 bytes
    m[0] = kMsgVersionResponse;
    m[8] = 1;
    model.send(2, 1, m, 16);  // version response while connected
    m[0] = kMsgGpadlCreated;
    m[12] = 0x55;
    model.send(2, 1, m, 20);  // GPADL_CREATED for a handle never sent
    m[0] = kMsgOpenChannelResult;
    m[8] = 2;
    model.send(2, 1, m, 20);  // open result for a channel not opening
    m[0] = kMsgAllOffersDelivered;
    model.send(2, 1, m, 8);  // second all-offers
    m[0] = kMsgRescindChannelOffer;
    m[8] = 77;
    model.send(2, 1, m, 12);            // rescind of an unknown relid
    model.send(2, 0x80000010u, m, 16);  // a hypervisor (timer) message on the VMBus SINT
    pump(c);
    EXPECT_EQ(c.stats().dropped - before, 9u);
    EXPECT_EQ(c.state(), State::Ready);
    EXPECT_EQ(c.offer_count(), 2u);
}

TEST_F(VmbusTest, DuplicateOfferRelidIsDropped) {
    Connection c(cfg);
    connect(c);
    uint8_t o[196] = {};
    o[0] = kMsgOfferChannel;
    o[184] = 1;  // relid 1 already offered
    c.handle(o, sizeof o);
    EXPECT_EQ(c.offer_count(), 2u);
    EXPECT_EQ(c.stats().dropped, 1u);
    o[184] = 3;  // a hot-added device after ALLOFFERS_DELIVERED is fine
    c.handle(o, sizeof o);
    EXPECT_EQ(c.offer_count(), 3u);
}

// ---------------------------------------------------------------------------------------------- channels

struct ChannelTest : VmbusTest {
    void SetUp() override {
        VmbusTest::SetUp();
        ASSERT_TRUE(dma::alloc(34 * 4096, ring));
    }
    void TearDown() override {
        dma::free(ring);
        VmbusTest::TearDown();
    }
    void open(Connection& c, Channel& ch, uint32_t& relid) {
        connect(c);
        relid = c.find_offer(kNetvscClass)->offer.child_relid;
        ASSERT_TRUE(ch.begin_open(c, host, relid, ring.phys, ring.virt, 17, 17));
        for (int i = 0; i < 10 && ch.advance() != Channel::State::Open; ++i) pump(c);
        ASSERT_EQ(ch.state(), Channel::State::Open);
    }
    dma::Region ring;
};

TEST_F(ChannelTest, OpenSendReceiveWithSignallingRules) {
    Connection c(cfg);
    Channel ch;
    uint32_t relid = 0;
    open(c, ch, relid);
    EXPECT_TRUE(host.channels().at(relid).open);
    EXPECT_EQ(host.gpadls().at(ch.ring_gpadl()).pfns.size(), 34u);
    const uint8_t msg[40] = {1, 0, 0, 0, 2, 0, 0, 0};
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(ch.send(kPacketDataInband, kPacketFlagCompletionRequested, 100 + i, nullptr, 0, msg, 40),
                  RingStatus::Ok);
    EXPECT_EQ(host.channels().at(relid).guest_signals, 1u);  // only the empty -> non-empty write
    std::vector<uint8_t> pkt;
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(host.host_receive(relid, pkt), RingStatus::Ok);
        ASSERT_EQ(pkt.size(), 56u);
        uint64_t tid;
        memcpy(&tid, pkt.data() + 8, 8);
        EXPECT_EQ(tid, 100u + i);
    }
    EXPECT_EQ(host.host_receive(relid, pkt), RingStatus::Empty);
    ASSERT_EQ(ch.send(kPacketDataInband, 0, 7, nullptr, 0, msg, 8), RingStatus::Ok);
    EXPECT_EQ(host.channels().at(relid).guest_signals, 2u);
    ASSERT_EQ(host.host_receive(relid, pkt), RingStatus::Ok);
    // Host -> guest: a completion, flagged in the SIEF bitmap (relid bit of SINT2).
    const uint8_t done[8] = {2, 0, 0, 0, 1, 0, 0, 0};
    ASSERT_EQ(host.host_send(relid, kPacketCompletion, 0, 100, done, sizeof done), RingStatus::Ok);
    EXPECT_EQ(host.host_signals, 1);
    EXPECT_TRUE(synic.test_and_clear_event(hv::kVmbusSint, relid));
    uint8_t buf[256];
    size_t len;
    ASSERT_EQ(ch.receive(buf, sizeof buf, len), RingStatus::Ok);
    EXPECT_EQ(len, 24u);
    EXPECT_EQ(buf[0], kPacketCompletion);
    EXPECT_EQ(ch.receive(buf, sizeof buf, len), RingStatus::Empty);
    EXPECT_EQ(host.spurious_signals, 0);
    EXPECT_EQ(ch.signal_failures(), 0u);
}

TEST_F(ChannelTest, PollingGuestMasksHostSignals) {
    Connection c(cfg);
    Channel ch;
    uint32_t relid = 0;
    open(c, ch, relid);
    ch.set_polling(true);
    const uint8_t p[8] = {};
    ASSERT_EQ(host.host_send(relid, kPacketDataInband, 0, 1, p, 8), RingStatus::Ok);
    EXPECT_EQ(host.host_signals, 0);
    uint8_t buf[64];
    size_t len;
    EXPECT_EQ(ch.receive(buf, sizeof buf, len), RingStatus::Ok);
}

TEST_F(ChannelTest, GuestSignalsWhenItFreesTheSpaceTheHostWaitsFor) {
    Connection c(cfg);
    Channel ch;
    uint32_t relid = 0;
    open(c, ch, relid);
    ch.set_polling(true);
    std::vector<uint8_t> big(4072);  // 16 + 4072 + 8 = 4096 bytes per packet; 16 data pages hold 15
    int sent = 0;
    while (host.host_send(relid, kPacketDataInband, 0, sent, big.data(), big.size()) == RingStatus::Ok) sent++;
    EXPECT_EQ(sent, 15);
    host.host_wait_for_space(relid, 3 * 4096);  // wants room for three more
    std::vector<uint8_t> buf(8192);
    size_t len;
    std::vector<uint64_t> signals_after;
    for (int i = 0; i < 5; ++i) {
        ASSERT_EQ(ch.receive(buf.data(), buf.size(), len), RingStatus::Ok);
        signals_after.push_back(ch.signals());
    }
    // free: 4096 -> 8192 -> 12288 (= pending: not enough) -> 16384 (signal) -> 20480 -> 24576 (no more)
    EXPECT_EQ(signals_after, (std::vector<uint64_t>{0, 0, 1, 1, 1}));
    EXPECT_EQ(host.spurious_signals, 0);
}

TEST_F(ChannelTest, CloseAndTeardown) {
    Connection c(cfg);
    Channel ch;
    uint32_t relid = 0;
    open(c, ch, relid);
    ASSERT_TRUE(ch.close());
    EXPECT_FALSE(host.channels().at(relid).open);
    pump(c);
    EXPECT_TRUE(host.gpadls().empty());
    uint8_t b[8] = {};
    EXPECT_EQ(ch.send(kPacketDataInband, 0, 1, nullptr, 0, b, 8), RingStatus::NotAttached);
}

TEST_F(ChannelTest, RescindFailsTheChannel) {
    Connection c(cfg);
    Channel ch;
    uint32_t relid = 0;
    open(c, ch, relid);
    host.rescind(relid);
    pump(c);
    EXPECT_EQ(ch.advance(), Channel::State::Failed);
    ASSERT_TRUE(ch.close());
    ASSERT_TRUE(c.release_relid(relid));
    pump(c);
}

TEST_F(ChannelTest, CorruptHostRingIsReportedNotFatal) {
    Connection c(cfg);
    Channel ch;
    uint32_t relid = 0;
    open(c, ch, relid);
    // The host scribbles a misaligned write index into the guest's inbound ring control page.
    uint8_t* inbound = static_cast<uint8_t*>(ring.virt) + 17 * 4096;
    inbound[0] = 13;
    uint8_t buf[64];
    size_t len;
    EXPECT_EQ(ch.receive(buf, sizeof buf, len), RingStatus::Corrupt);
    EXPECT_EQ(ch.receive(buf, sizeof buf, len), RingStatus::Corrupt);
    EXPECT_EQ(ch.inbound().stats().corruptions, 1u);
}

TEST_F(ChannelTest, BadOpenArguments) {
    Connection c(cfg);
    connect(c);
    Channel ch;
    EXPECT_FALSE(ch.begin_open(c, host, 99, ring.phys, ring.virt, 17, 17));     // no such relid
    EXPECT_FALSE(ch.begin_open(c, host, 2, ring.phys + 8, ring.virt, 17, 17));  // not page aligned
    EXPECT_FALSE(ch.begin_open(c, host, 2, ring.phys, ring.virt, 1, 17));       // ring without data pages
    EXPECT_EQ(ch.state(), Channel::State::Failed);
}

}  // namespace
}  // namespace skerry::vmbus
