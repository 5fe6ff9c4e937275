// Every NIC on the buses, from every driver. New drivers add their probe here.
#include "drivers/nic/e1000/e1000.hpp"
#include "drivers/bus/vmbus/registry.hpp"
#include "net/nic.hpp"

namespace skerry::net {

size_t probe_nics(NicDriver** out, size_t max) {
    size_t n = 0;
    n += e1000::probe(out + n, max - n);
    n += vmbus::registry().nics(out + n, max - n);  // VMBus devices made at boot (hyperv::kernel_init)
    return n;
}

}  // namespace skerry::net
