// ACPI static tables (see acpi.hpp).
#include "kernel/acpi.hpp"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hw/hw.hpp"
#include "kernel/bytes.hpp"
#include "kernel/line_buffer.hpp"
#include "kernel/log.hpp"
#if !defined(SKERRY_HOST_TEST)
#include "kernel/arch/paging.hpp"
#endif

namespace skerry::acpi {
namespace {

constexpr size_t kHeaderLen = 36;
constexpr size_t kRsdpV1Len = 20;
constexpr size_t kRsdpV2Len = 36;
constexpr size_t kMaxRsdpLen = 1024;  // bound on the RSDP's own length field
constexpr uint64_t kDefaultLapic = 0xFEE00000;

// FADT offsets and flags.
constexpr size_t kFadtFacs = 36, kFadtDsdt = 40, kFadtSci = 46, kFadtSmiCmd = 48, kFadtAcpiEnable = 52,
                 kFadtAcpiDisable = 53, kFadtPm1aEvt = 56, kFadtPm1bEvt = 60, kFadtPm1aCnt = 64, kFadtPm1bCnt = 68,
                 kFadtPmTmr = 76, kFadtPmTmrLen = 91, kFadtBootArch = 109, kFadtFlags = 112, kFadtResetReg = 116,
                 kFadtResetValue = 128, kFadtXFacs = 132, kFadtXDsdt = 140, kFadtXPm1aEvt = 148, kFadtXPm1bEvt = 160,
                 kFadtXPm1aCnt = 172, kFadtXPm1bCnt = 184, kFadtXPmTmr = 208, kFadtSleepControl = 244,
                 kFadtSleepStatus = 256;
constexpr uint32_t kFadtTmrValExt = 1u << 8;
constexpr uint32_t kFadtResetRegSup = 1u << 10;
constexpr uint32_t kFadtHwReduced = 1u << 20;
constexpr uint8_t kGasMemory = 0, kGasIo = 1, kGasPciConfig = 2;

using bytes::le16;
using bytes::le32;
using bytes::le64;

// Physical memory as bytes, or nullptr when [phys, phys + len) cannot be read.
const uint8_t* map(uint64_t phys, size_t len) {
    if (len == 0 || phys < 0x1000 || phys > ~0ull - len) return nullptr;
#if !defined(SKERRY_HOST_TEST)
    uint64_t top = paging::mapped_top();
    if (top == 0) top = 1ull << 32;  // the boot stub's identity map
    if (phys + len > top && !paging::map_mmio(phys, len)) return nullptr;
#endif
    return static_cast<const uint8_t*>(hw::phys_to_virt(phys, len));
}

// A table signature made printable.
struct Sig {
    char s[5];
    explicit Sig(const uint8_t* p) {
        for (int i = 0; i < 4; ++i) s[i] = (p[i] >= 0x20 && p[i] < 0x7F) ? static_cast<char>(p[i]) : '?';
        s[4] = 0;
    }
};

void warn(AcpiInfo& out, const char* fmt, ...) SKERRY_PRINTF(2, 3);
void warn(AcpiInfo& out, const char* fmt, ...) {
    if (out.warning_count < kMaxWarnings) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out.warnings[out.warning_count], kWarningLen, fmt, ap);
        va_end(ap);
    }
    ++out.warning_count;
}

void reset(AcpiInfo& out) {
    memset(&out, 0, sizeof out);
    out.lapic_address = kDefaultLapic;
}

void record_table(AcpiInfo& out, const uint8_t* t, uint64_t phys, uint32_t len) {
    if (out.table_count >= kMaxTables) return;
    TableRef& r = out.tables[out.table_count++];
    memcpy(r.signature, Sig(t).s, 5);
    r.phys = phys;
    r.length = len;
    r.revision = t[8];
}

