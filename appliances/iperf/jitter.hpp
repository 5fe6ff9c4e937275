// Interarrival jitter as both iperf versions report it for UDP tests (RFC 3550 section 6.4.1): a running
// mean of the change in transit time (arrival minus the send time the datagram carries), gain 1/16.
#pragma once

namespace iperf {

class Jitter {
public:
    // One datagram's transit time, in seconds (the clocks need not agree: only differences count).
    void add(double transit) {
        if (have_) {
            double delta = transit - prev_;
            if (delta < 0) delta = -delta;
            value += (delta - value) / 16.0;
        }
        prev_ = transit;
        have_ = true;
    }

    double value = 0;  // seconds; reset to 0 to restart the mean without losing the previous transit

private:
    double prev_ = 0;
    bool have_ = false;
};

}  // namespace iperf
