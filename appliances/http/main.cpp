// The http appliance: HTTP/1.1 on port 80 (http.port=), static files compiled into the image from
// appliances/http/www/ (WWW=<dir> at build time) and /status as JSON; appliances/http/server.hpp.
// Options: http.port=<n>, http.max_connections=<n> (beyond: 503), http.timeout=<s> (a request must be
// complete within this, else 408), http.keepalive=<s> (idle kept-alive connections close),
// http.log_rate=<lines per second> of the access log (0: none), https.port=<n> (0: no HTTPS, see tls.hpp).
#include "appliances/http/server.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "net/socket.hpp"
#include "net/stack.hpp"

namespace {
using namespace skerry;

cmdline::Option opt_port = cmdline::Option::integer("http.port", 80, 1, 65535, "http: TCP port");
cmdline::Option opt_max = cmdline::Option::integer("http.max_connections", 256, 1, 4096,
                                                   "http: open connections at most (beyond: 503)");
cmdline::Option opt_timeout = cmdline::Option::integer("http.timeout", 10, 1, 3600,
                                                       "http: seconds a request may take to arrive (then 408)");
cmdline::Option opt_keepalive = cmdline::Option::integer("http.keepalive", 15, 1, 3600,
                                                         "http: seconds an idle kept-alive connection stays open");
cmdline::Option opt_log_rate = cmdline::Option::integer("http.log_rate", 20, 0, 100000,
                                                        "http: access log lines per second at most");
cmdline::Option opt_https_port = cmdline::Option::integer("https.port", 443, 0, 65535, "https: TCP port (0: off)");
cmdline::Option opt_vsock_port = cmdline::Option::integer("http.vsock_port", 80, 0, 0xFFFFFFFE,
                                                          "http: vsock port (0: not on vsock)");
cmdline::Option opt_vsock_https_port = cmdline::Option::integer("https.vsock_port", 443, 0, 0xFFFFFFFE,
                                                                "https: vsock port (0: not on vsock)");
cmdline::Option* const kHttpOptions[] = {&opt_port,     &opt_max,        &opt_timeout,    &opt_keepalive,
                                         &opt_log_rate, &opt_https_port, &opt_vsock_port, &opt_vsock_https_port};

void ready(void*) { http::print_how_to_reach(); }
}  // namespace

int main() {
    kernel::command_line().apply(kHttpOptions);
    http::Options o;
    o.port = static_cast<uint16_t>(opt_port.as_int());
    o.max_connections = static_cast<uint32_t>(opt_max.as_int());
    o.request_timeout_ms = static_cast<uint32_t>(opt_timeout.as_int() * 1000);
    o.keepalive_timeout_ms = static_cast<uint32_t>(opt_keepalive.as_int() * 1000);
    o.log_per_second = static_cast<uint32_t>(opt_log_rate.as_int());
    o.https_port = static_cast<uint16_t>(opt_https_port.as_int());
    o.vsock_port = static_cast<uint32_t>(opt_vsock_port.as_int());
    o.vsock_https_port = static_cast<uint32_t>(opt_vsock_https_port.as_int());
    o.inet = net::start();
    if (!o.inet && !(o.vsock_port && net::vsock_available())) {
        log::error("http: no network and no vsock transport; nothing to serve");
        return 1;
    }
    if (!o.inet) log::info("http: no network interface: serving on vsock only");
    if (!http::start(o)) return 1;
    if (o.inet) log::info("http: listening on port %u (IPv4 and IPv6)", static_cast<unsigned>(o.port));
    http::start_https();
    http::print_vsock();
    if (o.inet) net::on_ready(ready, nullptr);
    return 0;
}
