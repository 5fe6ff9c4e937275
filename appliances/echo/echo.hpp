// RFC 862 echo over the socket layer (src/net/socket.hpp): TCP and UDP on one port, IPv4 and IPv6.
//
// Flow control end to end: a connection reads only as much as it can write back. When write() takes
// less than was read, the connection stops reading until the stream is writable again; unread data stay in
// the TCP receive window, which therefore closes and slows the sender. Memory per connection is bounded by
// the stack's send and receive windows, never by the echo itself.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace echo {

struct Totals {
    uint64_t connections;  // accepted
    uint64_t open;         // still open
    uint64_t tcp_bytes;    // echoed over TCP
    uint64_t resets;       // connections that ended in an error
    uint64_t datagrams;    // echoed over UDP
    uint64_t udp_bytes;
    uint64_t udp_dropped;  // could not be sent back (no memory, no route)
};

// Listens on TCP and UDP `port` (IPv4 and IPv6). False (logged) if either cannot be opened.
bool start(uint16_t port);
// The same echo on a vsock port (net::add_vsock must have given the socket layer a transport).
bool start_vsock(uint32_t port);
// Stops listening; open connections stay until their peers close them.
void stop();
uint16_t port();
Totals totals();

// Once the network is ready: "echo: ready on 10.0.2.15 port 7 (TCP and UDP): try `nc 10.0.2.15 7` ...".
void print_how_to_reach();

}  // namespace echo
