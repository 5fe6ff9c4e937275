// The iperf2 server. TCP: every connection is one test stream. The 2.x client starts the stream with its
// header (test settings) and then data; the server reads and discards everything and closes when the client
// has finished, then logs the stream's summary. Parallel streams (-P) are simply parallel connections.
// -r/-d: the server connects back and sends (below). UDP (-u) on the same port number: per-sender counters and
// the server report; with -r/-d the server also sends UDP back to the client's listener (below).
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "appliances/iperf/iperf.hpp"
#include "appliances/iperf/iperf2_proto.hpp"
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

net::Listener* listener2;
net::Datagram* udp2;

// ---- UDP ----------------------------------------------------------------------------------------------------
// Each datagram starts with iperf2's header: id (int32, big endian; negative in the client's final datagrams),
// sent time (sec, usec), and the id's upper 32 bits. The final datagram is answered with the server report
// (iperf2's server_hdr: flags, total bytes hi/lo, duration sec/usec, lost, out of order, datagrams, jitter
// sec/usec, all big endian) after a copy of the datagram header; the client repeats it until answered.
constexpr int kMaxFlows = 16;
constexpr size_t kUdpHeader = 16;

struct Flow {
    bool used = false, finished = false;
    net::Address peer;
    uint64_t bytes = 0, datagrams = 0;
    int64_t max_id = 0, lost = 0, out_of_order = 0;
    Jitter jitter;
    uint64_t first_ns = 0, last_ns = 0;
    // -u -r / -u -d: the client's request for a test back (from the header in its datagrams)
    bool header_seen = false, reverse_pending = false;
    net::Address back;
    int32_t amount = 0;
    uint32_t buf_len = 0;
    uint64_t rate = 0;
};
Flow flows[kMaxFlows];
// Sends UDP back as the header asks: to f.back from a socket of its own with iperf2's final handshake (-r/-d),
// or, with `via`, from that socket without the handshake (-R).
void start_udp_reverse(const Flow& f, uint64_t delay_ns, net::Datagram* via = nullptr);

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

// The client's datagrams carry its test request after the sequence header (iperf2_proto.hpp): -r/-d: send UDP
// back to the client's listener; 2.1 -u -R: send from this port to the client's own socket, which keeps
// sending its first datagram until ours arrive, with no final handshake (the client's reader ends at our
// negative id or at its time).
void udp_settings(Flow& f, net::Datagram& d, const net::Address& from, const uint8_t* b, size_t len) {
    f.header_seen = true;
    const v2::Request r = v2::parse_udp(b, len);
    if (r.back == v2::Back::None) return;
    f.back = from;
    if (r.back != v2::Back::Reverse) f.back.port = r.port;
    f.buf_len = r.buf_len;
    f.amount = r.amount;
    f.rate = r.rate ? r.rate : v2::kDefaultUdpRate;
    if (r.back == v2::Back::Reverse) {
        start_udp_reverse(f, 0, &d);
    } else if (r.back == v2::Back::Dual) {
        start_udp_reverse(f, 0);
    } else {
        f.reverse_pending = true;
    }
}

void udp_in(net::Datagram& d, const net::Address& from, const void* data, size_t len, void*) {
    if (len < kUdpHeader) return;
    const uint8_t* b = static_cast<const uint8_t*>(data);
    const int32_t id = static_cast<int32_t>(be32(b));
    Flow& f = *flow_for(from, id);
    const uint64_t now = time::now_ns();
    if (id >= 0) {
        if (f.finished) return;
        if (!f.header_seen) udp_settings(f, d, from, b, len);
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
        f.jitter.add(static_cast<double>(now) / 1e9 - (be32(b + 4) + be32(b + 8) / 1e6));
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
                  static_cast<long long>(f.out_of_order), static_cast<unsigned>(f.jitter.value * 1e6));
        // -r: the client starts its listener after it has our report; give it a moment.
        if (f.reverse_pending) start_udp_reverse(f, 100'000'000ull);
        f.reverse_pending = false;
    }
    uint8_t reply[kUdpHeader + 40] = {};
    memcpy(reply, b, kUdpHeader);
    uint8_t* h = reply + kUdpHeader;
    put_be32(h, v2::kHeaderVersion1);
    put_be32(h + 4, static_cast<uint32_t>(f.bytes >> 32));
    put_be32(h + 8, static_cast<uint32_t>(f.bytes));
    put_be32(h + 12, static_cast<uint32_t>(ns / 1000000000ull));
    put_be32(h + 16, static_cast<uint32_t>(ns % 1000000000ull / 1000));
    put_be32(h + 20, static_cast<uint32_t>(f.lost));
    put_be32(h + 24, static_cast<uint32_t>(f.out_of_order));
    put_be32(h + 28, static_cast<uint32_t>(f.max_id));
    put_be32(h + 32, static_cast<uint32_t>(f.jitter.value));
    put_be32(h + 36, static_cast<uint32_t>((f.jitter.value - static_cast<uint32_t>(f.jitter.value)) * 1e6));
    d.send_to(from, reply, sizeof reply);
}

