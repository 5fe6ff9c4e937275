// The netvsc driver against the VMBus host simulator with its netvsp side (hv_netvsp_sim): bring-up and version
// fallback, transmit with completions and back-pressure, zero-copy receive with completions after release,
// link indications, rescind, orderly stop, and a host sending malformed, oversized and out-of-order input.
#include <gtest/gtest.h>
#include <string.h>

#include <deque>
#include <set>
#include <vector>

#include "drivers/nic/netvsc/netvsc.hpp"
#include "drivers/nic/netvsc/nvsp.hpp"
#include "hv_fake.hpp"
#include "hv_host_sim.hpp"
#include "hv_netvsp_sim.hpp"
#include "kernel/dma.hpp"
#include "kernel/event_loop.hpp"

namespace skerry::netvsc {
namespace {

using hvtest::HostSim;
using hvtest::HvModel;
using hvtest::NetvspSim;

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\n";
    return s;
}

void put32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// The stack's side: keeps every frame until the test releases it. It also checks the NIC contract's nesting
// rules (src/net/nic.hpp): no callback while the driver is inside transmit() or rx_release() called through
// tx()/release(), and no callback from inside another (the driver delivers one at a time).
struct Client : net::NicClient {
    struct Frame {
        std::vector<uint8_t> bytes;
        const void* data;
        void* buffer;
    };
    // Marks a callback: counts it as nested when it arrives inside a driver call or another callback.
    struct InCallback {
        explicit InCallback(Client& c) : c(c) {
            if (c.in_driver || c.depth > 0) c.nested++;
            c.depth++;
        }
        ~InCallback() { c.depth--; }
        Client& c;
    };
    net::TxStatus tx(net::NicDriver& d, const net::TxFrame& f) {
        in_driver = true;
        const net::TxStatus s = d.transmit(f);
        in_driver = false;
        return s;
    }
    void release(net::NicDriver& d, void* buffer) {
        in_driver = true;
        d.rx_release(buffer);
        in_driver = false;
    }
    bool receive(const net::RxFrame& f) override {
        InCallback in(*this);
        if (refuse) {
            refused++;
            return false;
        }
        received++;
        const uint8_t* d = static_cast<const uint8_t*>(f.data);
        if (release_at_once != nullptr) {  // a client that is done with the frame before returning
            seen.emplace_back(d, d + f.len);
            release(*release_at_once, f.buffer);
            return true;
        }
        frames.push_back({std::vector<uint8_t>(d, d + f.len), f.data, f.buffer});
        return true;
    }
    void tx_done(void* cookie) override {
        InCallback in(*this);
        done.push_back(cookie);
    }
    void link_changed(bool up) override {
        InCallback in(*this);
        links.push_back(up);
    }
    void tx_ready() override {
        InCallback in(*this);
        ready++;
    }
    std::vector<Frame> frames;
    std::vector<void*> done;
    std::vector<bool> links;
    int ready = 0;
    bool refuse = false;
    net::NicDriver* release_at_once = nullptr;
    std::vector<std::vector<uint8_t>> seen;
    size_t received = 0, refused = 0;
    bool in_driver = false;
    int depth = 0, nested = 0;
};

std::vector<uint8_t> frame(const uint8_t dst[6], size_t len, uint8_t seed) {
    std::vector<uint8_t> f(len < 14 ? 14 : len);
    memcpy(f.data(), dst, 6);
    const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x99};
    memcpy(f.data() + 6, src, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    for (size_t i = 14; i < len; ++i) f[i] = static_cast<uint8_t>(seed + i * 7);
    f.resize(len);
    return f;
}

struct NetvscTest : ::testing::Test {
    void SetUp() override {
        hw::set_model(&model);
        dma_base = dma::in_use();
        ASSERT_TRUE(dma::alloc(4096, sim_page));
        ASSERT_TRUE(dma::alloc(4096, sief_page));
        ASSERT_TRUE(dma::alloc(4096, post_page));
        ASSERT_TRUE(dma::alloc(3 * 4096, pages));
        ASSERT_TRUE(synic.enable(sim_page.phys, sief_page.phys, hv::kVmbusSint, 0x40, true));
        host.devices = {{vmbus::kNetvscClass, vmbus::make_guid(5, 6, 7, 8), 0}};
        cfg.port = &host;
        cfg.synic = &synic;
        cfg.post_buffer = static_cast<hv::PostMessageInput*>(post_page.virt);
        cfg.post_buffer_phys = post_page.phys;
        cfg.interrupt_page = pages.phys;
        cfg.monitor_page1 = pages.phys + 4096;
        cfg.monitor_page2 = pages.phys + 8192;
        conn = new vmbus::Connection(cfg);
        ASSERT_TRUE(conn->start());
        for (int i = 0; i < 100 && conn->poll() != 0; ++i) {
        }
        ASSERT_EQ(conn->state(), vmbus::State::Ready);
        relid = conn->find_offer(vmbus::kNetvscClass)->offer.child_relid;
        sim = new NetvspSim(host, relid);
        opt.self_poll = false;
        baseline = dma::in_use();
    }
    void TearDown() override {
        EXPECT_TRUE(host.violations.empty()) << joined(host.violations);
        EXPECT_EQ(client.nested, 0) << "a client callback from inside transmit(), rx_release() or another callback";
        // The driver's memory goes only after the host let go of it (stop) or with the test's end.
        delete drv;
        delete sim;
        delete conn;
        hw::set_model(nullptr);
        dma::free(sim_page);
        dma::free(sief_page);
        dma::free(post_page);
        dma::free(pages);
        EXPECT_EQ(dma::in_use(), dma_base);
    }
    // Everyone runs until nothing moves.
    void run() {
        for (int i = 0; i < 1000; ++i) {
            size_t work = conn->poll();
            work += sim->pump();
            if (drv != nullptr) work += drv->poll(64);
            if (work == 0) return;
        }
        ADD_FAILURE() << "no quiescence after 1000 rounds";
    }
    void bring_up() {
        drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
        ASSERT_NE(drv, nullptr);
        run();
        ASSERT_EQ(drv->state(), BringUp::Ready) << bring_up_name(drv->state());
    }
    void start() {
        bring_up();
        ASSERT_TRUE(drv->start(client));
    }
    net::TxStatus send(const std::vector<uint8_t>& f, void* cookie, size_t split = 0) {
        net::TxFrame t{};
        if (split != 0 && split < f.size()) {
            t.segs[0] = {f.data(), static_cast<uint32_t>(split)};
            t.segs[1] = {f.data() + split, static_cast<uint32_t>(f.size() - split)};
            t.count = 2;
        } else {
            t.segs[0] = {f.data(), static_cast<uint32_t>(f.size())};
            t.count = 1;
        }
        t.total_len = static_cast<uint32_t>(f.size());
        t.cookie = cookie;
        return client.tx(*drv, t);
    }
    void release_all() {
        for (auto& f : client.frames) client.release(*drv, f.buffer);
        client.frames.clear();
    }
    // An RNDIS PACKET_MSG for `frame` at receive-buffer offset `off`, returned as a range.
    std::pair<uint32_t, uint32_t> place(uint32_t off, const std::vector<uint8_t>& f) {
        std::vector<uint8_t> m(44 + f.size(), 0);
        put32(&m[0], kRndisPacketMsg);
        put32(&m[4], static_cast<uint32_t>(m.size()));
        put32(&m[8], 36);
        put32(&m[12], static_cast<uint32_t>(f.size()));
        memcpy(&m[44], f.data(), f.size());
        sim->write_recv(off, m.data(), m.size());
        return {static_cast<uint32_t>(m.size()), off};
    }

