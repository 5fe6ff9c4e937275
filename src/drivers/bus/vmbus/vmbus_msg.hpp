// VMBus channel messages (the control protocol carried in HvPostMessage / SynIC SINT2 messages): message types,
// protocol versions, builders for what the guest sends and strict parsers for what the host sends.
//
// Messages are built into and parsed from byte buffers with explicit little-endian field access at the offsets of
// docs/protocols/hyperv-vmbus.md §5-§6, so no packed structs and no alignment assumptions (the GPADL header's
// first PFN sits at the unaligned offset 28). Every parser checks the size the host claimed against the size the
// message needs; nothing reads past `len`.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::vmbus {

constexpr size_t kMaxMessageSize = 240;  // HvPostMessage payload limit, channel message header included
constexpr size_t kHeaderSize = 8;        // u32 message type, u32 padding

enum MessageType : uint32_t {
    kMsgInvalid = 0,
    kMsgOfferChannel = 1,
    kMsgRescindChannelOffer = 2,
    kMsgRequestOffers = 3,
    kMsgAllOffersDelivered = 4,
    kMsgOpenChannel = 5,
    kMsgOpenChannelResult = 6,
    kMsgCloseChannel = 7,
    kMsgGpadlHeader = 8,
    kMsgGpadlBody = 9,
    kMsgGpadlCreated = 10,
    kMsgGpadlTeardown = 11,
    kMsgGpadlTorndown = 12,
    kMsgRelidReleased = 13,
    kMsgInitiateContact = 14,
    kMsgVersionResponse = 15,
    kMsgUnload = 16,
    kMsgUnloadResponse = 17,
    kMsgTlConnectRequest = 21,
    kMsgModifyChannel = 22,
    kMsgTlConnectResult = 23,
    kMsgModifyChannelResponse = 24,
};
const char* message_type_name(uint32_t type);

// Sizes (header included) of the fixed-size messages.
constexpr size_t kSizeOfferChannel = 196;
constexpr size_t kSizeRescind = 12;
constexpr size_t kSizeRequestOffers = 8;
constexpr size_t kSizeAllOffersDelivered = 8;
constexpr size_t kSizeOpenChannel = 148;
constexpr size_t kSizeOpenChannelResult = 20;
constexpr size_t kSizeCloseChannel = 12;
constexpr size_t kSizeGpadlHeaderFixed = 20;  // + 8 per range + 8 per PFN
constexpr size_t kSizeGpadlBodyFixed = 16;    // + 8 per PFN
constexpr size_t kSizeGpadlCreated = 20;
constexpr size_t kSizeGpadlTeardown = 16;
constexpr size_t kSizeGpadlTorndown = 12;
constexpr size_t kSizeRelidReleased = 12;
constexpr size_t kSizeInitiateContact = 40;
constexpr size_t kSizeVersionResponse = 16;
constexpr size_t kSizeUnload = 8;
constexpr size_t kSizeUnloadResponse = 8;
// The least a host->guest message of `type` must carry; 0 for types a guest never receives.
size_t min_host_message_size(uint32_t type);

// ------------------------------------------------------------------------------------------------ versions
constexpr uint32_t make_version(uint16_t major, uint16_t minor) { return (static_cast<uint32_t>(major) << 16) | minor; }
constexpr uint32_t kVersionWs2008 = make_version(0, 13);
constexpr uint32_t kVersionWin7 = make_version(1, 1);
constexpr uint32_t kVersionWin8 = make_version(2, 4);
constexpr uint32_t kVersionWin81 = make_version(3, 0);
constexpr uint32_t kVersionWin10 = make_version(4, 0);
constexpr uint32_t kVersionWin10V41 = make_version(4, 1);
constexpr uint32_t kVersionWin10V5 = make_version(5, 0);
constexpr uint32_t kVersionWin10V51 = make_version(5, 1);
constexpr uint32_t kVersionWin10V52 = make_version(5, 2);
constexpr uint32_t kVersionWin10V53 = make_version(5, 3);
constexpr uint32_t kVersionCopper = make_version(6, 0);

// What the guest offers, newest first. 6.0 is left out: it needs the 56-byte INITIATE_CONTACT with a client id
// and feature negotiation. Below 2.4 the host signals through the interrupt page only, which we do not support.
constexpr uint32_t kGuestVersions[] = {kVersionWin10V53, kVersionWin10V52, kVersionWin10V51, kVersionWin10V5,
                                       kVersionWin10V41, kVersionWin10,    kVersionWin81,    kVersionWin8};
constexpr size_t kGuestVersionCount = sizeof(kGuestVersions) / sizeof(kGuestVersions[0]);
// The next lower version to try after `version` was refused, or 0 when the list is exhausted. After an
// INVALID_CONNECTION_ID for a 5.x attempt (an old host) pass skip_v5 = true to go straight to 4.1.
uint32_t next_version(uint32_t version, bool skip_v5 = false);

// Connection ids.
constexpr uint32_t kConnIdMessage = 1;  // messages, versions < 5.0
constexpr uint32_t kConnIdEvent = 2;    // pre-Win7 channel signals
constexpr uint32_t kConnIdMonitor = 3;
constexpr uint32_t kConnIdInitiateContactV5 = 4;  // INITIATE_CONTACT for versions >= 5.0
constexpr uint32_t initiate_contact_connection_id(uint32_t version) {
    return version >= kVersionWin10V5 ? kConnIdInitiateContactV5 : kConnIdMessage;
}
constexpr uint8_t kVmbusMessageSint = 2;

