// The vsock stream protocol as virtio-vsock carries it (docs/protocols/virtio-vsock.md): packets with a 44-byte header,
// connections named by (cid, port) pairs, an open/close state machine, and credit-based flow control. This is the
// part above the device: a transport driver (virtio-vsock; Firecracker's and QEMU's devices) moves packets between its
// queues and an Engine through the small Device interface, and the socket layer's vsock streams sit on Conns.
//
// Flow control, both ways, with bounded memory:
//  - receive: each connection has a buffer of kBufAlloc bytes and advertises exactly that (buf_alloc) and how much
//    the application consumed (fwd_cnt) in every packet it sends. A peer that sends more than it was given credit
//    for breaks the protocol: the connection is reset (counted). Credit goes back to the peer with a CREDIT_UPDATE
//    once the application has consumed a quarter of the buffer since the last one told (or on CREDIT_REQUEST).
//  - send: write() copies into a send buffer of kSendBuffer bytes; the engine sends RW packets of at most the
//    peer's free credit (peer_buf_alloc - (tx_cnt - peer_fwd_cnt)) and kMaxPayload bytes, when the device has room.
//    `writable` fires when the send buffer has room again after a short write().
//
// Nothing from the device is trusted: wrong destination CIDs, unknown ops or types, lengths that disagree, packets
// for unknown connections are counted and dropped (answered with RST where the protocol says so, never an RST with
// an RST). One thread: the event loop. Callbacks into the application happen only from receive(), the engine's timers
// and device_ready(); a Conn is freed only after its `closed` handler has returned (never under a callback's feet).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/timer_queue.hpp"
#include "net/socket.hpp"

namespace skerry::net::vsock {

inline constexpr uint64_t kCidHypervisor = 0, kCidLocal = 1, kCidHost = 2;
inline constexpr uint32_t kPortAny = 0xFFFFFFFF;
inline constexpr size_t kHeaderSize = 44;
inline constexpr uint16_t kTypeStream = 1, kTypeSeqpacket = 2;
enum class Op : uint16_t {
    Invalid = 0,
    Request = 1,
    Response = 2,
    Rst = 3,
    Shutdown = 4,
    Rw = 5,
    CreditUpdate = 6,
    CreditRequest = 7,
};
inline constexpr uint32_t kShutdownRcv = 1, kShutdownSend = 2;

struct Header {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint32_t len;
    uint16_t type, op;
    uint32_t flags;
    uint32_t buf_alloc, fwd_cnt;
};
void encode(const Header& h, uint8_t out[kHeaderSize]);
Header decode(const uint8_t in[kHeaderSize]);

// What the engine needs from a transport.
class Device {
public:
    virtual uint64_t local_cid() const = 0;
    // Queues one packet for the device (the payload is copied or kept until sent: the engine's buffer stays put
    // until the next send). False when there is no room now: the engine keeps it and calls again after
    // Engine::device_ready().
    virtual bool send(const Header& h, const uint8_t* payload, uint32_t len) = 0;

protected:
    ~Device() = default;
};

class Engine;
class Conn;

struct ConnHandlers {
    void (*connected)(Conn& c, void* ctx) = nullptr;
    void (*readable)(Conn& c, void* ctx) = nullptr;
    void (*writable)(Conn& c, void* ctx) = nullptr;
    void (*closed)(Conn& c, Error why, void* ctx) = nullptr;  // the Conn is freed on return
};

struct Counters {
    uint64_t rx_packets, tx_packets;
    uint64_t rx_bad;                // malformed, wrong CID, unknown type or op: dropped
    uint64_t rx_no_connection;      // for no connection or listener (answered with RST unless it was one)
    uint64_t rx_credit_violations;  // a peer sent more than its credit: connection reset
    uint64_t resets_sent, connections_accepted, connections_opened, transport_resets;
    uint64_t refused_no_memory;
};

class Conn {
public:
    enum class State : uint8_t { Connecting, Open, Closing, Closed };

    void set_handlers(const ConnHandlers& h, void* ctx);
    void* context() const { return ctx_; }

    size_t available() const { return rx_len_; }
    size_t read(void* buf, size_t len);
    size_t peek(const void** data) const;  // the first contiguous piece of the available bytes (0: none)
    void consume(size_t n);                // drops n available bytes; credit goes back to the peer
    bool peer_closed() const { return peer_shutdown_ & kShutdownSend; }
    bool at_eof() const { return peer_closed() && rx_len_ == 0; }

    size_t write(const void* data, size_t len);  // accepted bytes; short: `writable` follows
    size_t write_space() const;
    bool shutdown_write();  // SHUTDOWN(SEND) after what was written
    void close();           // orderly: the written data go out, then SHUTDOWN both ways; unread data make it a reset
    void abort();           // RST now

