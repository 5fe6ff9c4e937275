// Local APIC (xAPIC or x2APIC), I/O APICs and the legacy PIC (remapped and masked).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::apic {

struct IoApicDesc {
    uint8_t id;
    uint64_t address;
    uint32_t gsi_base;  // kGsiBaseNext: right after the previous I/O APIC's inputs (0 for the first), as with MP tables
};
inline constexpr uint32_t kGsiBaseNext = 0xFFFFFFFFu;

// Masks the 8259 PICs (when `legacy_pic`: the MADT's PCAT_COMPAT flag, or no MADT at all), enables the local
// APIC (x2APIC when the CPU has it) with spurious vector 0xFF and sets the EOI hook; masks every I/O APIC
// redirection entry.
bool init(uint64_t lapic_address, const IoApicDesc* ioapics, size_t count, bool legacy_pic = true);

uint32_t lapic_id();
bool x2apic();
uint32_t ioapic_count();
uint32_t gsi_count();
void eoi();

// Route a GSI to a vector on this CPU. level/active_low per the MADT override or PCI (level, low).
bool route_gsi(uint32_t gsi, uint8_t vector, bool level_triggered, bool active_low);
void mask_gsi(uint32_t gsi, bool masked);

// MSI message for a vector delivered to this CPU (fixed delivery, edge).
uint64_t msi_address();
uint32_t msi_data(uint8_t vector);

// One-shot timer on vector kTimerVector: TSC-deadline mode when available, else the APIC timer in
// one-shot mode (calibrated against the TSC by time::init).
constexpr uint8_t kTimerVector = 0x20;
bool tsc_deadline();
void timer_arm_tsc(uint64_t tsc_deadline);  // absolute TSC value
void timer_disarm();
void set_timer_frequency(uint64_t apic_ticks_per_second, uint64_t tsc_hz);  // non-deadline mode
uint64_t measure_timer_ticks(uint64_t tsc_cycles);  // counts APIC timer ticks over a TSC interval

}  // namespace skerry::apic
