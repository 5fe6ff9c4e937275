// A NicDriver for host tests whose wire is a SOCK_SEQPACKET socket (one Ethernet frame per message).
//
// It behaves like a DMA device and keeps the NIC contract (src/net/nic.hpp): transmit() keeps pointing at the
// frame's pieces (zero copy) and only reads them when it "completes" the frame in a pass (poll()); a pass first
// does its "ring work" (sends completed frames to the wire, reads frames off the wire) and then delivers
// (tx_done, receive, tx_ready); a bounded ring makes transmit() say Full (with tx_ready later). Receive buffers are
// lent to the stack and must come back through rx_release (checked). Checksum offloads it advertises it really
// performs: on transmit it completes the checksums at the offsets the stack gave, on receive it verifies them and
// reports Good/Bad.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <array>
#include <deque>
#include <set>
#include <vector>

#include "net/nic.hpp"

namespace net_test {

class FakeNic final : public skerry::net::NicDriver {
public:
    FakeNic(int fd, uint8_t mac_last, uint32_t offloads, size_t tx_ring);
    ~FakeNic() override;

    const char* name() const override { return "fake NIC"; }
    const uint8_t* mac() const override { return mac_; }
    uint16_t mtu() const override { return 1500; }
    bool link_up() const override { return link_; }
    uint32_t link_speed_mbps() const override { return 1000; }
    uint32_t offloads() const override { return offloads_; }
    bool start(skerry::net::NicClient& client) override;
    skerry::net::TxStatus transmit(const skerry::net::TxFrame& frame) override;
    void rx_release(void* buffer) override;
    bool add_multicast(const uint8_t mac[6]) override;
    bool remove_multicast(const uint8_t mac[6]) override;
    size_t poll(size_t budget);
    skerry::net::NicCounters counters() const override { return ctr_; }

    // ---- for tests
    void set_link(bool up);
    bool wire_closed() const { return wire_closed_; }  // the other end went away
    size_t rx_outstanding() const { return lent_.size(); }
    size_t rx_outstanding_max() const { return lent_max_; }
    size_t rx_bad_releases() const { return bad_releases_; }
    const std::vector<std::array<uint8_t, 6>>& multicast() const { return mc_; }
    bool has_multicast(const uint8_t mac[6]) const;
    uint64_t tx_offload_frames() const { return tx_offload_frames_; }
    uint64_t tx_multi_segment_frames() const { return tx_multi_segment_; }
    uint64_t tx_ring_full() const { return ctr_.tx_dropped_ring_full; }
    uint64_t rx_good() const { return rx_good_; }
    uint64_t rx_bad() const { return rx_bad_; }
    const skerry::net::TxFrame* last_tx() const { return have_last_ ? &last_tx_ : nullptr; }
    size_t rx_limit = 1024;  // buffers lent at most (then the "ring" is empty and the wire backs up)

private:
    static bool poll_cb(void* self);
    size_t complete_tx();
    size_t receive_some(size_t budget);
    void deliver();

    int fd_;
    uint8_t mac_[6];
    uint32_t offloads_;
    size_t tx_ring_;
    bool link_ = true;
    bool wire_closed_ = false;
    bool want_ready_ = false;
    skerry::net::NicClient* client_ = nullptr;
    std::deque<skerry::net::TxFrame> tx_;
    std::vector<void*> tx_done_;                  // completed in this pass's ring work
    std::vector<skerry::net::RxFrame> rx_batch_;  // read in this pass's ring work
    std::set<void*> lent_;
    size_t lent_max_ = 0, bad_releases_ = 0;
    std::vector<std::array<uint8_t, 6>> mc_;
    skerry::net::NicCounters ctr_{};
    uint64_t tx_offload_frames_ = 0, tx_multi_segment_ = 0, rx_good_ = 0, rx_bad_ = 0;
    bool delivering_ = false;  // checks the contract: transmit/rx_release inside a callback never nest a pass
    skerry::net::TxFrame last_tx_{};
    bool have_last_ = false;
};

}  // namespace net_test
