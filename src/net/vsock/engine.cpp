// The vsock stream protocol engine (see engine.hpp; docs/protocols/virtio-vsock.md).
#include "net/vsock/engine.hpp"

#include <stdlib.h>
#include <string.h>

#include <new>

#include "kernel/event_loop.hpp"

namespace skerry::net::vsock {
namespace {

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
void put32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t get32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
           static_cast<uint32_t>(p[3]) << 24;
}
uint64_t get64(const uint8_t* p) { return static_cast<uint64_t>(get32(p)) | static_cast<uint64_t>(get32(p + 4)) << 32; }

// Guards the engine's entry points: frees wait until the outermost one returns.
struct Depth {
    int& d;
    explicit Depth(int& x) : d(x) { ++d; }
    ~Depth() { --d; }
};

}  // namespace

void encode(const Header& h, uint8_t out[kHeaderSize]) {
    put64(out, h.src_cid);
    put64(out + 8, h.dst_cid);
    put32(out + 16, h.src_port);
    put32(out + 20, h.dst_port);
    put32(out + 24, h.len);
    put16(out + 28, h.type);
    put16(out + 30, h.op);
    put32(out + 32, h.flags);
    put32(out + 36, h.buf_alloc);
    put32(out + 40, h.fwd_cnt);
}

Header decode(const uint8_t in[kHeaderSize]) {
    Header h;
    h.src_cid = get64(in);
    h.dst_cid = get64(in + 8);
    h.src_port = get32(in + 16);
    h.dst_port = get32(in + 20);
    h.len = get32(in + 24);
    h.type = get16(in + 28);
    h.op = get16(in + 30);
    h.flags = get32(in + 32);
    h.buf_alloc = get32(in + 36);
    h.fwd_cnt = get32(in + 40);
    return h;
}

// ---------------------------------------------------------------------------------------------------------
// Conn

Conn::~Conn() {
    loop::cancel(timer_);
    free(rx_);
    free(tx_);
}

void Conn::set_handlers(const ConnHandlers& h, void* ctx) {
    h_ = h;
    ctx_ = ctx;
}

uint32_t Conn::peer_credit() const {
    const uint32_t in_flight = tx_cnt_ - peer_fwd_cnt_;
    return in_flight >= peer_buf_alloc_ ? 0 : peer_buf_alloc_ - in_flight;
}

size_t Conn::peek(const void** data) const {
    if (rx_len_ == 0) {
        *data = nullptr;
        return 0;
    }
    const size_t contiguous = Engine::kBufAlloc - rx_head_;
    *data = rx_ + rx_head_;
    return rx_len_ < contiguous ? rx_len_ : contiguous;
}

void Conn::consume(size_t n) {
    if (n > rx_len_) n = rx_len_;
    if (n == 0) return;
    rx_head_ = (rx_head_ + n) % Engine::kBufAlloc;
    rx_len_ -= n;
    fwd_cnt_ += static_cast<uint32_t>(n);
    // Give credit back once a quarter of the buffer has been consumed since the peer last heard: one CREDIT_UPDATE
    // per quarter, not per read.
    if (state_ == State::Open && fwd_cnt_ - fwd_told_ >= Engine::kBufAlloc / 4) credit_update_due_ = true;
    Engine* e = eng_;
    {
        Depth d(e->depth_);
        e->pump(*this);
    }
    e->sweep();  // may free this connection (closed by the peer, released, all read): nothing here touches it after
}

size_t Conn::read(void* buf, size_t len) {
    auto* out = static_cast<uint8_t*>(buf);
    size_t n = 0;
    size_t head = rx_head_, left = rx_len_;
    while (n < len && left > 0) {
        size_t chunk = Engine::kBufAlloc - head;
        if (chunk > left) chunk = left;
        if (chunk > len - n) chunk = len - n;
        memcpy(out + n, rx_ + head, chunk);
        head = (head + chunk) % Engine::kBufAlloc;
        left -= chunk;
        n += chunk;
    }
    if (n) consume(n);
    return n;
}

