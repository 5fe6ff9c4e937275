// SynIC MSR programming and message-slot handling against the fake hypervisor (docs/protocols/hyperv-vmbus.md §3).
#include <gtest/gtest.h>

#include "drivers/bus/vmbus/synic.hpp"
#include "hv_fake.hpp"
#include "kernel/dma.hpp"

namespace skerry::hv {
namespace {

using hvtest::HvModel;
using hvtest::ModelScope;

struct SynicTest : ::testing::Test {
    void SetUp() override {
        hw::set_model(&m);
        ASSERT_TRUE(dma::alloc(4096, sim));
        ASSERT_TRUE(dma::alloc(4096, sief));
        memset(sim.virt, 0xEE, 4096);  // stale contents must be cleared by enable()
    }
    void TearDown() override {
        hw::set_model(nullptr);
        dma::free(sim);
        dma::free(sief);
    }
    HvModel m;
    dma::Region sim, sief;
    Synic synic;
};

TEST_F(SynicTest, MsrLayoutConstants) {
    EXPECT_EQ(kMsrScontrol, 0x40000080u);
    EXPECT_EQ(kMsrSiefp, 0x40000082u);
    EXPECT_EQ(kMsrSimp, 0x40000083u);
    EXPECT_EQ(kMsrEom, 0x40000084u);
    EXPECT_EQ(kMsrSint0 + kVmbusSint, 0x40000092u);
    EXPECT_EQ(sint_msr_value(kSintResetValue, 0x40, true), 0x20040ull);
    EXPECT_EQ(sint_msr_value(kSintResetValue | (1ull << 40), 0x40, false), (1ull << 40) | 0x40);
    EXPECT_EQ(synic_page_msr_value(0xABC, 0x5000), 0x5ABDull);
}

TEST_F(SynicTest, EnableOrderAndValues) {
    m.msrs[kMsrSimp] = 0x10;  // a preserved bit
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, kVmbusSint, 0x40, true));
    ASSERT_EQ(m.writes.size(), 4u);
    EXPECT_EQ(m.writes[0].first, kMsrSimp);
    EXPECT_EQ(m.writes[0].second, sim.phys | 0x10 | 1);
    EXPECT_EQ(m.writes[1].first, kMsrSiefp);
    EXPECT_EQ(m.writes[1].second, sief.phys | 1);
    EXPECT_EQ(m.writes[2].first, kMsrSint0 + 2);
    EXPECT_EQ(m.writes[2].second, 0x40ull | kSintAutoEoi);  // unmasked
    EXPECT_EQ(m.writes[3].first, kMsrScontrol);
    EXPECT_EQ(m.writes[3].second & kScontrolEnable, kScontrolEnable);
    for (int i = 0; i < 4096; ++i) ASSERT_EQ(static_cast<uint8_t*>(sim.virt)[i], 0) << i;
    EXPECT_TRUE(m.violations.empty());
}

TEST_F(SynicTest, RejectsBadArguments) {
    EXPECT_FALSE(synic.enable(sim.phys, sief.phys, 16, 0x40, true));
    EXPECT_FALSE(synic.enable(sim.phys, sief.phys, 2, 15, true));
    EXPECT_FALSE(synic.enable(sim.phys + 8, sief.phys, 2, 0x40, true));
    EXPECT_FALSE(synic.enable(sim.phys, sim.phys, 2, 0x40, true));
    EXPECT_TRUE(m.writes.empty());
    Message msg;
    EXPECT_EQ(synic.poll(2, msg), PollResult::Empty);  // not enabled: nothing to read, no crash
}

TEST_F(SynicTest, EmptySlotDoesNothing) {
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, 2, 0x40, true));
    Message msg;
    EXPECT_EQ(synic.poll(2, msg), PollResult::Empty);
    EXPECT_EQ(m.eom_writes, 0);
}

TEST_F(SynicTest, SingleMessageNoEom) {
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, 2, 0x40, true));
    const uint8_t body[16] = {15, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
    m.send(2, 1, body, sizeof body);
    const uint8_t* slot = static_cast<uint8_t*>(sim.virt) + 0x200;
    EXPECT_EQ(slot[0], 1);  // slot 2 at 0x200, type at 0
    EXPECT_EQ(slot[4], 16);
    EXPECT_EQ(slot[16], 15);  // payload at 0x210
    Message msg;
    ASSERT_EQ(synic.poll(2, msg), PollResult::Message);
    EXPECT_EQ(msg.type, 1u);
    EXPECT_EQ(msg.payload_size, 16);
    EXPECT_EQ(msg.origin, 0x1122334455667788ull);
    EXPECT_EQ(memcmp(msg.payload, body, 16), 0);
    EXPECT_EQ(slot[0], 0);       // slot freed
    EXPECT_EQ(m.eom_writes, 0);  // nothing pending: no EOM
    EXPECT_EQ(synic.poll(2, msg), PollResult::Empty);
    EXPECT_EQ(synic.stats().messages, 1u);
}

