// The Internet checksum (src/net/checksum.cpp) that lwIP uses through LWIP_CHKSUM.
#include <gtest/gtest.h>
#include <string.h>

#include <vector>

#include "lwip/inet_chksum.h"
#include "net/checksum.hpp"

using skerry::net::ones_sum;

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
