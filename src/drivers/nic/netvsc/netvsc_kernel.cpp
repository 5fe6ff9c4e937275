// The netvsc driver's place in the kernel: its VMBus registration, and the factory the registry calls at boot
// once the host's offers are in (hyperv::kernel_init, before the appliance and its network stack start).
#include "drivers/bus/vmbus/platform.hpp"
#include "drivers/bus/vmbus/registry.hpp"
#include "drivers/nic/netvsc/netvsc.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace skerry::netvsc {
namespace {

constexpr uint64_t kStepNs = 1'000'000'000;     // a bring-up step the host leaves unanswered this long times out
constexpr uint64_t kBudgetNs = 10'000'000'000;  // and the whole bring-up gives up after this

void on_channel_signal(void* driver) { static_cast<Driver*>(driver)->poll(64); }

// The stack needs the MAC and MTU when it attaches the NIC, so the bring-up runs to its end here, polling
// (interrupts are still off at this point of boot).
net::NicDriver* make_netvsc(vmbus::Connection& conn, hv::HypercallPort& port, uint32_t relid, vmbus::DmaProvider& dma) {
    Driver* d = Driver::create(conn, port, relid, dma);
    if (!d) return nullptr;
    if (!d->bring_up(Driver::Wait{time::now_ns, kStepNs, kBudgetNs})) {
        log::error("%s: bring-up failed; no synthetic NIC", d->name());
        if (d->stopped()) delete d;  // else the host still holds its buffers: they stay ours for good
        return nullptr;
    }
    // Host signals on this channel (its event flag) only have to reach the driver; the loop poller the driver
    // registers in start() does the rest.
    if (!hyperv::kernel_platform().set_channel_handler(relid, on_channel_signal, d)) {
        log::warn("%s: no room for a channel signal handler; the driver polls", d->name());
    }
    log::info("%s: NVSP %u.%u, MTU %u, MAC %02x:%02x:%02x:%02x:%02x:%02x, link %s", d->name(), d->nvsp_version() >> 16,
              d->nvsp_version() & 0xFFFF, static_cast<unsigned>(d->mtu()), d->mac()[0], d->mac()[1], d->mac()[2],
              d->mac()[3], d->mac()[4], d->mac()[5], d->link_up() ? "up" : "down");
    return d;
}

vmbus::Registration registration{vmbus::kNetvscClass, "netvsc", &make_netvsc};

}  // namespace
}  // namespace skerry::netvsc
