// The echo appliance: RFC 862 echo on TCP and UDP (port 7 unless echo.port= or port= says otherwise), IPv4
// and IPv6, as many connections as the stack holds, with flow control end to end (appliances/echo/echo.hpp).
// The network comes up with DHCP (or ip=/gw=/dns=, see src/net/stack.hpp); once it has an address the
// console says how to reach the appliance.
#include "appliances/echo/echo.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "net/socket.hpp"
#include "net/stack.hpp"

namespace {
using namespace skerry;

cmdline::Option opt_echo_port = cmdline::Option::integer("echo.port", 7, 1, 65535, "echo: TCP and UDP port");
cmdline::Option opt_port = cmdline::Option::integer("port", 7, 1, 65535, "echo: TCP and UDP port (echo.port= wins)");
cmdline::Option opt_vsock_port = cmdline::Option::integer("echo.vsock_port", 7, 0, 0xFFFFFFFE,
                                                          "echo: vsock port (0 = not on vsock)");
cmdline::Option* const kEchoOptions[] = {&opt_echo_port, &opt_port, &opt_vsock_port};

void ready(void*) { echo::print_how_to_reach(); }
}  // namespace

int main() {
    kernel::command_line().apply(kEchoOptions);
    const int64_t port = opt_echo_port.is_set() ? opt_echo_port.as_int() : opt_port.as_int();
    const bool inet = net::start();
    const uint32_t vport = static_cast<uint32_t>(opt_vsock_port.as_int());
    const bool vsock = vport != 0 && net::vsock_available();
    if (!inet && !vsock) {
        log::error("echo: no network and no vsock transport; nothing to serve");
        return 1;
    }
    if (inet) {
        if (!echo::start(static_cast<uint16_t>(port))) return 1;
        log::info("echo: listening on port %u (TCP and UDP, IPv4 and IPv6)", static_cast<unsigned>(port));
        net::on_ready(ready, nullptr);
    } else {
        log::info("echo: no network interface: serving on vsock only");
    }
    if (vsock && echo::start_vsock(vport)) {
        const unsigned long long cid = net::vsock_local_cid();
        log::info(
            "echo: ready on vsock CID %llu port %u: from the host `socat - VSOCK-CONNECT:%llu:%u` (vhost-vsock), or "
            "through Firecracker's Unix socket `skerry-vsock --uds <uds_path> --port %u --listen 127.0.0.1:10007` "
            "then `nc 127.0.0.1 10007`",
            cid, vport, cid, vport, vport);
    }
    return 0;
}
