// VMBus channel messages: golden byte layouts from docs/protocols/hyperv-vmbus.md (§5, §6), GPADL splitting,
// version walk and strict parsing of host messages.
#include <gtest/gtest.h>
#include <string.h>

#include <random>
#include <vector>

#include "drivers/bus/vmbus/vmbus_msg.hpp"

namespace skerry::vmbus {
namespace {

uint32_t rd32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint64_t rd64(const uint8_t* p) { return rd32(p) | (static_cast<uint64_t>(rd32(p + 4)) << 32); }
void wr32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

TEST(VmbusMsg, TypeNumbers) {
    EXPECT_EQ(kMsgOfferChannel, 1u);
    EXPECT_EQ(kMsgRequestOffers, 3u);
    EXPECT_EQ(kMsgAllOffersDelivered, 4u);
    EXPECT_EQ(kMsgOpenChannel, 5u);
    EXPECT_EQ(kMsgOpenChannelResult, 6u);
    EXPECT_EQ(kMsgGpadlHeader, 8u);
    EXPECT_EQ(kMsgGpadlBody, 9u);
    EXPECT_EQ(kMsgGpadlCreated, 10u);
    EXPECT_EQ(kMsgInitiateContact, 14u);
    EXPECT_EQ(kMsgVersionResponse, 15u);
    EXPECT_EQ(kMsgUnload, 16u);
    EXPECT_EQ(kMsgUnloadResponse, 17u);
    EXPECT_STREQ(message_type_name(8), "GPADL_HEADER");
    EXPECT_STREQ(message_type_name(99), "unknown");
}

TEST(VmbusMsg, VersionsNewestFirstAndFallback) {
    EXPECT_EQ(kGuestVersions[0], 0x00050003u);
    for (size_t i = 1; i < kGuestVersionCount; ++i) EXPECT_LT(kGuestVersions[i], kGuestVersions[i - 1]);
    EXPECT_EQ(kVersionWin8, 0x00020004u);
    EXPECT_EQ(kVersionWin10V41, 0x00040001u);
    EXPECT_EQ(next_version(0x00050003u), 0x00050002u);
    EXPECT_EQ(next_version(0x00050000u), 0x00040001u);
    EXPECT_EQ(next_version(0x00050003u, true), 0x00040001u);  // old host refused conn 4: skip every 5.x
    EXPECT_EQ(next_version(kVersionWin8), 0u);
    EXPECT_EQ(next_version(0x12345678u), 0u);
    std::vector<uint32_t> walk;
    for (uint32_t v = kGuestVersions[0]; v != 0; v = next_version(v)) walk.push_back(v);
    EXPECT_EQ(walk.size(), kGuestVersionCount);
    EXPECT_EQ(initiate_contact_connection_id(0x00050000u), 4u);
    EXPECT_EQ(initiate_contact_connection_id(0x00040001u), 1u);
}

TEST(VmbusMsg, NetvscGuidWireBytes) {
    const uint8_t golden[16] = {0x63, 0x51, 0x61, 0xF8, 0x3E, 0xDF, 0xC5, 0x46,
                                0x91, 0x3F, 0xF2, 0xD2, 0xF9, 0x65, 0xED, 0x0E};
    EXPECT_EQ(memcmp(kNetvscClass.b, golden, 16), 0);
}

TEST(VmbusMsg, InitiateContactV5Golden) {
    uint8_t b[kMaxMessageSize];
    ContactParams p;
    p.version = 0x00050003;
    p.target_vcpu = 1;
    p.monitor_page1 = 0x12345000;
    p.monitor_page2 = 0x12346000;
    ASSERT_EQ(build_initiate_contact(b, p), 40u);
    const uint8_t golden[40] = {
        14,   0,    0,    0,    0, 0, 0, 0,  // header: type 14, padding
        3,    0,    5,    0,                 // version 5.3
        1,    0,    0,    0,                 // target vcpu
        2,    0,    0,    0,    0, 0, 0, 0,  // msg_sint 2, msg_vtl 0, reserved, feature flags 0
        0x00, 0x50, 0x34, 0x12, 0, 0, 0, 0,  // monitor page 1
        0x00, 0x60, 0x34, 0x12, 0, 0, 0, 0,  // monitor page 2
    };
    EXPECT_EQ(memcmp(b, golden, 40), 0);
}

TEST(VmbusMsg, InitiateContactV4UsesInterruptPage) {
    uint8_t b[kMaxMessageSize];
    ContactParams p;
    p.version = 0x00040000;
    p.interrupt_page = 0xABCDE000;
    ASSERT_EQ(build_initiate_contact(b, p), 40u);
    EXPECT_EQ(rd32(b + 8), 0x00040000u);
    EXPECT_EQ(rd64(b + 16), 0xABCDE000ull);
    EXPECT_EQ(rd64(b + 24), 0u);
    p.monitor_page1 = 0x1000;  // one monitor page without the other
    EXPECT_EQ(build_initiate_contact(b, p), 0u);
}

TEST(VmbusMsg, SmallMessagesGolden) {
    uint8_t b[kMaxMessageSize];
    ASSERT_EQ(build_request_offers(b), 8u);
    EXPECT_EQ(rd32(b), 3u);
    EXPECT_EQ(rd32(b + 4), 0u);
    ASSERT_EQ(build_unload(b), 8u);
    EXPECT_EQ(rd32(b), 16u);
    ASSERT_EQ(build_close_channel(b, 7), 12u);
    EXPECT_EQ(rd32(b), 7u);
    EXPECT_EQ(rd32(b + 8), 7u);
    ASSERT_EQ(build_gpadl_teardown(b, 7, 0xE1E10), 16u);
    EXPECT_EQ(rd32(b), 11u);
    EXPECT_EQ(rd32(b + 8), 7u);
    EXPECT_EQ(rd32(b + 12), 0xE1E10u);
    ASSERT_EQ(build_relid_released(b, 9), 12u);
    EXPECT_EQ(rd32(b), 13u);
    EXPECT_EQ(rd32(b + 8), 9u);
}

TEST(VmbusMsg, OpenChannelGolden) {
    uint8_t b[kMaxMessageSize];
    memset(b, 0xCC, sizeof b);
    ASSERT_EQ(build_open_channel(b, 5, 0x55, 0xE1E11, 0, 17), 148u);
    EXPECT_EQ(rd32(b), 5u);
    EXPECT_EQ(rd32(b + 4), 0u);
    EXPECT_EQ(rd32(b + 8), 5u);                              // child relid
    EXPECT_EQ(rd32(b + 12), 0x55u);                          // open id
    EXPECT_EQ(rd32(b + 16), 0xE1E11u);                       // ring GPADL
    EXPECT_EQ(rd32(b + 20), 0u);                             // target VP
    EXPECT_EQ(rd32(b + 24), 17u);                            // downstream ring: 1 control + 16 data pages
    for (int i = 28; i < 148; ++i) EXPECT_EQ(b[i], 0) << i;  // user data zero for netvsc
    const uint8_t ud[4] = {1, 2, 3, 4};
    ASSERT_EQ(build_open_channel(b, 5, 0x55, 0xE1E11, 0, 17, ud, 4), 148u);
    EXPECT_EQ(b[28], 1);
    EXPECT_EQ(build_open_channel(b, 0, 0, 1, 0, 17), 0u);
    EXPECT_EQ(build_open_channel(b, 5, 0, 0, 0, 17), 0u);
    EXPECT_EQ(build_open_channel(b, 5, 0, 1, 0, 1), 0u);
    EXPECT_EQ(build_open_channel(b, 5, 0, 1, 0, 17, ud, 121), 0u);
}

std::vector<uint64_t> pfns(size_t n) {
    std::vector<uint64_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = 0x100000000ull + 0x10 * i + 1;  // > 32 bits, non-contiguous
    return v;
}

TEST(VmbusMsg, GpadlHeaderOnlyGolden) {
    auto p = pfns(3);
    GpadlRange r{3 * 4096, 0, p.data(), 3};
    ASSERT_EQ(gpadl_message_count(r), 1u);
    uint8_t b[kMaxMessageSize];
    ASSERT_EQ(build_gpadl_message(b, 0, 5, 0xE1E10, r), 20u + 8 + 24);
    EXPECT_EQ(rd32(b), 8u);
    EXPECT_EQ(rd32(b + 8), 5u);
    EXPECT_EQ(rd32(b + 12), 0xE1E10u);
    EXPECT_EQ(b[16] | (b[17] << 8), 8 + 24);  // range_buflen
    EXPECT_EQ(b[18] | (b[19] << 8), 1);       // rangecount
    EXPECT_EQ(rd32(b + 20), 3u * 4096);
    EXPECT_EQ(rd32(b + 24), 0u);
    EXPECT_EQ(rd64(b + 28), p[0]);  // first PFN at the unaligned offset 28
    EXPECT_EQ(rd64(b + 44), p[2]);
    EXPECT_EQ(build_gpadl_message(b, 1, 5, 0xE1E10, r), 0u);
}

TEST(VmbusMsg, GpadlSplitBoundaries) {
    struct {
        size_t pfns, messages;
    } cases[] = {{1, 1}, {26, 1}, {27, 2}, {54, 2}, {55, 3}, {256, 10}, {8190, 1 + (8190 - 26 + 27) / 28}};
    for (auto c : cases) {
        auto p = pfns(c.pfns);
        GpadlRange r{static_cast<uint32_t>(c.pfns * 4096), 0, p.data(), c.pfns};
        ASSERT_EQ(gpadl_message_count(r), c.messages) << c.pfns;
        // Reassemble as a host would: header PFNs, then each body's, and check every message size.
        std::vector<uint64_t> got;
        uint8_t b[kMaxMessageSize];
        for (size_t i = 0; i < c.messages; ++i) {
            const size_t size = build_gpadl_message(b, i, 3, 0x18AE0001, r);
            ASSERT_GT(size, 0u);
            ASSERT_LE(size, kMaxMessageSize);
            if (i == 0) {
                ASSERT_EQ(rd32(b), 8u);
                EXPECT_EQ(b[16] | (b[17] << 8), static_cast<int>(8 + 8 * c.pfns));
                for (size_t k = 0; k < (size - 28) / 8; ++k) got.push_back(rd64(b + 28 + 8 * k));
                if (c.messages > 1) {
                    EXPECT_EQ(size, 236u);  // 20 + 8 + 26 * 8
                }
            } else {
                ASSERT_EQ(rd32(b), 9u);
                EXPECT_EQ(rd32(b + 8), 0u);
                EXPECT_EQ(rd32(b + 12), 0x18AE0001u);
                for (size_t k = 0; k < (size - 16) / 8; ++k) got.push_back(rd64(b + 16 + 8 * k));
                if (i + 1 < c.messages) {
                    EXPECT_EQ(size, 240u);  // 16 + 28 * 8
                }
            }
        }
        EXPECT_EQ(got, p) << c.pfns;
    }
}

TEST(VmbusMsg, GpadlRejectsInconsistentRanges) {
    auto p = pfns(4);
    uint8_t b[kMaxMessageSize];
    EXPECT_EQ(gpadl_message_count(GpadlRange{4 * 4096, 0, p.data(), 3}), 0u);  // too few PFNs
    EXPECT_EQ(gpadl_message_count(GpadlRange{4 * 4096, 0, p.data(), 4}), 1u);
    EXPECT_EQ(gpadl_message_count(GpadlRange{4 * 4096, 100, p.data(), 4}), 0u);  // offset spills a 5th page
    EXPECT_EQ(gpadl_message_count(GpadlRange{3 * 4096, 100, p.data(), 4}), 1u);
    EXPECT_EQ(gpadl_message_count(GpadlRange{0, 0, p.data(), 0}), 0u);
    EXPECT_EQ(gpadl_message_count(GpadlRange{4096, 4096, p.data(), 2}), 0u);
    EXPECT_EQ(gpadl_message_count(GpadlRange{4096, 0, nullptr, 1}), 0u);
    auto many = pfns(8191);
    EXPECT_EQ(gpadl_message_count(GpadlRange{8191u * 4096, 0, many.data(), 8191}), 0u);  // range_buflen overflow
    EXPECT_EQ(build_gpadl_message(b, 0, 1, 0, GpadlRange{4096, 0, p.data(), 1}), 0u);    // handle 0
}

std::vector<uint8_t> offer_bytes(uint32_t relid) {
    std::vector<uint8_t> m(196, 0);
    wr32(m.data(), 1);
    memcpy(m.data() + 8, kNetvscClass.b, 16);
    for (int i = 0; i < 16; ++i) m[24 + i] = static_cast<uint8_t>(0xA0 + i);
    m[56] = 0x01;
    m[57] = 0x20;  // flags 0x2001
    m[60] = 0x77;
    m[180] = 0;  // sub channel index 0
    wr32(m.data() + 184, relid);
    m[188] = 9;
    m[189] = 1;
    m[190] = 1;
    wr32(m.data() + 192, relid | (2u << 12));
    return m;
}

TEST(VmbusMsg, ParseOffer) {
    auto m = offer_bytes(5);
    Offer o;
    ASSERT_EQ(parse_offer(m.data(), m.size(), o), ParseResult::Ok);
    EXPECT_TRUE(o.interface_type == kNetvscClass);
    EXPECT_EQ(o.interface_instance.b[0], 0xA0);
    EXPECT_EQ(o.flags, 0x2001);
    EXPECT_EQ(o.user_defined[0], 0x77);
    EXPECT_EQ(o.sub_channel_index, 0);
    EXPECT_EQ(o.child_relid, 5u);
    EXPECT_EQ(o.monitor_id, 9);
    EXPECT_TRUE(o.monitor_allocated);
    EXPECT_TRUE(o.dedicated_interrupt);
    EXPECT_EQ(o.connection_id, 0x2005u);
    uint32_t type;
    EXPECT_EQ(parse_header(m.data(), m.size(), type), ParseResult::Ok);
    EXPECT_EQ(type, 1u);
}

TEST(VmbusMsg, ParseOfferStrictness) {
    auto m = offer_bytes(5);
    Offer o;
    EXPECT_EQ(parse_offer(m.data(), 195, o), ParseResult::TooShort);
    EXPECT_EQ(parse_offer(m.data(), 4, o), ParseResult::TooShort);
    EXPECT_EQ(parse_offer(nullptr, 196, o), ParseResult::TooShort);
    std::vector<uint8_t> big(241, 0);
    memcpy(big.data(), m.data(), m.size());
    EXPECT_EQ(parse_offer(big.data(), big.size(), o), ParseResult::TooLong);
    EXPECT_EQ(parse_offer(big.data(), 240, o), ParseResult::Ok);  // a longer (newer) offer is fine up to 240
    auto zero = offer_bytes(0);
    EXPECT_EQ(parse_offer(zero.data(), zero.size(), o), ParseResult::Invalid);
    auto huge = offer_bytes(2048);
    EXPECT_EQ(parse_offer(huge.data(), huge.size(), o), ParseResult::Invalid);
    wr32(m.data(), 2);
    EXPECT_EQ(parse_offer(m.data(), m.size(), o), ParseResult::WrongType);
}

TEST(VmbusMsg, ParseReplies) {
    uint8_t b[40] = {};
    wr32(b, 15);
    b[8] = 1;
    b[9] = 0;
    wr32(b + 12, 1);
    VersionResponse vr;
    ASSERT_EQ(parse_version_response(b, 16, vr), ParseResult::Ok);
    EXPECT_TRUE(vr.supported);
    EXPECT_EQ(vr.connection_state, 0);
    EXPECT_EQ(vr.msg_conn_id, 1u);
    EXPECT_EQ(parse_version_response(b, 40, vr), ParseResult::Ok);  // 6.0 hosts send more
    EXPECT_EQ(parse_version_response(b, 15, vr), ParseResult::TooShort);
    b[8] = 2;
    EXPECT_EQ(parse_version_response(b, 16, vr), ParseResult::Invalid);

    memset(b, 0, sizeof b);
    wr32(b, 6);
    wr32(b + 8, 5);
    wr32(b + 12, 0x55);
    wr32(b + 16, 0xC0000001u);
    OpenResult orr;
    ASSERT_EQ(parse_open_result(b, 20, orr), ParseResult::Ok);
    EXPECT_EQ(orr.child_relid, 5u);
    EXPECT_EQ(orr.open_id, 0x55u);
    EXPECT_EQ(orr.status, 0xC0000001u);
    EXPECT_EQ(parse_open_result(b, 19, orr), ParseResult::TooShort);

    wr32(b, 10);
    GpadlCreated gc;
    ASSERT_EQ(parse_gpadl_created(b, 20, gc), ParseResult::Ok);
    EXPECT_EQ(gc.gpadl, 0x55u);
    EXPECT_EQ(parse_open_result(b, 20, orr), ParseResult::WrongType);

    wr32(b, 12);
    uint32_t v;
    ASSERT_EQ(parse_gpadl_torndown(b, 12, v), ParseResult::Ok);
    EXPECT_EQ(v, 5u);
    wr32(b, 2);
    ASSERT_EQ(parse_rescind(b, 12, v), ParseResult::Ok);
    EXPECT_EQ(v, 5u);
    wr32(b + 8, 0);
    EXPECT_EQ(parse_rescind(b, 12, v), ParseResult::Invalid);
}

TEST(VmbusMsg, ParseHeaderRejectsUnknownAndShort) {
    uint8_t b[240] = {};
    uint32_t type;
    wr32(b, 3);  // REQUESTOFFERS is guest->host only
    EXPECT_EQ(parse_header(b, 8, type), ParseResult::Invalid);
    wr32(b, 1000);
    EXPECT_EQ(parse_header(b, 8, type), ParseResult::Invalid);
    wr32(b, 4);
    EXPECT_EQ(parse_header(b, 8, type), ParseResult::Ok);
    EXPECT_EQ(parse_header(b, 7, type), ParseResult::TooShort);
    wr32(b, 1);
    EXPECT_EQ(parse_header(b, 100, type), ParseResult::TooShort);
    EXPECT_EQ(parse_header(b, 241, type), ParseResult::TooLong);
}

TEST(VmbusMsg, RandomHostMessagesNeverCrash) {
    std::mt19937 rng(3);
    for (int i = 0; i < 20000; ++i) {
        const size_t len = rng() % 260;
        std::vector<uint8_t> m(len ? len : 1);
        for (auto& x : m) x = static_cast<uint8_t>(rng());
        if (len >= 4) wr32(m.data(), rng() % 26);
        uint32_t type, v;
        Offer o;
        VersionResponse vr;
        OpenResult orr;
        GpadlCreated gc;
        (void)parse_header(m.data(), len, type);
        (void)parse_offer(m.data(), len, o);
        (void)parse_version_response(m.data(), len, vr);
        (void)parse_open_result(m.data(), len, orr);
        (void)parse_gpadl_created(m.data(), len, gc);
        (void)parse_gpadl_torndown(m.data(), len, v);
        (void)parse_rescind(m.data(), len, v);
    }
}

}  // namespace
}  // namespace skerry::vmbus
