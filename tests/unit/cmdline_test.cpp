// Kernel command line: value parsers, tokenizer, typed options and every message.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernel/cmdline.hpp"

using namespace skerry::cmdline;

namespace {

// ------------------------------------------------------------------------------------------ value parsers
TEST(CmdlineValues, Bool) {
    struct Case {
        const char* in;
        bool ok, value;
    } cases[] = {
        {"1", true, true},     {"0", true, false},     {"on", true, true},   {"off", true, false},
        {"yes", true, true},   {"no", true, false},    {"true", true, true}, {"false", true, false},
        {"ON", true, true},    {"False", true, false}, {"", false, false},   {"2", false, false},
        {"onn", false, false}, {"y", false, false},    {"of", false, false}, {"true ", false, false},
    };
    for (const auto& c : cases) {
        bool v = !c.value;
        EXPECT_EQ(parse_bool(c.in, &v), c.ok) << c.in;
        if (c.ok) {
            EXPECT_EQ(v, c.value) << c.in;
        }
    }
}

TEST(CmdlineValues, Int) {
    struct Case {
        const char* in;
        bool ok;
        int64_t value;
    } cases[] = {
        {"0", true, 0},
        {"7", true, 7},
        {"007", true, 7},  // decimal, not octal
        {"-5", true, -5},
        {"+5", true, 5},
        {"0x10", true, 16},
        {"0XfF", true, 255},
        {"-0x10", true, -16},
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0},
        {"-9223372036854775809", false, 0},
        {"99999999999999999999", false, 0},
        {"0xFFFFFFFFFFFFFFFFF", false, 0},
        {"", false, 0},
        {"-", false, 0},
        {"0x", false, 0},
        {"abc", false, 0},
        {"12abc", false, 0},
        {"1.5", false, 0},
        {" 1", false, 0},
        {"0x1g", false, 0},
    };
    for (const auto& c : cases) {
        int64_t v = 12345;
        EXPECT_EQ(parse_int(c.in, &v), c.ok) << c.in;
        if (c.ok) {
            EXPECT_EQ(v, c.value) << c.in;
        }
    }
}

TEST(CmdlineValues, Size) {
    struct Case {
        const char* in;
        bool ok;
        uint64_t value;
    } cases[] = {
        {"0", true, 0},
        {"4096", true, 4096},
        {"4096B", true, 4096},
        {"1K", true, 1024},
        {"1k", true, 1024},
        {"64M", true, 64ull << 20},
        {"64MiB", true, 64ull << 20},
        {"64mb", true, 64ull << 20},
        {"2G", true, 2ull << 30},
        {"1T", true, 1ull << 40},
        {"0x10M", true, 16ull << 20},
        {"0x1B", true, 0x1B},  // hex digit B, not a suffix
        {"16777215T", true, 16777215ull << 40},
        {"16777216T", false, 0},  // 2^64: overflow
        {"18446744073709551615", true, ~0ull},
        {"18446744073709551616", false, 0},
        {"64X", false, 0},
        {"64MX", false, 0},
        {"64 M", false, 0},
        {"M", false, 0},
        {"", false, 0},
        {"-1", false, 0},
    };
    for (const auto& c : cases) {
        uint64_t v = 12345;
        EXPECT_EQ(parse_size(c.in, &v), c.ok) << c.in;
        if (c.ok) {
            EXPECT_EQ(v, c.value) << c.in;
        }
    }
}

