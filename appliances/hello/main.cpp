// The hello appliance: the kernel has already logged its boot (hypervisor, memory, PCI devices); hello
// says so, arms a timer to prove the event loop wakes from idle, and then idles.
#include <stdio.h>

#include "appliances/hello/hello.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace {
skerry::loop::Timer wake_timer;
uint64_t armed_at;

void woke(void*) {
    uint64_t ms = (skerry::time::now_ns() - armed_at) / 1000000;
    skerry::log::info("timer: event loop woke after %llu ms", static_cast<unsigned long long>(ms));
    skerry::log::info("hello: idle (nothing to serve; the network appliances are echo, http and iperf)");
}
}  // namespace

int main() {
    printf("hello: Skerry is up. This appliance only shows the boot; it serves nothing.\n");
    armed_at = skerry::time::now_ns();
    skerry::loop::arm(wake_timer, armed_at + 50 * 1000000ull, woke, nullptr);
    hello::start_irq_check();
    return 0;
}
