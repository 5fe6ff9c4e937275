// The VMBus host simulator (see hv_host_sim.hpp).
#include "hv_host_sim.hpp"

#include <string.h>

namespace skerry::hvtest {
namespace {

uint32_t rd32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint64_t rd64(const uint8_t* p) { return rd32(p) | (static_cast<uint64_t>(rd32(p + 4)) << 32); }
void wr32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

bool host_knows_version(uint32_t v) {
    for (uint32_t k : {vmbus::kVersionWs2008, vmbus::kVersionWin7, vmbus::kVersionWin8, vmbus::kVersionWin81,
                       vmbus::kVersionWin10, vmbus::kVersionWin10V41, vmbus::kVersionWin10V5, vmbus::kVersionWin10V51,
                       vmbus::kVersionWin10V52, vmbus::kVersionWin10V53})
        if (v == k) return true;
    return false;
}

}  // namespace

uint64_t HostSim::call(uint64_t control, uint64_t rdx, uint64_t r8) {
    const uint16_t code = static_cast<uint16_t>(control & 0xFFFF);
    const bool fast = (control >> 16) & 1;
    if ((control & ~0x1FFFFull) != 0) return hv::kStatusInvalidHypercallInput;  // no reps/var header for these
    if (code == hv::kCallPostMessage) {
        if (fast) return hv::kStatusInvalidHypercallInput;
        if ((rdx & 7) != 0 || (rdx & 0xFFF) + 256 > 4096) return hv::kStatusInvalidAlignment;
        if (r8 != 0) violation("HvPostMessage with an output block");
        return post_message(reinterpret_cast<const uint8_t*>(rdx));
    }
    if (code == hv::kCallSignalEvent) {
        signals++;
        if (!fast) violation("HvSignalEvent not in fast form");
        const uint32_t conn = static_cast<uint32_t>(rdx);
        if ((rdx >> 32) != 0) violation("HvSignalEvent with flag number " + std::to_string(rdx >> 32));
        const uint32_t relid = conn & 0xFFF;  // this host's formula: relid | 2 << 12
        ChannelInfo* ch = (conn >> 12) == 2 ? open_channel(relid) : nullptr;
        if (ch == nullptr) {
            violation("HvSignalEvent on connection " + std::to_string(conn) + " of no open channel");
            return hv::kStatusInvalidConnectionId;
        }
        ch->guest_signals++;
        ch->signalled_since_empty = true;
        // A signal is owed when the guest made its outbound ring non-empty, or freed room the host asked for.
        if (ch->to_host.bytes_to_read() == 0 && !ch->host_waiting) spurious_signals++;
        return hv::kStatusSuccess;
    }
    violation("unexpected hypercall code " + std::to_string(code));
    return hv::kStatusInvalidHypercallCode;
}

uint16_t HostSim::post_message(const uint8_t* b) {
    posts++;
    const uint32_t conn = rd32(b), type = rd32(b + 8), size = rd32(b + 12);
    if (rd32(b + 4) != 0) violation("HvPostMessage reserved field not zero");
    if (type == 0 || (type & 0x80000000u) || size > 240) return hv::kStatusInvalidParameter;
    if (insufficient_buffers > 0) {
        insufficient_buffers--;
        return hv::kStatusInsufficientBuffers;
    }
    if (connected_ && busy_connection > 0) {
        busy_connection--;
        return hv::kStatusInvalidConnectionId;
    }
    // Connection 4 exists only on hosts that speak 5.0+.
    if (conn == vmbus::kConnIdInitiateContactV5 && max_version < vmbus::kVersionWin10V5)
        return hv::kStatusInvalidConnectionId;
    if (conn != vmbus::kConnIdMessage && conn != vmbus::kConnIdInitiateContactV5 && conn != msg_conn_id)
        return hv::kStatusInvalidConnectionId;
    if (type != hv::kMessageTypeVmbus) violation("HvPostMessage with message type " + std::to_string(type));
    if (size < vmbus::kHeaderSize) {
        violation("channel message shorter than its header");
        return hv::kStatusSuccess;
    }
    const uint32_t msgtype = rd32(b + 16);
    if (msgtype == vmbus::kMsgInitiateContact) {
        const uint32_t v = size >= 24 ? rd32(b + 24) : 0;
        const uint32_t want = v >= vmbus::kVersionWin10V5 ? vmbus::kConnIdInitiateContactV5 : vmbus::kConnIdMessage;
        if (conn != want)
            violation("INITIATE_CONTACT for version " + std::to_string(v) + " on connection " + std::to_string(conn));
    } else if (connected_ && conn != (version_ >= vmbus::kVersionWin10V5 ? msg_conn_id : vmbus::kConnIdMessage)) {
        violation("message on connection " + std::to_string(conn) + " instead of the negotiated one");
    }
    on_message(b + 16, size);
    return hv::kStatusSuccess;
}

HostSim::ChannelInfo* HostSim::open_channel(uint32_t relid) {
    auto it = channels_.find(relid);
    return it == channels_.end() || !it->second.open ? nullptr : &it->second;
}

vmbus::RingStatus HostSim::host_send(uint32_t relid, uint16_t type, uint16_t flags, uint64_t tid, const void* payload,
                                     size_t len) {
    return host_send_ex(relid, type, flags, tid, nullptr, 0, payload, len);
}

vmbus::RingStatus HostSim::host_send_ex(uint32_t relid, uint16_t type, uint16_t flags, uint64_t tid, const void* extra,
                                        size_t extra_len, const void* payload, size_t len) {
    ChannelInfo* ch = open_channel(relid);
    if (ch == nullptr) return vmbus::RingStatus::NotAttached;
    bool sig = false;
    const vmbus::RingStatus s = ch->to_guest.write_packet(type, flags, tid, extra, extra_len, payload, len, sig);
    if (sig) {
        host_signals++;
        model_.set_event(hv::kVmbusSint, relid);
    }
    return s;
}

vmbus::RingStatus HostSim::host_receive(uint32_t relid, std::vector<uint8_t>& packet) {
    ChannelInfo* ch = open_channel(relid);
    if (ch == nullptr) return vmbus::RingStatus::NotAttached;
    vmbus::PacketDescriptor d;
    vmbus::RingStatus s = ch->to_host.peek(d);
    if (s == vmbus::RingStatus::Empty) {
        ch->signalled_since_empty = false;
        return s;
    }
    if (s != vmbus::RingStatus::Ok) {
        violation(std::string("guest->host ring: ") + vmbus::ring_status_name(s));
        return s;
    }
    if (!ch->signalled_since_empty) violation("guest wrote to an empty ring without signalling");
    if (d.flags & ~vmbus::kPacketFlagCompletionRequested) violation("guest packet with unknown flags");
    if (d.type != vmbus::kPacketDataInband && d.type != vmbus::kPacketDataGpaDirect &&
        d.type != vmbus::kPacketCompletion)
        violation("guest packet of type " + std::to_string(d.type));
    packet.assign(d.len8 * 8u, 0);
    size_t len = 0;
    bool sig = false;
    s = ch->to_host.read(packet.data(), packet.size(), len, sig);
    if (ch->to_host.bytes_to_read() == 0) ch->signalled_since_empty = false;
    return s;
}

void HostSim::host_wait_for_space(uint32_t relid, uint32_t bytes) {
    ChannelInfo* ch = open_channel(relid);
    if (ch == nullptr) return;
    ch->host_waiting = true;
    ch->to_guest.set_pending_send_sz(bytes);
}

void HostSim::reset_channels() {
    gpadls_.clear();
    channels_.clear();
    offers_requested_ = false;
    gpadl_in_progress_ = 0;
}

void HostSim::rescind(uint32_t relid) {
    auto it = channels_.find(relid);
    if (it == channels_.end()) return;
    it->second.rescinded = true;
    uint8_t m[12] = {};
    wr32(m, vmbus::kMsgRescindChannelOffer);
    wr32(m + 8, relid);
    reply(m, sizeof m);
}

void HostSim::on_message(const uint8_t* m, size_t len) {
    const uint32_t type = rd32(m);
    received.push_back(type);
    if (rd32(m + 4) != 0) violation("channel message header padding not zero");
    auto need = [&](size_t n, const char* what) {
        if (len != n)
            violation(std::string(what) + " of " + std::to_string(len) + " bytes, expected " + std::to_string(n));
        return len >= n;
    };
    if (gpadl_in_progress_ != 0 && type != vmbus::kMsgGpadlBody) {
        violation("GPADL " + std::to_string(gpadl_in_progress_) + " interrupted before its last body");
        gpadls_.erase(gpadl_in_progress_);
        gpadl_in_progress_ = 0;
    }
    switch (type) {
    case vmbus::kMsgInitiateContact: {
        if (!need(40, "INITIATE_CONTACT")) return;
        if (connected_) reset_channels();  // a second contact is a disconnect + reconnect
        const uint32_t v = rd32(m + 8);
        const uint64_t mon1 = rd64(m + 24), mon2 = rd64(m + 32);
        if (!answer_contact) return;
        uint8_t r[16] = {};
        wr32(r, vmbus::kMsgVersionResponse);
        if (!host_knows_version(v) || v > max_version) {
            reply(r, sizeof r);  // version_supported = 0
            return;
        }
        r[8] = 1;
        if ((mon1 == 0) != (mon2 == 0)) {
            violation("INITIATE_CONTACT with one monitor page");
            r[9] = 2;
            reply(r, sizeof r);
            return;
        }
        if (v >= vmbus::kVersionWin10V5) {
            if (m[16] != hv::kVmbusSint) violation("INITIATE_CONTACT msg_sint " + std::to_string(m[16]));
            wr32(r + 12, msg_conn_id);
        } else {
            wr32(r + 12, v);  // what OVMM puts there for old versions: must be ignored
        }
        version_ = v;
        target_vcpu_ = rd32(m + 12);
        connected_ = true;
        reply(r, sizeof r);
        return;
    }
    case vmbus::kMsgRequestOffers: {
        if (!need(8, "REQUESTOFFERS")) return;
        if (!connected_) return violation("REQUESTOFFERS before the connection");
        if (offers_requested_) return violation("second REQUESTOFFERS");
        offers_requested_ = true;
        uint32_t relid = 1;
        for (const Device& d : devices) {
            uint8_t o[196] = {};
            wr32(o, vmbus::kMsgOfferChannel);
            memcpy(o + 8, d.type.b, 16);
            memcpy(o + 24, d.instance.b, 16);
            o[180] = static_cast<uint8_t>(d.sub_channel_index);
            wr32(o + 184, relid);
            o[190] = 1;                         // dedicated interrupt
            wr32(o + 192, relid | (2u << 12));  // OVMM's formula; the guest must not assume it
            channels_[relid] = ChannelInfo{};
            reply(o, sizeof o);
            relid++;
        }
        uint8_t done[8] = {};
        wr32(done, vmbus::kMsgAllOffersDelivered);
        reply(done, sizeof done);
        return;
    }
    case vmbus::kMsgGpadlHeader: {
        if (len < 28) return violation("GPADL_HEADER too short");
        const uint32_t relid = rd32(m + 8), handle = rd32(m + 12);
        const uint16_t buflen = rd16(m + 16), ranges = rd16(m + 18);
        uint8_t r[20] = {};
        wr32(r, vmbus::kMsgGpadlCreated);
        wr32(r + 8, relid);
        wr32(r + 12, handle);
        if (channels_.count(relid) == 0) violation("GPADL_HEADER for unknown relid " + std::to_string(relid));
        if (handle == 0 || gpadls_.count(handle)) violation("GPADL handle " + std::to_string(handle) + " not unique");
        if (ranges != 1) violation("GPADL with " + std::to_string(ranges) + " ranges");
        GpadlInfo g;
        g.relid = relid;
        g.byte_count = rd32(m + 20);
        g.byte_offset = rd32(m + 24);
        g.expected_pfns = buflen >= 8 ? (buflen - 8) / 8 : 0;
        if (buflen % 8 != 0 || g.expected_pfns != (g.byte_offset + uint64_t{g.byte_count} + 4095) / 4096)
            violation("GPADL range_buflen " + std::to_string(buflen) + " does not match the range");
        if ((len - 28) % 8 != 0) violation("GPADL_HEADER with a partial PFN");
        const size_t here = (len - 28) / 8;
        if (here > vmbus::kGpadlHeaderMaxPfns || here > g.expected_pfns) violation("GPADL_HEADER with too many PFNs");
        if (here < g.expected_pfns && here != vmbus::kGpadlHeaderMaxPfns) violation("GPADL_HEADER not filled");
        for (size_t i = 0; i < here; ++i) g.pfns.push_back(rd64(m + 28 + 8 * i));
        g.complete = g.pfns.size() >= g.expected_pfns;
        gpadls_[handle] = g;
        if (g.complete) {
            reply(r, sizeof r);
        } else {
            gpadl_in_progress_ = handle;
        }
        return;
    }
    case vmbus::kMsgGpadlBody: {
        const uint32_t handle = len >= 16 ? rd32(m + 12) : 0;
        if (gpadl_in_progress_ == 0 || handle != gpadl_in_progress_)
            return violation("GPADL_BODY for handle " + std::to_string(handle) + " without its header");
        if ((len - 16) % 8 != 0 || len <= 16) violation("GPADL_BODY with a partial or no PFN");
        GpadlInfo& g = gpadls_[handle];
        const size_t here = (len - 16) / 8;
        const size_t left = g.expected_pfns - g.pfns.size();
        if (here > left) violation("GPADL_BODY carries more PFNs than range_buflen announced");
        if (here < left && here != vmbus::kGpadlBodyMaxPfns) violation("GPADL_BODY not filled");
        for (size_t i = 0; i < here && g.pfns.size() < g.expected_pfns; ++i) g.pfns.push_back(rd64(m + 16 + 8 * i));
        if (g.pfns.size() == g.expected_pfns) {
            g.complete = true;
            gpadl_in_progress_ = 0;
            uint8_t r[20] = {};
            wr32(r, vmbus::kMsgGpadlCreated);
            wr32(r + 8, g.relid);
            wr32(r + 12, handle);
            reply(r, sizeof r);
        }
        return;
    }
    case vmbus::kMsgOpenChannel: {
        if (!need(148, "OPENCHANNEL")) return;
        const uint32_t relid = rd32(m + 8), open_id = rd32(m + 12), gpadl = rd32(m + 16);
        const uint32_t vp = rd32(m + 20), down = rd32(m + 24);
        uint8_t r[20] = {};
        wr32(r, vmbus::kMsgOpenChannelResult);
        wr32(r + 8, relid);
        wr32(r + 12, open_id);
        auto ch = channels_.find(relid);
        auto g = gpadls_.find(gpadl);
        uint32_t status = 0;
        if (ch == channels_.end() || ch->second.open || ch->second.rescinded) {
            violation("OPENCHANNEL for relid " + std::to_string(relid) + " that is unknown, open or rescinded");
            status = 0xC0000001u;
        } else if (g == gpadls_.end() || !g->second.complete || g->second.relid != relid) {
            violation("OPENCHANNEL with ring GPADL " + std::to_string(gpadl) + " not created on this channel");
            status = 0xC0000001u;
        } else if (g->second.byte_offset != 0 || g->second.byte_count % 4096 != 0 || down < 2 ||
                   down + 2 > g->second.byte_count / 4096) {
            violation("OPENCHANNEL ring geometry invalid");
            status = 0xC0000001u;
        } else {
            ChannelInfo info;
            info.open = true;
            info.ring_gpadl = gpadl;
            info.downstream_pages = down;
            info.target_vp = vp;
            // Test memory is identity mapped and the ring GPADL contiguous: the first PFN locates both rings.
            uint8_t* base = reinterpret_cast<uint8_t*>(g->second.pfns[0] << 12);
            for (size_t i = 1; i < g->second.pfns.size(); ++i)
                if (g->second.pfns[i] != g->second.pfns[0] + i) violation("ring GPADL not contiguous (test limit)");
            const size_t total = g->second.byte_count;
            if (info.to_host.attach(base, down * 4096ull) != vmbus::RingStatus::Ok ||
                info.to_guest.attach(base + down * 4096ull, total - down * 4096ull) != vmbus::RingStatus::Ok)
                violation("ring indices not zero at open");
            info.to_guest.set_writer_feature_pending_send_sz(true);
            ch->second = info;
        }
        wr32(r + 16, status);
        reply(r, sizeof r);
        return;
    }
    case vmbus::kMsgCloseChannel: {
        if (!need(12, "CLOSECHANNEL")) return;
        auto ch = channels_.find(rd32(m + 8));
        if (ch == channels_.end() || !ch->second.open) return violation("CLOSECHANNEL for a channel not open");
        ch->second.open = false;
        return;
    }
    case vmbus::kMsgGpadlTeardown: {
        if (!need(16, "GPADL_TEARDOWN")) return;
        const uint32_t handle = rd32(m + 12);
        auto g = gpadls_.find(handle);
        if (g == gpadls_.end()) return violation("GPADL_TEARDOWN of unknown handle");
        for (auto& [relid, ch] : channels_)
            if (ch.open && ch.ring_gpadl == handle) return violation("GPADL_TEARDOWN of an open channel's ring");
        gpadls_.erase(g);
        uint8_t r[12] = {};
        wr32(r, vmbus::kMsgGpadlTorndown);
        wr32(r + 8, handle);
        reply(r, sizeof r);
        return;
    }
    case vmbus::kMsgRelidReleased: {
        if (!need(12, "RELID_RELEASED")) return;
        auto ch = channels_.find(rd32(m + 8));
        if (ch == channels_.end() || !ch->second.rescinded) return violation("RELID_RELEASED without a rescind");
        if (ch->second.open) violation("RELID_RELEASED while the channel is open");
        channels_.erase(ch);
        return;
    }
    case vmbus::kMsgUnload: {
        if (!need(8, "UNLOAD")) return;
        reset_channels();
        connected_ = false;
        uint8_t r[8] = {};
        wr32(r, vmbus::kMsgUnloadResponse);
        reply(r, sizeof r);
        return;
    }
    default: violation("unexpected channel message type " + std::to_string(type));
    }
}

}  // namespace skerry::hvtest
