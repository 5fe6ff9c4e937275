#include "kernel/rtc.hpp"

#include <gtest/gtest.h>

#include <map>

#include "hw/hw.hpp"

using namespace skerry;

namespace {

TEST(Rtc, UnixTimeOfKnownDates) {
    EXPECT_EQ(rtc::to_unix({1970, 1, 1, 0, 0, 0}), 0);
    EXPECT_EQ(rtc::to_unix({2000, 2, 29, 12, 0, 0}), 951825600);
    EXPECT_EQ(rtc::to_unix({2026, 11, 25, 10, 52, 36}), 1795603956);
    EXPECT_EQ(rtc::to_unix({2038, 1, 19, 3, 14, 8}), 2147483648LL);
    EXPECT_EQ(rtc::to_unix({2100, 3, 1, 0, 0, 0}), 4107542400LL);
}

TEST(Rtc, DecodesBcd24Hour) {
    rtc::Raw raw{0x36, 0x52, 0x10, 0x25, 0x11, 0x26, 0x20, 0x02};
    rtc::DateTime t{};
    ASSERT_TRUE(rtc::decode(raw, t));
    EXPECT_EQ(t.year, 2026);
    EXPECT_EQ(t.month, 11);
    EXPECT_EQ(t.day, 25);
    EXPECT_EQ(t.hour, 10);
    EXPECT_EQ(t.minute, 52);
    EXPECT_EQ(t.second, 36);
}

TEST(Rtc, DecodesBinary12HourAndPm) {
    rtc::Raw raw{5, 4, 0x80 | 12, 1, 1, 30, 0, 0x04};  // 12 PM binary, no century register
    rtc::DateTime t{};
    ASSERT_TRUE(rtc::decode(raw, t));
    EXPECT_EQ(t.year, 2030);
    EXPECT_EQ(t.hour, 12);
    raw.hour = 12;  // 12 AM
    ASSERT_TRUE(rtc::decode(raw, t));
    EXPECT_EQ(t.hour, 0);
    raw.hour = 0x80 | 3;  // 3 PM
    ASSERT_TRUE(rtc::decode(raw, t));
    EXPECT_EQ(t.hour, 15);
}

TEST(Rtc, RejectsGarbage) {
    rtc::DateTime t{};
    EXPECT_FALSE(rtc::decode({0x61, 0, 0, 1, 1, 0, 0x20, 0x02}, t));        // seconds 61
    EXPECT_FALSE(rtc::decode({0x0A, 0, 0, 1, 1, 0, 0x20, 0x02}, t));        // not BCD
    EXPECT_FALSE(rtc::decode({0, 0, 0, 0x30, 0x02, 0x26, 0x20, 0x02}, t));  // 30 February
    EXPECT_FALSE(rtc::decode({0, 0, 0, 1, 0x13, 0x26, 0x20, 0x02}, t));     // month 13
    EXPECT_FALSE(rtc::decode({0, 0, 0x13, 1, 1, 0x26, 0x20, 0x00}, t));     // 13 o'clock in 12-hour mode
    EXPECT_FALSE(rtc::decode({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, t));
}

// A CMOS model: index port 0x70, data port 0x71.
class Cmos : public hw::Model {
public:
    std::map<uint8_t, uint8_t> regs;
    uint8_t index = 0;
    int updates_left = 0;  // reads of register A reporting "update in progress"
    bool absent = false;   // nothing at the ports: every read is all ones
    int reads = 0;
    uint32_t port_in(uint16_t port, int) override {
        reads++;
        if (port != 0x71 || absent) return 0xFF;
        if (index == 0x0A) return updates_left-- > 0 ? 0x80 : 0x26;
        auto it = regs.find(index);
        return it == regs.end() ? 0 : it->second;
    }
    void port_out(uint16_t port, uint32_t v, int) override {
        if (port == 0x70) index = static_cast<uint8_t>(v & 0x7F);
    }
};

TEST(Rtc, ReadsThroughPortsWaitingForUpdate) {
    Cmos m;
    m.regs = {{0x00, 0x36}, {0x02, 0x52}, {0x04, 0x10}, {0x07, 0x25},
              {0x08, 0x11}, {0x09, 0x26}, {0x32, 0x20}, {0x0B, 0x02}};
    m.updates_left = 3;
    hw::set_model(&m);
    rtc::DateTime t{};
    EXPECT_TRUE(rtc::read(t));
    hw::set_model(nullptr);
    EXPECT_EQ(rtc::to_unix(t), 1795603956);
}

TEST(Rtc, AbsentCmosFailsAtOnce) {
    Cmos m;
    m.absent = true;
    hw::set_model(&m);
    rtc::DateTime t{};
    EXPECT_FALSE(rtc::read(t));
    hw::set_model(nullptr);
    EXPECT_LE(m.reads, 4);  // not 100000 polls of an "update in progress" that never ends
    m.reads = 0;
    hw::set_model(&m);
    EXPECT_EQ(rtc::read_status(t), rtc::Status::Absent);  // said as "no CMOS RTC", not as a bad date
    hw::set_model(nullptr);
    EXPECT_LE(m.reads, 4);
}

TEST(Rtc, PresentButGarbageIsInvalidNotAbsent) {
    Cmos m;
    m.regs = {{0x00, 0x99}, {0x02, 0x52}, {0x04, 0x10}, {0x07, 0x25}, {0x08, 0x11}, {0x09, 0x26}, {0x0B, 0x02}};
    hw::set_model(&m);
    rtc::DateTime t{};
    EXPECT_EQ(rtc::read_status(t), rtc::Status::Invalid);  // 99 seconds
    hw::set_model(nullptr);
}

}  // namespace
