// The kernel log: line format, timestamps, level filter, truncation, sinks, the ring and its replay.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "kernel/log.hpp"

using namespace skerry;
using log::Level;

namespace {

class CaptureSink final : public log::Sink {
public:
    void write(const char* s, size_t n) override { text.append(s, n); }
    void write_level(Level l, const char* s, size_t n) override {
        pieces.emplace_back(l, std::string(s, n));
        write(s, n);
    }
    // The level each complete line was written with.
    std::vector<std::pair<Level, std::string>> pieces;
    std::string text;
};

// A sink that only implements write(): the default write_level must forward to it.
class PlainSink final : public log::Sink {
public:
    void write(const char* s, size_t n) override { text.append(s, n); }
    std::string text;
};

uint64_t fake_ns;
uint64_t fake_clock() { return fake_ns; }

std::string ring_string() {
    std::string out(log::kRingSize, '\0');
    out.resize(log::ring_copy(out.data(), out.size()));
    return out;
}

class LogTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::reset();
        fake_ns = 0;
    }
    void TearDown() override { log::reset(); }
};

TEST_F(LogTest, LineFormatBeforeTheClockIsSet) {
    CaptureSink s;
    ASSERT_TRUE(log::add_sink(&s));
    log::info("hello %d", 42);
    EXPECT_EQ(s.text, "[    0.000000] I hello 42\n");
}

TEST_F(LogTest, TimestampSecondsAndMicroseconds) {
    CaptureSink s;
    log::add_sink(&s);
    log::set_clock(fake_clock);
    fake_ns = 1234567891;  // 1.234567891 s: microseconds are truncated, not rounded
    log::warn("w");
    fake_ns = 123456ull * 1000000000ull + 5000;  // more than five digits of seconds widen the field
    log::error("e");
    EXPECT_EQ(s.text, "[    1.234567] W w\n[123456.000005] E e\n");
}

TEST_F(LogTest, LevelTagsAndNames) {
    EXPECT_EQ(log::level_tag(Level::Error), 'E');
    EXPECT_EQ(log::level_tag(Level::Warn), 'W');
    EXPECT_EQ(log::level_tag(Level::Info), 'I');
    EXPECT_EQ(log::level_tag(Level::Debug), 'D');
    EXPECT_STREQ(log::level_name(Level::Debug), "debug");
}

TEST_F(LogTest, ThresholdDropsLinesEverywhere) {
    CaptureSink s;
    log::add_sink(&s);
    EXPECT_EQ(log::level(), Level::Info);
    log::debug("hidden by default");
    log::set_level(Level::Warn);
    EXPECT_FALSE(log::enabled(Level::Info));
    EXPECT_TRUE(log::enabled(Level::Error));
    log::info("dropped");
    log::warn("kept warn");
    log::error("kept error");
    log::set_level(Level::Debug);
    log::debug("kept debug");
    EXPECT_EQ(s.text, "[    0.000000] W kept warn\n[    0.000000] E kept error\n[    0.000000] D kept debug\n");
    EXPECT_EQ(ring_string(), s.text);  // the ring holds what the sinks got, nothing more
}

TEST_F(LogTest, SyslogNumbersMapToLevels) {
    EXPECT_EQ(log::level_from_syslog(0), Level::Error);
    EXPECT_EQ(log::level_from_syslog(3), Level::Error);
    EXPECT_EQ(log::level_from_syslog(4), Level::Warn);
    EXPECT_EQ(log::level_from_syslog(5), Level::Warn);
    EXPECT_EQ(log::level_from_syslog(6), Level::Info);
    EXPECT_EQ(log::level_from_syslog(7), Level::Debug);
    EXPECT_EQ(log::level_from_syslog(99), Level::Debug);
}

TEST_F(LogTest, LongLinesAreTruncatedWithMarker) {
    CaptureSink s;
    log::add_sink(&s);
    std::string big(2000, 'x');
    log::info("%s", big.c_str());
    ASSERT_EQ(s.text.size(), log::kLineMax);
    EXPECT_EQ(s.text.substr(0, 17), "[    0.000000] I ");
    EXPECT_EQ(s.text.substr(s.text.size() - 4), "...\n");
    EXPECT_EQ(s.text[s.text.size() - 5], 'x');
}