TEST(CmdlineValues, Ipv4AndCidr) {
    Ipv4 a{};
    EXPECT_TRUE(parse_ipv4("10.0.2.15", &a));
    EXPECT_EQ(a, (Ipv4{{10, 0, 2, 15}}));
    EXPECT_EQ(a.to_u32(), 0x0A00020Fu);
    EXPECT_TRUE(parse_ipv4("255.255.255.255", &a));
    EXPECT_TRUE(parse_ipv4("0.0.0.0", &a));
    for (const char* bad : {"256.0.0.1", "1.2.3", "1.2.3.4.5", "1..2.3", "01.2.3.4", "1.2.3.4/24", "a.b.c.d", "",
                            "1.2.3.4 ", "1000.1.1.1", "-1.2.3.4"})
        EXPECT_FALSE(parse_ipv4(bad, &a)) << bad;

    Cidr c{};
    EXPECT_TRUE(parse_cidr("10.0.2.15/24", &c));
    EXPECT_EQ(c.addr, (Ipv4{{10, 0, 2, 15}}));
    EXPECT_EQ(c.prefix, 24);
    EXPECT_EQ(c.netmask(), (Ipv4{{255, 255, 255, 0}}));
    EXPECT_TRUE(parse_cidr("0.0.0.0/0", &c));
    EXPECT_EQ(c.netmask(), (Ipv4{{0, 0, 0, 0}}));
    EXPECT_TRUE(parse_cidr("1.2.3.4/32", &c));
    EXPECT_EQ(c.netmask(), (Ipv4{{255, 255, 255, 255}}));
    for (const char* bad :
         {"10.0.0.1/33", "10.0.0.1", "10.0.0.1/", "10.0.0.1/024", "10.0.0.1/2a", "10.0.0.1/100", "/24", "10.0.0/24"})
        EXPECT_FALSE(parse_cidr(bad, &c)) << bad;
}

TEST(CmdlineValues, Mac) {
    Mac m{};
    EXPECT_TRUE(parse_mac("52:54:00:12:34:56", &m));
    EXPECT_EQ(m, (Mac{{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}}));
    EXPECT_TRUE(parse_mac("AA-bb-CC-dd-EE-ff", &m));
    EXPECT_EQ(m, (Mac{{0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}}));
    for (const char* bad : {"52:54:00:12:34", "52:54:00:12:34:56:78", "5:54:00:12:34:56", "52:54:00:12:34:5g",
                            "52-54:00:12:34:56", "525400123456", "", "52:54:00:12:34:56:"})
        EXPECT_FALSE(parse_mac(bad, &m)) << bad;
}

// ------------------------------------------------------------------------------------------- tokenizer
struct Tok {
    std::string key;
    bool has_value;
    std::string value;
};

std::vector<Tok> tokens_of(const CommandLine& cl) {
    std::vector<Tok> out;
    for (size_t i = 0; i < cl.token_count(); i++)
        out.push_back({cl.key(i), cl.value(i) != nullptr, cl.value(i) ? cl.value(i) : ""});
    return out;
}

struct Collector {
    std::vector<std::string> lines;
    static void sink(void* ctx, const char* line) { static_cast<Collector*>(ctx)->lines.push_back(line); }
};

TEST(CmdlineTokenizer, Table) {
    struct Case {
        const char* in;
        std::vector<Tok> want;
        const char* rest;
        size_t problems;
    };
    const Case cases[] = {
        {"", {}, "", 0},
        {"   \t\n ", {}, "", 0},
        {"a=1 b", {{"a", true, "1"}, {"b", false, ""}}, "", 0},
        {"  a=1\tb=2\n", {{"a", true, "1"}, {"b", true, "2"}}, "", 0},
        {"msg=\"hello world\" x=y", {{"msg", true, "hello world"}, {"x", true, "y"}}, "", 0},
        {"\"msg=hello world\"", {{"msg", true, "hello world"}}, "", 0},
        {"k=a\"b c\"d", {{"k", true, "ab cd"}}, "", 0},
        {"k=\"\"", {{"k", true, ""}}, "", 0},
        {"k=", {{"k", true, ""}}, "", 0},
        {"k=a=b", {{"k", true, "a=b"}}, "", 0},
        {"a --  app args here", {{"a", false, ""}}, "app args here", 0},
        {"a --x", {{"a", false, ""}, {"--x", false, ""}}, "", 0},
        {"--", {}, "", 0},
        {"k=\"open", {}, "", 1},
        {"=v a", {{"a", false, ""}}, "", 1},
    };
    for (const auto& c : cases) {
        static CommandLine cl;
        Collector col;
        cl.load(c.in, Collector::sink, &col);
        auto got = tokens_of(cl);
        ASSERT_EQ(got.size(), c.want.size()) << c.in;
        for (size_t i = 0; i < got.size(); i++) {
            EXPECT_EQ(got[i].key, c.want[i].key) << c.in;
            EXPECT_EQ(got[i].has_value, c.want[i].has_value) << c.in;
            EXPECT_EQ(got[i].value, c.want[i].value) << c.in;
        }
        EXPECT_STREQ(cl.rest(), c.rest) << c.in;
        EXPECT_EQ(cl.problems(), c.problems) << c.in;
        EXPECT_EQ(col.lines.size(), c.problems) << c.in;
    }
}

