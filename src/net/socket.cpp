#include "net/socket.hpp"

#include <string.h>

#include "kernel/event_loop.hpp"
#include "kernel/time.hpp"
#include "lwip/altcp.h"
#include "lwip/altcp_tcp.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "net/alloc.hpp"
#include "net/lwip_addr.hpp"
#include "net/lwip_port.hpp"
#include "net/vsock/engine.hpp"

namespace skerry::net {

const char* error_text(Error e) {
    switch (e) {
    case Error::None: return "no error";
    case Error::Reset: return "connection reset by peer";
    case Error::Aborted: return "connection aborted";
    case Error::Refused: return "connection refused";
    case Error::Timeout: return "timed out";
    case Error::Unreachable: return "network unreachable";
    case Error::NoMemory: return "out of memory";
    case Error::InUse: return "address in use";
    case Error::Invalid: return "invalid argument";
    case Error::NotConnected: return "not connected";
    case Error::Unsupported: return "address family not supported";
    }
    return "unknown error";
}

Error error_from_lwip(int err, bool connecting) {
    switch (err) {
    case ERR_OK: return Error::None;
    case ERR_MEM:
    case ERR_BUF: return Error::NoMemory;
    case ERR_TIMEOUT: return Error::Timeout;
    case ERR_RTE:
    case ERR_IF: return Error::Unreachable;
    case ERR_USE: return Error::InUse;
    case ERR_ISCONN:
    case ERR_ALREADY:
    case ERR_VAL:
    case ERR_ARG: return Error::Invalid;
    case ERR_CONN: return Error::NotConnected;
    // In the err callback: lwIP gave up (retransmissions, SYN retries, FIN_WAIT_2/LAST_ACK timers) or,
    // rarely, dropped the connection to make room for a new one.
    case ERR_ABRT: return Error::Timeout;
    case ERR_RST: return connecting ? Error::Refused : Error::Reset;
    case ERR_CLSD: return Error::None;  // both sides closed in order
    default: return Error::Aborted;
    }
}

namespace {
constexpr u8_t kPollInterval = 2;  // lwIP poll callback every 2 x 500 ms
constexpr size_t kWritableLowWater = 16 * 1024;
constexpr size_t kMinWriteChunk = 536;    // smallest piece tried when the stack is short of memory
constexpr uint8_t kMaxCloseRetries = 20;  // then abort (20 s of failing to queue a FIN)
constexpr size_t kMaxDatagram = 65507;
uint8_t datagram_scratch[65536];  // a chained datagram made contiguous (one receive at a time)
}  // namespace

// All lwIP callbacks and the bookkeeping the three classes share.
struct SocketLayer {
    static inline vsock::Engine* vsock_engine = nullptr;
    static inline Stream* dead_streams = nullptr;
    static inline Listener* dead_listeners = nullptr;
    static inline Datagram* dead_datagrams = nullptr;
    static inline loop::Timer reaper;
    static inline Stream* starved = nullptr;
    static inline SocketStats stats{};

    // Depth of lwIP callbacks on one stream: an abort() inside one must make it return ERR_ABRT.
    struct Scope {
        Stream* s;
        explicit Scope(Stream* st) : s(st) { ++s->in_callback_; }
        ~Scope() { --s->in_callback_; }
        err_t result() const { return s->aborted_in_callback_ ? ERR_ABRT : ERR_OK; }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;
    };

    // ---- addresses: Error::None, or why not (Unsupported: vsock, Invalid: anything else wrong)
    // A local address to bind: any port, the unspecified address for all interfaces.
    static Error local_ip(const Address& a, ip_addr_t* ip) {
        if (a.family == Family::Vsock) return Error::Unsupported;
        if (a.port > 0xFFFF || !lwip_addr::to_ip(a, ip)) return Error::Invalid;
        return Error::None;
    }
    // A peer to connect or send to: an address and a port, both given.
    static Error remote_ip(const Address& a, ip_addr_t* ip) {
        if (a.family == Family::Vsock) return Error::Unsupported;
        if (!a.is_inet() || a.is_unspecified() || a.port == 0 || a.port > 0xFFFF || !lwip_addr::to_ip(a, ip))
            return Error::Invalid;
        return Error::None;
    }

