// CPU facts from CPUID (see cpu_info.hpp).
#include "kernel/cpu_info.hpp"

#include <string.h>

namespace skerry::cpu_info {
namespace {

struct Sig {
    const char bytes[13];
    Hypervisor kind;
};
constexpr Sig kSignatures[] = {
    {"KVMKVMKVM\0\0\0", Hypervisor::Kvm},  {"Microsoft Hv", Hypervisor::HyperV},
    {"VMwareVMware", Hypervisor::VMware},  {"XenVMMXenVMM", Hypervisor::Xen},
    {"TCGTCGTCGTCG", Hypervisor::QemuTcg}, {"VBoxVBoxVBox", Hypervisor::VirtualBox},
    {"bhyve bhyve ", Hypervisor::Bhyve},   {"ACRNACRNACRN", Hypervisor::Acrn},
};

// CPUID bit -> Feature tables.
struct Bit {
    uint8_t bit;
    Feature f;
};
constexpr Bit kLeaf1Edx[] = {{4, Feature::Tsc},   {5, Feature::Msr},  {9, Feature::Apic}, {16, Feature::Pat},
                             {24, Feature::Fxsr}, {25, Feature::Sse}, {26, Feature::Sse2}};
constexpr Bit kLeaf1Ecx[] = {{0, Feature::Sse3},    {1, Feature::Pclmulqdq},    {9, Feature::Ssse3},
                             {13, Feature::Cx16},   {17, Feature::Pcid},        {19, Feature::Sse41},
                             {20, Feature::Sse42},  {21, Feature::X2apic},      {22, Feature::Movbe},
                             {23, Feature::Popcnt}, {24, Feature::TscDeadline}, {25, Feature::AesNi},
                             {26, Feature::Xsave},  {27, Feature::Osxsave},     {28, Feature::Avx},
                             {29, Feature::F16c},   {30, Feature::Rdrand},      {31, Feature::HypervisorPresent}};
constexpr Bit kLeaf7Ebx[] = {{0, Feature::Fsgsbase}, {3, Feature::Bmi1},     {5, Feature::Avx2},    {7, Feature::Smep},
                             {8, Feature::Bmi2},     {10, Feature::Invpcid}, {18, Feature::Rdseed}, {19, Feature::Adx},
                             {20, Feature::Smap},    {29, Feature::Sha}};
constexpr Bit kLeaf7Ecx[] = {{2, Feature::Umip}};
constexpr Bit kExt1Edx[] = {{20, Feature::Nx}, {26, Feature::Pages1G}, {27, Feature::Rdtscp}, {29, Feature::LongMode}};
constexpr Bit kExt7Edx[] = {{8, Feature::InvariantTsc}};

template <size_t N>
void add_bits(uint64_t& features, uint32_t reg, const Bit (&table)[N]) {
    for (const Bit& b : table)
        if ((reg >> b.bit) & 1) features |= 1ull << static_cast<unsigned>(b.f);
}

void put_reg(char* dst, uint32_t v) {
    for (int i = 0; i < 4; i++) dst[i] = static_cast<char>(v >> (8 * i));
}

void signature_of(const hw::CpuidResult& r, char sig[12]) {
    put_reg(sig, r.ebx);
    put_reg(sig + 4, r.ecx);
    put_reg(sig + 8, r.edx);
}

void printable(const char sig[12], char out[13]) {
    int end = 12;
    while (end > 0 && sig[end - 1] == '\0') end--;  // KVM pads with NULs
    for (int i = 0; i < end; i++) out[i] = (sig[i] >= 0x20 && sig[i] < 0x7F) ? sig[i] : '?';
    out[end] = '\0';
}

bool is_hypervisor_timing_capable(Hypervisor h) { return h == Hypervisor::Kvm || h == Hypervisor::VMware; }

}  // namespace

const char* hypervisor_name(Hypervisor h) {
    switch (h) {
    case Hypervisor::None: return "bare metal";
    case Hypervisor::Unknown: return "unknown";
    case Hypervisor::Kvm: return "KVM";
    case Hypervisor::HyperV: return "Hyper-V";
    case Hypervisor::VMware: return "VMware";
    case Hypervisor::Xen: return "Xen";
    case Hypervisor::QemuTcg: return "QEMU-TCG";
    case Hypervisor::VirtualBox: return "VirtualBox";
    case Hypervisor::Bhyve: return "bhyve";
    case Hypervisor::Acrn: return "ACRN";
    }
    return "?";
}

Hypervisor hypervisor_from_signature(const char sig[12]) {
    for (const Sig& s : kSignatures)
        if (memcmp(sig, s.bytes, 12) == 0) return s.kind;
    return Hypervisor::Unknown;
}

const char* feature_name(Feature f) {
    static const char* const kNames[] = {
        "tsc",   "msr",      "apic",    "pat",     "fxsr",          "sse",    "sse2",       "sse3",     "pclmulqdq",
        "ssse3", "cx16",     "pcid",    "sse4_1",  "sse4_2",        "x2apic", "movbe",      "popcnt",   "tsc_deadline",
        "aes",   "xsave",    "osxsave", "avx",     "f16c",          "rdrand", "hypervisor", "fsgsbase", "bmi1",
        "avx2",  "smep",     "bmi2",    "invpcid", "rdseed",        "adx",    "smap",       "sha",      "umip",
        "nx",    "1g_pages", "rdtscp",  "lm",      "invariant_tsc",
    };
    static_assert(sizeof kNames / sizeof kNames[0] == static_cast<size_t>(Feature::Count));
    const auto i = static_cast<size_t>(f);
    return i < static_cast<size_t>(Feature::Count) ? kNames[i] : "?";
}

CpuInfo identify(const CpuidSource& cpu) {
    CpuInfo info{};
    const hw::CpuidResult l0 = cpu.cpuid(0, 0);
    info.max_basic_leaf = l0.eax;
    put_reg(info.vendor, l0.ebx);
    put_reg(info.vendor + 4, l0.edx);
    put_reg(info.vendor + 8, l0.ecx);
    info.vendor[12] = '\0';

    uint32_t ecx1 = 0;
    if (info.max_basic_leaf >= 1) {
        const hw::CpuidResult l1 = cpu.cpuid(1, 0);
        ecx1 = l1.ecx;
        add_bits(info.features, l1.edx, kLeaf1Edx);
        add_bits(info.features, l1.ecx, kLeaf1Ecx);
        const uint32_t base_family = (l1.eax >> 8) & 0xF;
        info.family = base_family == 0xF ? base_family + ((l1.eax >> 20) & 0xFF) : base_family;
        info.model = (l1.eax >> 4) & 0xF;
        if (base_family == 0x6 || base_family == 0xF) info.model |= ((l1.eax >> 16) & 0xF) << 4;
        info.stepping = l1.eax & 0xF;
    }
    if (info.max_basic_leaf >= 7) {
        const hw::CpuidResult l7 = cpu.cpuid(7, 0);
        add_bits(info.features, l7.ebx, kLeaf7Ebx);
        add_bits(info.features, l7.ecx, kLeaf7Ecx);
    }

    const uint32_t max_ext = cpu.cpuid(0x80000000, 0).eax;
    info.max_ext_leaf = (max_ext >= 0x80000000 && max_ext <= 0x8000FFFF) ? max_ext : 0;
    if (info.max_ext_leaf >= 0x80000001) add_bits(info.features, cpu.cpuid(0x80000001, 0).edx, kExt1Edx);
    if (info.max_ext_leaf >= 0x80000004) {
        char raw[48];
        for (uint32_t i = 0; i < 3; i++) {
            const hw::CpuidResult r = cpu.cpuid(0x80000002 + i, 0);
            put_reg(raw + 16 * i, r.eax);
            put_reg(raw + 16 * i + 4, r.ebx);
            put_reg(raw + 16 * i + 8, r.ecx);
            put_reg(raw + 16 * i + 12, r.edx);
        }
        size_t start = 0;
        while (start < 48 && raw[start] == ' ') start++;
        size_t n = 0;
        for (size_t i = start; i < 48 && raw[i] != '\0'; i++) info.brand[n++] = raw[i];
        while (n > 0 && info.brand[n - 1] == ' ') n--;
        info.brand[n] = '\0';
    }
    if (info.max_ext_leaf >= 0x80000007) add_bits(info.features, cpu.cpuid(0x80000007, 0).edx, kExt7Edx);

    // Hypervisor: only when CPUID.1:ECX[31] is set (otherwise leaf 0x40000000 returns unrelated data).
    if (ecx1 & (1u << 31)) {
        const hw::CpuidResult h = cpu.cpuid(0x40000000, 0);
        char sig[12];
        signature_of(h, sig);
        printable(sig, info.hypervisor_signature);
        info.hypervisor = hypervisor_from_signature(sig);
        info.hypervisor_max_leaf = h.eax;
        if (info.hypervisor == Hypervisor::Kvm && h.eax == 0) info.hypervisor_max_leaf = 0x40000001;
        if (info.hypervisor_max_leaf < 0x40000000 || info.hypervisor_max_leaf > 0x4000FFFF)
            info.hypervisor_max_leaf = 0;
        // Further interfaces: Xen and KVM move to 0x40000100.. when they also offer Hyper-V's.
        for (uint32_t base = 0x40000100; base < 0x40001000; base += 0x100) {
            const hw::CpuidResult a = cpu.cpuid(base, 0);
            signature_of(a, sig);
            const Hypervisor alt = hypervisor_from_signature(sig);
            if (alt != Hypervisor::Unknown) {
                info.hypervisor_alt = alt;
                info.hypervisor_alt_base = base;
                break;
            }
        }
    }
    return info;
}

CpuInfo identify() { return identify(HwCpuid{}); }

size_t format_features(const CpuInfo& info, char* buf, size_t size) {
    if (size == 0) return 0;
    size_t len = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < static_cast<unsigned>(Feature::Count); i++) {
        if (!info.has(static_cast<Feature>(i))) continue;
        const char* name = feature_name(static_cast<Feature>(i));
        const size_t n = strlen(name) + (len ? 1 : 0);
        if (len + n + 1 > size) break;  // whole names only
        if (len) buf[len++] = ' ';
        memcpy(buf + len, name, strlen(name) + 1);
        len += strlen(name);
    }
    return len;
}

