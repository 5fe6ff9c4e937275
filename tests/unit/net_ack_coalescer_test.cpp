// Pure-ACK detection and coalescing (src/net/ack_coalescer.cpp) on byte frames, without lwIP. The glue's use of
// it on a running stack is tested in net_stack_test.cpp (GlueCoalescesPureAcksButKeepsDuplicatesAndOrder).
#include <gtest/gtest.h>
#include <string.h>

#include <utility>
#include <vector>

#include "net/ack_coalescer.hpp"

using skerry::net::AckCoalescer;
using skerry::net::parse_pure_ack;
using skerry::net::PureAck;
using Offer = AckCoalescer::Offer;

namespace {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20, kEce = 0x40;

struct Seg {
    bool v6 = false;
    uint8_t last_addr_byte = 2;  // of the destination
    uint16_t sport = 1000, dport = 5001;
    uint32_t ack = 1;
    uint16_t window = 1000;
    uint8_t flags = kAck;
    size_t options = 0;  // bytes of TCP options (a multiple of 4)
    size_t payload = 0;
    uint8_t proto = 6;      // IPv4 protocol / IPv6 next header
    size_t ip_options = 0;  // IPv4 header options (a multiple of 4)
};

void put16(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// An untagged Ethernet frame with one TCP segment.
std::vector<uint8_t> frame(const Seg& s) {
    const size_t ip_len = s.v6 ? 40 : 20 + s.ip_options;
    const size_t tcp_len = 20 + s.options;
    std::vector<uint8_t> f(14 + ip_len + tcp_len + s.payload, 0);
    const uint8_t eth[] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1};
    memcpy(f.data(), eth, sizeof eth);
    uint8_t* ip = f.data() + 14;
    if (s.v6) {
        put16(f.data() + 12, 0x86DD);
        ip[0] = 0x60;
        put16(ip + 4, static_cast<uint32_t>(tcp_len + s.payload));
        ip[6] = s.proto;
        ip[7] = 64;
        ip[8] = 0xfd;  // fd00::1 -> fd00::<last>
        ip[23] = 1;
        ip[24] = 0xfd;
        ip[39] = s.last_addr_byte;
    } else {
        put16(f.data() + 12, 0x0800);
        ip[0] = static_cast<uint8_t>(0x40 | ip_len / 4);
        put16(ip + 2, static_cast<uint32_t>(ip_len + tcp_len + s.payload));
        ip[8] = 64;
        ip[9] = s.proto;
        const uint8_t a[] = {10, 0, 0, 1, 10, 0, 0, s.last_addr_byte};
        memcpy(ip + 12, a, 8);
    }
    uint8_t* t = ip + ip_len;
    put16(t, s.sport);
    put16(t + 2, s.dport);
    for (int i = 0; i < 4; ++i) t[8 + i] = static_cast<uint8_t>(s.ack >> (24 - 8 * i));
    t[12] = static_cast<uint8_t>(tcp_len / 4 << 4);
    t[13] = s.flags;
    put16(t + 14, s.window);
    for (size_t i = 0; i < s.options; ++i) t[20 + i] = 1;  // NOPs
    return f;
}

bool is_pure(const std::vector<uint8_t>& f) {
    PureAck a;
    return parse_pure_ack(f.data(), f.size(), a);
}

}  // namespace

// ---- detection

TEST(PureAck, Ipv4AndIpv6) {
    PureAck a;
    Seg s;
    s.ack = 0x12345678;
    const auto v4 = frame(s);
    ASSERT_TRUE(parse_pure_ack(v4.data(), v4.size(), a));
    EXPECT_EQ(a.ack, 0x12345678u);
    ASSERT_EQ(a.key_len, 12);
    const uint8_t key4[] = {10, 0, 0, 1, 10, 0, 0, 2, 0x03, 0xe8, 0x13, 0x89};
    EXPECT_EQ(memcmp(a.key, key4, 12), 0);

    s.v6 = true;
    s.ack = 0xfffffffe;
    const auto v6 = frame(s);
    ASSERT_TRUE(parse_pure_ack(v6.data(), v6.size(), a));
    EXPECT_EQ(a.ack, 0xfffffffeu);
    ASSERT_EQ(a.key_len, 36);
    EXPECT_EQ(memcmp(a.key, v6.data() + 14 + 8, 32), 0);  // source and destination
    EXPECT_EQ(memcmp(a.key + 32, v6.data() + 54, 4), 0);  // ports
}

