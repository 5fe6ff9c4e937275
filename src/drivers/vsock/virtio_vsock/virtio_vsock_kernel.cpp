// The virtio-vsock driver's place in the kernel: its registration by virtio device type (any transport) and the
// factory the virtio buses call at boot. What it makes is a running vsock transport; the kernel hands its engine to
// the socket layer (net::add_vsock).
#include "drivers/bus/virtio/registry.hpp"
#include "drivers/vsock/virtio_vsock/virtio_vsock.hpp"

namespace skerry::virtio_vsock {
namespace {

devices::Product probe(virtio::Transport& t) {
    Driver* d = Driver::create(t);
    return d != nullptr ? devices::Product::vsock(&d->engine()) : devices::Product();
}

virtio::Registration registration{"virtio-vsock", virtio::kTypeVsock, &probe};

}  // namespace
}  // namespace skerry::virtio_vsock
