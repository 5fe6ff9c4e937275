#include "appliances/echo/echo.hpp"

#include <stdio.h>

#include "kernel/log.hpp"
#include "kernel/time.hpp"
#include "net/socket.hpp"
#include "net/stack.hpp"

namespace echo {
namespace {

using namespace skerry;
using net::Error;
using net::Stream;

constexpr int kBacklog = 128;

net::Listener* listener;
net::Listener* vsock_listener = nullptr;
net::Datagram* datagram;
uint16_t listen_port;
Totals totals_;

void log_end(Stream& s, Error why) {
    char peer[net::kAddressTextMax];
    s.remote().format(peer, sizeof peer);
    const uint64_t ns = time::now_ns() - s.opened_ns();
    const unsigned long long cs = ns / 10000000ull;  // hundredths of a second
    const unsigned long long bytes = s.bytes_sent();
    if (why == Error::None) {
        log::info("echo: %s closed after %llu bytes in %llu.%02llu s (%llu open, %llu connections, %llu bytes in all)",
                  peer, bytes, cs / 100, cs % 100, static_cast<unsigned long long>(totals_.open),
                  static_cast<unsigned long long>(totals_.connections),
                  static_cast<unsigned long long>(totals_.tcp_bytes));
    } else {
        log::info("echo: %s ended (%s) after %llu bytes in %llu.%02llu s (%llu open, %llu connections)", peer,
                  net::error_text(why), bytes, cs / 100, cs % 100, static_cast<unsigned long long>(totals_.open),
                  static_cast<unsigned long long>(totals_.connections));
    }
}

void finish(Stream& s) {
    --totals_.open;
    log_end(s, Error::None);
    s.close();  // what was written is still delivered, then FIN
}

// Echo what can be written back; stop reading when the send buffer is full (the unread bytes keep the
// TCP window closed) and go on when the stream is writable again.
void pump(Stream& s, void*) {
    for (;;) {
        const void* data;
        const size_t n = s.peek(&data);
        if (n == 0) break;
        const size_t w = s.write(data, n);
        s.consume(w);
        totals_.tcp_bytes += w;
        if (w < n) return;  // `writable` resumes
    }
    if (s.at_eof()) finish(s);
}

void closed(Stream& s, Error why, void*) {
    --totals_.open;
    if (why != Error::None) ++totals_.resets;
    log_end(s, why);
}

void accepted(net::Listener&, Stream& s, void*) {
    ++totals_.connections;
    ++totals_.open;
    s.set_nodelay(true);
    net::StreamHandlers h;
    h.readable = pump;
    h.writable = pump;
    h.closed = closed;
    s.set_handlers(h, nullptr);
    char peer[net::kAddressTextMax];
    s.remote().format(peer, sizeof peer);
    log::debug("echo: connection from %s", peer);
    pump(s, nullptr);  // data may have come with the handshake
}

void datagram_in(net::Datagram& d, const net::Address& from, const void* data, size_t len, void*) {
    if (d.send_to(from, data, len) == Error::None) {
        ++totals_.datagrams;
        totals_.udp_bytes += len;
    } else {
        ++totals_.udp_dropped;
    }
}

}  // namespace

bool start(uint16_t port) {
    Error e = Error::None;
    listener = net::Listener::open(net::Address::any(port), kBacklog, accepted, nullptr, &e);
    if (!listener) {
        log::error("echo: cannot listen on TCP port %u: %s", port, net::error_text(e));
        return false;
    }
    datagram = net::Datagram::open(net::Address::any(port), datagram_in, nullptr, &e);
    if (!datagram) {
        log::error("echo: cannot bind UDP port %u: %s", port, net::error_text(e));
        listener->close();
        listener = nullptr;
        return false;
    }
    listen_port = port;
    return true;
}

bool start_vsock(uint32_t port) {
    Error e = Error::None;
    vsock_listener = net::Listener::open(net::Address::vsock(net::kVsockCidAny, port), kBacklog, accepted, nullptr, &e);
    if (!vsock_listener) {
        log::error("echo: cannot listen on vsock port %u: %s", port, net::error_text(e));
        return false;
    }
    return true;
}

void stop() {
    if (vsock_listener) vsock_listener->close();
    vsock_listener = nullptr;
    if (listener) listener->close();
    if (datagram) datagram->close();
    listener = nullptr;
    datagram = nullptr;
}

uint16_t port() { return listen_port; }

Totals totals() { return totals_; }

void print_how_to_reach() {
    net::Address a;
    if (!net::primary_address(&a)) {
        log::info("echo: listening on port %u (TCP and UDP), but no address yet", listen_port);
        return;
    }
    char host[net::kAddressTextMax];
    a.format(host, sizeof host, false);
    const unsigned p = listen_port;
    if (a.family == net::Family::Ipv6) {
        log::info("echo: ready on %s port %u (TCP and UDP): try `nc %s %u` or `socat - UDP6:[%s]:%u`", host, p, host, p,
                  host, p);
    } else {
        log::info("echo: ready on %s port %u (TCP and UDP): try `nc %s %u` or `socat - UDP:%s:%u`", host, p, host, p,
                  host, p);
    }
}

}  // namespace echo
