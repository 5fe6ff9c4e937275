// TSC frequency against PIT channel 0 (see pit.hpp).
#include "kernel/pit.hpp"

#include "hw/hw.hpp"

namespace skerry::pit {
namespace {

constexpr uint16_t kChannel0 = 0x40, kCommand = 0x43;
// Command bytes (8254 data sheet, control word): SC1-0 channel, RW1-0 access (11b = low then high byte),
// M2-0 mode, BCD = 0 binary. 0x34: channel 0, lo/hi, mode 2 (rate generator). 0x30: channel 0, lo/hi, mode 0
// (interrupt on terminal count). 0x00: counter-latch command for channel 0.
constexpr uint8_t kMode2 = 0x34, kMode0 = 0x30, kLatch0 = 0x00;
constexpr uint32_t kStuckReads = 200000;     // reads without a change: the counter does not run
constexpr uint32_t kMaxReads = 20000000;     // reads per run, whatever happens
constexpr uint64_t kMinHz = 10000000ull;     // 10 MHz
constexpr uint64_t kMaxHz = 20000000000ull;  // 20 GHz

uint16_t latched_count() {
    hw::outb(kCommand, kLatch0);
    const uint8_t lo = hw::inb(kChannel0);
    const uint8_t hi = hw::inb(kChannel0);
    return static_cast<uint16_t>(lo | (hi << 8));
}

bool valid(uint16_t c) { return c != 0 && c <= kReload; }

struct Run {
    Result result;
    uint64_t hz;
};

Run run_once(uint32_t ticks_wanted) {
    uint16_t prev = latched_count();
    if (!valid(prev)) return {Result::Absent, 0};
    // Start on a tick edge, so the first TSC read lines up with a count change.
    uint32_t same = 0;
    uint16_t cur = prev;
    while (cur == prev) {
        if (++same > kStuckReads) return {Result::Stuck, 0};
        cur = latched_count();
    }
    if (!valid(cur)) return {Result::Absent, 0};
    const uint64_t c0 = hw::rdtsc();
    prev = cur;
    uint64_t elapsed = 0;
    same = 0;
    for (uint32_t reads = 0; elapsed < ticks_wanted; ++reads) {
        if (reads >= kMaxReads) return {Result::TooSlow, 0};
        cur = latched_count();
        if (!valid(cur)) return {Result::Absent, 0};
        if (cur == prev) {
            if (++same > kStuckReads) return {Result::Stuck, 0};
            continue;
        }
        same = 0;
        // Mode 2 counts kReload .. 1 and reloads: a larger value than before means it wrapped once.
        elapsed += prev > cur ? prev - cur : prev + kReload - cur;
        prev = cur;
    }
    const uint64_t c1 = hw::rdtsc();
    const uint64_t hz = static_cast<uint64_t>(static_cast<unsigned __int128>(c1 - c0) * kHz / (elapsed ? elapsed : 1));
    if (hz < kMinHz || hz > kMaxHz) return {Result::Implausible, hz};
    return {Result::Ok, hz};
}

bool agree(uint64_t a, uint64_t b) {
    const uint64_t d = a > b ? a - b : b - a;
    return d * 200 <= (a > b ? a : b);  // within 0.5%
}

}  // namespace

const char* result_text(Result r) {
    switch (r) {
    case Result::Ok: return "ok";
    case Result::Absent: return "no PIT answers (channel 0 reads back no valid count)";
    case Result::Stuck: return "the PIT's count does not move";
    case Result::TooSlow: return "the PIT's count moves too slowly to finish the measurement";
    case Result::Implausible: return "the result is implausible (outside 10 MHz .. 20 GHz)";
    case Result::Unstable: return "the runs disagree by more than 1%";
    }
    return "?";
}

Measurement measure_tsc(uint32_t ms) {
    Measurement m;
    const uint32_t ticks = static_cast<uint32_t>(kHz * (ms ? ms : 1) / 1000);
    hw::outb(kCommand, kMode2);
    hw::outb(kChannel0, static_cast<uint8_t>(kReload & 0xFF));
    hw::outb(kChannel0, static_cast<uint8_t>(kReload >> 8));
    uint64_t hz[3] = {};
    for (int i = 0; i < 3; ++i) {
        const Run r = run_once(ticks);
        m.runs = i + 1;
        if (r.result != Result::Ok) {
            m.result = r.result;
            m.tsc_hz = 0;
            break;
        }
        hz[i] = r.hz;
        if (i > 0 && agree(hz[i], hz[i - 1])) {
            m.result = Result::Ok;
            m.tsc_hz = (hz[i] + hz[i - 1]) / 2;
            break;
        }
        if (i == 2) {
            // Three runs and no two neighbours agree: take the middle value if it is within 1% of another.
            uint64_t lo = hz[0], mid = hz[1], hi = hz[2];
            if (lo > mid) {
                uint64_t t = lo;
                lo = mid;
                mid = t;
            }
            if (mid > hi) {
                uint64_t t = mid;
                mid = hi;
                hi = t;
            }
            if (lo > mid) {
                uint64_t t = lo;
                lo = mid;
                mid = t;
            }
            const bool ok = (mid - lo) * 100 <= mid || (hi - mid) * 100 <= mid;
            m.result = ok ? Result::Ok : Result::Unstable;
            m.tsc_hz = ok ? mid : 0;
        }
    }
    // Quiet channel 0 again (mode 0, count 0: one terminal count, then nothing), as Linux does when it stops
    // using the PIT as its clock event device.
    hw::outb(kCommand, kMode0);
    hw::outb(kChannel0, 0);
    hw::outb(kChannel0, 0);
    return m;
}

}  // namespace skerry::pit