// Maps a whole table after bounding its length and verifying its checksum. nullptr (and a warning) if bad.
const uint8_t* load_table(AcpiInfo& out, uint64_t phys, uint32_t* len_out) {
    const uint8_t* h = map(phys, kHeaderLen);
    if (!h) {
        warn(out, "table at 0x%llx unreadable, skipped", static_cast<unsigned long long>(phys));
        return nullptr;
    }
    const uint32_t len = le32(h + 4);
    if (len < kHeaderLen || len > kMaxTableLength) {
        warn(out, "%s at 0x%llx: bad length %u, skipped", Sig(h).s, static_cast<unsigned long long>(phys), len);
        return nullptr;
    }
    const uint8_t* t = map(phys, len);
    if (!t) {
        warn(out, "%s at 0x%llx: length %u runs past readable memory, skipped", Sig(h).s,
             static_cast<unsigned long long>(phys), len);
        return nullptr;
    }
    if (!checksum_ok(t, len)) {
        warn(out, "%s at 0x%llx: bad checksum, skipped", Sig(t).s, static_cast<unsigned long long>(phys));
        return nullptr;
    }
    *len_out = len;
    return t;
}

// ------------------------------------------------------------------------------------------------ MADT
void parse_madt(AcpiInfo& out, const uint8_t* t, uint32_t len) {
    if (len < 44) {
        warn(out, "APIC: too short (%u bytes), skipped", len);
        return;
    }
    out.have_madt = true;
    out.lapic_address = le32(t + 36);
    out.madt_flags = le32(t + 40);
    bool short_entry = false, full_ioapics = false, full_overrides = false, full_nmis = false;
    size_t off = 44;
    while (off + 2 <= len) {
        const uint8_t type = t[off];
        const uint8_t elen = t[off + 1];
        if (elen < 2 || off + elen > len) {
            warn(out, "APIC: bad entry length %u at offset %zu, rest ignored", elen, off);
            break;
        }
        const uint8_t* e = t + off;
        // Minimum lengths of the entry types we read; shorter entries are ignored.
        static constexpr uint8_t kMinLen[11] = {8, 12, 10, 8, 6, 12, 0, 0, 0, 16, 12};
        if (type < sizeof kMinLen && kMinLen[type] && elen < kMinLen[type]) {
            short_entry = true;
            off += elen;
            continue;
        }
        switch (type) {
        case 0:  // processor local APIC
            ++out.cpu_entries;
            if (le32(e + 4) & 1) ++out.cpu_count;
            break;
        case 9:  // processor local x2APIC
            ++out.cpu_entries;
            if (le32(e + 8) & 1) ++out.cpu_count;
            break;
        case 1:  // I/O APIC
            if (out.ioapic_count < kMaxIoApics) {
                out.ioapics[out.ioapic_count++] = {e[2], le32(e + 4), le32(e + 8)};
            } else {
                full_ioapics = true;
            }
            break;
        case 2:  // interrupt source override
            if (out.override_count < kMaxOverrides) {
                out.overrides[out.override_count++] = {e[2], e[3], le32(e + 4), le16(e + 8)};
            } else {
                full_overrides = true;
            }
            break;
        case 3:   // NMI source
        case 4:   // local APIC NMI
        case 10:  // local x2APIC NMI
            if (out.nmi_count >= kMaxNmis) {
                full_nmis = true;
                break;
            }
            if (type == 3) {
                out.nmis[out.nmi_count++] = {false, 0, 0, le32(e + 4), le16(e + 2)};
            } else if (type == 4) {
                out.nmis[out.nmi_count++] = {true, e[2] == 0xFF ? 0xFFFFFFFFu : e[2], e[5], 0, le16(e + 3)};
            } else {
                out.nmis[out.nmi_count++] = {true, le32(e + 4), e[8], 0, le16(e + 2)};
            }
            break;
        case 5:  // local APIC address override
            if (le64(e + 4)) out.lapic_address = le64(e + 4);
            break;
        default: break;
        }
        off += elen;
    }
    if (short_entry) warn(out, "APIC: entries shorter than their type ignored");
    if (full_ioapics) warn(out, "APIC: more than %zu I/O APICs, the rest ignored", kMaxIoApics);
    if (full_overrides) warn(out, "APIC: more than %zu interrupt overrides, the rest ignored", kMaxOverrides);
    if (full_nmis) warn(out, "APIC: more than %zu NMI entries, the rest ignored", kMaxNmis);
}

