// The Internet checksum (src/net/checksum.cpp) that lwIP uses through LWIP_CHKSUM.
#include <gtest/gtest.h>
#include <string.h>

#include <vector>

#include "lwip/inet_chksum.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "net/checksum.hpp"

using skerry::net::ones_sum;
using skerry::net::pseudo_header_sum;

namespace {

// RFC 1071 as written: big-endian 16-bit words, an odd byte padded, carries folded; returned in the same
// memory-order convention as ones_sum (bytes of the network-order sum, read as a little-endian value).
uint16_t reference(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>((sum >> 8) | ((sum & 0xFF) << 8));
}

}  // namespace

TEST(Checksum, Rfc1071Example) {
    const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    // RFC 1071 section 3: the sum is ddf2 (network order), stored as the bytes dd f2.
    const uint16_t s = ones_sum(data, sizeof data);
    uint8_t stored[2];
    memcpy(stored, &s, 2);
    EXPECT_EQ(stored[0], 0xdd);
    EXPECT_EQ(stored[1], 0xf2);
}

TEST(Checksum, MatchesTheReferenceForEveryLengthAndAlignment) {
    std::vector<uint8_t> buf(2048 + 8);
    uint32_t x = 12345;
    for (uint8_t& b : buf) {
        x = x * 1103515245u + 12345u;
        b = static_cast<uint8_t>(x >> 16);
    }
    for (size_t off = 0; off < 8; ++off) {
        for (size_t len = 0; len <= 300; ++len)
            ASSERT_EQ(ones_sum(buf.data() + off, len), reference(buf.data() + off, len)) << off << " " << len;
        ASSERT_EQ(ones_sum(buf.data() + off, 1514), reference(buf.data() + off, 1514)) << off;
        ASSERT_EQ(ones_sum(buf.data() + off, 2048), reference(buf.data() + off, 2048)) << off;
    }
}

TEST(Checksum, CarriesOutOfEveryWordAreKept) {
    // All ones everywhere: each 64-bit addition carries; the sum stays 0xffff (negative zero).
    std::vector<uint8_t> ones(1501, 0xff);
    for (size_t len = 1; len <= ones.size(); len += 37)
        EXPECT_EQ(ones_sum(ones.data(), len), reference(ones.data(), len)) << len;
}

TEST(Checksum, LwipUsesIt) {
    // A real IPv4 header with its checksum in place: lwIP's inet_chksum (complemented sum) gives 0.
    const uint8_t ip[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                            0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    EXPECT_EQ(inet_chksum(ip, sizeof ip), 0);
    uint8_t bad[20];
    memcpy(bad, ip, sizeof bad);
    bad[10] ^= 1;
    EXPECT_NE(inet_chksum(bad, sizeof bad), 0);
}

namespace {

// The pseudo-header of RFC 793 / RFC 8200 built out as bytes and summed by the reference.
uint16_t pseudo_reference(const uint8_t* addrs, size_t n, uint8_t proto, uint32_t len) {
    std::vector<uint8_t> b(addrs, addrs + n);
    const uint8_t rest[8] = {0,
                             0,
                             0,
                             proto,
                             static_cast<uint8_t>(len >> 24),
                             static_cast<uint8_t>(len >> 16),
                             static_cast<uint8_t>(len >> 8),
                             static_cast<uint8_t>(len)};
    b.insert(b.end(), rest, rest + 8);
    return reference(b.data(), b.size());
}

// lwIP's own TCP checksum of a segment (pseudo-header included), over a pbuf that points at the bytes.
uint16_t lwip_tcp_checksum(uint8_t* seg, size_t len, const ip_addr_t& src, const ip_addr_t& dst) {
    pbuf_custom pc{};
    pc.custom_free_function = [](pbuf*) {};
    pbuf* p = pbuf_alloced_custom(PBUF_RAW, static_cast<u16_t>(len), PBUF_REF, &pc, seg, static_cast<u16_t>(len));
    return ip_chksum_pseudo(p, 6 /* TCP */, static_cast<u16_t>(len), &src, &dst);
}

uint16_t finish(uint16_t pseudo, const uint8_t* seg, size_t len) {
    uint32_t s = static_cast<uint32_t>(pseudo) + ones_sum(seg, len);
    s = (s & 0xFFFF) + (s >> 16);
    return static_cast<uint16_t>(~s);
}

}  // namespace

TEST(Checksum, PseudoHeaderMatchesTheReference) {
    uint8_t addrs[32];
    uint32_t x = 777;
    for (int round = 0; round < 200; ++round) {
        for (uint8_t& b : addrs) {
            x = x * 1103515245u + 12345u;
            b = static_cast<uint8_t>(x >> 16);
        }
        const uint32_t len = round < 100 ? x % 65536 : x;  // IPv6 lengths may pass 16 bits (jumbograms)
        for (size_t n : {size_t{8}, size_t{32}})
            ASSERT_EQ(pseudo_header_sum(addrs, n, 6, len), pseudo_reference(addrs, n, 6, len)) << round << " " << n;
        ASSERT_EQ(pseudo_header_sum(addrs, 8, 17, len), pseudo_reference(addrs, 8, 17, len)) << round;
    }
    // All ones: every addition carries.
    memset(addrs, 0xff, sizeof addrs);
    EXPECT_EQ(pseudo_header_sum(addrs, 32, 0xff, 0xffffffffu), pseudo_reference(addrs, 32, 0xff, 0xffffffffu));
}

TEST(Checksum, PseudoHeaderPlusSegmentIsLwipsTcpChecksum) {
    std::vector<uint8_t> seg(20 + 333);
    for (size_t i = 0; i < seg.size(); ++i) seg[i] = static_cast<uint8_t>(i * 7 + 3);
    seg[16] = seg[17] = 0;  // the checksum field

    ip_addr_t s4, d4, s6, d6;
    ASSERT_TRUE(ipaddr_aton("192.0.2.1", &s4));
    ASSERT_TRUE(ipaddr_aton("198.51.100.200", &d4));
    ASSERT_TRUE(ipaddr_aton("2001:db8::1", &s6));
    ASSERT_TRUE(ipaddr_aton("2001:db8:ffff::abcd", &d6));
    uint8_t a4[8], a6[32];
    memcpy(a4, &ip_2_ip4(&s4)->addr, 4);
    memcpy(a4 + 4, &ip_2_ip4(&d4)->addr, 4);
    memcpy(a6, ip_2_ip6(&s6)->addr, 16);
    memcpy(a6 + 16, ip_2_ip6(&d6)->addr, 16);

    for (size_t len : {size_t{20}, size_t{21}, seg.size()}) {
        const uint32_t l = static_cast<uint32_t>(len);
        EXPECT_EQ(finish(pseudo_header_sum(a4, 8, 6, l), seg.data(), len), lwip_tcp_checksum(seg.data(), len, s4, d4))
            << len;
        EXPECT_EQ(finish(pseudo_header_sum(a6, 32, 6, l), seg.data(), len), lwip_tcp_checksum(seg.data(), len, s6, d6))
            << len;
    }
}