TEST(CmdlineTokenizer, NullAndReload) {
    static CommandLine cl;
    cl.load("a=1 b=2");
    EXPECT_EQ(cl.token_count(), 2u);
    cl.load(nullptr);
    EXPECT_EQ(cl.token_count(), 0u);
    EXPECT_EQ(cl.key(0), nullptr);
    EXPECT_EQ(cl.value(5), nullptr);
}

TEST(CmdlineTokenizer, TooManyTokens) {
    std::string line;
    for (int i = 0; i < 200; i++) line += "k" + std::to_string(i) + "=" + std::to_string(i) + " ";
    static CommandLine cl;
    Collector col;
    cl.load(line.c_str(), Collector::sink, &col);
    EXPECT_EQ(cl.token_count(), kMaxTokens);
    ASSERT_EQ(col.lines.size(), 1u);
    EXPECT_EQ(col.lines[0], "cmdline: more than 128 options; ignoring 'k128=128' and the rest");
    EXPECT_STREQ(cl.key(127), "k127");
}

TEST(CmdlineTokenizer, TooLongLineDropsThePartialToken) {
    std::string line = "first=1 ";
    while (line.size() < 5000) line += "abcdefghijklmnopqrst=01234567890123456789 ";  // < 128 tokens fit
    static CommandLine cl;
    Collector col;
    cl.load(line.c_str(), Collector::sink, &col);
    ASSERT_EQ(col.lines.size(), 1u);
    EXPECT_EQ(col.lines[0].rfind("cmdline: command line longer than 4095 bytes; ignoring from '", 0), 0u)
        << col.lines[0];
    // Every kept token is complete.
    ASSERT_GT(cl.token_count(), 10u);
    EXPECT_STREQ(cl.key(0), "first");
    for (size_t i = 1; i < cl.token_count(); i++) {
        EXPECT_STREQ(cl.key(i), "abcdefghijklmnopqrst");
        EXPECT_STREQ(cl.value(i), "01234567890123456789");
    }
    // A line of one enormous token: the token is dropped entirely, nothing overflows.
    std::string huge(10000, 'x');
    col.lines.clear();
    cl.load(huge.c_str(), Collector::sink, &col);
    EXPECT_EQ(cl.token_count(), 0u);
    ASSERT_EQ(col.lines.size(), 1u);
    EXPECT_LT(col.lines[0].size(), 200u);
    EXPECT_NE(col.lines[0].find("...'"), std::string::npos);
}

// ---------------------------------------------------------------------------------------- typed options
const char* const kFaultKinds[] = {"none", "pagefault", "stackoverflow", "ud", "doublefault", "panic", "gp"};
char hostname_buf[16];

struct Options {
    // The kernel's declarations in main.cpp use exactly these factories.
    Option loglevel = Option::integer("loglevel", 6, 0, 7, "log level: 3 errors .. 7 debug");
    Option debug_exit = Option::integer("debug_exit", 0, 0, 0xFFFF, "isa-debug-exit port");
    Option fault = Option::enumeration("fault", 0, kFaultKinds, 7, "deliberate fault");
    Option heap = Option::size("heap", 0, 0, 1ull << 40, "heap size (0 = automatic)");
    Option verbose = Option::boolean("verbose", false, "chatty");
    Option quiet = Option::boolean("quiet", true, "quiet");
    Option hostname = Option::string("hostname", "skerry", hostname_buf, sizeof hostname_buf, "host name");
    Option ip = Option::ipv4("ip", Ipv4{{10, 0, 2, 15}}, "address");
    Option net = Option::cidr("net", Cidr{{{192, 168, 0, 1}}, 24}, "address/prefix");
    Option mac = Option::mac("mac", Mac{{0x52, 0x54, 0, 0x12, 0x34, 0x56}}, "MAC");
    Option offset = Option::integer("offset", -1, -100, 100, "signed");
    Option* all[11] = {&loglevel, &debug_exit, &fault, &heap, &verbose, &quiet, &hostname, &ip, &net, &mac, &offset};
};

// Constant initialization, as for the kernel's globals (no constructor runs before kernel_entry).
constinit Option g_constant = Option::integer("constant", 1, 0, 2, "");

