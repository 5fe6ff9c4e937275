// iperf2's test request, as the 2.x client puts it at the start of a TCP stream or of every UDP datagram:
// pure parsing, host-testable. All fields are big endian.
//
// TCP: client_hdr_v1 (24 bytes: flags, threads, port, buffer length, window or rate, amount), then from
// 2.0.13 on, with HEADER_EXTEND, client_hdrext (type, length, 16-bit upper and lower flags, version,
// reserved/TOS, rate low and high, ...). UDP: the same after the 16-byte sequence header (id, seconds,
// microseconds, id2). A header asks for traffic back:
// - HEADER_VERSION1 without HEADER_VERSION2: a 2.0-style -r (trade-off) or, with RUN_NOW, -d (dual) test:
//   the server connects to the client's address at `port`;
// - HEADER_VERSION2 and HEADER_EXTEND with upper flag REVERSE (2.1 -R) or FULLDUPLEX (--full-duplex): the
//   server sends on the client's own connection (TCP) or to the client's own socket (UDP, -R).
// `amount`: bytes when positive, hundredths of a second when negative (iperf's time mode), 0 when not given.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iperf::v2 {

constexpr uint32_t kHeaderVersion1 = 0x80000000u;
constexpr uint32_t kHeaderExtend = 0x40000000u;
constexpr uint32_t kHeaderVersion2 = 0x04000000u;
constexpr uint32_t kRunNow = 0x00000001u;
constexpr uint16_t kUpperReverse = 0x0400;
constexpr uint16_t kUpperFullDuplex = 0x0800;

constexpr size_t kUdpSeqHeader = 16;  // id, seconds, microseconds, id2
constexpr size_t kHdrV1 = 24;         // client_hdr_v1
constexpr size_t kHdrExtUpper = 12;   // client_hdrext up to its flags (type, length, upper, lower)
constexpr size_t kHdrExtRate = 32;    // ... and up to its rate (version, reserved/TOS, rate low, rate high)
constexpr uint32_t kDefaultUdpLen = 1470;
constexpr uint64_t kDefaultUdpRate = 1000000;  // bits/s

enum class Back : uint8_t { None, TradeOff, Dual, Reverse, FullDuplex };

struct Request {
    Back back = Back::None;
    uint16_t port = 0;  // TradeOff/Dual: the client's listener port
    int32_t amount = 0;
    uint32_t buf_len = 0;  // 0: the client's default
    uint64_t rate = 0;     // bits/s from client_hdrext; 0: not given
};

// TCP: how many leading bytes make the header, known from its first 4 (the flags): 4 when there is no header
// (plain data, an old client), else the part this server reads.
size_t tcp_header_size(uint32_t flags);
// The request in the first `len` bytes of a TCP stream (len >= tcp_header_size(flags) for a complete answer;
// fewer give what they hold).
Request parse_tcp(const uint8_t* p, size_t len);
// The request in one UDP datagram (any length; short ones give Back::None).
Request parse_udp(const uint8_t* p, size_t len);

// The end of a send-back: `limit_bytes` when the amount is bytes, else `duration_ns` (no amount: iperf's 10 s),
// capped at `max_hundredths`.
struct SendPlan {
    uint64_t limit_bytes = 0;
    uint64_t duration_ns = 0;
};
SendPlan send_plan(int32_t amount, int64_t max_hundredths);

}  // namespace iperf::v2
