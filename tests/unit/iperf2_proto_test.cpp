// iperf2's test request: headers laid out as Debian's iperf 2.1.8 client writes them (include/payloads.h,
// Settings_GenerateClientHdr), and damaged ones.
#include <gtest/gtest.h>
#include <stdint.h>

#include <vector>

#include "appliances/iperf/iperf2_proto.hpp"

namespace v2 = iperf::v2;

namespace {

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
    if (b.size() < at + 4) b.resize(at + 4);
    b[at] = static_cast<uint8_t>(v >> 24);
    b[at + 1] = static_cast<uint8_t>(v >> 16);
    b[at + 2] = static_cast<uint8_t>(v >> 8);
    b[at + 3] = static_cast<uint8_t>(v);
}

// client_hdr_v1 + client_hdrext (36 + 24 bytes), at `at` in b.
std::vector<uint8_t> header(uint32_t flags, uint16_t upper, uint32_t port, int32_t amount, uint64_t rate = 0,
                            uint32_t buf_len = 0, size_t at = 0) {
    std::vector<uint8_t> b(at + 60, 0);
    put32(b, at, flags);
    put32(b, at + 4, 1);  // threads
    put32(b, at + 8, port);
    put32(b, at + 12, buf_len);
    put32(b, at + 20, static_cast<uint32_t>(amount));
    put32(b, at + 24 + 8, uint32_t{upper} << 16);  // upper flags, then lower flags
    put32(b, at + 24 + 12, 0x00020100);            // version
    put32(b, at + 24 + 24, static_cast<uint32_t>(rate));
    put32(b, at + 24 + 28, static_cast<uint32_t>(rate >> 32) << 8);
    return b;
}

constexpr uint32_t kLenBit = 0x00010000;  // HEADER_LEN_BIT, with the length in the bits below (ignored here)

}  // namespace

TEST(Iperf2Proto, TcpHeaderSizeFromFlags) {
    EXPECT_EQ(v2::tcp_header_size(0), 4u);           // no header: data from the first byte
    EXPECT_EQ(v2::tcp_header_size(0x30313233), 4u);  // an old client's "0123..." data pattern
    EXPECT_EQ(v2::tcp_header_size(v2::kHeaderVersion1), 24u);
    EXPECT_EQ(v2::tcp_header_size(v2::kHeaderVersion1 | v2::kRunNow), 24u);
    EXPECT_EQ(v2::tcp_header_size(v2::kHeaderExtend | kLenBit | (60 << 1)), 36u);
    EXPECT_EQ(v2::tcp_header_size(v2::kHeaderVersion2 | v2::kHeaderExtend), 36u);
}

TEST(Iperf2Proto, TcpPlainTestAsksNothingBack) {
    const auto b = header(v2::kHeaderExtend | kLenBit | (60 << 1), 0, 5001, -200);
    const v2::Request r = v2::parse_tcp(b.data(), b.size());
    EXPECT_EQ(r.back, v2::Back::None);
    EXPECT_EQ(r.amount, -200);  // 2 s
}

TEST(Iperf2Proto, TcpTradeOffAndDual) {
    auto b = header(v2::kHeaderVersion1 | v2::kHeaderExtend, 0, 15777, -100);
    v2::Request r = v2::parse_tcp(b.data(), b.size());
    EXPECT_EQ(r.back, v2::Back::TradeOff);
    EXPECT_EQ(r.port, 15777);
    EXPECT_EQ(r.amount, -100);
    b = header(v2::kHeaderVersion1 | v2::kRunNow | v2::kHeaderExtend, 0, 5001, 1000000);
    r = v2::parse_tcp(b.data(), b.size());
    EXPECT_EQ(r.back, v2::Back::Dual);
    EXPECT_EQ(r.amount, 1000000);  // bytes (-n)
    // a 2.0 client: client_hdr_v1 only
    r = v2::parse_tcp(b.data(), 24);
    EXPECT_EQ(r.back, v2::Back::Dual);
}

TEST(Iperf2Proto, TcpReverseAndFullDuplex) {
    const uint32_t f = v2::kHeaderVersion2 | v2::kHeaderExtend | kLenBit;
    auto b = header(f, v2::kUpperReverse, 5001, -200);
    EXPECT_EQ(v2::parse_tcp(b.data(), b.size()).back, v2::Back::Reverse);
    EXPECT_EQ(v2::parse_tcp(b.data(), 36).back, v2::Back::Reverse);
    b = header(f, v2::kUpperFullDuplex, 5001, -200);
    EXPECT_EQ(v2::parse_tcp(b.data(), b.size()).back, v2::Back::FullDuplex);
    b = header(f, v2::kUpperFullDuplex | v2::kUpperReverse, 5001, -200);
    EXPECT_EQ(v2::parse_tcp(b.data(), b.size()).back, v2::Back::FullDuplex);
    // VERSION2 wins over VERSION1 (as iperf2's listener reads it): no connect-back
    b = header(f | v2::kHeaderVersion1, 0, 5001, -200);
    EXPECT_EQ(v2::parse_tcp(b.data(), b.size()).back, v2::Back::None);
    // the upper flags need HEADER_EXTEND
    b = header(v2::kHeaderVersion2, v2::kUpperReverse, 5001, -200);
    EXPECT_EQ(v2::parse_tcp(b.data(), b.size()).back, v2::Back::None);
}

