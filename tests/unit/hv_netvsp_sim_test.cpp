// The netvsp simulator's own strictness: a hand-driven guest (raw NVSP/RNDIS over a vmbus::Channel) breaks one
// rule at a time, and the simulator must name it. Without these, a lenient simulator would let driver bugs pass.
#include <gtest/gtest.h>
#include <string.h>

#include <string>
#include <vector>

#include "drivers/bus/vmbus/channel.hpp"
#include "drivers/nic/netvsc/nvsp.hpp"
#include "hv_fake.hpp"
#include "hv_host_sim.hpp"
#include "hv_netvsp_sim.hpp"
#include "kernel/dma.hpp"

namespace skerry::netvsc {
namespace {

using hvtest::HostSim;
using hvtest::HvModel;
using hvtest::NetvspSim;

void put32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

struct NetvspSimTest : ::testing::Test {
    void SetUp() override {
        hw::set_model(&model);
        ASSERT_TRUE(dma::alloc(4096, sim_page));
        ASSERT_TRUE(dma::alloc(4096, sief_page));
        ASSERT_TRUE(dma::alloc(4096, post_page));
        ASSERT_TRUE(dma::alloc(3 * 4096, pages));
        ASSERT_TRUE(dma::alloc(8 * 4096, ring));
        ASSERT_TRUE(dma::alloc(64 * 4096, rx));
        ASSERT_TRUE(dma::alloc(16 * 4096, tx));
        ASSERT_TRUE(synic.enable(sim_page.phys, sief_page.phys, hv::kVmbusSint, 0x40, true));
        host.devices = {{vmbus::kNetvscClass, vmbus::make_guid(5, 6, 7, 8), 0}};
        vmbus::Connection::Config cfg;
        cfg.port = &host;
        cfg.synic = &synic;
        cfg.post_buffer = static_cast<hv::PostMessageInput*>(post_page.virt);
        cfg.post_buffer_phys = post_page.phys;
        cfg.interrupt_page = pages.phys;
        cfg.monitor_page1 = pages.phys + 4096;
        cfg.monitor_page2 = pages.phys + 8192;
        conn = new vmbus::Connection(cfg);
        ASSERT_TRUE(conn->start());
        pump();
        relid = conn->find_offer(vmbus::kNetvscClass)->offer.child_relid;
        sim = new NetvspSim(host, relid);
        ASSERT_TRUE(ch.begin_open(*conn, host, relid, ring.phys, ring.virt, 4, 4));
        rx_gpadl = gpadl(rx);
        tx_gpadl = gpadl(tx);
        for (int i = 0; i < 10 && ch.advance() != vmbus::Channel::State::Open; ++i) pump();
        ASSERT_EQ(ch.state(), vmbus::Channel::State::Open);
        ASSERT_EQ(conn->gpadl_state(rx_gpadl), vmbus::GpadlState::Created);
    }
    void TearDown() override {
        delete sim;
        delete conn;
        hw::set_model(nullptr);
        for (dma::Region* r : {&sim_page, &sief_page, &post_page, &pages, &ring, &rx, &tx}) dma::free(*r);
    }
    void pump() {
        for (int i = 0; i < 100 && conn->poll() != 0; ++i) {
        }
    }
    uint32_t gpadl(const dma::Region& r) {
        std::vector<uint64_t> pfns(r.size / 4096);
        for (size_t i = 0; i < pfns.size(); ++i) pfns[i] = (r.phys >> 12) + i;
        return conn->create_gpadl(relid, vmbus::GpadlRange{static_cast<uint32_t>(r.size), 0, pfns.data(), pfns.size()});
    }
    void nvsp(const uint8_t* m, size_t len, uint64_t tid = 1, bool completion = true) {
        ASSERT_EQ(ch.send(vmbus::kPacketDataInband, completion ? vmbus::kPacketFlagCompletionRequested : 0, tid,
                          nullptr, 0, m, len),
                  vmbus::RingStatus::Ok);
    }
    // Host turn, then read everything the host sent: completions' NVSP types, transfer-page packets' ids.
    void run() {
        sim->pump();
        uint8_t buf[16384];
        size_t len;
        while (ch.receive(buf, sizeof buf, len) == vmbus::RingStatus::Ok) {
            vmbus::PacketDescriptor d;
            memcpy(&d, buf, sizeof d);
            const uint8_t* p = buf + d.offset8 * 8;
            if (d.type == vmbus::kPacketCompletion) {
                completions.push_back(len >= d.offset8 * 8u + 4 ? get32(p) : 0);
                statuses.push_back(len >= d.offset8 * 8u + 8 ? get32(p + 4) : 0);
            } else if (d.type == vmbus::kPacketDataXferPages) {
                xfers.push_back(d.transaction_id);
            }
        }
    }
    bool saw(const std::string& what) {
        for (const auto& v : host.violations)
            if (v.find(what) != std::string::npos) return true;
        return false;
    }
    std::string all() {
        std::string s;
        for (const auto& v : host.violations) s += v + "\n";
        return s;
    }
    // A correct guest up to RNDIS INITIALIZE (answered) and the packet filter.
    void to_ready() {
        uint8_t m[kNvspMessageSize];
        nvsp(m, build_init(m, kNvspV61));
        nvsp(m, build_ndis_config(m, 1514, 0), 0, false);
        nvsp(m, build_ndis_version(m, 6, 30), 0, false);
        nvsp(m, build_send_recv_buf(m, rx_gpadl, 0xCAFE), 2);
        nvsp(m, build_send_send_buf(m, tx_gpadl, 0), 3);
        run();
        rndis(build_rndis_init(section(0), 5, 0x4000), 0, 10);
        uint8_t f[4];
        put32(f, kFilterDirected | kFilterBroadcast);
        rndis(build_rndis_set(section(1), 6, kOidCurrentPacketFilter, f, 4), 1, 11);
        run();
        ASSERT_TRUE(host.violations.empty()) << all();
        ASSERT_EQ(sim->phase(), NetvspSim::Phase::Ready);
        ASSERT_TRUE(sim->rndis_initialized());
        ASSERT_EQ(xfers.size(), 2u);  // INIT_CMPLT and SET_CMPLT
    }
    uint8_t* section(uint32_t i) { return static_cast<uint8_t*>(tx.virt) + i * 6144; }
    void rndis(size_t len, uint32_t section, uint64_t tid, uint32_t channel = kNvspChannelControl) {
        uint8_t m[kNvspMessageSize];
        nvsp(m, build_rndis_packet(m, channel, section, static_cast<uint32_t>(len)), tid);
    }
    void complete_rx(uint64_t tid, size_t payload = 8) {
        uint8_t c[8];
        build_rndis_packet_complete(c, kNvspStatusSuccess);
        ASSERT_EQ(ch.send(vmbus::kPacketCompletion, 0, tid, nullptr, 0, c, payload), vmbus::RingStatus::Ok);
    }

