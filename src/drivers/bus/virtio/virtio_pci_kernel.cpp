// virtio's place on the kernel's PCI bus: one registration for the virtio vendor id, claiming only functions whose
// virtio device type has a registered driver (registry.hpp); the factory builds the modern PCI transport and hands it
// to that driver.
#include "drivers/bus/pci/registry.hpp"
#include "drivers/bus/virtio/pci_transport.hpp"
#include "drivers/bus/virtio/registry.hpp"

namespace skerry::virtio {
namespace {

constexpr pci::Match kIds[] = {pci::Match{kPciVendor, pci::kAnyId, 0, 0, nullptr}};

const char* claim(const pci::Device& dev) {
    const uint32_t type = pci_device_type(dev);
    const DeviceDriver* d = type != 0 ? registry().find(type) : nullptr;
    return d != nullptr ? d->name : nullptr;
}

devices::Product probe(const pci::Device& dev, const pci::Match&) {
    auto* t = new PciTransport;
    const DeviceDriver* d = nullptr;
    if (t->init(dev, pci::kernel_env())) d = registry().find(t->device_type());
    const devices::Product p = d != nullptr ? d->probe(*t) : devices::Product();
    if (p.empty()) delete t;
    return p;
}

pci::Registration registration{"virtio-pci", kIds, &probe, &claim};

}  // namespace
}  // namespace skerry::virtio
