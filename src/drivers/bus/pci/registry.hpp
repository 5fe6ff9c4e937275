// PCI drivers and the bus's matching: a driver declares, in its own source, the devices it serves (an ID table:
// vendor/device pairs and/or class/subclass/prog-if patterns) and a factory, with one static registration line:
//
//   constexpr pci::Match kIds[] = {pci::match_id(0x8086, 0x100E, "82540EM"), pci::match_class(0x02, 0x00)};
//   pci::Registration registration{"mydrv", kIds, &make};
//
// At boot, after enumeration, bind() offers every function to the driver whose ID entry fits it best (see
// Registry::match) and records the device, the driver and what the factory made in the bus-neutral device registry
// (drivers/devices.hpp), or "no driver". Nobody keeps a central list of drivers.
//
// Registration happens in global constructors (the kernel runs them first thing in kernel_entry), so the registry
// is constant-initialised and allocation-free: drivers live in an intrusive list, their ID tables stay where the
// driver put them. Host tests use their own Registry instances.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/pci/pci.hpp"
#include "drivers/devices.hpp"

namespace skerry::pci {

inline constexpr uint16_t kAnyId = 0xFFFF;  // no function has this vendor id (it reads as absent)

// One ID table entry. A function matches when each part given matches: vendor, device, and the class code bits in
// class_mask.
struct Match {
    uint16_t vendor = kAnyId;
    uint16_t device = kAnyId;
    uint32_t class_code = 0;      // class << 16 | subclass << 8 | prog-if
    uint32_t class_mask = 0;      // which bits of class_code must be equal; 0 = any class
    const char* model = nullptr;  // what the boot log calls a device this entry matched ("82540EM"); may be null
};

constexpr Match match_id(uint16_t vendor, uint16_t device, const char* model = nullptr) {
    return Match{vendor, device, 0, 0, model};
}
// Class and subclass, any programming interface.
constexpr Match match_class(uint8_t class_code, uint8_t subclass, const char* model = nullptr) {
    return Match{kAnyId, kAnyId, static_cast<uint32_t>(class_code) << 16 | static_cast<uint32_t>(subclass) << 8,
                 0xFFFF00, model};
}
Match match_class(uint8_t, uint8_t, int) = delete;  // a programming interface goes to match_class_if
// Class, subclass and programming interface (e.g. 0x01, 0x06, 0x01: SATA in AHCI mode).
constexpr Match match_class_if(uint8_t class_code, uint8_t subclass, uint8_t prog_if, const char* model = nullptr) {
    return Match{kAnyId, kAnyId,
                 static_cast<uint32_t>(class_code) << 16 | static_cast<uint32_t>(subclass) << 8 | prog_if, 0xFFFFFF,
                 model};
}
// One vendor's devices of a class (class and subclass).
constexpr Match match_vendor_class(uint16_t vendor, uint8_t class_code, uint8_t subclass, const char* model = nullptr) {
    return Match{vendor, kAnyId, static_cast<uint32_t>(class_code) << 16 | static_cast<uint32_t>(subclass) << 8,
                 0xFFFF00, model};
}

bool matches(const Match& m, const Device& d);
// How specific an entry is: a device id beats a vendor, a vendor beats a class, a longer class pattern beats a
// shorter one. Used to pick between drivers whose tables both match a function.
int specificity(const Match& m);
// An entry that makes sense: it names a vendor or a class, and a device id only with its vendor.
bool valid(const Match& m);

// Brings a matched function up. `match` is the table entry that matched. An empty Product when it cannot (the
// factory logs why); what it returns lives for the rest of the run.
using Factory = devices::Product (*)(const Device& dev, const Match& match);

// For a driver whose ID table cannot say everything (virtio: one vendor id, the device type in the device or
// subsystem id): looks at a function its table matched and returns what the boot log calls it, or nullptr when it is
// not this driver's after all (then the function is offered as if this driver's table had not matched).
using Claim = const char* (*)(const Device& dev);

struct DeviceDriver {
    const char* name;
    const Match* ids;
    size_t id_count;
    Factory probe;
    Claim claim = nullptr;
    DeviceDriver* next = nullptr;  // registry-owned link
};

struct BindStats {
    uint64_t functions_seen = 0;    // functions looked at (not recorded before)
    uint64_t unclaimed = 0;         // no driver's table matches
    uint64_t factory_failures = 0;  // a driver's factory made nothing
    uint64_t table_full = 0;        // the device registry had no room: left alone
};

class Registry {
public:
    constexpr Registry() = default;

    // False (and not added) for a null factory or name, an empty ID table, an invalid entry (see valid()), or a
    // driver already added.
    bool add(DeviceDriver& d);
    size_t driver_count() const;
    // The driver for `d`: the most specific matching entry over every driver's table (a driver with a Claim must also
    // claim it); between equally specific entries, the driver registered first. nullptr when none matches; *entry is
    // set to the matching entry, *detail to the claim's name for the device (else the entry's model).
    const DeviceDriver* match(const Device& d, const Match** entry = nullptr, const char** detail = nullptr) const;

    // Records every enumerated function (pci::count()) not yet in `out`, offering it to its driver first: Bound with
    // the product, Failed, or NoDriver. A function the registry has no room for is left alone (its driver is not
    // called). Idempotent: a second call only handles functions that are not recorded yet. A failed factory is not
    // retried, and no other driver is tried in its place. Returns the number of devices bound by this call.
    size_t bind(devices::Registry& out);
    const BindStats& stats() const { return stats_; }

private:
    DeviceDriver* head_ = nullptr;
    BindStats stats_;
};

// The kernel's registry (constant-initialised; safe to use from global constructors).
Registry& registry();

// One line in a driver's source registers it with the kernel's registry (see the top of this file).
class Registration {
public:
    template <size_t N>
    Registration(const char* name, const Match (&ids)[N], Factory probe, Claim claim = nullptr)
        : driver_{name, ids, N, probe, claim} {
        registry().add(driver_);
    }

private:
    DeviceDriver driver_;
};

// One line per function, in bus order, with the verdict of `reg` ("no driver" when it has no record):
//   "pci 00:03.0 8086:100e class 02.00 Ethernet controller: e1000 (82540EM)"
// and, at debug level, format_device()'s resources line. format_summary() is the part before the verdict.
size_t format_summary(const Device& d, char* buf, size_t size);
void log_devices(const devices::Registry& reg);

}  // namespace skerry::pci
