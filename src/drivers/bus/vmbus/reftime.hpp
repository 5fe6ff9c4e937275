// Hyper-V partition reference time: the reference TSC page (an overlay page the hypervisor keeps up to date,
// enabled through HV_X64_MSR_REFERENCE_TSC) and the TIME_REF_COUNT MSR. Both count 100 ns units from partition
// creation, so either one continues the other. See docs/protocols/hyperv-vmbus.md §4 (TLFS timers).
//
// The page: 0:4 sequence, 8:8 scale, 16:8 offset (signed). Time = ((tsc * scale) >> 64) + offset. A sequence of 0
// means the page is not valid (now or any more, e.g. after a migration to a host without invariant TSC): use the
// MSR. The hypervisor bumps the sequence while it rewrites scale/offset, so a reader retries when the sequence
// changed across its read. Pure functions over a page pointer and a TSC reader, so tests use a fake page.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/vmbus/hv.hpp"

namespace skerry::hv {

constexpr uint32_t kMsrTimeRefCount = 0x40000020;
constexpr uint32_t kMsrReferenceTsc = 0x40000021;
constexpr uint64_t kReferenceTscEnable = 1u << 0;
constexpr size_t kRefPageOffSequence = 0;
constexpr size_t kRefPageOffScale = 8;
constexpr size_t kRefPageOffOffset = 16;
constexpr uint64_t kReferenceHz = 10000000;                 // 100 ns units
constexpr uint32_t kRefTscSequenceInvalidOld = 0xFFFFFFFF;  // earlier TLFS marker per old Xen (hyperv-vmbus.md §9)

// ((tsc * scale) >> 64) + offset with a full 64x64->128 multiply.
constexpr uint64_t reference_time(uint64_t tsc, uint64_t scale, int64_t offset) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(tsc) * scale) >> 64) + static_cast<uint64_t>(offset);
}
// The TSC frequency a scale implies: 10^7 * 2^64 / scale (0 for scale 0).
uint64_t tsc_hz_from_scale(uint64_t scale);

struct RefTscSample {
    uint32_t sequence = 0;
    uint64_t scale = 0;
    int64_t offset = 0;
    uint64_t tsc = 0;
    uint64_t time = 0;  // 100 ns units
};
constexpr int kRefTscMaxTries = 16;
// Read the page: false when the sequence is 0 or 0xFFFFFFFF (invalid) or kept changing for kRefTscMaxTries reads.
bool read_reference_tsc(const volatile void* page, uint64_t (*rdtsc)(), RefTscSample& out);

// Point HV_X64_MSR_REFERENCE_TSC at `page_phys` (page aligned) when the partition may use the page (privilege
// AccessPartitionReferenceTsc). False when not allowed or the MSR did not take the value.
bool enable_reference_tsc(const Features& f, uint64_t page_phys);
// TIME_REF_COUNT when the partition may read it (AccessPartitionReferenceCounter), else false.
bool read_time_ref_count(const Features& f, uint64_t& out_100ns);

}  // namespace skerry::hv
