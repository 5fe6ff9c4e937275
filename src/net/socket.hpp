// The socket layer: event-driven, non-blocking streams (TCP) and datagrams (UDP) for appliances, over
// lwIP's altcp/raw API. Appliances use this, never lwIP.
//
// Model. Everything runs in the event loop; callbacks are plain functions with a context pointer. Objects
// are created and owned by the layer: an application gets a pointer that stays valid until it calls
// close()/abort() or until its `closed` handler has returned, whichever comes first; after that the layer
// frees the object (later, never under a callback's feet). No callback arrives after close()/abort().
//
// Flow control, end to end, with bounded memory:
//   receive  Data are kept as they arrived (no copy) until the application reads them: read() copies out,
//            peek()/consume() give zero-copy access. The TCP window only opens by what was consumed, so a
//            slow reader slows the writer. `readable` fires whenever new data (or the end of the stream)
//            arrives; an application that stops reading simply resumes later with what is buffered.
//   send     write() copies into the TCP send buffer and returns how many bytes it accepted (bounded by
//            the buffer, TCP_SND_BUF). When it accepted less than offered, `writable` fires once there is
//            room again. Nothing is buffered beyond what write() accepted.
//
// Errors: Error values with error_text(); a stream's terminal error arrives in its `closed` handler.
// Addresses: net::Address (IPv4, IPv6, and Family::Any = dual stack for listeners and datagram sockets), and
// Family::Vsock for streams and listeners over the vsock transport (add_vsock): the same Stream and Listener, the same
// handlers, back-pressure and errors; Address::vsock(kVsockCidAny, port) listens on the guest's own CID.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "net/address.hpp"

struct altcp_pcb;
struct pbuf;
struct udp_pcb;

namespace skerry::net {
namespace vsock {
class Engine;
class Conn;
}  // namespace vsock

enum class Error : uint8_t {
    None = 0,      // no error; as a `closed` reason: both sides finished in order
    Reset,         // the peer reset the connection
    Aborted,       // aborted (abort(), or the stack dropped the connection to free resources)
    Refused,       // nobody listens there (RST in answer to the SYN)
    Timeout,       // no answer: connect or retransmissions gave up
    Unreachable,   // no route, no interface, or no neighbour answered
    NoMemory,      // out of buffers or connection slots
    InUse,         // the local address/port is taken
    Invalid,       // bad argument, or not possible in this state
    NotConnected,  // the stream is not (or no longer) open for this
    Unsupported,   // address family without a transport yet (vsock)
};

const char* error_text(Error e);  // "connection reset by peer", ...

// lwIP's err_t as an Error (for the layer and tests). `connecting` tells refusals and timeouts apart.
Error error_from_lwip(int err, bool connecting);

class Stream;
class Listener;
class Datagram;

// The layer allocates these objects with net/alloc.hpp, which needs their private constructors.
template <class T>
T* create();
template <class T>
void destroy(T* p);

// Handlers of a stream; any may be null.
struct StreamHandlers {
    void (*connected)(Stream& s, void* ctx) = nullptr;          // an outgoing connect() succeeded
    void (*readable)(Stream& s, void* ctx) = nullptr;           // new data, or the end of the stream, arrived
    void (*writable)(Stream& s, void* ctx) = nullptr;           // room again after a short write()
    void (*closed)(Stream& s, Error why, void* ctx) = nullptr;  // the connection is gone (why: Error::None =
                                                                // orderly); the stream is freed on return
};

class Stream {
public:
    enum class State : uint8_t { Connecting, Open, Closed };

    // Starts a TCP connection. The stream is returned at once, in State::Connecting; `connected` or
    // `closed` (Refused, Timeout, Unreachable, ...) follows. nullptr (and *error) when it cannot even start.
    static Stream* connect(const Address& remote, const StreamHandlers& handlers, void* ctx, Error* error = nullptr);

    void set_handlers(const StreamHandlers& handlers, void* ctx);
    void* context() const { return ctx_; }

    // ---- receiving
    size_t available() const;              // bytes received and not yet consumed
    size_t read(void* buf, size_t len);    // copies and consumes up to len bytes
    size_t peek(const void** data) const;  // the first contiguous piece of the available bytes (0: none)
    void consume(size_t n);                // drops n available bytes; opens the TCP window by n
    bool peer_closed() const;              // the peer sent FIN (more data may be buffered)
    bool at_eof() const { return peer_closed() && available() == 0; }  // ... and everything was consumed

    // ---- sending
    size_t write(const void* data, size_t len);  // accepted bytes (0..len); short: `writable` follows
    size_t write_space() const;                  // at least this many bytes would be accepted now
    size_t unacked() const { return unacked_; }  // written bytes the peer has not acknowledged yet
    bool shutdown_write();                       // FIN after the written data (half-close); reading goes on
    void set_nodelay(bool on);                   // Nagle off/on (default on)

    // ---- ending
    // Orderly close: written data are still delivered, then FIN (the stack finishes this on its own).
    // Unread received data make it a reset, as with POSIX sockets. After shutdown_write() and the peer's
    // end of stream the connection is complete (State::Closed, no `closed` call): read what is left, then
    // close() to release the object.
    void close();
    void abort();  // RST now; pending data are dropped

    State state() const { return state_; }
    Error error() const { return error_; }  // the terminal error (Error::None while open)
    const Address& local() const { return local_; }
    const Address& remote() const { return remote_; }
    uint64_t bytes_received() const;                    // from the peer
    uint64_t bytes_sent() const { return bytes_out_; }  // accepted by write()
    uint64_t opened_ns() const { return opened_ns_; }   // time::now_ns() when accepted/connected

    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

private:
    friend struct SocketLayer;
    friend Stream* create<Stream>();
    friend void destroy<Stream>(Stream*);
    Stream() = default;
    ~Stream();