    HvModel model;
    HostSim host{model};
    hv::Synic synic;
    dma::Region sim_page, sief_page, post_page, pages;
    vmbus::Connection::Config cfg;
    vmbus::Connection* conn = nullptr;
    NetvspSim* sim = nullptr;
    Driver* drv = nullptr;
    Options opt;
    Client client;
    uint32_t relid = 0;
    size_t dma_base = 0, baseline = 0;
};

TEST_F(NetvscTest, BringUpNegotiatesNewestAndLearnsMacMtuLink) {
    bring_up();
    EXPECT_EQ(drv->nvsp_version(), kNvspV61);
    EXPECT_EQ(sim->init_versions, (std::vector<uint32_t>{kNvspV61}));
    EXPECT_EQ(sim->ndis_major(), 6u);
    EXPECT_EQ(sim->ndis_minor(), 30u);
    EXPECT_EQ(sim->ndis_mtu(), 1514u);
    EXPECT_EQ(memcmp(drv->mac(), sim->mac, 6), 0);
    EXPECT_EQ(drv->mtu(), 1500);
    EXPECT_TRUE(drv->link_up());
    EXPECT_EQ(drv->link_speed_mbps(), 10000u);
    EXPECT_EQ(sim->filter(), kFilterDirected | kFilterMulticast | kFilterAllMulticast | kFilterBroadcast);
    EXPECT_EQ(drv->packet_filter(), sim->filter());
    EXPECT_EQ(sim->oids_queried, (std::vector<uint32_t>{kOidPermanentAddress, kOidMaximumFrameSize, kOidLinkSpeed,
                                                        kOidMediaConnectStatus}));
    EXPECT_EQ(drv->recv_sub_alloc_size(), 256u + 1514 + 36);
    EXPECT_EQ(drv->recv_sub_alloc_count(), (1u << 20) / 1806);
    EXPECT_EQ(drv->send_section_size(), 6144u);
    EXPECT_EQ(drv->send_section_count(), (512u << 10) / 6144);
    EXPECT_EQ(sim->rx_outstanding(), 0u);  // every control reply was completed
    EXPECT_EQ(drv->tx_sections_busy(), 0u);
    EXPECT_EQ(drv->counters().device_errors, 0u);
    EXPECT_STREQ(drv->name(), "netvsc relid 1");
}

TEST_F(NetvscTest, OlderHostsGetOlderVersionsAndNdis61) {
    sim->max_version = kNvspV4;
    bring_up();
    EXPECT_EQ(drv->nvsp_version(), kNvspV4);
    EXPECT_EQ(sim->init_versions, (std::vector<uint32_t>{kNvspV61, kNvspV6, kNvspV5, kNvspV4}));
    EXPECT_EQ(sim->ndis_minor(), 1u);
}

TEST_F(NetvscTest, Nvsp1HostGetsNoNdisConfig) {
    sim->max_version = kNvspV1;
    bring_up();  // the simulator flags an NDIS_CONFIG on NVSP 1
    EXPECT_EQ(drv->nvsp_version(), kNvspV1);
    EXPECT_EQ(sim->ndis_mtu(), 0u);
}

TEST_F(NetvscTest, MaxVersionOptionCapsTheWalk) {
    opt.max_nvsp_version = kNvspV5;
    bring_up();
    EXPECT_EQ(sim->init_versions, (std::vector<uint32_t>{kNvspV5}));
}

TEST_F(NetvscTest, SilentHostTimesOutThroughEveryVersionThenFails) {
    sim->answer_init = false;
    drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
    ASSERT_NE(drv, nullptr);
    run();
    ASSERT_EQ(drv->state(), BringUp::NvspInit);
    int timeouts = 0;
    while (drv->state() == BringUp::NvspInit && timeouts < 20) {
        drv->on_timeout();
        run();
        timeouts++;
    }
    EXPECT_EQ(drv->state(), BringUp::Failed);
    EXPECT_EQ(timeouts, static_cast<int>(kNvspVersionCount));
    EXPECT_EQ(sim->init_versions.size(), kNvspVersionCount);
    // A failed driver can still be stopped: the channel and the GPADLs go back.
    drv->stop();
    run();
    EXPECT_TRUE(drv->stopped());
    EXPECT_TRUE(host.gpadls().empty());
    EXPECT_EQ(dma::in_use(), baseline);
}

TEST_F(NetvscTest, SilentRndisTimesOutAndTheDriverCanStillStop) {
    sim->answer_rndis = false;
    drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
    ASSERT_NE(drv, nullptr);
    run();
    EXPECT_EQ(drv->state(), BringUp::RndisInit);
    const uint32_t p = drv->progress();
    run();
    EXPECT_EQ(drv->progress(), p);  // stuck: what the owner's timeout watches
    drv->on_timeout();
    EXPECT_EQ(drv->state(), BringUp::Failed);
    EXPECT_EQ(drv->counters().device_errors, 1u);
    drv->stop();
    run();
    EXPECT_TRUE(drv->stopped());
    EXPECT_TRUE(host.gpadls().empty());
    EXPECT_FALSE(host.channels().at(relid).open);
    EXPECT_EQ(dma::in_use(), baseline);
}

// Driver::bring_up, as the kernel uses it at boot: a clock that moves 1 us per look, the simulated host
// answering between rounds.
uint64_t fake_ns;
uint64_t fake_now() { return fake_ns += 1000; }

TEST_F(NetvscTest, BlockingBringUpReachesReady) {
    drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
    ASSERT_NE(drv, nullptr);
    fake_ns = 0;
    Driver::Wait w{fake_now, 1'000'000, 100'000'000, [](void* s) { static_cast<NetvspSim*>(s)->pump(); }, sim};
    EXPECT_TRUE(drv->bring_up(w));
    EXPECT_TRUE(drv->ready());
    EXPECT_LT(fake_ns, 100'000'000u);
}

TEST_F(NetvscTest, BlockingBringUpWalksVersionsOnTimeoutsThenStopsCleanly) {
    sim->answer_init = false;
    drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
    ASSERT_NE(drv, nullptr);
    fake_ns = 0;
    Driver::Wait w{fake_now, 1'000'000, 1'000'000'000, [](void* s) { static_cast<NetvspSim*>(s)->pump(); }, sim};
    EXPECT_FALSE(drv->bring_up(w));
    EXPECT_EQ(sim->init_versions.size(), kNvspVersionCount);  // every version tried, one timeout each
    EXPECT_TRUE(drv->stopped());
    EXPECT_TRUE(host.gpadls().empty());
    EXPECT_EQ(dma::in_use(), baseline);
}

TEST_F(NetvscTest, BlockingBringUpGivesUpAfterItsBudget) {
    sim->answer_rndis = false;
    drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
    ASSERT_NE(drv, nullptr);
    fake_ns = 0;
    // Steps never time out (1 s), the whole budget (50 ms) does.
    Driver::Wait w{fake_now, 1'000'000'000, 50'000'000, [](void* s) { static_cast<NetvspSim*>(s)->pump(); }, sim};
    EXPECT_FALSE(drv->bring_up(w));
    EXPECT_GE(fake_ns, 50'000'000u);
    EXPECT_LT(fake_ns, 2'000'000'000u);
    EXPECT_TRUE(drv->stopped());
    EXPECT_FALSE(host.channels().at(relid).open);
}

TEST_F(NetvscTest, ALateAnswerToAnEarlierInitIsNotTakenForTheCurrentOne) {
    sim->answer_init = false;
    drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
    run();
    drv->on_timeout();  // 6.1 unanswered: now asking for 6.0
    run();
    ASSERT_EQ(sim->init_versions, (std::vector<uint32_t>{kNvspV61, kNvspV6}));
    uint8_t ok61[16] = {2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 34, 0, 0, 0, 1};  // "6.1 accepted", too late
    ASSERT_TRUE(sim->send_raw(vmbus::kPacketCompletion, 0, 0x4E561000, nullptr, 0, ok61, 16));
    run();
    EXPECT_EQ(drv->state(), BringUp::NvspInit);
    EXPECT_EQ(drv->nvsp_version(), 0u);
    EXPECT_EQ(drv->counters().device_errors, 1u);
}

TEST_F(NetvscTest, PermanentAddressRefusedFallsBackToCurrent) {
    sim->permanent_address_fails = true;
    bring_up();
    EXPECT_EQ(memcmp(drv->mac(), sim->mac, 6), 0);
    EXPECT_EQ(sim->oids_queried[0], kOidPermanentAddress);
    EXPECT_EQ(sim->oids_queried[1], kOidCurrentAddress);
}

TEST_F(NetvscTest, UnusableMacFailsBringUp) {
    const uint8_t mc[6] = {0x01, 0, 0x5e, 0, 0, 1};
    memcpy(sim->mac, mc, 6);
    drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
    run();
    EXPECT_EQ(drv->state(), BringUp::Failed);
    EXPECT_FALSE(drv->start(client));
}

TEST_F(NetvscTest, OutOfDmaMemoryIsReportedNotFatal) {
    struct NoMemory final : vmbus::DmaProvider {
        bool alloc(size_t, dma::Region&, uint64_t) override { return false; }
        void free(dma::Region&) override {}
    } none;
    EXPECT_EQ(Driver::create(*conn, host, relid, none, opt), nullptr);
    EXPECT_EQ(Driver::create(*conn, host, 99, vmbus::kernel_dma(), opt), nullptr);  // no such offer
    EXPECT_EQ(dma::in_use(), baseline);
    EXPECT_TRUE(host.gpadls().empty());
}

TEST_F(NetvscTest, TransmitCopiesIntoSectionsAndHandsCookiesBackInTheNextPass) {
    bring_up();
    int c0;
    EXPECT_EQ(send(frame(sim->mac, 60, 1), &c0), net::TxStatus::Full);  // not started: refused, nothing kept
    ASSERT_TRUE(drv->start(client));
    const auto f1 = frame(sim->mac, 60, 1), f2 = frame(sim->mac, 1514, 2);
    int c1, c2;
    const uint64_t completions = drv->stats().tx_completions;
    ASSERT_EQ(send(f1, &c1), net::TxStatus::Queued);
    ASSERT_EQ(send(f2, &c2, 100), net::TxStatus::Queued);  // two segments
    EXPECT_TRUE(client.done.empty());                      // copied, but never handed back from inside transmit()
    EXPECT_EQ(drv->tx_done_pending(), 2u);
    EXPECT_EQ(drv->tx_sections_busy(), 2u);
    drv->poll(64);  // the next pass: the host has not read them yet, the copies are its
    EXPECT_EQ(client.done, (std::vector<void*>{&c1, &c2}));
    EXPECT_EQ(drv->tx_done_pending(), 0u);
    EXPECT_EQ(drv->tx_sections_busy(), 2u);
    run();
    ASSERT_EQ(sim->tx_frames.size(), 2u);
    EXPECT_EQ(sim->tx_frames[0], f1);
    EXPECT_EQ(sim->tx_frames[1], f2);
    EXPECT_EQ(drv->tx_sections_busy(), 0u);
    EXPECT_EQ(client.done.size(), 2u);
    EXPECT_EQ(drv->stats().tx_completions, completions + 2);
}

TEST_F(NetvscTest, WithoutASendBufferFramesGoGpaDirectZeroCopy) {
    opt.use_send_buffer = false;
    start();
    EXPECT_FALSE(sim->has_send_buffer());
    EXPECT_EQ(drv->send_section_count(), 0u);
    EXPECT_EQ(sim->filter(), drv->packet_filter());  // control messages went GPA direct too
    // A frame in two pieces, the second straddling a page boundary.
    std::vector<uint8_t> mem(3 * 4096);
    uint8_t* page_end = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(mem.data()) + 8191) & ~uintptr_t{4095});
    const auto f = frame(sim->mac, 1400, 6);
    memcpy(page_end - 700, f.data() + 14, f.size() - 14);
    net::TxFrame t{};
    t.segs[0] = {f.data(), 14};
    t.segs[1] = {page_end - 700, static_cast<uint32_t>(f.size() - 14)};
    t.count = 2;
    t.total_len = static_cast<uint32_t>(f.size());
    int c;
    t.cookie = &c;
    ASSERT_EQ(client.tx(*drv, t), net::TxStatus::Queued);
    EXPECT_TRUE(client.done.empty());  // zero copy: the pieces are the host's until it completes
    EXPECT_EQ(drv->tx_gpa_busy(), 1u);
    drv->poll(64);
    EXPECT_TRUE(client.done.empty());  // not completed yet: a pass alone does not hand it back
    run();
    EXPECT_EQ(client.done, (std::vector<void*>{&c}));
    ASSERT_EQ(sim->tx_frames.size(), 1u);
    EXPECT_EQ(sim->tx_frames[0], f);
    EXPECT_EQ(drv->tx_gpa_busy(), 0u);
}

TEST_F(NetvscTest, HostRefusingTheSendBufferFallsBackToGpaDirect) {
    sim->refuse_send_buffer = true;
    start();
    EXPECT_EQ(drv->send_section_count(), 0u);
    const auto f = frame(sim->mac, 600, 2);
    int c;
    ASSERT_EQ(send(f, &c), net::TxStatus::Queued);
    run();
    ASSERT_EQ(sim->tx_frames.size(), 1u);
    EXPECT_EQ(sim->tx_frames[0], f);
    EXPECT_EQ(client.done.size(), 1u);
}

TEST_F(NetvscTest, GpaDirectBackPressureAndFramesReturnedAtRescind) {
    opt.use_send_buffer = false;
    start();
    sim->hold_tx_completions = true;
    const auto f = frame(sim->mac, 300, 1);
    int cookies[Driver::kGpaSlots + 1];
    size_t sent = 0;
    while (sent <= Driver::kGpaSlots && send(f, &cookies[sent]) == net::TxStatus::Queued) sent++;
    EXPECT_EQ(sent, Driver::kGpaSlots);
    EXPECT_TRUE(client.done.empty());
    run();
    EXPECT_EQ(sim->tx_frames.size(), sent);
    sim->release_tx_completions();
    run();
    EXPECT_EQ(client.done.size(), sent);
    EXPECT_EQ(client.ready, 1);
    // In flight when the channel goes: handed back (and counted), not leaked.
    client.done.clear();
    for (size_t i = 0; i < 5; ++i) ASSERT_EQ(send(f, &cookies[i]), net::TxStatus::Queued);
    run();
    sim->rescind();
    run();
    EXPECT_TRUE(drv->stopped());
    EXPECT_EQ(client.done.size(), 5u);  // handed back by a pass, not from inside the teardown
    EXPECT_EQ(drv->counters().tx_errors, 5u);
    EXPECT_EQ(dma::in_use(), baseline);
}

TEST_F(NetvscTest, MalformedTransmitFramesAreDroppedWithoutTxDone) {
    start();
    int c;
    const auto big = frame(sim->mac, 1600, 1), tiny = frame(sim->mac, 10, 1);
    EXPECT_EQ(send(big, &c), net::TxStatus::Dropped);
    EXPECT_EQ(send(tiny, &c), net::TxStatus::Dropped);
    net::TxFrame t{};
    t.count = 0;
    t.cookie = &c;
    EXPECT_EQ(client.tx(*drv, t), net::TxStatus::Dropped);
    net::TxFrame lie{};
    lie.segs[0] = {big.data(), 100};
    lie.count = 1;
    lie.total_len = 200;  // segments do not add up
    lie.cookie = &c;
    EXPECT_EQ(client.tx(*drv, lie), net::TxStatus::Dropped);
    EXPECT_EQ(drv->counters().tx_dropped_bad_frame, 4u);
    run();
    EXPECT_TRUE(client.done.empty());  // nothing kept: the caller frees them
    EXPECT_EQ(drv->tx_done_pending(), 0u);
    EXPECT_TRUE(sim->tx_frames.empty());
}

TEST_F(NetvscTest, NoFreeSectionMeansBackPressureThenTxReady) {
    start();
    sim->hold_tx_completions = true;
    const auto f = frame(sim->mac, 200, 3);
    int c;
    size_t sent = 0;
    while (send(f, &c) == net::TxStatus::Queued && sent < 1000) {
        sent++;
        run();
    }
    EXPECT_EQ(sent, drv->send_section_count());
    EXPECT_EQ(drv->counters().tx_dropped_ring_full, 1u);
    EXPECT_EQ(client.done.size(), sent);  // the refused frame was not kept
    run();
    EXPECT_EQ(client.ready, 0);
    sim->release_tx_completions();
    run();
    EXPECT_EQ(client.ready, 1);
    EXPECT_EQ(send(f, &c), net::TxStatus::Queued);
    run();
    EXPECT_EQ(sim->tx_frames.size(), sent + 1);
}

TEST_F(NetvscTest, FullOutboundRingMeansBackPressureAndDeferredCompletions) {
    opt.ring_out_pages = 2;  // 4 KiB: about 60 NVSP messages
    start();
    // Three frames lent to the client, one per packet, so their completions wait for the releases.
    sim->frames_per_packet = 1;
    for (int i = 0; i < 3; ++i) sim->inject(frame(sim->mac, 100, static_cast<uint8_t>(i)).data(), 100);
    run();
    ASSERT_EQ(client.frames.size(), 3u);
    const auto f = frame(sim->mac, 100, 9);
    int c;
    size_t sent = 0;
    while (send(f, &c) == net::TxStatus::Queued && sent < 1000) sent++;  // no run(): the host does not read
    EXPECT_LT(sent, drv->send_section_count());
    EXPECT_EQ(drv->counters().tx_dropped_ring_full, 1u);
    release_all();  // at most one 32-byte completion still fits
    EXPECT_GE(drv->stats().rx_completions_deferred, 2u);
    EXPECT_GE(sim->rx_outstanding(), 2u);
    run();
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_EQ(client.ready, 1);
    EXPECT_EQ(sim->tx_frames.size(), sent);
}

TEST_F(NetvscTest, ReceiveIsZeroCopyAndCompletedAfterTheLastRelease) {
    start();
    std::vector<std::vector<uint8_t>> sent;
    for (int i = 0; i < 3; ++i) {
        sent.push_back(frame(sim->mac, 60 + 500 * i, static_cast<uint8_t>(i)));
        sim->inject(sent.back().data(), sent.back().size());
    }
    run();
    ASSERT_EQ(client.frames.size(), 3u);
    EXPECT_EQ(sim->rx_packets, 6u + 1);  // six bring-up replies, then one packet with the three frames
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(client.frames[i].bytes, sent[i]);
        // Zero copy: the frame is where the host put it, inside the receive buffer.
        const uint8_t* d = static_cast<const uint8_t*>(client.frames[i].data);
        EXPECT_GE(d, sim->recv_buffer());
        EXPECT_LE(d + sent[i].size(), sim->recv_buffer() + (1u << 20));
    }
    EXPECT_EQ(drv->rx_frames_lent(), 3u);
    EXPECT_EQ(sim->rx_outstanding(), 1u);
    client.release(*drv, client.frames[0].buffer);
    client.release(*drv, client.frames[2].buffer);
    run();
    EXPECT_EQ(sim->rx_outstanding(), 1u);  // one frame of the packet is still held
    client.release(*drv, client.frames[1].buffer);
    EXPECT_EQ(sim->rx_outstanding(), 1u);  // the completion is on the ring; the host reads it next
    run();
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_EQ(drv->rx_frames_lent(), 0u);
    EXPECT_EQ(client.received, 3u);
    // A second release of the same buffer is caught, not double-counted.
    client.release(*drv, client.frames[1].buffer);
    int bogus;
    client.release(*drv, &bogus);
    EXPECT_EQ(drv->counters().device_errors, 2u);
    EXPECT_EQ(sim->rx_completions, sim->rx_packets);
}

TEST_F(NetvscTest, ManyFramesFlowWithBoundedSlots) {
    start();
    // More frames than sub-allocations, released as they come: the host never runs dry for long.
    size_t got = 0;
    for (int i = 0; i < 3000; ++i) {
        const auto f = frame(sim->mac, 64 + (i % 1400), static_cast<uint8_t>(i));
        sim->inject(f.data(), f.size());
        if (i % 50 == 49) {
            run();
            got += client.frames.size();
            release_all();
        }
    }
    run();
    got += client.frames.size();
    release_all();
    run();
    EXPECT_EQ(got, 3000u);
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, 0u);
}

