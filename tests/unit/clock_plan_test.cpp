// The clock decision (src/kernel/clock_plan.*) for the microVM platforms: kvmclock under KVM, the PIT probed
// where ACPI is hardware-reduced or absent (QEMU microvm, Firecracker), and CPUID 0x16 only as a fallback. The
// Hyper-V cases are in hv_reftime_test.cpp.
#include <gtest/gtest.h>

#include "kernel/clock_plan.hpp"

using namespace skerry;
using time::CalibrationTimer;
using time::ClockKind;

namespace {

TEST(ClockPlanMicrovm, KvmclockIsTheClockUnderKvm) {
    time::ClockFacts f;
    f.kvmclock_valid = true;
    f.kvmclock_tsc_hz = 2500000000ull;
    f.stated_hz = 2400000000ull;  // a hypervisor leaf too: kvmclock still wins, as Linux's kvmclock_init
    f.pit = true;
    time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::KvmClock);
    EXPECT_EQ(p.tsc_hz, 2500000000ull);
    EXPECT_STREQ(time::clock_kind_name(p.kind), "kvmclock");

    f.kvmclock_tsc_hz = 0;  // a page without a usable scale: not used
    p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscStated);
    EXPECT_EQ(p.tsc_hz, 2400000000ull);

    f.kvmclock_valid = false;  // the page was never filled
    f.kvmclock_tsc_hz = 2500000000ull;
    EXPECT_EQ(time::plan_clock(f).kind, ClockKind::TscStated);
}

TEST(ClockPlanMicrovm, TheHyperVReferenceClockStaysFirst) {
    time::ClockFacts f;
    f.reference_valid = true;
    f.reference_tsc_hz = 2000000000ull;
    f.kvmclock_valid = true;  // KVM behind Hyper-V enlightenments offers both
    f.kvmclock_tsc_hz = 2000000000ull;
    EXPECT_EQ(time::plan_clock(f).kind, ClockKind::Reference);
}

TEST(ClockPlanMicrovm, MicrovmWithoutTimersMeasuresAgainstThePit) {
    // QEMU microvm (ACPI hardware-reduced or none): no PM timer, no HPET, no stated frequency under TCG.
    time::ClockFacts f;
    f.pit = true;
    time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscMeasured);
    EXPECT_EQ(p.measure[0], CalibrationTimer::Pit);
    EXPECT_EQ(p.measure[1], CalibrationTimer::None);
    EXPECT_EQ(p.fallback_hz, 0u);
}

TEST(ClockPlanMicrovm, Leaf16IsOnlyAFallback) {
    time::ClockFacts f;
    f.stated_hz = 2000000000ull;
    f.stated_approximate = true;  // CPUID 0x16: the base frequency, not the TSC's
    f.pit = true;
    time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscMeasured);
    EXPECT_EQ(p.measure[0], CalibrationTimer::Pit);
    EXPECT_EQ(p.fallback_hz, 2000000000ull);  // used when the PIT does not answer

    f.pit = false;
    f.hyperv = true;  // nothing to measure with: the approximate statement is the frequency
    f.pit = true;
    p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscStated);
    EXPECT_EQ(p.tsc_hz, 2000000000ull);

    f.stated_approximate = false;  // an exact statement (leaf 0x15, 0x40000010) needs no measurement
    f.hyperv = false;
    p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscStated);
}

TEST(ClockPlanMicrovm, NothingAtAllIsAGuess) {
    time::ClockFacts f;
    const time::ClockPlan p = time::plan_clock(f);
    EXPECT_EQ(p.kind, ClockKind::TscGuessed);
    EXPECT_EQ(p.fallback_hz, 0u);
}

}  // namespace