size_t Conn::write_space() const {
    if (state_ != State::Open || (our_shutdown_ & kShutdownSend) || shutdown_pending_ ||
        (peer_shutdown_ & kShutdownRcv))
        return 0;
    return Engine::kSendBuffer - tx_len_;
}

size_t Conn::write(const void* data, size_t len) {
    const size_t room = write_space();
    size_t n = len < room ? len : room;
    const auto* in = static_cast<const uint8_t*>(data);
    size_t done = 0;
    while (done < n) {
        const size_t tail = (tx_head_ + tx_len_) % Engine::kSendBuffer;
        size_t chunk = Engine::kSendBuffer - tail;
        if (chunk > n - done) chunk = n - done;
        memcpy(tx_ + tail, in + done, chunk);
        tx_len_ += chunk;
        done += chunk;
    }
    tx_total_ += n;
    if (n < len) want_writable_ = true;
    if (n) {
        Depth d(eng_->depth_);
        eng_->pump(*this);
    }
    return n;
}

bool Conn::shutdown_write() {
    if (state_ != State::Open || (our_shutdown_ & kShutdownSend) || shutdown_pending_) return false;
    shutdown_pending_ = true;
    Depth d(eng_->depth_);
    eng_->pump(*this);
    return true;
}

void Conn::close() {
    if (released_) return;
    released_ = true;
    Engine* e = eng_;
    {
        Depth d(e->depth_);
        if (state_ == State::Connecting || rx_len_ > 0) {
            // Not open yet, or data the application never read: a reset, as with POSIX sockets.
            rst_pending_ = state_ != State::Closed;
            state_ = State::Closed;
            e->pump(*this);
        } else if (state_ == State::Open) {
            close_requested_ = true;
            shutdown_pending_ = true;
            e->pump(*this);
        }
    }
    e->sweep();
}

void Conn::abort() {
    if (released_) return;
    released_ = true;
    Engine* e = eng_;
    {
        Depth d(e->depth_);
        if (state_ != State::Closed) {
            rst_pending_ = true;
            state_ = State::Closed;
            tx_len_ = 0;
            e->pump(*this);
        }
    }
    e->sweep();
}

// ---------------------------------------------------------------------------------------------------------
// Engine

Engine::~Engine() {
    while (conns_) {
        Conn* c = conns_;
        conns_ = c->next_;
        c->~Conn();
        free(c);
    }
}

size_t Engine::connections() const {
    size_t n = 0;
    for (const Conn* c = conns_; c; c = c->next_) ++n;
    return n;
}

Conn* Engine::find(uint64_t cid, uint32_t peer_port, uint32_t local_port) const {
    for (Conn* c = conns_; c; c = c->next_) {
        if (c->peer_cid_ == cid && c->peer_port_ == peer_port && c->local_port_ == local_port) return c;
    }
    return nullptr;
}

Conn* Engine::new_conn(uint64_t cid, uint32_t peer_port, uint32_t local_port) {
    void* mem = malloc(sizeof(Conn));
    if (!mem) return nullptr;
    Conn* c = ::new (mem) Conn();
    c->rx_ = static_cast<uint8_t*>(malloc(kBufAlloc));
    c->tx_ = static_cast<uint8_t*>(malloc(kSendBuffer));
    if (!c->rx_ || !c->tx_) {
        c->~Conn();
        free(mem);
        return nullptr;
    }
    c->eng_ = this;
    c->peer_cid_ = cid;
    c->peer_port_ = peer_port;
    c->local_port_ = local_port;
    c->next_ = conns_;
    conns_ = c;
    return c;
}

uint32_t Engine::ephemeral_port() {
    for (int tries = 0; tries < 100000; ++tries) {
        const uint32_t p = next_port_++;
        if (next_port_ >= 0x40000000u) next_port_ = 49152;
        bool used = false;
        for (const Conn* c = conns_; c && !used; c = c->next_) used = c->local_port_ == p;
        for (size_t i = 0; i < listener_count_ && !used; ++i) used = listeners_[i].port == p;
        if (!used) return p;
    }
    return 0;
}

