// The VMBus connection (guest side): version negotiation, channel offers, GPADL creation, channel open/close and
// unload, driven by messages polled from the SynIC. Event-driven and non-blocking: start() sends the first
// request, poll() consumes host messages and advances; the caller owns time (on_timeout() when a reply is late)
// and decides when to give up. Nothing runs unless called.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/vmbus/hv.hpp"
#include "drivers/bus/vmbus/synic.hpp"
#include "drivers/bus/vmbus/vmbus_msg.hpp"

namespace skerry::vmbus {

enum class State : uint8_t {
    Idle,
    Contacting,  // INITIATE_CONTACT sent for version()
    RequestingOffers,
    Ready,  // all offers delivered
    Unloading,
    Unloaded,
    Failed,
};
const char* state_name(State s);

enum class Failure : uint8_t { None, NoCommonVersion, HostRefused, PostFailed, NotInitialised };

struct ConnectionStats {
    uint64_t messages = 0;
    uint64_t dropped = 0;  // malformed, unexpected or out-of-order host messages (logged + counted)
    uint64_t post_retries = 0;
    uint64_t rescinds = 0;
};

struct ChannelOffer {
    Offer offer;
    bool rescinded = false;
};

enum class GpadlState : uint8_t { Free, Pending, Created, Failed, TearingDown };
enum class ChannelState : uint8_t { Closed, Opening, Open, OpenFailed };

class Connection {
public:
    static constexpr size_t kMaxOffers = 32;
    static constexpr size_t kMaxGpadls = 16;

    struct Config {
        hv::HypercallPort* port = nullptr;
        hv::Synic* synic = nullptr;
        hv::PostMessageInput* post_buffer = nullptr;  // page-aligned, used only for HvPostMessage
        uint64_t post_buffer_phys = 0;
        uint32_t vp_index = 0;
        uint64_t interrupt_page = 0;  // versions < 5.0
        uint64_t monitor_page1 = 0;
        uint64_t monitor_page2 = 0;
        uint32_t max_version = kGuestVersions[0];
        // Back-off between post retries (1 us doubling, as Linux); null = retry at once (tests).
        void (*delay_us)(uint32_t us) = nullptr;
    };

    explicit Connection(const Config& c) : cfg_(c) {}

    // Send INITIATE_CONTACT for the newest version <= max_version.
    bool start();
    // Consume every message waiting in the VMBus SINT slot. Returns the number of messages handled.
    size_t poll();
    // Handle one channel message (exposed for tests and for callers that read the slot themselves).
    void handle(const uint8_t* msg, size_t len);
    // The reply to the current request did not come in time: during contact, fall back to the next version.
    void on_timeout();

    State state() const { return state_; }
    Failure failure() const { return failure_; }
    uint32_t version() const { return version_; }
    uint32_t msg_conn_id() const { return msg_conn_id_; }
    const ConnectionStats& stats() const { return stats_; }

    size_t offer_count() const { return offer_count_; }
    const ChannelOffer* offer(size_t i) const { return i < offer_count_ ? &offers_[i] : nullptr; }
    // The first non-rescinded offer of `type` with sub-channel index 0.
    const ChannelOffer* find_offer(const Guid& type) const;
    const ChannelOffer* find_relid(uint32_t relid) const;

    // GPADL: send header + bodies for `range` on channel `relid`. Returns the guest-chosen handle (0 on failure).
    uint32_t create_gpadl(uint32_t relid, const GpadlRange& range);
    GpadlState gpadl_state(uint32_t handle) const;
    bool teardown_gpadl(uint32_t relid, uint32_t handle);

    // OPENCHANNEL with the ring GPADL; the first `downstream_pages` of it are the guest->host ring.
    bool open_channel(uint32_t relid, uint32_t ring_gpadl, uint32_t downstream_pages);
    ChannelState channel_state(uint32_t relid) const;
    uint32_t open_status(uint32_t relid) const;
    bool close_channel(uint32_t relid);
    // After a rescind: tell the host the relid may be reused.
    bool release_relid(uint32_t relid);

    // UNLOAD (versions >= 3.0 get UNLOAD_RESPONSE -> Unloaded).
    bool unload();

private:
    struct Gpadl {
        uint32_t handle = 0;
        uint32_t relid = 0;
        GpadlState state = GpadlState::Free;
    };
    struct Chan {
        uint32_t relid = 0;
        uint32_t open_id = 0;
        uint32_t status = 0;
        ChannelState state = ChannelState::Closed;
    };

    // HvPostMessage, retried while the host reports a transient shortage (at most kPostAttempts times).
    static constexpr int kPostAttempts = 100;
    bool post(const uint8_t* msg, size_t len, uint32_t conn);
    bool contact();
    void drop() { stats_.dropped++; }
    void fail(Failure f) {
        failure_ = f;
        state_ = State::Failed;
    }
    Gpadl* find_gpadl(uint32_t handle);
    Chan* chan(uint32_t relid, bool create);

    Config cfg_;
    State state_ = State::Idle;
    Failure failure_ = Failure::None;
    uint32_t version_ = 0;
    uint32_t msg_conn_id_ = kConnIdMessage;
    ConnectionStats stats_;
    ChannelOffer offers_[kMaxOffers];
    size_t offer_count_ = 0;
    Gpadl gpadls_[kMaxGpadls];
    Chan chans_[kMaxOffers];
    uint32_t next_handle_ = 0xE1E10;
    uint32_t next_open_id_ = 1;
    uint16_t last_post_status_ = 0;
};

}  // namespace skerry::vmbus
