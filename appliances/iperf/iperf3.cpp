// The iperf3 server over the socket layer. The control protocol is appliances/iperf/iperf3_proto.hpp; this
// file moves bytes: the control connection, the TCP data streams (reading and discarding, or sending for
// -R/--bidir), the UDP streams on the same port number, and a watchdog that ends a test whose client went
// silent (no byte moved for kIdleNs).
//
// -O (omit): the streams run from TEST_RUNNING as in any test; when the omit seconds are over, the byte counts
// and the start time restart (iperf3's iperf_reset_stats). UDP packet and loss counters are not reset: iperf3
// 3.12's server reports totals and the client subtracts the counts it saw during the omit period.
//
// Retransmits: lwIP 2.1.3 keeps no cumulative retransmission count (MIB2_STATS is off and TCP_STATS' rexmit is
// never incremented); each PCB's nrtx counts retransmissions of the oldest unacknowledged segment and returns to
// 0 when new data is acknowledged. A poller samples nrtx of the server's sending streams on every event-loop
// iteration and adds each rise, so a retransmission is missed only if it and the ACK that ends it are
// processed within one loop iteration.
#include <stdio.h>
#include <string.h>

#include "lwip/priv/tcp_priv.h"  // tcp_active_pcbs, read only: no public call finds a connection's pcb (nrtx)

#include "appliances/iperf/iperf.hpp"
#include "appliances/iperf/iperf3_proto.hpp"
#include "appliances/iperf/jitter.hpp"
#include "kernel/bytes.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"
#include "net/socket.hpp"