// ---- UDP back to the client (-u -r, -u -d) ---------------------------------------------------------------------
// The server acts as iperf2's UDP client towards the client's listener, from a port of its own: datagrams of
// the client's buffer length at its rate, each starting with the sequence header (64-bit id split into id and
// id2, send time), for the client's amount; then the final datagram (negative id), repeated every 10 ms with the
// next negative id until the listener answers with its report (as iperf2's client: for at most 2 s).
constexpr uint64_t kUdpTxTickNs = 1'000'000ull;
constexpr uint64_t kUdpFinRetryNs = 10'000'000ull;
constexpr int kUdpFinTries = 200;
constexpr int kUdpTxBurst = 64;
// UDP needs no handshake, so a forged datagram could aim the server at anyone: bound how many send-backs run at
// once and for how long each may run (iperf's default is 10 s).
constexpr int kMaxUdpTx = 4;
constexpr int64_t kMaxUdpTxHundredths = 3600 * 100;
int udp_tx_active;
alignas(64) uint8_t udp_tx_buf[65507];

struct UdpTx {
    net::Datagram* d = nullptr;
    net::Address to;
    size_t len = 1470;
    uint64_t rate = 0;   // bits/s
    uint64_t limit = 0;  // bytes; 0: until end_ns
    uint64_t start_ns = 0, end_ns = 0;
    uint64_t bytes = 0;
    int64_t next_id = 1;
    int fins = 0;
    bool shared = false;  // sends from the server's port (-R): no final handshake, the socket is not ours
    bool finishing = false, done = false;
    loop::Timer timer;
};

// The send time is wall-clock time: iperf2's receiver starts its jitter from the first datagram's transit time
// (arrival minus send time), so a send time far from its own clock shows as seconds of jitter.
void udp_tx_put(int64_t id) {
    const uint64_t now = time::now_ns();
    put_be32(udp_tx_buf, static_cast<uint32_t>(static_cast<uint64_t>(id)));
    put_be32(udp_tx_buf + 4, static_cast<uint32_t>(now / 1000000000ull + static_cast<uint64_t>(time::epoch_offset())));
    put_be32(udp_tx_buf + 8, static_cast<uint32_t>(now % 1000000000ull / 1000));
    put_be32(udp_tx_buf + 12, static_cast<uint32_t>(static_cast<uint64_t>(id) >> 32));
}

void udp_tx_release(void* ctx) {
    UdpTx* t = static_cast<UdpTx*>(ctx);
    loop::cancel(t->timer);
    if (t->d && !t->shared) t->d->close();
    delete t;
    --udp_tx_active;
}

void udp_tx_done(UdpTx* t, const char* why) {
    if (t->done) return;
    t->done = true;
    if (why) {
        char peer[net::kAddressTextMax];
        t->to.format(peer, sizeof peer);
        log::info("iperf: UDP to %s: %s", peer, why);
    }
    loop::arm_in(t->timer, 0, udp_tx_release, t);  // not from inside the socket's own callback
}

