// Hyper-V hypervisor interface for a guest: detection through the CPUID leaves 0x40000000.., the guest OS
// identity MSR, the hypercall page, and the two hypercalls VMBus needs (HvPostMessage, HvSignalEvent).
//
// Everything that only computes values (the hypercall input value, the post-message input block, the CPUID decoding)
// is a pure function, checked by host tests (docs/protocols/hyperv-vmbus.md §1-§2). The MSR and CPUID accesses go
// through the hardware access layer (hw::), so tests run them against a fake hw::Model. The hypercall itself is made
// through a HypercallPort: in the kernel PageHypercall calls into the hypercall page; tests substitute a host
// simulator. Nothing here runs unless called.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::hv {

// ------------------------------------------------------------------------------------------------- CPUID
constexpr uint32_t kLeafVendor = 0x40000000;
constexpr uint32_t kLeafInterface = 0x40000001;
constexpr uint32_t kLeafVersion = 0x40000002;
constexpr uint32_t kLeafFeatures = 0x40000003;
constexpr uint32_t kLeafRecommendations = 0x40000004;
constexpr uint32_t kInterfaceHv1 = 0x31237648;  // "Hv#1"

// Partition privilege mask, low half (CPUID 0x40000003 EAX).
constexpr uint32_t kPrivReferenceCounter = 1u << 1;
constexpr uint32_t kPrivSynicRegs = 1u << 2;
constexpr uint32_t kPrivHypercallMsrs = 1u << 5;
constexpr uint32_t kPrivVpIndex = 1u << 6;
constexpr uint32_t kPrivReferenceTsc = 1u << 9;
constexpr uint32_t kPrivFrequencyRegs = 1u << 11;
// High half (CPUID 0x40000003 EBX).
constexpr uint32_t kPrivPostMessages = 1u << 4;
constexpr uint32_t kPrivSignalEvents = 1u << 5;
// Feature bits (EDX) and recommendations (0x40000004 EAX).
constexpr uint32_t kFeatFrequencyMsrs = 1u << 8;
constexpr uint32_t kFeatSintPolling = 1u << 17;
constexpr uint32_t kRecommendDeprecateAutoEoi = 1u << 9;

enum class DetectResult : uint8_t {
    Ok = 0,
    NoHypervisor,       // CPUID.1:ECX[31] clear
    NotHyperV,          // leaf 0x40000001 EAX is not "Hv#1" or max leaf < 0x40000005
    MissingPrivileges,  // hypercall MSRs, SynIC registers, PostMessages or SignalEvents not granted
};
const char* detect_result_name(DetectResult r);

struct Features {
    DetectResult result = DetectResult::NoHypervisor;
    uint32_t max_leaf = 0;
    uint32_t build = 0;            // 0x40000002 EAX
    uint16_t version_major = 0;    // 0x40000002 EBX 31:16
    uint16_t version_minor = 0;    // 0x40000002 EBX 15:0
    uint32_t privileges_low = 0;   // 0x40000003 EAX
    uint32_t privileges_high = 0;  // 0x40000003 EBX
    uint32_t features_edx = 0;     // 0x40000003 EDX
    uint32_t recommendations = 0;  // 0x40000004 EAX

    bool usable() const { return result == DetectResult::Ok; }
    bool auto_eoi_allowed() const { return (recommendations & kRecommendDeprecateAutoEoi) == 0; }
    bool has_vp_index() const { return (privileges_low & kPrivVpIndex) != 0; }
    bool has_reference_tsc() const { return (privileges_low & kPrivReferenceTsc) != 0; }
    bool has_reference_counter() const { return (privileges_low & kPrivReferenceCounter) != 0; }
    bool has_frequency_msrs() const {
        return (privileges_low & kPrivFrequencyRegs) != 0 && (features_edx & kFeatFrequencyMsrs) != 0;
    }
};

// Decode the Hyper-V leaves with hw::cpuid. Leaves above 0x40000000 are only read when CPUID.1:ECX[31] is set.
Features detect();

// ------------------------------------------------------------------------------------------------- MSRs
constexpr uint32_t kMsrGuestOsId = 0x40000000;
constexpr uint32_t kMsrHypercall = 0x40000001;
constexpr uint32_t kMsrVpIndex = 0x40000002;
constexpr uint64_t kHypercallEnable = 1u << 0;
constexpr uint64_t kHypercallLocked = 1u << 1;
constexpr uint64_t kHypercallPreserveMask = 0xFFCull;  // bits 11:2 are kept as read
// The guest OS id UEFI firmware leaves behind on Gen2 (iPXE's observation): it still owns the hypervisor.
constexpr uint64_t kFirmwareGuestOsId = 1ull << 40;

// Open-source encoding: bit 63 set, 62:56 OS type, 55:48 OS id, 47:16 version, 15:0 build. We claim OS type 0
// (not Linux = 1 or FreeBSD = 2): hosts special-case those by version.
constexpr uint64_t encode_guest_os_id(uint8_t os_type, uint8_t os_id, uint32_t version, uint16_t build) {
    return (1ull << 63) | (static_cast<uint64_t>(os_type & 0x7F) << 56) | (static_cast<uint64_t>(os_id) << 48) |
           (static_cast<uint64_t>(version) << 16) | build;
}
constexpr uint64_t kSkerryGuestOsId = encode_guest_os_id(0, 0x5C, 0x00010000, 0);

// The HYPERCALL MSR value enabling the page at `page_phys` (4 KiB aligned), keeping bits 11:2 of `current`.
constexpr uint64_t hypercall_msr_value(uint64_t current, uint64_t page_phys) {
    return (page_phys & ~0xFFFull) | (current & kHypercallPreserveMask) | kHypercallEnable;
}