// ------------------------------------------------------------------------------------------------ MCFG
void parse_mcfg(AcpiInfo& out, const uint8_t* t, uint32_t len) {
    if (len < 44) {
        warn(out, "MCFG: too short (%u bytes), skipped", len);
        return;
    }
    for (size_t off = 44; off + 16 <= len; off += 16) {
        const uint8_t* e = t + off;
        McfgRegion r{le64(e), le16(e + 8), e[10], e[11]};
        if (r.base == 0 || r.start_bus > r.end_bus) {
            warn(out, "MCFG: bad region (base 0x%llx, buses %u-%u), skipped", static_cast<unsigned long long>(r.base),
                 r.start_bus, r.end_bus);
            continue;
        }
        if (out.mcfg_count >= kMaxMcfg) {
            warn(out, "MCFG: more than %zu regions, the rest ignored", kMaxMcfg);
            break;
        }
        out.mcfg[out.mcfg_count++] = r;
    }
}

// ------------------------------------------------------------------------------------------------ FADT
// An X_ block given as a Generic Address Structure: its I/O port, 0 when absent or not an I/O port.
uint32_t gas_io_port(const uint8_t* t, uint32_t len, size_t off) {
    if (off + 12 > len) return 0;
    if (t[off] != kGasIo) return 0;
    uint64_t a = le64(t + off + 4);
    return a <= 0xFFFF ? static_cast<uint32_t>(a) : 0;
}

void parse_fadt(AcpiInfo& out, const uint8_t* t, uint32_t len) {
    if (len < kFadtPmTmrLen + 1) {
        warn(out, "FACP: too short (%u bytes), skipped", len);
        return;
    }
    auto has = [len](size_t off, size_t size) { return off + size <= len; };
    out.have_fadt = true;
    out.fadt_revision = t[8];
    out.fadt_length = len;
    const bool x_fields = out.fadt_revision >= 3;  // ACPI 2.0+: 64-bit X_ fields

    out.facs_address = le32(t + kFadtFacs);
    out.dsdt_address = le32(t + kFadtDsdt);
    if (x_fields && has(kFadtXFacs, 8) && le64(t + kFadtXFacs)) out.facs_address = le64(t + kFadtXFacs);
    if (x_fields && has(kFadtXDsdt, 8) && le64(t + kFadtXDsdt)) out.dsdt_address = le64(t + kFadtXDsdt);

    out.sci_irq = le16(t + kFadtSci);
    out.smi_command = le32(t + kFadtSmiCmd);
    out.acpi_enable = t[kFadtAcpiEnable];
    out.acpi_disable = t[kFadtAcpiDisable];
    out.fadt_flags = has(kFadtFlags, 4) ? le32(t + kFadtFlags) : 0;
    out.hardware_reduced = (out.fadt_flags & kFadtHwReduced) != 0;
    if (out.fadt_revision >= 2 && has(kFadtBootArch, 2)) {
        out.boot_arch = le16(t + kFadtBootArch);
        out.have_boot_arch = true;
    }

    // I/O port blocks: the X_ field when it is a valid I/O port, else the 32-bit field.
    auto port = [&](size_t legacy_off, size_t x_off) -> uint32_t {
        uint32_t p = x_fields ? gas_io_port(t, len, x_off) : 0;
        return p ? p : le32(t + legacy_off);
    };
    out.pm1a_event = port(kFadtPm1aEvt, kFadtXPm1aEvt);
    out.pm1b_event = port(kFadtPm1bEvt, kFadtXPm1bEvt);
    out.pm1a_control = port(kFadtPm1aCnt, kFadtXPm1aCnt);
    out.pm1b_control = port(kFadtPm1bCnt, kFadtXPm1bCnt);

    uint32_t tmr = x_fields ? gas_io_port(t, len, kFadtXPmTmr) : 0;
    if (!tmr && le32(t + kFadtPmTmr)) {
        if (t[kFadtPmTmrLen] == 4) {
            tmr = le32(t + kFadtPmTmr);
        } else {
            warn(out, "FACP: PM timer block 0x%x with length %u ignored", le32(t + kFadtPmTmr), t[kFadtPmTmrLen]);
        }
    }
    if (tmr > 0xFFFF) tmr = 0;
    if (out.hardware_reduced) tmr = 0;  // no fixed hardware (and its PM timer) in hardware-reduced ACPI
    out.pm_timer_port = tmr;
    out.pm_timer_32bit = tmr && (out.fadt_flags & kFadtTmrValExt);

    // ACPI 5.0+ hardware-reduced sleep registers (GAS, 12 bytes each), e.g. QEMU microvm's GED.
    if (out.fadt_revision >= 5 && has(kFadtSleepStatus, 12)) {
        const uint8_t space = t[kFadtSleepControl];
        const uint64_t addr = le64(t + kFadtSleepControl + 4);
        if (addr && (space == kGasMemory || space == kGasIo)) {
            out.sleep_control_space = space;
            out.sleep_control_address = addr;
        }
        const uint8_t sspace = t[kFadtSleepStatus];
        const uint64_t saddr = le64(t + kFadtSleepStatus + 4);
        if (saddr && (sspace == kGasMemory || sspace == kGasIo)) {
            out.sleep_status_space = sspace;
            out.sleep_status_address = saddr;
        }
    }

    if ((out.fadt_flags & kFadtResetRegSup) && has(kFadtResetValue, 1)) {
        const uint8_t space = t[kFadtResetReg];
        const uint64_t addr = le64(t + kFadtResetReg + 4);
        if (addr && (space == kGasMemory || space == kGasIo || space == kGasPciConfig)) {
            out.have_reset_reg = true;
            out.reset_reg_space = space;
            out.reset_reg_address = addr;
            out.reset_value = t[kFadtResetValue];
        } else {
            warn(out, "FACP: reset register (space %u, address 0x%llx) unusable", space,
                 static_cast<unsigned long long>(addr));
        }
    }
}

