// Byte-order helpers (src/kernel/bytes.hpp).
#include <gtest/gtest.h>
#include <string.h>

#include "kernel/bytes.hpp"

using namespace skerry::bytes;

TEST(Bytes, LittleEndian) {
    const uint8_t b[9] = {0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88};
    EXPECT_EQ(le16(b + 1), 0x0201u);
    EXPECT_EQ(le32(b + 1), 0x04030201u);  // unaligned
    EXPECT_EQ(le64(b + 1), 0x8807060504030201ull);
    EXPECT_EQ(le16(b + 7), 0x8807u);  // the top bit does not sign-extend
}

TEST(Bytes, BigEndian) {
    const uint8_t b[5] = {0x00, 0x81, 0x02, 0x03, 0xf4};
    EXPECT_EQ(be16(b + 1), 0x8102u);
    EXPECT_EQ(be32(b + 1), 0x810203f4u);
    uint8_t out[6] = {};
    put_be32(out + 1, 0xdeadbeef);
    const uint8_t want[6] = {0, 0xde, 0xad, 0xbe, 0xef, 0};
    EXPECT_EQ(memcmp(out, want, 6), 0);
    EXPECT_EQ(be32(out + 1), 0xdeadbeefu);
}
