// The virtio-net driver's place in the kernel: its registration by virtio device type (any transport) and the
// factory the virtio buses call at boot. The NICs it makes are initialised (features, MAC), not started: the network
// stack starts the ones it attaches.
#include "drivers/bus/virtio/registry.hpp"
#include "drivers/nic/virtio_net/virtio_net.hpp"
#include "kernel/kernel.hpp"
#include "kernel/mem_plan.hpp"
#include "kernel/random.hpp"

namespace skerry::virtio_net {
namespace {

devices::Product probe(virtio::Transport& t) {
    static uint8_t fallback[6];  // for a device without a MAC: random, locally administered (init marks it so)
    const uint64_t r = random::next_u64();
    for (int i = 0; i < 6; ++i) fallback[i] = static_cast<uint8_t>(r >> (8 * i));
    Options o;
    o.fallback_mac = fallback;
    // From the memory plan (kernel/mem_plan.hpp); the ring is clamped to the device's queue size.
    o.rx_ring = mem_plan::current().nic_rx_ring;
    o.rx_buffers = mem_plan::current().nic_rx_buffers;
    return devices::Product::nic(Driver::create(t, o));
}

virtio::Registration registration{"virtio-net", virtio::kTypeNet, &probe};

}  // namespace
}  // namespace skerry::virtio_net
