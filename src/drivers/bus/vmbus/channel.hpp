// One open VMBus channel: its ring GPADL (guest->host ring first, then host->guest), OPENCHANNEL, and packet
// send/receive over the two rings with the signalling rules of ring.hpp, signalling the host with HvSignalEvent on
// the offer's connection id. Event-driven like Connection: begin_open(), then advance() after each poll until
// state() is Open (or Failed). Nothing runs unless called.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/vmbus/ring.hpp"
#include "drivers/bus/vmbus/vmbus.hpp"

namespace skerry::vmbus {

class Channel {
public:
    enum class State : uint8_t { Idle, GpadlPending, Opening, Open, Failed, Closed };
    static constexpr size_t kMaxRingPages = 256;  // the PFN list lives on the stack

    // `ring_phys`/`ring_virt`: page-aligned, zeroed memory of out_pages + in_pages pages (each ring's count
    // includes its 4 KiB control page, so each is at least 2).
    bool begin_open(Connection& conn, hv::HypercallPort& port, uint32_t relid, uint64_t ring_phys, void* ring_virt,
                    uint32_t out_pages, uint32_t in_pages);
    // Move on once the host answered (call after Connection::poll()). Returns state().
    State advance();
    State state() const { return state_; }
    uint32_t ring_gpadl() const { return gpadl_; }

    // Send one packet (see Ring::write_packet) and signal the host if the rules require it.
    RingStatus send(uint16_t type, uint16_t flags, uint64_t transaction_id, const void* extra_header, size_t extra_len,
                    const void* payload, size_t len);
    // Receive one packet (descriptor included) into `buf`; signals the host if it waits for space.
    RingStatus receive(void* buf, size_t cap, size_t& len);
    // Suppress host->guest interrupts (a polling guest).
    void set_polling(bool on) { in_.set_interrupt_mask(on); }

    // CLOSECHANNEL then GPADL_TEARDOWN (the ring GPADL's teardown completes on a later poll).
    bool close();

    Ring& outbound() { return out_; }
    Ring& inbound() { return in_; }
    uint64_t signals() const { return signals_; }
    uint64_t signal_failures() const { return signal_failures_; }

private:
    void signal();

    Connection* conn_ = nullptr;
    hv::HypercallPort* port_ = nullptr;
    uint32_t relid_ = 0;
    uint32_t connection_id_ = 0;
    uint32_t gpadl_ = 0;
    uint32_t out_pages_ = 0;
    State state_ = State::Idle;
    Ring out_, in_;
    uint64_t signals_ = 0;
    uint64_t signal_failures_ = 0;
};

}  // namespace skerry::vmbus
