// CPU facts: fake CPUID tables for bare metal and each hypervisor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "hw/hw.hpp"
#include "kernel/cpu_info.hpp"

using namespace skerry::cpu_info;
using skerry::hw::CpuidResult;

namespace {

uint32_t bits(std::initializer_list<int> list) {
    uint32_t v = 0;
    for (int b : list) v |= 1u << b;
    return v;
}

uint32_t reg(const char* four) {
    uint32_t v;
    std::memcpy(&v, four, 4);
    return v;
}

// A CPU given as a table of leaves; unlisted leaves read as zeros. Also a hw::Model, for the hw-layer path.
class FakeCpu final : public CpuidSource, public skerry::hw::Model {
public:
    std::map<std::pair<uint32_t, uint32_t>, CpuidResult> leaves;
    std::map<uint32_t, uint64_t> msrs;
    mutable std::set<uint32_t> queried;

    void set(uint32_t leaf, CpuidResult r, uint32_t sub = 0) { leaves[{leaf, sub}] = r; }
    CpuidResult cpuid(uint32_t leaf, uint32_t sub) const override {
        queried.insert(leaf);
        auto it = leaves.find({leaf, sub});
        return it == leaves.end() ? CpuidResult{0, 0, 0, 0} : it->second;
    }
    CpuidResult cpuid(uint32_t leaf, uint32_t sub) override {
        return static_cast<const FakeCpu*>(this)->cpuid(leaf, sub);
    }
    uint64_t rdmsr(uint32_t msr) override {
        auto it = msrs.find(msr);
        if (it == msrs.end()) ADD_FAILURE() << "unexpected rdmsr " << std::hex << msr;
        return it == msrs.end() ? 0 : it->second;
    }

