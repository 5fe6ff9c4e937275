// kvmclock (src/kernel/kvmclock.*) against a model of KVM's side: the KVM CPUID leaves, the system-time and
// wall-clock MSRs, and the pvclock pages KVM fills in guest memory. Each rule the model enforces or the test
// checks cites its source:
//   [msr]   Linux Documentation/virt/kvm/x86/msr.rst (MSR_KVM_SYSTEM_TIME_NEW / MSR_KVM_WALL_CLOCK_NEW: layout,
//           enable bit, version protocol, the time formula, wall clock + system time)
//   [cpuid] Linux Documentation/virt/kvm/x86/cpuid.rst (KVM_FEATURE_CLOCKSOURCE bit 0, CLOCKSOURCE2 bit 3,
//           CLOCKSOURCE_STABLE_BIT bit 24; leaf 0x40000000 EAX 0 meaning 0x40000001)
//   [pvclock] Linux arch/x86/kernel/pvclock.c and arch/x86/include/asm/pvclock.h (read retry while the version is odd
//           or changed, pvclock_tsc_khz, the last_value monotonic guard when TSC_STABLE is not trusted)
//   [kvmclock] Linux arch/x86/kernel/kvmclock.c (new MSRs with CLOCKSOURCE2 else the old 0x11/0x12, the stable
//           flag trusted only with the feature bit, the clock disabled at shutdown)
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <vector>

#include "kernel/kvmclock.hpp"

using namespace skerry;
using cpu_info::CpuidSource;
using hw::CpuidResult;

namespace {

constexpr uint64_t kRamBase = 0x100000, kRamSize = 0x10000;
constexpr uint64_t kPage = kRamBase + 0x1000, kWall = kRamBase + 0x1040;

uint32_t sig(const char* s) {
    uint32_t v;
    memcpy(&v, s, 4);
    return v;
}

class KvmModel final : public CpuidSource, public hw::Model {
public:
    // CPUID
    bool kvm = true;
    bool behind_hyperv = false;  // KVM's leaves at 0x40000100, Hyper-V's at 0x40000000
    uint32_t features = kvmclock::kFeatureClocksource2 | kvmclock::kFeatureClocksourceStable;
    // What KVM puts in the page: a 2.5 GHz TSC (kvm_get_time_scale gives shift -1, mul 0.8 * 2^32).
    uint64_t tsc_timestamp = 1000000, system_time = 5000000000ull;
    uint32_t mul = 3435973837u;
    int8_t shift = -1;
    uint8_t flags = kvmclock::kFlagTscStable;
    bool host_fills = true;  // false: KVM ignores the MSR (a broken host), the page stays zero
    uint32_t wall_sec = 1795603956, wall_nsec = 500000000;
    // Time and hooks
    uint64_t tsc = 1000000;
    std::function<void()> on_rdtsc;
    std::vector<std::pair<uint32_t, uint64_t>> msr_writes;
    std::vector<uint8_t> ram = std::vector<uint8_t>(kRamSize, 0);
    uint64_t page = 0;  // enabled page, 0 = none
    uint32_t version = 0;

    CpuidResult cpuid(uint32_t leaf, uint32_t) const override {
        const uint32_t kvm_base = behind_hyperv ? 0x40000100 : 0x40000000;
        if (leaf == 0) return {1, sig("Genu"), sig("ntel"), sig("ineI")};
        if (leaf == 1) return {0x306A9, 0, 1u << 31, 0};
        if (leaf == 0x80000000) return {0, 0, 0, 0};
        if (behind_hyperv && leaf == 0x40000000) return {0x40000005, sig("Micr"), sig("osof"), sig("t Hv")};
        if (leaf == kvm_base) {
            if (!kvm) return {0x40000001, sig("TCGT"), sig("CGTC"), sig("GTCG")};
            return {0, sig("KVMK"), sig("VMKV"), sig("M\0\0\0")};  // EAX 0 = 0x40000001 [cpuid]
        }
        if (leaf == kvm_base + 1) return {features, 0, 0, 0};
        return {0, 0, 0, 0};
    }
    CpuidResult cpuid(uint32_t leaf, uint32_t sub) override {
        return static_cast<const KvmModel*>(this)->cpuid(leaf, sub);
    }

