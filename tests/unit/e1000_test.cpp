// The e1000 driver against the device model: bring-up (reset, MAC from RAL/RAH or the EEPROM in both EERD
// layouts, ring and control registers), transmit (single and scatter-gather, ring full and tx_ready, bad
// frames, checksum offload through a context descriptor), receive (bytes, checksum status, wrap-around,
// zero-copy hold until the pool runs dry, overrun, error frames), link events, the multicast hash, the
// interrupt path, and a faulty device (lengths of 0 or too large, frames without EOP, DD where the driver
// gave nothing, head registers out of range, a transmit ring that never completes).
#include <gtest/gtest.h>

#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "drivers/bus/pci/pci.hpp"
#include "drivers/nic/e1000/e1000.hpp"
#include "e1000_model.hpp"
#include "kernel/dma.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"

using namespace skerry;
using e1000::Driver;
using e1000::Family;
using e1000::test::E1000Model;
using e1000::test::fold;
using e1000::test::ones_sum;
namespace reg = e1000::reg;

namespace {

const uint8_t kMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const uint8_t kBroadcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

class FakeClient final : public net::NicClient {
public:
    Driver* drv = nullptr;
    bool accept = true;  // receive() returns this
    bool hold = false;   // keep buffers instead of releasing them inside receive()
    std::vector<std::vector<uint8_t>> frames;
    std::vector<net::RxChecksum> sums;
    std::vector<void*> held;
    std::vector<void*> done;
    std::vector<bool> links;
    int ready = 0;

    bool receive(const net::RxFrame& f) override {
        if (!accept) return false;
        const uint8_t* p = static_cast<const uint8_t*>(f.data);
        frames.emplace_back(p, p + f.len);
        sums.push_back(f.checksum);
        if (hold) {
            held.push_back(f.buffer);
        } else {
            drv->rx_release(f.buffer);
        }
        return true;
    }
    void tx_done(void* cookie) override { done.push_back(cookie); }
    void link_changed(bool up) override { links.push_back(up); }
    void tx_ready() override { ++ready; }