    HvModel model;
    HostSim host{model};
    hv::Synic synic;
    dma::Region sim_page, sief_page, post_page, pages, ring, rx, tx;
    vmbus::Connection* conn = nullptr;
    NetvspSim* sim = nullptr;
    vmbus::Channel ch;
    uint32_t relid = 0, rx_gpadl = 0, tx_gpadl = 0;
    std::vector<uint32_t> completions, statuses;
    std::vector<uint64_t> xfers;
};

TEST_F(NetvspSimTest, ACorrectGuestRaisesNothing) {
    to_ready();
    const uint8_t mac[6] = {0x00, 0x15, 0x5d, 0x12, 0x34, 0x56};
    std::vector<uint8_t> f(60, 0);
    memcpy(f.data(), mac, 6);
    sim->inject(f.data(), f.size());
    run();
    ASSERT_EQ(xfers.size(), 3u);
    for (uint64_t t : xfers) complete_rx(t);
    run();
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_TRUE(host.violations.empty()) << all();
}

TEST_F(NetvspSimTest, MessagesBeforeInitAndWithoutCompletionRequests) {
    uint8_t m[kNvspMessageSize];
    nvsp(m, build_send_recv_buf(m, rx_gpadl, 0xCAFE));
    run();
    EXPECT_TRUE(saw("NVSP message 101 before INIT")) << all();
    build_init(m, kNvspV61);
    nvsp(m, 8);  // INIT cut short
    run();
    EXPECT_TRUE(saw("INIT of 8 bytes, needs 12")) << all();
    nvsp(m, build_init(m, kNvspV61), 1, false);
    run();
    EXPECT_TRUE(saw("INIT without a completion request")) << all();
    nvsp(m, build_init(m, kNvspV61));
    run();
    EXPECT_TRUE(saw("second INIT")) << all();
    host.violations.clear();
}

TEST_F(NetvspSimTest, UnknownVersionIsRefusedNotAViolation) {
    uint8_t m[kNvspMessageSize];
    nvsp(m, build_init(m, 0x00030000));  // there is no NVSP 3
    run();
    ASSERT_EQ(completions.size(), 1u);
    EXPECT_EQ(completions[0], kNvspInitComplete);
    EXPECT_EQ(sim->phase(), NetvspSim::Phase::AwaitInit);
    EXPECT_TRUE(host.violations.empty()) << all();
}

TEST_F(NetvspSimTest, ReceiveBufferOrderAndGpadlMisuse) {
    uint8_t m[kNvspMessageSize];
    nvsp(m, build_init(m, kNvspV61));
    nvsp(m, build_send_recv_buf(m, rx_gpadl, 0xCAFE), 2);  // no NDIS_CONFIG / NDIS_VERSION yet
    run();
    EXPECT_TRUE(saw("SEND_RECV_BUF before NDIS_CONFIG")) << all();
    EXPECT_TRUE(saw("SEND_RECV_BUF before NDIS_VERSION")) << all();
    nvsp(m, build_ndis_version(m, 6, 1), 0, false);  // 6.1 on NVSP 6.1 (must be 6.30)
    run();
    EXPECT_TRUE(saw("NDIS version 6.1 for NVSP 0x60001")) << all();
    host.violations.clear();
    // (the first SEND_RECV_BUF was accepted despite the violations; a second one is an error of its own)
    nvsp(m, build_send_recv_buf(m, rx_gpadl, 0xCAFE), 2);
    run();
    EXPECT_TRUE(saw("second SEND_RECV_BUF")) << all();
    nvsp(m, build_send_send_buf(m, 0xBAD, 0), 3);  // no such GPADL
    run();
    EXPECT_TRUE(saw("send buffer GPADL 2989 does not exist")) << all();
    nvsp(m, build_send_send_buf(m, ch.ring_gpadl(), 0), 3);  // the ring is not a buffer
    run();
    EXPECT_TRUE(saw("send buffer GPADL is the channel's ring")) << all();
    EXPECT_EQ(statuses.back(), kNvspStatusFailed);
    host.violations.clear();
}

TEST_F(NetvspSimTest, ReceiveCompletionsMustBeTypedAndUnique) {
    to_ready();
    complete_rx(xfers[0], 0);  // empty completion (iPXE's habit; OVMM rejects it)
    run();
    EXPECT_TRUE(saw("empty or short receive completion")) << all();
    complete_rx(xfers[1]);
    complete_rx(xfers[1]);  // twice
    run();
    EXPECT_TRUE(saw("already completed")) << all();
    host.violations.clear();
}

TEST_F(NetvspSimTest, BadSectionsAndPacketMessages) {
    to_ready();
    rndis(100, 9999, 20, kNvspChannelData);  // section outside the send buffer
    run();
    EXPECT_TRUE(saw("send section 9999 size 100 outside the buffer")) << all();
    uint8_t* p = section(2);
    build_rndis_packet_header(p, 60);
    put32(p + 36, 7);  // VC handle must be 0
    rndis(44 + 60, 2, 21, kNvspChannelData);
    run();
    EXPECT_TRUE(saw("malformed PACKET_MSG")) << all();
    EXPECT_EQ(statuses.back(), kNvspStatusFailed);
    build_rndis_packet_header(p, 3000);  // a frame longer than the announced MTU
    rndis(44 + 3000, 2, 22, kNvspChannelData);
    run();
    EXPECT_TRUE(saw("guest frame of 3000 bytes")) << all();
    host.violations.clear();
}

TEST_F(NetvspSimTest, TearingDownABufferInUseIsCaught) {
    to_ready();
    ASSERT_TRUE(conn->teardown_gpadl(relid, rx_gpadl));
    pump();
    run();
    EXPECT_TRUE(saw("receive buffer GPADL torn down while in use")) << all();
    host.violations.clear();
}

TEST_F(NetvspSimTest, PacketsAfterRevokeAndACorruptRing) {
    to_ready();
    uint8_t m[kNvspMessageSize];
    nvsp(m, build_revoke_recv_buf(m, 0xCAFE), 0, false);
    rndis(build_rndis_query(section(3), 9, kOidLinkSpeed), 3, 30);
    run();
    EXPECT_EQ(sim->revokes, 1u);
    EXPECT_TRUE(saw("guest packet after revoking its buffers")) << all();
    // The guest scribbles an invalid write index into its own outbound ring.
    put32(static_cast<uint8_t*>(ring.virt), 5);
    run();
    EXPECT_TRUE(saw("guest->host ring: ring corrupt")) << all();
    host.violations.clear();
}

}  // namespace
}  // namespace skerry::netvsc
