// MP spec 1.4 tables (see mptable.hpp).
#include "kernel/mptable.hpp"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel/bytes.hpp"
#include "kernel/line_buffer.hpp"

namespace skerry::mptable {
namespace {

using bytes::le16;
using bytes::le32;

// Floating pointer structure (MP spec 1.4, 4.1): 16 bytes.
constexpr size_t kFloatingLen = 16;
constexpr size_t kFpPhysPtr = 4, kFpLength = 8, kFpSpecRev = 9, kFpFeature1 = 11;
// Configuration table header (4.2): 44 bytes.
constexpr size_t kHeaderLen = 44;
constexpr size_t kHdrLength = 4, kHdrSpecRev = 6, kHdrOem = 8, kHdrProduct = 16, kHdrEntryCount = 34, kHdrLapic = 36;
constexpr size_t kProcessorLen = 20, kOtherEntryLen = 8;

void warn(Info& out, const char* fmt, ...) SKERRY_PRINTF(2, 3);
void warn(Info& out, const char* fmt, ...) {
    if (out.warning_count < kMaxWarnings) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(out.warnings[out.warning_count], kWarningLen, fmt, ap);
        va_end(ap);
    }
    ++out.warning_count;
}

void printable(const uint8_t* src, size_t n, char* dst) {
    size_t end = n;
    while (end > 0 && (src[end - 1] == ' ' || src[end - 1] == 0)) --end;  // space-padded fields
    for (size_t i = 0; i < end; ++i) dst[i] = (src[i] >= 0x20 && src[i] < 0x7F) ? static_cast<char>(src[i]) : '?';
    dst[end] = 0;
}

// Sum of the bytes [phys, phys + len), read in chunks. False when any of them cannot be read.
bool sum_bytes(const boot::PhysReader& mem, uint64_t phys, size_t len, uint8_t& sum) {
    uint8_t chunk[256];
    sum = 0;
    for (size_t done = 0; done < len;) {
        const size_t n = len - done < sizeof chunk ? len - done : sizeof chunk;
        if (!mem.read(phys + done, chunk, n)) return false;
        for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + chunk[i]);
        done += n;
    }
    return true;
}

void walk_entries(const boot::PhysReader& mem, Info& out, uint64_t table, uint16_t length) {
    // The bus ids seen, to tell which I/O interrupt entries come from the ISA bus.
    bool isa_bus[256] = {};
    bool full_ioapics = false, full_irqs = false;
    // Pass 1 finds the buses (an interrupt entry may name a bus listed after it: the spec orders entries by
    // type, but a table need not follow it); pass 2 reads everything else.
    for (int pass = 0; pass < 2; ++pass) {
        size_t off = kHeaderLen;
        uint16_t seen = 0;
        while (off < length) {
            uint8_t e[kProcessorLen];
            if (!mem.read(table + off, e, 1)) {
                if (pass == 1) warn(out, "entry at offset %zu unreadable, rest ignored", off);
                break;
            }
            const size_t elen = e[0] == kEntryProcessor ? kProcessorLen : kOtherEntryLen;
            if (e[0] > kEntryLocalInterrupt) {
                if (pass == 1) warn(out, "unknown entry type %u at offset %zu, rest ignored", e[0], off);
                break;
            }
            if (off + elen > length) {
                if (pass == 1) warn(out, "entry type %u at offset %zu runs past the table's end", e[0], off);
                break;
            }
            if (!mem.read(table + off, e, elen)) {
                if (pass == 1) warn(out, "entry at offset %zu unreadable, rest ignored", off);
                break;
            }
            ++seen;
            if (pass == 0) {
                if (e[0] == kEntryBus && !memcmp(e + 2, "ISA", 3)) {
                    isa_bus[e[1]] = true;
                    if (!out.have_isa_bus) out.isa_bus_id = e[1];
                    out.have_isa_bus = true;
                }
                off += elen;
                continue;
            }
            switch (e[0]) {
            case kEntryProcessor:
                ++out.cpu_entries;
                if (e[3] & 1) ++out.cpu_count;  // CPU flags bit 0: EN
                break;
            case kEntryIoApic:
                if (out.ioapic_count < kMaxIoApics) {
                    out.ioapics[out.ioapic_count++] = {e[1], le32(e + 4), (e[3] & 1) != 0};
                } else {
                    full_ioapics = true;
                }
                break;
            case kEntryIoInterrupt:
                // Interrupt type 0 (INT: vectored through the I/O APIC) from an ISA bus.
                if (e[1] != 0 || !isa_bus[e[4]]) break;
                if (out.isa_irq_count < kMaxIrqs) {
                    out.isa_irqs[out.isa_irq_count++] = {e[5], e[6], e[7], le16(e + 2)};
                } else {
                    full_irqs = true;
                }
                break;
            default: break;
            }
            off += elen;
        }
        out.entries_seen = seen;
    }
    if (full_ioapics) warn(out, "more than %zu I/O APICs, the rest ignored", kMaxIoApics);
    if (full_irqs) warn(out, "more than %zu ISA interrupt entries, the rest ignored", kMaxIrqs);
    if (out.entry_count != 0 && out.entry_count != out.entries_seen)
        warn(out, "header says %u entries, %u found within its length", out.entry_count, out.entries_seen);
}

