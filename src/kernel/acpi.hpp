// ACPI static tables: RSDP -> RSDT/XSDT -> MADT (APIC), MCFG, FADT (FACP), HPET and the DSDT's _S5_ object.
//
// All table memory is read through hw::phys_to_virt(phys, len) after its bounds are known: a table's
// header is read first, its length bounded (kMaxTableLength, 36 at least) and its checksum verified. A bad
// table is skipped and a warning recorded in AcpiInfo::warnings (log_summary() prints them); nothing here
// dereferences memory outside a table's declared length, and every list has a fixed capacity.
// Nothing allocates; AcpiInfo is a plain structure (about 3 KiB) meant for static storage.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::acpi {

inline constexpr size_t kMaxTables = 48;        // tables listed in AcpiInfo::tables (more are still parsed)
inline constexpr size_t kMaxRootEntries = 256;  // RSDT/XSDT entries looked at
inline constexpr size_t kMaxIoApics = 16;
inline constexpr size_t kMaxOverrides = 24;
inline constexpr size_t kMaxNmis = 16;
inline constexpr size_t kMaxMcfg = 8;
inline constexpr size_t kMaxWarnings = 8;
inline constexpr size_t kWarningLen = 96;
inline constexpr uint32_t kMaxTableLength = 16u << 20;  // a larger length field is taken as garbage

struct TableRef {
    char signature[5];  // NUL-terminated
    uint64_t phys;
    uint32_t length;
    uint8_t revision;
};

struct IoApic {
    uint8_t id;
    uint64_t address;
    uint32_t gsi_base;
};

// MPS INTI flags (MADT interrupt source overrides and NMI entries).
inline constexpr uint16_t kPolarityMask = 0x3, kPolarityHigh = 0x1, kPolarityLow = 0x3;
inline constexpr uint16_t kTriggerMask = 0xC, kTriggerEdge = 0x4, kTriggerLevel = 0xC;

struct IrqOverride {
    uint8_t bus;         // 0 = ISA
    uint8_t source_irq;  // bus-relative IRQ
    uint32_t gsi;
    uint16_t flags;  // MPS INTI flags
};

struct Nmi {
    bool local;              // true: local APIC NMI (MADT type 4/0xA) on an LINT pin; false: NMI source (type 3)
    uint32_t processor_uid;  // local: ACPI processor UID (0xFF / 0xFFFFFFFF = all processors)
    uint8_t lint;            // local: LINT0 / LINT1
    uint32_t gsi;            // NMI source: the GSI
    uint16_t flags;          // MPS INTI flags
};

struct McfgRegion {
    uint64_t base;  // ECAM address of bus 0 of this segment
    uint16_t segment;
    uint8_t start_bus, end_bus;
};

// FADT IAPC_BOOT_ARCH bits.
inline constexpr uint16_t kBootArchLegacyDevices = 1u << 0;
inline constexpr uint16_t kBootArch8042 = 1u << 1;
inline constexpr uint16_t kBootArchVgaNotPresent = 1u << 2;
inline constexpr uint16_t kBootArchMsiNotSupported = 1u << 3;
inline constexpr uint16_t kBootArchAspmControls = 1u << 4;
inline constexpr uint16_t kBootArchCmosRtcNotPresent = 1u << 5;

struct AcpiInfo {
    bool valid;  // parse() succeeded: RSDP and a root table (RSDT or XSDT) were good

    // ---- RSDP and the root table
    uint64_t rsdp_phys;     // 0 when parsed from a copy whose address is unknown
    uint8_t rsdp_revision;  // 0 = ACPI 1.0 (RSDT only), 2 = ACPI 2.0+ (XSDT)
    char oem_id[7];         // from the RSDP, NUL-terminated (may contain trailing spaces)
    bool xsdt;              // the XSDT was used (else the RSDT)
    uint64_t root_phys;
    TableRef tables[kMaxTables];  // good tables from the root table (plus the DSDT), in order
    size_t table_count;
    size_t root_entries;  // entries in the root table (bounded by kMaxRootEntries)

    // ---- MADT ("APIC")
    bool have_madt;
    uint64_t lapic_address;  // 0xFEE00000 unless the MADT (or its type-5 override) says otherwise
    uint32_t madt_flags;     // bit 0 PCAT_COMPAT: dual 8259 PICs present
    uint32_t cpu_count;      // enabled processor local APIC / x2APIC entries
    uint32_t cpu_entries;    // all processor local APIC / x2APIC entries (enabled or not)
    IoApic ioapics[kMaxIoApics];
    size_t ioapic_count;
    IrqOverride overrides[kMaxOverrides];
    size_t override_count;
    Nmi nmis[kMaxNmis];
    size_t nmi_count;