    void release_all() {
        std::vector<void*> h;
        h.swap(held);
        for (void* b : h) drv->rx_release(b);
    }
};

std::vector<uint8_t> eth_frame(size_t len, uint32_t seq, const uint8_t* dst = kMac, uint16_t type = 0x0800) {
    std::vector<uint8_t> f(len);
    for (size_t i = 0; i < len; ++i) f[i] = static_cast<uint8_t>(i * 7 + seq);
    if (len >= 14) {
        memcpy(f.data(), dst, 6);
        const uint8_t src[6] = {0x02, 0, 0, 0, 0, 1};
        memcpy(f.data() + 6, src, 6);
        f[12] = static_cast<uint8_t>(type >> 8);
        f[13] = static_cast<uint8_t>(type);
    }
    if (len >= 18) memcpy(f.data() + 14, &seq, 4);
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

pci::Device make_device(uint16_t device_id, uint8_t fn = 0) {
    pci::Device d{};
    d.vendor = 0x8086;
    d.device = device_id;
    d.dev = 3;
    d.fn = fn;
    d.class_code = 2;
    d.bars[0].kind = pci::Bar::Kind::Mem32;
    d.bars[0].address = E1000Model::kBar;
    d.bars[0].size = E1000Model::kBarSize;
    return d;
}

// What the kernel's pci::Env does, for the host: the BAR is the model's (nothing to map), an interrupt
// "attaches" when the options ask for one (the test raises it with handle_interrupt()), no waiting.
class TestEnv final : public pci::Env {
public:
    bool map_mmio(uint64_t, uint64_t) override { return true; }
    bool attach_irq(const pci::Device&, interrupts::Handler, void*, pci::Irq&, uint8_t) override { return true; }
    void detach_irq(const pci::Device&, pci::Irq&) override {}
    void delay_us(uint64_t) override {}
};

class E1000Test : public ::testing::Test {
protected:
    void SetUp() override {
        pci::init(nullptr, 0);  // configuration access through (modelled) ports: reads all ones
        log::reset();
        baseline_ = dma::in_use();
    }
    void TearDown() override {
        drv.reset();
        hw::set_model(nullptr);
        log::reset();
        EXPECT_EQ(dma::in_use(), baseline_) << "DMA memory leaked";
    }

    void make(const E1000Model::Config& c = E1000Model::Config{}, uint16_t device = 0x100E,
              e1000::Options o = e1000::Options{}, uint8_t fn = 0) {
        model = std::make_unique<E1000Model>(c);
        hw::set_model(model.get());
        drv = std::make_unique<Driver>();
        client.drv = drv.get();
        ASSERT_TRUE(drv->init(make_device(device, fn), env, o));
    }
    TestEnv env;
    void start() { ASSERT_TRUE(drv->start(client)); }
    // The end of a loop iteration (the driver's doorbell hook writes the transmit tail), then the device sends.
    std::vector<E1000Model::TxFrameSeen> sends() {
        drv->flush_tx();
        return model->transmit();
    }
    void make_started(e1000::Options o = e1000::Options{}) {
        ASSERT_NO_FATAL_FAILURE(make(E1000Model::Config{}, 0x100E, o));
        ASSERT_NO_FATAL_FAILURE(start());
    }
    std::string log_text() {
        std::string s(16384, '\0');
        s.resize(log::ring_copy(s.data(), s.size()));
        return s;
    }
    // What an interrupt does: the handler, then one iteration of the real event loop runs the work it raised.
    void interrupt() {
        drv->handle_interrupt();
        loop::run_once();
    }

    std::unique_ptr<E1000Model> model;
    std::unique_ptr<Driver> drv;
    FakeClient client;
    size_t baseline_ = 0;
};

// ---------------------------------------------------------------------------------------------------------
// Bring-up

TEST(E1000Models, SupportedIds) {
    EXPECT_STREQ(e1000::find_model(0x8086, 0x100E)->name, "82540EM");
    EXPECT_STREQ(e1000::find_model(0x8086, 0x100F)->name, "82545EM");
    EXPECT_STREQ(e1000::find_model(0x8086, 0x100C)->name, "82544GC");
    EXPECT_EQ(e1000::find_model(0x8086, 0x100C)->family, Family::I82544);
    EXPECT_STREQ(e1000::find_model(0x8086, 0x10D3)->name, "82574L");
    EXPECT_EQ(e1000::find_model(0x8086, 0x10D3)->family, Family::I82574);
    EXPECT_EQ(e1000::find_model(0x8086, 0x10F5), nullptr);  // not ours
    EXPECT_EQ(e1000::find_model(0x10EC, 0x100E), nullptr);  // another vendor
}

TEST_F(E1000Test, InitResetsTheDeviceAndReadsTheMacFromRal) {
    ASSERT_NO_FATAL_FAILURE(make());
    EXPECT_EQ(model->resets, 1);
    EXPECT_EQ(memcmp(drv->mac(), kMac, 6), 0);
    EXPECT_STREQ(drv->name(), "e1000 00:03.0 (82540EM)");
    EXPECT_EQ(drv->mtu(), 1500);
    // Interrupts masked before the reset and again after it; receive/transmit off before it.
    size_t rst = 0, imc_before = SIZE_MAX, imc_after = SIZE_MAX, rctl_off = SIZE_MAX;
    for (size_t i = 0; i < model->writes.size(); ++i) {
        const auto& [off, v] = model->writes[i];
        if (off == reg::kCtrl && (v & reg::kCtrlRst)) rst = i;
    }
    for (size_t i = 0; i < model->writes.size(); ++i) {
        const auto& [off, v] = model->writes[i];
        if (off == reg::kImc && v == ~0u) (i < rst ? imc_before : imc_after) = i;
        if (off == reg::kRctl && v == 0 && i < rst) rctl_off = i;
    }
    EXPECT_NE(imc_before, SIZE_MAX);
    EXPECT_NE(imc_after, SIZE_MAX);
    EXPECT_NE(rctl_off, SIZE_MAX);
    const uint32_t ctrl = model->reg(reg::kCtrl);
    EXPECT_TRUE(ctrl & reg::kCtrlSlu);
    EXPECT_TRUE(ctrl & reg::kCtrlAsde);
    EXPECT_FALSE(ctrl & (reg::kCtrlFrcspd | reg::kCtrlFrcdplx | reg::kCtrlPhyRst | reg::kCtrlLrst));
    EXPECT_FALSE(drv->started());
}

TEST_F(E1000Test, StartProgramsRingsAndControlRegisters) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    EXPECT_TRUE(drv->started());
    // Receive ring: 256 descriptors, all but one given to the device, each pointing at a 2 KiB buffer.
    const uint64_t rdba = static_cast<uint64_t>(model->reg(reg::kRdbah)) << 32 | model->reg(reg::kRdbal);
    EXPECT_NE(rdba, 0u);
    EXPECT_EQ(rdba % 16, 0u);
    EXPECT_EQ(model->reg(reg::kRdlen), 256u * 16);
    EXPECT_EQ(model->reg(reg::kRdh), 0u);
    EXPECT_EQ(model->reg(reg::kRdt), 255u);
    for (uint32_t i = 0; i < 255; ++i) {
        EXPECT_NE(model->rx_desc(i)->addr, 0u);
        EXPECT_EQ(model->rx_desc(i)->status, 0);
    }
    EXPECT_EQ(drv->rx_ring_filled(), 255u);
    EXPECT_EQ(drv->rx_buffers_free(), 512u - 255u);
    const uint32_t rctl = model->reg(reg::kRctl);
    EXPECT_TRUE(rctl & reg::kRctlEn);
    EXPECT_TRUE(rctl & reg::kRctlBam);
    EXPECT_TRUE(rctl & reg::kRctlSecrc);
    EXPECT_EQ(rctl & (reg::kRctlUpe | reg::kRctlMpe | reg::kRctlLpe | reg::kRctlSbp | reg::kRctlBsex), 0u);
    EXPECT_EQ(rctl & (reg::kRctlBsizeMask | reg::kRctlMoMask), 0u);  // 2048-byte buffers, MO 0
    EXPECT_EQ(model->reg(reg::kRxcsum), reg::kRxcsumIpofl | reg::kRxcsumTuofl);
    // Transmit ring: empty.
    const uint64_t tdba = static_cast<uint64_t>(model->reg(reg::kTdbah)) << 32 | model->reg(reg::kTdbal);
    EXPECT_NE(tdba, 0u);
    EXPECT_NE(tdba, rdba);
    EXPECT_EQ(model->reg(reg::kTdlen), 256u * 16);
    EXPECT_EQ(model->reg(reg::kTdh), 0u);
    EXPECT_EQ(model->reg(reg::kTdt), 0u);
    const uint32_t tctl = model->reg(reg::kTctl);
    EXPECT_TRUE(tctl & reg::kTctlEn);
    EXPECT_TRUE(tctl & reg::kTctlPsp);
    EXPECT_EQ((tctl >> reg::kTctlCtShift) & 0xFF, 0x0Fu);
    EXPECT_EQ((tctl >> reg::kTctlColdShift) & 0x3FF, 0x40u);
    EXPECT_EQ(model->reg(reg::kTipg), 10u | 8u << 10 | 6u << 20);
    // Filters: our address valid in RAL0/RAH0, empty multicast table.
    EXPECT_EQ(model->reg(reg::kRal0), 0x12005452u);
    EXPECT_EQ(model->reg(reg::kRah0), 0x5634u | reg::kRahAv);
    for (uint32_t w = 0; w < reg::kMtaWords; ++w) EXPECT_EQ(model->reg(reg::kMta + 4 * w), 0u);
    EXPECT_GE(model->count_writes(reg::kMta + 4 * 127), 1u);
    // Interrupts: moderation near 8000/s (256 ns units), the causes the driver handles.
    EXPECT_EQ(model->reg(reg::kItr), 488u);
    EXPECT_EQ(model->reg(reg::kIms), reg::kIntRxt0 | reg::kIntRxo | reg::kIntRxdmt0 | reg::kIntLsc | reg::kIntTxdw);
    // Link reported, summary logged.
    EXPECT_TRUE(drv->link_up());
    EXPECT_EQ(drv->link_speed_mbps(), 1000u);
    EXPECT_EQ(client.links, std::vector<bool>{true});
    EXPECT_NE(log_text().find("e1000 00:03.0: 82540EM, MAC 52:54:00:12:34:56, interrupts, link up 1000 Mbit/s"),
              std::string::npos)
        << log_text();
    EXPECT_EQ(drv->offloads() & net::kOffloadTso, 0u);
    EXPECT_TRUE(drv->offloads() & net::kOffloadRxChecksum);
    EXPECT_FALSE(drv->start(client));  // once
}

TEST_F(E1000Test, MacFromEepromWhenRalIsNotValid) {
    E1000Model::Config c;
    c.mac = {0x00, 0x1B, 0x21, 0xAA, 0xBB, 0xCC};
    c.mac_in_ral = false;
    ASSERT_NO_FATAL_FAILURE(make(c));
    const uint8_t want[6] = {0x00, 0x1B, 0x21, 0xAA, 0xBB, 0xCC};
    EXPECT_EQ(memcmp(drv->mac(), want, 6), 0);
    // The 8254x EERD layout: address at bit 8, start bit 0.
    bool saw = false;
    for (const auto& [off, v] : model->writes) {
        if (off == reg::kEerd && v == ((2u << 8) | 1u)) saw = true;
    }
    EXPECT_TRUE(saw);
    ASSERT_NO_FATAL_FAILURE(start());
    EXPECT_EQ(model->reg(reg::kRal0), 0xAA211B00u);
    EXPECT_EQ(model->reg(reg::kRah0), 0xCCBBu | reg::kRahAv);
}

TEST_F(E1000Test, MacFromEepromOn82574UsesItsEerdLayout) {
    E1000Model::Config c;
    c.family = Family::I82574;
    c.mac = {0x00, 0x1B, 0x21, 0x01, 0x02, 0x03};
    c.mac_in_ral = false;
    ASSERT_NO_FATAL_FAILURE(make(c, 0x10D3));
    const uint8_t want[6] = {0x00, 0x1B, 0x21, 0x01, 0x02, 0x03};
    EXPECT_EQ(memcmp(drv->mac(), want, 6), 0);
    bool saw = false;
    for (const auto& [off, v] : model->writes) {
        if (off == reg::kEerd && v == ((1u << 2) | 1u)) saw = true;  // word 1: address at bit 2
    }
    EXPECT_TRUE(saw);
    EXPECT_STREQ(drv->name(), "e1000 00:03.0 (82574L)");
}

TEST_F(E1000Test, DualPortSecondFunctionFlipsTheLastAddressBit) {
    E1000Model::Config c;
    c.mac_in_ral = false;
    ASSERT_NO_FATAL_FAILURE(make(c, 0x1010, e1000::Options{}, 1));
    EXPECT_EQ(drv->mac()[5], 0x57);
}

TEST_F(E1000Test, InitFailsWithoutAnAddressOrOnTheWrongDevice) {
    E1000Model::Config c;
    c.family = Family::I82544;  // no EERD
    c.mac_in_ral = false;
    model = std::make_unique<E1000Model>(c);
    hw::set_model(model.get());
    Driver a;
    EXPECT_FALSE(a.init(make_device(0x100C), env));
    Driver b;
    EXPECT_FALSE(b.init(make_device(0x1234), env));
    Driver d;
    pci::Device io = make_device(0x100E);
    io.bars[0].kind = pci::Bar::Kind::Io;
    EXPECT_FALSE(d.init(io, env));
    e1000::Options bad;
    bad.rx_ring = 100;  // not a multiple of 8
    Driver e;
    EXPECT_FALSE(e.init(make_device(0x100E), env, bad));
}

// ---------------------------------------------------------------------------------------------------------
// Transmit

TEST_F(E1000Test, TransmitsASingleFrame) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    const auto f = eth_frame(60, 1, kBroadcast);
    ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1))), net::TxStatus::Queued);
    EXPECT_EQ(model->reg(reg::kTdt), 0u);  // the tail is written at the end of the loop iteration
    EXPECT_TRUE(client.done.empty());      // zero copy: not done until the device says so
    const auto sent = sends();
    EXPECT_EQ(model->reg(reg::kTdt), 1u);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].bytes, f);
    EXPECT_EQ(sent[0].descriptors, 1);
    EXPECT_FALSE(sent[0].extended);
    EXPECT_TRUE(sent[0].ifcs);
    drv->poll(64);
    EXPECT_EQ(client.done, std::vector<void*>{cookie(1)});
    EXPECT_EQ(drv->counters().tx_errors, 0u);
    EXPECT_EQ(drv->tx_ring_used(), 0u);
}