namespace iperf {
namespace {

using namespace skerry;
using bytes::be32;
using bytes::put_be32;
using net::Error;
using net::Stream;
namespace v3 = iperf::v3;

constexpr uint64_t kIdleNs = 10'000'000'000ull;
constexpr uint64_t kTickNs = 1'000'000'000ull;
constexpr int kMaxPending = 16;
// A connection that sends no cookie within this time is closed. Without a bound, one that never does (a killed
// client's late data connection, still delivered by slirp) held every stream accepted after it, and so the
// test, until the watchdog ended it (docs/protocols/iperf3.md, "Data connections").
constexpr uint64_t kCookieNs = 3'000'000'000ull;
constexpr uint32_t kUdpConnectReply = 0x39383736;  // iperf3 writes it in host order (x86: little endian)

alignas(64) uint8_t zeros[64 * 1024];

struct Data {
    Stream* tcp = nullptr;
    bool udp = false;
    net::Address peer;  // UDP
    bool sends = false;
    uint64_t bytes = 0;  // payload counted during the test
    // UDP receive statistics (iperf3's: highest counter seen, losses, RFC 1889 jitter in seconds)
    uint64_t packet_count = 0;  // received (highest counter), or sent
    int64_t errors = 0;
    Jitter jitter;
    // TCP sender: retransmissions counted since the omit period (nrtx sampling, above)
    int64_t retransmits = 0;
    uint8_t last_nrtx = 0;
};

// A connection during CREATE_STREAMS until it becomes a data stream. Streams are numbered in the order they
// were accepted, as iperf3's server does (it reads each cookie before accepting the next connection): the
// client connects them in order and --bidir's direction follows the number. Cookies can complete out of that
// order (slirp forwards the connections' first bytes in any order), so a connection with its cookie waits
// until every connection accepted before it became a stream or went away.
struct Pending {
    Stream* s = nullptr;
    char cookie[v3::kCookieSize];
    size_t have = 0;
    uint64_t seq = 0;  // accept order
    uint64_t accepted_ns = 0;
    bool ready = false;  // a matching cookie is in
};

struct Test {
    Stream* ctrl = nullptr;
    v3::Control* proto = nullptr;
    Data data[v3::kMaxStreams];
    int n = 0;
    Pending pending[kMaxPending];
    uint64_t accepted = 0;
    bool running = false, ended = false;
    uint64_t begin_ns = 0;              // TEST_RUNNING
    uint64_t start_ns = 0, end_ns = 0;  // what the results count: from the end of the omit period
    uint64_t start_idle_ns = 0;         // the event loop's halted time at start_ns
    uint64_t last_progress = 0, last_activity_ns = 0;
    net::Address peer;
};

net::Listener* listener;
net::Listener* vsock_listener;
net::Datagram* udp;
Test* test;
loop::Timer watchdog;
loop::Timer omit_timer;  // -O: bytes of the first seconds are not counted (TCP)
loop::Timer pacer;       // UDP sending (-u -R, -u --bidir): every kPaceNs, send what the rate allows by now
constexpr uint64_t kPaceNs = 1'000'000ull;
constexpr int kMaxBurst = 256;
alignas(64) uint8_t udp_packet[65536];

void teardown(const char* why);

uint64_t udp_send_until() {
    const v3::Params& p = test->proto->params();
    return test->begin_ns + static_cast<uint64_t>((p.time + p.omit) * 1e9) + 5'000'000'000ull;
}

uint64_t progress() {
    uint64_t p = test->ctrl ? test->ctrl->bytes_received() + test->ctrl->bytes_sent() : 0;
    for (int i = 0; i < test->n; ++i) {
        const Data& d = test->data[i];
        if (d.tcp) {
            p += d.tcp->bytes_received() + d.tcp->bytes_sent();
        } else if (!d.sends || time::now_ns() < udp_send_until()) {
            p += d.bytes;  // a UDP sender hears nothing back: its own sending is progress only for the test's time
        }
    }
    return p;
}

void close_silent_pending(uint64_t now);

void tick(void*) {
    if (!test) return;
    const uint64_t now = time::now_ns();
    close_silent_pending(now);
    if (!test) return;
    const uint64_t p = progress();
    if (p != test->last_progress) {
        test->last_progress = p;
        test->last_activity_ns = now;
    } else if (now - test->last_activity_ns > kIdleNs) {
        teardown("client silent for 10 s");
        return;
    }
    loop::arm_in(watchdog, kTickNs, tick, nullptr);
}

void flush_ctrl() {
    if (!test || !test->ctrl) return;
    v3::Control& c = *test->proto;
    while (c.out_size()) {
        const size_t w = test->ctrl->write(c.out(), c.out_size());
        if (w == 0) return;
        c.sent(w);
    }
}

void drain(Stream& s) {
    const void* p;
    size_t n;
    while ((n = s.peek(&p)) != 0) s.consume(n);
}

void pump_send(Data& d) {
    if (!d.tcp || test->ended || !test->running) return;
    const size_t len = test->proto->params().len < sizeof zeros ? test->proto->params().len : sizeof zeros;
    for (;;) {
        const size_t w = d.tcp->write(zeros, len);
        d.bytes += w;
        if (w < len) return;
    }
}

void summarise() {
    const v3::Params& p = test->proto->params();
    char peer[net::kAddressTextMax];
    test->peer.format(peer, sizeof peer, false);
    const uint64_t ns = (test->end_ns ? test->end_ns : time::now_ns()) - test->start_ns;
    uint64_t rx = 0, tx = 0;
    for (int i = 0; i < test->n; ++i) (test->data[i].sends ? tx : rx) += test->data[i].bytes;
    const char* proto = p.udp ? "UDP" : "TCP";
    char what[48];
    if (rx || !tx) {
        snprintf(what, sizeof what, "%s receive from", proto);
        log_summary("iperf3", what, peer, rx, ns, p.bidir ? p.parallel : p.streams());
    }
    if (tx) {
        snprintf(what, sizeof what, "%s send to", proto);
        log_summary("iperf3", what, peer, tx, ns, p.bidir ? p.parallel : p.streams());
        if (!p.udp) {
            int64_t rt = 0;
            for (int i = 0; i < test->n; ++i) rt += test->data[i].sends ? test->data[i].retransmits : 0;
            log::info("iperf3: %lld TCP retransmission%s while sending", static_cast<long long>(rt),
                      rt == 1 ? "" : "s");
        }
    }
    if (p.udp && rx) {
        int64_t lost = 0;
        uint64_t pk = 0;
        double jit = 0;
        for (int i = 0; i < test->n; ++i) {
            if (test->data[i].sends) continue;
            lost += test->data[i].errors;
            pk += test->data[i].packet_count;
            if (test->data[i].jitter.value > jit) jit = test->data[i].jitter.value;
        }
        log::info("iperf3: UDP %lld/%llu datagrams lost, jitter %u us", static_cast<long long>(lost),
                  static_cast<unsigned long long>(pk), static_cast<unsigned>(jit * 1e6));
    }
}

void close_stream(Stream*& s, bool graceful) {
    if (!s) return;
    Stream* t = s;
    s = nullptr;
    t->set_handlers(net::StreamHandlers{}, nullptr);
    drain(*t);
    if (graceful) t->close();
    else t->abort();
}

// Ends the test: every stream closed (graceful after a complete test), the server free for the next client.
void teardown(const char* why) {
    if (!test) return;
    loop::cancel(watchdog);
    loop::cancel(pacer);
    loop::cancel(omit_timer);
    const bool ok = why == nullptr;
    if (ok) {
        summarise();
    } else {
        char peer[net::kAddressTextMax];
        test->peer.format(peer, sizeof peer, false);
        log::info("iperf3: test from %s aborted: %s", peer, why);
    }
    for (int i = 0; i < test->n; ++i) close_stream(test->data[i].tcp, ok);
    for (Pending& p : test->pending) close_stream(p.s, false);
    if (test->ctrl) {
        flush_ctrl();
        close_stream(test->ctrl, ok);
    }
    delete test->proto;
    delete test;
    test = nullptr;
}

// UDP sender: iperf3's datagram header (seconds, microseconds, packet counter: 32 or 64 bits, big endian),
// at -b bits/s per stream, from the test's start.
void pace_udp(void*) {
    if (!test || test->ended) return;
    const v3::Params& p = test->proto->params();
    const size_t len = p.len < 16 ? 16 : p.len > sizeof udp_packet ? sizeof udp_packet : p.len;
    const uint64_t now = time::now_ns();
    const double allowed = static_cast<double>(p.bandwidth) * static_cast<double>(now - test->start_ns) / 8e9;
    for (int i = 0; i < test->n; ++i) {
        Data& d = test->data[i];
        if (!d.udp || !d.sends) continue;
        for (int burst = 0; burst < kMaxBurst && static_cast<double>(d.bytes) < allowed; ++burst) {
            const uint64_t t = time::now_ns();
            put_be32(udp_packet, static_cast<uint32_t>(t / 1000000000ull));
            put_be32(udp_packet + 4, static_cast<uint32_t>(t % 1000000000ull / 1000));
            const uint64_t count = d.packet_count + 1;
            if (p.udp_counters_64bit) {
                put_be32(udp_packet + 8, static_cast<uint32_t>(count >> 32));
                put_be32(udp_packet + 12, static_cast<uint32_t>(count));
            } else {
                put_be32(udp_packet + 8, static_cast<uint32_t>(count));
            }
            if (udp->send_to(d.peer, udp_packet, len) != Error::None) break;  // no buffers: next tick
            d.packet_count = count;
            d.bytes += len;
        }
    }
    loop::arm_in(pacer, kPaceNs, pace_udp, nullptr);
}

void omit_over(void*) {
    if (!test || test->ended) return;
    test->start_ns = time::now_ns();
    test->start_idle_ns = loop::stats().idle_ns;
    for (int i = 0; i < test->n; ++i) {
        Data& d = test->data[i];
        d.bytes = 0;
        d.jitter.value = 0;
        d.retransmits = 0;
    }
    // The UDP pacer's budget restarts with the byte count.
}

// The pcb of a stream, from lwIP's list of active connections (ports are unique per peer here).
const tcp_pcb* pcb_of(const Stream& s) {
    for (const tcp_pcb* p = tcp_active_pcbs; p; p = p->next) {
        if (p->local_port == s.local().port && p->remote_port == s.remote().port) return p;
    }
    return nullptr;
}

bool sample_retransmits(void*) {
    if (!test || !test->running || test->ended || test->proto->params().udp) return false;
    for (int i = 0; i < test->n; ++i) {
        Data& d = test->data[i];
        if (!d.sends || !d.tcp) continue;
        const tcp_pcb* p = pcb_of(*d.tcp);
        if (!p) continue;
        d.retransmits += v3::nrtx_rise(d.last_nrtx, p->nrtx);
        d.last_nrtx = p->nrtx;
    }
    return false;  // never work of its own: the loop may halt
}

void maybe_start() {
    const v3::Params& p = test->proto->params();
    if (test->running || test->n < p.streams()) return;
    test->running = true;
    test->begin_ns = test->start_ns = time::now_ns();
    test->start_idle_ns = loop::stats().idle_ns;
    test->proto->start_test();
    flush_ctrl();
    if (p.omit > 0) loop::arm_in(omit_timer, static_cast<uint64_t>(p.omit) * 1'000'000'000ull, omit_over, nullptr);
    for (int i = 0; i < test->n; ++i) {
        if (test->data[i].sends && test->data[i].udp) loop::arm_in(pacer, 0, pace_udp, nullptr);
        if (test->data[i].sends) pump_send(test->data[i]);
    }
}

void end_test() {
    test->ended = true;
    test->end_ns = time::now_ns();
    v3::StreamResult r[v3::kMaxStreams];
    bool sent = false;
    for (int i = 0; i < test->n; ++i) {
        const Data& d = test->data[i];
        r[i].id = v3::stream_id(i);
        r[i].bytes = d.bytes;
        r[i].seconds = static_cast<double>(test->end_ns - test->start_ns) / 1e9;
        r[i].packets = static_cast<int64_t>(d.packet_count);
        r[i].errors = d.errors;
        r[i].jitter = d.jitter.value;
        if (d.sends && !d.udp) r[i].retransmits = d.retransmits;
        sent |= d.sends;
    }
    char text[160];
    uint64_t rx = 0, tx = 0;
    for (int i = 0; i < test->n; ++i) (test->data[i].sends ? tx : rx) += test->data[i].bytes;
    const double secs = static_cast<double>(test->end_ns - test->start_ns) / 1e9;
    snprintf(text, sizeof text, "Skerry iperf3 server: received %llu bytes, sent %llu bytes in %.2f s\n",
             static_cast<unsigned long long>(rx), static_cast<unsigned long long>(tx), secs);
    const double cpu = v3::busy_percent(test->end_ns - test->start_ns, loop::stats().idle_ns - test->start_idle_ns);
    // The data streams close before EXCHANGE_RESULTS goes out, as the stock server does: a reverse-mode client reads
    // its streams in whole blocks with blocking reads after TEST_END, and only the streams' end frees it when the
    // last block is short (docs/protocols/iperf3.md, "The end of a test").
    for (int i = 0; i < test->n; ++i) close_stream(test->data[i].tcp, true);
    test->proto->end_test(r, test->n, sent, cpu, text);
}

// ---- data streams ---------------------------------------------------------------------------------------
void data_io(Stream& s, void* ctx) {
    if (!test) return;
    Data& d = test->data[reinterpret_cast<uintptr_t>(ctx)];
    const void* p;
    size_t n;
    while ((n = s.peek(&p)) != 0) {
        if (test->running && !test->ended) d.bytes += n;
        s.consume(n);
    }
    if (d.sends) pump_send(d);
}

void data_closed(Stream&, Error why, void* ctx) {
    if (!test) return;
    Data& d = test->data[reinterpret_cast<uintptr_t>(ctx)];
    d.tcp = nullptr;
    if (!test->ended && why != Error::None) teardown("a data stream was reset");
}

// A connection with its cookie in becomes data stream number test->n.
void make_stream(Stream& s) {
    const uintptr_t i = static_cast<uintptr_t>(test->n++);
    Data& d = test->data[i];
    d = Data{};
    d.tcp = &s;
    d.sends = test->proto->params().server_sends(static_cast<int>(i));
    net::StreamHandlers h;
    h.readable = data_io;
    h.writable = data_io;
    h.closed = data_closed;
    s.set_handlers(h, reinterpret_cast<void*>(i));
    data_io(s, reinterpret_cast<void*>(i));
}

// Promotes ready connections in accept order; stops at the oldest one whose cookie is still arriving.
void promote() {
    while (test) {
        Pending* first = nullptr;
        for (Pending& pe : test->pending)
            if (pe.s && (!first || pe.seq < first->seq)) first = &pe;
        if (!first || !first->ready) return;
        Stream* s = first->s;
        first->s = nullptr;
        if (test->n >= test->proto->params().streams()) {  // one too many: iperf3 denies it
            const int8_t denied = v3::kAccessDenied;
            s->write(&denied, 1);
            s->set_handlers(net::StreamHandlers{}, nullptr);
            drain(*s);
            s->close();
            continue;
        }
        make_stream(*s);
        maybe_start();
    }
}

void pending_in(Stream& s, void* ctx) {
    if (!test) return;
    Pending& pe = test->pending[reinterpret_cast<uintptr_t>(ctx)];
    if (pe.ready) return;  // waiting for its turn (promote); its data stays buffered
    while (pe.have < v3::kCookieSize) {
        const size_t r = s.read(pe.cookie + pe.have, v3::kCookieSize - pe.have);
        if (r == 0) break;
        pe.have += r;
    }
    if (pe.have < v3::kCookieSize) {
        if (s.at_eof()) {
            close_stream(pe.s, true);
            promote();
        }
        return;
    }
    const v3::Params& p = test->proto->params();
    if (memcmp(pe.cookie, test->proto->cookie(), v3::kCookieSize - 1) != 0 || p.udp) {
        pe.s = nullptr;
        const int8_t denied = v3::kAccessDenied;
        s.write(&denied, 1);
        s.set_handlers(net::StreamHandlers{}, nullptr);
        drain(s);
        s.close();
        promote();
        return;
    }
    pe.ready = true;
    promote();
}

void close_silent_pending(uint64_t now) {
    bool closed = false;
    for (Pending& pe : test->pending) {
        if (!pe.s || pe.ready || now - pe.accepted_ns < kCookieNs) continue;
        log::info("iperf3: a data connection sent no cookie within %llu s: closed",
                  static_cast<unsigned long long>(kCookieNs / 1'000'000'000ull));
        close_stream(pe.s, false);
        closed = true;
    }
    if (closed) promote();
}

void pending_closed(Stream&, Error, void* ctx) {
    if (!test) return;
    test->pending[reinterpret_cast<uintptr_t>(ctx)].s = nullptr;
    promote();
}

// ---- control --------------------------------------------------------------------------------------------
void ctrl_in(Stream& s, void*) {
    while (test) {
        const void* p;
        const size_t n = s.peek(&p);
        if (n == 0) break;
        v3::Event ev;
        const size_t used = test->proto->feed(p, n, &ev);
        s.consume(used);
        flush_ctrl();
        switch (ev) {
        case v3::Event::None: break;
        case v3::Event::CreateStreams: {
            const v3::Params& pr = test->proto->params();
            char peer[net::kAddressTextMax];
            test->peer.format(peer, sizeof peer, false);
            log::info("iperf3: test from %s: %s, %d stream%s, %s, %.0f s", peer, pr.udp ? "UDP" : "TCP", pr.parallel,
                      pr.parallel == 1 ? "" : "s",
                      pr.bidir     ? "both directions"
                      : pr.reverse ? "server sends"
                                   : "client sends",
                      pr.time);
            break;
        }
        case v3::Event::TestEnd:
            end_test();
            flush_ctrl();
            break;
        case v3::Event::Done: teardown(nullptr); return;
        case v3::Event::Terminated: teardown("client terminated the test"); return;
        case v3::Event::Error: teardown(test->proto->error_text()); return;
        }
    }
    if (test && s.at_eof()) teardown("control connection closed by the client");
}

void ctrl_writable(Stream&, void*) { flush_ctrl(); }

void ctrl_closed(Stream&, Error why, void*) {
    if (!test) return;
    test->ctrl = nullptr;
    teardown(why == Error::None ? "control connection closed" : net::error_text(why));
}

void denied_in(Stream& s, void*) {
    drain(s);
    if (s.at_eof()) s.close();
}

void accepted(net::Listener&, Stream& s, void*) {
    if (!test) {
        test = new Test;
        test->proto = new v3::Control;
        test->ctrl = &s;
        test->peer = s.remote();
        test->last_activity_ns = time::now_ns();
        s.set_nodelay(true);
        net::StreamHandlers h;
        h.readable = ctrl_in;
        h.writable = ctrl_writable;
        h.closed = ctrl_closed;
        s.set_handlers(h, nullptr);
        loop::arm_in(watchdog, kTickNs, tick, nullptr);
        ctrl_in(s, nullptr);
        return;
    }
    if (test->proto->state() == v3::kCreateStreams && !test->running) {
        for (uintptr_t i = 0; i < kMaxPending; ++i) {
            Pending& pe = test->pending[i];
            if (pe.s) continue;
            pe.s = &s;
            pe.have = 0;
            pe.ready = false;
            pe.seq = test->accepted++;
            pe.accepted_ns = time::now_ns();
            net::StreamHandlers h;
            h.readable = pending_in;
            h.closed = pending_closed;
            s.set_handlers(h, reinterpret_cast<void*>(i));
            pending_in(s, reinterpret_cast<void*>(i));
            return;
        }
    }
    // Busy: iperf3 answers ACCESS_DENIED without reading; the client prints "the server is busy".
    const int8_t denied = v3::kAccessDenied;
    s.write(&denied, 1);
    net::StreamHandlers h;
    h.readable = denied_in;
    s.set_handlers(h, nullptr);
    s.shutdown_write();
    denied_in(s, nullptr);
}

// ---- UDP --------------------------------------------------------------------------------------------------
void udp_in(net::Datagram& dg, const net::Address& from, const void* data, size_t len, void*) {
    if (!test || !test->proto->params().udp) return;
    const uint8_t* b = static_cast<const uint8_t*>(data);
    int idx = -1;
    for (int i = 0; i < test->n; ++i)
        if (test->data[i].udp && test->data[i].peer == from) idx = i;
    if (!test->running) {
        if (test->proto->state() != v3::kCreateStreams || len != 4) return;
        if (idx < 0) {
            if (test->n >= test->proto->params().streams()) return;
            idx = test->n++;
            Data& d = test->data[idx];
            d = Data{};
            d.udp = true;
            d.peer = from;
            d.sends = test->proto->params().server_sends(idx);
        }
        const uint32_t reply = kUdpConnectReply;
        dg.send_to(from, &reply, sizeof reply);
        maybe_start();
        return;
    }
    if (idx < 0 || test->ended || len < 12 || test->data[idx].sends) return;
    Data& d = test->data[idx];
    const double sent = be32(b) + be32(b + 4) / 1e6;
    uint64_t count;
    if (test->proto->params().udp_counters_64bit && len >= 16) {
        count = (uint64_t{be32(b + 8)} << 32) | be32(b + 12);
    } else {
        count = be32(b + 8);
    }
    d.bytes += len;
    if (count >= d.packet_count + 1) {
        if (count > d.packet_count + 1) d.errors += static_cast<int64_t>(count - 1 - d.packet_count);
        d.packet_count = count;
    } else if (d.errors > 0) {
        --d.errors;  // out of order: counted as lost before
    }
    d.jitter.add(static_cast<double>(time::now_ns()) / 1e9 - sent);
}

}  // namespace

void log_summary(const char* tool, const char* what, const char* peer, uint64_t bytes, uint64_t ns, int streams) {
    const uint64_t cs = ns / 10000000ull;
    const uint64_t kbps = ns ? static_cast<uint64_t>(static_cast<double>(bytes) * 8e6 / static_cast<double>(ns)) : 0;
    log::info("%s: %s %s: %llu bytes in %llu.%02llu s = %llu.%02llu Mbit/s (%d stream%s)", tool, what, peer,
              static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(cs / 100),
              static_cast<unsigned long long>(cs % 100), static_cast<unsigned long long>(kbps / 1000),
              static_cast<unsigned long long>(kbps % 1000 / 10), streams, streams == 1 ? "" : "s");
}

bool open_ports(const char* tool, uint16_t port, net::Listener::AcceptFn on_accept,
                net::Datagram::ReceiveFn on_datagram, net::Listener** tcp, net::Datagram** udp) {
    Error e = Error::None;
    *tcp = net::Listener::open(net::Address::any(port), 64, on_accept, nullptr, &e);
    if (!*tcp) {
        log::error("%s: cannot listen on TCP port %u: %s", tool, port, net::error_text(e));
        return false;
    }
    *udp = net::Datagram::open(net::Address::any(port), on_datagram, nullptr, &e);
    if (!*udp) log::error("%s: cannot bind UDP port %u: %s (UDP tests will fail)", tool, port, net::error_text(e));
    return true;
}

bool start_v3_vsock(uint32_t port) {
    Error e = Error::None;
    vsock_listener = net::Listener::open(net::Address::vsock(net::kVsockCidAny, port), 64, accepted, nullptr, &e);
    if (!vsock_listener) {
        log::error("iperf3: cannot listen on vsock port %u: %s", port, net::error_text(e));
        return false;
    }
    return true;
}

bool start_v3(uint16_t port) {
    if (!open_ports("iperf3", port, accepted, udp_in, &listener, &udp)) return false;
    if (!loop::add_poller(sample_retransmits, nullptr)) log::warn("iperf3: no poller slot; retransmits not counted");
    return true;
}

}  // namespace iperf
