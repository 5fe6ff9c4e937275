// netvsc wire formats: NVSP (the network VSP protocol inside VMBus packets) and RNDIS (inside NVSP 107 messages).
// Builders for what the guest sends, strict parsers for what the host sends, all with explicit little-endian
// offsets from docs/protocols/netvsc-rndis.md §2 and §5. Pure functions: no driver state, nothing runs unless called.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::netvsc {

// ------------------------------------------------------------------------------------------------ NVSP
constexpr uint32_t kNvspV1 = 0x00000002;
constexpr uint32_t kNvspV2 = 0x00030002;
constexpr uint32_t kNvspV4 = 0x00040000;
constexpr uint32_t kNvspV5 = 0x00050000;
constexpr uint32_t kNvspV6 = 0x00060000;
constexpr uint32_t kNvspV61 = 0x00060001;
constexpr uint32_t kNvspVersions[] = {kNvspV61, kNvspV6, kNvspV5, kNvspV4, kNvspV2, kNvspV1};  // newest first
constexpr size_t kNvspVersionCount = sizeof(kNvspVersions) / sizeof(kNvspVersions[0]);
// NDIS version to announce: 6.1 up to NVSP 4, else 6.30.
constexpr uint32_t ndis_minor_for(uint32_t nvsp) { return nvsp <= kNvspV4 ? 1 : 30; }

constexpr uint32_t kNvspInit = 1;
constexpr uint32_t kNvspInitComplete = 2;
constexpr uint32_t kNvspSendNdisVersion = 100;
constexpr uint32_t kNvspSendRecvBuf = 101;
constexpr uint32_t kNvspSendRecvBufComplete = 102;
constexpr uint32_t kNvspRevokeRecvBuf = 103;
constexpr uint32_t kNvspSendSendBuf = 104;
constexpr uint32_t kNvspSendSendBufComplete = 105;
constexpr uint32_t kNvspRevokeSendBuf = 106;
constexpr uint32_t kNvspSendRndisPkt = 107;
constexpr uint32_t kNvspSendRndisPktComplete = 108;
constexpr uint32_t kNvspSendNdisConfig = 125;

constexpr uint32_t kNvspStatusSuccess = 1;
constexpr uint32_t kNvspStatusFailed = 2;
constexpr uint32_t kNvspChannelData = 0;
constexpr uint32_t kNvspChannelControl = 1;
constexpr uint32_t kNvspNoSection = 0xFFFFFFFF;
constexpr uint64_t kNdisCapIeee8021q = 1ull << 3;

constexpr size_t kNvspMessageSize = 40;  // what the guest sends (zero padded), as Linux does
constexpr size_t kNvspCompletionSize = 8;

// Builders write into `buf` (>= kNvspMessageSize bytes) and return the size sent.
size_t build_init(uint8_t* buf, uint32_t version);
size_t build_ndis_config(uint8_t* buf, uint32_t mtu, uint64_t capabilities);
size_t build_ndis_version(uint8_t* buf, uint32_t major, uint32_t minor);
size_t build_send_recv_buf(uint8_t* buf, uint32_t gpadl, uint16_t id);
size_t build_send_send_buf(uint8_t* buf, uint32_t gpadl, uint16_t id);
size_t build_revoke_recv_buf(uint8_t* buf, uint16_t id);
size_t build_revoke_send_buf(uint8_t* buf, uint16_t id);
size_t build_rndis_packet(uint8_t* buf, uint32_t channel_type, uint32_t section_index, uint32_t section_size);
size_t build_rndis_packet_complete(uint8_t* buf, uint32_t status);  // 8 bytes: never an empty completion

enum class Parse : uint8_t { Ok = 0, TooShort, WrongType, Invalid };

struct InitComplete {
    uint32_t negotiated, max_mdl_chain, status;
};
Parse parse_init_complete(const uint8_t* m, size_t len, InitComplete& out);

struct RecvBufComplete {
    uint32_t status, num_sections, offset, sub_alloc_size, num_sub_allocs, end_offset;
};
// Status success requires exactly one section at offset 0 with sub-allocations that fit in end_offset.
Parse parse_recv_buf_complete(const uint8_t* m, size_t len, RecvBufComplete& out);

