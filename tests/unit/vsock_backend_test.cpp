// The host vsock test backend's packet header and credit accounting (tools/vsock-backend/vsock_proto.hpp).
#include <gtest/gtest.h>

#include "../tools/vsock-backend/vsock_proto.hpp"

using namespace vsockbe;

TEST(VsockBackendProto, HeaderRoundTripIsLittleEndianAt44Bytes) {
    Hdr h;
    h.src_cid = 3;
    h.dst_cid = 2;
    h.src_port = 0x11223344;
    h.dst_port = 5000;
    h.len = 4052;
    h.type = kTypeStream;
    h.op = kOpRw;
    h.flags = kShutSend;
    h.buf_alloc = 262144;
    h.fwd_cnt = 0xfffffff0;
    uint8_t b[kHdrSize + 1];
    b[kHdrSize] = 0xee;
    write_hdr(h, b);
    EXPECT_EQ(b[kHdrSize], 0xee);  // exactly 44 bytes written
    EXPECT_EQ(b[0], 3);
    EXPECT_EQ(b[16], 0x44);  // src_port low byte first
    EXPECT_EQ(b[30], kOpRw);
    EXPECT_EQ(b[36], 0x00);
    EXPECT_EQ(b[38], 0x04);  // 262144 = 0x40000
    Hdr g = parse_hdr(b);
    EXPECT_EQ(g.src_port, h.src_port);
    EXPECT_EQ(g.len, h.len);
    EXPECT_EQ(g.op, h.op);
    EXPECT_EQ(g.fwd_cnt, h.fwd_cnt);
    EXPECT_EQ(g.buf_alloc, h.buf_alloc);
}

TEST(VsockBackendProto, TxChecksRefuseWhatTheGuestMustNotSend) {
    Hdr h;
    h.src_cid = 3;
    h.dst_cid = kHostCid;
    h.type = kTypeStream;
    h.op = kOpRw;
    h.len = 100;
    EXPECT_EQ(check_tx(h, kHdrSize + 100, 3, 65536), Verdict::kOk);
    EXPECT_EQ(check_tx(h, kHdrSize - 1, 3, 65536), Verdict::kShortChain);
    EXPECT_EQ(check_tx(h, kHdrSize + 99, 3, 65536), Verdict::kLenTooBig);  // len beyond the chain
    EXPECT_EQ(check_tx(h, kHdrSize + 100, 3, 64), Verdict::kLenTooBig);    // beyond the packet limit
    EXPECT_EQ(check_tx(h, kHdrSize + 100, 4, 65536), Verdict::kBadSrcCid);
    h.dst_cid = 5;
    EXPECT_EQ(check_tx(h, kHdrSize + 100, 3, 65536), Verdict::kBadDstCid);
    h.dst_cid = kHostCid;
    h.op = 8;
    EXPECT_EQ(check_tx(h, kHdrSize + 100, 3, 65536), Verdict::kBadOp);
    h.op = kOpInvalid;
    EXPECT_EQ(check_tx(h, kHdrSize + 100, 3, 65536), Verdict::kBadOp);
    h.op = kOpRequest;
    h.type = 2;  // SEQPACKET is not offered
    EXPECT_EQ(check_tx(h, kHdrSize + 100, 3, 65536), Verdict::kBadType);
}

TEST(VsockBackendCredit, SendsNoMoreThanThePeerAdvertised) {
    Credit c;
    Hdr h;
    h.buf_alloc = 1000;
    h.fwd_cnt = 0;
    c.update_peer(h);
    EXPECT_EQ(c.peer_free(), 1000u);
    c.sent(600);
    EXPECT_EQ(c.peer_free(), 400u);
    c.sent(400);
    EXPECT_EQ(c.peer_free(), 0u);
    h.fwd_cnt = 300;  // the guest consumed 300
    c.update_peer(h);
    EXPECT_EQ(c.peer_free(), 300u);
    h.buf_alloc = 100;  // the guest shrank its buffer below what is in flight
    c.update_peer(h);
    EXPECT_EQ(c.peer_free(), 0u);
}

TEST(VsockBackendCredit, CountersWrapAtU32) {
    Credit c;
    c.tx_cnt = 0xfffffff0;
    Hdr h;
    h.buf_alloc = 64;
    h.fwd_cnt = 0xffffffe0;  // 16 bytes in flight
    c.update_peer(h);
    EXPECT_EQ(c.peer_free(), 48u);
    c.sent(32);  // tx_cnt wraps to 0x10
    EXPECT_EQ(c.peer_free(), 16u);
    h.fwd_cnt = 0x10;
    c.update_peer(h);
    EXPECT_EQ(c.peer_free(), 64u);
}

TEST(VsockBackendCredit, NeverHoldsMoreThanItAdvertises) {
    Credit c;
    c.buf_alloc = 1000;
    EXPECT_TRUE(c.receive(1000));
    EXPECT_FALSE(c.receive(1));  // the guest broke the protocol: the connection is reset
    c.forwarded(250);
    EXPECT_EQ(c.held(), 750u);
    EXPECT_TRUE(c.receive(250));
    EXPECT_FALSE(c.receive(1));
}

TEST(VsockBackendCredit, CreditUpdateWhenTheGuestsViewRunsLow) {
    Credit c;
    c.buf_alloc = 256 * 1024;
    Hdr h;
    c.stamp(h);
    EXPECT_EQ(h.buf_alloc, 256u * 1024);
    EXPECT_FALSE(c.want_credit_update(64 * 1024));  // nothing freed
    ASSERT_TRUE(c.receive(200 * 1024));
    c.forwarded(10 * 1024);
    // The guest believes 56 KiB are free (< 64 KiB) and we freed 10 KiB: tell it.
    EXPECT_TRUE(c.want_credit_update(64 * 1024));
    c.stamp(h);
    EXPECT_EQ(h.fwd_cnt, 10u * 1024);
    EXPECT_FALSE(c.want_credit_update(64 * 1024));
    ASSERT_TRUE(c.receive(1024));
    c.forwarded(1024);  // view: 256 - 191 = 65 KiB free, freed 1 KiB: not yet
    EXPECT_FALSE(c.want_credit_update(64 * 1024));
    c.forwarded(63 * 1024);  // 64 KiB freed since the last update: tell it
    EXPECT_TRUE(c.want_credit_update(64 * 1024));
}
