// kvmclock (see kvmclock.hpp).
#include "kernel/kvmclock.hpp"

#include "hw/hw.hpp"

namespace skerry::kvmclock {
namespace {

// pvclock_vcpu_time_info offsets.
constexpr uint32_t kVersion = 0, kTscTimestamp = 8, kSystemTime = 16, kMul = 24, kShift = 28, kFlags = 29;
// pvclock_wall_clock offsets.
constexpr uint32_t kWallVersion = 0, kWallSec = 4, kWallNsec = 8;
constexpr uint64_t kMinHz = 10000000ull, kMaxHz = 20000000000ull;

uint32_t load32(const volatile uint8_t* p, uint32_t off) {
    return *reinterpret_cast<const volatile uint32_t*>(p + off);
}
uint64_t load64(const volatile uint8_t* p, uint32_t off) {
    return *reinterpret_cast<const volatile uint64_t*>(p + off);
}
uint8_t load8(const volatile uint8_t* p, uint32_t off) { return p[off]; }

const volatile uint8_t* map(uint64_t phys, uint32_t len) {
    return static_cast<const volatile uint8_t*>(hw::phys_to_virt(phys, len));
}

}  // namespace

Support detect(const cpu_info::CpuInfo& info, const cpu_info::CpuidSource& cpu) {
    Support s;
    uint32_t base = 0, max_leaf = 0;
    if (info.hypervisor == cpu_info::Hypervisor::Kvm) {
        base = 0x40000000;
        max_leaf = info.hypervisor_max_leaf;
    } else if (info.hypervisor_alt == cpu_info::Hypervisor::Kvm) {
        base = info.hypervisor_alt_base;
        max_leaf = cpu.cpuid(base, 0).eax;
        if (max_leaf == 0) max_leaf = base + 1;  // KVM's leaf 0 EAX of 0 means base + 1 (cpuid.rst)
    }
    if (base == 0 || max_leaf < base + 1) return s;
    s.base = base;
    s.features = cpu.cpuid(base + 1, 0).eax;
    if (s.features & kFeatureClocksource2) {
        s.system_time_msr = kMsrSystemTimeNew;
        s.wall_clock_msr = kMsrWallClockNew;
    } else if (s.features & kFeatureClocksource) {
        s.system_time_msr = kMsrSystemTimeOld;
        s.wall_clock_msr = kMsrWallClockOld;
    } else {
        return s;
    }
    s.available = true;
    s.stable_bit_trusted = (s.features & kFeatureClocksourceStable) != 0;
    return s;
}

uint64_t scale_delta(uint64_t delta, uint32_t mul, int8_t shift) {
    if (shift < 0) delta >>= (shift <= -64 ? 63 : -shift);
    else if (shift > 0) delta = shift >= 64 ? 0 : delta << shift;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * mul) >> 32);
}

uint64_t tsc_hz_from_scale(uint32_t mul, int8_t shift) {
    if (mul == 0) return 0;
    uint64_t hz = (1000000000ull << 32) / mul;
    if (shift < 0) {
        const int s = -shift;
        if (s >= 63 || hz > (~0ull >> s)) return 0;  // would overflow: not a real scale
        hz <<= s;
    } else {
        hz = shift >= 64 ? 0 : hz >> shift;
    }
    return hz;
}

uint64_t time_at(const Snapshot& s, uint64_t tsc) {
    return s.system_time + scale_delta(tsc - s.tsc_timestamp, s.mul, s.shift);
}

bool read(uint64_t page_phys, Snapshot& s, uint64_t& tsc) {
    const volatile uint8_t* p = map(page_phys, kPageSize);
    if (!p) return false;
    for (int i = 0; i < kMaxRetries; ++i) {
        const uint32_t v = load32(p, kVersion);
        hw::compiler_barrier();  // x86 keeps loads in order; the compiler must too
        s.tsc_timestamp = load64(p, kTscTimestamp);
        s.system_time = load64(p, kSystemTime);
        s.mul = load32(p, kMul);
        s.shift = static_cast<int8_t>(load8(p, kShift));
        s.flags = load8(p, kFlags);
        tsc = hw::rdtsc_ordered();
        hw::compiler_barrier();
        if ((v & 1) == 0 && load32(p, kVersion) == v) {
            s.version = v;
            return true;
        }
        hw::pause();
    }
    return false;
}

bool Clock::enable(const Support& s, uint64_t page_phys) {
    enabled_ = false;
    if (!s.available || s.system_time_msr == 0 || (page_phys & (kPageSize - 1)) != 0) return false;
    support_ = s;
    page_ = page_phys;
    hw::wrmsr(s.system_time_msr, page_phys | 1);
    Snapshot snap;
    uint64_t tsc;
    if (!read(page_phys, snap, tsc) || snap.version == 0 || snap.mul == 0) {
        hw::wrmsr(s.system_time_msr, 0);
        return false;
    }
    tsc_hz_ = tsc_hz_from_scale(snap.mul, snap.shift);
    if (tsc_hz_ < kMinHz || tsc_hz_ > kMaxHz) {
        hw::wrmsr(s.system_time_msr, 0);
        tsc_hz_ = 0;
        return false;
    }
    stable_ = s.stable_bit_trusted && (snap.flags & kFlagTscStable);
    last_ns_ = 0;
    enabled_ = true;
    return true;
}

bool Clock::now(uint64_t& ns) {
    if (!enabled_) return false;
    Snapshot snap;
    uint64_t tsc;
    if (!read(page_, snap, tsc)) return false;
    uint64_t t = time_at(snap, tsc);
    // Without a trusted TSC_STABLE flag Linux keeps the result monotonic itself (pvclock_clocksource_read's
    // last_value); one CPU needs no atomics for that.
    if (!(support_.stable_bit_trusted && (snap.flags & kFlagTscStable)) && t < last_ns_) t = last_ns_;
    last_ns_ = t;
    ns = t;
    return true;
}

bool Clock::wall_clock(uint64_t wall_phys, int64_t& unix_sec, uint32_t& nsec) {
    if (!enabled_ || support_.wall_clock_msr == 0 || (wall_phys & 3) != 0) return false;
    const volatile uint8_t* w = map(wall_phys, kWallClockSize);
    if (!w) return false;
    hw::wrmsr(support_.wall_clock_msr, wall_phys);
    uint32_t sec = 0, ns = 0;
    bool ok = false;
    for (int i = 0; i < kMaxRetries && !ok; ++i) {
        const uint32_t v = load32(w, kWallVersion);
        hw::compiler_barrier();
        sec = load32(w, kWallSec);
        ns = load32(w, kWallNsec);
        hw::compiler_barrier();
        ok = (v & 1) == 0 && load32(w, kWallVersion) == v;
    }
    uint64_t sys = 0;
    if (!ok || !now(sys)) return false;
    const uint64_t total_ns = static_cast<uint64_t>(ns) + sys % 1000000000ull;
    unix_sec = static_cast<int64_t>(sec) + static_cast<int64_t>(sys / 1000000000ull + total_ns / 1000000000ull);
    nsec = static_cast<uint32_t>(total_ns % 1000000000ull);
    return true;
}

void Clock::disable() {
    if (enabled_) hw::wrmsr(support_.system_time_msr, 0);
    enabled_ = false;
}

}  // namespace skerry::kvmclock
