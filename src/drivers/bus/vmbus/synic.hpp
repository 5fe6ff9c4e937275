// The synthetic interrupt controller (SynIC) of the current VP: the message page (SIMP), the event-flags page
// (SIEFP), the SINTx routing MSRs and end-of-message (EOM) handling.
//
// Pages are addressed physically and reached through hw::phys_to_virt, MSRs through hw::rdmsr/wrmsr, so host
// tests run this against a fake hw::Model that plays the hypervisor. Nothing runs unless called.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::hv {

constexpr uint32_t kMsrScontrol = 0x40000080;
constexpr uint32_t kMsrSversion = 0x40000081;
constexpr uint32_t kMsrSiefp = 0x40000082;
constexpr uint32_t kMsrSimp = 0x40000083;
constexpr uint32_t kMsrEom = 0x40000084;
constexpr uint32_t kMsrSint0 = 0x40000090;
constexpr unsigned kSintCount = 16;
constexpr unsigned kVmbusSint = 2;

constexpr uint64_t kScontrolEnable = 1u << 0;
constexpr uint64_t kPageEnable = 1u << 0;         // SIMP / SIEFP bit 0
constexpr uint64_t kPagePreserveMask = 0xFFEull;  // SIMP / SIEFP bits 11:1 are kept as read
constexpr uint64_t kSintVectorMask = 0xFF;
constexpr uint64_t kSintMasked = 1u << 16;
constexpr uint64_t kSintAutoEoi = 1u << 17;
constexpr uint64_t kSintPolling = 1u << 18;
constexpr uint64_t kSintResetValue = kSintMasked;

// SIMP / SIEFP value: page GPA | preserved bits of `current` | enable.
constexpr uint64_t synic_page_msr_value(uint64_t current, uint64_t page_phys) {
    return (page_phys & ~0xFFFull) | (current & kPagePreserveMask) | kPageEnable;
}
// SINTx value: keep bits other than vector/masked/auto-EOI/polling from `current`.
constexpr uint64_t sint_msr_value(uint64_t current, uint8_t vector, bool auto_eoi) {
    return (current & ~(kSintVectorMask | kSintMasked | kSintAutoEoi | kSintPolling)) | vector |
           (auto_eoi ? kSintAutoEoi : 0);
}

// One message slot of the SIM page (16 slots of 256 bytes, slot n at n * 256).
constexpr uint32_t kMessageTypeNone = 0;
constexpr uint8_t kMessageFlagPending = 1u << 0;
constexpr size_t kMessageSlotSize = 256;
constexpr size_t kMessageHeaderSize = 16;
constexpr size_t kSlotPayloadMax = 240;

struct Message {
    uint32_t type = 0;         // 1 = VMBus; >= 0x80000000 hypervisor-generated
    uint8_t payload_size = 0;  // <= 240
    uint8_t flags = 0;         // bit 0: message pending (as seen in the slot)
    uint64_t origin = 0;       // origination id / sender port
    uint8_t payload[kSlotPayloadMax] = {};
};

// Offsets inside a slot (the current TLFS order; an old TLFS had it wrong).
constexpr size_t kSlotOffType = 0;
constexpr size_t kSlotOffSize = 4;
constexpr size_t kSlotOffFlags = 5;
constexpr size_t kSlotOffOrigin = 8;
constexpr size_t kSlotOffPayload = 16;

struct SynicStats {
    uint64_t messages = 0;   // delivered to the caller
    uint64_t malformed = 0;  // slot claimed a payload > 240 bytes: dropped
    uint64_t eoms = 0;       // EOM writes
};

enum class PollResult : uint8_t { Empty, Message, Malformed };

class Synic {
public:
    // Program the SynIC of this VP: zero both pages, SIMP = sim|1, SIEFP = sief|1, SINTn for `sint` = vector
    // (unmasked, AutoEOI if allowed), then SCONTROL.enable. Pages must be page aligned and mapped. `vector` must
    // be 16..255. False (nothing written) on bad arguments.
    bool enable(uint64_t sim_phys, uint64_t sief_phys, unsigned sint, uint8_t vector, bool auto_eoi);
    // Mask the SINT and disable the pages (SCONTROL is left alone: clearing it hung WS2016 during iPXE hand-off).
    void disable();
    bool enabled() const { return sim_ != nullptr; }

    // Slot protocol: if the slot is empty return Empty; else copy it, clear its type (compare-exchange from the
    // observed value), full barrier, and if MessagePending was set write EOM so the next queued message is
    // delivered. A slot claiming more than 240 bytes is consumed the same way but reported as Malformed.
    PollResult poll(unsigned sint, Message& out);
    // Write EOM unconditionally (harmless when nothing is queued; a polling guest may do this when idle).
    void eom();

    // Event flags: test and atomically clear flag `flag` (0..2047) of `sint`'s bitmap.
    bool test_and_clear_event(unsigned sint, unsigned flag);

    const SynicStats& stats() const { return stats_; }

private:
    volatile uint8_t* slot(unsigned sint) const { return sim_ + sint * kMessageSlotSize; }

    volatile uint8_t* sim_ = nullptr;
    volatile uint8_t* sief_ = nullptr;
    unsigned sint_ = 0;
    SynicStats stats_;
};

}  // namespace skerry::hv