void parse_table(const boot::PhysReader& mem, Info& out, uint64_t table) {
    uint8_t h[kHeaderLen];
    if (!mem.read(table, h, sizeof h)) {
        warn(out, "configuration table at 0x%llx unreadable", static_cast<unsigned long long>(table));
        return;
    }
    if (memcmp(h, "PCMP", 4)) {
        warn(out, "configuration table at 0x%llx: bad signature", static_cast<unsigned long long>(table));
        return;
    }
    const uint16_t length = le16(h + kHdrLength);
    if (length < kHeaderLen) {
        warn(out, "configuration table: length %u shorter than its header", length);
        return;
    }
    uint8_t sum = 0;
    if (!sum_bytes(mem, table, length, sum)) {
        warn(out, "configuration table: length %u runs past readable memory", length);
        return;
    }
    if (sum != 0) {
        warn(out, "configuration table: bad checksum");
        return;
    }
    if (h[kHdrSpecRev] != 1 && h[kHdrSpecRev] != 4)
        warn(out, "configuration table: unknown revision %u", h[kHdrSpecRev]);
    printable(h + kHdrOem, 8, out.oem);
    printable(h + kHdrProduct, 12, out.product);
    out.lapic_address = le32(h + kHdrLapic);
    out.entry_count = le16(h + kHdrEntryCount);
    out.table_ok = true;
    walk_entries(mem, out, table, length);
}

}  // namespace

bool parse(const boot::PhysReader& mem, uint64_t phys, Info& out) {
    memset(&out, 0, sizeof out);
    out.isa_bus_id = 0xFF;
    out.floating_phys = phys;
    uint8_t fp[kFloatingLen];
    if (!mem.read(phys, fp, sizeof fp) || memcmp(fp, "_MP_", 4)) {
        warn(out, "no floating pointer at 0x%llx", static_cast<unsigned long long>(phys));
        return false;
    }
    if (fp[kFpLength] != 1) {  // in 16-byte units; the 1.4 structure is one paragraph
        warn(out, "floating pointer: length %u paragraphs (expected 1)", fp[kFpLength]);
        return false;
    }
    uint8_t sum = 0;
    for (uint8_t b : fp) sum = static_cast<uint8_t>(sum + b);
    if (sum != 0) {
        warn(out, "floating pointer at 0x%llx: bad checksum", static_cast<unsigned long long>(phys));
        return false;
    }
    out.found = true;
    out.spec_rev = fp[kFpSpecRev];
    out.default_config = fp[kFpFeature1];
    out.table_phys = le32(fp + kFpPhysPtr);
    if (out.default_config != 0) {
        // A default configuration (MP spec chapter 5): no table; the architectural addresses apply.
        if (out.default_config > 7) warn(out, "unknown default configuration %u", out.default_config);
        out.table_phys = 0;
        return true;
    }
    if (out.table_phys == 0) {
        warn(out, "floating pointer names no configuration table and no default configuration");
        return true;
    }
    parse_table(mem, out, out.table_phys);
    return true;
}

bool find(const boot::PhysReader& mem, Info& out, uint64_t ebda_phys) {
    struct Range {
        uint64_t base, len;
    };
    const Range ranges[] = {{ebda_phys, ebda_phys ? 1024u : 0u}, {0x9FC00, 1024}, {0x7FC00, 1024}, {0xF0000, 0x10000}};
    for (const Range& r : ranges) {
        for (uint64_t at = r.base & ~0xFull; at + kFloatingLen <= r.base + r.len; at += 16) {
            uint8_t sig[4];
            if (!mem.read(at, sig, 4) || memcmp(sig, "_MP_", 4)) continue;
            Info candidate;
            if (parse(mem, at, candidate)) {
                out = candidate;
                return true;
            }
        }
    }
    memset(&out, 0, sizeof out);
    out.isa_bus_id = 0xFF;
    return false;
}

uint32_t isa_irq_to_gsi(const Info& info, uint8_t irq, bool* active_low, bool* level) {
    uint32_t gsi = irq;
    bool low = false, lvl = false;  // ISA: active high, edge triggered
    const uint8_t first_ioapic = info.ioapic_count ? info.ioapics[0].id : 0xFF;
    for (size_t i = 0; i < info.isa_irq_count && i < kMaxIrqs; ++i) {
        const IsaIrq& e = info.isa_irqs[i];
        if (e.source_irq != irq) continue;
        if (e.ioapic_id != first_ioapic && e.ioapic_id != 0xFF) continue;
        gsi = e.pin;
        if ((e.flags & 0x3) == 0x3) low = true;  // polarity 11b: active low
        if ((e.flags & 0xC) == 0xC) lvl = true;  // trigger 11b: level
        break;
    }
    if (active_low) *active_low = low;
    if (level) *level = lvl;
    return gsi;
}

void format_summary(const Info& info, char* buf, size_t size) {
    LineBuffer b(buf, size);
    if (!info.found) {
        b.add("mptable: none");
        return;
    }
    b.add("mptable: MP 1.%u floating pointer at 0x%llx", info.spec_rev,
          static_cast<unsigned long long>(info.floating_phys));
    if (info.default_config) {
        b.add(", default configuration %u (no table)", info.default_config);
        return;
    }
    if (!info.table_ok) {
        b.add(", no usable configuration table");
        return;
    }
    b.add(", table at 0x%llx OEM '%s' product '%s', %u CPU%s", static_cast<unsigned long long>(info.table_phys),
          info.oem, info.product, info.cpu_count, info.cpu_count == 1 ? "" : "s");
    for (size_t i = 0; i < info.ioapic_count && i < kMaxIoApics; ++i)
        b.add(", I/O APIC id %u at 0x%x%s", info.ioapics[i].id, info.ioapics[i].address,
              info.ioapics[i].enabled ? "" : " (disabled)");
    b.add(", %zu ISA IRQ assignment%s", info.isa_irq_count, info.isa_irq_count == 1 ? "" : "s");
}

}  // namespace skerry::mptable
