// NVSP and RNDIS message builders and parsers (see nvsp.hpp). Offsets: docs/protocols/netvsc-rndis.md §2.2, §5.1.
#include "drivers/nic/netvsc/nvsp.hpp"

#include <string.h>

#include "drivers/bus/vmbus/wire.hpp"

namespace skerry::netvsc {
namespace {

using namespace hv::wire;

size_t nvsp(uint8_t* buf, uint32_t type) {
    memset(buf, 0, kNvspMessageSize);
    put32(buf, type);
    return kNvspMessageSize;
}

Parse check(const uint8_t* m, size_t len, uint32_t type, size_t need) {
    if (m == nullptr || len < 4) return Parse::TooShort;
    if (get32(m) != type) return Parse::WrongType;
    return len < need ? Parse::TooShort : Parse::Ok;
}

// `off` bytes from `base`, `n` long, inside [0, total).
bool inside(uint64_t base, uint64_t off, uint64_t n, uint64_t total) { return base + off + n <= total; }

}  // namespace

size_t build_init(uint8_t* buf, uint32_t version) {
    nvsp(buf, kNvspInit);
    put32(buf + 4, version);  // min
    put32(buf + 8, version);  // max
    return kNvspMessageSize;
}

size_t build_ndis_config(uint8_t* buf, uint32_t mtu, uint64_t capabilities) {
    nvsp(buf, kNvspSendNdisConfig);
    put32(buf + 4, mtu);
    put64(buf + 12, capabilities);
    return kNvspMessageSize;
}

size_t build_ndis_version(uint8_t* buf, uint32_t major, uint32_t minor) {
    nvsp(buf, kNvspSendNdisVersion);
    put32(buf + 4, major);
    put32(buf + 8, minor);
    return kNvspMessageSize;
}

size_t build_send_recv_buf(uint8_t* buf, uint32_t gpadl, uint16_t id) {
    nvsp(buf, kNvspSendRecvBuf);
    put32(buf + 4, gpadl);
    put16(buf + 8, id);
    return kNvspMessageSize;
}

size_t build_send_send_buf(uint8_t* buf, uint32_t gpadl, uint16_t id) {
    nvsp(buf, kNvspSendSendBuf);
    put32(buf + 4, gpadl);
    put16(buf + 8, id);
    return kNvspMessageSize;
}

size_t build_revoke_recv_buf(uint8_t* buf, uint16_t id) {
    nvsp(buf, kNvspRevokeRecvBuf);
    put16(buf + 4, id);
    return kNvspMessageSize;
}

size_t build_revoke_send_buf(uint8_t* buf, uint16_t id) {
    nvsp(buf, kNvspRevokeSendBuf);
    put16(buf + 4, id);
    return kNvspMessageSize;
}

size_t build_rndis_packet(uint8_t* buf, uint32_t channel_type, uint32_t section_index, uint32_t section_size) {
    nvsp(buf, kNvspSendRndisPkt);
    put32(buf + 4, channel_type);
    put32(buf + 8, section_index);
    put32(buf + 12, section_size);
    return kNvspMessageSize;
}

size_t build_rndis_packet_complete(uint8_t* buf, uint32_t status) {
    put32(buf, kNvspSendRndisPktComplete);
    put32(buf + 4, status);
    return kNvspCompletionSize;
}

Parse parse_init_complete(const uint8_t* m, size_t len, InitComplete& out) {
    const Parse p = check(m, len, kNvspInitComplete, 16);
    if (p != Parse::Ok) return p;
    out = {get32(m + 4), get32(m + 8), get32(m + 12)};
    return Parse::Ok;
}

Parse parse_recv_buf_complete(const uint8_t* m, size_t len, RecvBufComplete& out) {
    Parse p = check(m, len, kNvspSendRecvBufComplete, 8);
    if (p != Parse::Ok) return p;
    out = RecvBufComplete{};
    out.status = get32(m + 4);
    if (out.status != kNvspStatusSuccess) return Parse::Ok;  // a refusal carries no section
    if (len < 28) return Parse::TooShort;
    out.num_sections = get32(m + 8);
    out.offset = get32(m + 12);
    out.sub_alloc_size = get32(m + 16);
    out.num_sub_allocs = get32(m + 20);
    out.end_offset = get32(m + 24);
    if (out.num_sections != 1 || out.offset != 0 || out.sub_alloc_size == 0 || out.num_sub_allocs == 0)
        return Parse::Invalid;
    if (static_cast<uint64_t>(out.sub_alloc_size) * out.num_sub_allocs > out.end_offset - uint64_t{out.offset})
        return Parse::Invalid;
    return Parse::Ok;
}

Parse parse_send_buf_complete(const uint8_t* m, size_t len, SendBufComplete& out) {
    const Parse p = check(m, len, kNvspSendSendBufComplete, 12);
    if (p != Parse::Ok) return p;
    out = {get32(m + 4), get32(m + 8)};
    if (out.status == kNvspStatusSuccess && out.section_size == 0) return Parse::Invalid;
    return Parse::Ok;
}

Parse parse_rndis_packet(const uint8_t* m, size_t len, RndisPacket& out) {
    const Parse p = check(m, len, kNvspSendRndisPkt, 16);
    if (p != Parse::Ok) return p;
    out = {get32(m + 4), get32(m + 8), get32(m + 12)};
    return out.channel_type > kNvspChannelControl ? Parse::Invalid : Parse::Ok;
}

Parse parse_rndis_packet_complete(const uint8_t* m, size_t len, uint32_t& status) {
    const Parse p = check(m, len, kNvspSendRndisPktComplete, 8);
    if (p != Parse::Ok) return p;
    status = get32(m + 4);
    return Parse::Ok;
}

// ------------------------------------------------------------------------------------------------ RNDIS

size_t build_rndis_init(uint8_t* buf, uint32_t request_id, uint32_t max_transfer) {
    memset(buf, 0, 24);
    put32(buf, kRndisInitializeMsg);
    put32(buf + 4, 24);
    put32(buf + 8, request_id);
    put32(buf + 12, 1);  // major
    put32(buf + 16, 0);  // minor
    put32(buf + 20, max_transfer);
    return 24;
}

size_t build_rndis_halt(uint8_t* buf, uint32_t request_id) {
    put32(buf, kRndisHaltMsg);
    put32(buf + 4, 12);
    put32(buf + 8, request_id);
    return 12;
}

size_t build_rndis_query(uint8_t* buf, uint32_t request_id, uint32_t oid) {
    memset(buf, 0, 28);
    put32(buf, kRndisQueryMsg);
    put32(buf + 4, 28);
    put32(buf + 8, request_id);
    put32(buf + 12, oid);
    put32(buf + 16, 0);   // information length
    put32(buf + 20, 20);  // information offset, from byte 8
    return 28;
}

size_t build_rndis_set(uint8_t* buf, uint32_t request_id, uint32_t oid, const void* info, uint32_t len) {
    memset(buf, 0, 28);
    put32(buf, kRndisSetMsg);
    put32(buf + 4, 28 + len);
    put32(buf + 8, request_id);
    put32(buf + 12, oid);
    put32(buf + 16, len);
    put32(buf + 20, 20);
    if (len != 0) memcpy(buf + 28, info, len);
    return 28 + len;
}

size_t build_rndis_keepalive_cmplt(uint8_t* buf, uint32_t request_id) {
    put32(buf, kRndisKeepaliveCmplt);
    put32(buf + 4, 16);
    put32(buf + 8, request_id);
    put32(buf + 12, kRndisStatusSuccess);
    return 16;
}

size_t build_rndis_packet_header(uint8_t* buf, uint32_t frame_len) {
    memset(buf, 0, kRndisPacketHeaderSize);  // uninitialised PPI/OOB fields make hosts drop frames
    put32(buf, kRndisPacketMsg);
    put32(buf + 4, kRndisPacketHeaderSize + frame_len);
    put32(buf + 8, kRndisPacketHeaderSize - 8);  // data offset, from byte 8
    put32(buf + 12, frame_len);
    return kRndisPacketHeaderSize;
}

Parse parse_rndis(const uint8_t* m, size_t len, RndisMessage& out) {
    out = RndisMessage{};
    if (m == nullptr || len < 8) return Parse::TooShort;
    out.type = get32(m);
    out.length = get32(m + 4);
    if (out.length < 8 || out.length > len) return Parse::TooShort;
    const uint32_t n = out.length;
    switch (out.type) {
    case kRndisPacketMsg: {
        if (n < kRndisPacketHeaderSize) return Parse::TooShort;
        const uint32_t off = get32(m + 8), dlen = get32(m + 12);
        const uint32_t ppi_off = get32(m + 28), ppi_len = get32(m + 32);
        if (dlen == 0 || !inside(8, off, dlen, n)) return Parse::Invalid;
        if (ppi_len != 0 && !inside(8, ppi_off, ppi_len, n)) return Parse::Invalid;
        out.info = m + 8 + off;
        out.info_len = dlen;
        return Parse::Ok;
    }
    case kRndisInitializeCmplt:
        if (n < 52) return Parse::TooShort;
        out.request_id = get32(m + 8);
        out.status = get32(m + 12);
        out.max_packets_per_message = get32(m + 32);
        out.max_transfer_size = get32(m + 36);
        out.packet_alignment_shift = get32(m + 40);
        return out.packet_alignment_shift > 12 ? Parse::Invalid : Parse::Ok;
    case kRndisQueryCmplt: {
        if (n < 24) return Parse::TooShort;
        out.request_id = get32(m + 8);
        out.status = get32(m + 12);
        const uint32_t ilen = get32(m + 16), ioff = get32(m + 20);
        if (ilen != 0) {
            if (!inside(8, ioff, ilen, n)) return Parse::Invalid;
            out.info = m + 8 + ioff;
            out.info_len = ilen;
        }
        return Parse::Ok;
    }
    case kRndisSetCmplt:
    case kRndisKeepaliveCmplt:
        if (n < 16) return Parse::TooShort;
        out.request_id = get32(m + 8);
        out.status = get32(m + 12);
        return Parse::Ok;
    case kRndisKeepaliveMsg:
        if (n < 12) return Parse::TooShort;
        out.request_id = get32(m + 8);
        return Parse::Ok;
    case kRndisIndicateStatusMsg: {
        if (n < 20) return Parse::TooShort;
        out.status = get32(m + 8);
        const uint32_t blen = get32(m + 12), boff = get32(m + 16);
        if (blen != 0) {
            if (!inside(8, boff, blen, n)) return Parse::Invalid;
            out.info = m + 8 + boff;
            out.info_len = blen;
        }
        return Parse::Ok;
    }
    default: return Parse::Invalid;
    }
}

}  // namespace skerry::netvsc