void udp_tx_tick(void* ctx) {
    UdpTx* t = static_cast<UdpTx*>(ctx);
    if (t->done) return;
    if (t->finishing) {
        if (++t->fins > kUdpFinTries) {
            udp_tx_done(t, "no report from the client's listener");
            return;
        }
        udp_tx_put(-t->next_id++);
        t->d->send_to(t->to, udp_tx_buf, t->len);
        loop::arm_in(t->timer, kUdpFinRetryNs, udp_tx_tick, t);
        return;
    }
    const uint64_t now = time::now_ns();
    const bool over = (t->limit && t->bytes >= t->limit) || now >= t->end_ns;
    if (over) {
        char peer[net::kAddressTextMax];
        t->to.format(peer, sizeof peer, false);
        log_summary("iperf", "UDP send to", peer, t->bytes, now - t->start_ns, 1);
        t->finishing = true;
        udp_tx_put(-t->next_id);
        t->d->send_to(t->to, udp_tx_buf, t->len);
        if (t->shared) {
            udp_tx_done(t, nullptr);
            return;
        }
        loop::arm_in(t->timer, kUdpFinRetryNs, udp_tx_tick, t);
        return;
    }
    const double allowed = static_cast<double>(t->rate) * static_cast<double>(now - t->start_ns) / 8e9;
    for (int i = 0; i < kUdpTxBurst && static_cast<double>(t->bytes) < allowed; ++i) {
        udp_tx_put(t->next_id);
        if (t->d->send_to(t->to, udp_tx_buf, t->len) != Error::None) break;  // no buffers: next tick
        ++t->next_id;
        t->bytes += t->len;
    }
    loop::arm_in(t->timer, kUdpTxTickNs, udp_tx_tick, t);
}

// The listener's answer to the final datagram: the sequence header, then iperf2's server report.
void udp_tx_in(net::Datagram&, const net::Address& from, const void* data, size_t len, void* ctx) {
    UdpTx* t = static_cast<UdpTx*>(ctx);
    if (t->done || !t->finishing || !(from == t->to) || len < kUdpHeader + 40) return;
    const uint8_t* h = static_cast<const uint8_t*>(data) + kUdpHeader;
    const uint64_t bytes = (uint64_t{be32(h + 4)} << 32) | be32(h + 8);
    char peer[net::kAddressTextMax];
    from.format(peer, sizeof peer, false);
    log::info("iperf: UDP report from %s: %llu bytes received in %u.%03u s, %d/%d datagrams lost, jitter %u us", peer,
              static_cast<unsigned long long>(bytes), be32(h + 12), be32(h + 16) / 1000,
              static_cast<int32_t>(be32(h + 20)), static_cast<int32_t>(be32(h + 28)),
              be32(h + 32) * 1000000u + be32(h + 36));
    udp_tx_done(t, nullptr);
}

void udp_tx_begin(void* ctx) {
    UdpTx* t = static_cast<UdpTx*>(ctx);
    t->start_ns = time::now_ns();
    t->end_ns = t->start_ns + t->end_ns;  // end_ns held the duration until now
    udp_tx_tick(t);
}

void start_udp_reverse(const Flow& f, uint64_t delay_ns, net::Datagram* via) {
    char peer[net::kAddressTextMax];
    f.back.format(peer, sizeof peer);
    if (udp_tx_active >= kMaxUdpTx) {
        log::warn("iperf: not sending UDP back to %s: %d such tests already run", peer, kMaxUdpTx);
        return;
    }
    UdpTx* t = new UdpTx;
    Error e = Error::None;
    t->shared = via != nullptr;
    t->d = via ? via : net::Datagram::open(net::Address::any(0), udp_tx_in, t, &e);
    if (!t->d) {
        log::warn("iperf: cannot open a UDP socket to send back to %s: %s", peer, net::error_text(e));
        delete t;
        return;
    }
    ++udp_tx_active;
    t->to = f.back;
    const uint32_t want = f.buf_len ? f.buf_len : v2::kDefaultUdpLen;  // 0: the client's default
    constexpr size_t kMinLen = v2::kUdpSeqHeader + v2::kHdrV1;
    t->len = want < kMinLen ? kMinLen : want > sizeof udp_tx_buf ? sizeof udp_tx_buf : want;
    memset(udp_tx_buf, 0, t->len);
    t->rate = f.rate;
    const v2::SendPlan plan = v2::send_plan(f.amount, kMaxUdpTxHundredths);
    t->limit = plan.limit_bytes;
    t->end_ns = plan.duration_ns;  // a duration until udp_tx_begin
    log::info("iperf: sending UDP back to %s (%s test), %llu bit/s, %u-byte datagrams", peer, via ? "-R" : "-r/-d",
              static_cast<unsigned long long>(t->rate), static_cast<unsigned>(t->len));
    loop::arm_in(t->timer, delay_ns, udp_tx_begin, t);
}