const char* tsc_source_name(TscSource s) {
    switch (s) {
    case TscSource::Unknown: return "unknown";
    case TscSource::HyperVMsr: return "Hyper-V frequency MSR";
    case TscSource::HypervisorLeaf: return "hypervisor CPUID leaf 0x40000010";
    case TscSource::Cpuid15: return "CPUID leaf 0x15";
    case TscSource::Cpuid16: return "CPUID leaf 0x16";
    }
    return "?";
}

uint64_t tsc_hz_from_leaf15(const hw::CpuidResult& r) {
    const uint64_t den = r.eax, num = r.ebx, crystal = r.ecx;
    if (den == 0 || num == 0 || crystal == 0) return 0;  // ratio or crystal frequency not enumerated
    // crystal * num / den without overflowing: split crystal into quotient and remainder by den.
    uint64_t hi;
    if (__builtin_mul_overflow(crystal / den, num, &hi)) return 0;
    const uint64_t lo = (crystal % den) * num / den;  // (< den) * (< 2^32) < 2^64
    uint64_t hz;
    if (__builtin_add_overflow(hi, lo, &hz)) return 0;
    return hz;
}

uint64_t tsc_hz_from_leaf16(const hw::CpuidResult& r) { return static_cast<uint64_t>(r.eax & 0xFFFF) * 1000000; }

