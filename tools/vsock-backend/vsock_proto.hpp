// virtio-vsock packet header and credit accounting for the host test backend (docs/protocols/vsock.md).
// Pure logic, no I/O: the unit tests build it for the host with the rest of the unit tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vsockbe {

constexpr size_t kHdrSize = 44;
constexpr uint64_t kHostCid = 2;
constexpr uint16_t kTypeStream = 1;

enum Op : uint16_t {
    kOpInvalid = 0,
    kOpRequest = 1,
    kOpResponse = 2,
    kOpRst = 3,
    kOpShutdown = 4,
    kOpRw = 5,
    kOpCreditUpdate = 6,
    kOpCreditRequest = 7,
};

// SHUTDOWN flags: the sender will receive no more (RCV) / send no more (SEND).
constexpr uint32_t kShutRcv = 1;
constexpr uint32_t kShutSend = 2;

struct Hdr {
    uint64_t src_cid = 0;
    uint64_t dst_cid = 0;
    uint32_t src_port = 0;
    uint32_t dst_port = 0;
    uint32_t len = 0;
    uint16_t type = 0;
    uint16_t op = 0;
    uint32_t flags = 0;
    uint32_t buf_alloc = 0;
    uint32_t fwd_cnt = 0;
};

inline uint64_t get_le(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
inline void put_le(uint8_t* p, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline Hdr parse_hdr(const uint8_t* b) {
    Hdr h;
    h.src_cid = get_le(b + 0, 8);
    h.dst_cid = get_le(b + 8, 8);
    h.src_port = static_cast<uint32_t>(get_le(b + 16, 4));
    h.dst_port = static_cast<uint32_t>(get_le(b + 20, 4));
    h.len = static_cast<uint32_t>(get_le(b + 24, 4));
    h.type = static_cast<uint16_t>(get_le(b + 28, 2));
    h.op = static_cast<uint16_t>(get_le(b + 30, 2));
    h.flags = static_cast<uint32_t>(get_le(b + 32, 4));
    h.buf_alloc = static_cast<uint32_t>(get_le(b + 36, 4));
    h.fwd_cnt = static_cast<uint32_t>(get_le(b + 40, 4));
    return h;
}

inline void write_hdr(const Hdr& h, uint8_t* b) {
    put_le(b + 0, h.src_cid, 8);
    put_le(b + 8, h.dst_cid, 8);
    put_le(b + 16, h.src_port, 4);
    put_le(b + 20, h.dst_port, 4);
    put_le(b + 24, h.len, 4);
    put_le(b + 28, h.type, 2);
    put_le(b + 30, h.op, 2);
    put_le(b + 32, h.flags, 4);
    put_le(b + 36, h.buf_alloc, 4);
    put_le(b + 40, h.fwd_cnt, 4);
}

// Why a packet from the guest's transmit queue is refused (counted, then dropped or answered with RST).
enum class Verdict { kOk, kShortChain, kLenTooBig, kBadSrcCid, kBadDstCid, kBadType, kBadOp };

// Checks that do not depend on connection state. chain_bytes = readable bytes in the descriptor chain.
inline Verdict check_tx(const Hdr& h, size_t chain_bytes, uint64_t guest_cid, uint32_t max_payload) {
    if (chain_bytes < kHdrSize) return Verdict::kShortChain;
    if (h.len > max_payload || h.len > chain_bytes - kHdrSize) return Verdict::kLenTooBig;
    if (h.src_cid != guest_cid) return Verdict::kBadSrcCid;
    if (h.dst_cid != kHostCid) return Verdict::kBadDstCid;
    if (h.op == kOpInvalid || h.op > kOpCreditRequest) return Verdict::kBadOp;
    if (h.type != kTypeStream) return Verdict::kBadType;
    return Verdict::kOk;
}

// Both directions of one connection's credit (all counters are free-running u32, wrapping).
//   host -> guest: we may send at most peer_buf_alloc - (tx_cnt - peer_fwd_cnt) payload bytes.
//   guest -> host: we advertise buf_alloc (what we can hold) and fwd_cnt (bytes handed on to the host socket);
//                  held = rx_cnt - fwd_cnt never exceeds buf_alloc, else the guest broke the protocol.
struct Credit {
    uint32_t peer_buf_alloc = 0;
    uint32_t peer_fwd_cnt = 0;
    uint32_t tx_cnt = 0;

    uint32_t buf_alloc = 0;
    uint32_t rx_cnt = 0;
    uint32_t fwd_cnt = 0;
    uint32_t last_sent_fwd_cnt = 0;  // the fwd_cnt the guest last saw from us

    void update_peer(const Hdr& h) {
        peer_buf_alloc = h.buf_alloc;
        peer_fwd_cnt = h.fwd_cnt;
    }
    // Room in the guest's receive buffer. A peer whose fwd_cnt runs ahead of what we sent is treated as 0.
    uint32_t peer_free() const {
        uint32_t in_flight = tx_cnt - peer_fwd_cnt;
        if (in_flight > peer_buf_alloc) return 0;
        return peer_buf_alloc - in_flight;
    }
    void sent(uint32_t n) { tx_cnt += n; }

    uint32_t held() const { return rx_cnt - fwd_cnt; }
    // Accept n payload bytes from the guest; false if they do not fit in what we advertised.
    bool receive(uint32_t n) {
        if (n > buf_alloc - held()) return false;
        rx_cnt += n;
        return true;
    }
    void forwarded(uint32_t n) { fwd_cnt += n; }
    // Stamp our side of the accounting on an outgoing packet.
    void stamp(Hdr& h) {
        h.buf_alloc = buf_alloc;
        h.fwd_cnt = fwd_cnt;
        last_sent_fwd_cnt = fwd_cnt;
    }
    // The room the guest believes we have (from the last fwd_cnt it saw).
    uint32_t guest_view_free() const {
        uint32_t used = rx_cnt - last_sent_fwd_cnt;
        return used > buf_alloc ? 0 : buf_alloc - used;
    }
    // Tell the guest about freed room once its view gets small and we freed something, or we freed a lot.
    bool want_credit_update(uint32_t low_water) const {
        if (fwd_cnt == last_sent_fwd_cnt) return false;
        return guest_view_free() < low_water || fwd_cnt - last_sent_fwd_cnt >= low_water;
    }
};

}  // namespace vsockbe