TEST_F(E1000Test, TransmitsScatterGatherFramesOneDescriptorPerSegment) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    const auto whole = eth_frame(1514, 9);
    const std::vector<uint8_t> a(whole.begin(), whole.begin() + 14), empty, b(whole.begin() + 14, whole.begin() + 54),
        c(whole.begin() + 54, whole.end());
    ASSERT_EQ(drv->transmit(tx_frame({&a, &empty, &b, &c}, cookie(7))), net::TxStatus::Queued);
    // Sixteen one-byte-ish pieces.
    std::vector<std::vector<uint8_t>> pieces;
    const auto small = eth_frame(64, 3);
    for (size_t i = 0; i < 16; ++i) {
        const size_t from = i * 4, to = i == 15 ? small.size() : from + 4;
        pieces.emplace_back(small.begin() + static_cast<long>(from), small.begin() + static_cast<long>(to));
    }
    std::vector<const std::vector<uint8_t>*> ptrs;
    for (const auto& p : pieces) ptrs.push_back(&p);
    ASSERT_EQ(drv->transmit(tx_frame(ptrs, cookie(8))), net::TxStatus::Queued);
    const auto sent = sends();
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0].bytes, whole);
    EXPECT_EQ(sent[0].descriptors, 3);  // the empty piece takes no descriptor
    EXPECT_EQ(sent[1].bytes, small);
    EXPECT_EQ(sent[1].descriptors, 16);
    drv->poll(64);
    EXPECT_EQ(client.done, (std::vector<void*>{cookie(7), cookie(8)}));
}

TEST_F(E1000Test, FullTransmitRingSaysNoThenTxReady) {
    e1000::Options o;
    o.tx_ring = 16;  // 15 usable descriptors
    ASSERT_NO_FATAL_FAILURE(make_started(o));
    const auto f = eth_frame(100, 0);
    int queued = 0;
    while (drv->transmit(tx_frame({&f}, cookie(100 + queued))) == net::TxStatus::Queued) ++queued;
    EXPECT_EQ(queued, 15);
    EXPECT_EQ(drv->counters().tx_dropped_ring_full, 1u);
    EXPECT_TRUE(client.done.empty());  // a refused frame is not completed
    // A three-segment frame does not fit either.
    const std::vector<uint8_t> p1(f.begin(), f.begin() + 20), p2(f.begin() + 20, f.begin() + 40),
        p3(f.begin() + 40, f.end());
    EXPECT_EQ(drv->transmit(tx_frame({&p1, &p2, &p3}, cookie(999))), net::TxStatus::Full);
    EXPECT_EQ(client.ready, 0);
    EXPECT_EQ(sends().size(), 15u);
    drv->poll(64);
    EXPECT_EQ(client.done.size(), 15u);
    EXPECT_EQ(client.ready, 1);
    EXPECT_EQ(drv->transmit(tx_frame({&p1, &p2, &p3}, cookie(999))), net::TxStatus::Queued);
    // Many more through the small ring: the ring wraps.
    for (int round = 0; round < 100; ++round) {
        ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1000 + round))), net::TxStatus::Queued);
        ASSERT_EQ(drv->transmit(tx_frame({&p1, &p2, &p3}, cookie(2000 + round))), net::TxStatus::Queued);
        ASSERT_EQ(sends().size(), round == 0 ? 3u : 2u);
        drv->poll(64);
    }
    EXPECT_EQ(client.done.size(), 15u + 1 + 200);
}

TEST_F(E1000Test, MalformedFramesAreDroppedAndHandedBack) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    const auto ok = eth_frame(60, 0), big = eth_frame(1515, 0);
    net::TxFrame none{};
    none.cookie = cookie(1);
    EXPECT_EQ(drv->transmit(none), net::TxStatus::Dropped);
    EXPECT_EQ(drv->transmit(tx_frame({&big}, cookie(2))), net::TxStatus::Dropped);
    net::TxFrame many = tx_frame({&ok}, cookie(3));
    many.count = net::kMaxTxSegments + 1;
    EXPECT_EQ(drv->transmit(many), net::TxStatus::Dropped);
    net::TxFrame wrong_total = tx_frame({&ok}, cookie(4));
    wrong_total.total_len = 61;
    EXPECT_EQ(drv->transmit(wrong_total), net::TxStatus::Dropped);
    net::TxFrame null_data = tx_frame({&ok}, cookie(5));
    null_data.segs[0].data = nullptr;
    EXPECT_EQ(drv->transmit(null_data), net::TxStatus::Dropped);
    net::TxFrame bad_offload = tx_frame({&ok}, cookie(6));  // not IPv4/IPv6 at the offset given
    bad_offload.offload = net::kOffloadTxTcpUdpChecksum;
    bad_offload.l3_offset = 14;
    memset(const_cast<uint8_t*>(ok.data()) + 14, 0, 1);
    EXPECT_EQ(drv->transmit(bad_offload), net::TxStatus::Dropped);
    drv->poll(64);
    EXPECT_TRUE(client.done.empty());  // Dropped: the caller frees them; no tx_done follows
    EXPECT_EQ(drv->counters().tx_dropped_bad_frame, 6u);
    EXPECT_EQ(model->reg(reg::kTdt), 0u);
    EXPECT_TRUE(sends().empty());
}