    // ---- object lifetime: released objects are freed from a zero-delay loop timer, never synchronously
    static void schedule_reap() {
        if (!reaper.armed()) loop::arm_in(reaper, 0, reap, nullptr);
    }
    template <class T>
    static void free_all(T*& dead, uint64_t& open) {
        while (T* o = dead) {
            dead = o->dead_next_;
            destroy(o);
            --open;
        }
    }
    static void reap(void*) {
        free_all(dead_streams, stats.streams_open);
        free_all(dead_listeners, stats.listeners_open);
        free_all(dead_datagrams, stats.datagrams_open);
    }
    template <class T>
    static void bury(T* o, T*& dead) {
        o->dead_next_ = dead;
        dead = o;
        schedule_reap();
    }
    // The application is done with s (close/abort/`closed` returned). Freed once lwIP is done with it too.
    static void release(Stream* s) {
        if (s->released_) return;
        s->released_ = true;
        unstarve(s);
        rx_free(s);
        if (!s->pcb_) bury(s, dead_streams);
    }

    // ---- the pcb's callbacks
    static void attach(Stream* s, altcp_pcb* pcb) {
        s->pcb_ = pcb;
        altcp_arg(pcb, s);
        altcp_recv(pcb, on_recv);
        altcp_sent(pcb, on_sent);
        altcp_err(pcb, on_err);
        altcp_poll(pcb, on_poll, kPollInterval);
    }
    static void detach(altcp_pcb* pcb) {
        altcp_arg(pcb, nullptr);
        altcp_recv(pcb, nullptr);
        altcp_sent(pcb, nullptr);
        altcp_err(pcb, nullptr);
        altcp_poll(pcb, nullptr, kPollInterval);
    }

    static void fill_addresses(Stream* s) {
        ip_addr_t ip;
        u16_t port;
        if (altcp_get_tcp_addrinfo(s->pcb_, 1, &ip, &port) == ERR_OK) s->local_ = lwip_addr::from_ip(&ip, port);
        if (altcp_get_tcp_addrinfo(s->pcb_, 0, &ip, &port) == ERR_OK) s->remote_ = lwip_addr::from_ip(&ip, port);
    }

    // ---- receive queue
    static void rx_append(Stream* s, pbuf* p) {
        size_t n = 0;
        pbuf* last = p;
        for (pbuf* q = p; q; q = q->next) {
            n += q->len;
            last = q;
        }
        if (s->rx_tail_) {
            s->rx_tail_->next = p;
        } else {
            s->rx_ = p;
        }
        s->rx_tail_ = last;
        s->rx_avail_ += n;
        s->bytes_in_ += n;
    }
    static pbuf* rx_pop(Stream* s) {
        pbuf* p = s->rx_;
        s->rx_ = p->next;
        if (!s->rx_) s->rx_tail_ = nullptr;
        p->next = nullptr;  // the link's reference is now ours
        return p;
    }
    static void rx_free(Stream* s) {
        while (s->rx_) pbuf_free(rx_pop(s));
        s->rx_avail_ = 0;
    }

    // ---- streams waiting for the stack's memory (their own send buffer had room)
    static void starve(Stream* s) {
        if (s->starved_) return;
        s->starved_ = true;
        s->starved_prev_ = nullptr;
        s->starved_next_ = starved;
        if (starved) starved->starved_prev_ = s;
        starved = s;
    }
    static void unstarve(Stream* s) {
        if (!s->starved_) return;
        if (s->starved_prev_) {
            s->starved_prev_->starved_next_ = s->starved_next_;
        } else {
            starved = s->starved_next_;
        }
        if (s->starved_next_) s->starved_next_->starved_prev_ = s->starved_prev_;
        s->starved_ = false;
        s->starved_prev_ = s->starved_next_ = nullptr;
    }
    // Memory came back (some stream's data were acknowledged): each waiting stream gets one try. Objects
    // are never freed synchronously, so callbacks may close or abort any stream meanwhile.
    static void wake_starved() {
        size_t n = 0;
        for (Stream* s = starved; s; s = s->starved_next_) ++n;
        while (n-- && starved) {
            Stream* s = starved;
            unstarve(s);
            notify_writable(s);
        }
    }
    static void notify_writable(Stream* s) {
        if (s->released_ || !s->want_writable_ || !s->pcb_) return;
        s->want_writable_ = false;
        ++stats.starved_wakeups;
        if (s->h_.writable) s->h_.writable(*s, s->ctx_);
    }

