// The kernel's side of the e1000 driver: finding the devices on the PCI bus and choosing ring sizes from the
// memory there is.
#include "drivers/bus/pci/pci_env.hpp"
#include "drivers/nic/e1000/e1000.hpp"
#include "kernel/kernel.hpp"
#include "kernel/page_alloc.hpp"

namespace skerry::e1000 {

// With memory to spare, a deeper receive ring: a burst of a whole TCP window (QEMU's slirp delivers one in
// a moment) then waits in the ring instead of in QEMU's queue, and the tail moves less often. Measured with
// iperf3 under TCG: 256 descriptors ~740 Mbit/s, 1024 ~930. It costs 2 KiB a buffer (3 MiB here).
static Options probe_options() {
    Options o;
    constexpr uint64_t kDeepRingMinFree = 64ull << 20;
    if (kernel::pages().free_pages() * PageAllocator::kPageSize >= kDeepRingMinFree) {
        o.rx_ring = 1024;
        o.rx_buffers = 1024 + 512;
    }
    return o;
}

size_t probe(net::NicDriver** out, size_t max) {
    const Options options = probe_options();
    size_t n = 0;
    for (size_t i = 0; i < pci::count() && n < max; ++i) {
        const pci::Device& d = pci::device(i);
        if (!find_model(d.vendor, d.device)) continue;
        if (Driver* drv = Driver::create(d, pci::kernel_env(), options)) out[n++] = drv;
    }
    return n;
}

}  // namespace skerry::e1000
