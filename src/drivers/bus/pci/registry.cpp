// PCI driver registry and matching (see registry.hpp).
#include "drivers/bus/pci/registry.hpp"

#include "kernel/line_buffer.hpp"
#include "kernel/log.hpp"

namespace skerry::pci {
namespace {

constexpr log::Logger kLog{"pci"};

constinit Registry kernel_registry;

uint32_t class_of(const Device& d) {
    return static_cast<uint32_t>(d.class_code) << 16 | static_cast<uint32_t>(d.subclass) << 8 | d.prog_if;
}

}  // namespace

Registry& registry() { return kernel_registry; }

bool matches(const Match& m, const Device& d) {
    if (m.vendor != kAnyId && m.vendor != d.vendor) return false;
    if (m.device != kAnyId && m.device != d.device) return false;
    return (class_of(d) & m.class_mask) == (m.class_code & m.class_mask);
}

int specificity(const Match& m) {
    int s = 0;
    if (m.device != kAnyId) s += 8;
    if (m.vendor != kAnyId) s += 4;
    for (uint32_t mask = m.class_mask & 0xFFFFFF; mask != 0; mask >>= 8)
        if (mask & 0xFF) s += 1;
    return s;
}

bool valid(const Match& m) {
    if (m.device != kAnyId && m.vendor == kAnyId) return false;   // a device id means nothing without its vendor
    return m.vendor != kAnyId || (m.class_mask & 0xFFFFFF) != 0;  // never "every function"
}

bool Registry::add(DeviceDriver& d) {
    if (d.probe == nullptr || d.name == nullptr || d.ids == nullptr || d.id_count == 0) return false;
    for (size_t i = 0; i < d.id_count; ++i)
        if (!valid(d.ids[i])) return false;
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next)
        if (p == &d) return false;
    // Append, so that between equally specific entries the driver registered first wins.
    d.next = nullptr;
    DeviceDriver** link = &head_;
    while (*link != nullptr) link = &(*link)->next;
    *link = &d;
    return true;
}

size_t Registry::driver_count() const {
    size_t n = 0;
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next) n++;
    return n;
}

const DeviceDriver* Registry::match(const Device& d, const Match** entry, const char** detail) const {
    const DeviceDriver* best = nullptr;
    const Match* best_entry = nullptr;
    const char* best_detail = nullptr;
    int best_score = -1;
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next) {
        const Match* mine = nullptr;
        int score = -1;
        for (size_t i = 0; i < p->id_count; ++i) {
            const Match& m = p->ids[i];
            if (!matches(m, d)) continue;
            const int s = specificity(m);
            if (s > score) {
                mine = &m;
                score = s;
            }
        }
        if (mine == nullptr || score <= best_score) continue;
        const char* name = mine->model;
        if (p->claim != nullptr && (name = p->claim(d)) == nullptr) continue;
        best = p;
        best_entry = mine;
        best_detail = name;
        best_score = score;
    }
    if (entry != nullptr) *entry = best_entry;
    if (detail != nullptr) *detail = best_detail;
    return best;
}

size_t Registry::bind(devices::Registry& out) {
    size_t bound = 0;
    for (size_t i = 0; i < count(); ++i) {
        const Device& d = device(i);
        const uint32_t address = devices::pci_address(d.segment, d.bus, d.dev, d.fn);
        if (out.find(devices::Bus::Pci, address) != nullptr) continue;
        stats_.functions_seen++;
        const Match* entry = nullptr;
        const char* detail = nullptr;
        const DeviceDriver* drv = match(d, &entry, &detail);
        devices::Record* r = out.record(devices::Bus::Pci, address);
        if (r == nullptr) {
            stats_.table_full++;
            kLog.warn("%02x:%02x.%x %04x:%04x: no room in the device registry (%zu devices); %s", d.bus, d.dev, d.fn,
                      d.vendor, d.device, out.capacity(), drv != nullptr ? "its driver is not called" : "not recorded");
            continue;
        }
        if (drv == nullptr) {
            stats_.unclaimed++;
            continue;  // the record says NoDriver
        }
        r->driver = drv->name;
        r->detail = detail;
        const devices::Product p = drv->probe(d, *entry);
        if (p.empty()) {
            stats_.factory_failures++;
            r->outcome = devices::Outcome::Failed;
            continue;
        }
        r->outcome = devices::Outcome::Bound;
        r->product = p;
        bound++;
    }
    return bound;
}

size_t format_summary(const Device& d, char* buf, size_t size) {
    LineBuffer l(buf, size);
    l.add("pci ");
    if (d.segment) l.add("%04x:", d.segment);
    l.add("%02x:%02x.%x %04x:%04x class %02x.%02x %s", d.bus, d.dev, d.fn, d.vendor, d.device, d.class_code, d.subclass,
          class_name(d.class_code, d.subclass));
    return l.len;
}

void log_devices(const devices::Registry& reg) {
    char line[log::kLineMax - log::kPrefixLen];
    char verdict[64];
    for (size_t i = 0; i < count(); ++i) {
        const Device& d = device(i);
        const devices::Record* r = reg.find(devices::Bus::Pci, devices::pci_address(d.segment, d.bus, d.dev, d.fn));
        if (r != nullptr) {
            devices::format_outcome(*r, verdict, sizeof verdict);
        } else {
            LineBuffer(verdict, sizeof verdict).add("no driver");
        }
        format_summary(d, line, sizeof line);
        log::info("%s: %s", line, verdict);
        if (log::enabled(log::Level::Debug)) {
            format_device(d, line, sizeof line);
            log::debug("%s", line);
        }
    }
}

}  // namespace skerry::pci
