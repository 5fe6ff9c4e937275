// The http appliance's request parser (appliances/http/request.hpp), JSON writer and file table.
#include <gtest/gtest.h>
#include <string.h>

#include <string>

#include "appliances/http/files.hpp"
#include "appliances/http/json.hpp"
#include "appliances/http/request.hpp"

namespace {

using http::Method;
using http::Parse;

struct Case {
    const char* name;
    std::string input;
    Parse parse;
    int status;  // on Error
};

http::ParseResult run(const std::string& in, http::Request* r, const http::Limits& l = http::Limits{}) {
    return http::parse_request(in.data(), in.size(), l, r);
}

TEST(HttpRequest, Table) {
    const std::string big_line = "GET /" + std::string(3000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::string big_line_partial = "GET /" + std::string(3000, 'a');
    std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 70; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
    many += "\r\n";
    const std::string huge_hdr = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'b') + "\r\n\r\n";
    const std::string huge_partial = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'b');
    const Case cases[] = {
        {"simple", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Ok, 0},
        {"bare LF", "GET / HTTP/1.1\nHost: x\n\n", Parse::Ok, 0},
        {"http/1.0 no host", "GET / HTTP/1.0\r\n\r\n", Parse::Ok, 0},
        {"head", "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Ok, 0},
        {"leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Ok, 0},
        {"absolute form", "GET http://example.com/a/b?q HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Ok, 0},
        {"incomplete line", "GET / HTT", Parse::Incomplete, 0},
        {"incomplete headers", "GET / HTTP/1.1\r\nHost: x\r\n", Parse::Incomplete, 0},
        {"empty", "", Parse::Incomplete, 0},
        {"garbage early", "\x16\x03\x01\x02", Parse::Error, 400},
        {"no target", "GET HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"no version", "GET /\r\n\r\n", Parse::Error, 400},
        {"bad version", "GET / HTTP/1.x\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"http/2", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", Parse::Error, 505},
        {"http/0.9", "GET / HTTP/0.9\r\n\r\n", Parse::Error, 400},
        {"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"bad method char", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"missing host 1.1", "GET / HTTP/1.1\r\n\r\n", Parse::Error, 400},
        {"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Parse::Error, 400},
        {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", Parse::Error, 400},
        {"no colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", Parse::Error, 400},
        {"empty name", "GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", Parse::Error, 400},
        {"control in value", std::string("GET / HTTP/1.1\r\nHost: x\r\nX: a\x01z\r\n\r\n"), Parse::Error, 400},
        {"target not slash", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"dotdot", "GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"dotdot middle", "GET /a/../../b HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"encoded dotdot", "GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"encoded dotdot upper", "GET /a/%2E%2E/b HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"half encoded dotdot", "GET /.%2e/x HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"encoded slash dotdot", "GET /a%2f..%2fb HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"encoded NUL", "GET /index.html%00.txt HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"raw NUL", std::string("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n", 30), Parse::Error, 400},
        {"bad escape", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"short escape", "GET /%2 HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"backslash", "GET /a\\b HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"encoded backslash", "GET /..%5c..%5cwin.ini HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Error, 400},
        {"request line too long", big_line, Parse::Error, 414},
        {"request line too long, partial", big_line_partial, Parse::Error, 414},
        {"too many headers", many, Parse::Error, 431},
        {"header section too large", huge_hdr, Parse::Error, 431},
        {"header section too large, partial", huge_partial, Parse::Error, 431},
        {"chunked", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", Parse::Error, 501},
        {"te and cl", "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
         Parse::Error, 400},
        {"bad content-length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", Parse::Error, 400},
        {"negative content-length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", Parse::Error, 400},
        {"conflicting content-length", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
         Parse::Error, 400},
        {"body too large", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", Parse::Error, 413},
        {"body too large, huge number", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
         Parse::Error, 400},
        {"post is parsed", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", Parse::Ok, 0},
        {"unknown method is parsed", "BREW / HTTP/1.1\r\nHost: x\r\n\r\n", Parse::Ok, 0},
    };
    for (const Case& c : cases) {
        http::Request r;
        const http::ParseResult pr = run(c.input, &r);
        EXPECT_EQ(pr.parse, c.parse) << c.name;
        if (c.parse == Parse::Error) {
            EXPECT_EQ(pr.status, c.status) << c.name;
        }
    }
}

TEST(HttpRequest, Fields) {
    http::Request r;
    const std::string in = "GET /a//b/./c/?x=1 HTTP/1.1\r\nhost: h\r\nIf-None-Match: \"abc\"\r\n"
                           "Content-Length: 5\r\n\r\nhelloGET";
    ASSERT_EQ(run(in, &r).parse, Parse::Ok);
    EXPECT_EQ(r.method, Method::Get);
    EXPECT_STREQ(r.path, "/a/b/c/");
    EXPECT_EQ(r.version_minor, 1);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_TRUE(r.has_if_none_match);
    EXPECT_STREQ(r.if_none_match, "\"abc\"");
    EXPECT_EQ(r.body_bytes, 5u);
    EXPECT_EQ(r.header_bytes, in.size() - 8);
    EXPECT_STREQ(r.method_text, "GET");
}

TEST(HttpRequest, KeepAlive) {
    struct K {
        const char* in;
        bool keep;
    };
    const K ks[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", false},
    };
    for (const K& k : ks) {
        http::Request r;
        ASSERT_EQ(run(k.in, &r).parse, Parse::Ok) << k.in;
        EXPECT_EQ(r.keep_alive, k.keep) << k.in;
    }
}

TEST(HttpRequest, Methods) {
    struct M {
        const char* m;
        Method want;
    };
    const M ms[] = {{"GET", Method::Get},          {"HEAD", Method::Head},         {"POST", Method::NotAllowed},
                    {"PUT", Method::NotAllowed},   {"DELETE", Method::NotAllowed}, {"OPTIONS", Method::NotAllowed},
                    {"PATCH", Method::NotAllowed}, {"TRACE", Method::NotAllowed},  {"CONNECT", Method::NotAllowed},
                    {"get", Method::Unknown},      {"BREW", Method::Unknown}};
    for (const M& m : ms) {
        http::Request r;
        const std::string in = std::string(m.m) + " / HTTP/1.1\r\nHost: x\r\n\r\n";
        ASSERT_EQ(run(in, &r).parse, Parse::Ok) << m.m;
        EXPECT_EQ(r.method, m.want) << m.m;
    }
}

TEST(HttpRequest, Pipelined) {
    const std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    http::Request r;
    ASSERT_EQ(run(two, &r).parse, Parse::Ok);
    EXPECT_STREQ(r.path, "/a");
    const std::string rest = two.substr(r.header_bytes);
    ASSERT_EQ(run(rest, &r).parse, Parse::Ok);
    EXPECT_STREQ(r.path, "/b");
    EXPECT_EQ(r.header_bytes, rest.size());
}

TEST(HttpRequest, EveryPrefixIsIncomplete) {
    const std::string in = "GET /index.html HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
    for (size_t n = 0; n < in.size(); ++n) {
        http::Request r;
        EXPECT_EQ(http::parse_request(in.data(), n, http::Limits{}, &r).parse, Parse::Incomplete) << n;
    }
}

TEST(HttpRequest, Normalise) {
    struct N {
        const char* in;
        const char* out;  // nullptr: refused
    };
    const N ns[] = {
        {"/", "/"},         {"/a/b", "/a/b"},     {"//a///b", "/a/b"},   {"/a/./b/.", "/a/b/"},
        {"/a%20b", "/a b"}, {"/%41", "/A"},       {"/a?b/../c", "/a"},   {"/a#frag", "/a"},
        {"http://h", "/"},  {"http://h?x", "/"},  {"HTTPS://h/x", "/x"}, {"/..", nullptr},
        {"/a/..", nullptr}, {"/%2e%2e", nullptr}, {"/%2E%2e/", nullptr}, {"/.%2E", nullptr},
        {"/%00", nullptr},  {"/%0a", nullptr},    {"/%", nullptr},       {"*", nullptr},
        {"a", nullptr},     {"/...", "/..."},     {"/a..b", "/a..b"},
    };
    for (const N& n : ns) {
        char out[http::kMaxPath + 1];
        const bool ok = http::normalise_target(n.in, strlen(n.in), out, sizeof out);
        if (!n.out) {
            EXPECT_FALSE(ok) << n.in << " -> " << out;
        } else {
            ASSERT_TRUE(ok) << n.in;
            EXPECT_STREQ(out, n.out) << n.in;
        }
    }
}

TEST(HttpRequest, Etag) {
    EXPECT_TRUE(http::etag_matches("\"abc\"", "\"abc\""));
    EXPECT_TRUE(http::etag_matches("W/\"abc\"", "\"abc\""));
    EXPECT_TRUE(http::etag_matches("\"x\", \"abc\"", "\"abc\""));
    EXPECT_TRUE(http::etag_matches("*", "\"abc\""));
    EXPECT_FALSE(http::etag_matches("\"abd\"", "\"abc\""));
    EXPECT_FALSE(http::etag_matches("", "\"abc\""));
    EXPECT_FALSE(http::etag_matches("abc", "\"abc\""));
}

TEST(HttpJson, Writer) {
    char buf[256];
    http::JsonWriter j(buf, sizeof buf);
    j.begin_object();
    j.field("a", "x\"y\\z\n\x01");
    j.field("n", static_cast<uint64_t>(42));
    j.key("arr");
    j.begin_array();
    j.number(1);
    j.boolean(true);
    j.begin_object();
    j.end_object();
    j.null();
    j.end_array();
    j.key("t");
    j.fixed3(12345);
    j.end_object();
    EXPECT_TRUE(j.ok());
    EXPECT_STREQ(buf, "{\"a\":\"x\\\"y\\\\z\\n\\u0001\",\"n\":42,\"arr\":[1,true,{},null],\"t\":12.345}");
    char small[8];
    http::JsonWriter s(small, sizeof small);
    s.begin_object();
    s.field("long key", "value");
    s.end_object();
    EXPECT_FALSE(s.ok());
    EXPECT_LT(strlen(small), sizeof small);
}

TEST(HttpFiles, Lookup) {
    static const unsigned char d[] = {'a', 'b', 'c', 'd'};
    const http::File files[] = {
        {"/dir/index.html", d, 4, 0, "text/html", "\"1\"", "", 0},
        {"/index.html", d, 4, 0, "text/html", "\"2\"", "", 0},
        {"/rep.bin", d, 10, 4, "application/octet-stream", "\"3\"", "", 0},
    };
    EXPECT_EQ(http::find_file_in(files, 3, "/"), &files[1]);
    EXPECT_EQ(http::find_file_in(files, 3, "/dir/"), &files[0]);
    EXPECT_EQ(http::find_file_in(files, 3, "/dir"), nullptr);
    EXPECT_EQ(http::find_file_in(files, 3, "/index.html"), &files[1]);
    EXPECT_EQ(http::find_file_in(files, 3, "/nope"), nullptr);
    std::string body;
    size_t off = 0;
    const unsigned char* p;
    while (size_t n = files[2].chunk(off, 3, &p)) {
        body.append(reinterpret_cast<const char*>(p), n);
        off += n;
    }
    EXPECT_EQ(body, "abcdabcdab");
}

TEST(HttpFiles, GeneratedTable) {
    ASSERT_GT(http::kFileCount, 0u);
    for (size_t i = 0; i < http::kFileCount; ++i) {
        const http::File& f = http::kFiles[i];
        EXPECT_EQ(f.path[0], '/');
        EXPECT_EQ(strlen(f.headers), f.headers_len);
        EXPECT_NE(strstr(f.headers, ("Content-Length: " + std::to_string(f.size) + "\r\n").c_str()), nullptr);
        EXPECT_NE(strstr(f.headers, f.etag), nullptr);
        EXPECT_LT(f.headers_len, 500u);  // server.cpp's header buffer
    }
    EXPECT_NE(strstr(http::kLastModified, " GMT"), nullptr);
}

}  // namespace