TEST_F(NetvscTest, HoldingFramesStallsTheHostNotTheDriver) {
    start();
    // The client keeps everything: the host runs out of sub-allocations and holds the rest.
    for (int i = 0; i < 700; ++i) sim->inject(frame(sim->mac, 100, 1).data(), 100);
    run();
    EXPECT_GT(sim->frames_queued(), 0u);
    const size_t held = client.frames.size();
    EXPECT_EQ(held + sim->frames_queued(), 700u);
    release_all();
    run();
    release_all();
    run();
    EXPECT_EQ(sim->frames_queued(), 0u);
    EXPECT_EQ(client.received, 700u);
    EXPECT_EQ(drv->counters().rx_dropped_no_buffer, 0u);
}

TEST_F(NetvscTest, TheRndisTypeNotTheChannelTypeDecides) {
    start();
    const auto f = frame(sim->mac, 300, 4);
    const uint32_t off = drv->recv_sub_alloc_size() * (drv->recv_sub_alloc_count() - 1);
    ASSERT_TRUE(sim->send_xfer({place(off, f)}, kNvspChannelControl, Driver::kRecvBufId));
    run();
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(client.frames[0].bytes, f);
    release_all();
    run();
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_EQ(drv->counters().device_errors, 0u);
}

TEST_F(NetvscTest, ReleaseInsideReceiveCompletesOnceAfterTheLastFrame) {
    start();
    client.release_at_once = drv;
    for (int i = 0; i < 5; ++i) sim->inject(frame(sim->mac, 100 + i, 1).data(), 100 + i);
    run();
    EXPECT_EQ(client.seen.size(), 5u);
    EXPECT_EQ(drv->rx_frames_lent(), 0u);
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_EQ(sim->rx_completions, sim->rx_packets);  // one completion per packet (a second would be flagged)
}