TEST(CmdlineOptions, DefaultsWhenAbsent) {
    static Options o;
    static CommandLine cl;
    Collector col;
    EXPECT_EQ(parse(cl, "", o.all, Collector::sink, &col), 0u);
    EXPECT_TRUE(col.lines.empty());
    EXPECT_EQ(o.loglevel.as_int(), 6);
    EXPECT_FALSE(o.loglevel.is_set());
    EXPECT_EQ(o.fault.as_enum(), 0u);
    EXPECT_STREQ(o.fault.as_enum_name(), "none");
    EXPECT_EQ(o.heap.as_size(), 0u);
    EXPECT_FALSE(o.verbose.as_bool());
    EXPECT_TRUE(o.quiet.as_bool());
    EXPECT_STREQ(o.hostname.as_string(), "skerry");
    EXPECT_EQ(o.ip.as_ipv4(), (Ipv4{{10, 0, 2, 15}}));
    EXPECT_EQ(o.net.as_cidr(), (Cidr{{{192, 168, 0, 1}}, 24}));
    EXPECT_EQ(o.mac.as_mac(), (Mac{{0x52, 0x54, 0, 0x12, 0x34, 0x56}}));
    EXPECT_EQ(o.offset.as_int(), -1);
    EXPECT_EQ(g_constant.as_int(), 1);
}

TEST(CmdlineOptions, EveryTypeSet) {
    static Options o;
    static CommandLine cl;
    Collector col;
    EXPECT_EQ(parse(cl,
                    "loglevel=7 debug_exit=0xf4 fault=PageFault heap=64M verbose quiet=off hostname=\"my box\" "
                    "ip=192.168.1.2 net=10.1.2.3/16 mac=02:00:00:AA:BB:CC offset=-42",
                    o.all, Collector::sink, &col),
              0u);
    EXPECT_TRUE(col.lines.empty()) << col.lines[0];
    EXPECT_EQ(o.loglevel.as_int(), 7);
    EXPECT_TRUE(o.loglevel.is_set());
    EXPECT_EQ(o.debug_exit.as_int(), 0xF4);
    EXPECT_EQ(o.fault.as_enum(), 1u);
    EXPECT_EQ(o.heap.as_size(), 64ull << 20);
    EXPECT_TRUE(o.verbose.as_bool());
    EXPECT_FALSE(o.quiet.as_bool());
    EXPECT_STREQ(o.hostname.as_string(), "my box");
    EXPECT_EQ(o.ip.as_ipv4(), (Ipv4{{192, 168, 1, 2}}));
    EXPECT_EQ(o.net.as_cidr().prefix, 16);
    EXPECT_EQ(o.net.as_cidr().addr, (Ipv4{{10, 1, 2, 3}}));
    EXPECT_EQ(o.mac.as_mac(), (Mac{{2, 0, 0, 0xAA, 0xBB, 0xCC}}));
    EXPECT_EQ(o.offset.as_int(), -42);
    // Wrong-type reads are harmless.
    EXPECT_EQ(o.hostname.as_int(), 0);
    EXPECT_EQ(o.loglevel.as_size(), 0u);
    EXPECT_STREQ(o.loglevel.as_string(), "");
    EXPECT_STREQ(o.loglevel.as_enum_name(), "");

    // A new command line: everything not given returns to its default.
    parse(cl, "loglevel=3", o.all, Collector::sink, &col);
    EXPECT_EQ(o.loglevel.as_int(), 3);
    EXPECT_EQ(o.debug_exit.as_int(), 0);
    EXPECT_STREQ(o.hostname.as_string(), "skerry");
    EXPECT_FALSE(o.hostname.is_set());
}

