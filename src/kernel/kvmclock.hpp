// kvmclock: KVM's paravirtual clock (the pvclock page), used as the clock under KVM (Firecracker,
// cloud-hypervisor, QEMU/KVM) when the KVM CPUID leaves offer it, the way Linux does there.
//
// The guest gives KVM the physical address of a 32-byte pvclock_vcpu_time_info (MSR_KVM_SYSTEM_TIME_NEW,
// 0x4b564d01, bit 0 = enable); KVM keeps it filled with (tsc_timestamp, system_time, tsc_to_system_mul,
// tsc_shift, flags) under a version counter that is odd while an update is in progress. Time in nanoseconds is
//     system_time + (((tsc - tsc_timestamp) << or >> shift) * mul) >> 32
// and the TSC frequency follows from mul and shift. The wall clock at system time 0 comes from
// MSR_KVM_WALL_CLOCK_NEW (0x4b564d00, a 12-byte pvclock_wall_clock filled at the moment of the write).
// Sources (docs/protocols/microvm-platform.md says which rule comes from where): Linux
// Documentation/virt/kvm/x86/msr.rst and cpuid.rst, arch/x86/kernel/kvmclock.c, arch/x86/kernel/pvclock.c,
// arch/x86/include/asm/pvclock.h and pvclock-abi.h.
//
// Memory is read through hw::phys_to_virt (host tests: the installed hw::Model), the MSRs and CPUID through hw::.
#pragma once

#include <stdint.h>

#include "kernel/cpu_info.hpp"

namespace skerry::kvmclock {

inline constexpr uint32_t kMsrWallClockNew = 0x4b564d00;
inline constexpr uint32_t kMsrSystemTimeNew = 0x4b564d01;
inline constexpr uint32_t kMsrWallClockOld = 0x11;  // before KVM_FEATURE_CLOCKSOURCE2
inline constexpr uint32_t kMsrSystemTimeOld = 0x12;

// CPUID 0x40000001 EAX (KVM features), relative to the KVM leaf base.
inline constexpr uint32_t kFeatureClocksource = 1u << 0;
inline constexpr uint32_t kFeatureClocksource2 = 1u << 3;
inline constexpr uint32_t kFeatureClocksourceStable = 1u << 24;

// pvclock_vcpu_time_info.flags
inline constexpr uint8_t kFlagTscStable = 1u << 0;
inline constexpr uint8_t kFlagGuestStopped = 1u << 1;

inline constexpr uint32_t kPageSize = 32;       // pvclock_vcpu_time_info
inline constexpr uint32_t kWallClockSize = 12;  // pvclock_wall_clock
inline constexpr int kMaxRetries = 1000;        // reads of a page whose version keeps changing

struct Support {
    bool available = false;        // KVM signature and a clocksource feature bit
    uint32_t base = 0;             // the KVM leaf base (0x40000000, or 0x40000100 behind Hyper-V's interface)
    uint32_t features = 0;         // CPUID base+1 EAX
    uint32_t system_time_msr = 0;  // the new MSR when CLOCKSOURCE2 is offered, else the old one
    uint32_t wall_clock_msr = 0;
    bool stable_bit_trusted = false;  // KVM_FEATURE_CLOCKSOURCE_STABLE_BIT: the page's TSC_STABLE flag means it
};
Support detect(const cpu_info::CpuInfo& info, const cpu_info::CpuidSource& cpu);

// One consistent copy of the page.
struct Snapshot {
    uint32_t version;
    uint64_t tsc_timestamp;
    uint64_t system_time;
    uint32_t mul;
    int8_t shift;
    uint8_t flags;
};

// ((delta << shift or >> -shift) * mul) >> 32, in 128-bit arithmetic.
uint64_t scale_delta(uint64_t delta, uint32_t mul, int8_t shift);
// The TSC frequency the scale implies: (10^9 << 32) / mul, then shifted the other way. 0 for mul == 0.
uint64_t tsc_hz_from_scale(uint32_t mul, int8_t shift);
// The page's time at TSC value `tsc`.
uint64_t time_at(const Snapshot& s, uint64_t tsc);

// Reads the page at page_phys with the version protocol (retry while the version is odd or changed; at most
// kMaxRetries tries); `tsc` is read inside the same window. False when it never settled or cannot be mapped.
bool read(uint64_t page_phys, Snapshot& s, uint64_t& tsc);

// The clock: one page, enabled once.
class Clock {
public:
    // Writes page_phys | 1 to the system-time MSR and checks that KVM filled the page (an even, non-zero
    // version and a non-zero multiplier giving a plausible frequency). page_phys: 32-byte aligned guest RAM.
    // On failure the MSR is written 0 again (disabled) and false is returned.
    bool enable(const Support& s, uint64_t page_phys);
    bool enabled() const { return enabled_; }
    // Nanoseconds of kvmclock system time, never going backwards. False when the page would not settle.
    bool now(uint64_t& ns);
    uint64_t tsc_hz() const { return tsc_hz_; }
    // The page said TSC_STABLE at enable time and the feature bit says the flag can be trusted.
    bool stable() const { return stable_; }
    // Wall clock now: writes wall_phys to the wall-clock MSR, reads the boot wall time under its version, adds the
    // current system time. wall_phys: 4-byte aligned guest RAM, kWallClockSize bytes.
    bool wall_clock(uint64_t wall_phys, int64_t& unix_sec, uint32_t& nsec);
    void disable();

private:
    Support support_{};
    uint64_t page_ = 0;
    uint64_t tsc_hz_ = 0;
    uint64_t last_ns_ = 0;
    bool enabled_ = false;
    bool stable_ = false;
};

}  // namespace skerry::kvmclock
