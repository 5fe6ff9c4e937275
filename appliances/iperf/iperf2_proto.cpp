#include "appliances/iperf/iperf2_proto.hpp"

#include "kernel/bytes.hpp"

namespace iperf::v2 {
namespace {

using skerry::bytes::be32;

// The header starting at p (client_hdr_v1, maybe client_hdrext), len bytes of it present.
Request parse(const uint8_t* p, size_t len, bool udp) {
    Request r;
    if (len < kHdrV1) return r;
    const uint32_t flags = be32(p);
    r.port = static_cast<uint16_t>(be32(p + 8) & 0xffff);
    r.buf_len = be32(p + 12);
    r.amount = static_cast<int32_t>(be32(p + 20));
    const uint8_t* ext = p + kHdrV1;
    if ((flags & kHeaderExtend) && len >= kHdrV1 + kHdrExtRate) {
        r.rate = be32(ext + 24) | (uint64_t{be32(ext + 28) >> 8} << 32);
    }
    if ((flags & kHeaderVersion1) && !(flags & kHeaderVersion2)) {
        r.back = (flags & kRunNow) ? Back::Dual : Back::TradeOff;
    } else if ((flags & kHeaderVersion2) && (flags & kHeaderExtend) && len >= kHdrV1 + kHdrExtUpper) {
        const uint16_t upper = static_cast<uint16_t>((ext[8] << 8) | ext[9]);
        if (upper & kUpperFullDuplex) {
            r.back = udp ? Back::None : Back::FullDuplex;  // UDP full duplex is not served
        } else if (upper & kUpperReverse) {
            r.back = Back::Reverse;
        }
    }
    return r;
}

}  // namespace

size_t tcp_header_size(uint32_t flags) {
    if (flags & (kHeaderExtend | kHeaderVersion2)) return kHdrV1 + kHdrExtUpper;
    if (flags & kHeaderVersion1) return kHdrV1;
    return 4;
}

Request parse_tcp(const uint8_t* p, size_t len) { return parse(p, len, false); }

Request parse_udp(const uint8_t* p, size_t len) {
    if (len < kUdpSeqHeader) return Request{};
    return parse(p + kUdpSeqHeader, len - kUdpSeqHeader, true);
}

SendPlan send_plan(int32_t amount, int64_t max_hundredths) {
    SendPlan s;
    int64_t a = amount == 0 ? -1000 : amount;  // no amount: 10 s
    if (a > 0) {
        s.limit_bytes = static_cast<uint64_t>(a);
        s.duration_ns = static_cast<uint64_t>(max_hundredths) * 10'000'000ull;
        return s;
    }
    if (-a > max_hundredths) a = -max_hundredths;
    s.duration_ns = static_cast<uint64_t>(-a) * 10'000'000ull;
    return s;
}

}  // namespace iperf::v2
