// CPU facts from CPUID: vendor and brand, the features the kernel cares about, the hypervisor we run
// under, and the TSC frequency when the CPU or hypervisor states it.
//
// Everything is a pure function of CPUID results read through a CpuidSource, so tests feed tables. The
// kernel uses identify() / tsc_frequency() without arguments, which read the hw layer (in host tests: the
// installed hw::Model). CPUID leaves are only queried within the maxima the CPU reports, and the hypervisor
// leaves only when CPUID.1:ECX[31] says a hypervisor is present.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "hw/hw.hpp"

namespace skerry::cpu_info {

class CpuidSource {
public:
    virtual hw::CpuidResult cpuid(uint32_t leaf, uint32_t subleaf) const = 0;

protected:
    ~CpuidSource() = default;
};

// The real CPUID instruction (host tests: hw::Model::cpuid).
class HwCpuid final : public CpuidSource {
public:
    hw::CpuidResult cpuid(uint32_t leaf, uint32_t subleaf) const override { return hw::cpuid(leaf, subleaf); }
};

// ------------------------------------------------------------------------------------------- hypervisor
enum class Hypervisor : uint8_t { None = 0, Unknown, Kvm, HyperV, VMware, Xen, QemuTcg, VirtualBox, Bhyve, Acrn };
const char* hypervisor_name(Hypervisor h);  // "bare metal" for None
// The 12-byte signature of leaf 0x40000000 (EBX, ECX, EDX), e.g. "KVMKVMKVM\0\0\0". Unknown if unrecognised.
Hypervisor hypervisor_from_signature(const char sig[12]);

// ---------------------------------------------------------------------------------------------- features
enum class Feature : uint8_t {
    Tsc,
    Msr,
    Apic,
    Pat,
    Fxsr,
    Sse,
    Sse2,  // CPUID.1:EDX
    Sse3,
    Pclmulqdq,
    Ssse3,
    Cx16,
    Pcid,
    Sse41,
    Sse42,
    X2apic,
    Movbe,
    Popcnt,  // CPUID.1:ECX
    TscDeadline,
    AesNi,
    Xsave,
    Osxsave,
    Avx,
    F16c,
    Rdrand,
    HypervisorPresent,
    Fsgsbase,
    Bmi1,
    Avx2,
    Smep,
    Bmi2,
    Invpcid,
    Rdseed,
    Adx,
    Smap,
    Sha,   // CPUID.7.0:EBX
    Umip,  // CPUID.7.0:ECX
    Nx,
    Pages1G,
    Rdtscp,
    LongMode,      // CPUID.0x80000001:EDX
    InvariantTsc,  // CPUID.0x80000007:EDX
    Count
};
const char* feature_name(Feature f);  // lower-case short name, e.g. "sse4_2", "1g_pages"

struct CpuInfo {
    char vendor[13];                        // "GenuineIntel", "AuthenticAMD", ...
    char brand[49];                         // processor brand string (leading blanks removed), "" if not available
    uint32_t max_basic_leaf, max_ext_leaf;  // max_ext_leaf 0 if there are no extended leaves
    uint32_t family, model, stepping;       // display family/model (extended fields folded in)
    uint64_t features;                      // bit per Feature
    bool has(Feature f) const { return (features >> static_cast<unsigned>(f)) & 1; }

    Hypervisor hypervisor;          // None: CPUID.1:ECX[31] clear (bare metal)
    char hypervisor_signature[13];  // leaf 0x40000000 signature, non-printable bytes shown as '?', "" if none
    uint32_t hypervisor_max_leaf;   // leaf 0x40000000 EAX (KVM's 0 read as 0x40000001)
    // A second interface further up (0x40000100, ...), e.g. KVM or Xen behind Hyper-V enlightenments.
    Hypervisor hypervisor_alt;
    uint32_t hypervisor_alt_base;  // its leaf base, 0 if none
};

CpuInfo identify(const CpuidSource& cpu);
CpuInfo identify();  // hw layer
// "sse sse2 ... invariant_tsc" for the log; returns the length written (always NUL-terminated).
size_t format_features(const CpuInfo& info, char* buf, size_t size);

// --------------------------------------------------------------------------------------- TSC frequency
enum class TscSource : uint8_t {
    Unknown = 0,     // calibrate against a timer
    HyperVMsr,       // HV_X64_MSR_TSC_FREQUENCY (Hz)
    HypervisorLeaf,  // VMware/KVM timing leaf 0x40000010 EAX (kHz)
    Cpuid15,         // crystal clock: ECX * EBX / EAX
    Cpuid16,         // processor base frequency in MHz (approximate; a fallback only)
};
const char* tsc_source_name(TscSource s);

struct TscFrequency {
    uint64_t hz;  // 0 when source == Unknown
    TscSource source;
};

inline constexpr uint32_t kHvMsrTscFrequency = 0x40000022;  // HV_X64_MSR_TSC_FREQUENCY

// Pure decoders of single leaves; 0 = not stated.
uint64_t tsc_hz_from_leaf15(const hw::CpuidResult& leaf15);     // EAX = denominator, EBX = numerator, ECX = crystal Hz
uint64_t tsc_hz_from_leaf16(const hw::CpuidResult& leaf16);     // EAX[15:0] = base MHz
uint64_t tsc_hz_from_timing_leaf(const hw::CpuidResult& leaf);  // EAX = TSC kHz
// Hyper-V: the TSC frequency MSR may be read when CPUID 0x40000003 EAX bit 11 (AccessFrequencyMsrs, the
// partition privilege) and EDX bit 8 (frequency MSRs available) are both set.
bool hyperv_frequency_msrs_allowed(const hw::CpuidResult& leaf_40000003);

// From CPUID alone: the hypervisor timing leaf (VMware, KVM) if present, else leaf 0x15, else leaf 0x16.
TscFrequency tsc_frequency_from_cpuid(const CpuInfo& info, const CpuidSource& cpu);
// As above, but under Hyper-V with the frequency MSR allowed, read it first with `rdmsr` (if given).
using MsrReader = uint64_t (*)(uint32_t msr);
TscFrequency tsc_frequency(const CpuInfo& info, const CpuidSource& cpu, MsrReader rdmsr);
TscFrequency tsc_frequency(const CpuInfo& info);  // hw layer: HwCpuid and hw::rdmsr

}  // namespace skerry::cpu_info
