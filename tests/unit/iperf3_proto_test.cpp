// The iperf3 control state machine: bytes of a real client's control connection in, the server's bytes out.
#include <gtest/gtest.h>
#include <string.h>

#include <string>

#include <cJSON.h>

#include "appliances/iperf/iperf3_proto.hpp"

namespace v3 = iperf::v3;

namespace {

const char kCookie[] = "abcdefghijklmnopqrstuvwxyz0123456789";  // 36 characters + NUL = 37 bytes

std::string frame(const std::string& json) {
    std::string s(4, '\0');
    const size_t n = json.size();
    s[0] = static_cast<char>(n >> 24);
    s[1] = static_cast<char>(n >> 16);
    s[2] = static_cast<char>(n >> 8);
    s[3] = static_cast<char>(n);
    return s + json;
}

std::string take(v3::Control& c) {
    std::string s(reinterpret_cast<const char*>(c.out()), c.out_size());
    c.sent(c.out_size());
    return s;
}

// Feeds everything, one byte at a time if `bytewise`; returns the events seen.
std::string feed(v3::Control& c, const std::string& in, bool bytewise = false) {
    std::string events;
    size_t off = 0;
    while (off < in.size()) {
        v3::Event ev;
        const size_t n = bytewise ? 1 : in.size() - off;
        const size_t used = c.feed(in.data() + off, n, &ev);
        off += used;
        if (ev != v3::Event::None) events += static_cast<char>('0' + static_cast<int>(ev));
        if (used == 0 && ev == v3::Event::None) break;
    }
    return events;
}

const std::string kParams =
    R"({"tcp":true,"omit":0,"time":2,"num":0,"blockcount":0,"parallel":2,"reverse":true,"len":131072,)"
    R"("pacing_timer":1000,"client_version":"3.12"})";

}  // namespace

TEST(Iperf3Proto, StreamIdsFollowIperf3) {
    EXPECT_EQ(v3::stream_id(0), 1);
    EXPECT_EQ(v3::stream_id(1), 3);
    EXPECT_EQ(v3::stream_id(2), 4);
}

TEST(Iperf3Proto, NrtxRiseCountsRetransmissions) {
    EXPECT_EQ(v3::nrtx_rise(0, 0), 0);
    EXPECT_EQ(v3::nrtx_rise(0, 1), 1);  // a fast retransmit or an RTO
    EXPECT_EQ(v3::nrtx_rise(1, 3), 2);  // two more RTOs of the same segment
    EXPECT_EQ(v3::nrtx_rise(3, 0), 0);  // acknowledged: reset, nothing new
    EXPECT_EQ(v3::nrtx_rise(3, 1), 1);  // reset, then a new retransmission
    EXPECT_EQ(v3::nrtx_rise(2, 2), 0);
    EXPECT_EQ(v3::nrtx_rise(254, 255), 1);  // lwIP stops at 255
}

TEST(Iperf3Proto, ParamsParsed) {
    v3::Params p;
    ASSERT_TRUE(v3::Control::parse_params(kParams.data(), kParams.size(), &p));
    EXPECT_FALSE(p.udp);
    EXPECT_TRUE(p.reverse);
    EXPECT_EQ(p.parallel, 2);
    EXPECT_EQ(p.streams(), 2);
    EXPECT_DOUBLE_EQ(p.time, 2);
    EXPECT_EQ(p.len, 131072u);
    EXPECT_TRUE(p.server_sends(0));

    const std::string udp = R"({"udp":true,"bandwidth":10000000,"len":1448,"bidirectional":true,"parallel":3,)"
                            R"("udp_counters_64bit":1})";
    ASSERT_TRUE(v3::Control::parse_params(udp.data(), udp.size(), &p));
    EXPECT_TRUE(p.udp);
    EXPECT_TRUE(p.bidir);
    EXPECT_TRUE(p.udp_counters_64bit);
    EXPECT_EQ(p.bandwidth, 10000000u);
    EXPECT_EQ(p.streams(), 6);
    EXPECT_FALSE(p.server_sends(2));
    EXPECT_TRUE(p.server_sends(3));

    const std::string defaults = R"({"udp":true})";
    ASSERT_TRUE(v3::Control::parse_params(defaults.data(), defaults.size(), &p));
    EXPECT_EQ(p.bandwidth, 1000000u);
    EXPECT_EQ(p.parallel, 1);

    EXPECT_FALSE(v3::Control::parse_params("{\"tcp\":", 7, &p));
    EXPECT_FALSE(v3::Control::parse_params("[1]", 3, &p));
}

