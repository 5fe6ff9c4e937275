// The UDP jitter both iperf servers report (appliances/iperf/jitter.hpp, RFC 3550 section 6.4.1).
#include <gtest/gtest.h>

#include "appliances/iperf/jitter.hpp"

using iperf::Jitter;

TEST(IperfJitter, SteadyTransitIsNoJitter) {
    Jitter j;
    for (int i = 0; i < 100; ++i) j.add(1234.5);  // a constant clock offset
    EXPECT_EQ(j.value, 0.0);
}

TEST(IperfJitter, RunningMeanOfTransitChangesWithGainOneSixteenth) {
    Jitter j;
    j.add(10.0);  // the first datagram only sets the reference
    EXPECT_EQ(j.value, 0.0);
    j.add(10.016);  // |D| = 16 ms
    EXPECT_NEAR(j.value, 0.001, 1e-12);
    j.add(10.0);  // |D| = 16 ms again, either sign
    EXPECT_NEAR(j.value, 0.001 + (0.016 - 0.001) / 16, 1e-12);
    // Alternating transit times converge on the size of the change.
    for (int i = 0; i < 400; ++i) j.add(i % 2 ? 10.0 : 10.016);
    EXPECT_NEAR(j.value, 0.016, 1e-6);
}

TEST(IperfJitter, ResettingTheValueKeepsTheLastTransit) {
    Jitter j;
    j.add(5.0);
    j.add(5.5);
    j.value = 0;  // iperf3's omitted seconds
    j.add(5.5);   // no change since the last datagram
    EXPECT_EQ(j.value, 0.0);
}