    // Both directions are finished (peer's FIN, our FIN queued): lwIP completes the rest on its own, and would
    // free the pcb from TIME_WAIT without telling anyone, so let go of it now.
    static void maybe_finish(Stream* s) {
        if (!s->pcb_ || s->released_ || !s->fin_ || !s->write_shut_) return;
        altcp_pcb* pcb = s->pcb_;
        detach(pcb);
        if (altcp_close(pcb) != ERR_OK) {  // cannot fail in FIN_WAIT/CLOSING/LAST_ACK/TIME_WAIT; be safe
            attach(s, pcb);
            return;
        }
        s->pcb_ = nullptr;
        s->state_ = Stream::State::Closed;
        unstarve(s);
    }

    // The pcb is gone (lwIP freed it): tell the application, then release.
    static void terminate(Stream* s, Error why) {
        s->pcb_ = nullptr;
        s->state_ = Stream::State::Closed;
        s->error_ = why;
        unstarve(s);
        if (!s->released_) {
            if (s->h_.closed) s->h_.closed(*s, why, s->ctx_);
            release(s);  // no-op if the handler closed it
        }
    }

    static err_t on_recv(void* arg, altcp_pcb* pcb, pbuf* p, err_t err) {
        Stream* s = static_cast<Stream*>(arg);
        if (!s || s->released_) {  // a close is pending: drop what still arrives
            if (p) {
                size_t n = 0;
                for (pbuf* q = p; q; q = q->next) n += q->len;
                while (n) {
                    const u16_t chunk = n > 0xFFFF ? 0xFFFF : static_cast<u16_t>(n);
                    altcp_recved(pcb, chunk);
                    n -= chunk;
                }
                pbuf_free(p);
            }
            return ERR_OK;
        }
        (void)err;
        if (p) {
            rx_append(s, p);
        } else {
            s->fin_ = true;
        }
        Scope scope(s);
        if (s->h_.readable) s->h_.readable(*s, s->ctx_);
        if (!p) maybe_finish(s);
        return scope.result();
    }

    static err_t on_sent(void* arg, altcp_pcb*, u16_t len) {
        Stream* s = static_cast<Stream*>(arg);
        if (!s) return ERR_OK;
        s->unacked_ = s->unacked_ > len ? s->unacked_ - len : 0;
        Scope scope(s);
        if (!s->released_ && s->want_writable_ && s->pcb_ &&
            (s->unacked_ == 0 || altcp_sndbuf(s->pcb_) >= kWritableLowWater)) {
            s->want_writable_ = false;
            unstarve(s);
            if (s->h_.writable) s->h_.writable(*s, s->ctx_);
        }
        if (starved) wake_starved();
        return scope.result();
    }

    static err_t on_poll(void* arg, altcp_pcb* pcb) {
        Stream* s = static_cast<Stream*>(arg);
        if (!s) return ERR_OK;
        if (s->close_pending_) {
            if (altcp_close(pcb) == ERR_OK) {
                s->pcb_ = nullptr;
                s->close_pending_ = false;
                bury(s, dead_streams);
                return ERR_OK;
            }
            if (++s->close_retries_ >= kMaxCloseRetries) {
                detach(pcb);
                s->pcb_ = nullptr;
                s->close_pending_ = false;
                altcp_abort(pcb);
                bury(s, dead_streams);
                return ERR_ABRT;
            }
            return ERR_OK;
        }
        Scope scope(s);
        // A short write that no acknowledgement will resolve (the stack, not this stream, ran out of memory).
        if (!s->released_ && s->want_writable_ && s->pcb_ && altcp_sndbuf(s->pcb_) > 0) {
            unstarve(s);
            notify_writable(s);
        }
        return scope.result();
    }

