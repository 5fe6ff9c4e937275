// The device registry (see devices.hpp).
#include "drivers/devices.hpp"

#include "kernel/line_buffer.hpp"

namespace skerry::devices {
namespace {

constinit Record kernel_records[kMaxDevices];
constinit Registry kernel_registry{kernel_records, kMaxDevices};

}  // namespace

Registry& registry() { return kernel_registry; }

const char* bus_name(Bus b) {
    switch (b) {
    case Bus::Pci: return "pci";
    case Bus::Vmbus: return "vmbus";
    case Bus::VirtioMmio: return "virtio-mmio";
    }
    return "?";
}

const char* kind_name(Kind k) {
    switch (k) {
    case Kind::None: return "none";
    case Kind::Nic: return "NIC";
    case Kind::Vsock: return "vsock";
    }
    return "?";
}

size_t format_location(const Record& r, char* buf, size_t size) {
    LineBuffer l(buf, size);
    switch (r.bus) {
    case Bus::Pci: {
        const unsigned segment = r.address >> 16, bus = (r.address >> 8) & 0xFF, dev = (r.address >> 3) & 31,
                       fn = r.address & 7;
        if (segment != 0) l.add("%04x:", segment);
        l.add("%02x:%02x.%x", bus, dev, fn);
        break;
    }
    case Bus::Vmbus: l.add("relid %u", static_cast<unsigned>(r.address)); break;
    case Bus::VirtioMmio: l.add("0x%llx", static_cast<unsigned long long>(r.address) << 8); break;
    }
    return l.len;
}

size_t format_outcome(const Record& r, char* buf, size_t size) {
    LineBuffer l(buf, size);
    const char* driver = r.driver != nullptr ? r.driver : "?";
    switch (r.outcome) {
    case Outcome::NoDriver: l.add("no driver"); break;
    case Outcome::Bound:
        l.add("%s", driver);
        if (r.detail != nullptr) l.add(" (%s)", r.detail);
        break;
    case Outcome::Failed: l.add("%s failed", driver); break;
    case Outcome::NoRoom: l.add("%s: no room", driver); break;
    }
    return l.len;
}

Record* Registry::record(Bus bus, uint32_t address) {
    for (size_t i = 0; i < count_; ++i)
        if (records_[i].bus == bus && records_[i].address == address) return &records_[i];
    if (count_ == capacity_) {
        dropped_++;
        return nullptr;
    }
    Record& r = records_[count_++];
    r = Record{};
    r.bus = bus;
    r.address = address;
    return &r;
}

const Record* Registry::find(Bus bus, uint32_t address) const {
    for (size_t i = 0; i < count_; ++i)
        if (records_[i].bus == bus && records_[i].address == address) return &records_[i];
    return nullptr;
}

size_t Registry::nics(net::NicDriver** out, size_t max) const {
    size_t n = 0;
    for (size_t i = 0; i < count_ && n < max; ++i)
        if (net::NicDriver* nic = records_[i].product.as_nic()) out[n++] = nic;
    return n;
}

size_t Registry::count(Kind k) const {
    size_t n = 0;
    for (size_t i = 0; i < count_; ++i)
        if (records_[i].product.kind() == k) n++;
    return n;
}

size_t Registry::count(Outcome o) const {
    size_t n = 0;
    for (size_t i = 0; i < count_; ++i)
        if (records_[i].outcome == o) n++;
    return n;
}

}  // namespace skerry::devices
