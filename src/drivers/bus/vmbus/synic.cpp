// SynIC message and event-flag pages (see synic.hpp).
#include "drivers/bus/vmbus/synic.hpp"

#include <string.h>

#include "hw/hw.hpp"

namespace skerry::hv {

bool Synic::enable(uint64_t sim_phys, uint64_t sief_phys, unsigned sint, uint8_t vector, bool auto_eoi) {
    if (sint >= kSintCount || vector < 16) return false;
    if (sim_phys == 0 || sief_phys == 0 || ((sim_phys | sief_phys) & 0xFFF) != 0 || sim_phys == sief_phys) return false;
    void* sim = hw::phys_to_virt(sim_phys, 4096);
    void* sief = hw::phys_to_virt(sief_phys, 4096);
    if (sim == nullptr || sief == nullptr) return false;
    memset(sim, 0, 4096);  // stale slots from firmware or a previous session
    memset(sief, 0, 4096);
    sim_ = static_cast<volatile uint8_t*>(sim);
    sief_ = static_cast<volatile uint8_t*>(sief);
    sint_ = sint;
    hw::wrmsr(kMsrSimp, synic_page_msr_value(hw::rdmsr(kMsrSimp), sim_phys));
    hw::wrmsr(kMsrSiefp, synic_page_msr_value(hw::rdmsr(kMsrSiefp), sief_phys));
    hw::wrmsr(kMsrSint0 + sint, sint_msr_value(hw::rdmsr(kMsrSint0 + sint), vector, auto_eoi));
    hw::wrmsr(kMsrScontrol, hw::rdmsr(kMsrScontrol) | kScontrolEnable);
    return true;
}

void Synic::disable() {
    if (sim_ == nullptr) return;
    hw::wrmsr(kMsrSint0 + sint_, hw::rdmsr(kMsrSint0 + sint_) | kSintMasked);
    hw::wrmsr(kMsrSimp, hw::rdmsr(kMsrSimp) & kPagePreserveMask);
    hw::wrmsr(kMsrSiefp, hw::rdmsr(kMsrSiefp) & kPagePreserveMask);
    sim_ = nullptr;
    sief_ = nullptr;
}

void Synic::eom() {
    hw::wrmsr(kMsrEom, 0);
    stats_.eoms++;
}

PollResult Synic::poll(unsigned sint, Message& out) {
    if (sim_ == nullptr || sint >= kSintCount) return PollResult::Empty;
    volatile uint8_t* s = slot(sint);
    auto* type_word = reinterpret_cast<uint32_t*>(const_cast<uint8_t*>(s + kSlotOffType));
    const uint32_t type = __atomic_load_n(type_word, __ATOMIC_ACQUIRE);
    if (type == kMessageTypeNone) return PollResult::Empty;
    out.type = type;
    out.payload_size = s[kSlotOffSize];
    out.flags = s[kSlotOffFlags];
    uint64_t origin = 0;
    for (int i = 7; i >= 0; --i) origin = (origin << 8) | s[kSlotOffOrigin + i];
    out.origin = origin;
    const bool malformed = out.payload_size > kSlotPayloadMax;
    const size_t n = malformed ? 0 : out.payload_size;
    for (size_t i = 0; i < n; ++i) out.payload[i] = s[kSlotOffPayload + i];
    memset(out.payload + n, 0, kSlotPayloadMax - n);
    // Free the slot, then look at MessagePending: the hypervisor may have set it while we copied.
    uint32_t expected = type;
    __atomic_compare_exchange_n(type_word, &expected, kMessageTypeNone, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if ((s[kSlotOffFlags] & kMessageFlagPending) != 0) eom();
    if (malformed) {
        stats_.malformed++;
        return PollResult::Malformed;
    }
    stats_.messages++;
    return PollResult::Message;
}

bool Synic::test_and_clear_event(unsigned sint, unsigned flag) {
    if (sief_ == nullptr || sint >= kSintCount || flag >= 2048) return false;
    auto* words = reinterpret_cast<uint32_t*>(const_cast<uint8_t*>(sief_ + sint * 256));
    const uint32_t bit = 1u << (flag % 32);
    if ((__atomic_load_n(&words[flag / 32], __ATOMIC_RELAXED) & bit) == 0) return false;
    return (__atomic_fetch_and(&words[flag / 32], ~bit, __ATOMIC_SEQ_CST) & bit) != 0;
}

}  // namespace skerry::hv
