// Hyper-V partition reference time (drivers/bus/vmbus/reftime.*) against a fake reference TSC page, and the kernel's
// clock decision (kernel/clock_plan.*): the formula, the sequence-retry rule, sequence 0 = invalid -> fall back.
#include <gtest/gtest.h>
#include <string.h>

#include "drivers/bus/vmbus/reftime.hpp"
#include "hv_fake.hpp"
#include "kernel/clock_plan.hpp"

namespace skerry {
namespace {

struct alignas(4096) FakePage {
    uint8_t b[4096] = {};
    void set(uint32_t seq, uint64_t scale, int64_t offset) {
        memcpy(b + hv::kRefPageOffSequence, &seq, 4);
        memcpy(b + hv::kRefPageOffScale, &scale, 8);
        memcpy(b + hv::kRefPageOffOffset, &offset, 8);
    }
};

FakePage page;
uint64_t tsc_now;
int tsc_reads;
// The hypervisor rewriting the page while the guest reads: on the Nth TSC read, bump the sequence and scale.
int rewrite_on_read = -1;
bool rewrite_forever = false;
uint64_t fake_rdtsc() {
    tsc_reads++;
    if (rewrite_forever || tsc_reads == rewrite_on_read) {
        uint32_t seq;
        memcpy(&seq, page.b, 4);
        page.set(seq + 1, 2ull << 60, 0);
    }
    return tsc_now;
}

struct RefTimeTest : ::testing::Test {
    void SetUp() override {
        page = FakePage{};
        tsc_now = 0;
        tsc_reads = 0;
        rewrite_on_read = -1;
        rewrite_forever = false;
    }
};

TEST_F(RefTimeTest, Formula) {
    // scale = 2^64 * 10^7 / hz: a 2.5 GHz TSC gives 250 ticks per 100 ns.
    const uint64_t scale = static_cast<uint64_t>((static_cast<unsigned __int128>(10000000) << 64) / 2500000000ull);
    EXPECT_EQ(hv::reference_time(2500000000ull, scale, 0), 9999999u);  // one second, rounded down
    EXPECT_EQ(hv::reference_time(2500000000ull, scale, 1), 10000000u);
    EXPECT_EQ(hv::reference_time(0, scale, 12345), 12345u);
    EXPECT_EQ(hv::reference_time(1000, 1ull << 62, -3), 247u);  // offsets are signed
    // The product needs all 128 bits: (2^63 * 2^63) >> 64 = 2^62.
    EXPECT_EQ(hv::reference_time(1ull << 63, 1ull << 63, 0), 1ull << 62);
    EXPECT_EQ(hv::reference_time(~0ull, ~0ull, 0), ~0ull - 1);
    EXPECT_NEAR(static_cast<double>(hv::tsc_hz_from_scale(scale)), 2.5e9, 1.0);
    EXPECT_EQ(hv::tsc_hz_from_scale(0), 0u);
}

TEST_F(RefTimeTest, ReadsAValidPage) {
    page.set(7, 1ull << 62, 1000);  // scale 1/4: time = tsc / 4 + 1000
    tsc_now = 4000;
    hv::RefTscSample s;
    ASSERT_TRUE(hv::read_reference_tsc(page.b, fake_rdtsc, s));
    EXPECT_EQ(s.sequence, 7u);
    EXPECT_EQ(s.scale, 1ull << 62);
    EXPECT_EQ(s.offset, 1000);
    EXPECT_EQ(s.tsc, 4000u);
    EXPECT_EQ(s.time, 2000u);
    EXPECT_EQ(tsc_reads, 1);
}

TEST_F(RefTimeTest, SequenceZeroIsInvalid) {
    page.set(0, 1ull << 62, 1000);
    hv::RefTscSample s;
    EXPECT_FALSE(hv::read_reference_tsc(page.b, fake_rdtsc, s));
    EXPECT_EQ(tsc_reads, 0);                 // not even read
    page.set(0xFFFFFFFF, 1ull << 62, 1000);  // the old TLFS marker (Xen's emulation) is not trusted either
    EXPECT_FALSE(hv::read_reference_tsc(page.b, fake_rdtsc, s));
    page.set(0xFFFFFFFE, 1ull << 62, 1000);  // but every other value is a sequence
    EXPECT_TRUE(hv::read_reference_tsc(page.b, fake_rdtsc, s));
}

TEST_F(RefTimeTest, ChangedSequenceRetriesWithTheNewValues) {
    page.set(7, 1ull << 62, 1000);
    tsc_now = 4000;
    rewrite_on_read = 1;  // the hypervisor updates the page during the first read
    hv::RefTscSample s;
    ASSERT_TRUE(hv::read_reference_tsc(page.b, fake_rdtsc, s));
    EXPECT_EQ(tsc_reads, 2);
    EXPECT_EQ(s.sequence, 8u);
    EXPECT_EQ(s.scale, 2ull << 60);
    EXPECT_EQ(s.offset, 0);
    EXPECT_EQ(s.time, 500u);  // 4000 / 8 with the new scale and offset
}

TEST_F(RefTimeTest, AlwaysChangingSequenceGivesUpBounded) {
    page.set(7, 1ull << 62, 1000);
    rewrite_forever = true;
    hv::RefTscSample s;
    EXPECT_FALSE(hv::read_reference_tsc(page.b, fake_rdtsc, s));
    EXPECT_EQ(tsc_reads, hv::kRefTscMaxTries);
}

TEST_F(RefTimeTest, EnableNeedsThePrivilege) {
    hvtest::HvModel model;
    hvtest::ModelScope scope(&model);
    hv::Features f = hv::detect();
    ASSERT_TRUE(f.has_reference_tsc());
    EXPECT_TRUE(hv::enable_reference_tsc(f, 0x123000));
    EXPECT_EQ(model.msrs[hv::kMsrReferenceTsc], 0x123001u);
    EXPECT_FALSE(hv::enable_reference_tsc(f, 0x123008));  // not page aligned
    model.msrs[hv::kMsrTimeRefCount] = 42;
    uint64_t t = 0;
    EXPECT_TRUE(hv::read_time_ref_count(f, t));
    EXPECT_EQ(t, 42u);
    f.privileges_low &= ~(hv::kPrivReferenceTsc | hv::kPrivReferenceCounter);
    model.writes.clear();
    EXPECT_FALSE(hv::enable_reference_tsc(f, 0x456000));
    EXPECT_FALSE(hv::read_time_ref_count(f, t));
    EXPECT_TRUE(model.writes.empty());
}

// ------------------------------------------------------------------------------------------------ clock plan
using time::CalibrationTimer;
using time::ClockKind;

TEST(ClockPlan, ValidReferenceClockWins) {
    time::ClockFacts f;
    f.reference_valid = true;
    f.reference_tsc_hz = 2500000000ull;
    f.pm_timer = f.pit = f.hyperv = true;
    time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::Reference);
    EXPECT_EQ(p.tsc_hz, 2500000000ull);
    EXPECT_TRUE(p.hz_from_reference);
    f.stated_hz = 2400000000ull;  // the Hyper-V frequency MSR, when readable, is the frequency
    p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::Reference);
    EXPECT_EQ(p.tsc_hz, 2400000000ull);
    EXPECT_FALSE(p.hz_from_reference);
}