TEST_F(NetvscTest, StackRefusingAFrameCompletesIt) {
    start();
    client.refuse = true;
    for (int i = 0; i < 3; ++i) sim->inject(frame(sim->mac, 100, 1).data(), 100);
    run();
    EXPECT_EQ(client.refused, 3u);  // the glue counts refusals; the driver takes the frames back
    EXPECT_EQ(drv->rx_frames_lent(), 0u);
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_EQ(sim->rx_completions, sim->rx_packets);
}

// Per-frame counting (broadcast, multicast) is the glue's: the driver passes both kinds, in order.
TEST_F(NetvscTest, FilterPassesBroadcastAndMulticast) {
    start();
    const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mc[6] = {0x33, 0x33, 0, 0, 0, 1},
                  other[6] = {0x02, 1, 2, 3, 4, 5};
    sim->inject(frame(bc, 60, 1).data(), 60);
    sim->inject(frame(mc, 60, 1).data(), 60);
    sim->inject(frame(other, 60, 1).data(), 60);  // not for us: the host filters it
    EXPECT_TRUE(drv->add_multicast(mc));
    EXPECT_TRUE(drv->remove_multicast(mc));
    run();
    ASSERT_EQ(client.frames.size(), 2u);
    EXPECT_EQ(client.frames[0].bytes, frame(bc, 60, 1));
    EXPECT_EQ(client.frames[1].bytes, frame(mc, 60, 1));
    EXPECT_EQ(sim->filtered, 1u);
    release_all();
    run();
}