    altcp_pcb* pcb_ = nullptr;
    vsock::Conn* vc_ = nullptr;  // a vsock stream: its connection in the vsock engine (then pcb_ stays null)
    bool vsock_ = false;
    // Received, not yet consumed: single pbufs linked through ->next (lwIP's 16-bit tot_len is not used:
    // a TCP window holds more than 64 KiB). The head's payload advances as data are consumed.
    pbuf* rx_ = nullptr;
    pbuf* rx_tail_ = nullptr;
    size_t rx_avail_ = 0;
    StreamHandlers h_{};
    void* ctx_ = nullptr;
    Address local_, remote_;
    uint64_t bytes_in_ = 0, bytes_out_ = 0, opened_ns_ = 0;
    size_t unacked_ = 0;
    State state_ = State::Connecting;
    Error error_ = Error::None;
    bool fin_ = false;            // FIN received
    bool write_shut_ = false;     // our FIN queued
    bool released_ = false;       // close()/abort() called or `closed` delivered: no more callbacks
    bool want_writable_ = false;  // a write() was short
    bool close_pending_ = false;  // tcp_close ran out of memory: retried from the poll callback
    bool aborted_in_callback_ = false;
    uint8_t in_callback_ = 0;  // depth of lwIP callbacks on this stream (abort inside one: ERR_ABRT)
    uint8_t close_retries_ = 0;
    Stream* starved_prev_ = nullptr;  // waiting for stack memory (not for this stream's own send buffer)
    Stream* starved_next_ = nullptr;
    bool starved_ = false;
    Stream* dead_next_ = nullptr;  // on the layer's list of objects to free
};

class Listener {
public:
    // A new connection, already established. Set its handlers (or close/abort it) in the callback.
    using AcceptFn = void (*)(Listener& l, Stream& s, void* ctx);

    // Listens on local (Address::any(port): IPv4 and IPv6). backlog: connections lwIP may establish ahead
    // of the application (1..255). The port is reusable at once (SO_REUSEADDR), so TIME_WAIT connections of
    // an earlier listener never block it.
    static Listener* open(const Address& local, int backlog, AcceptFn on_accept, void* ctx, Error* error = nullptr);
    void close();

    const Address& local() const { return local_; }
    uint64_t accepted() const { return accepted_; }
    uint64_t refused() const { return refused_; }  // connections dropped for lack of memory

    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

private:
    friend struct SocketLayer;
    friend Listener* create<Listener>();
    friend void destroy<Listener>(Listener*);
    Listener() = default;
    ~Listener() = default;

    altcp_pcb* pcb_ = nullptr;
    bool vsock_ = false;  // listening on the vsock engine (local_.port) instead of lwIP
    AcceptFn fn_ = nullptr;
    void* ctx_ = nullptr;
    Address local_;
    uint64_t accepted_ = 0, refused_ = 0;
    bool released_ = false;
    Listener* dead_next_ = nullptr;
};

class Datagram {
public:
    // One datagram; `data` is valid only during the call.
    using ReceiveFn = void (*)(Datagram& d, const Address& from, const void* data, size_t len, void* ctx);

    // Binds local (Address::any(port): IPv4 and IPv6; port 0: any free port).
    static Datagram* open(const Address& local, ReceiveFn on_receive, void* ctx, Error* error = nullptr);
    // Sends one datagram (at most 65507 bytes; fragmented as needed). Error::None when handed to the stack.
    Error send_to(const Address& to, const void* data, size_t len);
    void close();

    const Address& local() const { return local_; }
    uint64_t datagrams_received() const { return rx_datagrams_; }
    uint64_t datagrams_sent() const { return tx_datagrams_; }
    uint64_t bytes_received() const { return rx_bytes_; }
    uint64_t bytes_sent() const { return tx_bytes_; }
    uint64_t send_errors() const { return tx_errors_; }

    Datagram(const Datagram&) = delete;
    Datagram& operator=(const Datagram&) = delete;

private:
    friend struct SocketLayer;
    friend Datagram* create<Datagram>();
    friend void destroy<Datagram>(Datagram*);
    Datagram() = default;
    ~Datagram() = default;

    udp_pcb* pcb_ = nullptr;
    ReceiveFn fn_ = nullptr;
    void* ctx_ = nullptr;
    Address local_;
    uint64_t rx_datagrams_ = 0, tx_datagrams_ = 0, rx_bytes_ = 0, tx_bytes_ = 0, tx_errors_ = 0;
    bool released_ = false;
    Datagram* dead_next_ = nullptr;
};

// The vsock transport (a virtio-vsock driver's engine): from then on Stream::connect and Listener::open take
// Address::vsock addresses. One transport; a second is refused (false). Without one, vsock addresses give
// Error::Unsupported.
inline constexpr uint32_t kVsockCidAny = 0xFFFFFFFF;  // listen on our own CID, whatever it is
inline constexpr uint32_t kVsockCidHost = 2;
bool add_vsock(vsock::Engine& engine);
bool vsock_available();
uint64_t vsock_local_cid();  // 0 without a transport

// Layer-wide counters, for status output and tests.
struct SocketStats {
    uint64_t streams_open;   // live Stream objects (not yet freed)
    uint64_t streams_total;  // ever created (accepted + connected)
    uint64_t listeners_open, datagrams_open;
    uint64_t starved_wakeups;  // writable callbacks after the stack ran out of memory (not send buffer)
};
SocketStats socket_stats();

}  // namespace skerry::net
