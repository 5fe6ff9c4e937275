// Hyper-V detection, guest identity, hypercall page and hypercall encoding (see hv.hpp).
#include "drivers/bus/vmbus/hv.hpp"

#include <string.h>

#include "hw/hw.hpp"

namespace skerry::hv {

const char* detect_result_name(DetectResult r) {
    switch (r) {
    case DetectResult::Ok: return "ok";
    case DetectResult::NoHypervisor: return "no hypervisor";
    case DetectResult::NotHyperV: return "not a Hyper-V interface";
    case DetectResult::MissingPrivileges: return "missing hypercall/SynIC/messaging privileges";
    }
    return "?";
}

const char* setup_result_name(SetupResult r) {
    switch (r) {
    case SetupResult::Ok: return "ok";
    case SetupResult::NotUsable: return "Hyper-V not usable";
    case SetupResult::BadPage: return "hypercall page not page aligned";
    case SetupResult::Locked: return "hypercall MSR locked to another page";
    case SetupResult::NotEnabled: return "hypercall page did not enable";
    }
    return "?";
}

const char* status_name(uint16_t s) {
    switch (s) {
    case kStatusSuccess: return "SUCCESS";
    case kStatusInvalidHypercallCode: return "INVALID_HYPERCALL_CODE";
    case kStatusInvalidHypercallInput: return "INVALID_HYPERCALL_INPUT";
    case kStatusInvalidAlignment: return "INVALID_ALIGNMENT";
    case kStatusInvalidParameter: return "INVALID_PARAMETER";
    case kStatusAccessDenied: return "ACCESS_DENIED";
    case kStatusInsufficientMemory: return "INSUFFICIENT_MEMORY";
    case kStatusInvalidPortId: return "INVALID_PORT_ID";
    case kStatusInvalidConnectionId: return "INVALID_CONNECTION_ID";
    case kStatusInsufficientBuffers: return "INSUFFICIENT_BUFFERS";
    case kStatusInvalidSynicState: return "INVALID_SYNIC_STATE";
    }
    return "unknown HV_STATUS";
}

Features detect() {
    Features f;
    if ((hw::cpuid(1).ecx & (1u << 31)) == 0) {
        f.result = DetectResult::NoHypervisor;
        return f;
    }
    f.max_leaf = hw::cpuid(kLeafVendor).eax;
    if (f.max_leaf < 0x40000005 || hw::cpuid(kLeafInterface).eax != kInterfaceHv1) {
        f.result = DetectResult::NotHyperV;
        return f;
    }
    hw::CpuidResult v = hw::cpuid(kLeafVersion);
    f.build = v.eax;
    f.version_major = static_cast<uint16_t>(v.ebx >> 16);
    f.version_minor = static_cast<uint16_t>(v.ebx & 0xFFFF);
    hw::CpuidResult p = hw::cpuid(kLeafFeatures);
    f.privileges_low = p.eax;
    f.privileges_high = p.ebx;
    f.features_edx = p.edx;
    f.recommendations = hw::cpuid(kLeafRecommendations).eax;
    const bool low_ok = (p.eax & (kPrivSynicRegs | kPrivHypercallMsrs)) == (kPrivSynicRegs | kPrivHypercallMsrs);
    const bool high_ok = (p.ebx & (kPrivPostMessages | kPrivSignalEvents)) == (kPrivPostMessages | kPrivSignalEvents);
    f.result = (low_ok && high_ok) ? DetectResult::Ok : DetectResult::MissingPrivileges;
    return f;
}

SetupResult enable_hypercalls(const Features& f, uint64_t page_phys, uint64_t guest_os_id) {
    if (!f.usable()) return SetupResult::NotUsable;
    if (page_phys == 0 || (page_phys & 0xFFF) != 0) return SetupResult::BadPage;
    const uint64_t id = hw::rdmsr(kMsrGuestOsId);
    // Zero, firmware's (1 << 40) or anyone else's: take over with ours.
    if (id != guest_os_id) hw::wrmsr(kMsrGuestOsId, guest_os_id);
    const uint64_t cur = hw::rdmsr(kMsrHypercall);
    if ((cur & kHypercallLocked) != 0) {
        // A locked MSR cannot be moved; it is usable only if it already points at our page.
        if ((cur & kHypercallEnable) != 0 && (cur & ~0xFFFull) == page_phys) return SetupResult::Ok;
        return SetupResult::Locked;
    }
    hw::wrmsr(kMsrHypercall, hypercall_msr_value(cur, page_phys));
    const uint64_t now = hw::rdmsr(kMsrHypercall);
    if ((now & kHypercallEnable) == 0 || (now & ~0xFFFull) != page_phys) return SetupResult::NotEnabled;
    return SetupResult::Ok;
}

void disable_hypercalls() {
    const uint64_t cur = hw::rdmsr(kMsrHypercall);
    if ((cur & kHypercallLocked) == 0) hw::wrmsr(kMsrHypercall, cur & kHypercallPreserveMask);
    hw::wrmsr(kMsrGuestOsId, 0);
}

uint32_t vp_index(const Features& f) { return f.has_vp_index() ? static_cast<uint32_t>(hw::rdmsr(kMsrVpIndex)) : 0; }

uint16_t build_post_message(PostMessageInput& in, uint32_t connection_id, uint32_t message_type, const void* payload,
                            size_t size) {
    if (message_type == 0 || (message_type & 0x80000000u) != 0) return kStatusInvalidParameter;
    if (size > kMessagePayloadMax || (connection_id & 0xFF000000u) != 0) return kStatusInvalidParameter;
    if (size != 0 && payload == nullptr) return kStatusInvalidParameter;
    in.connection_id = connection_id;
    in.reserved = 0;
    in.message_type = message_type;
    in.payload_size = static_cast<uint32_t>(size);
    if (size != 0) memcpy(in.payload, payload, size);
    memset(in.payload + size, 0, kMessagePayloadMax - size);
    return kStatusSuccess;
}

uint16_t post_message(HypercallPort& port, PostMessageInput& input, uint64_t input_phys, uint32_t connection_id,
                      uint32_t message_type, const void* payload, size_t size) {
    if ((input_phys & 7) != 0 || (input_phys & 0xFFF) + sizeof(PostMessageInput) > 4096) return kStatusInvalidAlignment;
    const uint16_t s = build_post_message(input, connection_id, message_type, payload, size);
    if (s != kStatusSuccess) return s;
    return result_status(port.call(encode_hypercall_input(kCallPostMessage, false), input_phys, 0));
}

uint16_t signal_event(HypercallPort& port, uint32_t connection_id, uint16_t flag) {
    const uint64_t control = encode_hypercall_input(kCallSignalEvent, true);
    return result_status(port.call(control, signal_event_input(connection_id, flag), 0));
}

// PageHypercall::call is in hv_kernel.cpp (the call into the page); host builds get hv_host.cpp's.

}  // namespace skerry::hv