TEST(PureAck, OptionsAreFineAndPaddingAfterTheDatagramIsIgnored) {
    for (bool v6 : {false, true}) {
        Seg s;
        s.v6 = v6;
        s.options = 12;  // timestamps
        EXPECT_TRUE(is_pure(frame(s))) << v6;
        s.options = 40;  // the most TCP allows
        EXPECT_TRUE(is_pure(frame(s))) << v6;
        s.options = 0;
        auto padded = frame(s);
        padded.resize(padded.size() + 6);  // a trailer (padding to 60 bytes): the IP length says where it ends
        EXPECT_TRUE(is_pure(padded)) << v6;
    }
    Seg s;
    s.ip_options = 40;  // the longest IPv4 header
    s.options = 40;
    const auto f = frame(s);
    EXPECT_EQ(f.size(), AckCoalescer::kMaxFrame);
    EXPECT_TRUE(is_pure(f));
    PureAck a;
    EXPECT_TRUE(parse_pure_ack(f.data(), AckCoalescer::kPeekBytes, a));  // what the coalescer reads
}

TEST(PureAck, FlagsMustBeExactlyAck) {
    for (bool v6 : {false, true}) {
        Seg s;
        s.v6 = v6;
        const uint8_t not_pure[] = {0,    kPsh | kAck, kSyn | kAck, kFin | kAck, kRst | kAck,
                                    kRst, kSyn,        kUrg | kAck, kEce | kAck, 0x80 | kAck};
        for (uint8_t flags : not_pure) {
            s.flags = flags;
            EXPECT_FALSE(is_pure(frame(s))) << v6 << " " << int{flags};
        }
    }
}

TEST(PureAck, DataIsNotAPureAck) {
    for (bool v6 : {false, true}) {
        Seg s;
        s.v6 = v6;
        for (size_t payload : {1, 4, 100}) {
            s.payload = payload;
            EXPECT_FALSE(is_pure(frame(s))) << v6 << " " << payload;
        }
        // A length field that says less than the headers: not a well-formed pure ACK either.
        s.payload = 0;
        auto f = frame(s);
        if (v6) {
            put16(f.data() + 14 + 4, 16);
        } else {
            put16(f.data() + 14 + 2, 36);
        }
        EXPECT_FALSE(is_pure(f)) << v6;
    }
}

TEST(PureAck, FragmentsAndExtensionHeadersAreRefused) {
    Seg s;
    auto more = frame(s);
    more[14 + 6] = 0x20;  // more fragments
    EXPECT_FALSE(is_pure(more));
    auto offset = frame(s);
    offset[14 + 7] = 0x01;  // fragment offset 8
    EXPECT_FALSE(is_pure(offset));
    auto df = frame(s);
    df[14 + 6] = 0x40;  // don't fragment: still a whole datagram
    EXPECT_TRUE(is_pure(df));

    s.v6 = true;
    for (uint8_t next : {0, 43, 44, 60}) {  // hop-by-hop, routing, fragment, destination options
        s.proto = next;
        EXPECT_FALSE(is_pure(frame(s))) << int{next};
    }
}

TEST(PureAck, OtherFramesAreRefused) {
    Seg s;
    s.proto = 17;  // UDP
    EXPECT_FALSE(is_pure(frame(s)));
    s.v6 = true;
    EXPECT_FALSE(is_pure(frame(s)));

    auto arp = frame(Seg{});
    put16(arp.data() + 12, 0x0806);
    EXPECT_FALSE(is_pure(arp));
    auto vlan = frame(Seg{});  // tagged frames are not looked into
    vlan.insert(vlan.begin() + 12, {0x81, 0x00, 0x00, 0x05});
    EXPECT_FALSE(is_pure(vlan));
    auto version = frame(Seg{});
    version[14] = 0x65;  // ethertype IPv4, version 6
    EXPECT_FALSE(is_pure(version));
    auto version6 = frame(Seg{.v6 = true});
    version6[14] = 0x40;
    EXPECT_FALSE(is_pure(version6));
}

TEST(PureAck, TruncatedHeadersAreRefused) {
    Seg s;
    s.ip_options = 8;
    for (bool v6 : {false, true}) {
        s.v6 = v6;
        const auto f = frame(s);
        const size_t need = f.size();  // every header byte up to TCP's fixed part
        ASSERT_TRUE(is_pure(f));
        for (size_t n = 0; n < need; ++n) {
            PureAck a;
            EXPECT_FALSE(parse_pure_ack(f.data(), n, a)) << v6 << " " << n;
        }
    }
    // An IPv4 header length under 20 bytes.
    for (uint8_t ihl = 0; ihl < 5; ++ihl) {
        auto f = frame(Seg{});
        f[14] = static_cast<uint8_t>(0x40 | ihl);
        EXPECT_FALSE(is_pure(f)) << int{ihl};
    }
}

// ---- coalescing