TEST_F(NetvscTest, LinkIndicationsReachTheClient) {
    start();
    sim->set_link(false);
    run();
    EXPECT_FALSE(drv->link_up());
    sim->set_link(false);  // repeated: no change
    run();
    sim->set_link(true);
    run();
    EXPECT_TRUE(drv->link_up());
    EXPECT_EQ(client.links, (std::vector<bool>{false, true}));
    EXPECT_EQ(drv->counters().link_changes, 2u);
    // Other indications are ignored; a speed change is taken.
    std::vector<uint8_t> ind(24, 0);
    put32(&ind[0], kRndisIndicateStatusMsg);
    put32(&ind[4], 24);
    put32(&ind[8], 0x40010013);
    put32(&ind[12], 4);
    put32(&ind[16], 12);
    put32(&ind[20], 10000000);
    sim->send_control(ind);
    put32(&ind[8], 0x40020006);
    sim->send_control(ind);
    run();
    EXPECT_EQ(drv->link_speed_mbps(), 1000u);
    EXPECT_EQ(drv->counters().device_errors, 0u);
}

TEST_F(NetvscTest, LinkDownAtBringUpIsReported) {
    sim->set_link(false);  // queued before RNDIS is up; the media query says disconnected too
    bring_up();
    EXPECT_FALSE(drv->link_up());
}

TEST_F(NetvscTest, KeepaliveIsAnswered) {
    start();
    std::vector<uint8_t> k(12, 0);
    put32(&k[0], kRndisKeepaliveMsg);
    put32(&k[4], 12);
    put32(&k[8], 77);
    sim->send_control(k);
    run();
    EXPECT_EQ(sim->keepalive_replies, 1u);
}

TEST_F(NetvscTest, RescindTakesTheLinkDownAndReleasesEverything) {
    start();
    sim->inject(frame(sim->mac, 100, 1).data(), 100);
    run();
    ASSERT_EQ(client.frames.size(), 1u);  // lent across the rescind
    sim->rescind();
    run();
    EXPECT_EQ(client.links, (std::vector<bool>{false}));
    EXPECT_TRUE(drv->stopped());
    EXPECT_FALSE(drv->link_up());
    EXPECT_EQ(host.channels().count(relid), 0u);  // relid released
    EXPECT_TRUE(host.gpadls().empty());
    EXPECT_EQ(conn->find_relid(relid), nullptr);
    // The lent frame is still readable; the buffer goes when it comes back.
    EXPECT_EQ(client.frames[0].bytes, frame(sim->mac, 100, 1));
    EXPECT_GT(dma::in_use(), baseline);
    release_all();
    EXPECT_EQ(dma::in_use(), baseline);
    int c;
    EXPECT_EQ(send(frame(sim->mac, 100, 1), &c), net::TxStatus::Dropped);  // not queued forever
    EXPECT_EQ(drv->counters().tx_errors, 1u);
    EXPECT_EQ(drv->poll(64), 0u);
    EXPECT_EQ(client.links, (std::vector<bool>{false}));
}

TEST_F(NetvscTest, RescindDuringBringUp) {
    sim->answer_init = false;
    drv = Driver::create(*conn, host, relid, vmbus::kernel_dma(), opt);
    run();
    ASSERT_EQ(drv->state(), BringUp::NvspInit);
    sim->rescind();
    run();
    EXPECT_TRUE(drv->stopped());
    EXPECT_EQ(host.channels().count(relid), 0u);
    EXPECT_TRUE(host.gpadls().empty());
    EXPECT_EQ(dma::in_use(), baseline);
    EXPECT_FALSE(drv->start(client));
}

TEST_F(NetvscTest, OwnerReportedRescindBeforeTheConnectionSawIt) {
    start();
    drv->on_rescind();  // e.g. the registry saw it first
    run();
    EXPECT_TRUE(drv->stopped());
    EXPECT_EQ(dma::in_use(), baseline);
}

TEST_F(NetvscTest, OrderlyStopHaltsRevokesAndTearsDown) {
    start();
    drv->stop();
    run();
    EXPECT_TRUE(sim->halted());
    EXPECT_EQ(sim->revokes, 2u);
    EXPECT_EQ(sim->filter(), 0u);
    EXPECT_TRUE(drv->stopped());
    EXPECT_TRUE(host.gpadls().empty());
    EXPECT_FALSE(host.channels().at(relid).open);
    EXPECT_EQ(dma::in_use(), baseline);
    EXPECT_EQ(client.links, (std::vector<bool>{false}));
}