TEST(CmdlineOptions, EveryMessage) {
    struct Case {
        const char* line;
        std::vector<std::string> messages;
    };
    const Case cases[] = {
        {"foo=bar", {"cmdline: unknown option 'foo=bar' ignored"}},
        {"foo", {"cmdline: unknown option 'foo' ignored"}},
        {"loglevel=abc", {"cmdline: bad value 'abc' for 'loglevel' (expected an integer 0..7); using default 6"}},
        {"loglevel=8", {"cmdline: bad value '8' for 'loglevel' (expected an integer 0..7); using default 6"}},
        {"loglevel=-1", {"cmdline: bad value '-1' for 'loglevel' (expected an integer 0..7); using default 6"}},
        {"loglevel=99999999999999999999999",
         {"cmdline: bad value '99999999999999999999999' for 'loglevel' (expected an integer 0..7); using default 6"}},
        {"loglevel", {"cmdline: missing value for 'loglevel' (expected an integer 0..7); using default 6"}},
        {"loglevel=", {"cmdline: bad value '' for 'loglevel' (expected an integer 0..7); using default 6"}},
        {"offset=-101", {"cmdline: bad value '-101' for 'offset' (expected an integer -100..100); using default -1"}},
        {"verbose=maybe",
         {"cmdline: bad value 'maybe' for 'verbose' (expected on/off, yes/no, true/false or 1/0); using default off"}},
        {"heap=64X",
         {"cmdline: bad value '64X' for 'heap' (expected a size 0..1T (K/M/G/T suffixes)); using default 0"}},
        {"heap=2T", {"cmdline: bad value '2T' for 'heap' (expected a size 0..1T (K/M/G/T suffixes)); using default 0"}},
        {"hostname=this-name-is-far-too-long",
         {"cmdline: bad value 'this-name-is-far-too-long' for 'hostname' (expected a string of at most 15 "
          "characters); using default 'skerry'"}},
        {"hostname",
         {"cmdline: missing value for 'hostname' (expected a string of at most 15 characters); using "
          "default 'skerry'"}},
        {"fault=segv",
         {"cmdline: bad value 'segv' for 'fault' (expected one of "
          "none|pagefault|stackoverflow|ud|doublefault|panic|gp); using default none"}},
        {"ip=1.2.3.256",
         {"cmdline: bad value '1.2.3.256' for 'ip' (expected an IPv4 address a.b.c.d); using default 10.0.2.15"}},
        {"net=10.0.0.1",
         {"cmdline: bad value '10.0.0.1' for 'net' (expected an IPv4 address/prefix a.b.c.d/n); using default "
          "192.168.0.1/24"}},
        {"mac=00:11",
         {"cmdline: bad value '00:11' for 'mac' (expected a MAC address xx:xx:xx:xx:xx:xx); using default "
          "52:54:00:12:34:56"}},
        {"loglevel=5 loglevel=4", {"cmdline: 'loglevel' given 2 times; using the last one 'loglevel=4'"}},
        {"loglevel=5 loglevel=x",
         {"cmdline: 'loglevel' given 2 times; using the last one 'loglevel=x'",
          "cmdline: bad value 'x' for 'loglevel' (expected an integer 0..7); using default 6"}},
        {"msg=\"unterminated", {"cmdline: unterminated quote in 'msg=unterminated' ignored"}},
        {"=3", {"cmdline: option without a name '=3' ignored"}},
        {"a=1 loglevel=9 b",
         {"cmdline: bad value '9' for 'loglevel' (expected an integer 0..7); using default 6",
          "cmdline: unknown option 'a=1' ignored", "cmdline: unknown option 'b' ignored"}},
    };
    for (const auto& c : cases) {
        static Options o;
        static CommandLine cl;
        Collector col;
        const size_t problems = parse(cl, c.line, o.all, Collector::sink, &col);
        EXPECT_EQ(col.lines, c.messages) << c.line;
        size_t notes = 0;
        for (const auto& l : col.lines) notes += l.find(" times; using the last") != std::string::npos;
        EXPECT_EQ(problems, c.messages.size() - notes) << c.line;
    }
}

TEST(CmdlineOptions, BadValueLeavesDefaultAndLastWins) {
    static Options o;
    static CommandLine cl;
    parse(cl, "loglevel=5 loglevel=x", o.all);
    EXPECT_EQ(o.loglevel.as_int(), 6);  // the last one decides; it is bad, so the default
    EXPECT_FALSE(o.loglevel.is_set());
    parse(cl, "loglevel=x loglevel=2", o.all);
    EXPECT_EQ(o.loglevel.as_int(), 2);
    EXPECT_TRUE(o.loglevel.is_set());
}

TEST(CmdlineOptions, DashAndUnderscoreAreTheSame) {
    static Options o;
    static CommandLine cl;
    Collector col;
    parse(cl, "debug-exit=244", o.all, Collector::sink, &col);
    EXPECT_TRUE(col.lines.empty());
    EXPECT_EQ(o.debug_exit.as_int(), 244);
    EXPECT_EQ(find(o.all, "debug-exit"), &o.debug_exit);
    EXPECT_EQ(find(o.all, "nope"), nullptr);
}

