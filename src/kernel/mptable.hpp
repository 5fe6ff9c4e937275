// The Intel MultiProcessor Specification 1.4 tables: the MP floating pointer structure ("_MP_") and the MP
// configuration table ("PCMP") it points to. Machines without ACPI describe their interrupt controllers here:
// Firecracker before its ACPI support writes one at 0x9fc00, and QEMU's microvm firmware (qboot) writes one too.
// docs/protocols/microvm-platform.md has the layout and where each fact comes from.
//
// Memory is read only through a boot::PhysReader, never beyond the lengths the structures declare (and the
// bounds below), so a malformed table gives warnings and a partial or empty result, never a wild access.
// Nothing allocates; Info is a plain structure for static storage.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "boot/bootinfo.hpp"

namespace skerry::mptable {

inline constexpr size_t kMaxIoApics = 8;
inline constexpr size_t kMaxIrqs = 32;  // ISA-bus I/O interrupt assignment entries kept
inline constexpr size_t kMaxWarnings = 6;
inline constexpr size_t kWarningLen = 96;
inline constexpr uint16_t kMaxTableLength = 0xFFFF;  // the base table length is a 16-bit field

// MP spec 1.4 entry types of the base table.
inline constexpr uint8_t kEntryProcessor = 0, kEntryBus = 1, kEntryIoApic = 2, kEntryIoInterrupt = 3,
                         kEntryLocalInterrupt = 4;

struct IoApic {
    uint8_t id;
    uint32_t address;
    bool enabled;  // flags bit 0 (EN)
};

// An I/O interrupt assignment entry (type 3, interrupt type INT) whose source is an ISA bus.
struct IsaIrq {
    uint8_t source_irq;  // ISA IRQ
    uint8_t ioapic_id;   // destination I/O APIC id (0xFF: all)
    uint8_t pin;         // INTIN# on that I/O APIC
    uint16_t flags;      // polarity bits 0-1, trigger bits 2-3 (same encoding as the MADT's MPS INTI flags)
};

struct Info {
    bool found;     // a floating pointer with a good signature and checksum
    bool table_ok;  // its configuration table was read (header and checksum good)
    uint64_t floating_phys;
    uint64_t table_phys;       // 0 with a default configuration
    uint8_t spec_rev;          // floating pointer: 1 = MP 1.1, 4 = MP 1.4
    uint8_t default_config;    // feature byte 1: 0 = a configuration table is present, 1-7 = a default configuration
    char oem[9], product[13];  // NUL-terminated, made printable
    uint32_t lapic_address;
    uint16_t entry_count;   // as the header says (Firecracker and qboot leave it 0; the walk goes by length)
    uint16_t entries_seen;  // entries actually walked
    uint32_t cpu_count;     // enabled processor entries
    uint32_t cpu_entries;   // all processor entries
    uint8_t isa_bus_id;     // the ISA bus's id (0xFF: no ISA bus entry)
    bool have_isa_bus;
    IoApic ioapics[kMaxIoApics];
    size_t ioapic_count;
    IsaIrq isa_irqs[kMaxIrqs];
    size_t isa_irq_count;
    char warnings[kMaxWarnings][kWarningLen];
    size_t warning_count;
};

// Parses the floating pointer at `phys` and the configuration table it names. False when the floating pointer
// is bad (out.warnings says why); true otherwise, with out.table_ok saying whether the table was good.
bool parse(const boot::PhysReader& mem, uint64_t phys, Info& out);

// Searches where the MP spec (section 4) says the floating pointer may be: the first KiB of the EBDA (ebda_phys,
// 0 = unknown), else the last KiB of base memory (0x9fc00, also 0x7fc00 for 512 KiB machines), then the BIOS ROM
// area 0xf0000-0xfffff, on 16-byte boundaries. Parses the first good one. False when none is found.
bool find(const boot::PhysReader& mem, Info& out, uint64_t ebda_phys = 0);

// The GSI for an ISA IRQ from the table's assignments to the first I/O APIC (pin number == GSI with one I/O
// APIC at GSI base 0), with polarity and trigger (ISA default: high, edge). Identity when not listed.
uint32_t isa_irq_to_gsi(const Info& info, uint8_t irq, bool* active_low, bool* level);

// One info line: "mptable: MP 1.4 at 0x9fc00, OEM 'FC', 1 CPU, I/O APIC id 2 at 0xfec00000, 24 ISA IRQs".
void format_summary(const Info& info, char* buf, size_t size);

}  // namespace skerry::mptable