// ------------------------------------------------------------------------------------------------ GUIDs
// Wire encoding: first three groups little-endian, the last eight bytes as written.
struct Guid {
    uint8_t b[16];
    bool operator==(const Guid& o) const {
        for (int i = 0; i < 16; ++i)
            if (b[i] != o.b[i]) return false;
        return true;
    }
};
constexpr Guid make_guid(uint32_t a, uint16_t b, uint16_t c, uint64_t d) {
    return Guid{{static_cast<uint8_t>(a), static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a >> 16),
                 static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(b), static_cast<uint8_t>(b >> 8),
                 static_cast<uint8_t>(c), static_cast<uint8_t>(c >> 8), static_cast<uint8_t>(d >> 56),
                 static_cast<uint8_t>(d >> 48), static_cast<uint8_t>(d >> 40), static_cast<uint8_t>(d >> 32),
                 static_cast<uint8_t>(d >> 24), static_cast<uint8_t>(d >> 16), static_cast<uint8_t>(d >> 8),
                 static_cast<uint8_t>(d)}};
}
// f8615163-df3e-46c5-913f-f2d2f965ed0e
constexpr Guid kNetvscClass = make_guid(0xf8615163, 0xdf3e, 0x46c5, 0x913ff2d2f965ed0eull);

// ------------------------------------------------------------------------------------------------ guest -> host
struct ContactParams {
    uint32_t version = 0;
    uint32_t target_vcpu = 0;
    uint64_t interrupt_page = 0;           // versions < 5.0
    uint8_t msg_sint = kVmbusMessageSint;  // versions >= 5.0
    uint64_t monitor_page1 = 0;            // parent -> child; both monitor pages or neither
    uint64_t monitor_page2 = 0;            // child -> parent
};
// Each builder writes into `buf` (at least kMaxMessageSize bytes) and returns the message size, or 0 when the
// arguments cannot make a valid message.
size_t build_initiate_contact(uint8_t* buf, const ContactParams& p);
size_t build_request_offers(uint8_t* buf);
size_t build_open_channel(uint8_t* buf, uint32_t relid, uint32_t open_id, uint32_t ring_gpadl, uint32_t target_vp,
                          uint32_t downstream_ring_pages, const void* user_data = nullptr, size_t user_len = 0);
size_t build_close_channel(uint8_t* buf, uint32_t relid);
size_t build_gpadl_teardown(uint8_t* buf, uint32_t relid, uint32_t gpadl);
size_t build_relid_released(uint8_t* buf, uint32_t relid);
size_t build_unload(uint8_t* buf);

// GPADL with one range (the only form anyone uses): byte_count bytes starting byte_offset into the first page.
struct GpadlRange {
    uint32_t byte_count = 0;
    uint32_t byte_offset = 0;  // < 4096
    const uint64_t* pfns = nullptr;
    size_t pfn_count = 0;  // must be ceil((byte_offset + byte_count) / 4096)
};
constexpr size_t kGpadlHeaderMaxPfns = (kMaxMessageSize - kSizeGpadlHeaderFixed - 8) / 8;  // 26
constexpr size_t kGpadlBodyMaxPfns = (kMaxMessageSize - kSizeGpadlBodyFixed) / 8;          // 28
static_assert(kGpadlHeaderMaxPfns == 26 && kGpadlBodyMaxPfns == 28);
constexpr size_t kGpadlMaxPfns = (0xFFFF - 8) / 8;  // range_buflen is a u16
bool gpadl_range_valid(const GpadlRange& r);
// Messages needed: one GPADL_HEADER and as many GPADL_BODY as the remaining PFNs need. 0 if the range is invalid.
size_t gpadl_message_count(const GpadlRange& r);
// Message `index` (0 = header, 1.. = bodies) of the GPADL, sent back-to-back in order. Returns its size or 0.
size_t build_gpadl_message(uint8_t* buf, size_t index, uint32_t relid, uint32_t handle, const GpadlRange& r);

// ------------------------------------------------------------------------------------------------ host -> guest
enum class ParseResult : uint8_t { Ok = 0, TooShort, TooLong, WrongType, Invalid };
const char* parse_result_name(ParseResult r);

// The message type; TooShort under 8 bytes, TooLong over 240, Invalid for unknown types or a message shorter than
// its type needs (min_host_message_size).
ParseResult parse_header(const uint8_t* msg, size_t len, uint32_t& type);

constexpr uint32_t kMaxRelid = 2047;  // relids index the 2048-bit event-flag bitmap

struct Offer {
    Guid interface_type;
    Guid interface_instance;
    uint16_t flags;
    uint16_t mmio_megabytes;
    uint8_t user_defined[120];
    uint16_t sub_channel_index;
    uint32_t child_relid;
    uint8_t monitor_id;
    bool monitor_allocated;
    bool dedicated_interrupt;
    uint32_t connection_id;
};
ParseResult parse_offer(const uint8_t* msg, size_t len, Offer& out);  // relid must be 1..2047

struct VersionResponse {
    bool supported;
    uint8_t connection_state;  // 0 ok, 1 low resources, 2 unknown failure
    uint32_t msg_conn_id;      // versions >= 5.0
};
ParseResult parse_version_response(const uint8_t* msg, size_t len, VersionResponse& out);

struct OpenResult {
    uint32_t child_relid, open_id, status;
};
ParseResult parse_open_result(const uint8_t* msg, size_t len, OpenResult& out);

struct GpadlCreated {
    uint32_t child_relid, gpadl, status;
};
ParseResult parse_gpadl_created(const uint8_t* msg, size_t len, GpadlCreated& out);
ParseResult parse_gpadl_torndown(const uint8_t* msg, size_t len, uint32_t& gpadl);
ParseResult parse_rescind(const uint8_t* msg, size_t len, uint32_t& relid);

}  // namespace skerry::vmbus
