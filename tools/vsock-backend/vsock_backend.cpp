// skerry-vsock-backend: a vhost-user virtio-vsock device backend for tests, with Firecracker's hybrid vsock
// interface on the host side. QEMU (the vhost-user front-end) connects to --socket; the backend maps guest
// memory, serves the rx (0) and tx (1) virtqueues (QEMU keeps the event queue), and bridges vsock streams:
//   host -> guest: connect to --uds, write "CONNECT <port>\n", read "OK <hostport>\n", then bytes both ways;
//   guest -> host: a guest connection to CID 2 port P is connected to the Unix socket "<uds>_P".
// "STATS\n" instead of CONNECT answers one line of counters (tests). Facts: docs/protocols/vsock.md.
// One thread, epoll; exits when the front-end disconnects or on SIGTERM/SIGINT.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vsock_proto.hpp"

using namespace vsockbe;

namespace {

// ------------------------------------------------------------------------------------------------
// Options and logging
struct Options {
    std::string socket_path;
    std::string uds_path;
    uint64_t cid = 3;
    uint32_t buf_alloc = 256 * 1024;  // what we hold per connection for guest -> host data
    int verbose = 0;
};
Options opt;

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void logf(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (opt.verbose >= 2) fprintf(stderr, "%.6f ", now_s());
    fprintf(stderr, "vsock-backend: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}
#define VLOG(lvl, ...)                               \
    do {                                             \
        if (opt.verbose >= (lvl)) logf(__VA_ARGS__); \
    } while (0)
// Packet traces at -v -v -v: every control packet and small data packet; bulk data only at -v -v -v -v.
bool trace_packet(uint16_t op, uint32_t len) {
    return opt.verbose >= 3 && (op != kOpRw || len < 256 || opt.verbose > 3);
}

struct Stats {
    uint64_t tx_packets = 0, rx_packets = 0;  // tx = guest -> backend, rx = backend -> guest
    uint64_t bytes_to_host = 0, bytes_to_guest = 0;
    uint64_t dropped = 0, credit_violations = 0, rst_sent = 0;
    uint64_t conns_host = 0, conns_guest = 0, conns_refused = 0;
    uint64_t max_held = 0;  // most guest -> host bytes one connection ever held
    uint64_t kicks = 0, calls = 0;
    uint64_t lost_conns = 0;  // closed with guest -> host bytes not delivered
} st;

// ------------------------------------------------------------------------------------------------
// vhost-user messages (docs/protocols/vsock.md, "vhost-user")
enum : uint32_t {
    kGetFeatures = 1,
    kSetFeatures = 2,
    kSetOwner = 3,
    kResetOwner = 4,
    kSetMemTable = 5,
    kSetVringNum = 8,
    kSetVringAddr = 9,
    kSetVringBase = 10,
    kGetVringBase = 11,
    kSetVringKick = 12,
    kSetVringCall = 13,
    kSetVringErr = 14,
    kGetProtocolFeatures = 15,
    kSetProtocolFeatures = 16,
    kSetVringEnable = 18,
    kGetConfig = 24,
    kSetConfig = 25,
};
constexpr uint32_t kFlagVersion = 1, kFlagReply = 4, kFlagNeedReply = 8;
constexpr uint64_t kFeatVersion1 = 1ull << 32;
constexpr uint64_t kFeatProtocolFeatures = 1ull << 30;
constexpr uint64_t kProtoReplyAck = 1ull << 3, kProtoConfig = 1ull << 9;
constexpr uint64_t kOfferedFeatures = kFeatVersion1 | kFeatProtocolFeatures;
constexpr uint64_t kOfferedProtocol = kProtoReplyAck | kProtoConfig;
constexpr uint32_t kMaxPayload = 64 * 1024;  // largest RW payload we accept from the guest or send to it

struct Region {
    uint64_t gpa = 0, size = 0, uva = 0;
    uint8_t* base = nullptr;  // host mapping of the region's first byte
    void* map = nullptr;
    size_t map_len = 0;
};
std::vector<Region> regions;

// Host pointer for [gpa, gpa+len) if it lies inside one region.
uint8_t* gpa_ptr(uint64_t gpa, uint64_t len) {
    for (auto& r : regions)
        if (gpa >= r.gpa && gpa - r.gpa < r.size && len <= r.size - (gpa - r.gpa)) return r.base + (gpa - r.gpa);
    return nullptr;
}
uint8_t* uva_ptr(uint64_t uva, uint64_t len) {
    for (auto& r : regions)
        if (uva >= r.uva && uva - r.uva < r.size && len <= r.size - (uva - r.uva)) return r.base + (uva - r.uva);
    return nullptr;
}

// ------------------------------------------------------------------------------------------------
// Split virtqueues
struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
constexpr uint16_t kDescNext = 1, kDescWrite = 2, kDescIndirect = 4;
constexpr uint16_t kAvailNoInterrupt = 1;

struct Vring {
    unsigned num = 0;
    uint64_t desc_uva = 0, avail_uva = 0, used_uva = 0;
    Desc* desc = nullptr;
    uint16_t* avail = nullptr;  // flags, idx, ring[num]
    uint8_t* used = nullptr;    // flags, idx, ring[num] {u32 id, u32 len}
    uint16_t last_avail = 0;
    uint16_t used_idx = 0;
    int kick_fd = -1, call_fd = -1;
    bool started = false, enabled = false;
    bool need_call = false;

    bool ready() const { return started && enabled && desc && avail && used; }
    bool map() {
        desc = reinterpret_cast<Desc*>(uva_ptr(desc_uva, 16ull * num));
        avail = reinterpret_cast<uint16_t*>(uva_ptr(avail_uva, 6 + 2ull * num));
        used = uva_ptr(used_uva, 6 + 8ull * num);
        return desc && avail && used;
    }
    uint16_t avail_idx() const { return __atomic_load_n(&avail[1], __ATOMIC_ACQUIRE); }
    bool has_avail() const { return ready() && avail_idx() != last_avail; }
    uint16_t head_at(uint16_t i) const { return avail[2 + (i % num)]; }
    void push_used(uint32_t id, uint32_t len) {
        uint8_t* e = used + 4 + 8 * (used_idx % num);
        put_le(e, id, 4);
        put_le(e + 4, len, 4);
        ++used_idx;
        __atomic_store_n(reinterpret_cast<uint16_t*>(used + 2), used_idx, __ATOMIC_RELEASE);
        need_call = true;
    }
    void signal() {
        if (!need_call) return;
        need_call = false;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (__atomic_load_n(&avail[0], __ATOMIC_ACQUIRE) & kAvailNoInterrupt) return;
        if (call_fd >= 0) {
            uint64_t one = 1;
            if (write(call_fd, &one, 8) == 8) ++st.calls;
        }
    }
};
Vring vrings[2];  // 0 = rx (to the guest), 1 = tx (from the guest)

// One descriptor chain as host iovecs of one direction (readable for tx, writable for rx).
struct Chain {
    uint16_t head = 0;
    std::vector<iovec> iov;
    size_t bytes = 0;
    bool ok = false;
};

bool walk_chain(Vring& vr, uint16_t head, bool want_write, Chain& c) {
    c.head = head;
    c.iov.clear();
    c.bytes = 0;
    c.ok = false;
    uint16_t i = head;
    for (unsigned n = 0; n < vr.num; ++n) {
        if (i >= vr.num) return false;
        Desc d = vr.desc[i];
        if (d.flags & kDescIndirect) return false;  // not offered
        if (((d.flags & kDescWrite) != 0) != want_write) return false;
        if (d.len) {
            uint8_t* p = gpa_ptr(d.addr, d.len);
            if (!p) return false;
            c.iov.push_back({p, d.len});
            c.bytes += d.len;
        }
        if (!(d.flags & kDescNext)) {
            c.ok = true;
            return true;
        }
        i = d.next;
    }
    return false;  // a loop
}

// Copy between a flat buffer and the chain's iovecs starting at byte offset off.
void copy_from_chain(const Chain& c, size_t off, uint8_t* out, size_t n) {
    for (auto& v : c.iov) {
        if (!n) return;
        if (off >= v.iov_len) {
            off -= v.iov_len;
            continue;
        }
        size_t k = std::min(n, v.iov_len - off);
        memcpy(out, static_cast<uint8_t*>(v.iov_base) + off, k);
        out += k;
        n -= k;
        off = 0;
    }
}
void copy_to_chain(const Chain& c, size_t off, const uint8_t* in, size_t n) {
    for (auto& v : c.iov) {
        if (!n) return;
        if (off >= v.iov_len) {
            off -= v.iov_len;
            continue;
        }
        size_t k = std::min(n, v.iov_len - off);
        memcpy(static_cast<uint8_t*>(v.iov_base) + off, in, k);
        in += k;
        n -= k;
        off = 0;
    }
}
// The iovecs covering [off, off+n) of the chain.
int slice_chain(const Chain& c, size_t off, size_t n, iovec* out, int max) {
    int k = 0;
    for (auto& v : c.iov) {
        if (!n || k == max) break;
        if (off >= v.iov_len) {
            off -= v.iov_len;
            continue;
        }
        size_t m = std::min(n, v.iov_len - off);
        out[k++] = {static_cast<uint8_t*>(v.iov_base) + off, m};
        n -= m;
        off = 0;
    }
    return k;
}

// ------------------------------------------------------------------------------------------------
// Event loop objects
int ep = -1;
enum class Kind { kVhostListen, kVhost, kUdsListen, kKick, kConn };
struct Watch {
    Kind kind;
    int idx = 0;  // queue index for kKick
    void* obj = nullptr;
};

void ep_add(int fd, uint32_t events, Watch* w) {
    epoll_event e{};
    e.events = events;
    e.data.ptr = w;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) logf("epoll_ctl add fd %d: %s", fd, strerror(errno));
}
void ep_del(int fd) { epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr); }

// ------------------------------------------------------------------------------------------------
// Connections
enum class CState { kAwaitConnect, kConnecting, kEstablished, kClosed };

struct Conn {
    int fd = -1;
    Watch watch{Kind::kConn};
    CState state = CState::kAwaitConnect;
    bool host_initiated = false;
    uint32_t local_port = 0;  // our (CID 2) port
    uint32_t peer_port = 0;   // the guest's port
    Credit cr;
    double deadline = 0;
    bool readable = false;       // host socket may have data (edge-triggered)
    bool host_eof = false;       // host sent EOF; SHUTDOWN(SEND) queued to the guest
    bool guest_no_send = false;  // guest said SHUTDOWN SEND
    bool guest_no_rcv = false;   // guest said SHUTDOWN RCV
    bool host_wr_shut = false;
    bool credit_requested = false;
    std::string pending;  // guest -> host bytes the host socket has not taken yet
    size_t pending_off = 0;
    size_t pending_len() const { return pending.size() - pending_off; }
};

std::map<uint64_t, std::unique_ptr<Conn>> conns;  // key: local_port << 32 | peer_port
std::vector<std::unique_ptr<Conn>> awaiting;      // host connections before their CONNECT line
std::vector<std::unique_ptr<Conn>> graveyard;     // closed this loop iteration; freed after its events
uint32_t next_host_port = 1u << 30;

uint64_t key(uint32_t local, uint32_t peer) { return (uint64_t(local) << 32) | peer; }

std::vector<Hdr> ctrl_q;  // control packets waiting for rx buffers

Hdr make_hdr(uint32_t local, uint32_t peer, uint16_t op) {
    Hdr h;
    h.src_cid = kHostCid;
    h.dst_cid = opt.cid;
    h.src_port = local;
    h.dst_port = peer;
    h.type = kTypeStream;
    h.op = op;
    return h;
}
void queue_ctrl(Conn* c, uint16_t op, uint32_t flags = 0) {
    Hdr h = make_hdr(c->local_port, c->peer_port, op);
    h.flags = flags;
    c->cr.stamp(h);
    ctrl_q.push_back(h);
}
void queue_rst(uint32_t local, uint32_t peer) {
    Hdr h = make_hdr(local, peer, kOpRst);
    ctrl_q.push_back(h);
    ++st.rst_sent;
}

void close_conn(Conn* c, bool send_rst) {
    if (send_rst) queue_rst(c->local_port, c->peer_port);
    if (c->fd >= 0) {
        ep_del(c->fd);
        close(c->fd);
        c->fd = -1;
    }
    c->state = CState::kClosed;
    VLOG(2, "conn %u<->%u closed%s, %zu bytes unsent to the host, flags eof%d nosend%d norcv%d", c->local_port,
         c->peer_port, send_rst ? " (RST)" : "", c->pending_len(), c->host_eof, c->guest_no_send, c->guest_no_rcv);
    if (c->pending_len()) ++st.lost_conns;
    auto it = conns.find(key(c->local_port, c->peer_port));
    if (it != conns.end() && it->second.get() == c) {
        graveyard.push_back(std::move(it->second));
        conns.erase(it);
    }
}

// Push pending guest -> host bytes into the host socket. False if the connection was closed.
bool flush_to_host(Conn* c) {
    while (c->pending_len()) {
        ssize_t n = send(c->fd, c->pending.data() + c->pending_off, c->pending_len(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            close_conn(c, true);
            return false;
        }
        c->pending_off += n;
        c->cr.forwarded(n);
        st.bytes_to_host += n;
    }
    if (!c->pending_len()) {
        c->pending.clear();
        c->pending_off = 0;
    } else if (c->pending_off > (1u << 20)) {
        c->pending.erase(0, c->pending_off);
        c->pending_off = 0;
    }
    if (!c->pending_len() && c->guest_no_send && !c->host_wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->host_wr_shut = true;
        if (c->host_eof || c->guest_no_rcv) {  // nothing more either way: finish with RST
            close_conn(c, true);
            return false;
        }
    }
    if (c->cr.want_credit_update(64 * 1024)) queue_ctrl(c, kOpCreditUpdate);
    return true;
}

// Data from the guest for the host socket: written straight from guest memory when nothing is pending.
void guest_data(Conn* c, const Chain& ch, uint32_t len) {
    if (!c->cr.receive(len)) {
        ++st.credit_violations;
        logf("conn %u<->%u: guest sent %u bytes beyond the %u we advertised; reset", c->local_port, c->peer_port, len,
             c->cr.buf_alloc);
        close_conn(c, true);
        return;
    }
    size_t done = 0;
    if (!c->pending_len() && !c->host_wr_shut) {
        iovec iov[64];
        int k = slice_chain(ch, kHdrSize, len, iov, 64);
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = k;
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            close_conn(c, true);
            return;
        }
        if (n > 0) {
            done = n;
            c->cr.forwarded(n);
            st.bytes_to_host += n;
        }
    }
    if (done < len) {
        size_t old = c->pending.size();
        c->pending.resize(old + (len - done));
        copy_from_chain(ch, kHdrSize + done, reinterpret_cast<uint8_t*>(&c->pending[old]), len - done);
    }
    if (c->pending_len() > st.max_held) st.max_held = c->pending_len();
    if (c->cr.want_credit_update(64 * 1024)) queue_ctrl(c, kOpCreditUpdate);
}

Conn* new_guest_conn(const Hdr& h) {
    // Guest -> host: connect to <uds>_<port>.
    std::string path = opt.uds_path + "_" + std::to_string(h.dst_port);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof(a.sun_path) || fd < 0) {
        if (fd >= 0) close(fd);
        return nullptr;
    }
    memcpy(a.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) < 0) {
        VLOG(1, "guest connect to %s: %s", path.c_str(), strerror(errno));
        close(fd);
        return nullptr;
    }
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->watch.obj = c.get();
    c->local_port = h.dst_port;
    c->peer_port = h.src_port;
    c->cr.buf_alloc = opt.buf_alloc;
    c->cr.update_peer(h);
    c->state = CState::kEstablished;
    Conn* raw = c.get();
    conns[key(raw->local_port, raw->peer_port)] = std::move(c);
    ep_add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &raw->watch);
    ++st.conns_guest;
    return raw;
}