TEST_F(SynicTest, PendingMessagesDeliveredInOrderThroughEom) {
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, 2, 0x40, true));
    for (uint8_t i = 1; i <= 5; ++i) {
        uint8_t b[8] = {i, 0, 0, 0, 0, 0, 0, 0};
        m.send(2, 1, b, sizeof b);
    }
    Message msg;
    for (uint8_t i = 1; i <= 5; ++i) {
        ASSERT_EQ(synic.poll(2, msg), PollResult::Message) << int(i);
        EXPECT_EQ(msg.payload[0], i);
        EXPECT_EQ((msg.flags & kMessageFlagPending) != 0, i < 5);
    }
    EXPECT_EQ(synic.poll(2, msg), PollResult::Empty);
    EXPECT_EQ(m.eom_writes, 4);  // one per pending message, none after the last
    EXPECT_EQ(m.queues[2].size(), 0u);
}

TEST_F(SynicTest, PendingSetWhileCopyingStillTriggersEom) {
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, 2, 0x40, true));
    uint8_t b[8] = {1};
    m.send(2, 1, b, sizeof b);
    m.send(2, 1, b, sizeof b);  // slot busy: the hypervisor flags pending on the occupied slot
    Message msg;
    ASSERT_EQ(synic.poll(2, msg), PollResult::Message);
    EXPECT_EQ(m.eom_writes, 1);
    ASSERT_EQ(synic.poll(2, msg), PollResult::Message);
}

TEST_F(SynicTest, OversizedSlotIsDroppedAndCounted) {
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, 2, 0x40, true));
    uint8_t b[240] = {};
    m.send(2, 1, b, sizeof b, 255);  // claims 255 bytes
    m.send(2, 1, b, 8);
    Message msg;
    EXPECT_EQ(synic.poll(2, msg), PollResult::Malformed);
    EXPECT_EQ(synic.stats().malformed, 1u);
    EXPECT_EQ(m.eom_writes, 1);  // the next message still comes
    EXPECT_EQ(synic.poll(2, msg), PollResult::Message);
    EXPECT_EQ(msg.payload_size, 8);
}

TEST_F(SynicTest, OtherSintsAreIndependent) {
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, 2, 0x40, true));
    uint8_t b[8] = {9};
    m.send(3, 0x80000010u, b, 8);  // a timer message on SINT3
    Message msg;
    EXPECT_EQ(synic.poll(2, msg), PollResult::Empty);
    ASSERT_EQ(synic.poll(3, msg), PollResult::Message);
    EXPECT_EQ(msg.type, 0x80000010u);
}

TEST_F(SynicTest, EventFlags) {
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, 2, 0x40, true));
    m.set_event(2, 13);
    m.set_event(2, 2047);
    EXPECT_EQ(static_cast<uint8_t*>(sief.virt)[2 * 256 + 1], 1u << 5);
    EXPECT_FALSE(synic.test_and_clear_event(2, 12));
    EXPECT_TRUE(synic.test_and_clear_event(2, 13));
    EXPECT_FALSE(synic.test_and_clear_event(2, 13));
    EXPECT_TRUE(synic.test_and_clear_event(2, 2047));
    EXPECT_FALSE(synic.test_and_clear_event(2, 2048));
    EXPECT_FALSE(synic.test_and_clear_event(16, 0));
}

TEST_F(SynicTest, DisableMasksAndStopsDelivery) {
    ASSERT_TRUE(synic.enable(sim.phys, sief.phys, 2, 0x40, false));
    EXPECT_EQ(m.msrs[kMsrSint0 + 2] & kSintAutoEoi, 0u);
    synic.disable();
    EXPECT_NE(m.msrs[kMsrSint0 + 2] & kSintMasked, 0u);
    EXPECT_EQ(m.msrs[kMsrSimp] & kPageEnable, 0u);
    EXPECT_EQ(m.msrs[kMsrSiefp] & kPageEnable, 0u);
    EXPECT_NE(m.msrs[kMsrScontrol] & kScontrolEnable, 0u);  // left alone on purpose
    EXPECT_FALSE(synic.enabled());
}

}  // namespace
}  // namespace skerry::hv