bool Engine::send_ctl(Conn* c, Op op, uint32_t flags, uint64_t cid, uint32_t peer_port, uint32_t local_port) {
    Header h{};
    h.src_cid = dev_.local_cid();
    h.dst_cid = cid;
    h.src_port = local_port;
    h.dst_port = peer_port;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(op);
    h.flags = flags;
    h.buf_alloc = c ? kBufAlloc : 0;
    h.fwd_cnt = c ? c->fwd_cnt_ : 0;
    if (!dev_.send(h, nullptr, 0)) {
        blocked_ = true;
        return false;
    }
    ++ctr_.tx_packets;
    if (op == Op::Rst) ++ctr_.resets_sent;
    if (c) c->fwd_told_ = c->fwd_cnt_;
    return true;
}

bool Engine::send_rst_to(const Header& in) {
    Header h{};
    h.src_cid = dev_.local_cid();
    h.dst_cid = in.src_cid;
    h.src_port = in.dst_port;
    h.dst_port = in.src_port;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(Op::Rst);
    if (!dev_.send(h, nullptr, 0)) return false;  // an RST that finds no room is not worth queueing
    ++ctr_.tx_packets;
    ++ctr_.resets_sent;
    return true;
}

// Sends what the connection has to send, as far as the device and the peer's credit allow.
void Engine::pump(Conn& c) {
    if (blocked_) return;
    if (c.rst_pending_) {
        if (send_ctl(&c, Op::Rst, 0, c.peer_cid_, c.peer_port_, c.local_port_)) c.rst_pending_ = false;
        return;
    }
    if (c.state_ != Conn::State::Open && c.state_ != Conn::State::Closing) return;
    if (c.response_pending_) {
        if (!send_ctl(&c, Op::Response, 0, c.peer_cid_, c.peer_port_, c.local_port_)) return;
        c.response_pending_ = false;
    }
    while (c.tx_len_ > 0 && !(c.peer_shutdown_ & kShutdownRcv)) {
        uint32_t n = c.peer_credit();
        if (n == 0) {
            // Out of credit: ask once; the answer (or any packet of the peer's) brings the credit.
            if (!c.credit_asked_ && send_ctl(&c, Op::CreditRequest, 0, c.peer_cid_, c.peer_port_, c.local_port_))
                c.credit_asked_ = true;
            break;
        }
        if (n > max_payload_) n = max_payload_;
        if (n > c.tx_len_) n = static_cast<uint32_t>(c.tx_len_);
        const size_t contiguous = kSendBuffer - c.tx_head_;
        if (n > contiguous) n = static_cast<uint32_t>(contiguous);
        Header h{};
        h.src_cid = dev_.local_cid();
        h.dst_cid = c.peer_cid_;
        h.src_port = c.local_port_;
        h.dst_port = c.peer_port_;
        h.len = n;
        h.type = kTypeStream;
        h.op = static_cast<uint16_t>(Op::Rw);
        h.buf_alloc = kBufAlloc;
        h.fwd_cnt = c.fwd_cnt_;
        if (!dev_.send(h, c.tx_ + c.tx_head_, n)) {
            blocked_ = true;
            return;
        }
        ++ctr_.tx_packets;
        c.fwd_told_ = c.fwd_cnt_;
        c.credit_update_due_ = false;
        c.tx_head_ = (c.tx_head_ + n) % kSendBuffer;
        c.tx_len_ -= n;
        c.tx_cnt_ += n;
    }
    if (c.peer_shutdown_ & kShutdownRcv) c.tx_len_ = 0;  // the peer will take nothing more
    if (c.credit_update_due_) {
        if (!send_ctl(&c, Op::CreditUpdate, 0, c.peer_cid_, c.peer_port_, c.local_port_)) return;
        c.credit_update_due_ = false;
    }
    if (c.tx_len_ == 0 && c.shutdown_pending_) {
        const uint32_t flags = c.close_requested_ ? (kShutdownRcv | kShutdownSend) : kShutdownSend;
        if (!send_ctl(&c, Op::Shutdown, flags, c.peer_cid_, c.peer_port_, c.local_port_)) return;
        c.shutdown_pending_ = false;
        c.our_shutdown_ |= static_cast<uint8_t>(flags);
        if (c.close_requested_) {
            if (c.peer_shutdown_ == (kShutdownRcv | kShutdownSend)) {
                // The peer is done too: our RST ends the exchange.
                send_ctl(&c, Op::Rst, 0, c.peer_cid_, c.peer_port_, c.local_port_);
                c.state_ = Conn::State::Closed;
            } else {
                c.state_ = Conn::State::Closing;  // the peer's RST ends it, or the close timeout
                loop::arm_in(c.timer_, kCloseTimeoutNs, on_timer, &c);
            }
        }
    }
}