// An Ethernet + IPv4 + TCP frame with both checksum fields prepared as the stack does for offload: the IP
// checksum zero, the TCP checksum holding the pseudo-header sum.
std::vector<uint8_t> ipv4_tcp(size_t payload, uint8_t ihl_words = 5) {
    const size_t ip_len = ihl_words * 4u, l4 = 14 + ip_len;
    std::vector<uint8_t> f = eth_frame(l4 + 20 + payload, 5);
    uint8_t* ip = f.data() + 14;
    memset(ip, 0, ip_len);
    ip[0] = static_cast<uint8_t>(0x40 | ihl_words);
    const uint16_t total = static_cast<uint16_t>(ip_len + 20 + payload);
    ip[2] = static_cast<uint8_t>(total >> 8);
    ip[3] = static_cast<uint8_t>(total);
    ip[8] = 64;
    ip[9] = 6;
    const uint8_t src[4] = {10, 0, 2, 15}, dst[4] = {93, 184, 216, 34};
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    uint8_t* tcp = f.data() + l4;
    memset(tcp, 0, 20);
    tcp[0] = 0x30;
    tcp[1] = 0x39;
    tcp[12] = 0x50;
    const uint32_t tcp_len = static_cast<uint32_t>(20 + payload);
    const uint16_t pseudo = fold(ones_sum(src, 4, ones_sum(dst, 4, 6 + tcp_len)));
    tcp[16] = static_cast<uint8_t>(pseudo >> 8);
    tcp[17] = static_cast<uint8_t>(pseudo);
    return f;
}

TEST_F(E1000Test, ChecksumOffloadUsesAContextDescriptor) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    auto f = ipv4_tcp(200);
    const std::vector<uint8_t> head(f.begin(), f.begin() + 54), body(f.begin() + 54, f.end());
    net::TxFrame t = tx_frame({&head, &body}, cookie(1));
    t.offload = net::kOffloadTxIpv4Checksum | net::kOffloadTxTcpUdpChecksum;
    t.l3_offset = 14;
    t.l4_offset = 34;
    ASSERT_EQ(drv->transmit(t), net::TxStatus::Queued);
    t.cookie = cookie(2);
    ASSERT_EQ(drv->transmit(t), net::TxStatus::Queued);  // the same offsets: the device keeps the context
    auto sent = sends();
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(model->context_descriptors, 1);
    for (const auto& s : sent) {
        EXPECT_TRUE(s.extended);
        EXPECT_EQ(s.popts, 3u);
        EXPECT_EQ(s.popts_last, 3u);  // on every data descriptor (QEMU's e1000e reads the last one)
        EXPECT_EQ(s.descriptors, 2);
        const uint8_t* ip = s.bytes.data() + 14;
        EXPECT_EQ(fold(ones_sum(ip, 20)), 0xFFFF) << "IPv4 header checksum";
        const uint32_t tcp_len = static_cast<uint32_t>(s.bytes.size() - 34);
        const uint32_t pseudo = ones_sum(ip + 12, 8, 6 + tcp_len);
        EXPECT_EQ(fold(ones_sum(s.bytes.data() + 34, tcp_len, pseudo)), 0xFFFF) << "TCP checksum";
        EXPECT_NE(s.bytes[24] | s.bytes[25], 0);
    }
    drv->poll(64);
    EXPECT_EQ(client.done.size(), 2u);

    // IP options move the TCP header: a new context.
    auto g = ipv4_tcp(10, 6);
    net::TxFrame u = tx_frame({&g}, cookie(3));
    u.offload = net::kOffloadTxIpv4Checksum | net::kOffloadTxTcpUdpChecksum;
    u.l3_offset = 14;
    u.l4_offset = 38;
    ASSERT_EQ(drv->transmit(u), net::TxStatus::Queued);
    sent = sends();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(model->context_descriptors, 2);
    EXPECT_EQ(fold(ones_sum(sent[0].bytes.data() + 14, 24)), 0xFFFF);
    const uint32_t tcp_len = static_cast<uint32_t>(sent[0].bytes.size() - 38);
    EXPECT_EQ(fold(ones_sum(sent[0].bytes.data() + 38, tcp_len, ones_sum(sent[0].bytes.data() + 26, 8, 6 + tcp_len))),
              0xFFFF);

    // A frame without offload goes out with a legacy descriptor.
    const auto plain = eth_frame(60, 1);
    ASSERT_EQ(drv->transmit(tx_frame({&plain}, cookie(4))), net::TxStatus::Queued);
    sent = sends();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_FALSE(sent[0].extended);
    EXPECT_EQ(sent[0].bytes, plain);
}

TEST_F(E1000Test, ChecksumOffloadForUdpOverIpv6) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    const size_t payload = 33;
    std::vector<uint8_t> f = eth_frame(14 + 40 + 8 + payload, 2, kMac, 0x86DD);
    uint8_t* ip = f.data() + 14;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[5] = static_cast<uint8_t>(8 + payload);
    ip[6] = 17;
    ip[7] = 64;
    for (int i = 0; i < 16; ++i) ip[8 + i] = static_cast<uint8_t>(0xFE + i), ip[24 + i] = static_cast<uint8_t>(i);
    uint8_t* udp = ip + 40;
    udp[0] = 0x04, udp[1] = 0xD2, udp[2] = 0x16, udp[3] = 0x2E;
    udp[4] = 0, udp[5] = static_cast<uint8_t>(8 + payload);
    const uint16_t pseudo = fold(ones_sum(ip + 8, 32, 17 + 8 + payload));
    udp[6] = static_cast<uint8_t>(pseudo >> 8);
    udp[7] = static_cast<uint8_t>(pseudo);
    net::TxFrame t = tx_frame({&f}, cookie(1));
    t.offload = net::kOffloadTxTcp6UdpChecksum;
    t.l3_offset = 14;
    t.l4_offset = 54;
    ASSERT_EQ(drv->transmit(t), net::TxStatus::Queued);
    const auto sent = sends();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].popts, 2u);  // TXSM only
    const uint8_t* s_ip = sent[0].bytes.data() + 14;
    EXPECT_EQ(fold(ones_sum(s_ip + 40, 8 + payload, ones_sum(s_ip + 8, 32, 17 + 8 + payload))), 0xFFFF);
}

// ---------------------------------------------------------------------------------------------------------
// Receive

TEST_F(E1000Test, ReceivesFramesZeroCopy) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    client.hold = true;
    const uint8_t mcast[6] = {0x01, 0x00, 0x5E, 0x00, 0x00, 0xFB};
    const auto a = eth_frame(60, 1), b = eth_frame(1514, 2, kBroadcast), c = eth_frame(342, 3, mcast);
    ASSERT_TRUE(model->inject(a));
    ASSERT_TRUE(model->inject(b));
    ASSERT_TRUE(model->inject(c));
    EXPECT_EQ(drv->poll(64), 3u);
    ASSERT_EQ(client.frames.size(), 3u);
    EXPECT_EQ(client.frames[0], a);
    EXPECT_EQ(client.frames[1], b);
    EXPECT_EQ(client.frames[2], c);
    // The client got the driver's own DMA buffers, and the ring was topped up from the pool.
    ASSERT_EQ(client.held.size(), 3u);
    EXPECT_EQ(memcmp(client.held[1], b.data(), b.size()), 0);
    EXPECT_EQ(drv->rx_ring_filled(), 255u);
    EXPECT_EQ(drv->rx_buffers_free(), 512u - 258u);
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, 0u);  // frames and bytes are the glue's to count
    client.release_all();
    EXPECT_EQ(drv->rx_buffers_free(), 512u - 255u);
    EXPECT_EQ(drv->device_stats().gprc, 3u);
}

