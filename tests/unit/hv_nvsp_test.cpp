// NVSP and RNDIS encode/decode with golden byte layouts from docs/protocols/netvsc-rndis.md (§2.2, §5.1-§5.2).
#include <gtest/gtest.h>
#include <string.h>

#include <random>
#include <vector>

#include "drivers/nic/netvsc/nvsp.hpp"

namespace skerry::netvsc {
namespace {

uint32_t rd32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
void wr32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

TEST(Nvsp, VersionsAndNdis) {
    EXPECT_EQ(kNvspVersions[0], 0x00060001u);
    EXPECT_EQ(kNvspVersions[kNvspVersionCount - 1], 0x00000002u);
    EXPECT_EQ(kNvspV2, 0x00030002u);
    EXPECT_EQ(ndis_minor_for(kNvspV4), 1u);
    EXPECT_EQ(ndis_minor_for(kNvspV5), 30u);
}

TEST(Nvsp, GuestMessagesGolden) {
    uint8_t b[64];
    memset(b, 0xCC, sizeof b);
    ASSERT_EQ(build_init(b, kNvspV61), 40u);
    const uint8_t init[12] = {1, 0, 0, 0, 1, 0, 6, 0, 1, 0, 6, 0};
    EXPECT_EQ(memcmp(b, init, 12), 0);
    for (int i = 12; i < 40; ++i) EXPECT_EQ(b[i], 0) << i;

    ASSERT_EQ(build_ndis_config(b, 1514, kNdisCapIeee8021q), 40u);
    const uint8_t cfg[20] = {125, 0, 0, 0, 0xEA, 0x05, 0, 0, 0, 0, 0, 0, 0x08, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_EQ(memcmp(b, cfg, 20), 0);  // capabilities: 8-byte field at the unaligned offset 12

    ASSERT_EQ(build_ndis_version(b, 6, 30), 40u);
    EXPECT_EQ(rd32(b), 100u);
    EXPECT_EQ(rd32(b + 4), 6u);
    EXPECT_EQ(rd32(b + 8), 30u);

    ASSERT_EQ(build_send_recv_buf(b, 0xE1E12, 0xCAFE), 40u);
    const uint8_t rb[10] = {101, 0, 0, 0, 0x12, 0x1E, 0x0E, 0, 0xFE, 0xCA};
    EXPECT_EQ(memcmp(b, rb, 10), 0);
    ASSERT_EQ(build_send_send_buf(b, 7, 0), 40u);
    EXPECT_EQ(rd32(b), 104u);
    ASSERT_EQ(build_revoke_recv_buf(b, 0xCAFE), 40u);
    EXPECT_EQ(rd32(b), 103u);
    EXPECT_EQ(b[4] | (b[5] << 8), 0xCAFE);
    ASSERT_EQ(build_revoke_send_buf(b, 0), 40u);
    EXPECT_EQ(rd32(b), 106u);

    ASSERT_EQ(build_rndis_packet(b, kNvspChannelControl, kNvspNoSection, 0), 40u);
    const uint8_t rp[16] = {107, 0, 0, 0, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
    EXPECT_EQ(memcmp(b, rp, 16), 0);
    ASSERT_EQ(build_rndis_packet_complete(b, kNvspStatusSuccess), 8u);
    const uint8_t rc[8] = {108, 0, 0, 0, 1, 0, 0, 0};
    EXPECT_EQ(memcmp(b, rc, 8), 0);
}

TEST(Nvsp, ParseHostCompletions) {
    uint8_t b[40] = {};
    wr32(b, 2);
    wr32(b + 4, 0xFFFFFFFF);
    wr32(b + 8, 34);
    wr32(b + 12, 1);
    InitComplete ic;
    ASSERT_EQ(parse_init_complete(b, 32, ic), Parse::Ok);
    EXPECT_EQ(ic.max_mdl_chain, 34u);
    EXPECT_EQ(ic.status, kNvspStatusSuccess);
    EXPECT_EQ(parse_init_complete(b, 12, ic), Parse::TooShort);

    memset(b, 0, sizeof b);
    wr32(b, 102);
    wr32(b + 4, 1);
    wr32(b + 8, 1);
    wr32(b + 16, 1806);  // OVMM's sub-allocation for MTU 1514
    wr32(b + 20, 580);
    wr32(b + 24, 1806 * 580);
    RecvBufComplete rb;
    ASSERT_EQ(parse_recv_buf_complete(b, 28, rb), Parse::Ok);
    EXPECT_EQ(rb.sub_alloc_size, 1806u);
    EXPECT_EQ(rb.num_sub_allocs, 580u);
    EXPECT_EQ(parse_recv_buf_complete(b, 27, rb), Parse::TooShort);
    wr32(b + 20, 581);  // more sub-allocations than the section holds
    EXPECT_EQ(parse_recv_buf_complete(b, 28, rb), Parse::Invalid);
    wr32(b + 20, 580);
    wr32(b + 8, 2);
    EXPECT_EQ(parse_recv_buf_complete(b, 28, rb), Parse::Invalid);
    wr32(b + 4, kNvspStatusFailed);
    ASSERT_EQ(parse_recv_buf_complete(b, 8, rb), Parse::Ok);  // refusal: no section to check
    EXPECT_EQ(rb.status, kNvspStatusFailed);

    memset(b, 0, sizeof b);
    wr32(b, 105);
    wr32(b + 4, 1);
    wr32(b + 8, 6144);
    SendBufComplete sb;
    ASSERT_EQ(parse_send_buf_complete(b, 12, sb), Parse::Ok);
    EXPECT_EQ(sb.section_size, 6144u);
    wr32(b + 8, 0);
    EXPECT_EQ(parse_send_buf_complete(b, 12, sb), Parse::Invalid);

    memset(b, 0, sizeof b);
    wr32(b, 107);
    wr32(b + 8, 0xFFFFFFFF);
    RndisPacket rp;
    ASSERT_EQ(parse_rndis_packet(b, 16, rp), Parse::Ok);
    EXPECT_EQ(rp.channel_type, kNvspChannelData);
    wr32(b + 4, 2);
    EXPECT_EQ(parse_rndis_packet(b, 16, rp), Parse::Invalid);
    EXPECT_EQ(parse_init_complete(b, 16, ic), Parse::WrongType);

    uint32_t st;
    const uint8_t c[8] = {108, 0, 0, 0, 2, 0, 0, 0};
    ASSERT_EQ(parse_rndis_packet_complete(c, 8, st), Parse::Ok);
    EXPECT_EQ(st, kNvspStatusFailed);
    EXPECT_EQ(parse_rndis_packet_complete(c, 4, st), Parse::TooShort);
}

TEST(Rndis, GuestMessagesGolden) {
    uint8_t b[64];
    ASSERT_EQ(build_rndis_init(b, 1, 0x4000), 24u);
    const uint8_t init[24] = {2, 0, 0, 0, 24, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0};
    EXPECT_EQ(memcmp(b, init, 24), 0);
    ASSERT_EQ(build_rndis_query(b, 2, kOidPermanentAddress), 28u);
    const uint8_t q[28] = {4,    0,    0, 0, 28, 0, 0,  0, 2, 0, 0, 0, 0x01, 0x01,
                           0x01, 0x01, 0, 0, 0,  0, 20, 0, 0, 0, 0, 0, 0,    0};
    EXPECT_EQ(memcmp(b, q, 28), 0);
    const uint32_t filter = kFilterDirected | kFilterAllMulticast | kFilterBroadcast;
    ASSERT_EQ(build_rndis_set(b, 3, kOidCurrentPacketFilter, &filter, 4), 32u);
    EXPECT_EQ(rd32(b), 5u);
    EXPECT_EQ(rd32(b + 4), 32u);
    EXPECT_EQ(rd32(b + 12), 0x0001010Eu);
    EXPECT_EQ(rd32(b + 16), 4u);
    EXPECT_EQ(rd32(b + 20), 20u);
    EXPECT_EQ(rd32(b + 28), 0x0Du);
    ASSERT_EQ(build_rndis_halt(b, 4), 12u);
    EXPECT_EQ(rd32(b), 3u);
    ASSERT_EQ(build_rndis_keepalive_cmplt(b, 5), 16u);
    EXPECT_EQ(rd32(b), 0x80000008u);
    memset(b, 0xCC, sizeof b);
    ASSERT_EQ(build_rndis_packet_header(b, 60), 44u);
    EXPECT_EQ(rd32(b), 1u);
    EXPECT_EQ(rd32(b + 4), 104u);
    EXPECT_EQ(rd32(b + 8), 36u);  // frame at 8 + 36 = 44
    EXPECT_EQ(rd32(b + 12), 60u);
    for (int i = 16; i < 44; ++i) EXPECT_EQ(b[i], 0) << i;  // OOB, PPI, VC handle all zero
}

TEST(Rndis, ParseHostMessages) {
    uint8_t b[128] = {};
    RndisMessage m;
    // INITIALIZE_CMPLT, 52 bytes
    wr32(b, 0x80000002);
    wr32(b + 4, 52);
    wr32(b + 8, 1);
    wr32(b + 32, 8);
    wr32(b + 36, 0xEFFFFFFF);
    wr32(b + 40, 3);
    ASSERT_EQ(parse_rndis(b, 52, m), Parse::Ok);
    EXPECT_EQ(m.max_packets_per_message, 8u);
    EXPECT_EQ(m.packet_alignment_shift, 3u);
    EXPECT_EQ(parse_rndis(b, 51, m), Parse::TooShort);  // length field beyond the range
    // QUERY_CMPLT with a MAC at 24
    memset(b, 0, sizeof b);
    wr32(b, 0x80000004);
    wr32(b + 4, 30);
    wr32(b + 8, 2);
    wr32(b + 16, 6);
    wr32(b + 20, 16);
    const uint8_t mac[6] = {0x00, 0x15, 0x5D, 1, 2, 3};
    memcpy(b + 24, mac, 6);
    ASSERT_EQ(parse_rndis(b, 128, m), Parse::Ok);  // the range may be longer than the message
    ASSERT_EQ(m.info_len, 6u);
    EXPECT_EQ(memcmp(m.info, mac, 6), 0);
    wr32(b + 16, 7);  // information runs past the message
    EXPECT_EQ(parse_rndis(b, 128, m), Parse::Invalid);
    wr32(b + 16, 6);
    wr32(b + 20, 0xFFFFFFF0u);  // offset that would wrap a 32-bit sum
    EXPECT_EQ(parse_rndis(b, 128, m), Parse::Invalid);
    // INDICATE_STATUS link down
    memset(b, 0, sizeof b);
    wr32(b, 7);
    wr32(b + 4, 20);
    wr32(b + 8, kStatusMediaDisconnect);
    ASSERT_EQ(parse_rndis(b, 20, m), Parse::Ok);
    EXPECT_EQ(m.status, 0x4001000Cu);
    // PACKET_MSG with a 60-byte frame
    memset(b, 0, sizeof b);
    build_rndis_packet_header(b, 60);
    b[44] = 0xAB;
    ASSERT_EQ(parse_rndis(b, 104, m), Parse::Ok);
    EXPECT_EQ(m.info, b + 44);
    EXPECT_EQ(m.info_len, 60u);
    wr32(b + 12, 0);
    EXPECT_EQ(parse_rndis(b, 104, m), Parse::Invalid);  // empty frame
    wr32(b + 12, 61);
    EXPECT_EQ(parse_rndis(b, 104, m), Parse::Invalid);
    wr32(b, 0x12345);
    EXPECT_EQ(parse_rndis(b, 104, m), Parse::Invalid);
}

TEST(Rndis, RandomBytesNeverCrash) {
    std::mt19937 rng(11);
    for (int i = 0; i < 20000; ++i) {
        const size_t len = rng() % 200;
        std::vector<uint8_t> v(len + 1);
        for (auto& x : v) x = static_cast<uint8_t>(rng());
        static const uint32_t types[] = {1, 7, 8, 0x80000002, 0x80000004, 0x80000005, 0x80000008, 99};
        if (len >= 8) {
            wr32(v.data(), types[rng() % 8]);
            wr32(v.data() + 4, static_cast<uint32_t>(rng() % (len + 8)));
        }
        RndisMessage m;
        if (parse_rndis(v.data(), len, m) == Parse::Ok && m.info != nullptr) {
            ASSERT_GE(m.info, v.data());
            ASSERT_LE(m.info + m.info_len, v.data() + len);
        }
        RecvBufComplete rb;
        (void)parse_recv_buf_complete(v.data(), len, rb);
    }
}

}  // namespace
}  // namespace skerry::netvsc
