// Pure-ACK coalescing for one interface's transmit path.
//
// lwIP acknowledges every second segment, so a burst of received frames makes a burst of pure ACKs, each a
// trip through the device (on QEMU: the emulated NIC and slirp, under its global lock, while that lock is
// what delivers the next frames). A pure ACK waits here until the end of the loop iteration (flush()); a
// later pure ACK of the same connection that acknowledges more replaces it (it says all the first one said).
// Duplicate ACKs and window updates (same number) are never merged away: the held one is sent first. Any
// other frame must call flush() before it goes out, so the order on the wire is kept.
//
// Works on bytes: frames are opaque handles of the owner (lwIP pbufs in the netif glue), reached through
// Ops. No lwIP here, so it is tested on its own (tests/unit/net_ack_coalescer_test.cpp).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "net/ethernet.hpp"

namespace skerry::net {

// A TCP segment in an untagged Ethernet frame that carries nothing but an acknowledgement: flags exactly ACK,
// no payload (options are fine), IPv4 not fragmented, IPv6 without extension headers.
struct PureAck {
    uint32_t ack;
    uint8_t key_len;  // 12 (IPv4) or 36 (IPv6)
    uint8_t key[36];  // the connection: source and destination addresses, then the ports
};

// Reads the first `len` bytes of a frame (AckCoalescer::kPeekBytes are enough). False when it is not a pure
// ACK, or its headers are cut short.
bool parse_pure_ack(const uint8_t* frame, size_t len, PureAck& out);

class AckCoalescer {
public:
    static constexpr size_t kHeld = 8;  // connections with an ACK held at once
    // A frame longer than this carries data (the longest headers with nothing after them).
    static constexpr size_t kMaxFrame = kEthHeader + kIpv4MaxHeader + kTcpMaxHeader;
    // Bytes parse_pure_ack reads at most: the longest IP header and TCP's fixed part.
    static constexpr size_t kPeekBytes = kEthHeader + kIpv4MaxHeader + kTcpMinHeader;

    // What the owner does with its frames. Each held frame has one reference of the coalescer's own.
    struct Ops {
        void* ctx = nullptr;
        // Copies up to len bytes from the frame's start into buf; returns how many.
        size_t (*peek)(void* ctx, void* frame, uint8_t* buf, size_t len) = nullptr;
        void (*ref)(void* ctx, void* frame) = nullptr;    // one more reference
        void (*unref)(void* ctx, void* frame) = nullptr;  // one less
        void (*send)(void* ctx, void* frame) = nullptr;   // sends it; the reference goes with it
    };

    enum class Offer : uint8_t {
        NotHeld,   // not a pure ACK: the caller sends it (after flush())
        Held,      // kept (a reference taken); it goes out with flush()
        Replaced,  // kept instead of an earlier ACK of the same connection, which is dropped
    };

    void bind(const Ops& ops) { ops_ = ops; }

    // A frame on its way out, frame_len bytes long. A held duplicate ACK or window update of the same
    // connection is sent first (with everything else held, to keep the order); a full table is flushed.
    Offer offer(void* frame, size_t frame_len);
    // Sends everything held, in the order held. False when nothing was.
    bool flush();

    size_t held() const { return count_; }

private:
    struct Entry {
        void* frame;
        PureAck ack;
    };

    Ops ops_;
    Entry held_[kHeld] = {};
    size_t count_ = 0;
};

}  // namespace skerry::net
