// Which clock the kernel runs on and how it learns the TSC frequency: a pure decision over what the platform
// offers, so it is unit tested and time::init only carries it out.
//
// Order: a hypervisor reference clock that is valid right now (Hyper-V's reference TSC page) is the clock; its
// TSC frequency is the stated one, or the one its scale implies. Otherwise the TSC is the clock, at a stated
// frequency (CPUID 0x15/0x16, hypervisor leaf, Hyper-V frequency MSR) or one measured against the ACPI PM timer,
// the HPET, or the PIT. The PIT is never used under Hyper-V: Gen2 has none and on Gen1 channel 2's gate does not
// behave, so the measurement would hang until its guard runs out.
#pragma once

#include <stdint.h>

namespace skerry::time {

enum class ClockKind : uint8_t {
    Reference,    // a hypervisor reference clock (Hyper-V partition reference time), TSC frequency known
    TscStated,    // the TSC at a frequency the CPU or hypervisor states
    TscMeasured,  // the TSC, frequency measured against a timer (plan.measure, in order)
    TscGuessed,   // the TSC at an assumed 1 GHz: nothing to measure against
};
const char* clock_kind_name(ClockKind k);

enum class CalibrationTimer : uint8_t { None, PmTimer, Hpet, Pit };
const char* timer_name(CalibrationTimer t);

struct ClockFacts {
    bool reference_valid = false;   // a reference clock read succeeded (Hyper-V: page sequence != 0)
    uint64_t reference_tsc_hz = 0;  // the TSC frequency the reference clock implies (page scale), 0 = unknown
    uint64_t stated_hz = 0;         // CPUID / hypervisor leaf / Hyper-V MSR, 0 = not stated
    bool pm_timer = false;
    bool hpet = false;
    bool pit = false;     // a legacy PIT is expected (not ACPI hardware-reduced)
    bool hyperv = false;  // running under Hyper-V
};

struct ClockPlan {
    ClockKind kind = ClockKind::TscGuessed;
    uint64_t tsc_hz = 0;             // Reference / TscStated: the frequency to use
    bool hz_from_reference = false;  // Reference: tsc_hz came from the page's scale, not a statement
    // TscMeasured: the timers to measure against, in this order (None ends the list).
    CalibrationTimer measure[3] = {CalibrationTimer::None, CalibrationTimer::None, CalibrationTimer::None};
};

ClockPlan plan_clock(const ClockFacts& f);

}  // namespace skerry::time