// ---- TCP ----------------------------------------------------------------------------------------------------
// The stream starts with the 2.x header (big endian): client_hdr_v1 (flags, threads, port, buffer length,
// window or rate, amount: bytes, or when negative hundredths of a second), then from 2.0.13 on (HEADER_EXTEND)
// client_hdrext (type, length, 16-bit upper and lower flags, version, ...). The rest is test data.
// - HEADER_VERSION1 without HEADER_VERSION2 (-r/-d): the server connects to the client's address at `port` and
//   sends for `amount`, at once with RUN_NOW (-d, dual test), after the client's stream ended otherwise (-r).
// - HEADER_VERSION2 with upper flag REVERSE (2.1 -R): the server sends on this same connection for `amount`
//   and the client only reads; FULLDUPLEX (--full-duplex): both send on it. When its time is up the server
//   half-closes (the client's reader ends at that FIN) and closes once the client's side has ended too.
constexpr size_t kTcpHeaderMax = v2::kHdrV1 + v2::kHdrExtUpper;
constexpr int64_t kMaxTcpSendHundredths = INT32_MAX;  // TCP needs no cap: a reader that stops is idle-aborted

alignas(64) uint8_t zeros[32 * 1024];

struct Rx {
    uint8_t hdr[kTcpHeaderMax];
    size_t have = 0, need = 4;  // header bytes collected / wanted (known once the flags are in)
    bool reverse_pending = false;
    net::Address back;
    int32_t amount = 0;
    Stream* s = nullptr;
    uint64_t seen_bytes = 0, seen_ns = 0;  // for the idle check
    // -R / --full-duplex: the server sends on this connection
    bool sends = false, full_duplex = false, send_done = false, rx_done = false;
    uint64_t send_limit = 0;  // bytes; 0: until send_timer
    uint64_t send_start_ns = 0;
    loop::Timer send_timer;
    Rx* prev = nullptr;
    Rx* next = nullptr;
};

// A client that vanishes without closing: its stream is aborted after kIdleNs without a byte either way.
constexpr uint64_t kIdleNs = 30'000'000'000ull;
Rx* rx_list;
loop::Timer idle_timer;

void rx_unlink(Rx* r) {
    loop::cancel(r->send_timer);
    if (r->prev) r->prev->next = r->next;
    else rx_list = r->next;
    if (r->next) r->next->prev = r->prev;
    delete r;
}