// ------------------------------------------------------------------------------------------------ HPET
void parse_hpet(AcpiInfo& out, const uint8_t* t, uint32_t len) {
    if (len < 56) {
        warn(out, "HPET: too short (%u bytes), skipped", len);
        return;
    }
    const uint64_t addr = le64(t + 44);
    if (t[40] != kGasMemory || addr == 0) {
        warn(out, "HPET: unusable base (space %u, address 0x%llx)", t[40], static_cast<unsigned long long>(addr));
        return;
    }
    out.hpet_address = addr;
    out.hpet_number = t[52];
    out.hpet_min_tick = le16(t + 53);
}

// ------------------------------------------------------------------------------------------------ tables
void parse_table(AcpiInfo& out, uint64_t phys) {
    uint32_t len = 0;
    const uint8_t* t = load_table(out, phys, &len);
    if (!t) return;
    record_table(out, t, phys, len);
    if (!memcmp(t, "APIC", 4)) {
        if (out.have_madt) {
            warn(out, "second APIC table at 0x%llx ignored", static_cast<unsigned long long>(phys));
            return;
        }
        parse_madt(out, t, len);
    } else if (!memcmp(t, "FACP", 4)) {
        if (out.have_fadt) {
            warn(out, "second FACP table at 0x%llx ignored", static_cast<unsigned long long>(phys));
            return;
        }
        parse_fadt(out, t, len);
    } else if (!memcmp(t, "MCFG", 4)) {
        parse_mcfg(out, t, len);
    } else if (!memcmp(t, "HPET", 4)) {
        if (out.hpet_address) return;  // the first timer block is the one we use
        parse_hpet(out, t, len);
    }
}