    void brand(const char* s) {  // 48 bytes over leaves 0x80000002..4
        char b[48] = {};
        std::memcpy(b, s, std::min<size_t>(std::strlen(s), 48));  // 48 bytes need not include a NUL
        for (uint32_t i = 0; i < 3; i++) {
            uint32_t r[4];
            std::memcpy(r, b + 16 * i, 16);
            set(0x80000002 + i, {r[0], r[1], r[2], r[3]});
        }
    }
    void hypervisor(const char sig[12], uint32_t max_leaf, uint32_t base = 0x40000000) {
        set(base, {max_leaf, reg(sig), reg(sig + 4), reg(sig + 8)});
        leaves[{1, 0}].ecx |= 1u << 31;
    }
    bool queried_hypervisor_leaves() const {
        for (uint32_t l : queried)
            if (l >= 0x40000000 && l < 0x50000000) return true;
        return false;
    }
};

const uint32_t kLeaf1Ecx = bits({0, 1, 9, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30});
const uint32_t kLeaf1Edx = bits({4, 5, 9, 16, 24, 25, 26});

// A Coffee Lake-like Intel CPU (family 6 model 0x9E stepping 10).
FakeCpu intel(uint32_t max_basic = 0x16) {
    FakeCpu c;
    c.set(0, {max_basic, reg("Genu"), reg("ntel"), reg("ineI")});
    c.set(1, {0x000906EA, 0, kLeaf1Ecx, kLeaf1Edx});
    c.set(7, {0, bits({0, 3, 5, 7, 8, 10, 18, 19, 20, 29}), bits({2}), 0});
    c.set(0x15, {2, 242, 24000000, 0});  // 24 MHz crystal * 242/2 = 2904 MHz
    c.set(0x16, {2900, 4800, 100, 0});
    c.set(0x80000000, {0x80000008, 0, 0, 0});
    c.set(0x80000001, {0, 0, bits({0, 5, 8}), bits({11, 20, 26, 27, 29})});
    c.brand("       Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz ");  // exactly 48 bytes, no NUL
    c.set(0x80000007, {0, 0, 0, bits({8})});
    return c;
}

TEST(CpuInfo, BareMetalIntel) {
    FakeCpu cpu = intel();
    CpuInfo info = identify(cpu);
    EXPECT_STREQ(info.vendor, "GenuineIntel");
    EXPECT_STREQ(info.brand, "Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz");
    EXPECT_EQ(info.max_basic_leaf, 0x16u);
    EXPECT_EQ(info.max_ext_leaf, 0x80000008u);
    EXPECT_EQ(info.family, 6u);
    EXPECT_EQ(info.model, 0x9Eu);
    EXPECT_EQ(info.stepping, 10u);
    for (Feature f :
         {Feature::Tsc,       Feature::Msr,      Feature::Apic,   Feature::Pat,         Feature::Fxsr,
          Feature::Sse,       Feature::Sse2,     Feature::Sse3,   Feature::Ssse3,       Feature::Sse41,
          Feature::Sse42,     Feature::Avx,      Feature::Avx2,   Feature::Xsave,       Feature::Osxsave,
          Feature::Rdrand,    Feature::Rdseed,   Feature::X2apic, Feature::TscDeadline, Feature::InvariantTsc,
          Feature::Pages1G,   Feature::Nx,       Feature::Pcid,   Feature::Invpcid,     Feature::AesNi,
          Feature::Pclmulqdq, Feature::Fsgsbase, Feature::Smep,   Feature::Smap,        Feature::Umip,
          Feature::Rdtscp,    Feature::LongMode, Feature::Popcnt, Feature::Movbe,       Feature::F16c,
          Feature::Cx16,      Feature::Bmi1,     Feature::Bmi2,   Feature::Adx,         Feature::Sha})
        EXPECT_TRUE(info.has(f)) << feature_name(f);
    EXPECT_FALSE(info.has(Feature::HypervisorPresent));
    EXPECT_EQ(info.hypervisor, Hypervisor::None);
    EXPECT_STREQ(hypervisor_name(info.hypervisor), "bare metal");
    EXPECT_STREQ(info.hypervisor_signature, "");
    EXPECT_FALSE(cpu.queried_hypervisor_leaves());  // leaf 0x40000000 is meaningless without ECX[31]

    TscFrequency f = tsc_frequency(info, cpu, nullptr);
    EXPECT_EQ(f.source, TscSource::Cpuid15);
    EXPECT_EQ(f.hz, 2904000000ull);
}

TEST(CpuInfo, SingleFeatureBits) {
    struct Case {
        uint32_t leaf, reg_index;  // 0 eax, 1 ebx, 2 ecx, 3 edx
        int bit;
        Feature f;
    } cases[] = {
        {1, 3, 25, Feature::Sse},
        {1, 3, 26, Feature::Sse2},
        {1, 2, 0, Feature::Sse3},
        {1, 2, 9, Feature::Ssse3},
        {1, 2, 19, Feature::Sse41},
        {1, 2, 20, Feature::Sse42},
        {1, 2, 28, Feature::Avx},
        {1, 2, 26, Feature::Xsave},
        {1, 2, 27, Feature::Osxsave},
        {1, 2, 30, Feature::Rdrand},
        {7, 1, 18, Feature::Rdseed},
        {1, 2, 21, Feature::X2apic},
        {1, 2, 24, Feature::TscDeadline},
        {0x80000007, 3, 8, Feature::InvariantTsc},
        {0x80000001, 3, 26, Feature::Pages1G},
        {0x80000001, 3, 20, Feature::Nx},
        {1, 2, 17, Feature::Pcid},
        {1, 2, 25, Feature::AesNi},
        {1, 2, 1, Feature::Pclmulqdq},
        {7, 1, 5, Feature::Avx2},
    };
    for (const auto& c : cases) {
        FakeCpu cpu;
        cpu.set(0, {7, 0, 0, 0});
        cpu.set(0x80000000, {0x80000007, 0, 0, 0});
        CpuidResult r{0, 0, 0, 0};
        uint32_t* regs[] = {&r.eax, &r.ebx, &r.ecx, &r.edx};
        *regs[c.reg_index] = 1u << c.bit;
        cpu.set(c.leaf, r);
        CpuInfo info = identify(cpu);
        EXPECT_TRUE(info.has(c.f)) << feature_name(c.f);
        EXPECT_EQ(info.features, 1ull << static_cast<unsigned>(c.f)) << feature_name(c.f);
    }
}

TEST(CpuInfo, LeavesBeyondTheMaximaAreNotUsed) {
    FakeCpu cpu = intel(0xD);                    // leaves 0x15/0x16 exist in the table but max basic leaf is 0xD
    cpu.set(0x80000000, {0x80000001, 0, 0, 0});  // no brand string, no 0x80000007
    CpuInfo info = identify(cpu);
    EXPECT_STREQ(info.brand, "");
    EXPECT_FALSE(info.has(Feature::InvariantTsc));
    EXPECT_TRUE(info.has(Feature::Nx));
    EXPECT_EQ(cpu.queried.count(0x80000002), 0u);
    TscFrequency f = tsc_frequency_from_cpuid(info, cpu);
    EXPECT_EQ(f.source, TscSource::Unknown);
    EXPECT_EQ(f.hz, 0u);
    EXPECT_EQ(cpu.queried.count(0x15), 0u);

    // Garbage in 0x80000000 (an old CPU returning basic-leaf data): no extended leaves at all.
    FakeCpu old = intel();
    old.set(0x80000000, {0x0000000D, 0, 0, 0});
    CpuInfo oi = identify(old);
    EXPECT_EQ(oi.max_ext_leaf, 0u);
    EXPECT_FALSE(oi.has(Feature::Nx));
    EXPECT_STREQ(oi.brand, "");
}

TEST(CpuInfo, AmdFamilyModel) {
    FakeCpu cpu;
    cpu.set(0, {0x10, reg("Auth"), reg("cAMD"), reg("enti")});
    cpu.set(1, {0x00A20F10, 0, 0, 0});  // Zen 3: family 0xF + 0xA = 0x19, model 0x21
    CpuInfo info = identify(cpu);
    EXPECT_STREQ(info.vendor, "AuthenticAMD");
    EXPECT_EQ(info.family, 0x19u);
    EXPECT_EQ(info.model, 0x21u);
    EXPECT_EQ(info.stepping, 0u);
    EXPECT_EQ(tsc_frequency_from_cpuid(info, cpu).source, TscSource::Unknown);
}

TEST(CpuInfo, Leaf15Decoding) {
    EXPECT_EQ(tsc_hz_from_leaf15({2, 242, 24000000, 0}), 2904000000ull);
    EXPECT_EQ(tsc_hz_from_leaf15({7, 3, 25000000, 0}), 10714285ull);  // floor(75e6 / 7)
    EXPECT_EQ(tsc_hz_from_leaf15({1, 0xFFFFFFFF, 0xFFFFFFFF, 0}), 0xFFFFFFFFull * 0xFFFFFFFFull);
    EXPECT_EQ(tsc_hz_from_leaf15({2, 242, 0, 0}), 0u);  // crystal not enumerated: unknown
    EXPECT_EQ(tsc_hz_from_leaf15({0, 242, 24000000, 0}), 0u);
    EXPECT_EQ(tsc_hz_from_leaf15({2, 0, 24000000, 0}), 0u);
    EXPECT_EQ(tsc_hz_from_leaf16({3000, 0, 0, 0}), 3000000000ull);
    EXPECT_EQ(tsc_hz_from_leaf16({0xFFFF0000, 0, 0, 0}), 0u);  // only bits 15:0
    EXPECT_EQ(tsc_hz_from_timing_leaf({2500000, 1000000, 0, 0}), 2500000000ull);
}

TEST(CpuInfo, Leaf15CrystalUnknownFallsBackTo16) {
    FakeCpu cpu = intel();
    cpu.set(0x15, {2, 242, 0, 0});
    TscFrequency f = tsc_frequency_from_cpuid(identify(cpu), cpu);
    EXPECT_EQ(f.source, TscSource::Cpuid16);
    EXPECT_EQ(f.hz, 2900000000ull);
    cpu.set(0x16, {0, 0, 0, 0});
    EXPECT_EQ(tsc_frequency_from_cpuid(identify(cpu), cpu).source, TscSource::Unknown);
}

TEST(CpuInfo, Kvm) {
    FakeCpu cpu = intel();
    cpu.hypervisor("KVMKVMKVM\0\0\0", 0x40000010);
    cpu.set(0x40000010, {2500000, 1000000, 0, 0});
    CpuInfo info = identify(cpu);
    EXPECT_EQ(info.hypervisor, Hypervisor::Kvm);
    EXPECT_STREQ(hypervisor_name(info.hypervisor), "KVM");
    EXPECT_STREQ(info.hypervisor_signature, "KVMKVMKVM");
    EXPECT_EQ(info.hypervisor_max_leaf, 0x40000010u);
    EXPECT_TRUE(info.has(Feature::HypervisorPresent));
    TscFrequency f = tsc_frequency(info, cpu, nullptr);
    EXPECT_EQ(f.source, TscSource::HypervisorLeaf);
    EXPECT_EQ(f.hz, 2500000000ull);

    // Older KVM: EAX = 0 means 0x40000001, so there is no timing leaf: fall back to leaf 0x15.
    FakeCpu old = intel();
    old.hypervisor("KVMKVMKVM\0\0\0", 0);
    old.set(0x40000010, {2500000, 0, 0, 0});
    CpuInfo oi = identify(old);
    EXPECT_EQ(oi.hypervisor_max_leaf, 0x40000001u);
    EXPECT_EQ(tsc_frequency(oi, old, nullptr).source, TscSource::Cpuid15);
    EXPECT_EQ(old.queried.count(0x40000010), 0u);

    // Timing leaf present but EAX = 0: not stated.
    FakeCpu zero = intel();
    zero.hypervisor("KVMKVMKVM\0\0\0", 0x40000010);
    EXPECT_EQ(tsc_frequency(identify(zero), zero, nullptr).source, TscSource::Cpuid15);
}

TEST(CpuInfo, VMware) {
    FakeCpu cpu = intel(0xD);
    cpu.hypervisor("VMwareVMware", 0x40000010);
    cpu.set(0x40000010, {3192000, 66000, 0, 0});
    CpuInfo info = identify(cpu);
    EXPECT_EQ(info.hypervisor, Hypervisor::VMware);
    EXPECT_STREQ(info.hypervisor_signature, "VMwareVMware");
    TscFrequency f = tsc_frequency(info, cpu, nullptr);
    EXPECT_EQ(f.source, TscSource::HypervisorLeaf);
    EXPECT_EQ(f.hz, 3192000000ull);
    EXPECT_STREQ(tsc_source_name(f.source), "hypervisor CPUID leaf 0x40000010");
}

FakeCpu* g_model_cpu = nullptr;
uint64_t fake_rdmsr(uint32_t msr) { return g_model_cpu->rdmsr(msr); }

TEST(CpuInfo, HyperV) {
    FakeCpu cpu = intel(0xD);
    cpu.hypervisor("Microsoft Hv", 0x4000000A);
    cpu.set(0x40000003, {bits({1, 9, 11}), 0, 0, bits({8})});
    cpu.msrs[kHvMsrTscFrequency] = 2095000000ull;
    CpuInfo info = identify(cpu);
    EXPECT_EQ(info.hypervisor, Hypervisor::HyperV);
    EXPECT_STREQ(hypervisor_name(info.hypervisor), "Hyper-V");
    g_model_cpu = &cpu;
    TscFrequency f = tsc_frequency(info, cpu, fake_rdmsr);
    EXPECT_EQ(f.source, TscSource::HyperVMsr);
    EXPECT_EQ(f.hz, 2095000000ull);

    // Through the hw layer: identify() and tsc_frequency(info) use hw::cpuid / hw::rdmsr.
    skerry::hw::set_model(&cpu);
    CpuInfo hi = identify();
    EXPECT_EQ(hi.hypervisor, Hypervisor::HyperV);
    TscFrequency hf = tsc_frequency(hi);
    EXPECT_EQ(hf.source, TscSource::HyperVMsr);
    EXPECT_EQ(hf.hz, 2095000000ull);
    skerry::hw::set_model(nullptr);

    // Without the privilege (or the feature bit) the MSR is not touched.
    cpu.msrs.clear();
    cpu.set(0x40000003, {bits({1, 9}), 0, 0, bits({8})});
    EXPECT_EQ(tsc_frequency(info, cpu, fake_rdmsr).source, TscSource::Unknown);
    cpu.set(0x40000003, {bits({11}), 0, 0, 0});
    EXPECT_EQ(tsc_frequency(info, cpu, fake_rdmsr).source, TscSource::Unknown);
}

TEST(CpuInfo, HyperVPrivilegeBits) {
    EXPECT_TRUE(hyperv_frequency_msrs_allowed({1u << 11, 0, 0, 1u << 8}));
    EXPECT_FALSE(hyperv_frequency_msrs_allowed({1u << 11, 0, 0, 0}));
    EXPECT_FALSE(hyperv_frequency_msrs_allowed({0, 0, 0, 1u << 8}));
    EXPECT_FALSE(hyperv_frequency_msrs_allowed({~(1u << 11), ~0u, ~0u, ~0u}));
}

TEST(CpuInfo, KvmBehindHyperVEnlightenments) {
    FakeCpu cpu = intel(0xD);
    cpu.hypervisor("Microsoft Hv", 0x4000000A);
    cpu.hypervisor("KVMKVMKVM\0\0\0", 0x40000110, 0x40000100);
    cpu.set(0x40000110, {1800000, 0, 0, 0});
    CpuInfo info = identify(cpu);
    EXPECT_EQ(info.hypervisor, Hypervisor::HyperV);
    EXPECT_EQ(info.hypervisor_alt, Hypervisor::Kvm);
    EXPECT_EQ(info.hypervisor_alt_base, 0x40000100u);
    TscFrequency f = tsc_frequency(info, cpu, nullptr);  // no frequency MSR privilege here
    EXPECT_EQ(f.source, TscSource::HypervisorLeaf);
    EXPECT_EQ(f.hz, 1800000000ull);
}

TEST(CpuInfo, OtherSignatures) {
    struct Case {
        const char* sig;
        Hypervisor want;
        const char* name;
        const char* printable;
    } cases[] = {
        {"XenVMMXenVMM", Hypervisor::Xen, "Xen", "XenVMMXenVMM"},
        {"TCGTCGTCGTCG", Hypervisor::QemuTcg, "QEMU-TCG", "TCGTCGTCGTCG"},
        {"VBoxVBoxVBox", Hypervisor::VirtualBox, "VirtualBox", "VBoxVBoxVBox"},
        {"bhyve bhyve ", Hypervisor::Bhyve, "bhyve", "bhyve bhyve "},
        {"ACRNACRNACRN", Hypervisor::Acrn, "ACRN", "ACRNACRNACRN"},
        {"SomethingNew", Hypervisor::Unknown, "unknown", "SomethingNew"},
        {"Bad\x01\x02sig\0\0\0\0", Hypervisor::Unknown, "unknown", "Bad??sig"},
        {"\0\0\0\0\0\0\0\0\0\0\0\0", Hypervisor::Unknown, "unknown", ""},
    };
    for (const auto& c : cases) {
        FakeCpu cpu = intel();
        cpu.hypervisor(c.sig, 0x40000001);
        CpuInfo info = identify(cpu);
        EXPECT_EQ(info.hypervisor, c.want) << c.name;
        EXPECT_STREQ(hypervisor_name(info.hypervisor), c.name);
        EXPECT_STREQ(info.hypervisor_signature, c.printable);
        EXPECT_EQ(hypervisor_from_signature(c.sig), c.want);
        // No hypervisor timing leaf for these: leaf 0x15 still answers.
        EXPECT_EQ(tsc_frequency(info, cpu, nullptr).source, TscSource::Cpuid15);
    }
}

TEST(CpuInfo, FeatureNamesAndFormatting) {
    std::set<std::string> names;
    for (unsigned i = 0; i < static_cast<unsigned>(Feature::Count); i++) {
        const char* n = feature_name(static_cast<Feature>(i));
        EXPECT_STRNE(n, "?");
        names.insert(n);
    }
    EXPECT_EQ(names.size(), static_cast<size_t>(Feature::Count));
    EXPECT_STREQ(feature_name(Feature::Count), "?");

    CpuInfo info{};
    info.features = (1ull << static_cast<unsigned>(Feature::Sse)) | (1ull << static_cast<unsigned>(Feature::Sse42)) |
                    (1ull << static_cast<unsigned>(Feature::InvariantTsc));
    char buf[64];
    EXPECT_EQ(format_features(info, buf, sizeof buf), std::strlen("sse sse4_2 invariant_tsc"));
    EXPECT_STREQ(buf, "sse sse4_2 invariant_tsc");
    char small[12];
    format_features(info, small, sizeof small);
    EXPECT_STREQ(small, "sse sse4_2");  // whole names only
    EXPECT_EQ(format_features(info, small, 0), 0u);

    FakeCpu cpu = intel();
    char all[512];
    format_features(identify(cpu), all, sizeof all);
    EXPECT_NE(std::string(all).find("rdseed"), std::string::npos);
    EXPECT_NE(std::string(all).find("1g_pages"), std::string::npos);
    for (auto s :
         {TscSource::Unknown, TscSource::HyperVMsr, TscSource::HypervisorLeaf, TscSource::Cpuid15, TscSource::Cpuid16})
        EXPECT_STRNE(tsc_source_name(s), "?");
}

}  // namespace
