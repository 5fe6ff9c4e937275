// VMBus connection state machine (see vmbus.hpp). Protocol: docs/protocols/hyperv-vmbus.md §5 and §6.
#include "drivers/bus/vmbus/vmbus.hpp"

#include <string.h>

namespace skerry::vmbus {

const char* state_name(State s) {
    switch (s) {
    case State::Idle: return "idle";
    case State::Contacting: return "contacting";
    case State::RequestingOffers: return "requesting offers";
    case State::Ready: return "ready";
    case State::Unloading: return "unloading";
    case State::Unloaded: return "unloaded";
    case State::Failed: return "failed";
    }
    return "?";
}

bool Connection::post(const uint8_t* msg, size_t len, uint32_t conn) {
    if (cfg_.port == nullptr || cfg_.post_buffer == nullptr) return false;
    uint32_t delay = 1;
    for (int attempt = 0; attempt < kPostAttempts; ++attempt) {
        const uint16_t s = hv::post_message(*cfg_.port, *cfg_.post_buffer, cfg_.post_buffer_phys, conn,
                                            hv::kMessageTypeVmbus, msg, len);
        if (s == hv::kStatusSuccess) return true;
        // INVALID_CONNECTION_ID is final for INITIATE_CONTACT (an old host without connection 4) but means
        // "posting too fast" for anything else (Linux vmbus_post_msg; Microsoft's UEFI treats it as not-ready).
        const bool contact = len >= 4 && msg[0] == kMsgInitiateContact && msg[1] == 0 && msg[2] == 0 && msg[3] == 0;
        const bool busy = s == hv::kStatusInvalidConnectionId && !contact;
        if (!hv::status_is_transient(s) && !busy) {
            last_post_status_ = s;
            return false;
        }
        stats_.post_retries++;
        if (cfg_.delay_us != nullptr) cfg_.delay_us(delay);
        if (delay < (1u << 21)) delay *= 2;
    }
    last_post_status_ = hv::kStatusInsufficientBuffers;
    return false;
}

bool Connection::contact() {
    while (version_ != 0) {
        uint8_t m[kMaxMessageSize];
        ContactParams p;
        p.version = version_;
        p.target_vcpu = cfg_.vp_index;
        p.interrupt_page = cfg_.interrupt_page;
        p.monitor_page1 = cfg_.monitor_page1;
        p.monitor_page2 = cfg_.monitor_page2;
        const size_t n = build_initiate_contact(m, p);
        if (n == 0) {
            fail(Failure::NotInitialised);
            return false;
        }
        state_ = State::Contacting;
        if (post(m, n, initiate_contact_connection_id(version_))) return true;
        if (last_post_status_ == hv::kStatusInvalidConnectionId && version_ >= kVersionWin10V5) {
            version_ = next_version(version_, true);  // an old host: no connection 4, so no 5.x
            continue;
        }
        fail(Failure::PostFailed);
        return false;
    }
    fail(Failure::NoCommonVersion);
    return false;
}

bool Connection::start() {
    if (cfg_.port == nullptr || cfg_.synic == nullptr || cfg_.post_buffer == nullptr) {
        fail(Failure::NotInitialised);
        return false;
    }
    failure_ = Failure::None;
    offer_count_ = 0;
    version_ = 0;
    for (size_t i = 0; i < kGuestVersionCount; ++i) {
        if (kGuestVersions[i] <= cfg_.max_version) {
            version_ = kGuestVersions[i];
            break;
        }
    }
    return contact();
}

void Connection::on_timeout() {
    if (state_ != State::Contacting) return;
    version_ = next_version(version_);
    contact();
}

size_t Connection::poll() {
    if (cfg_.synic == nullptr) return 0;
    size_t handled = 0;
    hv::Message m;
    for (;;) {
        const hv::PollResult r = cfg_.synic->poll(hv::kVmbusSint, m);
        if (r == hv::PollResult::Empty) break;
        handled++;
        if (r == hv::PollResult::Malformed || m.type != hv::kMessageTypeVmbus) {
            drop();
            continue;
        }
        handle(m.payload, m.payload_size);
    }
    return handled;
}

const ChannelOffer* Connection::find_offer(const Guid& type) const {
    for (size_t i = 0; i < offer_count_; ++i)
        if (!offers_[i].rescinded && offers_[i].offer.sub_channel_index == 0 && offers_[i].offer.interface_type == type)
            return &offers_[i];
    return nullptr;
}

const ChannelOffer* Connection::find_relid(uint32_t relid) const {
    for (size_t i = 0; i < offer_count_; ++i)
        if (offers_[i].offer.child_relid == relid) return &offers_[i];
    return nullptr;
}

Connection::Gpadl* Connection::find_gpadl(uint32_t handle) {
    if (handle == 0) return nullptr;
    for (Gpadl& g : gpadls_)
        if (g.state != GpadlState::Free && g.handle == handle) return &g;
    return nullptr;
}

Connection::Chan* Connection::chan(uint32_t relid, bool create) {
    for (Chan& c : chans_)
        if (c.relid == relid && relid != 0) return &c;
    if (!create) return nullptr;
    for (Chan& c : chans_) {
        if (c.relid == 0) {
            c = Chan{};
            c.relid = relid;
            return &c;
        }
    }
    return nullptr;
}

void Connection::handle(const uint8_t* msg, size_t len) {
    stats_.messages++;
    uint32_t type;
    if (parse_header(msg, len, type) != ParseResult::Ok) return drop();
    switch (type) {
    case kMsgVersionResponse: {
        VersionResponse r;
        if (state_ != State::Contacting || parse_version_response(msg, len, r) != ParseResult::Ok) return drop();
        if (!r.supported) {
            version_ = next_version(version_);
            contact();
            return;
        }
        if (r.connection_state != 0) return fail(Failure::HostRefused);
        msg_conn_id_ = version_ >= kVersionWin10V5 ? r.msg_conn_id : kConnIdMessage;
        if (msg_conn_id_ == 0 || (msg_conn_id_ & 0xFF000000u) != 0) return fail(Failure::HostRefused);
        uint8_t m[kMaxMessageSize];
        state_ = State::RequestingOffers;
        if (!post(m, build_request_offers(m), msg_conn_id_)) fail(Failure::PostFailed);
        return;
    }
    case kMsgOfferChannel: {
        Offer o;
        if (state_ != State::RequestingOffers && state_ != State::Ready) return drop();
        if (parse_offer(msg, len, o) != ParseResult::Ok) return drop();
        if (find_relid(o.child_relid) != nullptr || offer_count_ == kMaxOffers) return drop();
        offers_[offer_count_].offer = o;
        offers_[offer_count_].rescinded = false;
        offer_count_++;
        return;
    }
    case kMsgAllOffersDelivered:
        if (state_ != State::RequestingOffers) return drop();
        state_ = State::Ready;
        return;
    case kMsgRescindChannelOffer: {
        uint32_t relid;
        if (parse_rescind(msg, len, relid) != ParseResult::Ok) return drop();
        for (size_t i = 0; i < offer_count_; ++i) {
            if (offers_[i].offer.child_relid == relid && !offers_[i].rescinded) {
                offers_[i].rescinded = true;
                stats_.rescinds++;
                return;
            }
        }
        return drop();
    }
    case kMsgGpadlCreated: {
        GpadlCreated c;
        if (parse_gpadl_created(msg, len, c) != ParseResult::Ok) return drop();
        Gpadl* g = find_gpadl(c.gpadl);
        if (g == nullptr || g->state != GpadlState::Pending || g->relid != c.child_relid) return drop();
        g->state = c.status == 0 ? GpadlState::Created : GpadlState::Failed;
        return;
    }
    case kMsgGpadlTorndown: {
        uint32_t handle;
        if (parse_gpadl_torndown(msg, len, handle) != ParseResult::Ok) return drop();
        Gpadl* g = find_gpadl(handle);
        if (g == nullptr || g->state != GpadlState::TearingDown) return drop();
        *g = Gpadl{};
        return;
    }
    case kMsgOpenChannelResult: {
        OpenResult r;
        if (parse_open_result(msg, len, r) != ParseResult::Ok) return drop();
        Chan* c = chan(r.child_relid, false);
        if (c == nullptr || c->state != ChannelState::Opening || c->open_id != r.open_id) return drop();
        c->status = r.status;
        c->state = r.status == 0 ? ChannelState::Open : ChannelState::OpenFailed;
        return;
    }
    case kMsgUnloadResponse:
        if (state_ != State::Unloading) return drop();
        state_ = State::Unloaded;
        return;
    default: return drop();
    }
}

uint32_t Connection::create_gpadl(uint32_t relid, const GpadlRange& range) {
    if (state_ != State::Ready || find_relid(relid) == nullptr || find_relid(relid)->rescinded) return 0;
    const size_t count = gpadl_message_count(range);
    if (count == 0) return 0;
    Gpadl* slot = nullptr;
    for (Gpadl& g : gpadls_) {
        if (g.state == GpadlState::Free) {
            slot = &g;
            break;
        }
    }
    if (slot == nullptr) return 0;
    uint32_t handle = next_handle_++;
    while (handle == 0 || find_gpadl(handle) != nullptr) handle = next_handle_++;
    for (size_t i = 0; i < count; ++i) {
        uint8_t m[kMaxMessageSize];
        const size_t n = build_gpadl_message(m, i, relid, handle, range);
        if (n == 0 || !post(m, n, msg_conn_id_)) return 0;
    }
    *slot = Gpadl{handle, relid, GpadlState::Pending};
    return handle;
}

GpadlState Connection::gpadl_state(uint32_t handle) const {
    for (const Gpadl& g : gpadls_)
        if (g.state != GpadlState::Free && g.handle == handle) return g.state;
    return GpadlState::Free;
}

bool Connection::teardown_gpadl(uint32_t relid, uint32_t handle) {
    Gpadl* g = find_gpadl(handle);
    if (g == nullptr || g->relid != relid) return false;
    if (g->state == GpadlState::Failed) {
        *g = Gpadl{};
        return true;
    }
    if (g->state != GpadlState::Created) return false;
    uint8_t m[kMaxMessageSize];
    if (!post(m, build_gpadl_teardown(m, relid, handle), msg_conn_id_)) return false;
    g->state = GpadlState::TearingDown;
    return true;
}

bool Connection::open_channel(uint32_t relid, uint32_t ring_gpadl, uint32_t downstream_pages) {
    const ChannelOffer* o = find_relid(relid);
    if (state_ != State::Ready || o == nullptr || o->rescinded) return false;
    if (gpadl_state(ring_gpadl) != GpadlState::Created) return false;
    Chan* c = chan(relid, true);
    if (c == nullptr || c->state == ChannelState::Opening || c->state == ChannelState::Open) return false;
    c->open_id = next_open_id_++;
    uint8_t m[kMaxMessageSize];
    const size_t n = build_open_channel(m, relid, c->open_id, ring_gpadl, cfg_.vp_index, downstream_pages);
    if (n == 0 || !post(m, n, msg_conn_id_)) return false;
    c->state = ChannelState::Opening;
    return true;
}

ChannelState Connection::channel_state(uint32_t relid) const {
    for (const Chan& c : chans_)
        if (c.relid == relid && relid != 0) return c.state;
    return ChannelState::Closed;
}

uint32_t Connection::open_status(uint32_t relid) const {
    for (const Chan& c : chans_)
        if (c.relid == relid && relid != 0) return c.status;
    return 0;
}

bool Connection::close_channel(uint32_t relid) {
    Chan* c = chan(relid, false);
    if (c == nullptr || c->state != ChannelState::Open) return false;
    uint8_t m[kMaxMessageSize];
    if (!post(m, build_close_channel(m, relid), msg_conn_id_)) return false;
    *c = Chan{};  // CLOSECHANNEL has no reply
    return true;
}

bool Connection::release_relid(uint32_t relid) {
    for (size_t i = 0; i < offer_count_; ++i) {
        if (offers_[i].offer.child_relid != relid || !offers_[i].rescinded) continue;
        if (channel_state(relid) == ChannelState::Open) close_channel(relid);
        uint8_t m[kMaxMessageSize];
        if (!post(m, build_relid_released(m, relid), msg_conn_id_)) return false;
        offers_[i] = offers_[offer_count_ - 1];
        offer_count_--;
        return true;
    }
    return false;
}

bool Connection::unload() {
    if (state_ != State::Ready && state_ != State::RequestingOffers) return false;
    uint8_t m[kMaxMessageSize];
    if (!post(m, build_unload(m), msg_conn_id_)) return false;
    state_ = State::Unloading;
    return true;
}

}  // namespace skerry::vmbus
