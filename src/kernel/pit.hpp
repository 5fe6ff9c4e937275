// The TSC frequency measured against the 8254 PIT's channel 0, read with counter-latch commands (ports 0x40 and
// 0x43 only). Port 0x61 (channel 2's gate and output, the PC speaker's port) is not used: QEMU's microvm has no
// speaker device, so that port reads 0xFF and a channel-2 measurement "finishes" at once with garbage.
// An absent PIT (every port reads 0xFF), a stuck one and an implausible result are each detected and reported
// instead of returning a number. docs/protocols/microvm-platform.md has the facts and their sources.
#pragma once

#include <stdint.h>

namespace skerry::pit {

inline constexpr uint64_t kHz = 1193182;    // the PIT's input clock
inline constexpr uint16_t kReload = 60000;  // channel 0's count in mode 2: a read above it (or 0) is not a PIT

enum class Result : uint8_t {
    Ok,
    Absent,       // the first latched read is not a count the PIT can hold (nothing at the ports: 0xFFFF)
    Stuck,        // the count never moved
    TooSlow,      // it moved, but the interval did not complete within the read budget
    Implausible,  // a TSC frequency outside 10 MHz .. 20 GHz
    Unstable,     // the runs disagree by more than 1%
};
const char* result_text(Result r);

struct Measurement {
    Result result = Result::Absent;
    uint64_t tsc_hz = 0;  // Ok: the measured frequency
    int runs = 0;         // measurement runs made
};

// Programs channel 0 (mode 2, count kReload), measures TSC cycles over `ms` milliseconds of PIT ticks (up to three
// runs until two agree within 0.5%), then leaves channel 0 in mode 0 with count 0 (one terminal count, then
// quiet). Uses hw::inb/outb/rdtsc only, so host tests drive it with a hw::Model.
Measurement measure_tsc(uint32_t ms = 20);

}  // namespace skerry::pit