TEST_F(NetvscTest, CorruptInboundRingStopsTheDriverCleanly) {
    start();
    sim->inject(frame(sim->mac, 100, 1).data(), 100);
    sim->pump();
    sim->corrupt_inbound_ring();  // after the host's write, which publishes its own index
    run();
    EXPECT_TRUE(drv->stopped());
    EXPECT_GE(drv->counters().device_errors, 1u);
    EXPECT_EQ(client.links, (std::vector<bool>{false}));
    EXPECT_TRUE(host.gpadls().empty());
    EXPECT_EQ(dma::in_use(), baseline);
}

// Every kind of bad input from the host, one after another, with good traffic after each.
TEST_F(NetvscTest, MalformedHostInputIsDroppedCountedAndSurvived) {
    start();
    const uint32_t sub = drv->recv_sub_alloc_size();
    const uint32_t top = sub * drv->recv_sub_alloc_count();
    const uint16_t set = Driver::kRecvBufId;
    const auto good = frame(sim->mac, 200, 5);
    size_t expect_frames = 0;
    auto check_alive = [&](const char* what) {
        sim->inject(good.data(), good.size());
        run();
        expect_frames++;
        EXPECT_EQ(drv->state(), BringUp::Ready) << what;
        EXPECT_EQ(client.received, expect_frames) << what;
        release_all();
        run();
        EXPECT_EQ(sim->rx_outstanding(), 0u) << what;  // every packet completed, malformed or not
    };
    // Use high sub-allocations for the raw packets (the simulator hands out low ones first).
    const uint32_t off = top - 4 * sub;
    auto r = place(off, good);

    uint64_t bad = drv->counters().rx_dropped_bad_frame, dev = drv->counters().device_errors;
    ASSERT_TRUE(sim->send_xfer({{r.first, top - 8}}, 0, set));  // range runs past the sections
    check_alive("range outside");
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, ++bad);
    ASSERT_TRUE(sim->send_xfer({{0xFFFFFFF0u, 0xFFFFFF00u}}, 0, set));  // wrapping offsets
    check_alive("wrapping range");
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, ++bad);
    ASSERT_TRUE(sim->send_xfer({{20, off}}, 0, set));  // range shorter than the RNDIS message
    check_alive("range too short for the message");
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, ++bad);

    std::vector<uint8_t> m(44 + 60, 0);
    put32(&m[0], kRndisPacketMsg);
    put32(&m[4], 104);
    put32(&m[8], 36);
    put32(&m[12], 500);  // data runs past the message
    sim->write_recv(off, m.data(), m.size());
    ASSERT_TRUE(sim->send_xfer({{sub, off}}, 0, set));
    check_alive("data outside the message");
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, ++bad);
    put32(&m[12], 0);  // no data
    sim->write_recv(off, m.data(), m.size());
    ASSERT_TRUE(sim->send_xfer({{sub, off}}, 0, set));
    check_alive("empty data");
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, ++bad);
    put32(&m[12], 10);  // runt
    sim->write_recv(off, m.data(), m.size());
    ASSERT_TRUE(sim->send_xfer({{sub, off}}, 0, set));
    check_alive("runt");
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, ++bad);

    // Oversized: a 1700-byte frame (more than MTU + header + VLAN tag) that fits the sub-allocation.
    auto big = place(off, frame(sim->mac, 1700, 1));
    ASSERT_TRUE(sim->send_xfer({big}, 0, set));
    check_alive("oversized frame");
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, ++bad);
    // A message claiming more than the whole buffer.
    put32(&m[0], kRndisPacketMsg);
    put32(&m[4], 0x7FFFFFFF);
    put32(&m[12], 60);
    sim->write_recv(off, m.data(), m.size());
    ASSERT_TRUE(sim->send_xfer({{sub, off}}, 0, set));
    check_alive("length beyond the buffer");
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, ++bad);

    // Packet-level problems are device errors.
    put32(&m[0], kRndisSetCmplt);  // a control message on the data channel: taken as control, but nobody asked
    put32(&m[4], 16);
    sim->write_recv(off, m.data(), m.size());
    ASSERT_TRUE(sim->send_xfer({{sub, off}}, 0, set));
    check_alive("stray control message on the data channel");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    put32(&m[0], kRndisPacketMsg);
    r = place(off, good);
    ASSERT_TRUE(sim->send_xfer({r}, 0, 0xBEEF));  // unknown page set
    check_alive("page set");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    ASSERT_TRUE(sim->send_xfer({r}, 0, set, 1000));  // more ranges claimed than the header holds
    check_alive("range count");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    ASSERT_TRUE(sim->send_xfer({r}, 7, set));  // unknown channel type
    check_alive("channel type");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    ASSERT_TRUE(sim->send_xfer({}, 0, set));  // no ranges at all
    check_alive("no ranges");
    EXPECT_EQ(drv->counters().device_errors, ++dev);

    uint8_t junk[16] = {1, 2, 3};
    ASSERT_TRUE(sim->send_raw(0x3, 0, 1, nullptr, 0, junk, sizeof junk));  // packet type we never expect
    check_alive("packet type");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    uint8_t cmpl[8];
    put32(cmpl, kNvspSendRndisPktComplete);
    put32(cmpl + 4, 1);
    ASSERT_TRUE(sim->send_raw(vmbus::kPacketCompletion, 0, 0xDEAD, nullptr, 0, cmpl, 8));  // unknown tid
    check_alive("unknown completion");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    ASSERT_TRUE(sim->send_raw(vmbus::kPacketCompletion, 0, (1ull << 32) + 3, nullptr, 0, cmpl, 8));  // free section
    check_alive("completion of a free section");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    uint8_t init_done[16] = {2, 0, 0, 0, 0, 0, 0, 0, 34, 0, 0, 0, 1};
    ASSERT_TRUE(sim->send_raw(vmbus::kPacketCompletion, 0, 0x4E561000, nullptr, 0, init_done, 16));  // out of order
    check_alive("late INIT completion");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    ASSERT_TRUE(sim->send_raw(vmbus::kPacketDataInband, 0, 0, nullptr, 0, junk, 0));  // no NVSP type
    check_alive("short inband");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    std::vector<uint8_t> stray(16, 0);  // SET_CMPLT nobody asked for
    put32(&stray[0], kRndisSetCmplt);
    put32(&stray[4], 16);
    put32(&stray[8], 4242);
    sim->send_control(stray);
    check_alive("stray RNDIS completion");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    std::vector<uint8_t> lying(20, 0);  // INDICATE_STATUS whose buffer is outside it
    put32(&lying[0], kRndisIndicateStatusMsg);
    put32(&lying[4], 20);
    put32(&lying[8], kStatusMediaDisconnect);
    put32(&lying[12], 100);
    put32(&lying[16], 12);
    sim->send_control(lying);
    check_alive("lying indication");
    EXPECT_EQ(drv->counters().device_errors, ++dev);
    EXPECT_TRUE(drv->link_up());
    EXPECT_EQ(drv->stats().malformed, (bad - 0) + dev);
}