void parse_dsdt(AcpiInfo& out) {
    uint32_t len = 0;
    const uint8_t* t = load_table(out, out.dsdt_address, &len);
    if (!t) return;
    if (memcmp(t, "DSDT", 4)) {
        warn(out, "DSDT at 0x%llx has signature '%s', skipped", static_cast<unsigned long long>(out.dsdt_address),
             Sig(t).s);
        return;
    }
    record_table(out, t, out.dsdt_address, len);
    out.have_s5 = find_s5(t + kHeaderLen, len - kHeaderLen, &out.s5_slp_typa, &out.s5_slp_typb);
    if (!out.have_s5) warn(out, "DSDT: no \\_S5_ package (ACPI power-off unavailable)");
}

// The RSDT (entry_size 4) or XSDT (8) and every table it lists. False (nothing recorded) when it is bad.
bool parse_root(AcpiInfo& out, uint64_t phys, size_t entry_size) {
    const char* want = entry_size == 8 ? "XSDT" : "RSDT";
    uint32_t len = 0;
    const uint8_t* t = load_table(out, phys, &len);
    if (!t) return false;
    if (memcmp(t, want, 4)) {
        warn(out, "%s at 0x%llx has signature '%s'", want, static_cast<unsigned long long>(phys), Sig(t).s);
        return false;
    }
    out.xsdt = entry_size == 8;
    out.root_phys = phys;
    size_t n = (len - kHeaderLen) / entry_size;
    if (n > kMaxRootEntries) {
        warn(out, "%s: %zu entries, only the first %zu used", want, n, kMaxRootEntries);
        n = kMaxRootEntries;
    }
    out.root_entries = n;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* e = t + kHeaderLen + i * entry_size;
        const uint64_t addr = entry_size == 8 ? le64(e) : le32(e);
        if (addr) parse_table(out, addr);
    }
    if (out.dsdt_address) parse_dsdt(out);
    out.valid = true;
    return true;
}

// Validates an RSDP (`avail` readable bytes at p) and parses what it points to.
bool parse_rsdp(AcpiInfo& out, const uint8_t* p, size_t avail, uint64_t phys) {
    out.rsdp_phys = phys;
    if (avail < kRsdpV1Len || memcmp(p, "RSD PTR ", 8)) {
        warn(out, "RSDP: bad signature or too short");
        return false;
    }
    if (!checksum_ok(p, kRsdpV1Len)) {
        warn(out, "RSDP: bad checksum");
        return false;
    }
    out.rsdp_revision = p[15];
    memcpy(out.oem_id, p + 9, 6);
    for (int i = 0; i < 6; ++i)
        if (out.oem_id[i] < 0x20 || out.oem_id[i] > 0x7E) out.oem_id[i] = out.oem_id[i] ? '?' : ' ';
    out.oem_id[6] = 0;
    const uint64_t rsdt = le32(p + 16);
    uint64_t xsdt = 0;
    if (out.rsdp_revision >= 2) {
        const uint32_t len = avail >= kRsdpV2Len ? le32(p + 20) : 0;
        if (avail < kRsdpV2Len || len < kRsdpV2Len || len > avail) {
            warn(out, "RSDP: revision %u but its extended part is unreadable, using the RSDT", out.rsdp_revision);
        } else if (!checksum_ok(p, len)) {
            warn(out, "RSDP: bad extended checksum, using the RSDT");
        } else {
            xsdt = le64(p + 24);
        }
    }
    if (xsdt && parse_root(out, xsdt, 8)) return true;
    if (rsdt && parse_root(out, rsdt, 4)) return true;
    if (!rsdt) warn(out, "RSDP: no RSDT address");
    return false;
}

// An RSDP at p (len readable bytes): signature, checksum and (revision >= 2) the extended checksum.
bool rsdp_valid(const uint8_t* p, size_t len) {
    if (len < kRsdpV1Len || memcmp(p, "RSD PTR ", 8) || !checksum_ok(p, kRsdpV1Len)) return false;
    if (p[15] < 2) return true;
    if (len < kRsdpV2Len) return false;
    const uint32_t l = le32(p + 20);
    return l >= kRsdpV2Len && l <= len && checksum_ok(p, l);
}