TEST_F(E1000Test, ReceiveChecksumStatusIsMapped) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    using O = E1000Model::RxOptions;
    const auto v4 = eth_frame(80, 0, kMac, 0x0800), v6 = eth_frame(80, 0, kMac, 0x86DD);
    struct Case {
        const std::vector<uint8_t>* frame;
        O opt;
        net::RxChecksum want;
    } cases[] = {
        {&v4, O{e1000::kRxStaIxsm | e1000::kRxStaIpcs | e1000::kRxStaTcpcs}, net::RxChecksum::Unknown},
        {&v4, O{}, net::RxChecksum::Unknown},
        {&v4, O{e1000::kRxStaIpcs | e1000::kRxStaTcpcs}, net::RxChecksum::Good},
        {&v4, O{e1000::kRxStaIpcs | e1000::kRxStaTcpcs | e1000::kRxStaUdpcs}, net::RxChecksum::Good},
        {&v4, O{e1000::kRxStaIpcs}, net::RxChecksum::Unknown},   // IP only: the stack checks TCP/UDP
        {&v4, O{e1000::kRxStaTcpcs}, net::RxChecksum::Unknown},  // IPv4 header not verified
        {&v4, O{e1000::kRxStaIpcs | e1000::kRxStaTcpcs, e1000::kRxErrTcpe}, net::RxChecksum::Bad},
        {&v4, O{e1000::kRxStaIpcs, e1000::kRxErrIpe}, net::RxChecksum::Bad},
        {&v6, O{e1000::kRxStaTcpcs}, net::RxChecksum::Good},
        {&v6, O{e1000::kRxStaTcpcs, e1000::kRxErrTcpe}, net::RxChecksum::Bad},
    };
    for (const Case& c : cases) ASSERT_TRUE(model->inject(*c.frame, c.opt));
    drv->poll(64);
    ASSERT_EQ(client.sums.size(), std::size(cases));
    for (size_t i = 0; i < std::size(cases); ++i) EXPECT_EQ(client.sums[i], cases[i].want) << "case " << i;
}

TEST_F(E1000Test, ThousandsOfFramesWrapTheRing) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    uint32_t sent = 0;
    for (int burst = 0; burst < 100; ++burst) {
        for (int i = 0; i < 47; ++i, ++sent) ASSERT_TRUE(model->inject(eth_frame(60 + (sent % 1400), sent)));
        while (drv->poll(64)) {
        }
    }
    ASSERT_EQ(client.frames.size(), sent);
    for (uint32_t i = 0; i < sent; ++i) {
        ASSERT_EQ(client.frames[i], eth_frame(60 + (i % 1400), i)) << "frame " << i;
    }
    EXPECT_EQ(drv->counters().rx_dropped_no_buffer, 0u);
    EXPECT_EQ(drv->rx_ring_filled(), 255u);
    EXPECT_EQ(drv->rx_buffers_free(), 512u - 255u);
    EXPECT_EQ(model->missed, 0u);
}

TEST_F(E1000Test, HeldBuffersExhaustThePoolThenReleaseResumesTheFlow) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    client.hold = true;
    uint32_t seq = 0, missed = 0;
    // The client keeps every buffer: the pool (512) drains, then the ring, then the device misses frames.
    for (int i = 0; i < 700; ++i) {
        if (!model->inject(eth_frame(100, seq++))) ++missed;
        if (i % 32 == 31) drv->poll(64);
    }
    while (drv->poll(64)) {
    }
    EXPECT_EQ(client.held.size(), 512u);
    EXPECT_EQ(drv->rx_buffers_free(), 0u);
    EXPECT_EQ(drv->rx_ring_filled(), 0u);
    EXPECT_EQ(missed, 700u - 512u);
    EXPECT_EQ(model->rx_available(), 0u);
    EXPECT_EQ(drv->counters().rx_dropped_no_buffer, missed);
    EXPECT_FALSE(model->inject(eth_frame(100, 0)));
    // Releasing one buffer puts it straight back into the empty ring.
    void* one = client.held.back();
    client.held.pop_back();
    drv->rx_release(one);
    EXPECT_EQ(drv->rx_ring_filled(), 1u);
    EXPECT_EQ(model->rx_available(), 1u);
    client.release_all();
    EXPECT_EQ(drv->rx_ring_filled(), 255u);
    client.hold = false;
    const size_t before = client.frames.size();
    for (int i = 0; i < 300; ++i) {
        ASSERT_TRUE(model->inject(eth_frame(100, 5000 + i)));
        if (i % 50 == 49) drv->poll(64);
    }
    while (drv->poll(64)) {
    }
    EXPECT_EQ(client.frames.size(), before + 300);
    EXPECT_EQ(client.frames.back(), eth_frame(100, 5299));
}

TEST_F(E1000Test, ReceiveOverrunIsCountedAndRaisesWork) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    int missed = 0;
    for (int i = 0; i < 300; ++i) missed += model->inject(eth_frame(64, i)) ? 0 : 1;
    EXPECT_EQ(missed, 300 - 255);
    EXPECT_TRUE(model->irq_pending());
    interrupt();
    EXPECT_FALSE(model->irq_pending());
    EXPECT_TRUE(drv->rx_backlog());  // 255 waiting, budget 64
    while (drv->rx_backlog()) drv->poll(64);
    EXPECT_EQ(client.frames.size(), 255u);
    const net::NicCounters c = drv->counters();
    EXPECT_EQ(c.rx_dropped_no_buffer, 45u);
    EXPECT_EQ(c.interrupts, 1u);
    EXPECT_EQ(c.device_errors, 0u);
}

TEST_F(E1000Test, ErrorCountersThatDoNotClearOnReadAreNotCountedTwice) {
    for (bool clears : {true, false}) {
        SCOPED_TRACE(clears ? "clear on read" : "running totals");
        E1000Model::Config c;
        c.error_counters_clear = clears;
        drv.reset();
        hw::set_model(nullptr);
        model.reset();
        ASSERT_NO_FATAL_FAILURE(make(c));
        model->set_reg(reg::kMpc, 7);  // before start: not ours
        ASSERT_NO_FATAL_FAILURE(start());
        model->set_reg(reg::kCrcerrs, 3);  // faults before start are forgotten, these are new
        EXPECT_EQ(drv->counters().rx_dropped_no_buffer, 0u);
        for (int i = 0; i < 300; ++i) model->inject(eth_frame(64, i));  // 45 missed
        EXPECT_EQ(drv->counters().rx_dropped_no_buffer, 45u);
        EXPECT_EQ(drv->counters().rx_dropped_no_buffer, 45u);  // asking again adds nothing
        EXPECT_EQ(drv->device_stats().crcerrs, 3u);
        while (drv->poll(64)) {
        }
        for (int i = 0; i < 260; ++i) model->inject(eth_frame(64, i));  // 5 more
        EXPECT_EQ(drv->counters().rx_dropped_no_buffer, 50u);
        EXPECT_EQ(drv->device_stats().mpc, 50u);
        EXPECT_EQ(drv->device_stats().gprc, 510u);
    }
}

