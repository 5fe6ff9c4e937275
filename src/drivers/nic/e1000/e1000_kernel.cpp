// The e1000 driver's place in the kernel: its PCI registration (the ID table is e1000_ids.hpp) and the factory the
// PCI bus calls at boot for every matching function, before the appliance and its network stack start. The NICs it
// makes are initialised (reset, MAC read), not started: the network stack starts the ones it attaches.
#include "drivers/bus/pci/pci_env.hpp"
#include "drivers/devices.hpp"
#include "drivers/nic/e1000/e1000.hpp"
#include "drivers/nic/e1000/e1000_ids.hpp"
#include "kernel/kernel.hpp"
#include "kernel/mem_plan.hpp"

namespace skerry::e1000 {
namespace {

// Ring and buffer pool from the memory plan (kernel/mem_plan.hpp): deep when memory allows.
Options probe_options() {
    Options o;
    o.rx_ring = mem_plan::current().nic_rx_ring;
    o.rx_buffers = mem_plan::current().nic_rx_buffers;
    return o;
}

devices::Product probe(const pci::Device& dev, const pci::Match&) {
    return devices::Product::nic(
        Driver::create(dev, pci::kernel_env(), probe_options()));  // nullptr (logged by init) when unusable
}

pci::Registration registration{"e1000", kPciIds, &probe};

}  // namespace
}  // namespace skerry::e1000
