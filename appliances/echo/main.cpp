// The echo appliance: RFC 862 echo on TCP and UDP (port 7 unless echo.port= or port= says otherwise), IPv4
// and IPv6, as many connections as the stack holds, with flow control end to end (appliances/echo/echo.hpp).
// The network comes up with DHCP (or ip=/gw=/dns=, see src/net/stack.hpp); once it has an address the
// console says how to reach the appliance.
#include "appliances/echo/echo.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "net/stack.hpp"

namespace {
using namespace skerry;

cmdline::Option opt_echo_port = cmdline::Option::integer("echo.port", 7, 1, 65535, "echo: TCP and UDP port");
cmdline::Option opt_port = cmdline::Option::integer("port", 7, 1, 65535, "echo: TCP and UDP port (echo.port= wins)");
cmdline::Option* const kEchoOptions[] = {&opt_echo_port, &opt_port};

void ready(void*) { echo::print_how_to_reach(); }
}  // namespace

int main() {
    kernel::command_line().apply(kEchoOptions);
    const int64_t port = opt_echo_port.is_set() ? opt_echo_port.as_int() : opt_port.as_int();
    if (!net::start()) {
        log::error("echo: no network; nothing to serve");
        return 1;
    }
    if (!echo::start(static_cast<uint16_t>(port))) return 1;
    log::info("echo: listening on port %u (TCP and UDP, IPv4 and IPv6)", static_cast<unsigned>(port));
    net::on_ready(ready, nullptr);
    return 0;
}