TEST_F(E1000Test, FramesWithErrorsAreDroppedAndTheirBuffersReused) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    using O = E1000Model::RxOptions;
    ASSERT_TRUE(model->inject(eth_frame(100, 1), O{0, e1000::kRxErrRxe}));
    ASSERT_TRUE(model->inject(eth_frame(100, 2), O{0, e1000::kRxErrCe}));
    ASSERT_TRUE(model->inject(eth_frame(100, 3), O{0, e1000::kRxErrSe}));
    ASSERT_TRUE(model->inject(eth_frame(10, 4)));    // runt
    ASSERT_TRUE(model->inject(eth_frame(1600, 5)));  // longer than any frame without LPE
    ASSERT_TRUE(model->inject(eth_frame(100, 6)));   // good
    drv->poll(64);
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(client.frames[0], eth_frame(100, 6));
    const net::NicCounters c = drv->counters();
    EXPECT_EQ(c.rx_dropped_bad_frame, 5u);
    EXPECT_EQ(c.device_errors, 0u);
    EXPECT_EQ(drv->rx_buffers_free(), 512u - 255u);
    EXPECT_EQ(drv->rx_ring_filled(), 255u);
}

TEST_F(E1000Test, AFrameTheStackRefusesStaysWithTheDriver) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    client.accept = false;
    ASSERT_TRUE(model->inject(eth_frame(100, 1)));
    drv->poll(64);
    EXPECT_EQ(client.frames.size(), 0u);
    EXPECT_EQ(drv->rx_buffers_free() + drv->rx_ring_filled(), 512u);
}

TEST_F(E1000Test, BogusReleasesAreIgnored) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    client.hold = true;
    ASSERT_TRUE(model->inject(eth_frame(100, 1)));
    drv->poll(64);
    ASSERT_EQ(client.held.size(), 1u);
    void* b = client.held[0];
    drv->rx_release(b);
    drv->rx_release(b);  // twice
    int local;
    drv->rx_release(&local);
    drv->rx_release(static_cast<uint8_t*>(b) + 1);  // inside a buffer, not its start
    drv->rx_release(nullptr);
    EXPECT_EQ(drv->rx_buffers_free() + drv->rx_ring_filled(), 512u);
    EXPECT_NE(log_text().find("rx_release"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------
// Link, multicast, interrupts

TEST_F(E1000Test, LinkDownAndUpAreReported) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    client.links.clear();
    model->set_link(false);
    ASSERT_TRUE(model->irq_pending());
    interrupt();
    EXPECT_FALSE(drv->link_up());
    EXPECT_EQ(drv->link_speed_mbps(), 0u);
    EXPECT_EQ(client.links, std::vector<bool>{false});
    model->set_link(true, 1, false);  // 100 Mbit/s half duplex
    interrupt();
    EXPECT_TRUE(drv->link_up());
    EXPECT_EQ(drv->link_speed_mbps(), 100u);
    EXPECT_EQ(client.links, (std::vector<bool>{false, true}));
    EXPECT_EQ((model->reg(reg::kTctl) >> reg::kTctlColdShift) & 0x3FF, 0x200u);  // half-duplex distance
    EXPECT_EQ(drv->counters().link_changes, 2u);
    const std::string log = log_text();
    EXPECT_NE(log.find("e1000 00:03.0: link down"), std::string::npos) << log;
    EXPECT_NE(log.find("e1000 00:03.0: link up 100 Mbit/s half duplex"), std::string::npos) << log;
    // A cause without a change of state reports nothing.
    model->raise(reg::kIntLsc);
    interrupt();
    EXPECT_EQ(client.links.size(), 2u);
}

TEST_F(E1000Test, MulticastHashBitsFollowReferenceCounts) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    const uint8_t all_nodes[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
    // Bits 47:36 = byte 5 << 4 | byte 4 >> 4 = 0x010: word 0, bit 16.
    auto bit = [&](uint32_t index) { return (model->reg(reg::kMta + 4 * (index >> 5)) >> (index & 31)) & 1; };
    EXPECT_TRUE(drv->add_multicast(all_nodes));
    EXPECT_EQ(bit(0x010), 1u);
    EXPECT_TRUE(drv->add_multicast(all_nodes));
    EXPECT_TRUE(drv->remove_multicast(all_nodes));
    EXPECT_EQ(bit(0x010), 1u);                                          // still referenced once
    const uint8_t same_hash[6] = {0x01, 0x00, 0x5E, 0x7F, 0x0A, 0x01};  // also 0x010
    EXPECT_TRUE(drv->add_multicast(same_hash));
    EXPECT_TRUE(drv->remove_multicast(all_nodes));
    EXPECT_EQ(bit(0x010), 1u);  // the other group still needs it
    EXPECT_TRUE(drv->remove_multicast(same_hash));
    EXPECT_EQ(bit(0x010), 0u);
    EXPECT_FALSE(drv->remove_multicast(same_hash));
    const uint8_t solicited[6] = {0x33, 0x33, 0xFF, 0x12, 0x34, 0x56};  // 0x563: word 43, bit 3
    EXPECT_TRUE(drv->add_multicast(solicited));
    EXPECT_EQ(model->reg(reg::kMta + 4 * 43), 1u << 3);
    EXPECT_FALSE(drv->add_multicast(kMac));  // not a group address
    for (uint32_t w = 0; w < reg::kMtaWords; ++w) {
        if (w != 43) {
            EXPECT_EQ(model->reg(reg::kMta + 4 * w), 0u) << w;
        }
    }
    // The table is limited; full means false, not corruption.
    int added = 1;
    for (int i = 0; i < 100; ++i) {
        const uint8_t m[6] = {0x01, 0x00, 0x5E, 0x00, 0x01, static_cast<uint8_t>(i)};
        added += drv->add_multicast(m) ? 1 : 0;
    }
    EXPECT_EQ(added, static_cast<int>(Driver::kMaxMulticast));
}

TEST_F(E1000Test, InterruptReadsCausesOnceAndRaisesOneWorkItem) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    drv->handle_interrupt();  // nothing pending: a shared line
    EXPECT_EQ(drv->counters().interrupts, 0u);
    ASSERT_TRUE(model->inject(eth_frame(100, 1)));
    drv->handle_interrupt();
    ASSERT_TRUE(model->inject(eth_frame(100, 2)));
    drv->handle_interrupt();
    EXPECT_EQ(model->reg(reg::kIcr), 0u);  // acknowledged
    EXPECT_TRUE(client.frames.empty());    // nothing done in the handler
    drv->run_work();
    EXPECT_EQ(client.frames.size(), 2u);
    EXPECT_EQ(drv->counters().interrupts, 2u);
    EXPECT_FALSE(drv->rx_backlog());
    // A transmit completion through the interrupt path.
    const auto f = eth_frame(60, 0);
    ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(5))), net::TxStatus::Queued);
    sends();
    EXPECT_TRUE(model->irq_pending());
    interrupt();
    EXPECT_EQ(client.done, std::vector<void*>{cookie(5)});
}

TEST_F(E1000Test, AllOnesFromTheDeviceIsADeviceError) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    model->set_reg(reg::kIcr, ~0u);
    drv->handle_interrupt();
    EXPECT_EQ(drv->counters().device_errors, 1u);
    EXPECT_EQ(drv->counters().interrupts, 0u);
    EXPECT_EQ(model->reg(reg::kIms), 0u);  // masked
}

// ---------------------------------------------------------------------------------------------------------
// A faulty device