// Searches [base, base + len) on 16-byte boundaries, a page at a time (pages that cannot be read are
// skipped).
uint64_t scan_for_rsdp(uint64_t base, uint64_t len) {
    const uint64_t end = base + len;
    for (uint64_t at = base & ~0xFull; at < end;) {
        const uint64_t page_end = (at & ~0xFFFull) + 0x1000;
        const uint64_t chunk_end = page_end < end ? page_end : end;
        const uint8_t* p = map(at, static_cast<size_t>(chunk_end - at));
        for (uint64_t a = at; p && a + 8 <= chunk_end; a += 16) {
            if (memcmp(p + (a - at), "RSD PTR ", 8)) continue;
            // Validate through a mapping of the whole structure (it may cross the page end).
            const uint8_t* v1 = map(a, kRsdpV1Len);
            if (!v1 || !checksum_ok(v1, kRsdpV1Len)) continue;
            if (v1[15] < 2) return a;
            const uint8_t* v2 = map(a, kRsdpV2Len);
            if (!v2) continue;
            const uint32_t l = le32(v2 + 20);
            if (l < kRsdpV2Len || l > kMaxRsdpLen) continue;
            const uint8_t* full = map(a, l);
            if (full && rsdp_valid(full, l)) return a;
        }
        at = chunk_end;
    }
    return 0;
}

using Line = LineBuffer;

bool read_aml_integer(const uint8_t* aml, size_t* pos, size_t end, uint64_t* value) {
    size_t p = *pos;
    if (p >= end) return false;
    const uint8_t op = aml[p];
    size_t n = 0;
    switch (op) {
    case 0x00: *value = 0; break;      // ZeroOp
    case 0x01: *value = 1; break;      // OneOp
    case 0xFF: *value = ~0ull; break;  // OnesOp
    case 0x0A: n = 1; break;           // BytePrefix
    case 0x0B: n = 2; break;           // WordPrefix
    case 0x0C: n = 4; break;           // DWordPrefix
    case 0x0E: n = 8; break;           // QWordPrefix
    default: return false;
    }
    if (n) {
        if (end - p - 1 < n) return false;
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(aml[p + 1 + i]) << (8 * i);
        *value = v;
    }
    *pos = p + 1 + n;
    return true;
}

}  // namespace

bool checksum_ok(const uint8_t* p, size_t len) {
    uint8_t sum = 0;
    for (size_t i = 0; i < len; ++i) sum = static_cast<uint8_t>(sum + p[i]);
    return sum == 0;
}

bool find_s5(const uint8_t* aml, size_t len, uint16_t* slp_typa, uint16_t* slp_typb) {
    if (!aml || len < 6) return false;
    for (size_t i = 1; i + 4 <= len; ++i) {
        if (aml[i] != '_' || memcmp(aml + i, "_S5_", 4)) continue;
        // NameOp, optionally followed by the root prefix '\'.
        size_t j = i - 1;
        if (aml[j] == '\\') {
            if (j == 0) continue;
            --j;
        }
        if (aml[j] != 0x08) continue;
        size_t p = i + 4;
        if (p >= len || aml[p] != 0x12) continue;  // PackageOp
        ++p;
        if (p >= len) continue;
        // PkgLength: bits 7-6 of the lead byte = number of following bytes; it counts itself.
        const size_t pkg_start = p;
        const uint8_t lead = aml[p];
        const size_t extra = lead >> 6;
        if (len - p < 1 + extra) continue;
        uint64_t pkg_len = extra ? (lead & 0x0F) : (lead & 0x3F);
        for (size_t k = 0; k < extra; ++k) pkg_len |= static_cast<uint64_t>(aml[p + 1 + k]) << (4 + 8 * k);
        size_t pkg_end = (pkg_len < len - pkg_start) ? pkg_start + static_cast<size_t>(pkg_len) : len;
        p += 1 + extra;
        if (p >= pkg_end) continue;
        const uint8_t elements = aml[p++];
        if (elements == 0) continue;
        uint64_t a = 0, b = 0;
        if (!read_aml_integer(aml, &p, pkg_end, &a)) continue;
        if (elements >= 2) {
            if (!read_aml_integer(aml, &p, pkg_end, &b)) continue;
        } else {
            b = a >> 8;  // one element: SLP_TYPa in bits 0-7, SLP_TYPb in bits 8-15
        }
        *slp_typa = static_cast<uint16_t>(a & 7);
        *slp_typb = static_cast<uint16_t>(b & 7);
        return true;
    }
    return false;
}