TEST(Iperf2Proto, TcpTruncatedHeaders) {
    const auto b = header(v2::kHeaderVersion2 | v2::kHeaderExtend, v2::kUpperReverse, 5001, -200);
    EXPECT_EQ(v2::parse_tcp(b.data(), 35).back, v2::Back::None);  // upper flags cut off
    EXPECT_EQ(v2::parse_tcp(b.data(), 23).back, v2::Back::None);
    EXPECT_EQ(v2::parse_tcp(b.data(), 0).back, v2::Back::None);
    EXPECT_EQ(v2::parse_tcp(nullptr, 0).back, v2::Back::None);
}

TEST(Iperf2Proto, UdpRequests) {
    // -u -d -b 10M -l 1200: sequence header, then the request; HEADER_SEQNO64B and friends are ignored
    auto b = header(v2::kHeaderVersion1 | v2::kRunNow | v2::kHeaderExtend | 0x08000000, 0, 15778, -100, 10000000, 1200,
                    v2::kUdpSeqHeader);
    b.resize(1200);
    v2::Request r = v2::parse_udp(b.data(), b.size());
    EXPECT_EQ(r.back, v2::Back::Dual);
    EXPECT_EQ(r.port, 15778);
    EXPECT_EQ(r.rate, 10000000u);
    EXPECT_EQ(r.buf_len, 1200u);
    // a rate above 4 Gbit/s: the upper 32 bits sit in the top 24 bits of the next word
    b = header(v2::kHeaderVersion1 | v2::kHeaderExtend, 0, 5001, -100, 0x500000000ull, 0, v2::kUdpSeqHeader);
    r = v2::parse_udp(b.data(), b.size());
    EXPECT_EQ(r.back, v2::Back::TradeOff);
    EXPECT_EQ(r.rate, 0x500000000ull);
    // 2.1 -u -R; UDP full duplex is not served
    b = header(v2::kHeaderVersion2 | v2::kHeaderExtend, v2::kUpperReverse, 5001, -100, 2000000, 0, v2::kUdpSeqHeader);
    EXPECT_EQ(v2::parse_udp(b.data(), b.size()).back, v2::Back::Reverse);
    b = header(v2::kHeaderVersion2 | v2::kHeaderExtend, v2::kUpperFullDuplex, 5001, -100, 0, 0, v2::kUdpSeqHeader);
    EXPECT_EQ(v2::parse_udp(b.data(), b.size()).back, v2::Back::None);
    // no extension: no rate
    b = header(v2::kHeaderVersion1, 0, 5001, -100, 0, 0, v2::kUdpSeqHeader);
    r = v2::parse_udp(b.data(), v2::kUdpSeqHeader + 24);
    EXPECT_EQ(r.back, v2::Back::TradeOff);
    EXPECT_EQ(r.rate, 0u);
    // too short to hold a request
    EXPECT_EQ(v2::parse_udp(b.data(), 15).back, v2::Back::None);
    EXPECT_EQ(v2::parse_udp(b.data(), v2::kUdpSeqHeader + 23).back, v2::Back::None);
}

TEST(Iperf2Proto, SendPlan) {
    v2::SendPlan p = v2::send_plan(0, 360000);  // no amount: iperf's 10 s
    EXPECT_EQ(p.limit_bytes, 0u);
    EXPECT_EQ(p.duration_ns, 10'000'000'000ull);
    p = v2::send_plan(-150, 360000);
    EXPECT_EQ(p.duration_ns, 1'500'000'000ull);
    p = v2::send_plan(5000, 360000);  // bytes, with the cap as the time limit
    EXPECT_EQ(p.limit_bytes, 5000u);
    EXPECT_EQ(p.duration_ns, 3'600'000'000'000ull);
    p = v2::send_plan(INT32_MIN, 360000);  // ~248 days asked: capped
    EXPECT_EQ(p.duration_ns, 3'600'000'000'000ull);
}

TEST(Iperf2Proto, ArbitraryBytesAreHarmless) {
    uint32_t x = 12345;
    for (int round = 0; round < 2000; ++round) {
        std::vector<uint8_t> b(static_cast<size_t>(round % 97));
        for (uint8_t& c : b) {
            x = x * 1103515245u + 12345u;
            c = static_cast<uint8_t>(x >> 24);
        }
        for (const v2::Request& r : {v2::parse_tcp(b.data(), b.size()), v2::parse_udp(b.data(), b.size())}) {
            EXPECT_LE(static_cast<int>(r.back), static_cast<int>(v2::Back::FullDuplex));
            if (r.back == v2::Back::None) continue;
            EXPECT_GE(b.size(), 24u);
        }
    }
}
