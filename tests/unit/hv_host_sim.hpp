// A test double of the Hyper-V host's VMBus side, written from docs/protocols/hyperv-vmbus.md (§2-§8): it is the
// guest's hypercall backend (HvPostMessage / HvSignalEvent with the hypervisor's checks), and a VMBus server
// (version response, offers, GPADL accounting, open/close, rescind, unload) that answers through the fake
// hypervisor's SynIC message queue (hv_fake.hpp). Every protocol violation by the guest is recorded with a clear
// message; tests assert there are none.
#pragma once

#include <stdint.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "drivers/bus/vmbus/hv.hpp"
#include "drivers/bus/vmbus/ring.hpp"
#include "drivers/bus/vmbus/vmbus_msg.hpp"
#include "hv_fake.hpp"

namespace skerry::hvtest {

class HostSim : public hv::HypercallPort {
public:
    explicit HostSim(HvModel& model) : model_(model) {}

    uint64_t call(uint64_t control, uint64_t rdx, uint64_t r8) override;

    // ---- configuration
    uint32_t max_version = vmbus::kVersionWin10V53;  // newest version this host speaks
    uint32_t msg_conn_id = 1;                        // returned in 5.x VERSION_RESPONSE
    bool answer_contact = true;                      // false: stay silent (a KVM "Hyper-V" without VMBus)
    int insufficient_buffers = 0;                    // fail this many posts with INSUFFICIENT_BUFFERS
    int busy_connection = 0;  // fail this many posts after the contact with INVALID_CONNECTION_ID ("too fast")
    struct Device {
        vmbus::Guid type, instance;
        uint16_t sub_channel_index = 0;
    };
    std::vector<Device> devices;

    // ---- host events
    void rescind(uint32_t relid);

    // ---- what the guest did
    bool connected() const { return connected_; }
    uint32_t version() const { return version_; }
    uint32_t target_vcpu() const { return target_vcpu_; }
    struct GpadlInfo {
        uint32_t relid = 0;
        uint32_t byte_count = 0, byte_offset = 0;
        size_t expected_pfns = 0;
        std::vector<uint64_t> pfns;
        bool complete = false;
    };
    const std::map<uint32_t, GpadlInfo>& gpadls() const { return gpadls_; }
    struct ChannelInfo {
        bool open = false;
        bool rescinded = false;
        uint32_t ring_gpadl = 0, downstream_pages = 0, target_vp = 0;
        vmbus::Ring to_host, to_guest;  // the host's view of the guest's outbound / inbound ring
        uint64_t guest_signals = 0;
        bool signalled_since_empty = false;
        bool host_waiting = false;  // the host set pending_send_sz on to_guest
    };
    // Host side of an open channel's rings. host_send signals the guest (SIEF bit relid) when the rules say so.
    vmbus::RingStatus host_send(uint32_t relid, uint16_t type, uint16_t flags, uint64_t tid, const void* payload,
                                size_t len);
    // The same with a type-specific header after the descriptor (transfer-page set and ranges; 8-byte multiple).
    vmbus::RingStatus host_send_ex(uint32_t relid, uint16_t type, uint16_t flags, uint64_t tid, const void* extra,
                                   size_t extra_len, const void* payload, size_t len);
    // Read one guest packet; records a violation if the guest wrote to an empty ring without signalling.
    vmbus::RingStatus host_receive(uint32_t relid, std::vector<uint8_t>& packet);
    // The host finds the guest's inbound ring too full: ask for a signal once `bytes` are free.
    void host_wait_for_space(uint32_t relid, uint32_t bytes);
    int spurious_signals = 0;
    int host_signals = 0;
    const std::map<uint32_t, ChannelInfo>& channels() const { return channels_; }
    std::vector<uint32_t> received;  // message types in order
    std::vector<std::string> violations;
    int posts = 0, signals = 0;

private:
    uint16_t post_message(const uint8_t* block);
    void on_message(const uint8_t* m, size_t len);
    void reply(const uint8_t* m, size_t len) { model_.send(hv::kVmbusSint, hv::kMessageTypeVmbus, m, len); }
    void violation(const std::string& s) { violations.push_back(s); }
    void reset_channels();

    HvModel& model_;
    bool connected_ = false;
    bool offers_requested_ = false;
    uint32_t version_ = 0;
    uint32_t target_vcpu_ = 0;
    uint32_t gpadl_in_progress_ = 0;  // handle of a multi-message GPADL awaiting bodies
    std::map<uint32_t, GpadlInfo> gpadls_;
    std::map<uint32_t, ChannelInfo> channels_;  // by relid
    ChannelInfo* open_channel(uint32_t relid);
};

}  // namespace skerry::hvtest