TEST(ClockPlan, InvalidReferencePageFallsBackToTheStatedFrequency) {
    time::ClockFacts f;
    f.reference_valid = false;  // sequence 0
    f.reference_tsc_hz = 2500000000ull;
    f.stated_hz = 2400000000ull;
    f.hyperv = true;
    const time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscStated);
    EXPECT_EQ(p.tsc_hz, 2400000000ull);
}

TEST(ClockPlan, MeasuresAgainstTimersInOrder) {
    time::ClockFacts f;
    f.pm_timer = f.hpet = f.pit = true;
    time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscMeasured);
    EXPECT_EQ(p.measure[0], CalibrationTimer::PmTimer);
    EXPECT_EQ(p.measure[1], CalibrationTimer::Hpet);
    EXPECT_EQ(p.measure[2], CalibrationTimer::Pit);
    f.pm_timer = false;
    p = time::plan_clock(f);
    EXPECT_EQ(p.measure[0], CalibrationTimer::Hpet);
    EXPECT_EQ(p.measure[1], CalibrationTimer::Pit);
    EXPECT_EQ(p.measure[2], CalibrationTimer::None);
}

TEST(ClockPlan, NeverThePitUnderHyperV) {
    time::ClockFacts f;
    f.pit = true;
    f.hyperv = true;  // Gen2: no PIT; Gen1: channel 2's gate hangs the measurement
    time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscGuessed);
    EXPECT_EQ(p.measure[0], CalibrationTimer::None);
    f.pm_timer = true;
    p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscMeasured);
    EXPECT_EQ(p.measure[0], CalibrationTimer::PmTimer);
    EXPECT_EQ(p.measure[1], CalibrationTimer::None);
}

TEST(ClockPlan, ReferenceWithoutAnyFrequencyIsNotUsed) {
    time::ClockFacts f;
    f.reference_valid = true;  // a page with scale 0 implies no frequency
    f.pm_timer = true;
    const time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscMeasured);
}

}  // namespace
}  // namespace skerry