    State state() const { return state_; }
    uint64_t peer_cid() const { return peer_cid_; }
    uint32_t peer_port() const { return peer_port_; }
    uint32_t local_port() const { return local_port_; }
    uint64_t bytes_received() const { return rx_total_; }
    uint64_t bytes_sent() const { return tx_total_; }
    uint32_t peer_credit() const;  // bytes the peer can take now

    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;

private:
    friend class Engine;
    Conn() = default;
    ~Conn();

    Engine* eng_ = nullptr;
    ConnHandlers h_{};
    void* ctx_ = nullptr;
    State state_ = State::Connecting;
    uint64_t peer_cid_ = 0;
    uint32_t peer_port_ = 0, local_port_ = 0;

    uint8_t* rx_ = nullptr;  // ring of kBufAlloc bytes
    size_t rx_head_ = 0, rx_len_ = 0;
    uint32_t fwd_cnt_ = 0, fwd_told_ = 0;  // consumed; consumed as last told to the peer
    bool credit_update_due_ = false;

    uint8_t* tx_ = nullptr;  // ring of kSendBuffer bytes: written, not yet sent
    size_t tx_head_ = 0, tx_len_ = 0;
    uint32_t tx_cnt_ = 0;  // payload bytes sent
    uint32_t peer_buf_alloc_ = 0, peer_fwd_cnt_ = 0;
    bool want_writable_ = false;
    bool credit_asked_ = false;  // a CREDIT_REQUEST went out and the peer's credit has not changed since

    uint8_t peer_shutdown_ = 0, our_shutdown_ = 0;
    bool shutdown_pending_ = false;  // SHUTDOWN to send once the send buffer is empty
    bool close_requested_ = false;   // close(): no more callbacks; freed when the exchange is done
    bool rst_pending_ = false;       // an RST to send (the device had no room)
    bool response_pending_ = false;  // the RESPONSE of an accepted REQUEST, when the device had no room for it
    bool released_ = false;          // close()/abort() called, or `closed` delivered
    uint64_t rx_total_ = 0, tx_total_ = 0;
    Timer timer_{};  // connect and close timeouts
    Conn* next_ = nullptr;
};

class Engine {
public:
    static constexpr uint32_t kBufAlloc = 64 * 1024;    // receive buffer per connection (advertised)
    static constexpr size_t kSendBuffer = 64 * 1024;    // written, not yet sent, per connection
    static constexpr uint32_t kMaxPayload = 64 * 1024;  // per RW packet (the device may ask for less)
    static constexpr uint64_t kConnectTimeoutNs = 2000000000ull, kCloseTimeoutNs = 8000000000ull;
    static constexpr size_t kMaxListeners = 16;

    using AcceptFn = void (*)(Engine& e, Conn& c, void* ctx);

    explicit Engine(Device& d) : dev_(d) {}
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Largest payload the device can carry in one packet (its receive buffers); RW packets we send are cut to it.
    void set_max_payload(uint32_t n) { max_payload_ = n && n < kMaxPayload ? n : kMaxPayload; }

    // From the device.
    void receive(const Header& h, const uint8_t* payload, uint32_t len);
    void transport_reset();  // every connection reset (closed with Error::Reset), listeners kept
    void device_ready();     // room to send again

    // Sockets.
    Conn* connect(uint64_t cid, uint32_t port, const ConnHandlers& h, void* ctx, Error* error = nullptr);
    bool listen(uint32_t port, AcceptFn fn, void* ctx);
    void unlisten(uint32_t port);

    const Counters& counters() const { return ctr_; }
    size_t connections() const;
    uint64_t local_cid() const { return dev_.local_cid(); }

private:
    friend class Conn;
    struct Listener {
        uint32_t port;
        AcceptFn fn;
        void* ctx;
    };

    Conn* find(uint64_t cid, uint32_t peer_port, uint32_t local_port) const;
    Conn* new_conn(uint64_t cid, uint32_t peer_port, uint32_t local_port);
    uint32_t ephemeral_port();
    bool send_ctl(Conn* c, Op op, uint32_t flags, uint64_t cid, uint32_t peer_port, uint32_t local_port);
    bool send_rst_to(const Header& h);
    void pump(Conn& c);
    void pump_all();
    void notify_writable(Conn& c);
    void receive_packet(const Header& h, const uint8_t* payload, uint32_t len);
    void finish(Conn& c, Error why);  // marks it closed and delivers `closed` (unless released); the sweep frees it
    void sweep();
    void on_rw(Conn& c, const uint8_t* p, uint32_t len);
    static void on_timer(void* ctx);

    Device& dev_;
    Conn* conns_ = nullptr;
    Listener listeners_[kMaxListeners] = {};
    size_t listener_count_ = 0;
    uint32_t next_port_ = 49152;
    uint32_t max_payload_ = kMaxPayload;
    bool blocked_ = false;  // the device said no room
    int depth_ = 0;         // inside a callback: frees wait
    Counters ctr_{};
};

}  // namespace skerry::net::vsock
