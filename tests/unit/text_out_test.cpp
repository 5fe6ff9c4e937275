// The bounded text builder (src/kernel/text_out.hpp) shared by the command line and address formatting.
#include <gtest/gtest.h>
#include <string.h>

#include "kernel/text_out.hpp"

using skerry::TextBuf;
using skerry::TextOut;

TEST(TextOut, Formats) {
    char buf[96];
    TextBuf o(buf, sizeof buf);
    o.str("u").u64(0).chr(' ').u64(18446744073709551615ull).chr(' ').i64(-9223372036854775807 - 1).chr(' ');
    o.i64(42).chr(' ').hex(0).chr(' ').hex(0xdeadbeefcafe0123ull).chr(' ').hex2(0x0a).str(nullptr);
    EXPECT_STREQ(buf, "u0 18446744073709551615 -9223372036854775808 42 0 deadbeefcafe0123 0a");
    EXPECT_EQ(o.len(), strlen(buf));
}

TEST(TextOut, NeverWritesPastTheBufferAndStaysTerminated) {
    char buf[8];
    memset(buf, 'x', sizeof buf);
    TextBuf o(buf, 6);
    o.str("abc").u64(12345);
    EXPECT_STREQ(buf, "abc12");
    EXPECT_EQ(o.len(), 5u);
    EXPECT_EQ(buf[6], 'x');
    o.chr('z');  // full: dropped
    EXPECT_STREQ(buf, "abc12");

    char one = 'x';
    TextBuf empty(&one, 1);
    empty.str("abc");
    EXPECT_EQ(one, '\0');
    EXPECT_EQ(empty.len(), 0u);

    char none = 'x';
    TextBuf zero(&none, 0);
    zero.str("abc");
    EXPECT_EQ(none, 'x');  // not even a terminator
    EXPECT_EQ(zero.len(), 0u);
}

namespace {
struct Custom : TextOut<Custom> {
    using TextOut::TextOut;
    Custom& stars(int n) {
        while (n-- > 0) chr('*');
        return *this;
    }
};
}  // namespace

TEST(TextOut, ChainsKeepTheUsersOwnFormats) {
    char buf[32];
    Custom o(buf, sizeof buf);
    o.str("a").stars(2).u64(7).stars(1);
    EXPECT_STREQ(buf, "a**7*");
}
