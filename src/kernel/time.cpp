#include "kernel/time.hpp"

#include <stdio.h>

#include "hw/hw.hpp"
#include "kernel/apic.hpp"
#include "kernel/arch/paging.hpp"
#include "kernel/clock_plan.hpp"
#include "kernel/pit.hpp"

namespace skerry::time {
namespace {

uint64_t hz;
uint64_t tsc0;
uint64_t ns_per_tsc_fp32;  // nanoseconds per TSC cycle, 32.32 fixed point
uint64_t tsc_per_ns_fp32;  // TSC cycles per nanosecond, 32.32 fixed point
const char* src = "none";
char src_buf[160];  // a source description with details (why a measurement failed)
bool is_ready;
int64_t epoch;
// Reference-clock mode: now_ns() follows the hypervisor's reference time (100 ns units) from ref0.
bool (*ref_read)(uint64_t&);
uint64_t ref0;
uint64_t last_ns;
// kvmclock mode: now_ns() follows kvmclock's system time (nanoseconds) from kvm0.
bool (*kvm_read)(uint64_t&);
uint64_t kvm0;

constexpr uint64_t kPmTimerHz = 3579545;

// Measures TSC cycles over ~10 ms of the ACPI PM timer.
uint64_t measure_pm(uint16_t port, bool is32) {
    const uint32_t mask = is32 ? 0xFFFFFFFFu : 0xFFFFFFu;
    const uint32_t want = static_cast<uint32_t>(kPmTimerHz / 100);
    uint32_t start = hw::inl(port) & mask;
    // Align to a tick edge so the TSC read matches the counter value.
    uint32_t t;
    uint64_t guard = 0;
    do {
        t = hw::inl(port) & mask;
    } while (t == start && ++guard < 100000000);
    uint64_t c0 = hw::rdtsc();
    uint32_t p0 = t, elapsed = 0;
    guard = 0;
    while (elapsed < want && ++guard < 1000000000) elapsed = ((hw::inl(port) & mask) - p0) & mask;
    uint64_t c1 = hw::rdtsc();
    if (elapsed < want) return 0;
    return (c1 - c0) * kPmTimerHz / elapsed;
}

uint64_t measure_hpet(uint64_t base) {
    if (!paging::map_mmio(base, 1024)) return 0;
    uint64_t caps = hw::mmio_read64(base);
    uint64_t period_fs = caps >> 32;  // femtoseconds per tick
    if (period_fs == 0 || period_fs > 100000000) return 0;
    uint64_t cfg = hw::mmio_read64(base + 0x10);
    if (!(cfg & 1)) hw::mmio_write64(base + 0x10, cfg | 1);  // enable the main counter
    uint64_t ticks = 10000000000000ull / period_fs;          // 10 ms in HPET ticks
    uint64_t h0 = hw::mmio_read64(base + 0xF0);
    uint64_t c0 = hw::rdtsc();
    uint64_t h1 = h0, guard = 0;
    while (h1 - h0 < ticks && ++guard < 1000000000) h1 = hw::mmio_read64(base + 0xF0);
    uint64_t c1 = hw::rdtsc();
    if (h1 - h0 < ticks) return 0;
    // cycles / (ticks * period_fs / 1e15)
    uint64_t elapsed_ns = (h1 - h0) * period_fs / 1000000;
    return elapsed_ns ? (c1 - c0) * 1000000000ull / elapsed_ns : 0;
}

}  // namespace

bool init(const Calibration& c) {
    ClockFacts facts;
    facts.reference_valid = c.reference_valid && c.reference_100ns != nullptr;
    facts.reference_tsc_hz = c.reference_tsc_hz;
    facts.stated_hz = c.known_hz;
    facts.stated_approximate = c.known_approximate;
    facts.kvmclock_valid = c.kvmclock_ns != nullptr;
    facts.kvmclock_tsc_hz = c.kvmclock_tsc_hz;
    facts.pm_timer = c.pm_timer_port != 0;
    facts.hpet = c.hpet_base != 0;
    facts.pit = c.pit_present;
    facts.hyperv = c.hyperv;
    const ClockPlan plan = plan_clock(facts);
    const char* pit_failure = nullptr;
    switch (plan.kind) {
    case ClockKind::Reference:
        hz = plan.tsc_hz;
        src = plan.hz_from_reference ? "Hyper-V reference TSC page (clock and frequency)"
                                     : "Hyper-V reference TSC page as the clock, frequency from the Hyper-V MSR/CPUID";
        break;
    case ClockKind::KvmClock:
        hz = plan.tsc_hz;
        src = c.kvmclock_source;
        break;
    case ClockKind::TscStated:
        hz = c.known_hz;
        src = c.known_source;
        if (c.known_approximate) {
            snprintf(src_buf, sizeof src_buf, "%s (approximate: no timer to measure against)", c.known_source);
            src = src_buf;
        }
        break;
    case ClockKind::TscMeasured:
        for (CalibrationTimer t : plan.measure) {
            if (hz) break;
            if (t == CalibrationTimer::PmTimer) {
                hz = measure_pm(c.pm_timer_port, c.pm_timer_32bit);
                if (hz) src = "measured against the ACPI PM timer";
            } else if (t == CalibrationTimer::Hpet) {
                hz = measure_hpet(c.hpet_base);
                if (hz) src = "measured against the HPET";
            } else if (t == CalibrationTimer::Pit) {
                const pit::Measurement m = pit::measure_tsc();
                hz = m.result == pit::Result::Ok ? m.tsc_hz : 0;
                if (hz) {
                    src = "measured against the PIT (channel 0, latched reads)";
                } else {
                    pit_failure = pit::result_text(m.result);
                }
            }
        }
        if (!hz && plan.fallback_hz) {
            hz = plan.fallback_hz;
            snprintf(src_buf, sizeof src_buf, "%s (approximate; measuring failed%s%s)", c.known_source,
                     pit_failure ? ": " : "", pit_failure ? pit_failure : "");
            src = src_buf;
        }
        break;
    case ClockKind::TscGuessed: break;
    }
    if (!hz) {
        hz = 1000000000;  // keeps the clock running; the boot log says it is a guess
        snprintf(src_buf, sizeof src_buf, "unknown (assuming 1 GHz): no PM timer, HPET or stated frequency%s%s",
                 pit_failure ? "; PIT: " : "", pit_failure ? pit_failure : "");
        src = src_buf;
    }
    ns_per_tsc_fp32 = (1000000000ull << 32) / hz;
    tsc_per_ns_fp32 = (hz / 1000000000ull << 32) + ((hz % 1000000000ull) << 32) / 1000000000ull;
    tsc0 = hw::rdtsc();
    if (plan.kind == ClockKind::Reference && c.reference_100ns(ref0)) ref_read = c.reference_100ns;
    if (plan.kind == ClockKind::KvmClock && c.kvmclock_ns(kvm0)) kvm_read = c.kvmclock_ns;
    is_ready = true;
    if (!apic::tsc_deadline()) {
        uint64_t ticks = apic::measure_timer_ticks(hz / 100);
        apic::set_timer_frequency(ticks * 100, hz);
    }
    return true;
}

bool ready() { return is_ready; }

uint64_t now_ns() {
    if (!is_ready) return 0;
    if (ref_read) {
        // The reference clock, kept monotonic across a switch from the page to the MSR (same time base) or,
        // when neither can be read any more, to the TSC.
        uint64_t r, ns;
        if (ref_read(r) && r >= ref0) {
            ns = (r - ref0) * 100;
        } else {
            ns = static_cast<uint64_t>((static_cast<unsigned __int128>(hw::rdtsc() - tsc0) * ns_per_tsc_fp32) >> 32);
        }
        if (ns < last_ns) ns = last_ns;
        last_ns = ns;
        return ns;
    }
    if (kvm_read) {
        // kvmclock's system time (kept monotonic by its reader); when the page would not settle, the TSC.
        uint64_t k, ns;
        if (kvm_read(k) && k >= kvm0) {
            ns = k - kvm0;
        } else {
            ns = static_cast<uint64_t>((static_cast<unsigned __int128>(hw::rdtsc() - tsc0) * ns_per_tsc_fp32) >> 32);
        }
        if (ns < last_ns) ns = last_ns;
        last_ns = ns;
        return ns;
    }
    uint64_t d = hw::rdtsc() - tsc0;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(d) * ns_per_tsc_fp32) >> 32);
}

uint64_t tsc_hz() { return hz; }
const char* source() { return src; }

uint64_t ns_to_tsc_delta(uint64_t ns) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(ns) * tsc_per_ns_fp32) >> 32);
}

void arm_deadline(uint64_t deadline_ns) {
    if (deadline_ns == 0) {
        apic::timer_disarm();
        return;
    }
    apic::timer_arm_tsc(tsc0 + ns_to_tsc_delta(deadline_ns));
}

void delay_us(uint64_t us) {
    uint64_t end = hw::rdtsc() + ns_to_tsc_delta(us * 1000);
    while (hw::rdtsc() < end) hw::pause();
}

void set_epoch_offset(int64_t seconds) { epoch = seconds; }
int64_t epoch_offset() { return epoch; }

}  // namespace skerry::time
