// A NicDriver that does nothing, for tests where only a NIC's identity matters (registries, factories) or that
// need a driver which refuses to start.
#pragma once

#include <stdint.h>

#include "net/nic.hpp"

namespace skerry_test {

class StubNic : public skerry::net::NicDriver {
public:
    explicit StubNic(uint32_t id = 0, const char* name = "stub nic", bool starts = false)
        : id_(id), name_(name), starts_(starts) {}
    const char* name() const override { return name_; }
    const uint8_t* mac() const override { return mac_; }
    uint16_t mtu() const override { return 1500; }
    bool link_up() const override { return starts_; }
    uint32_t link_speed_mbps() const override { return 0; }
    uint32_t offloads() const override { return 0; }
    bool start(skerry::net::NicClient&) override { return starts_; }
    skerry::net::TxStatus transmit(const skerry::net::TxFrame&) override { return skerry::net::TxStatus::Full; }
    void rx_release(void*) override {}
    bool add_multicast(const uint8_t*) override { return true; }
    bool remove_multicast(const uint8_t*) override { return true; }
    skerry::net::NicCounters counters() const override { return {}; }
    uint32_t id() const { return id_; }  // a device id, a relid: whatever the test made it for

private:
    uint32_t id_;
    const char* name_;
    bool starts_;
    uint8_t mac_[6] = {0x02, 0, 0, 0, 0, 9};
};

}  // namespace skerry_test
