// The host's network VSP (netvsp) for one synthetic NIC channel of the VMBus host simulator (hv_host_sim),
// written from docs/protocols/netvsc-rndis.md (§2, §5 and §7), not from the guest driver. It reads the guest's
// packets from the channel's guest->host ring and answers on the host->guest ring:
//   NVSP: INIT (exact version match, up to max_version) -> NDIS_CONFIG (required for v >= 2 before the receive
//   buffer) / NDIS_VERSION -> SEND_RECV_BUF (the GPADL must exist on this channel; sub-allocations of
//   256 + MTU + 36 bytes) -> SEND_SEND_BUF (optional; 6144-byte sections) -> SEND_RNDIS_PKT, inband naming a
//   section or GPA direct (page ranges, read page by page; the RNDIS header in the first range).
//   RNDIS: INITIALIZE -> QUERY / SET / KEEPALIVE; HALT.
// Every control reply and every frame for the guest goes into free receive-buffer sub-allocations as a
// transfer-page packet (completion requested); the guest must complete each one with a typed
// SEND_RNDIS_PKT_COMPLETE. Frames are held while the packet filter is 0, filtered per the filter bits (no
// multicast list: multicast needs ALL_MULTICAST), and held while no sub-allocation is free.
// Every protocol violation (wrong size, wrong order, GPADL misuse, unknown or duplicate completion, ring
// corruption) is appended to HostSim::violations with a clear message; tests assert there are none.
#pragma once

#include <stdint.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "hv_host_sim.hpp"

namespace skerry::hvtest {

class NetvspSim {
public:
    NetvspSim(HostSim& host, uint32_t relid) : host_(host), relid_(relid) {}

    // ---- configuration (before the guest starts)
    uint8_t mac[6] = {0x00, 0x15, 0x5d, 0x12, 0x34, 0x56};
    uint32_t max_version = 0x00060001;  // newest NVSP version accepted
    bool answer_init = true;            // false: INIT goes unanswered (the guest must time out)
    bool answer_rndis = true;           // false: RNDIS requests go unanswered
    uint32_t section_size = 6144;
    bool refuse_send_buffer = false;       // SEND_SEND_BUF answered with status FAIL
    uint32_t max_frame_size = 1500;        // OID_GEN_MAXIMUM_FRAME_SIZE answer
    uint32_t link_speed = 100000000;       // OID_GEN_LINK_SPEED (100 bit/s units): 10 Gb/s
    bool permanent_address_fails = false;  // QUERY PERMANENT_ADDRESS answers FAILURE
    size_t frames_per_packet = 8;          // frames batched into one transfer-page packet at most
    bool hold_tx_completions = false;      // keep the guest's send completions until release_tx_completions()
    size_t control_reserve = 16;           // sub-allocations kept for control replies

    // ---- running: process every guest packet, then deliver what is queued for the guest. Returns work done.
    size_t pump();

    // ---- host events
    void inject(const void* frame, size_t len);  // a frame for the guest (queued)
    void set_link(bool up);                      // INDICATE_STATUS media connect / disconnect
    void rescind() { host_.rescind(relid_); }
    void send_control(const std::vector<uint8_t>& rndis) { control_.push_back(rndis); }  // any RNDIS message
    void release_tx_completions();
    // Raw transfer-page packet (for malformed input): ranges {byte_count, byte_offset} into the receive buffer,
    // NVSP payload SEND_RNDIS_PKT with `channel_type`. Tracked for completion like any other.
    bool send_xfer(const std::vector<std::pair<uint32_t, uint32_t>>& ranges, uint32_t channel_type, uint16_t page_set,
                   uint32_t claimed_ranges = 0xFFFFFFFF);
    // Any RNDIS message (up to a sub-allocation) in a free sub-allocation as one transfer-page packet, with the
    // range claiming `range_len` bytes (0: the message's size). False when no sub-allocation or ring space.
    bool inject_rndis(const std::vector<uint8_t>& msg, uint32_t channel_type = 0, uint32_t range_len = 0);
    // Raw bytes into the guest's receive buffer at `offset` (inside it).
    void write_recv(uint32_t offset, const void* data, size_t len);
    // Any packet on the host->guest ring (type, flags, header extra, payload).
    bool send_raw(uint16_t type, uint16_t flags, uint64_t tid, const void* extra, size_t extra_len, const void* payload,
                  size_t len);
    // Put an invalid write index into the host->guest ring's control page.
    void corrupt_inbound_ring();