// Deterministic garbage from the host (seeded, bounded): random packet types, transaction ids, range lists and
// receive-buffer contents. Nothing may crash (ASan/UBSan watch), hang or leave the driver unusable.
TEST_F(NetvscTest, RandomGarbageFromTheHostIsSurvived) {
    start();
    uint64_t x = 0x9E3779B97F4A7C15ull;
    auto rnd = [&] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    const uint32_t sub = drv->recv_sub_alloc_size(), count = drv->recv_sub_alloc_count();
    const uint32_t scratch = (count - 8) * sub;  // the simulator hands out low sub-allocations first
    std::vector<uint8_t> junk(8 * sub);
    const uint16_t types[] = {vmbus::kPacketDataXferPages, vmbus::kPacketCompletion, vmbus::kPacketDataInband, 1, 0xA};
    for (int round = 0; round < 3000; ++round) {
        for (auto& b : junk) b = static_cast<uint8_t>(rnd());
        // Sometimes a plausible RNDIS header, so parsing gets past the first checks.
        if (rnd() & 1) {
            put32(&junk[0], static_cast<uint32_t>(rnd() % 9) | ((rnd() & 1) ? 0x80000000u : 0));
            put32(&junk[4], static_cast<uint32_t>(rnd() % (2 * sub)));
        }
        sim->write_recv(scratch, junk.data(), junk.size());
        std::vector<std::pair<uint32_t, uint32_t>> ranges(rnd() % 5);
        for (auto& r : ranges) {
            r.first = (rnd() & 3) ? static_cast<uint32_t>(rnd() % sub) : static_cast<uint32_t>(rnd());
            r.second = (rnd() & 3) ? scratch + static_cast<uint32_t>(rnd() % (7 * sub)) : static_cast<uint32_t>(rnd());
        }
        const int kind = static_cast<int>(rnd() % 4);
        if (kind == 0) {
            ASSERT_TRUE(sim->send_xfer(ranges, static_cast<uint32_t>(rnd() % 3),
                                       (rnd() & 3) ? Driver::kRecvBufId : static_cast<uint16_t>(rnd()),
                                       (rnd() & 7) ? 0xFFFFFFFF : static_cast<uint32_t>(rnd() % 64)));
        } else {
            uint8_t payload[48];
            for (auto& b : payload) b = static_cast<uint8_t>(rnd());
            if (rnd() & 1) put32(payload, kNvspSendRndisPktComplete);
            const uint64_t tid = (rnd() & 1) ? (1ull << 32) + rnd() % 100 : rnd();
            ASSERT_TRUE(sim->send_raw(types[rnd() % 5], static_cast<uint16_t>(rnd() & 1), tid, nullptr, 0, payload,
                                      rnd() % sizeof payload));
        }
        run();
        release_all();
        run();
        ASSERT_EQ(drv->state(), BringUp::Ready) << "round " << round;
    }
    EXPECT_GT(drv->stats().malformed, 1000u);
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    // Still a working NIC.
    const auto f = frame(sim->mac, 500, 9);
    sim->inject(f.data(), f.size());
    int c;
    ASSERT_EQ(send(f, &c), net::TxStatus::Queued);
    run();
    ASSERT_FALSE(client.frames.empty());
    EXPECT_EQ(client.frames.back().bytes, f);
    EXPECT_EQ(sim->tx_frames.back(), f);
    release_all();
    run();
}

// A client that does what lwIP does inside the callbacks (src/net/nic.hpp, rule 3): it answers every frame from
// inside receive() with a transmit, gives every other frame back at once and the rest from inside tx_done(), and
// sends more from inside tx_done(), link_changed() and tx_ready(). Now and then it also hands the driver a
// malformed frame, which the old driver answered with a tx_done from inside transmit(). Each frame it sends is a
// heap copy whose cookie is the copy: it must come back exactly once, and only after transmit() returned.
struct BusyClient : Client {
    net::NicDriver* drv = nullptr;
    std::set<std::vector<uint8_t>*> in_flight;
    std::vector<std::vector<uint8_t>> queued;  // what transmit() took, in order
    std::vector<void*> held;                   // frames kept until a tx_done
    size_t follow_ups = 0;                     // frames still to send from tx_done
    size_t full = 0, dropped = 0, malformed_sent = 0, twice = 0, sent_in_link = 0;

    void send_copy(const std::vector<uint8_t>& bytes) {
        auto* buf = new std::vector<uint8_t>(bytes);
        net::TxFrame t{};
        t.segs[0] = {buf->data(), static_cast<uint32_t>(buf->size())};
        t.count = 1;
        t.total_len = static_cast<uint32_t>(buf->size());
        t.cookie = buf;
        switch (tx(*drv, t)) {
        case net::TxStatus::Queued:
            in_flight.insert(buf);
            queued.push_back(bytes);
            return;
        case net::TxStatus::Full: full++; break;
        case net::TxStatus::Dropped: dropped++; break;
        }
        delete buf;  // not kept: ours to free
    }
    void send_malformed() {
        net::TxFrame t{};  // no pieces
        t.cookie = &malformed_sent;
        if (tx(*drv, t) == net::TxStatus::Dropped) malformed_sent++;
    }
    bool receive(const net::RxFrame& f) override {
        InCallback in(*this);
        received++;
        const uint8_t* d = static_cast<const uint8_t*>(f.data);
        std::vector<uint8_t> reply(d, d + f.len);
        reply[13] ^= 0x80;  // marks it as an answer
        send_copy(reply);
        if (received % 7 == 0) send_malformed();
        if (received % 2) {
            release(*drv, f.buffer);
        } else {
            held.push_back(f.buffer);
        }
        return true;
    }
    void tx_done(void* cookie) override {
        InCallback in(*this);
        auto* buf = static_cast<std::vector<uint8_t>*>(cookie);
        if (in_flight.erase(buf) != 1) {
            twice++;  // unknown, or handed back twice: do not touch it
            return;
        }
        delete buf;
        done.push_back(cookie);
        if (!held.empty()) {
            release(*drv, held.back());
            held.pop_back();
        }
        if (follow_ups > 0) {
            follow_ups--;
            uint8_t dst[6] = {0x00, 0x15, 0x5d, 0, 0, 1};
            send_copy(frame(dst, 100 + follow_ups, 42));
        }
    }
    void link_changed(bool up) override {
        InCallback in(*this);
        links.push_back(up);
        uint8_t dst[6] = {0x00, 0x15, 0x5d, 0, 0, 2};
        sent_in_link++;
        send_copy(frame(dst, 64, 7));
    }
    void tx_ready() override {
        InCallback in(*this);
        ready++;
        uint8_t dst[6] = {0x00, 0x15, 0x5d, 0, 0, 3};
        send_copy(frame(dst, 80, 9));
    }
    ~BusyClient() {
        for (auto* b : in_flight) delete b;
    }
};

