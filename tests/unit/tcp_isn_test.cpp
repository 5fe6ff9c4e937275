// RFC 6528 initial sequence numbers (net/tcp_isn.hpp): SipHash-2-4 against its authors' test vector, and the
// properties the RFC asks for.
#include <gtest/gtest.h>

#include <set>

#include "net/tcp_isn.hpp"

namespace skerry::net {
namespace {

TEST(TcpIsn, SipHashMatchesThePapersTestVector) {
    // "SipHash: a fast short-input PRF" (Aumasson, Bernstein, 2012), appendix A: key 00 01 .. 0f, message 00 01
    // .. 0e (15 bytes), SipHash-2-4 = a129ca6149be45e5.
    uint8_t msg[15];
    for (int i = 0; i < 15; ++i) msg[i] = static_cast<uint8_t>(i);
    const uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
    EXPECT_EQ(isn::siphash24(k0, k1, msg, sizeof msg), 0xa129ca6149be45e5ull);
}

TEST(TcpIsn, NeighbouringConnectionsAreUnrelatedAndEachAdvancesWithTheClock) {
    isn::set_key(0x1234, 0x5678);
    const uint8_t local[4] = {10, 0, 2, 15}, remote[4] = {10, 0, 2, 2};
    std::set<uint32_t> seen;
    uint32_t prev = 0;
    int small_steps = 0;
    for (uint16_t port = 40000; port < 40200; ++port) {
        const uint32_t v = isn::compute(local, 4, 80, remote, 4, port, 1'000'000'000ull);
        seen.insert(v);
        if (port > 40000 && v - prev < 65536) ++small_steps;  // lwIP's own counter gave steps of 1
        prev = v;
    }
    EXPECT_EQ(seen.size(), 200u);
    EXPECT_LE(small_steps, 2);
    // One 4-tuple: the same at the same moment, and 250,000 a second later (the 4-microsecond clock).
    const uint32_t a = isn::compute(local, 4, 80, remote, 4, 40000, 1'000'000'000ull);
    EXPECT_EQ(isn::compute(local, 4, 80, remote, 4, 40000, 1'000'000'000ull), a);
    EXPECT_EQ(isn::compute(local, 4, 80, remote, 4, 40000, 2'000'000'000ull) - a, 250'000u);
    // Another key (another boot): another sequence.
    isn::set_key(0x1235, 0x5678);
    EXPECT_NE(isn::compute(local, 4, 80, remote, 4, 40000, 1'000'000'000ull), a);
    // IPv6 addresses take part whole.
    uint8_t l6[16] = {0xfe, 0x80}, r6[16] = {0xfe, 0x80};
    const uint32_t b = isn::compute(l6, 16, 80, r6, 16, 40000, 0);
    r6[15] = 1;
    EXPECT_NE(isn::compute(l6, 16, 80, r6, 16, 40000, 0), b);
}

}  // namespace
}  // namespace skerry::net