namespace {

// Frames are indices into `frames`; the ops count references and record what is sent, in order.
struct Owner {
    std::vector<std::vector<uint8_t>> frames;
    std::vector<int> refs;
    std::vector<int> sent;
    int peeks = 0;
    AckCoalescer c;

    Owner() {
        AckCoalescer::Ops ops;
        ops.ctx = this;
        ops.peek = [](void* ctx, void* f, uint8_t* buf, size_t len) -> size_t {
            Owner* o = static_cast<Owner*>(ctx);
            ++o->peeks;
            const auto& b = o->frames[id(f)];
            const size_t n = b.size() < len ? b.size() : len;
            memcpy(buf, b.data(), n);
            return n;
        };
        ops.ref = [](void* ctx, void* f) { ++static_cast<Owner*>(ctx)->refs[id(f)]; };
        ops.unref = [](void* ctx, void* f) {
            Owner* o = static_cast<Owner*>(ctx);
            ASSERT_GT(o->refs[id(f)], 0);
            --o->refs[id(f)];
        };
        ops.send = [](void* ctx, void* f) {
            Owner* o = static_cast<Owner*>(ctx);
            ASSERT_GT(o->refs[id(f)], 0);  // the held reference goes with the frame
            --o->refs[id(f)];
            o->sent.push_back(static_cast<int>(id(f)));
        };
        c.bind(ops);
    }
    static size_t id(void* f) { return reinterpret_cast<uintptr_t>(f) - 1; }

    // Offers a new frame; returns what the coalescer did with it.
    Offer offer(const Seg& s) { return offer(frame(s)); }
    Offer offer(std::vector<uint8_t> f) {
        frames.push_back(std::move(f));
        refs.push_back(0);
        const size_t i = frames.size() - 1;
        return c.offer(reinterpret_cast<void*>(i + 1), frames[i].size());
    }
    bool balanced() const {
        for (int r : refs)
            if (r) return false;
        return true;
    }
};

Seg ack_of(uint16_t sport, uint32_t ack, uint16_t window = 1000) {
    Seg s;
    s.sport = sport;
    s.ack = ack;
    s.window = window;
    return s;
}

}  // namespace

TEST(AckCoalescer, ALaterAckOfTheSameConnectionReplacesTheHeldOne) {
    Owner o;
    EXPECT_EQ(o.offer(ack_of(1000, 100)), Offer::Held);
    EXPECT_EQ(o.refs[0], 1);
    EXPECT_EQ(o.offer(ack_of(1000, 200)), Offer::Replaced);
    EXPECT_EQ(o.refs[0], 0);  // dropped
    EXPECT_EQ(o.refs[1], 1);
    EXPECT_EQ(o.offer(ack_of(1000, 300, 5)), Offer::Replaced);  // a smaller window too: it acknowledges more
    EXPECT_EQ(o.c.held(), 1u);
    EXPECT_TRUE(o.sent.empty());
    EXPECT_TRUE(o.c.flush());
    EXPECT_EQ(o.sent, (std::vector<int>{2}));
    EXPECT_TRUE(o.balanced());
    EXPECT_FALSE(o.c.flush());  // nothing left
    EXPECT_EQ(o.sent.size(), 1u);
}

TEST(AckCoalescer, ReplacementFollowsSequenceNumbersAcrossTheWrap) {
    Owner o;
    EXPECT_EQ(o.offer(ack_of(1000, 0xfffffff0u)), Offer::Held);
    EXPECT_EQ(o.offer(ack_of(1000, 0x10)), Offer::Replaced);
    Seg v6 = ack_of(1000, 0x7ffffff0u);
    v6.v6 = true;
    EXPECT_EQ(o.offer(v6), Offer::Held);
    v6.ack = 0x80000010u;
    EXPECT_EQ(o.offer(v6), Offer::Replaced);
    o.c.flush();
    EXPECT_EQ(o.sent, (std::vector<int>{1, 3}));
    EXPECT_TRUE(o.balanced());
}

