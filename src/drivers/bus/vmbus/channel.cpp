// One VMBus channel over its ring GPADL (see channel.hpp).
#include "drivers/bus/vmbus/channel.hpp"

namespace skerry::vmbus {

bool Channel::begin_open(Connection& conn, hv::HypercallPort& port, uint32_t relid, uint64_t ring_phys, void* ring_virt,
                         uint32_t out_pages, uint32_t in_pages) {
    state_ = State::Failed;
    const ChannelOffer* o = conn.find_relid(relid);
    if (o == nullptr || o->rescinded || ring_virt == nullptr || (ring_phys & 0xFFF) != 0) return false;
    if (out_pages < 2 || in_pages < 2 || out_pages + in_pages > kMaxRingPages) return false;
    conn_ = &conn;
    port_ = &port;
    relid_ = relid;
    connection_id_ = o->offer.connection_id;
    out_pages_ = out_pages;
    uint8_t* base = static_cast<uint8_t*>(ring_virt);
    if (out_.attach(base, out_pages * 4096ull) != RingStatus::Ok) return false;
    if (in_.attach(base + out_pages * 4096ull, in_pages * 4096ull) != RingStatus::Ok) return false;
    uint64_t pfns[kMaxRingPages];
    const uint32_t pages = out_pages + in_pages;
    for (uint32_t i = 0; i < pages; ++i) pfns[i] = (ring_phys >> 12) + i;
    gpadl_ = conn.create_gpadl(relid, GpadlRange{pages * 4096u, 0, pfns, pages});
    if (gpadl_ == 0) return false;
    state_ = State::GpadlPending;
    return true;
}

Channel::State Channel::advance() {
    if (conn_ == nullptr) return state_;
    if (state_ == State::GpadlPending) {
        const GpadlState g = conn_->gpadl_state(gpadl_);
        if (g == GpadlState::Created) {
            state_ = conn_->open_channel(relid_, gpadl_, out_pages_) ? State::Opening : State::Failed;
        } else if (g != GpadlState::Pending) {
            state_ = State::Failed;
        }
    }
    if (state_ == State::Opening) {
        const ChannelState c = conn_->channel_state(relid_);
        if (c == ChannelState::Open) state_ = State::Open;
        if (c == ChannelState::OpenFailed || c == ChannelState::Closed) state_ = State::Failed;
    }
    if (state_ == State::Open) {
        const ChannelOffer* o = conn_->find_relid(relid_);
        if (o == nullptr || o->rescinded) state_ = State::Failed;  // rescinded: the caller tears down
    }
    return state_;
}

void Channel::signal() {
    signals_++;
    if (hv::signal_event(*port_, connection_id_) != hv::kStatusSuccess) signal_failures_++;
}

RingStatus Channel::send(uint16_t type, uint16_t flags, uint64_t transaction_id, const void* extra_header,
                         size_t extra_len, const void* payload, size_t len) {
    if (state_ != State::Open) return RingStatus::NotAttached;
    bool sig = false;
    const RingStatus s = out_.write_packet(type, flags, transaction_id, extra_header, extra_len, payload, len, sig);
    if (sig) signal();
    return s;
}

RingStatus Channel::receive(void* buf, size_t cap, size_t& len) {
    len = 0;
    if (state_ != State::Open) return RingStatus::NotAttached;
    bool sig = false;
    const RingStatus s = in_.read(buf, cap, len, sig);
    if (sig) signal();
    return s;
}

bool Channel::close() {
    if (conn_ == nullptr) return false;
    bool ok = true;
    if (conn_->channel_state(relid_) == ChannelState::Open) ok = conn_->close_channel(relid_);
    if (gpadl_ != 0 && conn_->gpadl_state(gpadl_) == GpadlState::Created)
        ok = conn_->teardown_gpadl(relid_, gpadl_) && ok;
    state_ = State::Closed;
    return ok;
}

}  // namespace skerry::vmbus