void handle_tx_packet(const Chain& ch) {
    uint8_t hb[kHdrSize];
    if (ch.bytes < kHdrSize) {
        ++st.dropped;
        return;
    }
    copy_from_chain(ch, 0, hb, kHdrSize);
    Hdr h = parse_hdr(hb);
    Verdict v = check_tx(h, ch.bytes, opt.cid, kMaxPayload);
    if (v != Verdict::kOk) {
        ++st.dropped;
        VLOG(1, "dropped tx packet op %u len %u (verdict %d)", h.op, h.len, static_cast<int>(v));
        if (v == Verdict::kBadType && h.op != kOpRst) queue_rst(h.dst_port, h.src_port);
        return;
    }
    ++st.tx_packets;
    auto it = conns.find(key(h.dst_port, h.src_port));
    Conn* c = it == conns.end() ? nullptr : it->second.get();
    if (trace_packet(h.op, h.len))
        logf("tx op %u %u->%u len %u flags %u buf %u fwd %u", h.op, h.src_port, h.dst_port, h.len, h.flags, h.buf_alloc,
             h.fwd_cnt);
    if (!c) {
        if (h.op == kOpRequest) {
            c = new_guest_conn(h);
            if (!c) {
                ++st.conns_refused;
                queue_rst(h.dst_port, h.src_port);
                return;
            }
            queue_ctrl(c, kOpResponse);
            return;
        }
        if (h.op != kOpRst) queue_rst(h.dst_port, h.src_port);
        return;
    }
    c->cr.update_peer(h);
    c->credit_requested = false;
    if (c->state == CState::kConnecting) {
        if (h.op == kOpResponse) {
            c->state = CState::kEstablished;
            std::string ok = "OK " + std::to_string(c->local_port) + "\n";
            if (send(c->fd, ok.data(), ok.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(ok.size())) {
                close_conn(c, true);
                return;
            }
            ++st.conns_host;
            ep_del(c->fd);
            ep_add(c->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c->watch);
            return;
        }
        close_conn(c, h.op != kOpRst);  // refused (RST) or a protocol error
        return;
    }
    switch (h.op) {
    case kOpRw: guest_data(c, ch, h.len); return;
    case kOpCreditRequest: queue_ctrl(c, kOpCreditUpdate); return;
    case kOpCreditUpdate: return;
    case kOpShutdown:
        if (h.flags & kShutRcv) c->guest_no_rcv = true;
        if (h.flags & kShutSend) c->guest_no_send = true;
        flush_to_host(c);  // may shut the host side down or finish the connection
        return;
    case kOpRst: close_conn(c, false); return;
    case kOpRequest:
    case kOpResponse:
    default: close_conn(c, true); return;
    }
}

void process_tx() {
    Vring& vr = vrings[1];
    Chain ch;
    while (vr.has_avail()) {
        uint16_t head = vr.head_at(vr.last_avail++);
        if (head >= vr.num || !walk_chain(vr, head, false, ch)) {
            ++st.dropped;
            vr.push_used(head < vr.num ? head : 0, 0);
            continue;
        }
        handle_tx_packet(ch);
        vr.push_used(head, 0);
    }
    vr.signal();
}

// Fill rx buffers: control packets first, then data from host sockets round robin.
void process_rx() {
    Vring& vr = vrings[0];
    if (!vr.ready()) return;
    Chain ch;
    uint8_t hb[kHdrSize];
    auto take = [&]() -> bool {
        while (vr.has_avail()) {
            uint16_t head = vr.head_at(vr.last_avail);
            if (head < vr.num && walk_chain(vr, head, true, ch) && ch.bytes >= kHdrSize) return true;
            ++st.dropped;  // an unusable buffer: give it back empty
            ++vr.last_avail;
            vr.push_used(head < vr.num ? head : 0, 0);
        }
        return false;
    };
    size_t ci = 0;
    while (ci < ctrl_q.size() && take()) {
        VLOG(3, "rx op %u %u->%u flags %u buf %u fwd %u", ctrl_q[ci].op, ctrl_q[ci].src_port, ctrl_q[ci].dst_port,
             ctrl_q[ci].flags, ctrl_q[ci].buf_alloc, ctrl_q[ci].fwd_cnt);
        write_hdr(ctrl_q[ci], hb);
        copy_to_chain(ch, 0, hb, kHdrSize);
        ++vr.last_avail;
        vr.push_used(ch.head, kHdrSize);
        ++st.rx_packets;
        ++ci;
    }
    ctrl_q.erase(ctrl_q.begin(), ctrl_q.begin() + ci);
    if (!ctrl_q.empty()) {
        vr.signal();
        return;
    }
    bool progress = true;
    while (progress) {
        progress = false;
        std::vector<Conn*> ready;
        for (auto& [k, c] : conns)
            if (c->state == CState::kEstablished && c->readable && !c->host_eof && !c->guest_no_rcv)
                ready.push_back(c.get());
        for (Conn* c : ready) {
            if (c->state != CState::kEstablished) continue;
            if (!take()) goto out;
            uint32_t room = c->cr.peer_free();
            if (room == 0) {
                if (!c->credit_requested) {
                    c->credit_requested = true;
                    Hdr h = make_hdr(c->local_port, c->peer_port, kOpCreditRequest);
                    c->cr.stamp(h);
                    write_hdr(h, hb);
                    copy_to_chain(ch, 0, hb, kHdrSize);
                    ++vr.last_avail;
                    vr.push_used(ch.head, kHdrSize);
                    ++st.rx_packets;
                }
                continue;
            }
            size_t want = std::min<size_t>({room, ch.bytes - kHdrSize, kMaxPayload});
            iovec iov[64];
            int k = slice_chain(ch, kHdrSize, want, iov, 64);
            ssize_t n = readv(c->fd, iov, k);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->readable = false;
                    continue;
                }
                if (errno == EINTR) continue;
                close_conn(c, true);
                progress = true;
                continue;
            }
            Hdr h = make_hdr(c->local_port, c->peer_port, kOpRw);
            if (n == 0) {  // host EOF: the guest will get no more from us
                c->host_eof = true;
                c->readable = false;
                h.op = kOpShutdown;
                h.flags = kShutSend;
                if (c->guest_no_send && !c->pending_len()) {
                    c->cr.stamp(h);
                    close_conn(c, true);
                    continue;
                }
            } else {
                h.len = static_cast<uint32_t>(n);
                c->cr.sent(h.len);
                st.bytes_to_guest += n;
            }
            c->cr.stamp(h);
            if (trace_packet(h.op, h.len))
                logf("rx op %u %u->%u len %u flags %u buf %u fwd %u", h.op, h.src_port, h.dst_port, h.len, h.flags,
                     h.buf_alloc, h.fwd_cnt);
            write_hdr(h, hb);
            copy_to_chain(ch, 0, hb, kHdrSize);
            ++vr.last_avail;
            vr.push_used(ch.head, kHdrSize + h.len);
            ++st.rx_packets;
            progress = true;
        }
    }
