// VMBus channel message builders and parsers (see vmbus_msg.hpp). Offsets: docs/protocols/hyperv-vmbus.md §5-§6.
#include "drivers/bus/vmbus/vmbus_msg.hpp"

#include <string.h>

#include "drivers/bus/vmbus/wire.hpp"

namespace skerry::vmbus {
namespace {

using namespace hv::wire;

size_t start(uint8_t* buf, uint32_t type, size_t size) {
    memset(buf, 0, size);
    put32(buf, type);
    return size;
}

// Common checks for a host message of `type` that needs `need` bytes.
ParseResult check(const uint8_t* msg, size_t len, uint32_t type, size_t need) {
    if (msg == nullptr || len < kHeaderSize) return ParseResult::TooShort;
    if (len > kMaxMessageSize) return ParseResult::TooLong;
    if (get32(msg) != type) return ParseResult::WrongType;
    if (len < need) return ParseResult::TooShort;
    return ParseResult::Ok;
}

}  // namespace

const char* message_type_name(uint32_t type) {
    switch (type) {
    case kMsgOfferChannel: return "OFFERCHANNEL";
    case kMsgRescindChannelOffer: return "RESCIND_CHANNELOFFER";
    case kMsgRequestOffers: return "REQUESTOFFERS";
    case kMsgAllOffersDelivered: return "ALLOFFERS_DELIVERED";
    case kMsgOpenChannel: return "OPENCHANNEL";
    case kMsgOpenChannelResult: return "OPENCHANNEL_RESULT";
    case kMsgCloseChannel: return "CLOSECHANNEL";
    case kMsgGpadlHeader: return "GPADL_HEADER";
    case kMsgGpadlBody: return "GPADL_BODY";
    case kMsgGpadlCreated: return "GPADL_CREATED";
    case kMsgGpadlTeardown: return "GPADL_TEARDOWN";
    case kMsgGpadlTorndown: return "GPADL_TORNDOWN";
    case kMsgRelidReleased: return "RELID_RELEASED";
    case kMsgInitiateContact: return "INITIATE_CONTACT";
    case kMsgVersionResponse: return "VERSION_RESPONSE";
    case kMsgUnload: return "UNLOAD";
    case kMsgUnloadResponse: return "UNLOAD_RESPONSE";
    case kMsgTlConnectRequest: return "TL_CONNECT_REQUEST";
    case kMsgModifyChannel: return "MODIFYCHANNEL";
    case kMsgTlConnectResult: return "TL_CONNECT_RESULT";
    case kMsgModifyChannelResponse: return "MODIFYCHANNEL_RESPONSE";
    }
    return "unknown";
}

const char* parse_result_name(ParseResult r) {
    switch (r) {
    case ParseResult::Ok: return "ok";
    case ParseResult::TooShort: return "too short";
    case ParseResult::TooLong: return "too long";
    case ParseResult::WrongType: return "wrong type";
    case ParseResult::Invalid: return "invalid";
    }
    return "?";
}

size_t min_host_message_size(uint32_t type) {
    switch (type) {
    case kMsgOfferChannel: return kSizeOfferChannel;
    case kMsgRescindChannelOffer: return kSizeRescind;
    case kMsgAllOffersDelivered: return kSizeAllOffersDelivered;
    case kMsgOpenChannelResult: return kSizeOpenChannelResult;
    case kMsgGpadlCreated: return kSizeGpadlCreated;
    case kMsgGpadlTorndown: return kSizeGpadlTorndown;
    case kMsgVersionResponse: return kSizeVersionResponse;
    case kMsgUnloadResponse: return kSizeUnloadResponse;
    case kMsgTlConnectResult: return 44;
    case kMsgModifyChannelResponse: return 16;
    }
    return 0;
}

uint32_t next_version(uint32_t version, bool skip_v5) {
    for (size_t i = 0; i < kGuestVersionCount; ++i) {
        if (kGuestVersions[i] != version) continue;
        for (size_t j = i + 1; j < kGuestVersionCount; ++j)
            if (!skip_v5 || kGuestVersions[j] < kVersionWin10V5) return kGuestVersions[j];
        return 0;
    }
    return 0;
}

size_t build_initiate_contact(uint8_t* buf, const ContactParams& p) {
    if ((p.monitor_page1 == 0) != (p.monitor_page2 == 0)) return 0;  // both or neither
    start(buf, kMsgInitiateContact, kSizeInitiateContact);
    put32(buf + 8, p.version);
    put32(buf + 12, p.target_vcpu);
    if (p.version >= kVersionWin10V5) {
        buf[16] = p.msg_sint;  // 17 msg_vtl 0, 18..19 reserved, 20..23 feature flags (6.0 only)
    } else {
        put64(buf + 16, p.interrupt_page);
    }
    put64(buf + 24, p.monitor_page1);
    put64(buf + 32, p.monitor_page2);
    return kSizeInitiateContact;
}

size_t build_request_offers(uint8_t* buf) { return start(buf, kMsgRequestOffers, kSizeRequestOffers); }

size_t build_unload(uint8_t* buf) { return start(buf, kMsgUnload, kSizeUnload); }

size_t build_open_channel(uint8_t* buf, uint32_t relid, uint32_t open_id, uint32_t ring_gpadl, uint32_t target_vp,
                          uint32_t downstream_ring_pages, const void* user_data, size_t user_len) {
    if (relid == 0 || ring_gpadl == 0 || downstream_ring_pages < 2 || user_len > 120) return 0;
    if (user_len != 0 && user_data == nullptr) return 0;
    start(buf, kMsgOpenChannel, kSizeOpenChannel);
    put32(buf + 8, relid);
    put32(buf + 12, open_id);
    put32(buf + 16, ring_gpadl);
    put32(buf + 20, target_vp);
    put32(buf + 24, downstream_ring_pages);
    if (user_len != 0) memcpy(buf + 28, user_data, user_len);
    return kSizeOpenChannel;
}

size_t build_close_channel(uint8_t* buf, uint32_t relid) {
    start(buf, kMsgCloseChannel, kSizeCloseChannel);
    put32(buf + 8, relid);
    return kSizeCloseChannel;
}

size_t build_gpadl_teardown(uint8_t* buf, uint32_t relid, uint32_t gpadl) {
    start(buf, kMsgGpadlTeardown, kSizeGpadlTeardown);
    put32(buf + 8, relid);
    put32(buf + 12, gpadl);
    return kSizeGpadlTeardown;
}

size_t build_relid_released(uint8_t* buf, uint32_t relid) {
    start(buf, kMsgRelidReleased, kSizeRelidReleased);
    put32(buf + 8, relid);
    return kSizeRelidReleased;
}

bool gpadl_range_valid(const GpadlRange& r) {
    if (r.byte_count == 0 || r.byte_offset >= 4096 || r.pfns == nullptr) return false;
    const uint64_t pages = (static_cast<uint64_t>(r.byte_offset) + r.byte_count + 4095) / 4096;
    return pages == r.pfn_count && r.pfn_count <= kGpadlMaxPfns;
}

size_t gpadl_message_count(const GpadlRange& r) {
    if (!gpadl_range_valid(r)) return 0;
    if (r.pfn_count <= kGpadlHeaderMaxPfns) return 1;
    return 1 + (r.pfn_count - kGpadlHeaderMaxPfns + kGpadlBodyMaxPfns - 1) / kGpadlBodyMaxPfns;
}

size_t build_gpadl_message(uint8_t* buf, size_t index, uint32_t relid, uint32_t handle, const GpadlRange& r) {
    const size_t count = gpadl_message_count(r);
    if (count == 0 || index >= count || handle == 0) return 0;
    if (index == 0) {
        const size_t n = r.pfn_count < kGpadlHeaderMaxPfns ? r.pfn_count : kGpadlHeaderMaxPfns;
        const size_t size = kSizeGpadlHeaderFixed + 8 + 8 * n;
        start(buf, kMsgGpadlHeader, size);
        put32(buf + 8, relid);
        put32(buf + 12, handle);
        put16(buf + 16, static_cast<uint16_t>(8 + 8 * r.pfn_count));  // range_buflen covers every PFN
        put16(buf + 18, 1);                                           // rangecount
        put32(buf + 20, r.byte_count);
        put32(buf + 24, r.byte_offset);
        for (size_t i = 0; i < n; ++i) put64(buf + 28 + 8 * i, r.pfns[i]);
        return size;
    }
    const size_t first = kGpadlHeaderMaxPfns + (index - 1) * kGpadlBodyMaxPfns;
    const size_t left = r.pfn_count - first;
    const size_t n = left < kGpadlBodyMaxPfns ? left : kGpadlBodyMaxPfns;
    const size_t size = kSizeGpadlBodyFixed + 8 * n;
    start(buf, kMsgGpadlBody, size);
    put32(buf + 8, 0);  // msgnumber: unused, 0
    put32(buf + 12, handle);
    for (size_t i = 0; i < n; ++i) put64(buf + 16 + 8 * i, r.pfns[first + i]);
    return size;
}

ParseResult parse_header(const uint8_t* msg, size_t len, uint32_t& type) {
    type = kMsgInvalid;
    if (msg == nullptr || len < kHeaderSize) return ParseResult::TooShort;
    if (len > kMaxMessageSize) return ParseResult::TooLong;
    type = get32(msg);
    const size_t need = min_host_message_size(type);
    if (need == 0) return ParseResult::Invalid;
    if (len < need) return ParseResult::TooShort;
    return ParseResult::Ok;
}

ParseResult parse_offer(const uint8_t* msg, size_t len, Offer& out) {
    const ParseResult c = check(msg, len, kMsgOfferChannel, kSizeOfferChannel);
    if (c != ParseResult::Ok) return c;
    const uint32_t relid = get32(msg + 184);
    if (relid == 0 || relid > kMaxRelid) return ParseResult::Invalid;
    memcpy(out.interface_type.b, msg + 8, 16);
    memcpy(out.interface_instance.b, msg + 24, 16);
    out.flags = get16(msg + 56);
    out.mmio_megabytes = get16(msg + 58);
    memcpy(out.user_defined, msg + 60, 120);
    out.sub_channel_index = get16(msg + 180);
    out.child_relid = relid;
    out.monitor_id = msg[188];
    out.monitor_allocated = (msg[189] & 1) != 0;
    out.dedicated_interrupt = (get16(msg + 190) & 1) != 0;
    out.connection_id = get32(msg + 192);
    return ParseResult::Ok;
}

ParseResult parse_version_response(const uint8_t* msg, size_t len, VersionResponse& out) {
    const ParseResult c = check(msg, len, kMsgVersionResponse, kSizeVersionResponse);
    if (c != ParseResult::Ok) return c;
    if (msg[8] > 1) return ParseResult::Invalid;
    out.supported = msg[8] != 0;
    out.connection_state = msg[9];
    out.msg_conn_id = get32(msg + 12);
    return ParseResult::Ok;
}

ParseResult parse_open_result(const uint8_t* msg, size_t len, OpenResult& out) {
    const ParseResult c = check(msg, len, kMsgOpenChannelResult, kSizeOpenChannelResult);
    if (c != ParseResult::Ok) return c;
    out = {get32(msg + 8), get32(msg + 12), get32(msg + 16)};
    return ParseResult::Ok;
}

ParseResult parse_gpadl_created(const uint8_t* msg, size_t len, GpadlCreated& out) {
    const ParseResult c = check(msg, len, kMsgGpadlCreated, kSizeGpadlCreated);
    if (c != ParseResult::Ok) return c;
    out = {get32(msg + 8), get32(msg + 12), get32(msg + 16)};
    return ParseResult::Ok;
}

ParseResult parse_gpadl_torndown(const uint8_t* msg, size_t len, uint32_t& gpadl) {
    const ParseResult c = check(msg, len, kMsgGpadlTorndown, kSizeGpadlTorndown);
    if (c != ParseResult::Ok) return c;
    gpadl = get32(msg + 8);
    return ParseResult::Ok;
}

ParseResult parse_rescind(const uint8_t* msg, size_t len, uint32_t& relid) {
    const ParseResult c = check(msg, len, kMsgRescindChannelOffer, kSizeRescind);
    if (c != ParseResult::Ok) return c;
    relid = get32(msg + 8);
    return (relid == 0 || relid > kMaxRelid) ? ParseResult::Invalid : ParseResult::Ok;
}

}  // namespace skerry::vmbus