uint64_t tsc_hz_from_timing_leaf(const hw::CpuidResult& r) { return static_cast<uint64_t>(r.eax) * 1000; }

bool hyperv_frequency_msrs_allowed(const hw::CpuidResult& r) { return ((r.eax >> 11) & 1) && ((r.edx >> 8) & 1); }

TscFrequency tsc_frequency_from_cpuid(const CpuInfo& info, const CpuidSource& cpu) {
    // The hypervisor's own statement first: a guest's leaf 0x15/0x16 may describe the host hardware.
    uint32_t base = 0, max_leaf = 0;
    if (is_hypervisor_timing_capable(info.hypervisor)) {
        base = 0x40000000;
        max_leaf = info.hypervisor_max_leaf;
    } else if (is_hypervisor_timing_capable(info.hypervisor_alt)) {
        base = info.hypervisor_alt_base;
        max_leaf = cpu.cpuid(base, 0).eax;
    }
    if (base != 0 && max_leaf >= base + 0x10 && max_leaf <= base + 0xFF) {
        const uint64_t hz = tsc_hz_from_timing_leaf(cpu.cpuid(base + 0x10, 0));
        if (hz) return {hz, TscSource::HypervisorLeaf};
    }
    if (info.max_basic_leaf >= 0x15) {
        const uint64_t hz = tsc_hz_from_leaf15(cpu.cpuid(0x15, 0));
        if (hz) return {hz, TscSource::Cpuid15};
    }
    if (info.max_basic_leaf >= 0x16) {
        const uint64_t hz = tsc_hz_from_leaf16(cpu.cpuid(0x16, 0));
        if (hz) return {hz, TscSource::Cpuid16};
    }
    return {0, TscSource::Unknown};
}

TscFrequency tsc_frequency(const CpuInfo& info, const CpuidSource& cpu, MsrReader rdmsr) {
    if (rdmsr && info.hypervisor == Hypervisor::HyperV && info.hypervisor_max_leaf >= 0x40000003 &&
        hyperv_frequency_msrs_allowed(cpu.cpuid(0x40000003, 0))) {
        const uint64_t hz = rdmsr(kHvMsrTscFrequency);
        if (hz) return {hz, TscSource::HyperVMsr};
    }
    return tsc_frequency_from_cpuid(info, cpu);
}

TscFrequency tsc_frequency(const CpuInfo& info) {
    return tsc_frequency(info, HwCpuid{}, [](uint32_t msr) { return hw::rdmsr(msr); });
}

}  // namespace skerry::cpu_info