out:
    vr.signal();
}

// ------------------------------------------------------------------------------------------------
// Host side: the hybrid listener
int uds_listen_fd = -1;

std::string stats_line() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    uint64_t held = 0;
    for (auto& [k, c] : conns) held += c->pending_len();
    char b[768];
    snprintf(b, sizeof b,
             "{\"conns\": %zu, \"conns_host\": %llu, \"conns_guest\": %llu, \"conns_refused\": %llu, "
             "\"tx_packets\": %llu, \"rx_packets\": %llu, \"bytes_to_host\": %llu, \"bytes_to_guest\": %llu, "
             "\"dropped\": %llu, \"credit_violations\": %llu, \"rst_sent\": %llu, \"held\": %llu, \"max_held\": %llu, "
             "\"buf_alloc\": %u, \"kicks\": %llu, \"calls\": %llu, \"lost_conns\": %llu, \"cpu_s\": %.3f, "
             "\"max_rss_kib\": %ld}\n",
             conns.size(), (unsigned long long)st.conns_host, (unsigned long long)st.conns_guest,
             (unsigned long long)st.conns_refused, (unsigned long long)st.tx_packets, (unsigned long long)st.rx_packets,
             (unsigned long long)st.bytes_to_host, (unsigned long long)st.bytes_to_guest,
             (unsigned long long)st.dropped, (unsigned long long)st.credit_violations, (unsigned long long)st.rst_sent,
             (unsigned long long)held, (unsigned long long)st.max_held, opt.buf_alloc, (unsigned long long)st.kicks,
             (unsigned long long)st.calls, (unsigned long long)st.lost_conns, cpu, ru.ru_maxrss);
    return b;
}