// `writable` for a connection whose short write() now has room; only from the engine's entry points, never from inside
// the application's own write().
void Engine::notify_writable(Conn& c) {
    if (c.want_writable_ && !c.released_ && c.write_space() > 0) {
        c.want_writable_ = false;
        if (c.h_.writable) c.h_.writable(c, c.ctx_);
    }
}

void Engine::pump_all() {
    for (Conn* c = conns_; c && !blocked_; c = c->next_) pump(*c);
    for (Conn* c = conns_; c; c = c->next_) notify_writable(*c);
}

void Engine::device_ready() {
    {
        Depth d(depth_);
        blocked_ = false;
        pump_all();
    }
    sweep();
}

// Delivers the end to the application (unless it already let go) and frees the connection.
void Engine::finish(Conn& c, Error why) {
    c.state_ = Conn::State::Closed;
    loop::cancel(c.timer_);
    if (!c.released_) {
        c.released_ = true;
        if (c.h_.closed) c.h_.closed(c, why, c.ctx_);
    }
}

// Frees the connections that are closed and released (and owe the peer nothing), once no entry point of the engine
// is running: never under a callback's feet.
void Engine::sweep() {
    if (depth_ != 0) return;
    for (Conn** link = &conns_; *link;) {
        Conn* c = *link;
        if (c->state_ == Conn::State::Closed && c->released_ && !c->rst_pending_) {
            *link = c->next_;
            c->~Conn();
            free(c);
        } else {
            link = &c->next_;
        }
    }
}

void Engine::on_timer(void* ctx) {
    Conn& c = *static_cast<Conn*>(ctx);
    Engine& e = *c.eng_;
    {
        Depth d(e.depth_);
        if (c.state_ == Conn::State::Connecting) {
            e.send_ctl(&c, Op::Rst, 0, c.peer_cid_, c.peer_port_, c.local_port_);
            e.finish(c, Error::Timeout);
        } else if (c.state_ == Conn::State::Closing) {
            // The peer never answered our SHUTDOWN with its RST: end it ourselves.
            e.send_ctl(&c, Op::Rst, 0, c.peer_cid_, c.peer_port_, c.local_port_);
            c.state_ = Conn::State::Closed;
        }
    }
    e.sweep();
}

Conn* Engine::connect(uint64_t cid, uint32_t port, const ConnHandlers& h, void* ctx, Error* error) {
    auto fail = [&](Error e) -> Conn* {
        if (error) *error = e;
        return nullptr;
    };
    if (cid == kCidHypervisor || cid == kCidLocal || cid == dev_.local_cid() || port == kPortAny)
        return fail(Error::Invalid);
    const uint32_t local = ephemeral_port();
    if (!local) return fail(Error::InUse);
    Conn* c = new_conn(cid, port, local);
    if (!c) return fail(Error::NoMemory);
    c->h_ = h;
    c->ctx_ = ctx;
    if (!send_ctl(c, Op::Request, 0, cid, port, local)) {
        // No room to even ask: give up at once rather than pretend.
        c->released_ = true;
        c->state_ = Conn::State::Closed;
        sweep();
        return fail(Error::NoMemory);
    }
    ++ctr_.connections_opened;
    loop::arm_in(c->timer_, kConnectTimeoutNs, on_timer, c);
    if (error) *error = Error::None;
    return c;
}