void idle_check(void*) {
    const uint64_t now = time::now_ns();
    for (Rx* r = rx_list; r;) {
        Rx* next = r->next;
        const uint64_t moved = r->s->bytes_received() + r->s->bytes_sent();
        if (moved != r->seen_bytes) {
            r->seen_bytes = moved;
            r->seen_ns = now;
        } else if (now - r->seen_ns > kIdleNs) {
            char peer[net::kAddressTextMax];
            r->s->remote().format(peer, sizeof peer, false);
            log::info("iperf: stream with %s silent for 30 s after %llu bytes; aborted", peer,
                      static_cast<unsigned long long>(r->seen_bytes));
            r->s->set_handlers(net::StreamHandlers{}, nullptr);
            r->s->abort();
            rx_unlink(r);
        }
        r = next;
    }
    if (rx_list) loop::arm_in(idle_timer, 1'000'000'000ull, idle_check, nullptr);
}

struct Tx {  // the server's own stream of a -r/-d test
    Stream* s = nullptr;
    loop::Timer timer;
    uint64_t limit = 0;  // bytes; 0: until the timer
    int32_t amount = 0;
    bool done = false;
    bool connected = false;
    net::Address to;
    int attempt = 0;
};

// The client opens its listener for the reverse stream around the time it sends its header, so the first
// connect back can be refused: try again a few times before giving up.
constexpr int kConnectBackAttempts = 20;
constexpr uint64_t kConnectBackRetryNs = 100'000'000ull;
struct Retry {
    loop::Timer timer;
    net::Address to;
    int32_t amount;
    int attempt;
};
void start_reverse(const net::Address& to, int32_t amount, int attempt = 0);
void retry_reverse(void* ctx) {
    Retry* r = static_cast<Retry*>(ctx);
    start_reverse(r->to, r->amount, r->attempt);
    delete r;
}

void tx_log(Stream& s, Error why) {
    char peer[net::kAddressTextMax];
    s.remote().format(peer, sizeof peer, false);
    if (why == Error::None) {
        log_summary("iperf", "TCP send to", peer, s.bytes_sent(), time::now_ns() - s.opened_ns(), 1);
    } else {
        log::info("iperf: stream to %s ended (%s) after %llu bytes", peer, net::error_text(why),
                  static_cast<unsigned long long>(s.bytes_sent()));
    }
}

void tx_finish(Tx* t) {
    if (t->done) return;
    t->done = true;
    loop::cancel(t->timer);
    Stream& s = *t->s;
    tx_log(s, Error::None);
    s.set_handlers(net::StreamHandlers{}, nullptr);
    const void* p;
    size_t n;
    while ((n = s.peek(&p)) != 0) s.consume(n);
    s.close();  // what was written is still delivered, then FIN
    delete t;
}

void tx_timeout(void* ctx) { tx_finish(static_cast<Tx*>(ctx)); }

void tx_pump(Stream& s, void* ctx) {
    Tx* t = static_cast<Tx*>(ctx);
    const void* p;
    size_t n;
    while ((n = s.peek(&p)) != 0) s.consume(n);
    for (;;) {
        size_t len = sizeof zeros;
        if (t->limit && s.bytes_sent() + len > t->limit) len = static_cast<size_t>(t->limit - s.bytes_sent());
        if (len == 0) {
            tx_finish(t);
            return;
        }
        const size_t w = s.write(zeros, len);
        if (w < len) return;  // `writable` resumes
    }
}

void tx_connected(Stream& s, void* ctx) {
    Tx* t = static_cast<Tx*>(ctx);
    t->connected = true;
    if (t->amount < 0)
        loop::arm_in(t->timer, static_cast<uint64_t>(-static_cast<int64_t>(t->amount)) * 10'000'000ull, tx_timeout, t);
    tx_pump(s, ctx);
}

void tx_closed(Stream& s, Error why, void* ctx) {
    Tx* t = static_cast<Tx*>(ctx);
    loop::cancel(t->timer);
    if (why == Error::Refused && !t->connected && t->attempt + 1 < kConnectBackAttempts) {
        Retry* r = new Retry{{}, t->to, t->amount, t->attempt + 1};
        loop::arm_in(r->timer, kConnectBackRetryNs, retry_reverse, r);
        delete t;
        return;
    }
    if (!t->done) tx_log(s, why == Error::None ? Error::Reset : why);
    delete t;
}

void start_reverse(const net::Address& to, int32_t amount, int attempt) {
    Tx* t = new Tx;
    t->to = to;
    t->attempt = attempt;
    t->amount = amount;
    t->limit = amount > 0 ? static_cast<uint64_t>(amount) : 0;
    if (amount == 0) t->amount = -1000;  // no amount: 10 s, iperf's default
    net::StreamHandlers h;
    h.connected = tx_connected;
    h.readable = tx_pump;
    h.writable = tx_pump;
    h.closed = tx_closed;
    Error e = Error::None;
    char peer[net::kAddressTextMax];
    to.format(peer, sizeof peer);
    t->s = Stream::connect(to, h, t, &e);
    if (!t->s) {
        log::warn("iperf: cannot connect back to %s: %s", peer, net::error_text(e));
        delete t;
        return;
    }
    if (attempt == 0) log::info("iperf: connecting back to %s (-r/-d test)", peer);
}

void rx_end(Stream& s, Error why) {
    char peer[net::kAddressTextMax];
    s.remote().format(peer, sizeof peer, false);
    const uint64_t ns = time::now_ns() - s.opened_ns();
    if (why == Error::None) {
        log_summary("iperf", "TCP receive from", peer, s.bytes_received(), ns, 1);
    } else {
        log::info("iperf: stream from %s ended (%s) after %llu bytes received, %llu sent", peer, net::error_text(why),
                  static_cast<unsigned long long>(s.bytes_received()), static_cast<unsigned long long>(s.bytes_sent()));
    }
}

// Both directions over (the client's FIN seen; our sending, if any, finished): release the stream.
void rx_finish(Rx* r) {
    Stream& s = *r->s;
    s.set_handlers(net::StreamHandlers{}, nullptr);
    const void* p;
    size_t n;
    while ((n = s.peek(&p)) != 0) s.consume(n);
    s.close();
    if (r->reverse_pending) start_reverse(r->back, r->amount);
    rx_unlink(r);
}

void rx_send_end(Rx* r) {
    if (r->send_done) return;
    r->send_done = true;
    loop::cancel(r->send_timer);
    Stream& s = *r->s;
    char peer[net::kAddressTextMax];
    s.remote().format(peer, sizeof peer, false);
    log_summary("iperf", r->full_duplex ? "TCP send (full duplex) to" : "TCP send (reverse) to", peer, s.bytes_sent(),
                time::now_ns() - r->send_start_ns, 1);
    s.shutdown_write();  // the client's reader ends at this FIN
    if (r->rx_done) rx_finish(r);
}

void rx_send_timeout(void* ctx) { rx_send_end(static_cast<Rx*>(ctx)); }

void rx_pump(Rx* r) {
    if (!r->sends || r->send_done) return;
    Stream& s = *r->s;
    for (;;) {
        size_t len = sizeof zeros;
        if (r->send_limit) {
            const uint64_t left = r->send_limit > s.bytes_sent() ? r->send_limit - s.bytes_sent() : 0;
            if (left == 0) {
                rx_send_end(r);
                return;
            }
            if (left < len) len = static_cast<size_t>(left);
        }
        const size_t w = s.write(zeros, len);
        if (w < len) return;  // `writable` resumes
    }
}

void rx_start_sending(Rx* r, bool full_duplex) {
    r->sends = true;
    r->full_duplex = full_duplex;
    r->send_start_ns = time::now_ns();
    const v2::SendPlan plan = v2::send_plan(r->amount, kMaxTcpSendHundredths);
    r->send_limit = plan.limit_bytes;
    if (!plan.limit_bytes) loop::arm_in(r->send_timer, plan.duration_ns, rx_send_timeout, r);
    char peer[net::kAddressTextMax];
    r->s->remote().format(peer, sizeof peer, false);
    log::info("iperf: %s test from %s: the server sends on the client's connection",
              full_duplex ? "full-duplex" : "reverse (-R)", peer);
}

// The header is complete (or there is none): act on its request.
void rx_header(Rx* r, Stream& s) {
    const v2::Request q = v2::parse_tcp(r->hdr, r->have);
    r->amount = q.amount;
    switch (q.back) {
    case v2::Back::None: break;
    case v2::Back::TradeOff:
    case v2::Back::Dual:
        r->back = s.remote();
        r->back.port = q.port;
        if (q.back == v2::Back::Dual) {
            start_reverse(r->back, r->amount);
        } else {
            r->reverse_pending = true;
        }
        break;
    case v2::Back::Reverse:
    case v2::Back::FullDuplex: rx_start_sending(r, q.back == v2::Back::FullDuplex); break;
    }
}

void rx_readable(Stream& s, void* ctx) {
    Rx* r = static_cast<Rx*>(ctx);
    const void* p;
    size_t n;
    while ((n = s.peek(&p)) != 0) {
        size_t off = 0;
        while (r->have < r->need && off < n) {
            r->hdr[r->have++] = static_cast<const uint8_t*>(p)[off++];
            if (r->have == 4) r->need = v2::tcp_header_size(be32(r->hdr));
            if (r->have == r->need) rx_header(r, s);
        }
        s.consume(n);
    }
    if (s.at_eof() && !r->rx_done) {
        r->rx_done = true;
        rx_end(s, Error::None);
        if (!r->sends || r->send_done) {
            rx_finish(r);
            return;
        }
    }
    rx_pump(r);
}

void rx_writable(Stream&, void* ctx) { rx_pump(static_cast<Rx*>(ctx)); }

void rx_closed(Stream& s, Error why, void* ctx) {
    Rx* r = static_cast<Rx*>(ctx);
    if (!r->rx_done || (r->sends && !r->send_done)) rx_end(s, why == Error::None ? Error::Reset : why);
    rx_unlink(r);
}

void accepted(net::Listener&, Stream& s, void*) {
    Rx* r = new Rx;
    r->s = &s;
    r->seen_ns = time::now_ns();
    r->next = rx_list;
    if (rx_list) rx_list->prev = r;
    rx_list = r;
    if (!r->next) loop::arm_in(idle_timer, 1'000'000'000ull, idle_check, nullptr);
    net::StreamHandlers h;
    h.readable = rx_readable;
    h.writable = rx_writable;
    h.closed = rx_closed;
    s.set_handlers(h, r);
    rx_readable(s, r);
}

}  // namespace

bool start_v2(uint16_t port) { return open_ports("iperf", port, accepted, udp_in, &listener2, &udp2); }

}  // namespace iperf