bool parse(uint64_t rsdp_phys, AcpiInfo& out) {
    reset(out);
    const uint8_t* p = map(rsdp_phys, kRsdpV1Len);
    if (!p) {
        out.rsdp_phys = rsdp_phys;
        warn(out, "RSDP at 0x%llx unreadable", static_cast<unsigned long long>(rsdp_phys));
        return false;
    }
    size_t avail = kRsdpV1Len;
    if (p[15] >= 2) {
        const uint8_t* v2 = map(rsdp_phys, kRsdpV2Len);
        if (v2) {
            const uint32_t l = le32(v2 + 20);
            const uint8_t* full = (l >= kRsdpV2Len && l <= kMaxRsdpLen) ? map(rsdp_phys, l) : nullptr;
            if (full) {
                p = full;
                avail = l;
            } else {
                p = v2;
                avail = kRsdpV2Len;
            }
        }
    }
    return parse_rsdp(out, p, avail, rsdp_phys);
}

bool parse_rsdp_copy(const uint8_t* bytes, size_t len, AcpiInfo& out, uint64_t rsdp_phys) {
    reset(out);
    if (!bytes) {
        warn(out, "RSDP: no copy");
        return false;
    }
    return parse_rsdp(out, bytes, len, rsdp_phys);
}

uint64_t find_rsdp_bios(uint64_t ebda_phys) {
    uint64_t found = 0;
    if (ebda_phys >= 0x1000 && ebda_phys < 0xA0000) {
        found = scan_for_rsdp(ebda_phys & ~0xFull, 1024);
    } else if (ebda_phys == 0) {
        found = scan_for_rsdp(0x80000, 0x20000);
    }
    if (!found) found = scan_for_rsdp(0xE0000, 0x20000);
    return found;
}

uint32_t isa_irq_to_gsi(const AcpiInfo& info, uint8_t irq, bool* active_low, bool* level) {
    uint32_t gsi = irq;
    bool low = false, lvl = false;  // ISA: active high, edge triggered
    for (size_t i = 0; i < info.override_count && i < kMaxOverrides; ++i) {
        const IrqOverride& o = info.overrides[i];
        if (o.bus != 0 || o.source_irq != irq) continue;
        gsi = o.gsi;
        if ((o.flags & kPolarityMask) == kPolarityLow) low = true;
        if ((o.flags & kTriggerMask) == kTriggerLevel) lvl = true;
        break;
    }
    if (active_low) *active_low = low;
    if (level) *level = lvl;
    return gsi;
}

