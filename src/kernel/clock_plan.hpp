// Which clock the kernel runs on and how it learns the TSC frequency: a pure decision over what the platform
// offers, so it is unit tested and time::init only carries it out.
//
// Order: a hypervisor reference clock that is valid right now (Hyper-V's reference TSC page) is the clock; its
// TSC frequency is the stated one, or the one its scale implies. Next KVM's kvmclock (the pvclock page), when
// the KVM CPUID leaves offer it and the page was filled: the clock, with the TSC frequency its scale implies (as
// Linux's kvm_get_tsc_khz). Otherwise the TSC is the clock, at an exact stated frequency (CPUID 0x15, hypervisor
// leaf 0x40000010, Hyper-V frequency MSR) or one measured against the ACPI PM timer, the HPET, or the PIT (probed:
// an absent PIT is detected, so it is tried on hardware-reduced ACPI and without ACPI too); an approximate statement
// (CPUID 0x16, the processor's base frequency) is used only when nothing could be measured. The PIT is never used
// under Hyper-V: Gen2 has none and Gen1's reference clock is better.
#pragma once

#include <stdint.h>

namespace skerry::time {

enum class ClockKind : uint8_t {
    Reference,    // a hypervisor reference clock (Hyper-V partition reference time), TSC frequency known
    KvmClock,     // KVM's pvclock page (kvmclock), TSC frequency from its scale
    TscStated,    // the TSC at a frequency the CPU or hypervisor states
    TscMeasured,  // the TSC, frequency measured against a timer (plan.measure, in order)
    TscGuessed,   // the TSC at an assumed 1 GHz: nothing to measure against
};
const char* clock_kind_name(ClockKind k);

enum class CalibrationTimer : uint8_t { None, PmTimer, Hpet, Pit };
const char* timer_name(CalibrationTimer t);

struct ClockFacts {
    bool reference_valid = false;     // a reference clock read succeeded (Hyper-V: page sequence != 0)
    uint64_t reference_tsc_hz = 0;    // the TSC frequency the reference clock implies (page scale), 0 = unknown
    bool kvmclock_valid = false;      // the pvclock page was enabled and filled
    uint64_t kvmclock_tsc_hz = 0;     // the TSC frequency its scale implies
    uint64_t stated_hz = 0;           // CPUID / hypervisor leaf / Hyper-V MSR, 0 = not stated
    bool stated_approximate = false;  // stated_hz is CPUID 0x16's base frequency: only when nothing measures
    bool pm_timer = false;
    bool hpet = false;
    bool pit = false;     // a PIT may answer (it is probed; time::init reports an absent one)
    bool hyperv = false;  // running under Hyper-V
};

struct ClockPlan {
    ClockKind kind = ClockKind::TscGuessed;
    uint64_t tsc_hz = 0;             // Reference / TscStated: the frequency to use
    bool hz_from_reference = false;  // Reference: tsc_hz came from the page's scale, not a statement
    // TscMeasured: the frequency to use when every measurement fails (an approximate statement), 0 = none.
    uint64_t fallback_hz = 0;
    // TscMeasured: the timers to measure against, in this order (None ends the list).
    CalibrationTimer measure[3] = {CalibrationTimer::None, CalibrationTimer::None, CalibrationTimer::None};
};

ClockPlan plan_clock(const ClockFacts& f);

}  // namespace skerry::time