    static void on_err(void* arg, err_t err) {
        Stream* s = static_cast<Stream*>(arg);
        if (!s) return;
        // lwIP has freed the pcb (and altcp frees its wrapper when this returns).
        if (s->close_pending_) {
            s->pcb_ = nullptr;
            s->close_pending_ = false;
            bury(s, dead_streams);
            return;
        }
        terminate(s, error_from_lwip(err, s->state_ == Stream::State::Connecting));
    }

    static err_t on_connected(void* arg, altcp_pcb*, err_t) {
        Stream* s = static_cast<Stream*>(arg);
        if (!s) return ERR_OK;
        s->state_ = Stream::State::Open;
        s->opened_ns_ = time::now_ns();
        fill_addresses(s);
        Scope scope(s);
        if (!s->released_ && s->h_.connected) s->h_.connected(*s, s->ctx_);
        return scope.result();
    }

    static err_t on_accept(void* arg, altcp_pcb* pcb, err_t err) {
        Listener* l = static_cast<Listener*>(arg);
        if (!pcb || err != ERR_OK) return ERR_VAL;
        if (!l || l->released_) return ERR_VAL;  // lwIP aborts the new connection
        Stream* s = create<Stream>();
        if (!s) {
            ++l->refused_;
            return ERR_MEM;
        }
        ++stats.streams_open;
        ++stats.streams_total;
        attach(s, pcb);
        s->state_ = Stream::State::Open;
        s->opened_ns_ = time::now_ns();
        fill_addresses(s);
        ++l->accepted_;
        Scope scope(s);
        if (l->fn_) {
            l->fn_(*l, *s, l->ctx_);
        } else {
            s->close();
        }
        return scope.result();
    }

    // ---- vsock streams: the engine's connection callbacks, mapped onto the stream's handlers
    static void vs_fill(Stream* s, const vsock::Conn& c) {
        s->local_ = Address::vsock(static_cast<uint32_t>(vsock_engine ? vsock_local_cid() : 0), c.local_port());
        s->remote_ = Address::vsock(static_cast<uint32_t>(c.peer_cid()), c.peer_port());
    }
    static void vs_connected(vsock::Conn&, void* ctx) {
        Stream* s = static_cast<Stream*>(ctx);
        s->state_ = Stream::State::Open;
        s->opened_ns_ = time::now_ns();
        if (!s->released_ && s->h_.connected) s->h_.connected(*s, s->ctx_);
    }
    static void vs_readable(vsock::Conn& c, void* ctx) {
        Stream* s = static_cast<Stream*>(ctx);
        s->bytes_in_ = c.bytes_received();
        if (!s->released_ && s->h_.readable) s->h_.readable(*s, s->ctx_);
    }
    static void vs_writable(vsock::Conn&, void* ctx) {
        Stream* s = static_cast<Stream*>(ctx);
        if (!s->released_ && s->h_.writable) s->h_.writable(*s, s->ctx_);
    }
    static void vs_closed(vsock::Conn& c, Error why, void* ctx) {
        Stream* s = static_cast<Stream*>(ctx);
        s->bytes_in_ = c.bytes_received();
        s->vc_ = nullptr;  // the engine frees it once this returns
        s->state_ = Stream::State::Closed;
        s->error_ = why;
        if (!s->released_) {
            if (s->h_.closed) s->h_.closed(*s, why, s->ctx_);
            release(s);
        }
    }
    static constexpr vsock::ConnHandlers kVsockHandlers{vs_connected, vs_readable, vs_writable, vs_closed};
    static void vs_accept(vsock::Engine&, vsock::Conn& c, void* ctx) {
        Listener* l = static_cast<Listener*>(ctx);
        if (!l || l->released_) {
            c.abort();
            return;
        }
        Stream* s = create<Stream>();
        if (!s) {
            ++l->refused_;
            c.abort();
            return;
        }
        ++stats.streams_open;
        ++stats.streams_total;
        s->vsock_ = true;
        s->vc_ = &c;
        c.set_handlers(kVsockHandlers, s);
        s->state_ = Stream::State::Open;
        s->opened_ns_ = time::now_ns();
        vs_fill(s, c);
        ++l->accepted_;
        if (l->fn_) {
            l->fn_(*l, *s, l->ctx_);
        } else {
            s->close();
        }
    }

