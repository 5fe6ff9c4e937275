// net::Address: parsing and text forms (pure; no stack).
#include <gtest/gtest.h>
#include <string.h>

#include <string>

#include "net/address.hpp"
#include "net/socket.hpp"

using namespace skerry::net;

namespace {

std::string text(const Address& a, bool with_port = true) {
    char buf[kAddressTextMax];
    a.format(buf, sizeof buf, with_port);
    return buf;
}

std::string v6(const char* s) {
    uint8_t b[16];
    if (!parse_ipv6(s, strlen(s), b)) return "(invalid)";
    char buf[64];
    format_ipv6(b, buf, sizeof buf);
    return buf;
}

}  // namespace

TEST(NetAddress, Ipv4ParseAndFormat) {
    Address a;
    ASSERT_TRUE(parse_address("10.0.2.15", &a));
    EXPECT_EQ(a.family, Family::Ipv4);
    EXPECT_EQ(a.ipv4_u32(), 0x0a00020fu);
    EXPECT_EQ(a.port, 0u);
    EXPECT_EQ(text(a, false), "10.0.2.15");
    ASSERT_TRUE(parse_address("192.168.1.255:7", &a));
    EXPECT_EQ(a.port, 7u);
    EXPECT_EQ(text(a), "192.168.1.255:7");
    EXPECT_EQ(text(Address::ipv4_u32(0x7f000001, 65535)), "127.0.0.1:65535");

    for (const char* bad : {"", "10.0.2", "10.0.2.256", "10.0.02.1", "10.0.2.1.", "1.2.3.4:", "1.2.3.4:65536",
                            "1.2.3.4:x", "a.b.c.d", "1.2.3.4%1", " 1.2.3.4"}) {
        EXPECT_FALSE(parse_address(bad, &a)) << bad;
    }
}

TEST(NetAddress, Ipv6ParseAndFormat) {
    EXPECT_EQ(v6("::"), "::");
    EXPECT_EQ(v6("::1"), "::1");
    EXPECT_EQ(v6("1::"), "1::");
    EXPECT_EQ(v6("2001:0db8:0000:0000:0000:0000:0000:0001"), "2001:db8::1");
    EXPECT_EQ(v6("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");     // the first of equal runs
    EXPECT_EQ(v6("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");  // one zero word is not compressed
    EXPECT_EQ(v6("FE80::5054:FF:FE12:3456"), "fe80::5054:ff:fe12:3456");
    EXPECT_EQ(v6("::ffff:10.0.2.15"), "::ffff:10.0.2.15");
    EXPECT_EQ(v6("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
    for (const char* bad : {":", ":::", "1:2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1::2:3:4:5:6:7:8",
                            "g::", "1:", "::1.2.3", "::ffff:1.2.3.400"}) {
        EXPECT_EQ(v6(bad), "(invalid)") << bad;
    }

    Address a;
    ASSERT_TRUE(parse_address("[fe80::1%2]:7", &a));
    EXPECT_EQ(a.family, Family::Ipv6);
    EXPECT_EQ(a.zone, 2);
    EXPECT_EQ(a.port, 7u);
    EXPECT_TRUE(a.is_ipv6_link_local());
    EXPECT_EQ(text(a), "[fe80::1%2]:7");
    EXPECT_EQ(text(a, false), "fe80::1%2");
    ASSERT_TRUE(parse_address("fd00::15", &a));
    EXPECT_EQ(text(a, false), "fd00::15");
    EXPECT_FALSE(parse_address("[fd00::15", &a));
    EXPECT_FALSE(parse_address("[fd00::15]x", &a));
    EXPECT_FALSE(parse_address("fe80::1%0", &a));
    EXPECT_FALSE(parse_address("[10.0.0.1]:7", &a));

    uint8_t b[16], prefix = 0;
    EXPECT_TRUE(parse_ipv6_prefix("fd00::15/64", b, &prefix));
    EXPECT_EQ(prefix, 64);
    EXPECT_FALSE(parse_ipv6_prefix("fd00::15", b, &prefix));
    EXPECT_FALSE(parse_ipv6_prefix("fd00::15/129", b, &prefix));
    EXPECT_FALSE(parse_ipv6_prefix("fd00::15/064", b, &prefix));
}

TEST(NetAddress, AnyVsockAndComparison) {
    EXPECT_EQ(text(Address::any(7)), "*:7");
    EXPECT_TRUE(Address::any().is_unspecified());
    EXPECT_TRUE(Address::any_ipv4(1).is_unspecified());
    EXPECT_TRUE(Address::any_ipv6(1).is_unspecified());
    EXPECT_EQ(text(Address::vsock(3, 1024)), "vsock:3:1024");
    EXPECT_STREQ(family_name(Family::Vsock), "vsock");
    Address v;
    ASSERT_TRUE(parse_address("vsock:2:5140", &v));
    EXPECT_TRUE(v == Address::vsock(2, 5140));
    ASSERT_TRUE(parse_address("vsock:4294967295:4294967295", &v));
    EXPECT_EQ(text(v), "vsock:4294967295:4294967295");
    for (const char* bad : {"vsock:", "vsock:2", "vsock:2:", "vsock::7", "vsock:2:7:", "vsock:4294967296:1",
                            "vsock:2:4294967296", "vsock:-1:7", "vsock:2:x", "VSOCK:2:7"}) {
        EXPECT_FALSE(parse_address(bad, &v)) << bad;
    }
    EXPECT_TRUE(Address::ipv4(1, 2, 3, 4, 5) == Address::ipv4(1, 2, 3, 4, 5));
    EXPECT_FALSE(Address::ipv4(1, 2, 3, 4, 5) == Address::ipv4(1, 2, 3, 4, 6));
    EXPECT_TRUE(Address::ipv4(1, 2, 3, 4, 5).same_host(Address::ipv4(1, 2, 3, 4, 6)));

    char small[6];
    EXPECT_EQ(Address::ipv4(10, 0, 2, 15, 7).format(small, sizeof small), 5u);  // truncated, terminated
    EXPECT_STREQ(small, "10.0.");
}

TEST(NetAddress, ErrorTexts) {
    EXPECT_STREQ(error_text(Error::Reset), "connection reset by peer");
    EXPECT_STREQ(error_text(Error::Refused), "connection refused");
    EXPECT_EQ(error_from_lwip(-14 /* ERR_RST */, true), Error::Refused);
    EXPECT_EQ(error_from_lwip(-14 /* ERR_RST */, false), Error::Reset);
    EXPECT_EQ(error_from_lwip(-15 /* ERR_CLSD */, false), Error::None);
}
