// virtio drivers by device type. A driver registers its device type and a factory with one static line in its own
// source:
//
//   virtio::Registration registration{"virtio-net", virtio::kTypeNet, &probe};
//
// and the virtio transports (PCI: virtio_pci_kernel.cpp; MMIO: virtio_mmio_kernel.cpp) hand every device they find
// to the driver of its type, whatever the transport. What the factory makes goes into the bus-neutral device registry
// (drivers/devices.hpp) like any other bus's products. Constant-initialised and allocation-free, like the PCI and
// VMBus registries.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/virtio/virtio.hpp"
#include "drivers/devices.hpp"

namespace skerry::virtio {

// Brings a device up on its transport. An empty Product when it cannot (the factory logs why); otherwise what it
// made owns the transport for the rest of the run.
using Factory = devices::Product (*)(Transport& transport);

struct DeviceDriver {
    const char* name;
    uint32_t type;
    Factory probe;
    DeviceDriver* next = nullptr;  // registry-owned link
};

class Registry {
public:
    constexpr Registry() = default;
    // False (not added) for a null name or factory, a type of 0, a type that already has a driver, or a driver
    // already added.
    bool add(DeviceDriver& d);
    const DeviceDriver* find(uint32_t type) const;
    size_t driver_count() const;

private:
    DeviceDriver* head_ = nullptr;
};

Registry& registry();  // the kernel's

class Registration {
public:
    Registration(const char* name, uint32_t type, Factory probe) : driver_{name, type, probe} {
        registry().add(driver_);
    }

private:
    DeviceDriver driver_;
};

}  // namespace skerry::virtio
