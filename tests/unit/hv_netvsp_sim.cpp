// The host's netvsp for the VMBus host simulator (see hv_netvsp_sim.hpp).
#include "hv_netvsp_sim.hpp"

#include <string.h>

#include <algorithm>

namespace skerry::hvtest {
namespace {

uint32_t rd32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
void wr32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void wr16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
std::string hex(uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
}

// NVSP message types and constants (docs/protocols/netvsc-rndis.md §2), spelled out here rather than taken from
// the driver.
constexpr uint32_t kInit = 1, kInitComplete = 2, kNdisVersion = 100, kRecvBuf = 101, kRecvBufComplete = 102,
                   kRevokeRecv = 103, kSendBuf = 104, kSendBufComplete = 105, kRevokeSend = 106, kRndisPkt = 107,
                   kRndisPktComplete = 108, kNdisConfig = 125;
constexpr uint32_t kSuccess = 1, kFail = 2;
constexpr uint16_t kInband = 6, kXfer = 7, kGpaDirect = 9, kCompletion = 0xB;
constexpr uint16_t kCompletionRequested = 1;
constexpr uint32_t kVersions[] = {0x00000002, 0x00030002, 0x00040000, 0x00050000, 0x00060000, 0x00060001};
// RNDIS (docs/protocols/netvsc-rndis.md §5).
constexpr uint32_t kPacketMsg = 1, kInitMsg = 2, kHaltMsg = 3, kQueryMsg = 4, kSetMsg = 5, kIndicate = 7,
                   kKeepalive = 8;
constexpr uint32_t kInitCmplt = 0x80000002, kQueryCmplt = 0x80000004, kSetCmplt = 0x80000005,
                   kKeepaliveCmplt = 0x80000008;
constexpr uint32_t kRndisSuccess = 0, kRndisFailure = 0xC0000001, kRndisNotSupported = 0xC00000BB;
constexpr uint32_t kFilterDirected = 1, kFilterMulticast = 2, kFilterAllMulticast = 4, kFilterBroadcast = 8;
constexpr uint32_t kHeader = 44;

}  // namespace

// ------------------------------------------------------------------------------------------------ guest -> host

size_t NetvspSim::pump() {
    size_t work = 0;
    auto ch = host_.channels().find(relid_);
    if (ch == host_.channels().end() || !ch->second.open) return 0;
    // The buffers must outlive their use: torn down while the channel is open and not revoked is misuse.
    if (phase_ == Phase::Ready) {
        bool gone = false;
        if (host_.gpadls().count(recv_gpadl_) == 0) {
            violation("receive buffer GPADL torn down while in use");
            gone = true;
        }
        if (send_buf_ && host_.gpadls().count(send_gpadl_) == 0) {
            violation("send buffer GPADL torn down while in use");
            gone = true;
        }
        if (gone) {  // stop touching the memory, as if revoked
            phase_ = Phase::Revoked;
            return 0;
        }
    }
    for (int i = 0; i < 100000; ++i) {
        std::vector<uint8_t> p;
        const vmbus::RingStatus s = host_.host_receive(relid_, p);
        if (s != vmbus::RingStatus::Ok) break;  // Empty, or corruption (HostSim records it)
        on_packet(p);
        work++;
        if (host_.channels().find(relid_) == host_.channels().end()) return work;
    }
    return work + deliver();
}

void NetvspSim::on_packet(const std::vector<uint8_t>& p) {
    if (p.size() < 16) return violation("guest packet shorter than a descriptor");
    const uint16_t type = rd16(p.data()), off8 = rd16(p.data() + 2), len8 = rd16(p.data() + 4);
    const uint16_t flags = rd16(p.data() + 6);
    uint64_t tid;
    memcpy(&tid, p.data() + 8, 8);
    const size_t off = off8 * 8u, len = len8 * 8u;
    if (off < 16 || off > len || len > p.size()) return violation("guest packet descriptor inconsistent");
    const uint8_t* payload = p.data() + off;
    const size_t plen = len - off;
    if (phase_ == Phase::Revoked) {
        if (type == kCompletion) return;  // completions of packets sent before the revoke
        if (plen >= 4 && (rd32(payload) == kRevokeRecv || rd32(payload) == kRevokeSend)) {
            revokes++;
            return;
        }
        return violation("guest packet after revoking its buffers");
    }
    switch (type) {
    case kCompletion:
        if (flags != 0) violation("completion with flags " + std::to_string(flags));
        return on_completion(tid, payload, plen);
    case kInband: return on_nvsp(flags, tid, payload, plen);
    case kGpaDirect: {
        // 16: reserved, 20: range count, 24: ranges {len, offset, pfn[pages]}; the data is read page by page.
        if (off < 24) return violation("GPA-direct packet without its range header");
        const uint32_t count = rd32(p.data() + 20);
        if (rd32(p.data() + 16) != 0) violation("GPA-direct reserved field not zero");
        if (count == 0) return violation("GPA-direct packet with no range");
        std::vector<uint8_t> data;
        size_t pos = 24;
        for (uint32_t r = 0; r < count; ++r) {
            if (pos + 8 > off) return violation("GPA-direct ranges run past the packet header");
            const uint32_t rlen = rd32(p.data() + pos), roff = rd32(p.data() + pos + 4);
            const size_t pages = (roff + static_cast<size_t>(rlen) + 4095) / 4096;
            pos += 8;
            if (rlen == 0 || roff >= 4096) return violation("GPA-direct range with length 0 or offset >= 4096");
            if (pos + 8 * pages > off) return violation("GPA-direct page list runs past the packet header");
            if (r == 0 && rlen < 12) violation("GPA-direct first range shorter than an RNDIS header");
            size_t done = 0;
            for (size_t i = 0; i < pages; ++i) {
                uint64_t pfn;
                memcpy(&pfn, p.data() + pos + 8 * i, 8);
                const size_t start = i == 0 ? roff : 0;
                const size_t n = std::min<size_t>(4096 - start, rlen - done);
                const uint8_t* src = reinterpret_cast<const uint8_t*>((pfn << 12) + start);
                data.insert(data.end(), src, src + n);
                done += n;
            }
            pos += 8 * pages;
        }
        if (pos != off) violation("GPA-direct header longer than its ranges");
        if (plen < 4 || rd32(payload) != kRndisPkt) return violation("GPA-direct packet that is not SEND_RNDIS_PKT");
        if (phase_ != Phase::Ready && !(phase_ == Phase::Init && recv_buf_))
            return violation("GPA-direct SEND_RNDIS_PKT before the receive buffer");
        phase_ = Phase::Ready;
        return on_rndis_pkt(flags, tid, payload, plen, &data);
    }
    default: return violation("guest packet of type " + std::to_string(type));
    }
}

void NetvspSim::complete(uint64_t tid, const void* payload, size_t len) {
    if (host_.host_send(relid_, kCompletion, 0, tid, payload, len) != vmbus::RingStatus::Ok)
        violation("host->guest ring full for a completion (the guest does not drain its ring)");
}

bool NetvspSim::gpadl_usable(uint32_t handle, const char* what) {
    auto g = host_.gpadls().find(handle);
    if (g == host_.gpadls().end() || !g->second.complete) {
        violation(std::string(what) + " GPADL " + std::to_string(handle) + " does not exist");
        return false;
    }
    if (g->second.relid != relid_) {
        violation(std::string(what) + " GPADL belongs to another channel");
        return false;
    }
    if (g->second.byte_offset != 0 || g->second.byte_count % 4096 != 0) {
        violation(std::string(what) + " GPADL not page aligned");
        return false;
    }
    if (handle == host_.channels().at(relid_).ring_gpadl) {
        violation(std::string(what) + " GPADL is the channel's ring");
        return false;
    }
    for (size_t i = 1; i < g->second.pfns.size(); ++i)
        if (g->second.pfns[i] != g->second.pfns[0] + i)
            violation(std::string(what) + " GPADL not contiguous (test limit)");
    return true;
}

uint8_t* NetvspSim::gpadl_base(uint32_t handle) {
    return reinterpret_cast<uint8_t*>(host_.gpadls().at(handle).pfns[0] << 12);
}

void NetvspSim::on_nvsp(uint16_t flags, uint64_t tid, const uint8_t* m, size_t len) {
    if (len < 4) return violation("inband packet without an NVSP type");
    const uint32_t type = rd32(m);
    const bool wants = (flags & kCompletionRequested) != 0;
    auto need = [&](size_t n, const char* what) {
        if (len < n) violation(std::string(what) + " of " + std::to_string(len) + " bytes, needs " + std::to_string(n));
        return len >= n;
    };
    if (phase_ == Phase::AwaitInit) {
        if (type != kInit) return violation("NVSP message " + std::to_string(type) + " before INIT");
        if (!need(12, "INIT")) return;
        if (!wants) violation("INIT without a completion request");
        const uint32_t v = rd32(m + 4);
        if (rd32(m + 8) != v) violation("INIT with min != max version");
        init_versions.push_back(v);
        if (!answer_init) return;
        bool known = false;
        for (uint32_t k : kVersions) known = known || k == v;
        uint8_t r[40] = {};
        wr32(r, kInitComplete);
        wr32(r + 4, v == 2 ? 2 : 0xFFFFFFFF);
        wr32(r + 8, 34);
        if (known && v <= max_version) {
            wr32(r + 12, kSuccess);
            version_ = v;
            phase_ = Phase::Init;
        }
        return complete(tid, r, sizeof r);
    }
    if (phase_ == Phase::Init) {
        switch (type) {
        case kInit: return violation("second INIT after a successful one");
        case kNdisConfig:
            if (!need(20, "NDIS_CONFIG")) return;
            if (version_ < 0x00030002) violation("NDIS_CONFIG on NVSP 1");
            if (ndis_config_) violation("second NDIS_CONFIG");
            if (recv_buf_) violation("NDIS_CONFIG after the receive buffer");
            ndis_config_ = true;
            ndis_mtu_ = rd32(m + 4);
            if (ndis_mtu_ < 1514 || ndis_mtu_ > 9216) ndis_mtu_ = 1514;
            if (wants) complete(tid, nullptr, 0);
            return;
        case kNdisVersion:
            if (!need(12, "NDIS_VERSION")) return;
            if (ndis_version_) violation("second NDIS_VERSION");
            ndis_version_ = true;
            ndis_major_ = rd32(m + 4);
            ndis_minor_ = rd32(m + 8);
            if (ndis_major_ != 6 || ndis_minor_ != (version_ <= 0x00040000 ? 1u : 30u))
                violation("NDIS version " + std::to_string(ndis_major_) + "." + std::to_string(ndis_minor_) +
                          " for NVSP " + hex(version_));
            if (wants) complete(tid, nullptr, 0);
            return;
        case kRecvBuf: {
            if (!need(10, "SEND_RECV_BUF")) return;
            if (!wants) violation("SEND_RECV_BUF without a completion request");
            if (recv_buf_) return violation("second SEND_RECV_BUF");
            if (version_ >= 0x00030002 && !ndis_config_) violation("SEND_RECV_BUF before NDIS_CONFIG");
            if (!ndis_version_) violation("SEND_RECV_BUF before NDIS_VERSION");
            uint8_t r[40] = {};
            wr32(r, kRecvBufComplete);
            wr32(r + 4, kFail);
            const uint32_t h = rd32(m + 4);
            if (!gpadl_usable(h, "receive buffer")) return complete(tid, r, sizeof r);
            const uint32_t mtu = ndis_mtu_ ? ndis_mtu_ : 1514;
            const uint32_t sub = 256 + mtu + 36, count = host_.gpadls().at(h).byte_count / sub;
            if (count <= 16) return complete(tid, r, sizeof r);
            recv_buf_ = true;
            recv_gpadl_ = h;
            page_set_ = rd16(m + 8);
            sub_alloc_ = sub;
            sub_count_ = count;
            sub_busy_.assign(count, false);
            wr32(r + 4, kSuccess);
            wr32(r + 8, 1);
            wr32(r + 12, 0);
            wr32(r + 16, sub);
            wr32(r + 20, count);
            wr32(r + 24, sub * count);
            return complete(tid, r, sizeof r);
        }
        case kSendBuf: {
            if (!need(10, "SEND_SEND_BUF")) return;
            if (!wants) violation("SEND_SEND_BUF without a completion request");
            if (send_buf_) return violation("second SEND_SEND_BUF");
            if (!recv_buf_) violation("SEND_SEND_BUF before the receive buffer");
            uint8_t r[40] = {};
            wr32(r, kSendBufComplete);
            wr32(r + 4, kFail);
            const uint32_t h = rd32(m + 4);
            if (refuse_send_buffer || !gpadl_usable(h, "send buffer") || host_.gpadls().at(h).byte_count < section_size)
                return complete(tid, r, sizeof r);
            send_buf_ = true;
            send_gpadl_ = h;
            send_bytes_ = host_.gpadls().at(h).byte_count;
            wr32(r + 4, kSuccess);
            wr32(r + 8, section_size);
            return complete(tid, r, sizeof r);
        }
        case kRndisPkt:
            if (!recv_buf_) return violation("SEND_RNDIS_PKT before the receive buffer");
            phase_ = Phase::Ready;
            return on_rndis_pkt(flags, tid, m, len, nullptr);
        default: return violation("NVSP message " + std::to_string(type) + " during initialisation");
        }
    }
    // Ready
    switch (type) {
    case kRndisPkt: return on_rndis_pkt(flags, tid, m, len, nullptr);
    case kRevokeRecv:
    case kRevokeSend:
        if (wants) violation("revoke with a completion request (hosts never complete it)");
        revokes++;
        phase_ = Phase::Revoked;
        control_.clear();
        to_guest_.clear();
        return;
    default: return violation("NVSP message " + std::to_string(type) + " when ready (wrong order)");
    }
}

void NetvspSim::on_rndis_pkt(uint16_t flags, uint64_t tid, const uint8_t* m, size_t len,
                             const std::vector<uint8_t>* gpa) {
    if (len < 16) return violation("SEND_RNDIS_PKT of " + std::to_string(len) + " bytes");
    if (!(flags & kCompletionRequested)) violation("SEND_RNDIS_PKT without a completion request");
    const uint32_t channel = rd32(m + 4), index = rd32(m + 8);
    uint32_t size = rd32(m + 12);
    uint8_t r[8];
    wr32(r, kRndisPktComplete);
    wr32(r + 4, kSuccess);
    auto finish = [&](uint32_t status) {
        wr32(r + 4, status);
        if (hold_tx_completions) {
            held_.push_back({tid, status});
        } else {
            complete(tid, r, sizeof r);
            tx_completions++;
        }
    };
    if (channel > 1) {
        violation("SEND_RNDIS_PKT channel type " + std::to_string(channel));
        return finish(kFail);
    }
    const uint8_t* msg;
    if (gpa != nullptr) {
        if (index != 0xFFFFFFFF || size != 0) violation("GPA-direct SEND_RNDIS_PKT naming a section");
        msg = gpa->data();
        size = static_cast<uint32_t>(gpa->size());
    } else {
        if (index == 0xFFFFFFFF || !send_buf_) {
            violation("inband SEND_RNDIS_PKT without a send-buffer section");
            return finish(kFail);
        }
        if (size == 0 || size > section_size || static_cast<uint64_t>(index) * section_size + size > send_bytes_) {
            violation("send section " + std::to_string(index) + " size " + std::to_string(size) +
                      " outside the buffer");
            return finish(kFail);
        }
        msg = gpadl_base(send_gpadl_) + static_cast<size_t>(index) * section_size;
    }
    if (channel == 1) {
        on_rndis_control(msg, size);
        return finish(kSuccess);
    }
    // Data: one or more PACKET_MSGs back to back.
    size_t pos = 0;
    uint32_t status = kSuccess;
    while (pos < size) {
        const uint8_t* p = msg + pos;
        const size_t left = size - pos;
        if (left < kHeader || rd32(p) != kPacketMsg) {
            violation("data section without a PACKET_MSG at " + std::to_string(pos));
            status = kFail;
            break;
        }
        const uint32_t mlen = rd32(p + 4), doff = rd32(p + 8), dlen = rd32(p + 12);
        if (mlen < kHeader || mlen > left || rd32(p + 16) || rd32(p + 20) || rd32(p + 24) || rd32(p + 36) ||
            dlen == 0 || 8ull + doff + dlen > mlen) {
            violation("malformed PACKET_MSG (length " + std::to_string(mlen) + ", data " + std::to_string(doff) + "+" +
                      std::to_string(dlen) + ", OOB/VC fields must be 0)");
            status = kFail;
            break;
        }
        const uint32_t ppi_off = rd32(p + 28), ppi_len = rd32(p + 32);
        if (ppi_len != 0 && 8ull + ppi_off + ppi_len > mlen) violation("PACKET_MSG PPI outside the message");
        if (dlen > ndis_mtu_ + 4 || dlen < 14) violation("guest frame of " + std::to_string(dlen) + " bytes");
        if (!rndis_init_) violation("PACKET_MSG before RNDIS INITIALIZE");
        if (link_) {
            tx_frames.emplace_back(p + 8 + doff, p + 8 + doff + dlen);
        } else {
            dropped_link_down++;
        }
        pos += (mlen + 7) & ~size_t{7};
    }
    finish(status);
}

void NetvspSim::on_rndis_control(const uint8_t* m, size_t len) {
    if (len < 12) return violation("RNDIS control message of " + std::to_string(len) + " bytes");
    const uint32_t type = rd32(m), mlen = rd32(m + 4), req = rd32(m + 8);
    if (mlen != len)
        violation("RNDIS message length " + std::to_string(mlen) + " in a section of " + std::to_string(len));
    if (mlen > len) return;
    if (type != kInitMsg && !rndis_init_) return violation("RNDIS message " + hex(type) + " before INITIALIZE");
    if (halted_) return violation("RNDIS message " + hex(type) + " after HALT");
    if (req == 0 && type != kHaltMsg) violation("RNDIS request id 0");
    switch (type) {
    case kInitMsg: {
        if (mlen != 24) return violation("INITIALIZE of " + std::to_string(mlen) + " bytes");
        if (rndis_init_) violation("second RNDIS INITIALIZE");
        if (rd32(m + 12) != 1 || rd32(m + 16) != 0) violation("RNDIS INITIALIZE version not 1.0");
        rndis_init_ = true;
        std::vector<uint8_t> r(52, 0);
        wr32(&r[0], kInitCmplt);
        wr32(&r[4], 52);
        wr32(&r[8], req);
        wr32(&r[12], kRndisSuccess);
        wr32(&r[16], 1);
        wr32(&r[24], 1);  // connectionless
        wr32(&r[32], 8);
        wr32(&r[36], 0xEFFFFFFF);
        wr32(&r[40], 3);
        return reply_rndis(r);
    }
    case kQueryMsg: {
        if (mlen < 28) return violation("QUERY of " + std::to_string(mlen) + " bytes");
        const uint32_t oid = rd32(m + 12), ilen = rd32(m + 16), ioff = rd32(m + 20);
        if (ilen != 0 && 8ull + ioff + ilen > mlen) violation("QUERY information outside the message");
        oids_queried.push_back(oid);
        std::vector<uint8_t> info;
        uint32_t status = kRndisSuccess;
        auto u32 = [&](uint32_t v) {
            info.resize(4);
            wr32(info.data(), v);
        };
        switch (oid) {
        case 0x01010101:  // permanent address
            if (permanent_address_fails) {
                status = kRndisFailure;
                break;
            }
            [[fallthrough]];
        case 0x01010102: info.assign(mac, mac + 6); break;
        case 0x00010106: u32(max_frame_size); break;
        case 0x00010111: u32(max_frame_size + 14); break;
        case 0x00010107: u32(link_speed); break;
        case 0x00010114: u32(link_ ? 0 : 1); break;
        default: status = kRndisNotSupported;
        }
        std::vector<uint8_t> r(24 + info.size(), 0);
        wr32(&r[0], kQueryCmplt);
        wr32(&r[4], static_cast<uint32_t>(r.size()));
        wr32(&r[8], req);
        wr32(&r[12], status);
        wr32(&r[16], static_cast<uint32_t>(info.size()));
        wr32(&r[20], info.empty() ? 0 : 16);
        if (!info.empty()) memcpy(&r[24], info.data(), info.size());
        return reply_rndis(r);
    }
    case kSetMsg: {
        if (mlen < 28) return violation("SET of " + std::to_string(mlen) + " bytes");
        const uint32_t oid = rd32(m + 12), ilen = rd32(m + 16), ioff = rd32(m + 20);
        if (8ull + ioff + ilen > mlen) return violation("SET information outside the message");
        uint32_t status = kRndisNotSupported;
        if (oid == 0x0001010E) {
            if (ilen != 4) {
                violation("packet filter SET of " + std::to_string(ilen) + " bytes");
                status = kRndisFailure;
            } else {
                filter_ = rd32(m + 8 + ioff);
                status = kRndisSuccess;
            }
        }
        std::vector<uint8_t> r(16, 0);
        wr32(&r[0], kSetCmplt);
        wr32(&r[4], 16);
        wr32(&r[8], req);
        wr32(&r[12], status);
        return reply_rndis(r);
    }
    case kHaltMsg:
        if (mlen != 12) violation("HALT of " + std::to_string(mlen) + " bytes");
        halted_ = true;
        filter_ = 0;
        return;
    case kKeepaliveCmplt:
        if (mlen != 16) violation("KEEPALIVE_CMPLT of " + std::to_string(mlen) + " bytes");
        keepalive_replies++;
        return;
    default: return violation("RNDIS control message " + hex(type));
    }
}

void NetvspSim::on_completion(uint64_t tid, const uint8_t* m, size_t len) {
    auto it = rx_pending_.find(tid);
    if (it == rx_pending_.end())
        return violation("completion for unknown or already completed transaction " + hex(tid));
    if (len < 8) return violation("empty or short receive completion (" + std::to_string(len) + " bytes)");
    if (rd32(m) != kRndisPktComplete) violation("receive completion of NVSP type " + std::to_string(rd32(m)));
    const uint32_t status = rd32(m + 4);
    if (status != kSuccess && status != kFail) violation("receive completion status " + std::to_string(status));
    if (status != kSuccess) rx_completions_failed++;
    for (uint32_t s : it->second) sub_busy_[s] = false;
    rx_pending_.erase(it);
    rx_completions++;
}

// ------------------------------------------------------------------------------------------------ host -> guest

int NetvspSim::take_sub(bool control) {
    size_t free_count = 0;
    for (bool b : sub_busy_) free_count += !b;
    if (!control && free_count <= control_reserve) return -1;
    for (size_t i = 0; i < sub_busy_.size(); ++i) {
        if (!sub_busy_[i]) {
            sub_busy_[i] = true;
            return static_cast<int>(i);
        }
    }
    return -1;
}

bool NetvspSim::accepts(const std::vector<uint8_t>& f) {
    if (f.size() < 14) return true;  // let malformed frames through: the guest must cope
    const bool multicast = f[0] & 1;
    const bool broadcast = multicast && f[0] == 0xFF && f[1] == 0xFF && f[2] == 0xFF && f[3] == 0xFF && f[4] == 0xFF &&
                           f[5] == 0xFF;
    if (broadcast) return filter_ & kFilterBroadcast;
    if (multicast) return filter_ & kFilterAllMulticast;  // no multicast list is ever programmed
    (void)kFilterMulticast;
    return (filter_ & kFilterDirected) && memcmp(f.data(), mac, 6) == 0;
}

size_t NetvspSim::deliver() {
    if (!recv_buf_ || phase_ == Phase::Revoked) return 0;
    size_t work = 0;
    uint8_t* base = gpadl_base(recv_gpadl_);
    uint8_t nvsp[40] = {};
    wr32(nvsp, kRndisPkt);
    wr32(nvsp + 8, 0xFFFFFFFF);
    auto send = [&](const std::vector<std::pair<uint32_t, uint32_t>>& ranges, uint32_t channel,
                    const std::vector<uint32_t>& subs) {
        std::vector<uint8_t> extra(8 + 8 * ranges.size(), 0);
        wr16(&extra[0], page_set_);
        wr32(&extra[4], static_cast<uint32_t>(ranges.size()));
        for (size_t i = 0; i < ranges.size(); ++i) {
            wr32(&extra[8 + 8 * i], ranges[i].first);
            wr32(&extra[12 + 8 * i], ranges[i].second);
        }
        wr32(nvsp + 4, channel);
        const uint64_t tid = next_tid_++;
        const vmbus::RingStatus s = host_.host_send_ex(relid_, kXfer, kCompletionRequested, tid, extra.data(),
                                                       extra.size(), nvsp, 40);
        if (s != vmbus::RingStatus::Ok) return false;
        rx_pending_[tid] = subs;
        rx_packets++;
        return true;
    };
    while (!control_.empty()) {
        const int s = take_sub(true);
        if (s < 0) break;
        const std::vector<uint8_t>& msg = control_.front();
        const uint32_t off = static_cast<uint32_t>(s) * sub_alloc_;
        memcpy(base + off, msg.data(), msg.size());
        if (!send({{static_cast<uint32_t>(msg.size()), off}}, 1, {static_cast<uint32_t>(s)})) {
            sub_busy_[s] = false;
            break;
        }
        control_.pop_front();
        control_replies++;
        work++;
    }
    if (filter_ == 0) return work;  // frames wait for a filter
    while (!to_guest_.empty()) {
        std::vector<std::pair<uint32_t, uint32_t>> ranges;
        std::vector<uint32_t> subs;
        size_t taken = 0;
        while (taken < to_guest_.size() && ranges.size() < frames_per_packet) {
            const std::vector<uint8_t>& f = to_guest_[taken];
            const int s = take_sub(false);
            if (s < 0) break;
            const uint32_t off = static_cast<uint32_t>(s) * sub_alloc_;
            uint8_t* p = base + off;
            memset(p, 0, kHeader);
            wr32(p, kPacketMsg);
            wr32(p + 4, kHeader + static_cast<uint32_t>(f.size()));
            wr32(p + 8, kHeader - 8);
            wr32(p + 12, static_cast<uint32_t>(f.size()));
            memcpy(p + kHeader, f.data(), f.size());
            ranges.push_back({sub_alloc_, off});  // the whole sub-allocation, as OVMM does for data
            subs.push_back(static_cast<uint32_t>(s));
            taken++;
        }
        if (ranges.empty()) break;
        if (!send(ranges, 0, subs)) {
            for (uint32_t s : subs) sub_busy_[s] = false;
            break;
        }
        rx_frames += taken;
        to_guest_.erase(to_guest_.begin(), to_guest_.begin() + static_cast<long>(taken));
        work++;
    }
    return work;
}

void NetvspSim::inject(const void* frame, size_t len) {
    std::vector<uint8_t> f(static_cast<const uint8_t*>(frame), static_cast<const uint8_t*>(frame) + len);
    if (!link_) {
        dropped_link_down++;
        return;
    }
    if (len + kHeader > sub_alloc_ && sub_alloc_ != 0) {
        violation("test injected a frame larger than a sub-allocation");
        return;
    }
    if (!accepts(f)) {
        filtered++;
        return;
    }
    to_guest_.push_back(std::move(f));
}

void NetvspSim::set_link(bool up) {
    link_ = up;
    std::vector<uint8_t> r(20, 0);
    wr32(&r[0], kIndicate);
    wr32(&r[4], 20);
    wr32(&r[8], up ? 0x4001000B : 0x4001000C);
    reply_rndis(r);
    if (!up) to_guest_.clear();
}

void NetvspSim::release_tx_completions() {
    while (!held_.empty()) {
        uint8_t r[8];
        wr32(r, kRndisPktComplete);
        wr32(r + 4, held_.front().second);
        complete(held_.front().first, r, sizeof r);
        tx_completions++;
        held_.pop_front();
    }
}

bool NetvspSim::send_xfer(const std::vector<std::pair<uint32_t, uint32_t>>& ranges, uint32_t channel_type,
                          uint16_t page_set, uint32_t claimed_ranges) {
    std::vector<uint8_t> extra(8 + 8 * ranges.size(), 0);
    wr16(&extra[0], page_set);
    wr32(&extra[4], claimed_ranges != 0xFFFFFFFF ? claimed_ranges : static_cast<uint32_t>(ranges.size()));
    for (size_t i = 0; i < ranges.size(); ++i) {
        wr32(&extra[8 + 8 * i], ranges[i].first);
        wr32(&extra[12 + 8 * i], ranges[i].second);
    }
    uint8_t nvsp[40] = {};
    wr32(nvsp, kRndisPkt);
    wr32(nvsp + 4, channel_type);
    wr32(nvsp + 8, 0xFFFFFFFF);
    const uint64_t tid = next_tid_++;
    if (host_.host_send_ex(relid_, kXfer, kCompletionRequested, tid, extra.data(), extra.size(), nvsp, 40) !=
        vmbus::RingStatus::Ok)
        return false;
    rx_pending_[tid] = {};
    rx_packets++;
    return true;
}

bool NetvspSim::inject_rndis(const std::vector<uint8_t>& msg, uint32_t channel_type, uint32_t range_len) {
    if (!recv_buf_ || phase_ == Phase::Revoked || msg.size() > sub_alloc_ || !host_.gpadls().count(recv_gpadl_))
        return false;
    const int s = take_sub(true);
    if (s < 0) return false;
    const uint32_t off = static_cast<uint32_t>(s) * sub_alloc_;
    memcpy(gpadl_base(recv_gpadl_) + off, msg.data(), msg.size());
    const uint32_t n = range_len ? range_len : static_cast<uint32_t>(msg.size());
    if (!send_xfer({{n, off}}, channel_type, page_set_)) {
        sub_busy_[s] = false;
        return false;
    }
    rx_pending_[next_tid_ - 1] = {static_cast<uint32_t>(s)};
    return true;
}

void NetvspSim::write_recv(uint32_t offset, const void* data, size_t len) {
    if (!recv_buf_ || host_.gpadls().count(recv_gpadl_) == 0 ||
        offset + len > host_.gpadls().at(recv_gpadl_).byte_count) {
        violation("test wrote outside the receive buffer");
        return;
    }
    memcpy(gpadl_base(recv_gpadl_) + offset, data, len);
}

bool NetvspSim::send_raw(uint16_t type, uint16_t flags, uint64_t tid, const void* extra, size_t extra_len,
                         const void* payload, size_t len) {
    if (host_.host_send_ex(relid_, type, flags, tid, extra, extra_len, payload, len) != vmbus::RingStatus::Ok)
        return false;
    // A transfer-page packet asking for completion may be completed, however bad it is.
    if (type == kXfer && (flags & kCompletionRequested)) rx_pending_.emplace(tid, std::vector<uint32_t>{});
    return true;
}

void NetvspSim::corrupt_inbound_ring() {
    const auto& ch = host_.channels().at(relid_);
    const auto& g = host_.gpadls().at(ch.ring_gpadl);
    uint8_t* ctl = reinterpret_cast<uint8_t*>((g.pfns[0] + ch.downstream_pages) << 12);
    wr32(ctl, 3);  // write index not 8-aligned
}

}  // namespace skerry::hvtest
