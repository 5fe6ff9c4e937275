// Hyper-V detection, guest identity, hypercall page and hypercall input encoding, checked against
// docs/protocols/hyperv-vmbus.md (§1.1, §2.1-§2.6) with a fake hypervisor model.
#include <gtest/gtest.h>

#include "drivers/bus/vmbus/hv.hpp"
#include "hv_fake.hpp"
#include "kernel/dma.hpp"

namespace skerry::hv {
namespace {

using hvtest::HvModel;
using hvtest::ModelScope;
using hvtest::RecordingPort;

TEST(HvHypercall, InputEncodingMatchesTlfs) {
    // PostMessage, memory form: only the call code.
    EXPECT_EQ(encode_hypercall_input(kCallPostMessage, false), 0x5Cull);
    // SignalEvent, fast form, as Linux issues it: 0x5D | 1 << 16.
    EXPECT_EQ(encode_hypercall_input(kCallSignalEvent, true), 0x1005Dull);
    // Rep count 43:32, rep start 59:48, variable header 26:17.
    EXPECT_EQ(encode_hypercall_input(0x0003, false, 5, 0, 0), 0x0000000500000003ull);
    EXPECT_EQ(encode_hypercall_input(0x0003, false, 5, 2, 0), 0x0002000500000003ull);
    EXPECT_EQ(encode_hypercall_input(0x0003, false, 0, 0, 3), 0x3ull | (3ull << 17));
    // Fields are masked to their width: nothing leaks into the reserved bits.
    const uint64_t all = encode_hypercall_input(0xFFFF, true, 0xFFFF, 0xFFFF, 0xFFFF);
    EXPECT_EQ(all & ~((0xFFFull << 48) | (0xFFFull << 32) | (0x3FFull << 17) | (1ull << 16) | 0xFFFFull), 0u);
    EXPECT_EQ(kCallPostMessage, 0x5C);
    EXPECT_EQ(kCallSignalEvent, 0x5D);
}

TEST(HvHypercall, ResultDecoding) {
    EXPECT_EQ(result_status(0x0000000700000013ull), kStatusInsufficientBuffers);
    EXPECT_EQ(result_reps(0x0000000700000013ull), 7);
    EXPECT_TRUE(status_is_transient(kStatusInsufficientBuffers));
    EXPECT_TRUE(status_is_transient(kStatusInsufficientMemory));
    EXPECT_FALSE(status_is_transient(kStatusInvalidConnectionId));
    EXPECT_STREQ(status_name(0x18), "INVALID_SYNIC_STATE");
}

TEST(HvHypercall, SignalEventFastInput) {
    EXPECT_EQ(signal_event_input(0x2001, 0), 0x2001ull);
    EXPECT_EQ(signal_event_input(0x2001, 3), 0x0000000300002001ull);
    RecordingPort port;
    EXPECT_EQ(signal_event(port, 0x2001), kStatusSuccess);
    ASSERT_EQ(port.calls.size(), 1u);
    EXPECT_EQ(port.calls[0].control, 0x1005Dull);
    EXPECT_EQ(port.calls[0].rdx, 0x2001ull);
    EXPECT_EQ(port.calls[0].r8, 0u);
    port.status = kStatusInvalidSynicState;
    EXPECT_EQ(signal_event(port, 5), kStatusInvalidSynicState);
}

TEST(HvHypercall, PostMessageBlockLayout) {
    dma::Region r;
    ASSERT_TRUE(dma::alloc(4096, r));
    auto* in = static_cast<PostMessageInput*>(r.virt);
    RecordingPort port;
    const uint8_t payload[12] = {3, 0, 0, 0, 0, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD};
    EXPECT_EQ(post_message(port, *in, r.phys, 4, kMessageTypeVmbus, payload, sizeof payload), kStatusSuccess);
    ASSERT_EQ(port.calls.size(), 1u);
    EXPECT_EQ(port.calls[0].control, 0x5Cull);
    EXPECT_EQ(port.calls[0].rdx, r.phys);
    EXPECT_EQ(port.calls[0].r8, 0u);
    const auto& b = port.calls[0].input;
    const uint8_t head[16] = {4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0};
    EXPECT_EQ(memcmp(b.data(), head, 16), 0);
    EXPECT_EQ(memcmp(b.data() + 16, payload, 12), 0);
    for (size_t i = 28; i < 256; ++i) EXPECT_EQ(b[i], 0) << i;
    dma::free(r);
}

TEST(HvHypercall, PostMessageRejectsWhatTheHypervisorWould) {
    dma::Region r;
    ASSERT_TRUE(dma::alloc(4096, r));
    auto* in = static_cast<PostMessageInput*>(r.virt);
    RecordingPort port;
    uint8_t big[241] = {};
    EXPECT_EQ(post_message(port, *in, r.phys, 1, 1, big, 241), kStatusInvalidParameter);
    EXPECT_EQ(post_message(port, *in, r.phys, 1, 1, big, 240), kStatusSuccess);
    EXPECT_EQ(post_message(port, *in, r.phys, 1, 0, big, 8), kStatusInvalidParameter);
    EXPECT_EQ(post_message(port, *in, r.phys, 1, 0x80000001u, big, 8), kStatusInvalidParameter);
    EXPECT_EQ(post_message(port, *in, r.phys, 0x01000001u, 1, big, 8), kStatusInvalidParameter);
    // Misaligned or page-crossing input blocks.
    EXPECT_EQ(post_message(port, *in, r.phys + 4, 1, 1, big, 8), kStatusInvalidAlignment);
    EXPECT_EQ(post_message(port, *in, r.phys + 4096 - 128, 1, 1, big, 8), kStatusInvalidAlignment);
    EXPECT_EQ(port.calls.size(), 1u);  // only the valid one reached the hypervisor
    port.script = {kStatusInsufficientBuffers};
    EXPECT_EQ(post_message(port, *in, r.phys, 1, 1, big, 8), kStatusInsufficientBuffers);
    dma::free(r);
}

TEST(HvHypercall, PageHypercallOnHostIsInert) {
    PageHypercall p(0x1000);
    EXPECT_EQ(result_status(p.call(0x5C, 0, 0)), kStatusInvalidHypercallCode);
}

TEST(HvDetect, HyperVWithPrivileges) {
    HvModel m;
    ModelScope s(&m);
    m.leaves[0x40000003].edx &= ~kFeatFrequencyMsrs;
    Features f = detect();
    EXPECT_EQ(f.result, DetectResult::Ok);
    EXPECT_TRUE(f.usable());
    EXPECT_EQ(f.build, 20348u);
    EXPECT_EQ(f.version_major, 10);
    EXPECT_TRUE(f.has_vp_index());
    EXPECT_TRUE(f.has_reference_tsc());
    EXPECT_FALSE(f.has_frequency_msrs());  // privilege alone is not enough: EDX bit 8 too
    m.leaves[0x40000003].edx |= kFeatFrequencyMsrs;
    EXPECT_TRUE(detect().has_frequency_msrs());
    EXPECT_TRUE(f.auto_eoi_allowed());
    m.leaves[0x40000004].eax = kRecommendDeprecateAutoEoi;
    EXPECT_FALSE(detect().auto_eoi_allowed());
}

TEST(HvDetect, BareMetalDoesNotQueryHypervisorLeaves) {
    HvModel m;
    m.leaves[1].ecx = 0;
    m.leaves.erase(0x40000000);
    ModelScope s(&m);
    EXPECT_EQ(detect().result, DetectResult::NoHypervisor);
}

TEST(HvDetect, OtherHypervisorsAndMissingPrivileges) {
    HvModel m;
    ModelScope s(&m);
    m.leaves[0x40000001].eax = 0;  // KVM-style interface: not Hv#1
    EXPECT_EQ(detect().result, DetectResult::NotHyperV);
    m.leaves[0x40000001].eax = kInterfaceHv1;
    m.leaves[0x40000000].eax = 0x40000004;  // too few leaves
    EXPECT_EQ(detect().result, DetectResult::NotHyperV);
    m.leaves[0x40000000].eax = 0x4000000C;
    const uint32_t lo = m.leaves[0x40000003].eax, hi = m.leaves[0x40000003].ebx;
    for (uint32_t bit : {kPrivSynicRegs, kPrivHypercallMsrs}) {
        m.leaves[0x40000003].eax = lo & ~bit;
        EXPECT_EQ(detect().result, DetectResult::MissingPrivileges) << bit;
    }
    m.leaves[0x40000003].eax = lo;
    for (uint32_t bit : {kPrivPostMessages, kPrivSignalEvents}) {
        m.leaves[0x40000003].ebx = hi & ~bit;
        EXPECT_EQ(detect().result, DetectResult::MissingPrivileges) << bit;
    }
}

TEST(HvGuestId, OpenSourceEncoding) {
    EXPECT_EQ(encode_guest_os_id(1, 0, 0, 0), 0x8100000000000000ull);  // what Linux would claim: type 1
    EXPECT_EQ(encode_guest_os_id(0, 0x18, 0x00020003, 0x1234), 0x8018000200031234ull);
    EXPECT_NE(kSkerryGuestOsId >> 63, 0u);           // open source
    EXPECT_EQ((kSkerryGuestOsId >> 56) & 0x7F, 0u);  // neither Linux (1) nor FreeBSD (2)
}

TEST(HvSetup, EnablesHypercallPageInOrder) {
    HvModel m;
    ModelScope s(&m);
    m.msrs[kMsrHypercall] = 0x5A8;  // some bits in 11:2 to preserve
    Features f = detect();
    ASSERT_EQ(enable_hypercalls(f, 0x7F000), SetupResult::Ok);
    ASSERT_EQ(m.writes.size(), 2u);
    EXPECT_EQ(m.writes[0].first, kMsrGuestOsId);  // the id first: the page does not enable without it
    EXPECT_EQ(m.writes[0].second, kSkerryGuestOsId);
    EXPECT_EQ(m.writes[1].first, kMsrHypercall);
    EXPECT_EQ(m.writes[1].second, 0x7F000ull | 0x5A8 | 1);
    EXPECT_EQ(hypercall_msr_value(0xFFFFFFFFFFFFFFFEull, 0x3000), 0x3000ull | 0xFFC | 1);
    disable_hypercalls();
    EXPECT_EQ(m.msrs[kMsrGuestOsId], 0u);
    EXPECT_EQ(m.msrs[kMsrHypercall] & kHypercallEnable, 0u);
}

TEST(HvSetup, TakesOverFromFirmware) {
    HvModel m;
    ModelScope s(&m);
    m.msrs[kMsrGuestOsId] = kFirmwareGuestOsId;
    m.msrs[kMsrHypercall] = 0x9000 | 1;
    ASSERT_EQ(enable_hypercalls(detect(), 0x7F000), SetupResult::Ok);
    EXPECT_EQ(m.msrs[kMsrGuestOsId], kSkerryGuestOsId);
    EXPECT_EQ(m.msrs[kMsrHypercall], 0x7F001ull);
}

TEST(HvSetup, Failures) {
    HvModel m;
    ModelScope s(&m);
    Features f = detect();
    EXPECT_EQ(enable_hypercalls(f, 0x7F010), SetupResult::BadPage);
    EXPECT_EQ(enable_hypercalls(f, 0), SetupResult::BadPage);
    Features none;
    EXPECT_EQ(enable_hypercalls(none, 0x7F000), SetupResult::NotUsable);
    m.msrs[kMsrHypercall] = 0x9000 | kHypercallLocked | kHypercallEnable;
    EXPECT_EQ(enable_hypercalls(f, 0x7F000), SetupResult::Locked);
    EXPECT_EQ(enable_hypercalls(f, 0x9000), SetupResult::Ok);
    // A hypervisor that refuses the id leaves the page disabled: reported, not assumed.
    HvModel m2;
    hw::set_model(&m2);
    EXPECT_EQ(enable_hypercalls(f, 0x7F000, 0), SetupResult::NotEnabled);
}

TEST(HvSetup, VpIndex) {
    HvModel m;
    ModelScope s(&m);
    m.msrs[kMsrVpIndex] = 3;
    Features f = detect();
    EXPECT_EQ(vp_index(f), 3u);
    f.privileges_low &= ~kPrivVpIndex;
    EXPECT_EQ(vp_index(f), 0u);
}

}  // namespace
}  // namespace skerry::hv
