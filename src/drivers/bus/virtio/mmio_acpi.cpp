// virtio-MMIO devices described in the ACPI DSDT (see find_acpi_mmio_devices in virtio.hpp; docs/protocols/virtio.md
// §6.3). Not an AML interpreter: the scan follows Device objects by their package lengths and reads two named
// constants in each, `_HID` (the string "LNRO0005") and `_CRS` (a buffer of resource descriptors: a 32-bit fixed
// memory range and an extended interrupt). That is how QEMU's microvm and Firecracker describe these devices; a
// firmware that computes them with methods is not understood (and then the command line is the way). Every read is
// bounded by the table and by the enclosing package: malformed AML yields fewer devices, never a wild read.
#include <string.h>

#include "drivers/bus/virtio/virtio.hpp"

namespace skerry::virtio {
namespace {

constexpr uint8_t kExtOpPrefix = 0x5B, kDeviceOp = 0x82, kNameOp = 0x08, kStringPrefix = 0x0D, kBufferOp = 0x11;
constexpr uint8_t kBytePrefix = 0x0A, kWordPrefix = 0x0B, kDWordPrefix = 0x0C, kZeroOp = 0x00, kOneOp = 0x01;
constexpr uint8_t kMemory32Fixed = 0x86, kExtendedInterrupt = 0x89, kEndTag = 0x79;
constexpr char kVirtioMmioHid[] = "LNRO0005";
constexpr int kMaxDepth = 16;

// A package length at p (ACPI 6.x, 20.2.4): how many bytes it takes and the length it encodes (counted from p).
bool pkg_length(const uint8_t* p, const uint8_t* end, size_t& bytes, size_t& length) {
    if (p >= end) return false;
    const unsigned follow = p[0] >> 6;
    if (static_cast<size_t>(end - p) < 1 + follow) return false;
    if (follow == 0) {
        length = p[0] & 0x3F;
    } else {
        length = p[0] & 0x0F;
        for (unsigned i = 0; i < follow; ++i) length |= static_cast<size_t>(p[1 + i]) << (4 + 8 * i);
    }
    bytes = 1 + follow;
    return length >= bytes;
}

// A NameString's length (root/parent prefixes, one, two or many segments, or the null name).
bool name_string(const uint8_t* p, const uint8_t* end, size_t& len) {
    const uint8_t* q = p;
    while (q < end && (*q == '\\' || *q == '^')) ++q;
    if (q >= end) return false;
    size_t segs;
    if (*q == 0x00) {
        segs = 0;
        ++q;
    } else if (*q == 0x2E) {
        segs = 2;
        ++q;
    } else if (*q == 0x2F) {
        if (q + 1 >= end) return false;
        segs = q[1];
        q += 2;
    } else {
        segs = 1;
    }
    if (static_cast<size_t>(end - q) < 4 * segs) return false;
    len = static_cast<size_t>(q - p) + 4 * segs;
    return true;
}

bool integer(const uint8_t* p, const uint8_t* end, uint64_t& v, size_t& used) {
    if (p >= end) return false;
    switch (*p) {
    case kZeroOp: v = 0, used = 1; return true;
    case kOneOp: v = 1, used = 1; return true;
    case kBytePrefix:
        if (end - p < 2) return false;
        v = p[1], used = 2;
        return true;
    case kWordPrefix:
        if (end - p < 3) return false;
        v = static_cast<uint64_t>(p[1]) | static_cast<uint64_t>(p[2]) << 8, used = 3;
        return true;
    case kDWordPrefix:
        if (end - p < 5) return false;
        v = static_cast<uint64_t>(p[1]) | static_cast<uint64_t>(p[2]) << 8 | static_cast<uint64_t>(p[3]) << 16 |
            static_cast<uint64_t>(p[4]) << 24,
        used = 5;
        return true;
    default: return false;
    }
}

uint32_t le32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
           static_cast<uint32_t>(p[3]) << 24;
}

// The resource template's memory range and first interrupt.
bool parse_crs(const uint8_t* p, const uint8_t* end, MmioDeviceSpec& out) {
    bool mem = false, irq = false;
    while (p < end) {
        const uint8_t tag = *p;
        if (tag == kEndTag) break;
        if (tag & 0x80) {  // large descriptor: tag, 16-bit length, data
            if (end - p < 3) return false;
            const size_t n = static_cast<size_t>(p[1]) | static_cast<size_t>(p[2]) << 8;
            if (static_cast<size_t>(end - p) < 3 + n) return false;
            const uint8_t* d = p + 3;
            if (tag == kMemory32Fixed && n >= 9 && !mem) {
                out.base = le32(d + 1);
                out.size = le32(d + 5);
                mem = true;
            } else if (tag == kExtendedInterrupt && n >= 6 && d[1] >= 1 && !irq) {
                out.irq = le32(d + 2);
                out.level = !(d[0] & 0x02);    // bit 1: 1 = edge-triggered
                out.active_low = d[0] & 0x04;  // bit 2: 1 = active low
                irq = true;
            }
            p += 3 + n;
        } else {  // small descriptor: length in the low three bits
            const size_t n = tag & 7;
            if (static_cast<size_t>(end - p) < 1 + n) return false;
            if ((tag >> 3) == 0x04 && n >= 2 && !irq) {  // IRQ descriptor: a 16-bit mask of ISA lines
                const unsigned mask = static_cast<unsigned>(p[1]) | static_cast<unsigned>(p[2]) << 8;
                // Without the information byte: edge, active high. With it: bit 0 edge, bit 3 active low.
                out.level = n >= 3 && !(p[3] & 0x01);
                out.active_low = n >= 3 && (p[3] & 0x08);
                for (unsigned i = 0; i < 16; ++i) {
                    if (mask & (1u << i)) {
                        out.irq = i;
                        irq = true;
                        break;
                    }
                }
            }
            p += 1 + n;
        }
    }
    return mem && irq && out.size >= 0x100 && out.irq <= 255;
}

struct Scan {
    MmioDeviceSpec* out;
    size_t max;
    size_t found;
};

void scan_device(const uint8_t* p, const uint8_t* end, Scan& s, int depth);

// A term list [p, end): devices in it (recursively), and in `hid`/`crs` this scope's own _HID and _CRS.
void scan_terms(const uint8_t* p, const uint8_t* end, Scan& s, int depth, bool* hid, MmioDeviceSpec* crs,
                bool* have_crs) {
    while (p < end) {
        if (p[0] == kExtOpPrefix && end - p >= 2 && p[1] == kDeviceOp) {
            size_t lb, len;
            if (!pkg_length(p + 2, end, lb, len) || len > static_cast<size_t>(end - (p + 2))) {
                ++p;
                continue;
            }
            scan_device(p + 2, p + 2 + len, s, depth + 1);
            p += 2 + len;
            continue;
        }
        if (p[0] == kNameOp && end - p >= 5 && (hid || crs)) {
            if (hid && memcmp(p + 1, "_HID", 4) == 0 && end - p >= 6 && p[5] == kStringPrefix) {
                const uint8_t* str = p + 6;
                const size_t n = sizeof kVirtioMmioHid;  // with the NUL
                if (static_cast<size_t>(end - str) >= n && memcmp(str, kVirtioMmioHid, n) == 0) *hid = true;
                p += 6;
                continue;
            }
            if (crs && memcmp(p + 1, "_CRS", 4) == 0 && end - p >= 6 && p[5] == kBufferOp) {
                size_t lb, len;
                const uint8_t* pk = p + 6;
                if (pkg_length(pk, end, lb, len) && len <= static_cast<size_t>(end - pk)) {
                    uint64_t bufsize;
                    size_t used;
                    const uint8_t* body = pk + lb;
                    const uint8_t* bend = pk + len;
                    if (integer(body, bend, bufsize, used) && bufsize <= static_cast<size_t>(bend - body - used)) {
                        const uint8_t* data = body + used;
                        if (parse_crs(data, data + bufsize, *crs)) *have_crs = true;
                    }
                    p = pk + len;
                    continue;
                }
            }
        }
        ++p;
    }
}

void scan_device(const uint8_t* p, const uint8_t* end, Scan& s, int depth) {
    if (depth > kMaxDepth) return;
    size_t lb, name_len;
    if (!pkg_length(p, end, lb, name_len)) return;
    const uint8_t* q = p + lb;
    if (!name_string(q, end, name_len)) return;
    q += name_len;
    bool hid = false, have_crs = false;
    MmioDeviceSpec spec{};
    scan_terms(q, end, s, depth, &hid, &spec, &have_crs);
    if (hid && have_crs && s.found < s.max) s.out[s.found++] = spec;
}

}  // namespace

size_t find_acpi_mmio_devices(const uint8_t* aml, size_t len, MmioDeviceSpec* out, size_t max) {
    Scan s{out, max, 0};
    if (aml == nullptr || out == nullptr || max == 0) return 0;
    scan_terms(aml, aml + len, s, 0, nullptr, nullptr, nullptr);
    return s.found;
}

}  // namespace skerry::virtio