struct SendBufComplete {
    uint32_t status, section_size;
};
Parse parse_send_buf_complete(const uint8_t* m, size_t len, SendBufComplete& out);

struct RndisPacket {
    uint32_t channel_type, section_index, section_size;
};
Parse parse_rndis_packet(const uint8_t* m, size_t len, RndisPacket& out);
Parse parse_rndis_packet_complete(const uint8_t* m, size_t len, uint32_t& status);

// ------------------------------------------------------------------------------------------------ RNDIS
constexpr uint32_t kRndisPacketMsg = 0x00000001;
constexpr uint32_t kRndisInitializeMsg = 0x00000002;
constexpr uint32_t kRndisHaltMsg = 0x00000003;
constexpr uint32_t kRndisQueryMsg = 0x00000004;
constexpr uint32_t kRndisSetMsg = 0x00000005;
constexpr uint32_t kRndisIndicateStatusMsg = 0x00000007;
constexpr uint32_t kRndisKeepaliveMsg = 0x00000008;
constexpr uint32_t kRndisInitializeCmplt = 0x80000002;
constexpr uint32_t kRndisQueryCmplt = 0x80000004;
constexpr uint32_t kRndisSetCmplt = 0x80000005;
constexpr uint32_t kRndisKeepaliveCmplt = 0x80000008;

constexpr uint32_t kOidPermanentAddress = 0x01010101;
constexpr uint32_t kOidCurrentAddress = 0x01010102;
constexpr uint32_t kOidMaximumFrameSize = 0x00010106;
constexpr uint32_t kOidLinkSpeed = 0x00010107;
constexpr uint32_t kOidCurrentPacketFilter = 0x0001010E;
constexpr uint32_t kOidMaximumTotalSize = 0x00010111;
constexpr uint32_t kOidMediaConnectStatus = 0x00010114;

constexpr uint32_t kFilterDirected = 0x01, kFilterMulticast = 0x02, kFilterAllMulticast = 0x04;
constexpr uint32_t kFilterBroadcast = 0x08, kFilterPromiscuous = 0x20;
constexpr uint32_t kStatusMediaConnect = 0x4001000B;
constexpr uint32_t kStatusMediaDisconnect = 0x4001000C;
constexpr uint32_t kRndisStatusSuccess = 0;

constexpr size_t kRndisPacketHeaderSize = 44;

size_t build_rndis_init(uint8_t* buf, uint32_t request_id, uint32_t max_transfer);  // 24 bytes
size_t build_rndis_halt(uint8_t* buf, uint32_t request_id);                         // 12 bytes
size_t build_rndis_query(uint8_t* buf, uint32_t request_id, uint32_t oid);          // 28 bytes
// SET with `len` bytes of information at offset 28 (buf must hold 28 + len).
size_t build_rndis_set(uint8_t* buf, uint32_t request_id, uint32_t oid, const void* info, uint32_t len);
size_t build_rndis_keepalive_cmplt(uint8_t* buf, uint32_t request_id);  // 16 bytes
// The 44-byte PACKET_MSG header for a frame of `frame_len` bytes placed right after it (no PPI, no OOB).
size_t build_rndis_packet_header(uint8_t* buf, uint32_t frame_len);

// A host RNDIS message, validated: the length field within `len`, every offset/length pair inside the message.
struct RndisMessage {
    uint32_t type = 0;
    uint32_t length = 0;            // from the header (the transfer range may be longer)
    uint32_t request_id = 0;        // completions
    uint32_t status = 0;            // completions and INDICATE_STATUS
    const uint8_t* info = nullptr;  // QUERY_CMPLT information / INDICATE_STATUS buffer / PACKET_MSG frame
    uint32_t info_len = 0;
    // INITIALIZE_CMPLT
    uint32_t max_packets_per_message = 0, max_transfer_size = 0, packet_alignment_shift = 0;
};
Parse parse_rndis(const uint8_t* m, size_t len, RndisMessage& out);

}  // namespace skerry::netvsc
