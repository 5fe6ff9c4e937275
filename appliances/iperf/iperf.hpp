// The iperf appliance: an iperf3 server (TCP control and data on port 5201, UDP data on the same port) and an
// iperf2 server (TCP port 5001), for Debian's iperf3 3.12 and iperf 2.1.8 clients. One iperf3 test at a time
// (a second client gets "server busy"); every finished test is summarised on the console.
#pragma once

#include <stdint.h>

#include "net/socket.hpp"

namespace iperf {

bool start_v3(uint16_t port);        // iperf3 server; false (logged) if the port cannot be opened
bool start_v3_vsock(uint32_t port);  // the same iperf3 server on a vsock port (TCP tests only)
bool start_v2(uint16_t port);        // iperf2 server
void print_how_to_reach(uint16_t port3, uint16_t port2);

// Logs "iperf3: TCP receive from 10.0.2.2: 12345 bytes in 2.00 s = 49.4 Mbit/s (1 stream)".
void log_summary(const char* tool, const char* what, const char* peer, uint64_t bytes, uint64_t ns, int streams);

// Listens on TCP `port` and binds UDP `port`, all addresses. False (logged as `tool`) when TCP cannot listen;
// a UDP port that cannot be bound is logged and *udp left null (UDP tests will fail).
bool open_ports(const char* tool, uint16_t port, skerry::net::Listener::AcceptFn on_accept,
                skerry::net::Datagram::ReceiveFn on_datagram, skerry::net::Listener** tcp, skerry::net::Datagram** udp);

}  // namespace iperf
