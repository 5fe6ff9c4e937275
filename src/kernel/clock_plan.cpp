// The clock decision (see clock_plan.hpp).
#include "kernel/clock_plan.hpp"

namespace skerry::time {

const char* clock_kind_name(ClockKind k) {
    switch (k) {
    case ClockKind::Reference: return "reference clock";
    case ClockKind::KvmClock: return "kvmclock";
    case ClockKind::TscStated: return "TSC, stated frequency";
    case ClockKind::TscMeasured: return "TSC, measured frequency";
    case ClockKind::TscGuessed: return "TSC, assumed frequency";
    }
    return "?";
}

const char* timer_name(CalibrationTimer t) {
    switch (t) {
    case CalibrationTimer::None: return "none";
    case CalibrationTimer::PmTimer: return "ACPI PM timer";
    case CalibrationTimer::Hpet: return "HPET";
    case CalibrationTimer::Pit: return "PIT";
    }
    return "?";
}

ClockPlan plan_clock(const ClockFacts& f) {
    ClockPlan p;
    if (f.reference_valid && (f.stated_hz != 0 || f.reference_tsc_hz != 0)) {
        p.kind = ClockKind::Reference;
        p.tsc_hz = f.stated_hz != 0 ? f.stated_hz : f.reference_tsc_hz;
        p.hz_from_reference = f.stated_hz == 0;
        return p;
    }
    if (f.kvmclock_valid && f.kvmclock_tsc_hz != 0) {
        p.kind = ClockKind::KvmClock;
        p.tsc_hz = f.kvmclock_tsc_hz;
        p.hz_from_reference = true;
        return p;
    }
    if (f.stated_hz != 0 && !f.stated_approximate) {
        p.kind = ClockKind::TscStated;
        p.tsc_hz = f.stated_hz;
        return p;
    }
    int n = 0;
    if (f.pm_timer) p.measure[n++] = CalibrationTimer::PmTimer;
    if (f.hpet) p.measure[n++] = CalibrationTimer::Hpet;
    if (f.pit && !f.hyperv) p.measure[n++] = CalibrationTimer::Pit;
    if (n != 0) {
        p.kind = ClockKind::TscMeasured;
        p.fallback_hz = f.stated_hz;
    } else if (f.stated_hz != 0) {
        p.kind = ClockKind::TscStated;
        p.tsc_hz = f.stated_hz;
    } else {
        p.kind = ClockKind::TscGuessed;
    }
    return p;
}

}  // namespace skerry::time