TEST_F(LogTest, ExactlyFittingLineIsNotTruncated) {
    CaptureSink s;
    log::add_sink(&s);
    std::string fits(log::kLineMax - log::kPrefixLen - 1, 'y');  // prefix + message + '\n' == kLineMax
    log::info("%s", fits.c_str());
    ASSERT_EQ(s.text.size(), log::kLineMax);
    EXPECT_EQ(s.text.substr(s.text.size() - 4), "yyy\n");
    s.text.clear();
    std::string one_more(fits.size() + 1, 'y');
    log::info("%s", one_more.c_str());
    ASSERT_EQ(s.text.size(), log::kLineMax);
    EXPECT_EQ(s.text.substr(s.text.size() - 4), "...\n");
}

TEST_F(LogTest, TrailingNewlineIsNotDoubled) {
    CaptureSink s;
    log::add_sink(&s);
    log::info("one\n");
    log::info("two\r\n");
    log::info("%s", "");
    EXPECT_EQ(s.text, "[    0.000000] I one\n[    0.000000] I two\n[    0.000000] I \n");
}

TEST_F(LogTest, SubsystemPrefix) {
    CaptureSink s;
    log::add_sink(&s);
    constexpr log::Logger kPci{"pci"};
    kPci.info("%u devices", 3u);
    kPci.debug("not shown");
    log::logf_sub(Level::Warn, "net", "link %s", "down");
    log::logf(Level::Error, "plain %c", '!');
    EXPECT_EQ(s.text, "[    0.000000] I pci: 3 devices\n[    0.000000] W net: link down\n[    0.000000] E plain !\n");
}

TEST_F(LogTest, EverySinkGetsTheSameLineWithItsLevel) {
    CaptureSink a, b;
    PlainSink plain;
    ASSERT_TRUE(log::add_sink(&a));
    ASSERT_TRUE(log::add_sink(&b));
    ASSERT_TRUE(log::add_sink(&plain));
    EXPECT_FALSE(log::add_sink(&a));  // no duplicates
    EXPECT_EQ(log::sink_count(), 3u);
    log::warn("careful");
    EXPECT_EQ(a.text, b.text);
    EXPECT_EQ(a.text, plain.text);
    ASSERT_EQ(a.pieces.size(), 1u);
    EXPECT_EQ(a.pieces[0].first, Level::Warn);

    ASSERT_TRUE(log::remove_sink(&b));
    EXPECT_FALSE(log::remove_sink(&b));
    log::info("after");
    EXPECT_NE(a.text, b.text);
    EXPECT_EQ(a.text, plain.text);
}

TEST_F(LogTest, AtMostFourSinks) {
    CaptureSink s[5];
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(log::add_sink(&s[i]));
    EXPECT_FALSE(log::add_sink(&s[4]));
    EXPECT_FALSE(log::add_sink(nullptr));
    log::remove_sink(&s[1]);
    EXPECT_TRUE(log::add_sink(&s[4]));  // a freed slot is reused
}

TEST_F(LogTest, RawWriteHasNoPrefixAndIgnoresThreshold) {
    CaptureSink s;
    log::add_sink(&s);
    log::set_level(Level::Error);
    log::write("printf output\n", 14);
    EXPECT_EQ(s.text, "printf output\n");
    ASSERT_EQ(s.pieces.size(), 1u);
    EXPECT_EQ(s.pieces[0].first, Level::Info);
}

TEST_F(LogTest, LogLineAfterPartialRawWriteStartsOnNewLine) {
    CaptureSink s;
    log::add_sink(&s);
    log::write("prompt> ", 8);
    log::info("event");
    log::write("done\n", 5);
    log::info("next");
    EXPECT_EQ(s.text, "prompt> \n[    0.000000] I event\ndone\n[    0.000000] I next\n");
}

