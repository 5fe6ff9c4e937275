// Device-independent virtio: type names, the initialisation sequence, the MMIO device option (see virtio.hpp).
#include "drivers/bus/virtio/virtio.hpp"

#include <stdio.h>

#include "kernel/log.hpp"

namespace skerry::virtio {

const char* type_name(uint32_t type) {
    switch (type) {
    case kTypeNet: return "net";
    case kTypeBlock: return "block";
    case kTypeConsole: return "console";
    case kTypeEntropy: return "entropy";
    case kTypeBalloon: return "balloon";
    case kTypeScsi: return "scsi";
    case kType9p: return "9p";
    case kTypeGpu: return "gpu";
    case kTypeInput: return "input";
    case kTypeVsock: return "vsock";
    default: break;
    }
    static char buf[16];
    snprintf(buf, sizeof buf, "type %u", type);
    return buf;
}

bool initialise(Transport& t, uint64_t wanted, uint64_t& negotiated, const char* who) {
    t.reset();
    if (t.status() != 0) {
        log::error("%s: the device does not reset (status 0x%02x)", who, t.status());
        return false;
    }
    uint8_t s = kStatusAcknowledge;
    t.set_status(s);
    s |= kStatusDriver;
    t.set_status(s);
    const uint64_t offered = t.device_features();
    if (!t.legacy()) {
        if (!(offered & bit(kFeatureVersion1))) {
            log::error("%s: the device does not offer VERSION_1 on a modern interface", who);
            t.set_status(s | kStatusFailed);
            return false;
        }
        wanted |= bit(kFeatureVersion1);
    } else {
        wanted &= 0xFFFFFFFFull;  // a legacy interface has 32 feature bits
        wanted &= ~bit(kFeatureVersion1);
    }
    negotiated = offered & wanted;
    t.set_driver_features(negotiated);
    if (!t.legacy()) {
        s |= kStatusFeaturesOk;
        t.set_status(s);
        if (!(t.status() & kStatusFeaturesOk)) {
            log::error("%s: the device refused the features 0x%llx", who, static_cast<unsigned long long>(negotiated));
            t.set_status(s | kStatusFailed);
            return false;
        }
    }
    return true;
}

namespace {

bool parse_number(const char*& p, const char* end, uint64_t& out) {
    uint64_t v = 0;
    int base = 10;
    if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    const char* start = p;
    for (; p < end; ++p) {
        int d;
        const char c = *p;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (base == 16 && c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (base == 16 && c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            break;
        }
        if (d >= base || v > (~0ull - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) return false;
        v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    }
    if (p == start) return false;
    out = v;
    return true;
}

}  // namespace

bool parse_mmio_device(const char* value, size_t len, MmioDeviceSpec& out) {
    if (!value) return false;
    const char* p = value;
    const char* end = value + len;
    uint64_t size, base, irq;
    if (!parse_number(p, end, size)) return false;
    if (p < end && (*p == 'K' || *p == 'k' || *p == 'M' || *p == 'm' || *p == 'G' || *p == 'g')) {
        const unsigned shift = (*p == 'K' || *p == 'k') ? 10 : (*p == 'M' || *p == 'm') ? 20 : 30;
        if (size > (~0ull >> shift)) return false;
        size <<= shift;
        ++p;
    }
    if (p == end || *p++ != '@') return false;
    if (!parse_number(p, end, base)) return false;
    if (p == end || *p++ != ':') return false;
    if (!parse_number(p, end, irq)) return false;
    if (p < end && *p == ':') {  // an optional platform device id: read and ignored
        ++p;
        uint64_t id;
        if (!parse_number(p, end, id)) return false;
    }
    if (p != end) return false;
    // A register window holds at least the registers up to the configuration space; it must not wrap.
    if (size < 0x100 || base + size < base || irq > 255) return false;
    out = MmioDeviceSpec{base, size, static_cast<uint32_t>(irq), false, false};
    return true;
}

}  // namespace skerry::virtio