bool Engine::listen(uint32_t port, AcceptFn fn, void* ctx) {
    if (!fn || port == kPortAny || listener_count_ == kMaxListeners) return false;
    for (size_t i = 0; i < listener_count_; ++i)
        if (listeners_[i].port == port) return false;
    listeners_[listener_count_++] = {port, fn, ctx};
    return true;
}

void Engine::unlisten(uint32_t port) {
    for (size_t i = 0; i < listener_count_; ++i) {
        if (listeners_[i].port != port) continue;
        listeners_[i] = listeners_[--listener_count_];
        return;
    }
}

void Engine::transport_reset() {
    {
        Depth d(depth_);
        ++ctr_.transport_resets;
        blocked_ = false;
        for (Conn* c = conns_; c; c = c->next_) {
            c->rst_pending_ = false;  // the transport is gone: nothing to tell the peer
            c->response_pending_ = false;
            c->tx_len_ = 0;
            finish(*c, Error::Reset);
        }
    }
    sweep();
}

void Engine::on_rw(Conn& c, const uint8_t* p, uint32_t len) {
    if (c.peer_shutdown_ & kShutdownSend) {  // data after the peer said it sends no more
        ++ctr_.rx_bad;
        return;
    }
    if (static_cast<uint64_t>(c.rx_len_) + len > kBufAlloc) {
        // More than the credit we gave: the peer broke the protocol. Reset (Linux does the same: ENOBUFS).
        ++ctr_.rx_credit_violations;
        send_ctl(&c, Op::Rst, 0, c.peer_cid_, c.peer_port_, c.local_port_);
        finish(c, Error::Reset);
        return;
    }
    size_t done = 0;
    while (done < len) {
        const size_t tail = (c.rx_head_ + c.rx_len_) % kBufAlloc;
        size_t chunk = kBufAlloc - tail;
        if (chunk > len - done) chunk = len - done;
        memcpy(c.rx_ + tail, p + done, chunk);
        c.rx_len_ += chunk;
        done += chunk;
    }
    c.rx_total_ += len;
    if (!c.released_ && c.h_.readable) c.h_.readable(c, c.ctx_);
}

void Engine::receive(const Header& h, const uint8_t* payload, uint32_t len) {
    {
        Depth d(depth_);
        receive_packet(h, payload, len);
    }
    sweep();
}