    // ---- MCFG
    McfgRegion mcfg[kMaxMcfg];
    size_t mcfg_count;

    // ---- FADT ("FACP")
    bool have_fadt;
    uint8_t fadt_revision;
    uint32_t fadt_length;
    uint32_t fadt_flags;
    bool hardware_reduced;            // HW_REDUCED_ACPI: no PIT/PIC/PM timer/SCI-based fixed hardware
    uint16_t boot_arch;               // IAPC_BOOT_ARCH (kBootArch* bits); 0 also when the FADT is too old to have it
    bool have_boot_arch;              // FADT revision >= 2 and long enough
    uint32_t pm_timer_port;           // I/O port, 0 = none
    bool pm_timer_32bit;              // TMR_VAL_EXT
    uint32_t pm1a_event, pm1b_event;  // I/O ports, 0 = none
    uint32_t pm1a_control, pm1b_control;  // I/O ports, 0 = none
    uint16_t sci_irq;
    uint32_t smi_command;  // I/O port, 0 = ACPI mode is fixed (nothing to enable)
    uint8_t acpi_enable, acpi_disable;
    bool have_reset_reg;      // RESET_REG_SUP and a usable reset register
    uint8_t reset_reg_space;  // GAS address space: 0 memory, 1 I/O, 2 PCI configuration
    uint64_t reset_reg_address;
    uint8_t reset_value;
    // ACPI 5.0+ (FADT revision 5, hardware-reduced): SLEEP_CONTROL_REG / SLEEP_STATUS_REG, 0 = none.
    uint8_t sleep_control_space, sleep_status_space;  // GAS address space: 0 memory, 1 I/O
    uint64_t sleep_control_address, sleep_status_address;
    uint64_t dsdt_address;  // X_DSDT when present and non-zero, else DSDT
    uint64_t facs_address;

    // ---- HPET
    uint64_t hpet_address;  // 0 = none
    uint8_t hpet_number;
    uint16_t hpet_min_tick;

    // ---- DSDT \_S5_ (soft off)
    bool have_s5;
    uint16_t s5_slp_typa, s5_slp_typb;  // SLP_TYPa/b (3 bits each)

    // ---- problems met (the first kMaxWarnings; warning_count counts them all)
    char warnings[kMaxWarnings][kWarningLen];
    size_t warning_count;
};

// Parses the RSDP at rsdp_phys and everything it leads to. `out` is reset first. False when the RSDP
// or both root tables are bad (the reasons are in out.warnings).
bool parse(uint64_t rsdp_phys, AcpiInfo& out);
// The same from a copy of the RSDP (BootInfo::rsdp: Multiboot2 gives a copy only). rsdp_phys, when known,
// is only recorded. A v2 copy shorter than its length field falls back to the RSDT.
bool parse_rsdp_copy(const uint8_t* bytes, size_t len, AcpiInfo& out, uint64_t rsdp_phys = 0);

// Legacy BIOS search for the RSDP: the EBDA's first KiB, then 0xE0000-0xFFFFF, on 16-byte boundaries,
// signature and checksum(s) validated. Returns its physical address, 0 when not found.
// ebda_phys: the EBDA's address (BDA word 0x40E << 4). With 0 the BDA is not read (page 0 is unmapped
// in the kernel as a null-pointer guard) and the whole of 0x80000-0x9FFFF, where any EBDA lies, is
// searched instead.
uint64_t find_rsdp_bios(uint64_t ebda_phys = 0);

// Helpers, exposed for tests.
bool checksum_ok(const uint8_t* p, size_t len);
// Finds \_S5_ in DSDT AML (the table's bytes, header included) and reads SLP_TYPa/b. Bounded scan.
bool find_s5(const uint8_t* aml, size_t len, uint16_t* slp_typa, uint16_t* slp_typb);

// The GSI for an ISA IRQ and its polarity/trigger (ISA default: active high, edge) per the MADT overrides.
uint32_t isa_irq_to_gsi(const AcpiInfo& info, uint8_t irq, bool* active_low, bool* level);

// Two info lines (RSDP/OEM/tables; CPUs/IOAPICs/overrides/PM timer/HPET/S5), a debug line with the
// FADT details and one warning line per recorded problem.
void log_summary(const AcpiInfo& info);
// Formats the two info lines into buffers (used by log_summary, and by tests).
void format_summary(const AcpiInfo& info, char* line1, size_t size1, char* line2, size_t size2);

}  // namespace skerry::acpi