TEST_F(E1000Test, WrittenBackLengthsOfZeroOrBeyondTheBufferAreDropped) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    using O = E1000Model::RxOptions;
    O zero;
    zero.length = 0;
    O huge;
    huge.length = 4000;
    O max16;
    max16.length = 0xFFFF;
    ASSERT_TRUE(model->inject(eth_frame(100, 1), zero));
    ASSERT_TRUE(model->inject(eth_frame(100, 2), huge));
    ASSERT_TRUE(model->inject(eth_frame(100, 3), max16));
    ASSERT_TRUE(model->inject(eth_frame(100, 4)));
    drv->poll(64);
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(client.frames[0], eth_frame(100, 4));
    const net::NicCounters c = drv->counters();
    EXPECT_EQ(c.device_errors, 3u);
    EXPECT_EQ(c.rx_dropped_bad_frame, 3u);
    EXPECT_EQ(drv->rx_ring_filled(), 255u);
}

TEST_F(E1000Test, AFrameOverSeveralDescriptorsIsDroppedWhole) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    using O = E1000Model::RxOptions;
    O piece;
    piece.eop = false;
    ASSERT_TRUE(model->inject(eth_frame(2048, 1), piece));
    ASSERT_TRUE(model->inject(eth_frame(2048, 1), piece));
    ASSERT_TRUE(model->inject(eth_frame(500, 1)));  // the last piece, with EOP
    ASSERT_TRUE(model->inject(eth_frame(100, 2)));
    drv->poll(64);
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(client.frames[0], eth_frame(100, 2));
    EXPECT_EQ(drv->counters().rx_dropped_bad_frame, 1u);
    EXPECT_EQ(drv->rx_buffers_free() + drv->rx_ring_filled(), 512u);
}

TEST_F(E1000Test, DoneBitsOnDescriptorsTheDriverDidNotGiveAreIgnored) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    // The one descriptor the driver keeps back (at RDT): the device "completes" it anyway.
    const uint32_t tail = model->reg(reg::kRdt);
    e1000::RxDesc* d = model->rx_desc(tail);
    d->length = 100;
    d->status = e1000::kRxStaDd | e1000::kRxStaEop;
    EXPECT_EQ(drv->poll(64), 0u);
    EXPECT_TRUE(client.frames.empty());
    // Pool exhausted, ring empty: DD everywhere means nothing.
    client.hold = true;
    for (int i = 0; i < 520; ++i) {
        model->inject(eth_frame(100, i));
        drv->poll(64);
    }
    ASSERT_EQ(drv->rx_ring_filled(), 0u);
    const size_t got = client.frames.size();
    for (uint32_t i = 0; i < model->rx_ring_size(); ++i) {
        model->rx_desc(i)->status = e1000::kRxStaDd | e1000::kRxStaEop;
        model->rx_desc(i)->length = 64;
    }
    EXPECT_EQ(drv->poll(64), 0u);
    EXPECT_EQ(client.frames.size(), got);
    // Transmit side: DD on descriptors with no frame in flight completes nothing.
    for (uint32_t i = 0; i < model->tx_ring_size(); ++i) model->tx_desc(i)->upper = e1000::kTxStaDd;
    drv->poll(64);
    EXPECT_TRUE(client.done.empty());
    client.release_all();
}

TEST_F(E1000Test, ABogusHeadRegisterResetsTheDeviceAndTrafficResumes) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    client.hold = true;
    ASSERT_TRUE(model->inject(eth_frame(100, 1)));
    drv->poll(64);
    const auto f = eth_frame(60, 0);
    ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1))), net::TxStatus::Queued);  // in flight across the reset
    model->set_reg(reg::kRdh, 5000);
    model->raise(reg::kIntRxo);
    const int resets = model->resets;
    interrupt();
    EXPECT_EQ(model->resets, resets + 1);
    EXPECT_EQ(drv->resets(), 1u);
    EXPECT_EQ(drv->counters().device_errors, 1u);
    EXPECT_EQ(client.done, std::vector<void*>{cookie(1)});  // dropped, handed back
    EXPECT_EQ(drv->counters().tx_errors, 1u);
    EXPECT_EQ(model->reg(reg::kRdh), 0u);
    EXPECT_EQ(model->reg(reg::kRdt), 255u);
    EXPECT_EQ(model->reg(reg::kRal0), 0x12005452u);
    EXPECT_TRUE(model->reg(reg::kRctl) & reg::kRctlEn);
    EXPECT_EQ(model->reg(reg::kIms) & reg::kIntRxt0, reg::kIntRxt0);
    // The buffer the client held survives; the others are back in the ring/pool.
    EXPECT_EQ(drv->rx_buffers_free() + drv->rx_ring_filled(), 511u);
    client.hold = false;
    client.release_all();
    ASSERT_TRUE(model->inject(eth_frame(100, 2)));
    ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(2))), net::TxStatus::Queued);
    ASSERT_EQ(sends().size(), 1u);
    interrupt();
    EXPECT_EQ(client.frames.back(), eth_frame(100, 2));
    EXPECT_EQ(client.done.back(), cookie(2));
    // The watchdog checks the transmit head too.
    model->set_reg(reg::kTdh, 300);
    drv->watchdog();
    EXPECT_EQ(drv->resets(), 2u);
    EXPECT_EQ(model->reg(reg::kTdh), 0u);
}

TEST_F(E1000Test, AStuckTransmitRingIsResetByTheWatchdog) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    const auto f = eth_frame(60, 0);
    for (int i = 0; i < 5; ++i) ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(10 + i))), net::TxStatus::Queued);
    drv->watchdog();  // first look: remembers where the ring stands
    drv->watchdog();
    drv->watchdog();
    EXPECT_EQ(drv->resets(), 0u);
    drv->watchdog();
    EXPECT_EQ(drv->resets(), 1u);
    EXPECT_EQ(client.done.size(), 5u);
    EXPECT_EQ(drv->counters().tx_errors, 5u);
    EXPECT_EQ(drv->tx_ring_used(), 0u);
    // Progress is not a stall.
    ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(20))), net::TxStatus::Queued);
    for (int i = 0; i < 5; ++i) {
        drv->watchdog();
        sends();
        ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(21 + i))), net::TxStatus::Queued);
    }
    EXPECT_EQ(drv->resets(), 1u);
}

// ---------------------------------------------------------------------------------------------------------
// 82574L

TEST_F(E1000Test, The82574WorksWithLegacyDescriptors) {
    E1000Model::Config c;
    c.family = Family::I82574;
    ASSERT_NO_FATAL_FAILURE(make(c, 0x10D3));
    ASSERT_NO_FATAL_FAILURE(start());
    EXPECT_FALSE(model->reg(reg::kCtrl) & reg::kCtrlAsde);
    EXPECT_TRUE(model->reg(reg::kTctl) & reg::kTctlRtlc);
    EXPECT_EQ(model->reg(reg::kTipg), 8u | 8u << 10 | 6u << 20);
    EXPECT_EQ(model->reg(reg::kRxcsum) & reg::kRxcsumPcsd, 0u);  // checksum status, not RSS
    ASSERT_TRUE(model->inject(eth_frame(200, 1), E1000Model::RxOptions{e1000::kRxStaIpcs | e1000::kRxStaTcpcs}));
    model->raise(reg::kIntAsserted);
    drv->handle_interrupt();
    EXPECT_EQ(model->count_writes(reg::kIcr), 1u);  // acknowledged explicitly as well
    drv->run_work();
    ASSERT_EQ(client.frames.size(), 1u);
    EXPECT_EQ(client.sums[0], net::RxChecksum::Good);
    const auto f = eth_frame(1514, 4);
    ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1))), net::TxStatus::Queued);
    const auto sent = sends();
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].bytes, f);
    interrupt();
    EXPECT_EQ(client.done, std::vector<void*>{cookie(1)});
    EXPECT_NE(log_text().find("82574L, MAC 52:54:00:12:34:56"), std::string::npos);
}