bool port_in_use(uint32_t p) {
    for (auto& [k, c] : conns)
        if (c->local_port == p) return true;
    return false;
}

// A host connection sent its first line. False when the connection is finished with.
void handle_connect_line(Conn* c) {
    char buf[64];
    ssize_t n = recv(c->fd, buf, sizeof buf - 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    auto drop = [&]() {
        ep_del(c->fd);
        close(c->fd);
        c->fd = -1;
        c->state = CState::kClosed;
    };
    if (n <= 0) return drop();
    buf[n] = 0;
    char* nl = static_cast<char*>(memchr(buf, '\n', n));
    if (!nl) {
        if (n >= 32) return drop();  // no line within 32 bytes
        return;
    }
    size_t line_len = nl - buf + 1;
    if (recv(c->fd, buf, line_len, 0) != static_cast<ssize_t>(line_len)) return drop();
    buf[line_len - 1] = 0;
    char word[16] = {};
    unsigned long port = 0;
    if (sscanf(buf, "%15s %lu", word, &port) >= 1 && !strcasecmp(word, "STATS")) {
        std::string s = stats_line();
        send(c->fd, s.data(), s.size(), MSG_NOSIGNAL);
        return drop();
    }
    if (sscanf(buf, "%15s %lu", word, &port) != 2 || strcasecmp(word, "CONNECT") || port > 0xffffffffUL ||
        !vrings[0].ready()) {
        VLOG(1, "host connection: bad line or device not ready: '%s'", buf);
        return drop();
    }
    uint32_t local;
    do {
        local = next_host_port;
        next_host_port = next_host_port + 1 >= (1u << 31) ? (1u << 30) : next_host_port + 1;
    } while (port_in_use(local));
    auto owned = std::make_unique<Conn>();
    owned->fd = c->fd;
    owned->watch.obj = owned.get();
    owned->host_initiated = true;
    owned->local_port = local;
    owned->peer_port = static_cast<uint32_t>(port);
    owned->cr.buf_alloc = opt.buf_alloc;
    owned->state = CState::kConnecting;
    owned->deadline = now_s() + 2.0;
    c->fd = -1;
    c->state = CState::kClosed;
    ep_del(owned->fd);
    ep_add(owned->fd, EPOLLRDHUP, &owned->watch);  // only a hang-up matters until RESPONSE
    Conn* raw = owned.get();
    conns[key(local, raw->peer_port)] = std::move(owned);
    queue_ctrl(raw, kOpRequest);
    VLOG(2, "host CONNECT %lu as %u", port, local);
}

// ------------------------------------------------------------------------------------------------
// vhost-user front-end connection
int vhost_fd = -1;
uint64_t acked_protocol = 0;
bool protocol_negotiated = false;

bool recv_full(int fd, void* p, size_t n) {
    auto* b = static_cast<uint8_t*>(p);
    while (n) {
        ssize_t k = recv(fd, b, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        b += k;
        n -= k;
    }
    return true;
}

void reply(uint32_t req, const void* payload, uint32_t size) {
    uint8_t b[12 + 512];
    put_le(b, req, 4);
    put_le(b + 4, kFlagVersion | kFlagReply, 4);
    put_le(b + 8, size, 4);
    memcpy(b + 12, payload, size);
    if (send(vhost_fd, b, 12 + size, MSG_NOSIGNAL) < 0) logf("vhost-user reply: %s", strerror(errno));
}
void reply_u64(uint32_t req, uint64_t v) {
    uint8_t b[8];
    put_le(b, v, 8);
    reply(req, b, 8);
}

void unmap_regions() {
    for (auto& r : regions)
        if (r.map) munmap(r.map, r.map_len);
    regions.clear();
}

void stop_ring(int q) {
    Vring& vr = vrings[q];
    vr.started = false;
    if (vr.kick_fd >= 0) {
        ep_del(vr.kick_fd);
        close(vr.kick_fd);
        vr.kick_fd = -1;
    }
}

Watch kick_watch[2] = {{Kind::kKick, 0}, {Kind::kKick, 1}};

// Handles one message; false when the front-end is gone.
bool vhost_message() {
    uint8_t hdr[12];
    int fds[8];
    int nfds = 0;
    {
        iovec iov{hdr, sizeof hdr};
        char cbuf[CMSG_SPACE(sizeof fds)];
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        ssize_t n;
        do n = recvmsg(vhost_fd, &m, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n <= 0) return false;
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
            }
        if (n < 12 && !recv_full(vhost_fd, hdr + n, 12 - n)) return false;
    }
    uint32_t req = get_le(hdr, 4), flags = get_le(hdr + 4, 4), size = get_le(hdr + 8, 4);
    uint8_t p[4096] = {};
    if (size > sizeof p || !recv_full(vhost_fd, p, size)) return false;
    VLOG(2, "vhost-user request %u flags %#x size %u fds %d", req, flags, size, nfds);
    bool need_ack = (flags & kFlagNeedReply) && (acked_protocol & kProtoReplyAck);
    uint64_t ack = 0;
    bool keep_first = false;  // fds[0] became a kick or call fd
    switch (req) {
    case kGetFeatures:
        reply_u64(req, kOfferedFeatures);
        need_ack = false;
        break;
    case kSetFeatures: {
        uint64_t f = get_le(p, 8);
        VLOG(1, "features %#llx", (unsigned long long)f);
        protocol_negotiated = f & kFeatProtocolFeatures;
        break;
    }
    case kGetProtocolFeatures:
        reply_u64(req, kOfferedProtocol);
        need_ack = false;
        break;
    case kSetProtocolFeatures:
        acked_protocol = get_le(p, 8) & kOfferedProtocol;
        protocol_negotiated = true;
        need_ack = (flags & kFlagNeedReply) && (acked_protocol & kProtoReplyAck);
        break;
    case kSetOwner: break;
    case kResetOwner:
        stop_ring(0);
        stop_ring(1);
        break;
    case kSetMemTable: {
        uint32_t nreg = get_le(p, 4);
        if (nreg > 8 || nreg > static_cast<uint32_t>(nfds) || 8 + 32ull * nreg > size) {
            ack = 1;
            break;
        }
        unmap_regions();
        for (uint32_t i = 0; i < nreg; ++i) {
            const uint8_t* e = p + 8 + 32 * i;
            Region r;
            r.gpa = get_le(e, 8);
            r.size = get_le(e + 8, 8);
            r.uva = get_le(e + 16, 8);
            uint64_t off = get_le(e + 24, 8);
            r.map_len = r.size + off;
            r.map = mmap(nullptr, r.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
            if (r.map == MAP_FAILED) {
                logf("mmap of region %u: %s", i, strerror(errno));
                r.map = nullptr;
                ack = 1;
                continue;
            }
            r.base = static_cast<uint8_t*>(r.map) + off;
            VLOG(1, "region %u: gpa %#llx size %#llx uva %#llx", i, (unsigned long long)r.gpa,
                 (unsigned long long)r.size, (unsigned long long)r.uva);
            regions.push_back(r);
        }
        for (auto& vr : vrings)
            if (vr.desc_uva) vr.map();
        break;
    }
    case kSetVringNum:
    case kSetVringBase:
    case kGetVringBase:
    case kSetVringEnable: {
        uint32_t idx = get_le(p, 4), num = get_le(p + 4, 4);
        if (idx > 1) {
            ack = 1;
            if (req == kGetVringBase) reply(req, p, 8), need_ack = false;
            break;
        }
        Vring& vr = vrings[idx];
        if (req == kSetVringNum) {
            if (num == 0 || num > 32768 || (num & (num - 1))) ack = 1;
            else vr.num = num;
        } else if (req == kSetVringBase) {
            vr.last_avail = static_cast<uint16_t>(num);
            vr.used_idx = static_cast<uint16_t>(num);
        } else if (req == kGetVringBase) {
            stop_ring(idx);
            vr.enabled = false;
            uint8_t r[8];
            put_le(r, idx, 4);
            put_le(r + 4, vr.last_avail, 4);
            reply(req, r, 8);
            need_ack = false;
        } else {
            vr.enabled = num != 0;
        }
        break;
    }
    case kSetVringAddr: {
        uint32_t idx = get_le(p, 4);
        if (idx > 1) {
            ack = 1;
            break;
        }
        Vring& vr = vrings[idx];
        vr.desc_uva = get_le(p + 8, 8);
        vr.used_uva = get_le(p + 16, 8);
        vr.avail_uva = get_le(p + 24, 8);
        if (!vr.map()) {
            logf("vring %u addresses outside guest memory", idx);
            ack = 1;
        }
        if (opt.verbose >= 2) logf("vring %u used idx %u", idx, vr.used ? get_le(vr.used + 2, 2) : 0);
        if (vr.used) vr.used_idx = static_cast<uint16_t>(get_le(vr.used + 2, 2));
        break;
    }
    case kSetVringKick:
    case kSetVringCall:
    case kSetVringErr: {
        uint64_t v = get_le(p, 8);
        uint32_t idx = v & 0xff;
        bool nofd = v & 0x100;
        int fd = nofd || nfds < 1 ? -1 : fds[0];
        if (idx > 1) {
            ack = 1;
            break;
        }
        Vring& vr = vrings[idx];
        if (req == kSetVringErr) break;  // closed below
        if (req == kSetVringCall) {
            if (vr.call_fd >= 0) close(vr.call_fd);
            vr.call_fd = fd;
            keep_first = fd >= 0;
            break;
        }
        stop_ring(idx);
        if (fd < 0) {
            logf("vring %u: no kick fd (polling mode is not supported)", idx);
            ack = 1;
            break;
        }
        vr.kick_fd = fd;
        keep_first = true;
        vr.started = true;
        if (!protocol_negotiated) vr.enabled = true;
        ep_add(fd, EPOLLIN, &kick_watch[idx]);
        break;
    }
    case kGetConfig: {
        uint32_t off = get_le(p, 4), sz = get_le(p + 4, 4);
        if (sz > 256 || size < 12 + sz) sz = 0;
        uint8_t cfg[256] = {};
        put_le(cfg, opt.cid, 8);
        if (off < sizeof cfg) memcpy(p + 12, cfg + off, std::min<size_t>(sz, sizeof cfg - off));
        reply(req, p, 12 + sz);
        need_ack = false;
        break;
    }
    case kSetConfig: break;  // guest_cid is read-only
    default:
        logf("unsupported vhost-user request %u", req);
        ack = 1;
        break;
    }
    for (int i = keep_first ? 1 : 0; i < nfds; ++i) close(fds[i]);  // memory fds: the mappings stay
    if (need_ack) reply_u64(req, ack);
    return true;
}

volatile sig_atomic_t stop_flag = 0;
void on_signal(int) { stop_flag = 1; }

int listen_unix(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) {
        logf("socket path too long: %s", path.c_str());
        exit(2);
    }
    memcpy(a.sun_path, path.c_str(), path.size() + 1);
    unlink(path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 || listen(fd, 128) < 0) {
        logf("listen on %s: %s", path.c_str(), strerror(errno));
        exit(2);
    }
    return fd;
}

void usage() {
    fprintf(stderr,
            "usage: skerry-vsock-backend --socket <vhost-user.sock> --uds <hybrid.sock> [--cid N] [--buf BYTES] "
            "[-v]...\n");
    exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto val = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "--socket") opt.socket_path = val();
        else if (a == "--uds") opt.uds_path = val();
        else if (a == "--cid") opt.cid = strtoull(val().c_str(), nullptr, 0);
        else if (a == "--buf") opt.buf_alloc = strtoul(val().c_str(), nullptr, 0);
        else if (a == "-v") ++opt.verbose;
        else usage();
    }
    if (opt.socket_path.empty() || opt.uds_path.empty() || opt.cid < 3 || opt.cid > 0xfffffffeULL ||
        opt.buf_alloc < 4096)
        usage();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    ep = epoll_create1(EPOLL_CLOEXEC);
    int vhost_listen = listen_unix(opt.socket_path);
    uds_listen_fd = listen_unix(opt.uds_path);
    Watch w_vl{Kind::kVhostListen}, w_v{Kind::kVhost}, w_ul{Kind::kUdsListen};
    ep_add(vhost_listen, EPOLLIN, &w_vl);
    ep_add(uds_listen_fd, EPOLLIN, &w_ul);
    logf("listening: vhost-user %s, hybrid %s, guest CID %llu", opt.socket_path.c_str(), opt.uds_path.c_str(),
         (unsigned long long)opt.cid);

    epoll_event evs[64];
    while (!stop_flag) {
        int n = epoll_wait(ep, evs, 64, 250);
        if (n < 0 && errno != EINTR) break;
        bool tx_kick = false;
        for (int i = 0; i < n; ++i) {
            auto* w = static_cast<Watch*>(evs[i].data.ptr);
            switch (w->kind) {
            case Kind::kVhostListen: {
                int fd = accept4(vhost_listen, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd < 0) break;
                if (vhost_fd >= 0) {  // one front-end at a time
                    close(fd);
                    break;
                }
                vhost_fd = fd;
                ep_add(fd, EPOLLIN, &w_v);
                VLOG(1, "front-end connected");
                break;
            }
            case Kind::kVhost:
                if (!vhost_message()) {
                    VLOG(1, "front-end disconnected");
                    ep_del(vhost_fd);
                    close(vhost_fd);
                    vhost_fd = -1;
                    stop_flag = 1;
                }
                break;
            case Kind::kUdsListen:
                for (;;) {
                    int fd = accept4(uds_listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    auto c = std::make_unique<Conn>();
                    c->fd = fd;
                    c->watch.obj = c.get();
                    c->host_initiated = true;
                    c->deadline = now_s() + 10.0;
                    ep_add(fd, EPOLLIN, &c->watch);
                    awaiting.push_back(std::move(c));
                }
                break;
            case Kind::kKick: {
                uint64_t v;
                if (read(vrings[w->idx].kick_fd, &v, 8) == 8) ++st.kicks;
                if (w->idx == 1) tx_kick = true;
                break;
            }
            case Kind::kConn: {
                auto* c = static_cast<Conn*>(w->obj);
                if (c->state == CState::kClosed) break;
                if (c->state == CState::kAwaitConnect) {
                    handle_connect_line(c);
                    break;
                }
                if (c->state == CState::kConnecting) {
                    if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) close_conn(c, true);
                    break;
                }
                if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->readable = true;
                if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) flush_to_host(c);
                break;
            }
            }
        }
        // Closed connections found in this batch are freed only now (events may still name them).
        for (size_t i = 0; i < awaiting.size();) {
            if (awaiting[i]->state == CState::kClosed) {
                awaiting.erase(awaiting.begin() + i);
            } else if (now_s() > awaiting[i]->deadline) {
                ep_del(awaiting[i]->fd);
                close(awaiting[i]->fd);
                awaiting.erase(awaiting.begin() + i);
            } else {
                ++i;
            }
        }
        double t = now_s();
        std::vector<Conn*> expired;
        for (auto& [k, c] : conns)
            if (c->state == CState::kConnecting && t > c->deadline) expired.push_back(c.get());
        for (Conn* c : expired) close_conn(c, true);
        (void)tx_kick;
        if (vrings[1].ready()) process_tx();
        process_rx();
        graveyard.clear();
    }
    logf("exit: %s", stats_line().c_str());
    unlink(opt.socket_path.c_str());
    unlink(opt.uds_path.c_str());
    return 0;
}