    // ---- what the guest did
    enum class Phase : uint8_t { AwaitInit, Init, Ready, Revoked };
    Phase phase() const { return phase_; }
    uint32_t version() const { return version_; }
    uint32_t ndis_major() const { return ndis_major_; }
    uint32_t ndis_minor() const { return ndis_minor_; }
    uint32_t ndis_mtu() const { return ndis_mtu_; }
    uint32_t filter() const { return filter_; }
    bool rndis_initialized() const { return rndis_init_; }
    bool has_send_buffer() const { return send_buf_; }
    bool halted() const { return halted_; }
    uint32_t sub_alloc_size() const { return sub_alloc_; }
    uint32_t sub_alloc_count() const { return sub_count_; }
    const uint8_t* recv_buffer() {
        return recv_buf_ && host_.gpadls().count(recv_gpadl_) ? gpadl_base(recv_gpadl_) : nullptr;
    }
    size_t rx_outstanding() const { return rx_pending_.size(); }  // transfer-page packets not completed
    size_t frames_queued() const { return to_guest_.size(); }
    size_t held_completions() const { return held_.size(); }
    std::vector<uint32_t> init_versions;  // INIT versions in the order asked
    std::vector<uint32_t> oids_queried;
    std::deque<std::vector<uint8_t>> tx_frames;  // frames the guest sent, oldest first
    uint64_t rx_packets = 0, rx_frames = 0, rx_completions = 0, rx_completions_failed = 0;
    uint64_t tx_completions = 0, control_replies = 0, filtered = 0, dropped_link_down = 0;
    uint64_t keepalive_replies = 0;
    uint32_t revokes = 0;

private:
    void violation(const std::string& s) { host_.violations.push_back("netvsp: " + s); }
    void on_packet(const std::vector<uint8_t>& p);
    void on_nvsp(uint16_t flags, uint64_t tid, const uint8_t* m, size_t len);
    // `gpa`: the bytes of a GPA-direct packet's ranges; null: the message is in a send-buffer section.
    void on_rndis_pkt(uint16_t flags, uint64_t tid, const uint8_t* m, size_t len, const std::vector<uint8_t>* gpa);
    void on_rndis_control(const uint8_t* m, size_t len);
    void on_completion(uint64_t tid, const uint8_t* m, size_t len);
    void complete(uint64_t tid, const void* payload, size_t len);
    void reply_rndis(const std::vector<uint8_t>& msg) {
        if (answer_rndis) control_.push_back(msg);
    }
    bool gpadl_usable(uint32_t handle, const char* what);
    uint8_t* gpadl_base(uint32_t handle);
    int take_sub(bool control);
    size_t deliver();
    bool accepts(const std::vector<uint8_t>& frame);

    HostSim& host_;
    uint32_t relid_;
    Phase phase_ = Phase::AwaitInit;
    uint32_t version_ = 0, ndis_major_ = 0, ndis_minor_ = 0, ndis_mtu_ = 0;
    bool ndis_config_ = false, ndis_version_ = false, recv_buf_ = false, send_buf_ = false;
    bool rndis_init_ = false, halted_ = false;
    uint32_t filter_ = 0;
    bool link_ = true;
    uint32_t recv_gpadl_ = 0, send_gpadl_ = 0;
    uint16_t page_set_ = 0;
    uint32_t sub_alloc_ = 0, sub_count_ = 0;
    uint32_t send_bytes_ = 0;
    std::vector<bool> sub_busy_;
    std::map<uint64_t, std::vector<uint32_t>> rx_pending_;  // tid -> sub-allocations
    uint64_t next_tid_ = 0x5000;
    std::deque<std::vector<uint8_t>> control_;        // RNDIS replies/indications for the guest
    std::deque<std::vector<uint8_t>> to_guest_;       // frames for the guest
    std::deque<std::pair<uint64_t, uint32_t>> held_;  // tid, status
};

}  // namespace skerry::hvtest
