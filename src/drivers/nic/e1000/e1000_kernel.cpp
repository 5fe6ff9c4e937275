// The e1000 driver's place in the kernel: its PCI registration (the ID table is e1000_ids.hpp) and the factory the
// PCI bus calls at boot for every matching function, before the appliance and its network stack start. The NICs it
// makes are initialised (reset, MAC read), not started: the network stack starts the ones it attaches.
#include "drivers/bus/pci/pci_env.hpp"
#include "drivers/devices.hpp"
#include "drivers/nic/e1000/e1000.hpp"
#include "drivers/nic/e1000/e1000_ids.hpp"
#include "kernel/kernel.hpp"
#include "kernel/page_alloc.hpp"

namespace skerry::e1000 {
namespace {

// With memory to spare, a deeper receive ring: a burst of a whole TCP window (QEMU's slirp delivers one in
// a moment) then waits in the ring instead of in QEMU's queue, and the tail moves less often. Measured with
// iperf3 under TCG: 256 descriptors ~740 Mbit/s, 1024 ~930. It costs 2 KiB a buffer (3 MiB here).
Options probe_options() {
    Options o;
    constexpr uint64_t kDeepRingMinFree = 64ull << 20;
    if (kernel::pages().free_pages() * PageAllocator::kPageSize >= kDeepRingMinFree) {
        o.rx_ring = 1024;
        o.rx_buffers = 1024 + 512;
    }
    return o;
}

devices::Product probe(const pci::Device& dev, const pci::Match&) {
    return devices::Product::nic(
        Driver::create(dev, pci::kernel_env(), probe_options()));  // nullptr (logged by init) when unusable
}

pci::Registration registration{"e1000", kPciIds, &probe};

}  // namespace
}  // namespace skerry::e1000
