#include "net/ack_coalescer.hpp"

#include <string.h>

#include "kernel/bytes.hpp"

namespace skerry::net {

using bytes::be16;
using bytes::be32;

bool parse_pure_ack(const uint8_t* h, size_t n, PureAck& out) {
    if (n < kEthHeader) return false;
    const uint16_t type = be16(h + 12);
    const uint8_t* ip = h + kEthHeader;
    size_t l4, payload_end;
    if (type == kEthTypeIpv4 && n >= kEthHeader + kIpv4MinHeader && (ip[0] >> 4) == 4) {
        const size_t ihl = (ip[0] & 0x0f) * 4u;
        if (ihl < kIpv4MinHeader) return false;
        if (ip[9] != kIpProtoTcp || ((ip[6] & 0x3f) | ip[7]) != 0) return false;  // not TCP, or a fragment
        l4 = kEthHeader + ihl;
        payload_end = kEthHeader + size_t{be16(ip + 2)};
        __builtin_memcpy(out.key, ip + 12, 8);  // fixed sizes: moves, not calls (freestanding)
        out.key_len = 8;
    } else if (type == kEthTypeIpv6 && n >= kEthHeader + kIpv6Header && (ip[0] >> 4) == 6) {
        if (ip[6] != kIpProtoTcp) return false;  // extension headers: not worth it
        l4 = kEthHeader + kIpv6Header;
        payload_end = l4 + size_t{be16(ip + 4)};
        __builtin_memcpy(out.key, ip + 8, 32);
        out.key_len = 32;
    } else {
        return false;
    }
    if (n < l4 + kTcpMinHeader) return false;
    const uint8_t* tcp = h + l4;
    if (tcp[13] != 0x10) return false;                          // ACK alone
    if (payload_end != l4 + (tcp[12] >> 4) * 4u) return false;  // no data
    __builtin_memcpy(out.key + out.key_len, tcp, 4);            // ports
    out.key_len = static_cast<uint8_t>(out.key_len + 4);
    out.ack = be32(tcp + 8);
    return true;
}

AckCoalescer::Offer AckCoalescer::offer(void* frame, size_t frame_len) {
    if (frame_len > kMaxFrame) return Offer::NotHeld;  // longer than any header: it carries data
    uint8_t h[kPeekBytes];
    const size_t n = ops_.peek(ops_.ctx, frame, h, sizeof h);
    Entry a;
    if (!parse_pure_ack(h, n, a.ack)) return Offer::NotHeld;
    for (size_t i = 0; i < count_; ++i) {
        Entry& e = held_[i];
        if (e.ack.key_len != a.ack.key_len || memcmp(e.ack.key, a.ack.key, a.ack.key_len) != 0) continue;
        if (static_cast<int32_t>(a.ack.ack - e.ack.ack) <= 0) {
            flush();  // a duplicate or a window update: both go out, in order
            break;
        }
        ops_.unref(ops_.ctx, e.frame);
        ops_.ref(ops_.ctx, frame);
        e.frame = frame;
        e.ack.ack = a.ack.ack;
        return Offer::Replaced;
    }
    if (count_ == kHeld) flush();
    ops_.ref(ops_.ctx, frame);
    a.frame = frame;
    held_[count_++] = a;
    return Offer::Held;
}

bool AckCoalescer::flush() {
    const size_t n = count_;
    count_ = 0;  // first: a flush() from inside send() finds nothing to send twice
    for (size_t i = 0; i < n; ++i) {
        void* f = held_[i].frame;
        held_[i].frame = nullptr;
        ops_.send(ops_.ctx, f);
    }
    return n != 0;
}

}  // namespace skerry::net