TEST_F(E1000Test, The82544TakesItsAddressFromRalOnly) {
    E1000Model::Config c;
    c.family = Family::I82544;
    ASSERT_NO_FATAL_FAILURE(make(c, 0x100C));
    EXPECT_EQ(memcmp(drv->mac(), kMac, 6), 0);
    EXPECT_EQ(model->count_writes(reg::kEerd), 0u);
    ASSERT_NO_FATAL_FAILURE(start());
    const uint8_t m[6] = {0x01, 0x00, 0x5E, 0x00, 0x00, 0x01};    // 0x010: word 0 (even), bit 16
    const uint8_t odd[6] = {0x01, 0x00, 0x5E, 0x00, 0x00, 0x02};  // 0x020: word 1 (odd)
    ASSERT_TRUE(drv->add_multicast(m));
    const size_t word0_writes = model->count_writes(reg::kMta);
    ASSERT_TRUE(drv->add_multicast(odd));
    EXPECT_EQ(model->count_writes(reg::kMta), word0_writes + 1);  // the even neighbour written again
    EXPECT_EQ(model->reg(reg::kMta), 1u << 16);
    EXPECT_EQ(model->reg(reg::kMta + 4), 1u);
}

TEST_F(E1000Test, SmallPoolAndRingOptions) {
    e1000::Options o;
    o.rx_ring = 8;
    o.tx_ring = 8;
    o.rx_buffers = 8;
    o.itr_per_sec = 0;
    ASSERT_NO_FATAL_FAILURE(make_started(o));
    EXPECT_EQ(model->reg(reg::kItr), 0u);
    EXPECT_EQ(drv->rx_ring_filled(), 7u);
    EXPECT_EQ(drv->rx_buffers_free(), 1u);
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(model->inject(eth_frame(100, i)));
        drv->poll(64);
    }
    EXPECT_EQ(client.frames.size(), 100u);
}

// ---------------------------------------------------------------------------------------------------------
// The NIC contract (src/net/nic.hpp): a pass finishes its ring work before delivering, and nothing the client
// does from inside a callback (transmit, rx_release) calls back into it or nests a pass.

// A client that answers every frame from inside receive() (as lwIP does), releases the buffer there, and
// fails the test if any callback arrives while it is itself inside a driver call.
class ReplyingClient final : public net::NicClient {
public:
    Driver* drv = nullptr;
    const std::vector<uint8_t>* reply = nullptr;
    bool inside_driver = false;
    int nested = 0, received = 0, completed = 0, full = 0, ready = 0;

    bool receive(const net::RxFrame& f) override {
        check();
        ++received;
        inside_driver = true;
        const net::TxStatus st = drv->transmit(tx_frame({reply}, cookie(1000 + received)));
        drv->rx_release(f.buffer);
        inside_driver = false;
        if (st == net::TxStatus::Full) ++full;
        return true;
    }
    void tx_done(void*) override {
        check();
        ++completed;
    }
    void link_changed(bool) override { check(); }
    void tx_ready() override {
        check();
        ++ready;
    }

private:
    void check() {
        if (inside_driver) ++nested;
    }
};

TEST_F(E1000Test, ContractRepliesFromInsideReceiveNeverNest) {
    e1000::Options o;
    o.tx_ring = 16;  // small: transmit() has to reclaim finished frames to make room
    ASSERT_NO_FATAL_FAILURE(make(E1000Model::Config{}, 0x100E, o));
    ReplyingClient rc;
    const auto answer = eth_frame(80, 9);
    rc.drv = drv.get();
    rc.reply = &answer;
    ASSERT_TRUE(drv->start(rc));
    int sent_back = 0;
    for (int round = 0; round < 10; ++round) {  // 20 replies a pass into 15 usable descriptors
        for (int i = 0; i < 20; ++i) ASSERT_TRUE(model->inject(eth_frame(100, static_cast<uint32_t>(round * 20 + i))));
        drv->poll(64);
        sent_back += static_cast<int>(sends().size());  // the device completes what the tail covered
    }
    for (int i = 0; i < 4; ++i) {  // the last completions and room come back in later passes
        drv->poll(64);
        sent_back += static_cast<int>(sends().size());
    }
    EXPECT_EQ(rc.nested, 0);
    EXPECT_EQ(rc.received, 200);
    EXPECT_GT(rc.full, 0);  // the ring did fill up, so transmit() reclaimed and refused from inside receive()
    EXPECT_EQ(sent_back + rc.full, 200);
    EXPECT_EQ(rc.completed, sent_back);
    EXPECT_GT(rc.ready, 0);
    EXPECT_EQ(drv->rx_buffers_free() + drv->rx_ring_filled(), 512u);  // every buffer came back
}

TEST_F(E1000Test, ContractTheDoorbellRingsOncePerLoopIteration) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    const auto f = eth_frame(60, 1);
    for (int i = 0; i < 10; ++i) ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1 + i))), net::TxStatus::Queued);
    EXPECT_EQ(model->reg(reg::kTdt), 0u);
    loop::run_once();  // the driver's end-of-iteration hook
    EXPECT_EQ(model->reg(reg::kTdt), 10u);
    EXPECT_FALSE(drv->flush_tx());  // nothing new since
    EXPECT_EQ(model->transmit().size(), 10u);
    interrupt();  // the completion interrupt, through the loop: a pass delivers the ten completions
    EXPECT_EQ(client.done.size(), 10u);
}

TEST_F(E1000Test, ContractAFailedResetHandsBackFramesInFlight) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    const auto f = eth_frame(60, 1);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(drv->transmit(tx_frame({&f}, cookie(1 + i))), net::TxStatus::Queued);
    drv->flush_tx();
    model->set_reg(reg::kRdh, 4096);  // nonsense: the watchdog resets the device
    drv->watchdog();
    EXPECT_EQ(client.done.size(), 3u);  // dropped by the reset, handed back in the watchdog's pass
    EXPECT_EQ(drv->counters().tx_errors, 3u);
}

TEST_F(E1000Test, AFailedDeviceDropsFramesInsteadOfSayingFull) {
    ASSERT_NO_FATAL_FAILURE(make_started());
    model->stuck_in_reset = true;
    model->set_reg(reg::kRdh, 4096);  // nonsense: the watchdog resets the device, which never comes back
    drv->watchdog();
    ASSERT_EQ(drv->state(), Driver::State::Failed);
    const auto f = eth_frame(60, 1);
    // Full would promise a tx_ready that never comes: the device is gone for good (nic.hpp: Dropped).
    EXPECT_EQ(drv->transmit(tx_frame({&f}, cookie(1))), net::TxStatus::Dropped);
    EXPECT_EQ(drv->counters().tx_errors, 1u);
    EXPECT_EQ(drv->counters().tx_dropped_ring_full, 0u);
}

}  // namespace
