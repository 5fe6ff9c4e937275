// Hyper-V partition reference time (see reftime.hpp).
#include "drivers/bus/vmbus/reftime.hpp"

#include "hw/hw.hpp"

namespace skerry::hv {

uint64_t tsc_hz_from_scale(uint64_t scale) {
    if (scale == 0) return 0;
    return static_cast<uint64_t>((static_cast<unsigned __int128>(kReferenceHz) << 64) / scale);
}

bool read_reference_tsc(const volatile void* page, uint64_t (*rdtsc)(), RefTscSample& out) {
    const volatile uint8_t* p = static_cast<const volatile uint8_t*>(page);
    const volatile uint32_t* seq = reinterpret_cast<const volatile uint32_t*>(p + kRefPageOffSequence);
    const volatile uint64_t* scale = reinterpret_cast<const volatile uint64_t*>(p + kRefPageOffScale);
    const volatile int64_t* offset = reinterpret_cast<const volatile int64_t*>(p + kRefPageOffOffset);
    for (int i = 0; i < kRefTscMaxTries; ++i) {
        const uint32_t s = *seq;
        // 0 means invalid (TLFS 6.0b §12.7.3.2, Linux, Windows Server 2012); older Xen cites an earlier TLFS
        // that said 0xFFFFFFFF. Both mean "not now": the caller has the MSR, same time base.
        // See docs/protocols/hyperv-vmbus.md §4.1 and §9 item 5.
        if (s == 0 || s == kRefTscSequenceInvalidOld) return false;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        out.sequence = s;
        out.scale = *scale;
        out.offset = *offset;
        out.tsc = rdtsc();
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (*seq == s) {
            out.time = reference_time(out.tsc, out.scale, out.offset);
            return true;
        }
    }
    return false;
}

bool enable_reference_tsc(const Features& f, uint64_t page_phys) {
    if (!f.has_reference_tsc() || page_phys == 0 || (page_phys & 0xFFF) != 0) return false;
    const uint64_t cur = hw::rdmsr(kMsrReferenceTsc);
    const uint64_t v = (page_phys & ~0xFFFull) | (cur & 0xFFEull) | kReferenceTscEnable;
    hw::wrmsr(kMsrReferenceTsc, v);
    return hw::rdmsr(kMsrReferenceTsc) == v;
}

bool read_time_ref_count(const Features& f, uint64_t& out_100ns) {
    if (!f.has_reference_counter()) return false;
    out_100ns = hw::rdmsr(kMsrTimeRefCount);
    return true;
}

}  // namespace skerry::hv