void full_session(bool bytewise) {
    v3::Control c;
    // Cookie -> PARAM_EXCHANGE
    EXPECT_EQ(feed(c, std::string(kCookie, sizeof kCookie), bytewise), "");
    ASSERT_TRUE(c.has_cookie());
    EXPECT_STREQ(c.cookie(), kCookie);
    EXPECT_EQ(take(c), std::string(1, static_cast<char>(v3::kParamExchange)));
    // Params -> CREATE_STREAMS
    const char create = static_cast<char>('0' + static_cast<int>(v3::Event::CreateStreams));
    EXPECT_EQ(feed(c, frame(kParams), bytewise), std::string(1, create));
    EXPECT_EQ(take(c), std::string(1, static_cast<char>(v3::kCreateStreams)));
    EXPECT_EQ(c.params().parallel, 2);
    // Streams connected -> TEST_START, TEST_RUNNING
    c.start_test();
    EXPECT_EQ(take(c), std::string({static_cast<char>(v3::kTestStart), static_cast<char>(v3::kTestRunning)}));
    // TEST_END -> (results) EXCHANGE_RESULTS
    const char end = static_cast<char>('0' + static_cast<int>(v3::Event::TestEnd));
    EXPECT_EQ(feed(c, std::string(1, static_cast<char>(v3::kTestEnd)), bytewise), std::string(1, end));
    v3::StreamResult r[2];
    r[0].id = 1;
    r[0].bytes = 1000;
    r[0].seconds = 2;
    r[0].retransmits = 7;
    r[1].id = 3;
    r[1].bytes = 2000;
    r[1].seconds = 2;
    r[1].retransmits = 0;
    c.end_test(r, 2, true);
    EXPECT_EQ(take(c), std::string(1, static_cast<char>(v3::kExchangeResults)));
    // Client results -> server results JSON + DISPLAY_RESULTS
    const std::string client = R"({"cpu_util_total":1,"cpu_util_user":0.5,"cpu_util_system":0.5,)"
                               R"("sender_has_retransmits":0,"streams":[{"id":1,"bytes":990},{"id":3,"bytes":1990}]})";
    EXPECT_EQ(feed(c, frame(client), bytewise), "");
    EXPECT_EQ(c.client_bytes(), 2980u);
    const std::string out = take(c);
    ASSERT_GT(out.size(), 5u);
    const size_t len = (size_t{static_cast<uint8_t>(out[0])} << 24) | (size_t{static_cast<uint8_t>(out[1])} << 16) |
                       (size_t{static_cast<uint8_t>(out[2])} << 8) | static_cast<uint8_t>(out[3]);
    ASSERT_EQ(out.size(), 4 + len + 1);
    EXPECT_EQ(out.back(), static_cast<char>(v3::kDisplayResults));
    cJSON* j = cJSON_ParseWithLength(out.data() + 4, len);
    ASSERT_NE(j, nullptr);
    for (const char* k : {"cpu_util_total", "cpu_util_user", "cpu_util_system", "sender_has_retransmits"})
        EXPECT_TRUE(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, k))) << k;
    // The server sent TCP (-R): it has retransmit counts, per stream.
    EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(j, "sender_has_retransmits")->valueint, 1);
    const cJSON* streams = cJSON_GetObjectItemCaseSensitive(j, "streams");
    ASSERT_EQ(cJSON_GetArraySize(streams), 2);
    EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(streams, 0), "retransmits")->valueint, 7);
    const cJSON* s1 = cJSON_GetArrayItem(streams, 1);
    EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(s1, "retransmits")->valueint, 0);
    EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(s1, "id")->valueint, 3);
    EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(s1, "bytes")->valuedouble, 2000);
    for (const char* k : {"retransmits", "jitter", "errors", "packets", "start_time", "end_time"})
        EXPECT_TRUE(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s1, k))) << k;
    cJSON_Delete(j);
    // IPERF_DONE -> Done
    const char done = static_cast<char>('0' + static_cast<int>(v3::Event::Done));
    EXPECT_EQ(feed(c, std::string(1, static_cast<char>(v3::kIperfDone)), bytewise), std::string(1, done));
}