void format_summary(const AcpiInfo& info, char* line1, size_t size1, char* line2, size_t size2) {
    Line a(line1, size1);
    a.add("acpi: RSDP rev %u", info.rsdp_revision);
    if (info.rsdp_phys) a.add(" at 0x%llx", static_cast<unsigned long long>(info.rsdp_phys));
    else a.add(" (loader copy)");
    a.add(" (%s), OEM '%s', tables:", info.xsdt ? "XSDT" : "RSDT", info.oem_id);
    for (size_t i = 0; i < info.table_count && i < kMaxTables; ++i) a.add(" %s", info.tables[i].signature);
    if (info.table_count == 0) a.add(" none");

    Line b(line2, size2);
    b.add("acpi: ");
    if (info.have_madt) b.add("%u CPU%s", info.cpu_count, info.cpu_count == 1 ? "" : "s");
    else b.add("no MADT");
    for (size_t i = 0; i < info.ioapic_count && i < kMaxIoApics; ++i) {
        const IoApic& io = info.ioapics[i];
        b.add(", IOAPIC id %u at 0x%llx GSI %u", io.id, static_cast<unsigned long long>(io.address), io.gsi_base);
    }
    b.add(", %zu override%s", info.override_count, info.override_count == 1 ? "" : "s");
    if (info.pm_timer_port) {
        b.add(", PM timer 0x%x (%s)", info.pm_timer_port, info.pm_timer_32bit ? "32-bit" : "24-bit");
    } else {
        b.add(", no PM timer");
    }
    if (info.hpet_address) b.add(", HPET 0x%llx", static_cast<unsigned long long>(info.hpet_address));
    else b.add(", no HPET");
    for (size_t i = 0; i < info.mcfg_count && i < kMaxMcfg; ++i) {
        b.add(", ECAM 0x%llx seg %u bus %u-%u", static_cast<unsigned long long>(info.mcfg[i].base),
              info.mcfg[i].segment, info.mcfg[i].start_bus, info.mcfg[i].end_bus);
    }
    if (!info.have_s5) b.add(", no S5");
    else if (info.s5_slp_typa == info.s5_slp_typb) b.add(", S5 type %u", info.s5_slp_typa);
    else b.add(", S5 types %u/%u", info.s5_slp_typa, info.s5_slp_typb);
    if (info.hardware_reduced) b.add(", hardware-reduced");
    if (info.sleep_control_address)
        b.add(", sleep control %s 0x%llx", info.sleep_control_space == kGasIo ? "port" : "at",
              static_cast<unsigned long long>(info.sleep_control_address));
}

void log_summary(const AcpiInfo& info) {
    char l1[log::kLineMax - log::kPrefixLen], l2[log::kLineMax - log::kPrefixLen];
    format_summary(info, l1, sizeof l1, l2, sizeof l2);
    log::info("%s", l1);
    log::info("%s", l2);
    if (info.have_fadt && log::enabled(log::Level::Debug)) {
        char l3[log::kLineMax - log::kPrefixLen];
        Line c(l3, sizeof l3);
        c.add("acpi: FADT rev %u, SCI %u, PM1a_CNT 0x%x", info.fadt_revision, info.sci_irq, info.pm1a_control);
        if (info.pm1b_control) c.add(" PM1b_CNT 0x%x", info.pm1b_control);
        if (info.smi_command) c.add(", SMI_CMD 0x%x enable 0x%x", info.smi_command, info.acpi_enable);
        if (info.have_reset_reg) {
            static const char* const kSpace[] = {"mem", "io", "pci"};
            c.add(", reset %s 0x%llx = 0x%x", kSpace[info.reset_reg_space < 3 ? info.reset_reg_space : 0],
                  static_cast<unsigned long long>(info.reset_reg_address), info.reset_value);
        }
        if (info.have_boot_arch) {
            c.add(", boot arch 0x%x (%s%s%s%s)", info.boot_arch,
                  (info.boot_arch & kBootArchLegacyDevices) ? "legacy-devices " : "",
                  (info.boot_arch & kBootArch8042) ? "8042 " : "no-8042 ",
                  (info.boot_arch & kBootArchVgaNotPresent) ? "no-VGA " : "",
                  (info.boot_arch & kBootArchCmosRtcNotPresent) ? "no-RTC" : "RTC");
        }
        c.add(", DSDT 0x%llx", static_cast<unsigned long long>(info.dsdt_address));
        log::debug("%s", l3);
    }
    for (size_t i = 0; i < info.warning_count && i < kMaxWarnings; ++i) log::warn("acpi: %s", info.warnings[i]);
    if (info.warning_count > kMaxWarnings) log::warn("acpi: %zu more warnings", info.warning_count - kMaxWarnings);
}

}  // namespace skerry::acpi
