// The iperf appliance: iperf3 server on port 5201 (TCP control and data, UDP data) and iperf2 server on TCP
// port 5001 (appliances/iperf/iperf.hpp). Options: iperf.port3= and iperf.port2=.
#include "appliances/iperf/iperf.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "net/socket.hpp"
#include "net/stack.hpp"

namespace {
using namespace skerry;

cmdline::Option opt_port3 = cmdline::Option::integer("iperf.port3", 5201, 1, 65535, "iperf: iperf3 port");
cmdline::Option opt_port2 = cmdline::Option::integer("iperf.port2", 5001, 1, 65535, "iperf: iperf2 TCP port");
cmdline::Option opt_vsock_port = cmdline::Option::integer("iperf.vsock_port", 5201, 0, 0xFFFFFFFE,
                                                          "iperf: iperf3 on this vsock port (0: not on vsock)");
cmdline::Option* const kIperfOptions[] = {&opt_port3, &opt_port2, &opt_vsock_port};

void ready(void*) {
    iperf::print_how_to_reach(static_cast<uint16_t>(opt_port3.as_int()), static_cast<uint16_t>(opt_port2.as_int()));
}
}  // namespace

namespace iperf {
void print_how_to_reach(uint16_t port3, uint16_t port2) {
    net::Address a;
    char host[net::kAddressTextMax] = "(no address yet)";
    if (net::primary_address(&a)) a.format(host, sizeof host, false);
    log::info("iperf: ready on %s: iperf3 -c %s (port %u), iperf -c %s (port %u)", host, host,
              static_cast<unsigned>(port3), host, static_cast<unsigned>(port2));
}
}  // namespace iperf

int main() {
    kernel::command_line().apply(kIperfOptions);
    const bool inet = net::start();
    const uint32_t vport = static_cast<uint32_t>(opt_vsock_port.as_int());
    const bool vsock = vport && net::vsock_available();
    if (!inet && !vsock) {
        log::error("iperf: no network and no vsock transport; nothing to serve");
        return 1;
    }
    if (inet) {
        if (!iperf::start_v3(static_cast<uint16_t>(opt_port3.as_int()))) return 1;
        if (!iperf::start_v2(static_cast<uint16_t>(opt_port2.as_int()))) return 1;
        net::on_ready(ready, nullptr);
    } else {
        log::info("iperf: no network interface: iperf3 on vsock only");
    }
    if (vsock && iperf::start_v3_vsock(vport)) {
        log::info("iperf: iperf3 ready on vsock CID %llu port %u: `skerry-vsock --uds <uds_path> --port %u --listen "
                  "127.0.0.1:5201` (Firecracker) or `--cid %llu` (vhost-vsock), then `iperf3 -c 127.0.0.1`",
                  static_cast<unsigned long long>(net::vsock_local_cid()), vport, vport,
                  static_cast<unsigned long long>(net::vsock_local_cid()));
    }
    return 0;
}