TEST_F(LogTest, EmergencyWriteGoesToSinksInErrorColour) {
    CaptureSink s;
    log::add_sink(&s);
    log::set_level(Level::Error);
    log::emergency_write("PANIC", 5);
    EXPECT_EQ(s.text, "PANIC");
    ASSERT_EQ(s.pieces.size(), 1u);
    EXPECT_EQ(s.pieces[0].first, Level::Error);
    EXPECT_EQ(ring_string(), "PANIC");
    log::emergency_write(nullptr, 3);  // tolerated
}

TEST_F(LogTest, RingKeepsEverythingUntilItWraps) {
    log::info("first");
    log::info("second");
    EXPECT_EQ(ring_string(), "[    0.000000] I first\n[    0.000000] I second\n");
    EXPECT_EQ(log::ring_total(), ring_string().size());
}

TEST_F(LogTest, RingCopyIntoSmallBufferStartsAtALine) {
    log::info("aaaa");
    log::info("bbbb");
    char buf[30];
    size_t n = log::ring_copy(buf, sizeof buf);
    EXPECT_EQ(std::string(buf, n), "[    0.000000] I bbbb\n");
    EXPECT_EQ(log::ring_copy(buf, 0), 0u);
}

TEST_F(LogTest, RingWrapsAndDropsTheOldestLines) {
    char msg[100];
    for (int i = 0; i < 1000; ++i) {
        snprintf(msg, sizeof msg, "line %04d", i);
        log::info("%s", msg);
    }
    const std::string line_999 = "[    0.000000] I line 0999\n";
    std::string r = ring_string();
    EXPECT_LE(r.size(), log::kRingSize);
    EXPECT_GT(r.size(), log::kRingSize - 64);
    EXPECT_EQ(r.substr(0, 17), "[    0.000000] I ");  // a whole first line
    EXPECT_EQ(r.substr(r.size() - line_999.size()), line_999);
    EXPECT_EQ(r.find("line 0000"), std::string::npos);
    EXPECT_EQ(log::ring_total(), 1000u * line_999.size());
}

TEST_F(LogTest, ReplayOnAddSinkGivesTheEarlyLogWithLevels) {
    CaptureSink serial;
    log::add_sink(&serial);
    log::error("early error");
    log::write("raw text\n", 9);
    log::warn("early warning");
    log::debug("dropped");

    CaptureSink screen;
    ASSERT_TRUE(log::add_sink(&screen, true));
    EXPECT_EQ(screen.text, serial.text);
    ASSERT_EQ(screen.pieces.size(), 3u);
    EXPECT_EQ(screen.pieces[0].first, Level::Error);
    EXPECT_EQ(screen.pieces[1].first, Level::Info);  // untagged raw output
    EXPECT_EQ(screen.pieces[2].first, Level::Warn);

    log::info("later");  // and then the live log, once
    EXPECT_EQ(screen.text, serial.text);
}

TEST_F(LogTest, ReplayAfterWrapNotesTheLossAndStartsWithAWholeLine) {
    for (int i = 0; i < 1000; ++i) log::info("filler %04d", i);
    CaptureSink screen;
    log::replay(screen);
    ASSERT_GE(screen.pieces.size(), 2u);
    EXPECT_EQ(screen.pieces[0].first, Level::Warn);
    EXPECT_NE(screen.pieces[0].second.find("dropped"), std::string::npos);
    EXPECT_EQ(screen.pieces[1].second.substr(0, 17), "[    0.000000] I ");
    EXPECT_EQ(screen.pieces.back().second, "[    0.000000] I filler 0999\n");
}

TEST(LogRing, AppendWrapAndIndex) {
    log::Ring<8> r;
    EXPECT_EQ(r.size(), 0u);
    r.append("abcde", 5);
    EXPECT_EQ(r.size(), 5u);
    EXPECT_FALSE(r.wrapped());
    r.append("fghij", 5);
    EXPECT_EQ(r.size(), 8u);
    EXPECT_TRUE(r.wrapped());
    EXPECT_EQ(r.total(), 10u);
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) s += r.at(i);
    EXPECT_EQ(s, "cdefghij");
}

}  // namespace