enum class SetupResult : uint8_t { Ok = 0, NotUsable, BadPage, Locked, NotEnabled };
const char* setup_result_name(SetupResult r);

// Write the guest OS id (if zero or firmware's) and enable the hypercall page at `page_phys` (page aligned,
// non-zero). The page becomes an overlay: the guest must not use the RAM under it. Read back to confirm.
SetupResult enable_hypercalls(const Features& f, uint64_t page_phys, uint64_t guest_os_id = kSkerryGuestOsId);
// Disable the page and clear the guest OS id (hand-off / shutdown).
void disable_hypercalls();
// This VP's index (MSR 0x40000002) when the privilege is granted, else 0.
uint32_t vp_index(const Features& f);

// ------------------------------------------------------------------------------------------------- hypercalls
constexpr uint16_t kCallPostMessage = 0x005C;
constexpr uint16_t kCallSignalEvent = 0x005D;

// Hypercall input value (RCX): 15:0 call code, 16 fast, 26:17 variable header size in qwords, 43:32 rep count,
// 59:48 rep start index; all other bits zero. Out-of-range fields are masked to their width.
constexpr uint64_t encode_hypercall_input(uint16_t code, bool fast, uint16_t rep_count = 0, uint16_t rep_start = 0,
                                          uint16_t var_header_qwords = 0) {
    return static_cast<uint64_t>(code) | (fast ? (1ull << 16) : 0) |
           (static_cast<uint64_t>(var_header_qwords & 0x3FF) << 17) | (static_cast<uint64_t>(rep_count & 0xFFF) << 32) |
           (static_cast<uint64_t>(rep_start & 0xFFF) << 48);
}

// Result value (RAX): 15:0 status, 43:32 reps completed.
constexpr uint16_t result_status(uint64_t rax) { return static_cast<uint16_t>(rax & 0xFFFF); }
constexpr uint16_t result_reps(uint64_t rax) { return static_cast<uint16_t>((rax >> 32) & 0xFFF); }

// HV_STATUS values.
constexpr uint16_t kStatusSuccess = 0x00;
constexpr uint16_t kStatusInvalidHypercallCode = 0x02;
constexpr uint16_t kStatusInvalidHypercallInput = 0x03;
constexpr uint16_t kStatusInvalidAlignment = 0x04;
constexpr uint16_t kStatusInvalidParameter = 0x05;
constexpr uint16_t kStatusAccessDenied = 0x06;
constexpr uint16_t kStatusInsufficientMemory = 0x0B;
constexpr uint16_t kStatusInvalidPortId = 0x11;
constexpr uint16_t kStatusInvalidConnectionId = 0x12;
constexpr uint16_t kStatusInsufficientBuffers = 0x13;
constexpr uint16_t kStatusInvalidSynicState = 0x18;
// Worth retrying after a back-off: the host's message buffers or memory were momentarily exhausted.
constexpr bool status_is_transient(uint16_t s) {
    return s == kStatusInsufficientBuffers || s == kStatusInsufficientMemory;
}
const char* status_name(uint16_t s);

// HvPostMessage input block (memory form): 256 bytes, 8-aligned, must not cross a page.
constexpr size_t kMessagePayloadMax = 240;
struct PostMessageInput {
    uint32_t connection_id;  // bits 31:24 zero
    uint32_t reserved;
    uint32_t message_type;  // non-zero, MSB clear; VMBus uses 1
    uint32_t payload_size;  // <= 240
    uint8_t payload[kMessagePayloadMax];
};
static_assert(sizeof(PostMessageInput) == 256);
static_assert(__builtin_offsetof(PostMessageInput, payload) == 16);
constexpr uint32_t kMessageTypeVmbus = 1;

// Fill `in` for HvPostMessage. Returns kStatusSuccess, or kStatusInvalidParameter for what the hypervisor would
// refuse (type 0 or MSB set, size > 240, connection id with bits 31:24 set), without touching the host.
uint16_t build_post_message(PostMessageInput& in, uint32_t connection_id, uint32_t message_type, const void* payload,
                            size_t size);

// HvSignalEvent, fast form: RCX = code | fast, RDX = connection id | flag << 32, R8 = 0.
constexpr uint64_t signal_event_input(uint32_t connection_id, uint16_t flag) {
    return static_cast<uint64_t>(connection_id) | (static_cast<uint64_t>(flag) << 32);
}

// Where hypercalls go. The kernel uses PageHypercall; tests install a host simulator.
class HypercallPort {
public:
    // RCX, RDX, R8 in; RAX out.
    virtual uint64_t call(uint64_t control, uint64_t rdx, uint64_t r8) = 0;

protected:
    ~HypercallPort() = default;
};

// Calls through the hypercall page (kernel build). On the host it returns kStatusInvalidHypercallCode.
class PageHypercall final : public HypercallPort {
public:
    explicit PageHypercall(uint64_t page_phys = 0) : page_phys_(page_phys) {}
    void set_page(uint64_t page_phys) { page_phys_ = page_phys; }
    uint64_t call(uint64_t control, uint64_t rdx, uint64_t r8) override;

private:
    uint64_t page_phys_;
};

// HvPostMessage with the input block at `input` (physical address `input_phys`, page-aligned and reserved for
// this use). Returns the HV_STATUS.
uint16_t post_message(HypercallPort& port, PostMessageInput& input, uint64_t input_phys, uint32_t connection_id,
                      uint32_t message_type, const void* payload, size_t size);
// HvSignalEvent, fast form. Returns the HV_STATUS.
uint16_t signal_event(HypercallPort& port, uint32_t connection_id, uint16_t flag = 0);

}  // namespace skerry::hv