void Engine::receive_packet(const Header& h, const uint8_t* payload, uint32_t len) {
    ++ctr_.rx_packets;
    const uint16_t op = h.op;
    if (h.dst_cid != dev_.local_cid() || h.len != len || (len && !payload) || op > 7 ||
        (op != static_cast<uint16_t>(Op::Rw) && len != 0)) {
        ++ctr_.rx_bad;
        return;
    }
    if (h.type != kTypeStream) {  // SEQPACKET is not offered: refuse what is not ours
        ++ctr_.rx_bad;
        if (op != static_cast<uint16_t>(Op::Rst)) send_rst_to(h);
        return;
    }
    Conn* c = find(h.src_cid, h.src_port, h.dst_port);
    if (!c) {
        if (op == static_cast<uint16_t>(Op::Request)) {
            for (size_t i = 0; i < listener_count_; ++i) {
                if (listeners_[i].port != h.dst_port) continue;
                Conn* n = new_conn(h.src_cid, h.src_port, h.dst_port);
                if (!n) {
                    ++ctr_.refused_no_memory;
                    send_rst_to(h);
                    return;
                }
                n->state_ = Conn::State::Open;
                n->peer_buf_alloc_ = h.buf_alloc;
                n->peer_fwd_cnt_ = h.fwd_cnt;
                // A full transmit queue does not refuse the connection: the RESPONSE goes first when the device
                // has room again (pump), well within the peer's connect timeout (docs/protocols/virtio-vsock.md,
                // "Connections").
                if (!send_ctl(n, Op::Response, 0, n->peer_cid_, n->peer_port_, n->local_port_))
                    n->response_pending_ = true;
                ++ctr_.connections_accepted;
                const Listener l = listeners_[i];
                l.fn(*this, *n, l.ctx);
                return;
            }
        }
        ++ctr_.rx_no_connection;
        if (op != static_cast<uint16_t>(Op::Rst)) send_rst_to(h);
        return;
    }
    // Every packet of a flow carries the sender's current credit.
    if (c->peer_buf_alloc_ != h.buf_alloc || c->peer_fwd_cnt_ != h.fwd_cnt) c->credit_asked_ = false;
    c->peer_buf_alloc_ = h.buf_alloc;
    c->peer_fwd_cnt_ = h.fwd_cnt;
    switch (c->state_) {
    case Conn::State::Connecting:
        if (op == static_cast<uint16_t>(Op::Response)) {
            loop::cancel(c->timer_);
            c->state_ = Conn::State::Open;
            if (!c->released_ && c->h_.connected) c->h_.connected(*c, c->ctx_);
            pump(*c);
        } else if (op == static_cast<uint16_t>(Op::Rst)) {
            finish(*c, Error::Refused);
        } else if (op != static_cast<uint16_t>(Op::Invalid)) {
            ++ctr_.rx_bad;
            send_ctl(c, Op::Rst, 0, c->peer_cid_, c->peer_port_, c->local_port_);
            finish(*c, Error::Reset);
        }
        break;
    case Conn::State::Open:
    case Conn::State::Closing:
        switch (static_cast<Op>(op)) {
        case Op::Rw: on_rw(*c, payload, len); break;
        case Op::CreditUpdate: pump(*c); break;
        case Op::CreditRequest: c->credit_update_due_ = true, pump(*c); break;
        case Op::Shutdown: {
            const uint8_t before = c->peer_shutdown_;
            c->peer_shutdown_ |= static_cast<uint8_t>(h.flags & (kShutdownRcv | kShutdownSend));
            if (c->peer_shutdown_ == (kShutdownRcv | kShutdownSend)) {
                // The peer is done both ways: our RST completes the exchange; what is buffered can still be read.
                send_ctl(c, Op::Rst, 0, c->peer_cid_, c->peer_port_, c->local_port_);
                c->state_ = Conn::State::Closed;
                loop::cancel(c->timer_);
            }
            if (!c->released_ && (c->peer_shutdown_ & kShutdownSend) && !(before & kShutdownSend) && c->h_.readable)
                c->h_.readable(*c, c->ctx_);  // the end of the stream
            break;
        }
        case Op::Rst:
            if (c->state_ == Conn::State::Closing) {
                c->state_ = Conn::State::Closed;  // the answer to our SHUTDOWN: done
                loop::cancel(c->timer_);
            } else {
                finish(*c, Error::Reset);
            }
            break;
        case Op::Request:  // a second REQUEST for a live flow: the peer is confused
            ++ctr_.rx_bad;
            send_ctl(c, Op::Rst, 0, c->peer_cid_, c->peer_port_, c->local_port_);
            finish(*c, Error::Reset);
            break;
        default: ++ctr_.rx_bad; break;  // RESPONSE again, INVALID
        }
        break;
    case Conn::State::Closed:
        // Closed but not yet freed (the application still reads, or an RST to send): only an RST is expected.
        if (op != static_cast<uint16_t>(Op::Rst)) ++ctr_.rx_bad;
        break;
    }
    notify_writable(*c);
}

}  // namespace skerry::net::vsock
