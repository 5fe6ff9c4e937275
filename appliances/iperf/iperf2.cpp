// The iperf2 server. TCP: every connection is one test stream. The 2.x client starts the stream with its
// header (test settings) and then data; the server reads and discards everything and closes when the client
// has finished, then logs the stream's summary. Parallel streams (-P) are simply parallel connections.
// UDP (-u) on the same port number: per-sender counters and the server report (below).
#include <stdio.h>
#include <string.h>

#include "appliances/iperf/iperf.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"
#include "net/socket.hpp"

namespace iperf {
namespace {

using namespace skerry;
using net::Error;
using net::Stream;

net::Listener* listener2;
net::Datagram* udp2;

// ---- UDP ----------------------------------------------------------------------------------------------------
// Each datagram starts with iperf2's header: id (int32, big endian; negative in the client's final datagrams),
// sent time (sec, usec), and the id's upper 32 bits. The final datagram is answered with the server report
// (iperf2's server_hdr: flags, total bytes hi/lo, duration sec/usec, lost, out of order, datagrams, jitter
// sec/usec, all big endian) after a copy of the datagram header; the client repeats it until answered.
constexpr int kMaxFlows = 16;
constexpr size_t kUdpHeader = 16;
constexpr uint32_t kHeaderVersion1 = 0x80000000u;

struct Flow {
    bool used = false, finished = false;
    net::Address peer;
    uint64_t bytes = 0, datagrams = 0;
    int64_t max_id = 0, lost = 0, out_of_order = 0;
    double jitter = 0, prev_transit = 0;
    bool have_transit = false;
    uint64_t first_ns = 0, last_ns = 0;
};
Flow flows[kMaxFlows];

uint32_t be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

void put_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

Flow* flow_for(const net::Address& from, int32_t id) {
    Flow* oldest = &flows[0];
    for (Flow& f : flows) {
        if (f.used && f.peer == from) {
            if (f.finished && id >= 0) break;  // a new test from the same port
            return &f;
        }
        if (!f.used || (oldest->used && f.last_ns < oldest->last_ns)) oldest = &f;
    }
    for (Flow& f : flows)
        if (f.used && f.peer == from) oldest = &f;
    *oldest = Flow{};
    oldest->used = true;
    oldest->peer = from;
    oldest->first_ns = time::now_ns();
    return oldest;
}

void udp_in(net::Datagram& d, const net::Address& from, const void* data, size_t len, void*) {
    if (len < kUdpHeader) return;
    const uint8_t* b = static_cast<const uint8_t*>(data);
    const int32_t id = static_cast<int32_t>(be32(b));
    Flow& f = *flow_for(from, id);
    const uint64_t now = time::now_ns();
    if (id >= 0) {
        if (f.finished) return;
        f.last_ns = now;
        f.bytes += len;
        ++f.datagrams;
        if (id > f.max_id) {
            if (id > f.max_id + 1) f.lost += id - f.max_id - 1;
            f.max_id = id;
        } else {
            ++f.out_of_order;
            if (f.lost > 0) --f.lost;
        }
        const double transit = static_cast<double>(now) / 1e9 - (be32(b + 4) + be32(b + 8) / 1e6);
        if (f.have_transit) {
            double delta = transit - f.prev_transit;
            if (delta < 0) delta = -delta;
            f.jitter += (delta - f.jitter) / 16.0;
        }
        f.prev_transit = transit;
        f.have_transit = true;
        return;
    }
    // The client's end of test: summarise once, answer every time.
    const uint64_t ns = (f.last_ns > f.first_ns ? f.last_ns : now) - f.first_ns;
    if (!f.finished) {
        f.finished = true;
        char peer[net::kAddressTextMax];
        from.format(peer, sizeof peer, false);
        log_summary("iperf", "UDP receive from", peer, f.bytes, ns, 1);
        log::info("iperf: UDP %lld/%lld datagrams lost, %lld out of order, jitter %u us",
                  static_cast<long long>(f.lost), static_cast<long long>(f.max_id),
                  static_cast<long long>(f.out_of_order), static_cast<unsigned>(f.jitter * 1e6));
    }
    uint8_t reply[kUdpHeader + 40] = {};
    memcpy(reply, b, kUdpHeader);
    uint8_t* h = reply + kUdpHeader;
    put_be32(h, kHeaderVersion1);
    put_be32(h + 4, static_cast<uint32_t>(f.bytes >> 32));
    put_be32(h + 8, static_cast<uint32_t>(f.bytes));
    put_be32(h + 12, static_cast<uint32_t>(ns / 1000000000ull));
    put_be32(h + 16, static_cast<uint32_t>(ns % 1000000000ull / 1000));
    put_be32(h + 20, static_cast<uint32_t>(f.lost));
    put_be32(h + 24, static_cast<uint32_t>(f.out_of_order));
    put_be32(h + 28, static_cast<uint32_t>(f.max_id));
    put_be32(h + 32, static_cast<uint32_t>(f.jitter));
    put_be32(h + 36, static_cast<uint32_t>((f.jitter - static_cast<uint32_t>(f.jitter)) * 1e6));
    d.send_to(from, reply, sizeof reply);
}

void end(Stream& s, Error why) {
    char peer[net::kAddressTextMax];
    s.remote().format(peer, sizeof peer, false);
    const uint64_t ns = time::now_ns() - s.opened_ns();
    if (why == Error::None) {
        log_summary("iperf", "TCP receive from", peer, s.bytes_received(), ns, 1);
    } else {
        log::info("iperf: stream from %s ended (%s) after %llu bytes", peer, net::error_text(why),
                  static_cast<unsigned long long>(s.bytes_received()));
    }
}

void readable(Stream& s, void*) {
    const void* p;
    size_t n;
    while ((n = s.peek(&p)) != 0) s.consume(n);
    if (s.at_eof()) {
        end(s, Error::None);
        s.close();
    }
}

void closed(Stream& s, Error why, void*) { end(s, why); }

void accepted(net::Listener&, Stream& s, void*) {
    net::StreamHandlers h;
    h.readable = readable;
    h.closed = closed;
    s.set_handlers(h, nullptr);
    readable(s, nullptr);
}

}  // namespace

bool start_v2(uint16_t port) {
    Error e = Error::None;
    listener2 = net::Listener::open(net::Address::any(port), 64, accepted, nullptr, &e);
    if (!listener2) {
        log::error("iperf: cannot listen on TCP port %u: %s", port, net::error_text(e));
        return false;
    }
    udp2 = net::Datagram::open(net::Address::any(port), udp_in, nullptr, &e);
    if (!udp2) log::error("iperf: cannot bind UDP port %u: %s (UDP tests will fail)", port, net::error_text(e));
    return true;
}

}  // namespace iperf