void busy_round(NetvscTest& t, BusyClient& busy, size_t frames, size_t follow_ups) {
    busy.follow_ups = follow_ups;
    const size_t received = busy.received, queued = busy.queued.size(), full = busy.full;
    std::vector<std::vector<uint8_t>> sent;
    for (size_t i = 0; i < frames; ++i) {
        sent.push_back(frame(t.sim->mac, 60 + (23 * i) % 1400, static_cast<uint8_t>(i)));
        t.sim->inject(sent.back().data(), sent.back().size());
    }
    t.run();
    // Every frame was answered from inside receive(); the answers refused with Full were not kept.
    EXPECT_EQ(busy.received - received, frames);
    size_t answers = 0;
    for (size_t i = queued; i < busy.queued.size(); ++i) answers += (busy.queued[i][13] & 0x80) != 0;
    EXPECT_EQ(answers + busy.full - full, frames);
}

TEST_F(NetvscTest, ClientMayTransmitAndReleaseFromInsideEveryCallback) {
    bring_up();
    BusyClient busy;
    busy.drv = drv;
    ASSERT_TRUE(drv->start(busy));
    sim->frames_per_packet = 5;
    busy_round(*this, busy, 40, 12);
    sim->set_link(false);
    run();
    sim->set_link(true);
    run();
    EXPECT_EQ(busy.links, (std::vector<bool>{false, true}));
    busy_round(*this, busy, 80, 30);  // more than a pass's budget of 64 frames
    for (void* b : busy.held) busy.release(*drv, b);
    busy.held.clear();
    run();
    EXPECT_EQ(busy.nested, 0) << "a callback from inside transmit(), rx_release() or another callback";
    EXPECT_EQ(busy.twice, 0u);
    EXPECT_TRUE(busy.in_flight.empty());  // every cookie came back exactly once
    EXPECT_EQ(busy.done.size(), busy.queued.size());
    EXPECT_EQ(busy.follow_ups, 0u);
    EXPECT_EQ(busy.full, 0u);  // 2 x 40 + ~50 frames fit the send sections
    EXPECT_EQ(busy.malformed_sent, 120u / 7);
    EXPECT_EQ(drv->counters().tx_dropped_bad_frame, busy.malformed_sent);
    // The host got every queued frame (the one sent on the link-down report was dropped by the host).
    EXPECT_EQ(sim->tx_frames.size() + sim->dropped_link_down, busy.queued.size());
    EXPECT_EQ(drv->rx_frames_lent(), 0u);
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_EQ(sim->rx_completions, sim->rx_packets);  // each packet completed once (a second would be flagged)
    EXPECT_EQ(drv->counters().device_errors, 0u);
    // The channel goes: the link-down report arrives in a pass, and what the client sends from inside it is
    // dropped at once (no tx_done), not queued.
    const size_t dropped = busy.dropped;
    sim->rescind();
    run();
    EXPECT_TRUE(drv->stopped());
    EXPECT_EQ(busy.links, (std::vector<bool>{false, true, false}));
    EXPECT_EQ(busy.dropped, dropped + 1);
    EXPECT_EQ(busy.nested, 0);
    EXPECT_TRUE(busy.in_flight.empty());
    EXPECT_EQ(dma::in_use(), baseline);
}

// The same GPA direct: zero copy, so cookies come back only with the host's completions, and the 32 slots run
// out while the client answers a burst: Full, then tx_ready() from a pass, and the client sends from inside it.
TEST_F(NetvscTest, ClientMayTransmitFromInsideCallbacksGpaDirect) {
    opt.use_send_buffer = false;
    bring_up();
    BusyClient busy;
    busy.drv = drv;
    ASSERT_TRUE(drv->start(busy));
    busy_round(*this, busy, 48, 20);
    EXPECT_GT(busy.full, 0u);
    EXPECT_GE(busy.ready, 1);
    for (void* b : busy.held) busy.release(*drv, b);
    busy.held.clear();
    run();
    EXPECT_EQ(busy.nested, 0);
    EXPECT_EQ(busy.twice, 0u);
    EXPECT_TRUE(busy.in_flight.empty());
    EXPECT_EQ(sim->tx_frames.size(), busy.queued.size());
    EXPECT_EQ(drv->tx_gpa_busy(), 0u);
    EXPECT_EQ(sim->rx_outstanding(), 0u);
    EXPECT_EQ(sim->rx_completions, sim->rx_packets);
}

// The inbound ring breaks in the middle of a pass, after the ring work queued frames of an earlier packet: the
// teardown drops them (never delivered, nothing lent), the client hears of the link going down in the same
// pass's delivery, and the receive buffer goes with the rest.
TEST_F(NetvscTest, RingBreakingAfterFramesWereQueuedDropsThemCleanly) {
    start();
    for (int i = 0; i < 3; ++i) sim->inject(frame(sim->mac, 100 + i, 1).data(), 100 + i);
    sim->pump();  // one transfer-page packet with three frames
    sim->inject(frame(sim->mac, 200, 2).data(), 200);
    sim->pump();  // a second one behind it
    const auto& ch = host.channels().at(relid);
    uint8_t* ctl = reinterpret_cast<uint8_t*>((host.gpadls().at(ch.ring_gpadl).pfns[0] + ch.downstream_pages) << 12);
    uint8_t* data = ctl + vmbus::kRingControlSize;
    uint32_t read;
    memcpy(&read, ctl + vmbus::kRingOffReadIndex, 4);
    vmbus::PacketDescriptor first;
    memcpy(&first, data + read, sizeof first);
    ASSERT_EQ(first.type, vmbus::kPacketDataXferPages);
    const uint32_t second = read + first.len8 * 8u + 8;
    ASSERT_LT(second + sizeof first, ch.to_guest.data_size());  // no wrap in this test
    const uint16_t bad_offset8 = 0;
    memcpy(data + second + 2, &bad_offset8, 2);  // the second descriptor is nonsense
    drv->poll(64);
    EXPECT_TRUE(client.frames.empty());
    EXPECT_EQ(client.links, (std::vector<bool>{false}));
    EXPECT_EQ(drv->rx_frames_lent(), 0u);
    EXPECT_GE(drv->counters().device_errors, 1u);
    run();
    EXPECT_TRUE(drv->stopped());
    EXPECT_TRUE(host.gpadls().empty());
    EXPECT_EQ(dma::in_use(), baseline);
}

// With Options::self_poll the driver's passes run from its loop poller (the real event loop), and a destroyed
// driver leaves no poller behind (ASan would catch a call into the freed driver).
TEST_F(NetvscTest, LoopPollerRunsPassesAndGoesWithTheDriver) {
    opt.self_poll = true;
    start();
    for (int i = 0; i < 3; ++i) sim->inject(frame(sim->mac, 100 + i, 1).data(), 100 + i);
    int c;
    ASSERT_EQ(send(frame(sim->mac, 90, 2), &c), net::TxStatus::Queued);
    for (int i = 0; i < 20; ++i) {
        conn->poll();
        sim->pump();
        loop::run_once();
    }
    EXPECT_EQ(client.frames.size(), 3u);
    EXPECT_EQ(client.done, (std::vector<void*>{&c}));
    EXPECT_EQ(sim->tx_frames.size(), 1u);
    release_all();
    const uint64_t polls = drv->stats().polls;
    EXPECT_GT(polls, 0u);
    delete drv;
    drv = nullptr;
    loop::run_once();
}

}  // namespace
}  // namespace skerry::netvsc