    void* phys_to_host(uint64_t phys, size_t len) override {
        if (phys < kRamBase || phys - kRamBase > kRamSize || len > kRamSize - (phys - kRamBase)) return nullptr;
        return ram.data() + (phys - kRamBase);
    }
    uint64_t rdtsc() override {
        if (on_rdtsc) on_rdtsc();
        return tsc;
    }
    void wrmsr(uint32_t msr, uint64_t v) override {
        msr_writes.push_back({msr, v});
        const bool new_msrs = features & kvmclock::kFeatureClocksource2;
        const uint32_t system_msr = new_msrs ? kvmclock::kMsrSystemTimeNew : kvmclock::kMsrSystemTimeOld;
        const uint32_t wall_msr = new_msrs ? kvmclock::kMsrWallClockNew : kvmclock::kMsrWallClockOld;
        if (msr == system_msr) {
            // Bit 0 enables; the rest is the 4-byte aligned guest-physical address [msr].
            page = (v & 1) ? (v & ~1ull) : 0;
            if (page && host_fills) update();
        } else if (msr == wall_msr) {
            // Filled at the moment of the write, under its own version [msr].
            uint8_t* w = static_cast<uint8_t*>(phys_to_host(v, 12));
            ASSERT_NE(w, nullptr);
            const uint32_t wv = 2;
            memcpy(w, &wv, 4);
            memcpy(w + 4, &wall_sec, 4);
            memcpy(w + 8, &wall_nsec, 4);
        } else {
            ADD_FAILURE() << "unexpected MSR write 0x" << std::hex << msr;
        }
    }
    // KVM's update of the page: version odd, fields, version even [msr] [pvclock-abi.h].
    void update() {
        uint8_t* p = static_cast<uint8_t*>(phys_to_host(page, 32));
        ASSERT_NE(p, nullptr);
        set_version(version + 1);
        memcpy(p + 8, &tsc_timestamp, 8);
        memcpy(p + 16, &system_time, 8);
        memcpy(p + 24, &mul, 4);
        memcpy(p + 28, &shift, 1);
        memcpy(p + 29, &flags, 1);
        set_version(version + 1);
    }
    void set_version(uint32_t v) {
        version = v;
        memcpy(static_cast<uint8_t*>(phys_to_host(page, 32)), &v, 4);
    }
};

class KvmClockTest : public ::testing::Test {
protected:
    KvmModel kvm;
    void SetUp() override { hw::set_model(&kvm); }
    void TearDown() override { hw::set_model(nullptr); }
    kvmclock::Support support() { return kvmclock::detect(cpu_info::identify(kvm), kvm); }
};

TEST_F(KvmClockTest, DetectsFromTheKvmLeaves) {
    kvmclock::Support s = support();
    EXPECT_TRUE(s.available);
    EXPECT_EQ(s.base, 0x40000000u);
    EXPECT_EQ(s.system_time_msr, 0x4b564d01u);  // CLOCKSOURCE2: the new MSRs [kvmclock]
    EXPECT_EQ(s.wall_clock_msr, 0x4b564d00u);
    EXPECT_TRUE(s.stable_bit_trusted);

    kvm.features = kvmclock::kFeatureClocksource;  // only the old interface
    s = support();
    EXPECT_TRUE(s.available);
    EXPECT_EQ(s.system_time_msr, 0x12u);
    EXPECT_EQ(s.wall_clock_msr, 0x11u);
    EXPECT_FALSE(s.stable_bit_trusted);

    kvm.features = 0;  // KVM without kvmclock
    EXPECT_FALSE(support().available);

    kvm.features = kvmclock::kFeatureClocksource2;
    kvm.kvm = false;  // QEMU TCG: no KVM leaves
    EXPECT_FALSE(support().available);

    kvm.kvm = true;
    kvm.behind_hyperv = true;  // QEMU/KVM with Hyper-V enlightenments: KVM's leaves one block up
    s = support();
    EXPECT_TRUE(s.available);
    EXPECT_EQ(s.base, 0x40000100u);
}

TEST(KvmClockMath, ScaleAndFrequency) {
    // The formula of msr.rst: (delta << shift, or >> -shift) * mul >> 32.
    EXPECT_EQ(kvmclock::scale_delta(1000, 1u << 31, 0), 500u);
    EXPECT_EQ(kvmclock::scale_delta(1000, 1u << 31, 1), 1000u);
    EXPECT_EQ(kvmclock::scale_delta(1000, 1u << 31, -1), 250u);
    EXPECT_EQ(kvmclock::scale_delta(~0ull, 0xFFFFFFFFu, 0), 0xFFFFFFFEFFFFFFFFull);  // 128-bit product, no overflow
    EXPECT_EQ(kvmclock::scale_delta(5, 1u << 31, 100), 0u);                          // silly shifts are not UB
    EXPECT_EQ(kvmclock::scale_delta(5, 1u << 31, -100), 0u);
    // pvclock_tsc_khz: (10^9 << 32) / mul, shifted the other way.
    EXPECT_NEAR(static_cast<double>(kvmclock::tsc_hz_from_scale(3435973837u, -1)), 2.5e9, 1e3);
    EXPECT_NEAR(static_cast<double>(kvmclock::tsc_hz_from_scale(2147483648u, 0)), 2e9, 1);  // 0.5 ns per cycle
    EXPECT_EQ(kvmclock::tsc_hz_from_scale(0, 0), 0u);
    EXPECT_EQ(kvmclock::tsc_hz_from_scale(1, -40), 0u);  // would overflow: refused
}

TEST_F(KvmClockTest, EnableReadsTheClockAndFrequency) {
    kvmclock::Clock c;
    ASSERT_TRUE(c.enable(support(), kPage));
    ASSERT_FALSE(kvm.msr_writes.empty());
    EXPECT_EQ(kvm.msr_writes[0].first, 0x4b564d01u);
    EXPECT_EQ(kvm.msr_writes[0].second, kPage | 1);  // address | enable [msr]
    EXPECT_NEAR(static_cast<double>(c.tsc_hz()), 2.5e9, 1e3);
    EXPECT_TRUE(c.stable());
    kvm.tsc = kvm.tsc_timestamp + 2500000000ull;  // one second of TSC later
    uint64_t ns = 0;
    ASSERT_TRUE(c.now(ns));
    EXPECT_NEAR(static_cast<double>(ns), 6e9, 2);  // system_time 5 s + 1 s
    c.disable();
    EXPECT_EQ(kvm.msr_writes.back().first, 0x4b564d01u);
    EXPECT_EQ(kvm.msr_writes.back().second, 0u);  // disabled: KVM stops writing the page [kvmclock]
    EXPECT_EQ(kvm.page, 0u);
}

TEST_F(KvmClockTest, RetriesWhileKvmUpdatesThePage) {
    kvmclock::Clock c;
    ASSERT_TRUE(c.enable(support(), kPage));
    // An update caught half-way: the first read sees an odd version, the second sees the version change under it.
    int calls = 0;
    kvm.on_rdtsc = [&] {
        ++calls;
        if (calls == 1) {
            kvm.set_version(kvm.version + 1);  // odd: update in progress
        } else if (calls == 2) {
            kvm.system_time = 7000000000ull;  // the update lands: new values, version even again
            kvm.tsc_timestamp = kvm.tsc;
            memcpy(kvm.ram.data() + (kPage - kRamBase) + 8, &kvm.tsc_timestamp, 8);
            memcpy(kvm.ram.data() + (kPage - kRamBase) + 16, &kvm.system_time, 8);
            kvm.set_version(kvm.version + 1);
        }
    };
    uint64_t ns = 0;
    ASSERT_TRUE(c.now(ns));
    EXPECT_GE(calls, 3);           // read, retried, retried [pvclock]
    EXPECT_EQ(ns, 7000000000ull);  // only the consistent new snapshot is used
}

TEST_F(KvmClockTest, APageThatNeverSettlesIsNotUsed) {
    kvmclock::Clock c;
    ASSERT_TRUE(c.enable(support(), kPage));
    kvm.set_version(kvm.version + 1);  // odd forever
    uint64_t ns = 123;
    EXPECT_FALSE(c.now(ns));  // bounded (kMaxRetries), the caller falls back to the TSC
    kvmclock::Clock d;
    kvm.msr_writes.clear();
    kvm.host_fills = false;  // the host keeps the odd version: enable gives up and turns it off again
    EXPECT_FALSE(d.enable(support(), kPage));
    EXPECT_EQ(kvm.msr_writes.back().second, 0u);
}

TEST_F(KvmClockTest, AnUnfilledOrInsanePageIsRefused) {
    kvm.host_fills = false;  // version stays 0, mul 0
    kvmclock::Clock c;
    EXPECT_FALSE(c.enable(support(), kPage));
    EXPECT_EQ(kvm.msr_writes.back().second, 0u);
    EXPECT_FALSE(c.enabled());
    kvm.host_fills = true;
    kvm.mul = 1;  // about 4 * 10^18 Hz: not a TSC
    kvm.shift = 0;
    EXPECT_FALSE(c.enable(support(), kPage));
    kvm.msr_writes.clear();
    EXPECT_FALSE(c.enable(support(), kPage + 4));  // not 32-byte aligned: never written to the MSR
    EXPECT_TRUE(kvm.msr_writes.empty());
    kvm.features = 0;
    EXPECT_FALSE(c.enable(support(), kPage));  // not offered
}

TEST_F(KvmClockTest, MonotonicUnlessTheStableFlagIsTrusted) {
    kvm.flags = 0;  // TSC_STABLE not set: the guest keeps time from going back itself [pvclock]
    kvmclock::Clock c;
    ASSERT_TRUE(c.enable(support(), kPage));
    EXPECT_FALSE(c.stable());
    kvm.tsc = kvm.tsc_timestamp + 2500000;  // +1 ms
    uint64_t a = 0, b = 0;
    ASSERT_TRUE(c.now(a));
    kvm.system_time -= 500000;  // the host's new snapshot is 0.5 ms behind
    kvm.update();
    ASSERT_TRUE(c.now(b));
    EXPECT_EQ(b, a);
    // Stable flag without the feature bit is not trusted either [kvmclock].
    kvm.flags = kvmclock::kFlagTscStable;
    kvm.features = kvmclock::kFeatureClocksource2;
    kvmclock::Clock d;
    ASSERT_TRUE(d.enable(support(), kPage));
    EXPECT_FALSE(d.stable());
}

TEST_F(KvmClockTest, WallClockIsBootTimePlusSystemTime) {
    kvmclock::Clock c;
    ASSERT_TRUE(c.enable(support(), kPage));
    kvm.tsc = kvm.tsc_timestamp + 2500000000ull * 3 / 4;  // system time 5.75 s
    int64_t sec = 0;
    uint32_t nsec = 0;
    ASSERT_TRUE(c.wall_clock(kWall, sec, nsec));
    EXPECT_EQ(kvm.msr_writes.back().first, 0x4b564d00u);
    EXPECT_EQ(kvm.msr_writes.back().second, kWall);
    // 1795603956.5 + 5.75 = 1795603962.25
    EXPECT_EQ(sec, 1795603962);
    EXPECT_NEAR(nsec, 250000000u, 2);
    EXPECT_FALSE(c.wall_clock(kWall + 2, sec, nsec));  // not 4-byte aligned
}

}  // namespace