TEST(Iperf3Proto, FullSessionInOnePiece) { full_session(false); }
TEST(Iperf3Proto, FullSessionByteByByte) { full_session(true); }

TEST(Iperf3Proto, CookieAndParamsInOneSegment) {
    v3::Control c;
    v3::Event ev;
    const std::string in = std::string(kCookie, sizeof kCookie) + frame(kParams);
    const size_t used = c.feed(in.data(), in.size(), &ev);
    EXPECT_EQ(used, in.size());
    EXPECT_EQ(ev, v3::Event::CreateStreams);
    EXPECT_EQ(take(c), std::string({static_cast<char>(v3::kParamExchange), static_cast<char>(v3::kCreateStreams)}));
}

TEST(Iperf3Proto, ClientTerminate) {
    v3::Control c;
    feed(c, std::string(kCookie, sizeof kCookie) + frame(kParams));
    c.start_test();
    const char term = static_cast<char>('0' + static_cast<int>(v3::Event::Terminated));
    EXPECT_EQ(feed(c, std::string(1, static_cast<char>(v3::kClientTerminate))), std::string(1, term));
}

TEST(Iperf3Proto, Errors) {
    const char err = static_cast<char>('0' + static_cast<int>(v3::Event::Error));
    {
        v3::Control c;  // malformed params
        EXPECT_EQ(feed(c, std::string(kCookie, sizeof kCookie) + frame("{nope")), std::string(1, err));
        EXPECT_STRNE(c.error_text(), "");
    }
    {
        v3::Control c;  // a length beyond the limit
        std::string huge = std::string(kCookie, sizeof kCookie) + std::string("\x7f\xff\xff\xff", 4);
        EXPECT_EQ(feed(c, huge), std::string(1, err));
    }
    {
        v3::Control c;  // an unexpected state byte while running
        feed(c, std::string(kCookie, sizeof kCookie) + frame(kParams));
        EXPECT_EQ(feed(c, std::string(1, static_cast<char>(v3::kIperfDone))), std::string(1, err));
        // and everything after an error is ignored
        EXPECT_EQ(feed(c, std::string(1, static_cast<char>(v3::kTestEnd))), "");
    }
}

TEST(Iperf3Proto, ServerOutputTextWhenAsked) {
    v3::Control c;
    const std::string params = R"({"tcp":true,"time":1,"get_server_output":1})";
    feed(c, std::string(kCookie, sizeof kCookie) + frame(params));
    c.start_test();
    feed(c, std::string(1, static_cast<char>(v3::kTestEnd)));
    v3::StreamResult r;
    r.id = 1;
    c.end_test(&r, 1, false, 0, "hello\n");
    take(c);
    feed(c, frame(R"({"streams":[]})"));
    const std::string out = take(c);
    ASSERT_GT(out.size(), 5u);
    cJSON* j = cJSON_ParseWithLength(out.data() + 4, out.size() - 5);
    ASSERT_NE(j, nullptr);
    const cJSON* t = cJSON_GetObjectItemCaseSensitive(j, "server_output_text");
    ASSERT_TRUE(cJSON_IsString(t));
    EXPECT_STREQ(t->valuestring, "hello\n");
    cJSON_Delete(j);
}

