// The HTTP/1.1 server over the socket layer (src/net/socket.hpp): static files from the in-image table
// (files.hpp), /status as JSON (status.hpp), keep-alive and pipelining (one request at a time per
// connection, answered in order; the next request is parsed once the previous response is written, so a
// client that does not read stops being read), timeouts, a connection limit and a rate-limited access log.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace http {

struct Options {
    uint16_t port = 80;
    uint16_t https_port = 443;              // 0: no HTTPS
    uint32_t max_connections = 256;         // beyond: 503 and close
    uint32_t request_timeout_ms = 10000;    // a request (headers) must be complete within this: else 408
    uint32_t keepalive_timeout_ms = 15000;  // an idle kept-alive connection is closed after this
    uint32_t log_per_second = 20;           // access log lines per second; the rest are counted
    bool inet = true;                       // listen on IP (false: a machine with no NIC, vsock only)
    uint32_t vsock_port = 80;               // the same server on vsock (0: not on vsock; needs a vsock transport)
    uint32_t vsock_https_port = 443;        // and HTTPS on vsock (0: not)
};

struct Totals {
    uint64_t connections;  // accepted
    uint64_t open;
    uint64_t requests;   // parsed (including the refused ones)
    uint64_t status[6];  // responses by class: [2] = 2xx ... [5] = 5xx
    uint64_t bytes_sent;
    uint64_t rejected;    // 503: over the connection limit
    uint64_t timeouts;    // 408
    uint64_t not_logged;  // access log lines suppressed by the rate limit
};

bool start(const Options& o);
// HTTPS on opts.https_port (tls.hpp): makes the key and certificate, then listens. After start().
bool start_https();
// The console line for reaching the server over vsock (nothing without a vsock listener).
void print_vsock();
Totals totals();
const Options& options();

// "http: ready on 10.0.2.15 port 80: try `curl http://10.0.2.15/`"
void print_how_to_reach();

}  // namespace http
