// The TSC measured against PIT channel 0 (src/kernel/pit.*) with a model of the 8254's channel 0 (Intel 8254 data
// sheet: control word at 0x43, counter-latch command, lo/hi byte access, mode 2 counting N..1 and reloading) on a
// simulated time base: every port access takes 200 ns and the TSC runs at a set frequency. Port 0x61 (channel 2's
// gate, the PC speaker) must never be touched: QEMU's microvm has nothing there.
#include <gtest/gtest.h>

#include <vector>

#include "hw/hw.hpp"
#include "kernel/pit.hpp"

using namespace skerry;

namespace {

class PitModel final : public hw::Model {
public:
    enum class Kind { Pit, Absent, Stuck, Slow };
    Kind kind = Kind::Pit;
    double tsc_ghz = 3.0;
    double ns = 0;           // simulated time
    double access_ns = 200;  // cost of one port access
    double hz = 1193182;     // the PIT's input clock (Slow: much less)
    uint16_t reload = 0;     // programmed count (0 = 65536)
    double load_ns = 0;
    int write_lsb_next = 1;  // lo/hi access: which byte comes next
    uint16_t latched = 0;
    int latch_bytes = 0;  // latched bytes left to read
    std::vector<uint8_t> commands;
    std::vector<uint8_t> data_writes;
    bool touched_61 = false;

    uint16_t count_now() const {
        const uint32_t n = reload ? reload : 65536;
        const auto ticks = static_cast<uint64_t>((ns - load_ns) * hz / 1e9);
        return static_cast<uint16_t>(n - ticks % n);  // mode 2: N .. 1
    }
    uint32_t port_in(uint16_t port, int) override {
        ns += access_ns;
        if (port == 0x61) touched_61 = true;
        if (kind == Kind::Absent) return 0xFF;
        if (port != 0x40) return 0xFF;
        if (latch_bytes == 0) {  // an unlatched read: the live count's next byte (not used by the driver)
            latched = kind == Kind::Stuck ? 1234 : count_now();
            latch_bytes = 2;
        }
        const uint8_t b = latch_bytes == 2 ? static_cast<uint8_t>(latched) : static_cast<uint8_t>(latched >> 8);
        --latch_bytes;
        return b;
    }
    void port_out(uint16_t port, uint32_t v, int) override {
        ns += access_ns;
        if (port == 0x61) touched_61 = true;
        if (port == 0x43) {
            commands.push_back(static_cast<uint8_t>(v));
            if ((v & 0x30) == 0) {  // counter latch for channel 0
                latched = kind == Kind::Stuck ? 1234 : count_now();
                latch_bytes = 2;
            } else {
                write_lsb_next = 1;
            }
        } else if (port == 0x40) {
            data_writes.push_back(static_cast<uint8_t>(v));
            if (write_lsb_next) {
                reload = static_cast<uint16_t>((reload & 0xFF00) | (v & 0xFF));
            } else {
                reload = static_cast<uint16_t>((reload & 0x00FF) | ((v & 0xFF) << 8));
                load_ns = ns;
            }
            write_lsb_next ^= 1;
        }
    }
    uint64_t rdtsc() override {
        ns += 20;
        return static_cast<uint64_t>(ns * tsc_ghz);
    }
};

class PitTest : public ::testing::Test {
protected:
    PitModel pit;
    void SetUp() override { hw::set_model(&pit); }
    void TearDown() override { hw::set_model(nullptr); }
};

TEST_F(PitTest, MeasuresTheTscAgainstChannelZero) {
    for (double ghz : {0.8, 2.1, 3.0, 4.5}) {
        pit = PitModel{};
        pit.tsc_ghz = ghz;
        const pit::Measurement m = pit::measure_tsc();
        ASSERT_EQ(m.result, pit::Result::Ok) << pit::result_text(m.result);
        EXPECT_NEAR(static_cast<double>(m.tsc_hz), ghz * 1e9, ghz * 1e9 * 0.001);  // within 0.1%
        EXPECT_FALSE(pit.touched_61);
        // Mode 2 first with count 60000; channel 0 left in mode 0 with count 0 (quiet) at the end.
        ASSERT_GE(pit.commands.size(), 2u);
        EXPECT_EQ(pit.commands.front(), 0x34);
        EXPECT_EQ(pit.commands.back(), 0x30);
        EXPECT_EQ(pit.data_writes[0], 60000 & 0xFF);
        EXPECT_EQ(pit.data_writes[1], 60000 >> 8);
        EXPECT_EQ(pit.data_writes.back(), 0);
    }
}

TEST_F(PitTest, WrapsAcrossTheReload) {
    pit.access_ns = 5000;  // slow port accesses: each read sees several ticks, and the count wraps many times
    const pit::Measurement m = pit::measure_tsc(200);
    ASSERT_EQ(m.result, pit::Result::Ok);
    EXPECT_NEAR(static_cast<double>(m.tsc_hz), 3e9, 3e9 * 0.001);
}

TEST_F(PitTest, AnAbsentPitIsReportedNotMeasured) {
    pit.kind = PitModel::Kind::Absent;  // every port reads 0xff
    const pit::Measurement m = pit::measure_tsc();
    EXPECT_EQ(m.result, pit::Result::Absent);
    EXPECT_EQ(m.tsc_hz, 0u);
    EXPECT_FALSE(pit.touched_61);
    EXPECT_LT(pit.ns, 1e6);  // gave up at once (a few port accesses), no long spin
}

TEST_F(PitTest, AStuckPitIsReported) {
    pit.kind = PitModel::Kind::Stuck;
    const pit::Measurement m = pit::measure_tsc();
    EXPECT_EQ(m.result, pit::Result::Stuck);
    EXPECT_EQ(m.tsc_hz, 0u);
}

TEST_F(PitTest, AnImplausibleResultIsRefused) {
    pit.tsc_ghz = 0.0016;  // 1.6 MHz: what the old port-0x61 measurement reported on microvm
    const pit::Measurement m = pit::measure_tsc();
    EXPECT_EQ(m.result, pit::Result::Implausible);
    EXPECT_EQ(m.tsc_hz, 0u);
}

TEST_F(PitTest, APitThatBarelyMovesRunsOutOfReadsNotForever) {
    pit.hz = 1193182.0 / 40000;  // about 30 ticks a second: 20 ms of ticks would take 13 minutes of reads
    pit.access_ns = 10;
    const pit::Measurement m = pit::measure_tsc();
    EXPECT_NE(m.result, pit::Result::Ok);
    EXPECT_EQ(m.tsc_hz, 0u);
}

TEST(PitText, EveryResultHasText) {
    for (auto r : {pit::Result::Ok, pit::Result::Absent, pit::Result::Stuck, pit::Result::TooSlow,
                   pit::Result::Implausible, pit::Result::Unstable})
        EXPECT_STRNE(pit::result_text(r), "?");
}

}  // namespace