TEST(CmdlineOptions, SeveralModulesThenUnknown) {
    static Options kernel;
    Option net_mtu = Option::integer("mtu", 1500, 576, 9000, "MTU");
    Option net_dhcp = Option::boolean("dhcp", true, "use DHCP");
    Option* net_options[] = {&net_mtu, nullptr, &net_dhcp};

    static CommandLine cl;
    Collector col;
    cl.load("loglevel=7 mtu=9000 dhcp=no stray=1", Collector::sink, &col);
    EXPECT_EQ(cl.apply(kernel.all), 0u);
    EXPECT_EQ(kernel.loglevel.as_int(), 7);
    EXPECT_FALSE(cl.claimed(1));
    EXPECT_EQ(cl.apply(net_options), 0u);  // a later module, same tokens
    EXPECT_TRUE(cl.claimed(1));
    EXPECT_EQ(net_mtu.as_int(), 9000);
    EXPECT_FALSE(net_dhcp.as_bool());
    EXPECT_TRUE(col.lines.empty());
    EXPECT_EQ(cl.report_unknown(), 1u);
    EXPECT_EQ(cl.report_unknown(), 0u);  // reported once
    ASSERT_EQ(col.lines.size(), 1u);
    EXPECT_EQ(col.lines[0], "cmdline: unknown option 'stray=1' ignored");
    EXPECT_EQ(cl.problems(), 1u);
}

TEST(CmdlineOptions, NoSinkIsFine) {
    static Options o;
    static CommandLine cl;
    EXPECT_EQ(parse(cl, "loglevel=x junk \"open", o.all), 3u);
}

TEST(CmdlineOptions, FormatValueAndHelp) {
    static Options o;
    char buf[256];
    struct Case {
        const Option* opt;
        const char* value;
        const char* help;
    } cases[] = {
        {&o.loglevel, "6", "loglevel=<an integer 0..7> (default 6): log level: 3 errors .. 7 debug"},
        {&o.heap, "0", "heap=<a size 0..1T (K/M/G/T suffixes)> (default 0): heap size (0 = automatic)"},
        {&o.verbose, "off", "verbose=<on/off, yes/no, true/false or 1/0> (default off): chatty"},
        {&o.hostname, "'skerry'", "hostname=<a string of at most 15 characters> (default 'skerry'): host name"},
        {&o.ip, "10.0.2.15", "ip=<an IPv4 address a.b.c.d> (default 10.0.2.15): address"},
        {&o.net, "192.168.0.1/24", "net=<an IPv4 address/prefix a.b.c.d/n> (default 192.168.0.1/24): address/prefix"},
        {&o.mac, "52:54:00:12:34:56", "mac=<a MAC address xx:xx:xx:xx:xx:xx> (default 52:54:00:12:34:56): MAC"},
        {&o.fault, "none",
         "fault=<one of none|pagefault|stackoverflow|ud|doublefault|panic|gp> (default none): deliberate fault"},
    };
    for (const auto& c : cases) {
        c.opt->format_value(buf, sizeof buf, true);
        EXPECT_STREQ(buf, c.value);
        format_help(*c.opt, buf, sizeof buf);
        EXPECT_STREQ(buf, c.help);
    }
    Option sz = Option::size("s", 3ull << 30, 4096, 0x1800, "");
    sz.format_value(buf, sizeof buf, true);
    EXPECT_STREQ(buf, "3G");
    EXPECT_TRUE(sz.set_from_text("0x1800"));
    sz.format_value(buf, sizeof buf);
    EXPECT_STREQ(buf, "6K");
    sz.format_expected(buf, sizeof buf);
    EXPECT_STREQ(buf, "a size 4K..6K (K/M/G/T suffixes)");
    // Small buffers: truncated, terminated, no overflow.
    char tiny[5];
    EXPECT_EQ(format_help(o.loglevel, tiny, sizeof tiny), 4u);
    EXPECT_STREQ(tiny, "logl");
    EXPECT_EQ(o.mac.format_value(tiny, 1, true), 0u);
    EXPECT_STREQ(tiny, "");
}

}  // namespace