    static void on_udp(void* arg, udp_pcb*, pbuf* p, const ip_addr_t* addr, u16_t port) {
        Datagram* d = static_cast<Datagram*>(arg);
        if (!d || d->released_ || !p) {
            if (p) pbuf_free(p);
            return;
        }
        const void* data = p->payload;
        const size_t len = p->tot_len;  // a datagram is at most 64 KiB
        if (p->len != p->tot_len) {
            pbuf_copy_partial(p, datagram_scratch, p->tot_len, 0);
            data = datagram_scratch;
        }
        ++d->rx_datagrams_;
        d->rx_bytes_ += len;
        const Address from = lwip_addr::from_ip(addr, port);
        if (d->fn_) d->fn_(*d, from, data, len, d->ctx_);
        pbuf_free(p);
    }
};

// ---- Stream

Stream::~Stream() { SocketLayer::rx_free(this); }

Stream* Stream::connect(const Address& remote, const StreamHandlers& handlers, void* ctx, Error* error) {
    Error dummy;
    Error& e = error ? *error : dummy;
    if (remote.family == Family::Vsock) {
        if (!SocketLayer::vsock_engine) {
            e = Error::Unsupported;
            return nullptr;
        }
        Stream* s = create<Stream>();
        if (!s) {
            e = Error::NoMemory;
            return nullptr;
        }
        s->vsock_ = true;
        s->h_ = handlers;
        s->ctx_ = ctx;
        vsock::Conn* c = SocketLayer::vsock_engine->connect(remote.cid, remote.port, SocketLayer::kVsockHandlers, s,
                                                            &e);
        if (!c) {
            destroy(s);
            return nullptr;
        }
        s->vc_ = c;
        SocketLayer::vs_fill(s, *c);
        ++SocketLayer::stats.streams_open;
        ++SocketLayer::stats.streams_total;
        e = Error::None;
        return s;
    }
    ip_addr_t ip;
    e = SocketLayer::remote_ip(remote, &ip);
    if (e != Error::None) return nullptr;
    port::init();
    altcp_pcb* pcb = altcp_tcp_new_ip_type(static_cast<u8_t>(IP_GET_TYPE(&ip)));
    if (!pcb) {
        e = Error::NoMemory;
        return nullptr;
    }
    Stream* s = create<Stream>();
    if (!s) {
        altcp_close(pcb);
        e = Error::NoMemory;
        return nullptr;
    }
    SocketLayer::attach(s, pcb);
    s->h_ = handlers;
    s->ctx_ = ctx;
    s->remote_ = remote;
    const err_t r = altcp_connect(pcb, &ip, static_cast<u16_t>(remote.port), SocketLayer::on_connected);
    if (r != ERR_OK) {
        SocketLayer::detach(pcb);
        altcp_close(pcb);  // never connected: freed at once
        s->pcb_ = nullptr;
        destroy(s);
        e = error_from_lwip(r, true);
        return nullptr;
    }
    SocketLayer::fill_addresses(s);
    ++SocketLayer::stats.streams_open;
    ++SocketLayer::stats.streams_total;
    port::reschedule();
    e = Error::None;
    return s;
}

void Stream::set_handlers(const StreamHandlers& handlers, void* ctx) {
    h_ = handlers;
    ctx_ = ctx;
}

size_t Stream::available() const {
    if (vsock_) return vc_ ? vc_->available() : 0;
    return rx_avail_;
}

bool Stream::peer_closed() const {
    if (vsock_) return vc_ ? vc_->peer_closed() : state_ == State::Closed;
    return fin_;
}

uint64_t Stream::bytes_received() const {
    if (vc_) return vc_->bytes_received();
    return bytes_in_;
}

size_t Stream::peek(const void** data) const {
    if (vsock_) {
        if (vc_) return vc_->peek(data);
        *data = nullptr;
        return 0;
    }
    for (pbuf* q = rx_; q; q = q->next) {
        if (q->len) {
            *data = q->payload;
            return q->len;
        }
    }
    *data = nullptr;
    return 0;
}

void Stream::consume(size_t n) {
    if (vsock_) {
        if (vc_) vc_->consume(n);
        return;
    }
    if (n > rx_avail_) n = rx_avail_;
    size_t left = n;
    while (left && rx_) {
        if (rx_->len <= left) {
            left -= rx_->len;
            pbuf_free(SocketLayer::rx_pop(this));
        } else {
            pbuf_remove_header(rx_, left);
            left = 0;
        }
    }
    // Zero-length pieces left at the front are dropped too.
    while (rx_ && rx_->len == 0) pbuf_free(SocketLayer::rx_pop(this));
    rx_avail_ -= n;
    if (pcb_ && !released_) {
        size_t open = n;
        while (open) {
            const u16_t chunk = open > 0xFFFF ? 0xFFFF : static_cast<u16_t>(open);
            altcp_recved(pcb_, chunk);  // may send a window update
            open -= chunk;
        }
    }
}

size_t Stream::read(void* buf, size_t len) {
    if (vsock_) return vc_ ? vc_->read(buf, len) : 0;
    uint8_t* out = static_cast<uint8_t*>(buf);
    size_t done = 0;
    for (pbuf* q = rx_; q && done < len; q = q->next) {
        const size_t n = q->len < len - done ? q->len : len - done;
        memcpy(out + done, q->payload, n);
        done += n;
    }
    consume(done);
    return done;
}

size_t Stream::write(const void* data, size_t len) {
    if (vsock_) {
        if (!vc_ || released_ || state_ != State::Open || len == 0) return 0;
        const size_t n = vc_->write(data, len);  // short: the engine calls `writable` once there is room
        bytes_out_ += n;
        return n;
    }
    if (!pcb_ || released_ || state_ != State::Open || write_shut_ || len == 0) return 0;
    const uint8_t* p = static_cast<const uint8_t*>(data);
    size_t done = 0;
    bool short_of_memory = false;
    while (done < len) {
        const size_t room = altcp_sndbuf(pcb_);  // at most 64 KiB at a time
        if (room == 0) break;
        size_t chunk = len - done < room ? len - done : room;
        err_t e;
        for (;;) {
            const u8_t flags = TCP_WRITE_FLAG_COPY | (done + chunk < len ? TCP_WRITE_FLAG_MORE : 0);
            e = altcp_write(pcb_, p + done, static_cast<u16_t>(chunk), flags);
            if (e != ERR_MEM || chunk <= kMinWriteChunk) break;
            chunk /= 2;  // the segment queue or the stack's heap is short: try less
        }
        if (e == ERR_MEM) short_of_memory = true;
        if (e != ERR_OK) break;
        done += chunk;
    }
    if (done) {
        bytes_out_ += done;
        unacked_ += done;
        altcp_output(pcb_);
        port::reschedule();
    }
    if (done < len) {
        want_writable_ = true;
        if (short_of_memory) SocketLayer::starve(this);
    }
    return done;
}

size_t Stream::write_space() const {
    if (vsock_) return vc_ && !released_ ? vc_->write_space() : 0;
    if (!pcb_ || released_ || state_ != State::Open || write_shut_) return 0;
    return altcp_sndbuf(pcb_);
}

bool Stream::shutdown_write() {
    if (vsock_) return vc_ && !released_ && vc_->shutdown_write();
    if (!pcb_ || released_ || write_shut_ || state_ != State::Open) return false;
    if (altcp_shutdown(pcb_, 0, 1) != ERR_OK) return false;
    write_shut_ = true;
    want_writable_ = false;
    SocketLayer::unstarve(this);
    port::reschedule();
    SocketLayer::maybe_finish(this);
    return true;
}

void Stream::set_nodelay(bool on) {
    if (!pcb_) return;
    if (on) {
        altcp_nagle_disable(pcb_);
    } else {
        altcp_nagle_enable(pcb_);
    }
}

void Stream::close() {
    if (released_) return;
    if (vsock_) {
        if (vc_) {
            bytes_in_ = vc_->bytes_received();
            vsock::Conn* c = vc_;
            vc_ = nullptr;
            c->close();  // no callbacks after this; the engine finishes the exchange
        }
        state_ = State::Closed;
        SocketLayer::release(this);
        return;
    }
    if (pcb_) {
        if (altcp_close(pcb_) == ERR_OK) {  // altcp takes the callbacks off; lwIP finishes the connection
            pcb_ = nullptr;
        } else {
            close_pending_ = true;  // retried from the poll callback; callbacks stay on until then
        }
        port::reschedule();
    }
    if (state_ != State::Closed) state_ = State::Closed;
    SocketLayer::release(this);
}

void Stream::abort() {
    if (released_) return;
    if (vsock_) {
        if (vc_) {
            vsock::Conn* c = vc_;
            vc_ = nullptr;
            c->abort();
        }
        state_ = State::Closed;
        error_ = Error::Aborted;
        SocketLayer::release(this);
        return;
    }
    if (pcb_) {
        altcp_pcb* pcb = pcb_;
        pcb_ = nullptr;
        SocketLayer::detach(pcb);  // lwIP's err callback must not come back to us
        altcp_abort(pcb);          // RST; the pcb is freed
        if (in_callback_) aborted_in_callback_ = true;
    }
    state_ = State::Closed;
    error_ = Error::Aborted;
    SocketLayer::release(this);
}

// ---- Listener

Listener* Listener::open(const Address& local, int backlog, AcceptFn on_accept, void* ctx, Error* error) {
    Error dummy;
    Error& e = error ? *error : dummy;
    if (local.family == Family::Vsock) {
        if (!SocketLayer::vsock_engine) {
            e = Error::Unsupported;
            return nullptr;
        }
        if (local.cid != kVsockCidAny && local.cid != vsock_local_cid()) {
            e = Error::Invalid;  // only our own CID can be listened on
            return nullptr;
        }
        Listener* l = create<Listener>();
        if (!l) {
            e = Error::NoMemory;
            return nullptr;
        }
        if (!SocketLayer::vsock_engine->listen(local.port, SocketLayer::vs_accept, l)) {
            destroy(l);
            e = Error::InUse;
            return nullptr;
        }
        l->vsock_ = true;
        l->fn_ = on_accept;
        l->ctx_ = ctx;
        l->local_ = Address::vsock(static_cast<uint32_t>(vsock_local_cid()), local.port);
        ++SocketLayer::stats.listeners_open;
        e = Error::None;
        return l;
    }
    ip_addr_t ip;
    e = SocketLayer::local_ip(local, &ip);
    if (e != Error::None) return nullptr;
    port::init();
    if (backlog < 1) backlog = 1;
    if (backlog > 255) backlog = 255;
    tcp_pcb* t = tcp_new_ip_type(static_cast<u8_t>(IP_GET_TYPE(&ip)));
    if (!t) {
        e = Error::NoMemory;
        return nullptr;
    }
    ip_set_option(t, SOF_REUSEADDR);  // TIME_WAIT connections of an earlier listener never block the port
    err_t r = tcp_bind(t, &ip, static_cast<u16_t>(local.port));
    if (r != ERR_OK) {
        tcp_close(t);
        e = error_from_lwip(r, false);
        return nullptr;
    }
    altcp_pcb* conn = altcp_tcp_wrap(t);
    if (!conn) {
        tcp_close(t);
        e = Error::NoMemory;
        return nullptr;
    }
    altcp_pcb* lp = altcp_listen_with_backlog_and_err(conn, static_cast<u8_t>(backlog), &r);
    if (!lp) {
        altcp_close(conn);
        e = error_from_lwip(r, false);
        return nullptr;
    }
    Listener* l = create<Listener>();
    if (!l) {
        altcp_close(lp);
        e = Error::NoMemory;
        return nullptr;
    }
    l->pcb_ = lp;
    l->fn_ = on_accept;
    l->ctx_ = ctx;
    l->local_ = local;
    l->local_.port = altcp_get_port(lp, 1);
    altcp_arg(lp, l);
    altcp_accept(lp, SocketLayer::on_accept);
    ++SocketLayer::stats.listeners_open;
    e = Error::None;
    return l;
}

void Listener::close() {
    if (released_) return;
    released_ = true;
    if (vsock_ && SocketLayer::vsock_engine) SocketLayer::vsock_engine->unlisten(local_.port);
    if (pcb_) {
        altcp_arg(pcb_, nullptr);
        altcp_accept(pcb_, nullptr);
        altcp_close(pcb_);  // a listening pcb always closes at once
        pcb_ = nullptr;
    }
    SocketLayer::bury(this, SocketLayer::dead_listeners);
}

// ---- Datagram

Datagram* Datagram::open(const Address& local, ReceiveFn on_receive, void* ctx, Error* error) {
    Error dummy;
    Error& e = error ? *error : dummy;
    ip_addr_t ip;
    e = SocketLayer::local_ip(local, &ip);
    if (e != Error::None) return nullptr;
    port::init();
    udp_pcb* u = udp_new_ip_type(static_cast<u8_t>(IP_GET_TYPE(&ip)));
    if (!u) {
        e = Error::NoMemory;
        return nullptr;
    }
    const err_t r = udp_bind(u, &ip, static_cast<u16_t>(local.port));
    if (r != ERR_OK) {
        udp_remove(u);
        e = error_from_lwip(r, false);
        return nullptr;
    }
    Datagram* d = create<Datagram>();
    if (!d) {
        udp_remove(u);
        e = Error::NoMemory;
        return nullptr;
    }
    d->pcb_ = u;
    d->fn_ = on_receive;
    d->ctx_ = ctx;
    d->local_ = local;
    d->local_.port = u->local_port;
    udp_recv(u, SocketLayer::on_udp, d);
    ++SocketLayer::stats.datagrams_open;
    e = Error::None;
    return d;
}

Error Datagram::send_to(const Address& to, const void* data, size_t len) {
    if (released_ || !pcb_) return Error::NotConnected;
    ip_addr_t ip;
    const Error bad = SocketLayer::remote_ip(to, &ip);
    if (bad == Error::Unsupported) return bad;
    if (bad != Error::None || len > kMaxDatagram) {
        ++tx_errors_;
        return Error::Invalid;
    }
    pbuf* p = pbuf_alloc(PBUF_TRANSPORT, static_cast<u16_t>(len), PBUF_RAM);
    if (!p) {
        ++tx_errors_;
        return Error::NoMemory;
    }
    if (len) pbuf_take(p, data, static_cast<u16_t>(len));
    const err_t r = udp_sendto(pcb_, p, &ip, static_cast<u16_t>(to.port));
    pbuf_free(p);
    port::reschedule();
    if (r != ERR_OK) {
        ++tx_errors_;
        return error_from_lwip(r, false);
    }
    ++tx_datagrams_;
    tx_bytes_ += len;
    return Error::None;
}

void Datagram::close() {
    if (released_) return;
    released_ = true;
    if (pcb_) {
        udp_recv(pcb_, nullptr, nullptr);
        udp_remove(pcb_);
        pcb_ = nullptr;
    }
    SocketLayer::bury(this, SocketLayer::dead_datagrams);
}

SocketStats socket_stats() { return SocketLayer::stats; }

bool add_vsock(vsock::Engine& engine) {
    if (SocketLayer::vsock_engine) return false;
    SocketLayer::vsock_engine = &engine;
    return true;
}
bool vsock_available() { return SocketLayer::vsock_engine != nullptr; }
uint64_t vsock_local_cid() { return SocketLayer::vsock_engine ? SocketLayer::vsock_engine->local_cid() : 0; }

}  // namespace skerry::net
