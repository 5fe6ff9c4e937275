// The iperf2 server (TCP): every connection is one test stream. The 2.x client starts the stream with its
// header (test settings) and then data; the server reads and discards everything and closes when the client
// has finished, then logs the stream's summary. Parallel streams (-P) are simply parallel connections.
#include <stdio.h>

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
    return true;
}

}  // namespace iperf