TEST(AckCoalescer, DuplicatesAndWindowUpdatesAreAllSentInOrder) {
    Owner o;
    EXPECT_EQ(o.offer(ack_of(1000, 100)), Offer::Held);
    EXPECT_EQ(o.offer(ack_of(2000, 7)), Offer::Held);  // another connection, held beside it
    // The same number again (a duplicate ACK, a fast-retransmit signal): everything held goes out first.
    EXPECT_EQ(o.offer(ack_of(1000, 100)), Offer::Held);
    EXPECT_EQ(o.sent, (std::vector<int>{0, 1}));
    EXPECT_EQ(o.c.held(), 1u);
    // A window update: the same number, another window.
    EXPECT_EQ(o.offer(ack_of(1000, 100, 60000)), Offer::Held);
    EXPECT_EQ(o.sent, (std::vector<int>{0, 1, 2}));
    // An older number (reordered by the stack): never merged away either.
    EXPECT_EQ(o.offer(ack_of(1000, 50)), Offer::Held);
    EXPECT_EQ(o.sent, (std::vector<int>{0, 1, 2, 3}));
    o.c.flush();
    EXPECT_EQ(o.sent, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_TRUE(o.balanced());
}

TEST(AckCoalescer, ConnectionsAreHeldSeparately) {
    Owner o;
    Seg a = ack_of(1000, 100);
    Seg other_port = ack_of(1001, 100);
    Seg other_dport = ack_of(1000, 100);
    other_dport.dport = 5002;
    Seg other_host = ack_of(1000, 100);
    other_host.last_addr_byte = 3;
    Seg v6 = ack_of(1000, 100);
    v6.v6 = true;
    Seg v6_other = v6;
    v6_other.last_addr_byte = 3;
    for (const Seg& s : {a, other_port, other_dport, other_host, v6, v6_other}) EXPECT_EQ(o.offer(s), Offer::Held);
    EXPECT_EQ(o.c.held(), 6u);
    EXPECT_TRUE(o.sent.empty());
    // A later ACK of the fourth replaces only its own.
    other_host.ack = 200;
    EXPECT_EQ(o.offer(other_host), Offer::Replaced);
    o.c.flush();
    EXPECT_EQ(o.sent, (std::vector<int>{0, 1, 2, 6, 4, 5}));  // held order, the replacement in its place
    EXPECT_TRUE(o.balanced());
}

TEST(AckCoalescer, AFullTableIsFlushedFirst) {
    Owner o;
    for (uint16_t i = 0; i < AckCoalescer::kHeld; ++i)
        EXPECT_EQ(o.offer(ack_of(static_cast<uint16_t>(1000 + i), 1)), Offer::Held);
    EXPECT_EQ(o.c.held(), AckCoalescer::kHeld);
    EXPECT_TRUE(o.sent.empty());
    EXPECT_EQ(o.offer(ack_of(3000, 1)), Offer::Held);
    ASSERT_EQ(o.sent.size(), AckCoalescer::kHeld);
    for (size_t i = 0; i < AckCoalescer::kHeld; ++i) EXPECT_EQ(o.sent[i], static_cast<int>(i));
    EXPECT_EQ(o.c.held(), 1u);
    // A connection already held is still replaced in a full table, without a flush.
    for (uint16_t i = 1; i < AckCoalescer::kHeld; ++i) o.offer(ack_of(static_cast<uint16_t>(1000 + i), 1));
    EXPECT_EQ(o.c.held(), AckCoalescer::kHeld);
    EXPECT_EQ(o.offer(ack_of(3000, 2)), Offer::Replaced);
    EXPECT_EQ(o.sent.size(), AckCoalescer::kHeld);
    o.c.flush();
    EXPECT_EQ(o.sent.size(), 2 * AckCoalescer::kHeld);
    EXPECT_TRUE(o.balanced());
}

TEST(AckCoalescer, OtherFramesAreLeftToTheCallerWhoFlushesFirst) {
    Owner o;
    EXPECT_EQ(o.offer(ack_of(1000, 100)), Offer::Held);
    Seg data = ack_of(1000, 150);
    data.flags = kPsh | kAck;
    data.payload = 10;
    EXPECT_EQ(o.offer(data), Offer::NotHeld);
    EXPECT_EQ(o.refs[1], 0);      // no reference taken
    EXPECT_TRUE(o.sent.empty());  // the owner's turn: flush, then send its frame (the glue's output())
    EXPECT_EQ(o.c.held(), 1u);
    EXPECT_TRUE(o.c.flush());
    EXPECT_EQ(o.sent, (std::vector<int>{0}));

    // A frame too long to be a pure ACK is not even read.
    const int peeks = o.peeks;
    Seg big = ack_of(1000, 100);
    big.payload = 1400;
    EXPECT_EQ(o.offer(big), Offer::NotHeld);
    EXPECT_EQ(o.peeks, peeks);
    // Not TCP, not IP: the same.
    auto arp = frame(Seg{});
    put16(arp.data() + 12, 0x0806);
    EXPECT_EQ(o.offer(arp), Offer::NotHeld);
    EXPECT_EQ(o.c.held(), 0u);
    EXPECT_TRUE(o.balanced());
}

TEST(AckCoalescer, AFrameShorterThanItsHeadersIsNotHeld) {
    Owner o;
    auto f = frame(Seg{});
    f.resize(14 + 20 + 10);
    EXPECT_EQ(o.offer(f), Offer::NotHeld);
    EXPECT_EQ(o.c.held(), 0u);
}
