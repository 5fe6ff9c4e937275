// Monotonic time from the TSC, and one-shot timer deadlines on the local APIC.
#pragma once

#include <stdint.h>

namespace skerry::time {

struct Calibration {
    uint64_t known_hz = 0;           // from CPUID 0x15 / 0x16 / 0x40000010 / Hyper-V MSR, 0 = measure it
    const char* known_source = "";   // where known_hz came from
    bool known_approximate = false;  // known_hz is CPUID 0x16's base frequency: measure first, use it only then
    uint16_t pm_timer_port = 0;      // ACPI PM timer (3.579545 MHz), 0 = absent
    bool pm_timer_32bit = false;
    uint64_t hpet_base = 0;   // HPET MMIO base, 0 = absent
    bool pit_present = true;  // a PIT may answer: probed, an absent one is detected (never tried under Hyper-V)
    bool hyperv = false;      // under Hyper-V: never calibrate against the PIT
    // A hypervisor reference clock in 100 ns units (Hyper-V partition reference time), false when it cannot
    // be read right now; reference_valid says it could be read at boot. See clock_plan.hpp for the choice.
    bool (*reference_100ns)(uint64_t& out) = nullptr;
    bool reference_valid = false;
    uint64_t reference_tsc_hz = 0;  // the TSC frequency the reference clock implies
    // KVM's kvmclock, enabled by the caller: nanoseconds of its system time (false when the page would not settle
    // right now), and the TSC frequency its scale implies. kvmclock_source names it for the log.
    bool (*kvmclock_ns)(uint64_t& out) = nullptr;
    uint64_t kvmclock_tsc_hz = 0;
    const char* kvmclock_source = "";
};

// Establishes the TSC frequency (known or measured) and starts the clock at zero.
bool init(const Calibration& c);
bool ready();

uint64_t now_ns();  // monotonic nanoseconds since time::init
uint64_t tsc_hz();
const char* source();  // e.g. "CPUID 0x15", "ACPI PM timer"
uint64_t ns_to_tsc_delta(uint64_t ns);

// Program the one-shot hardware timer to fire at (or soon after) the given now_ns() deadline;
// 0 disarms it. Used by the event loop before it halts.
void arm_deadline(uint64_t deadline_ns);

// Busy-wait (early boot, device resets that need microsecond delays).
void delay_us(uint64_t us);

// Wall-clock offset (seconds since the epoch at time zero), read from the CMOS RTC when present.
void set_epoch_offset(int64_t seconds);
int64_t epoch_offset();

}  // namespace skerry::time