// The server's results JSON after a whole session with these params, results and direction.
static cJSON* results_for(const std::string& params, const v3::StreamResult* r, int n, bool server_sent) {
    v3::Control c;
    feed(c, std::string(kCookie, sizeof kCookie) + frame(params));
    c.start_test();
    feed(c, std::string(1, static_cast<char>(v3::kTestEnd)));
    c.end_test(r, n, server_sent);
    take(c);
    feed(c, frame(R"({"streams":[]})"));
    const std::string out = take(c);
    if (out.size() < 5) return nullptr;
    return cJSON_ParseWithLength(out.data() + 4, out.size() - 5);
}

TEST(Iperf3Proto, RetransmitsFollowIperf3Server) {
    v3::StreamResult r[2];
    r[0].id = 1;
    r[1].id = 3;
    r[1].retransmits = 3;  // the sending stream of a --bidir test
    {                      // server only received: -1 everywhere, whatever the streams say
        cJSON* j = results_for(R"({"tcp":true,"time":1})", r, 1, false);
        ASSERT_NE(j, nullptr);
        EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(j, "sender_has_retransmits")->valueint, -1);
        const cJSON* s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "streams"), 0);
        EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(s0, "retransmits")->valueint, -1);
        cJSON_Delete(j);
    }
    {  // --bidir TCP: the receiving stream -1, the sending one its count
        cJSON* j = results_for(R"({"tcp":true,"time":1,"bidirectional":true})", r, 2, true);
        ASSERT_NE(j, nullptr);
        EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(j, "sender_has_retransmits")->valueint, 1);
        const cJSON* st = cJSON_GetObjectItemCaseSensitive(j, "streams");
        EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(st, 0), "retransmits")->valueint, -1);
        EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(st, 1), "retransmits")->valueint, 3);
        cJSON_Delete(j);
    }
    {  // UDP sender: iperf3 says 0 (no TCP retransmits to have) and -1 per stream
        r[0].retransmits = 5;
        cJSON* j = results_for(R"({"udp":true,"time":1,"reverse":true})", r, 1, true);
        ASSERT_NE(j, nullptr);
        EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(j, "sender_has_retransmits")->valueint, 0);
        const cJSON* s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "streams"), 0);
        EXPECT_EQ(cJSON_GetObjectItemCaseSensitive(s0, "retransmits")->valueint, -1);
        cJSON_Delete(j);
    }
}

TEST(Iperf3Proto, CpuIsTheBusyShareAndLandsInTheResults) {
    EXPECT_DOUBLE_EQ(v3::busy_percent(4'000'000'000ull, 1'000'000'000ull), 75.0);
    EXPECT_DOUBLE_EQ(v3::busy_percent(0, 0), 0.0);
    EXPECT_DOUBLE_EQ(v3::busy_percent(1000, 2000), 0.0);  // idle beyond elapsed (clock steps): not negative
    v3::Control c;
    feed(c, std::string(kCookie, sizeof kCookie) + frame(R"({"tcp":true,"time":1,"parallel":1})"));
    c.start_test();
    feed(c, std::string(1, static_cast<char>(v3::kTestEnd)));
    v3::StreamResult r{};
    r.id = 1;
    c.end_test(&r, 1, true, 42.5);
    take(c);
    feed(c, frame(R"({"streams":[]})"));
    const std::string out = take(c);
    ASSERT_GT(out.size(), 5u);
    cJSON* j = cJSON_ParseWithLength(out.data() + 4, out.size() - 5);
    ASSERT_NE(j, nullptr);
    EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "cpu_util_total")->valuedouble, 42.5);
    EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "cpu_util_system")->valuedouble, 42.5);
    EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "cpu_util_user")->valuedouble, 0.0);
    cJSON_Delete(j);
}
