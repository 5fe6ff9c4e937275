// The Hyper-V synthetic NIC driver (see netvsc.hpp). Protocol: docs/protocols/netvsc-rndis.md (§2-§6).
#include "drivers/nic/netvsc/netvsc.hpp"

#include <stdio.h>
#include <string.h>

#include "drivers/bus/vmbus/wire.hpp"
#include "drivers/nic/netvsc/nvsp.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"

namespace skerry::netvsc {
namespace {

using namespace hv::wire;

constexpr log::Logger kLog{"netvsc"};

// Transaction ids of our requests. The host echoes them in its completions; anything else is out of order.
constexpr uint64_t kTidInit = 0x4E561000;  // + index of the version asked: a late answer is told apart
constexpr uint64_t kTidRecvBuf = 0x4E560065;
constexpr uint64_t kTidSendBuf = 0x4E560068;
constexpr uint64_t kTidSectionBase = 1ull << 32;  // + send-buffer section index
constexpr uint64_t kTidGpaBase = 2ull << 32;      // + GPA-direct slot
constexpr size_t kGpaArea = 128;                  // per slot: an RNDIS header or control message

constexpr uint32_t kNdisFrameMtu = 1514;  // what NDIS_CONFIG announces (Ethernet header included)
constexpr uint32_t kEthHeader = 14;
constexpr uint32_t kMaxFrame = kNdisFrameMtu + 4;  // a VLAN tag may ride along
constexpr uint32_t kRndisMaxTransfer = 0x4000;
// directed | multicast | all multicast | broadcast: we do not program OID_802_3_MULTICAST_LIST, so without
// ALL_MULTICAST the host would drop IPv6 neighbour discovery.
constexpr uint32_t kFilter = kFilterDirected | kFilterMulticast | kFilterAllMulticast | kFilterBroadcast;
constexpr uint32_t kStatusLinkSpeedChange = 0x40010013;
constexpr uint32_t kNvspRecvBufCompleteMin = 28;

constexpr size_t kLogFirst = 16;      // malformed input: log the first ones...
constexpr uint64_t kLogEvery = 1024;  // ...then one in this many

}  // namespace

const char* bring_up_name(BringUp s) {
    switch (s) {
    case BringUp::Opening: return "opening";
    case BringUp::NvspInit: return "NVSP init";
    case BringUp::RecvBuf: return "receive buffer";
    case BringUp::SendBuf: return "send buffer";
    case BringUp::RndisInit: return "RNDIS init";
    case BringUp::QueryMac: return "MAC query";
    case BringUp::QueryMtu: return "MTU query";
    case BringUp::QuerySpeed: return "speed query";
    case BringUp::QueryLink: return "link query";
    case BringUp::SetFilter: return "packet filter";
    case BringUp::Ready: return "ready";
    case BringUp::Failed: return "failed";
    case BringUp::Draining: return "draining";
    case BringUp::Stopping: return "stopping";
    case BringUp::Stopped: return "stopped";
    }
    return "?";
}

Driver::Driver(vmbus::Connection& conn, hv::HypercallPort& port, uint32_t relid, vmbus::DmaProvider& dma,
               const Options& opt)
    : conn_(conn), port_(port), relid_(relid), dma_(dma), opt_(opt) {
    snprintf(name_, sizeof name_, "netvsc relid %u", static_cast<unsigned>(relid));
    for (size_t i = 0; i < kMaxRxFrames; ++i) rx_free_refs_[i] = static_cast<uint16_t>(kMaxRxFrames - 1 - i);
    rx_free_ref_count_ = kMaxRxFrames;
}

Driver::~Driver() {
    if (poller_registered_) loop::remove_poller(poller, this);
    free_memory();
    dma_.free(recv_mem_);  // frames still lent now dangle: destroy only a stopped driver the stack let go of
    delete[] scratch_;
}

bool Driver::bring_up(const Wait& w) {
    const uint64_t start = w.now_ns();
    uint64_t moved_at = start;
    uint32_t seen = progress_;
    while (!ready() && !failed()) {
        uint64_t now = w.now_ns();
        if (now - start >= w.budget_ns) {
            log::error("%s: no answer from the host in %llu ms; giving up", name_,
                       static_cast<unsigned long long>(w.budget_ns / 1000000));
            break;
        }
        conn_.poll();
        poll(64);
        if (w.between) w.between(w.context);
        now = w.now_ns();
        if (progress_ != seen) {
            seen = progress_;
            moved_at = now;
        } else if (now - moved_at >= w.step_ns) {
            on_timeout();
            seen = progress_;
            moved_at = now;
        }
    }
    if (ready()) return true;
    stop();
    const uint64_t stop_start = w.now_ns();
    while (!stopped() && w.now_ns() - stop_start < w.step_ns) {
        conn_.poll();
        poll(64);
        if (w.between) w.between(w.context);
    }
    return false;
}

Driver* Driver::create(vmbus::Connection& conn, hv::HypercallPort& port, uint32_t relid, vmbus::DmaProvider& dma,
                       const Options& opt) {
    Driver* d = new Driver(conn, port, relid, dma, opt);
    if (!d->begin()) {
        delete d;
        return nullptr;
    }
    return d;
}

bool Driver::begin() {
    const vmbus::ChannelOffer* o = conn_.find_relid(relid_);
    if (o == nullptr || o->rescinded || !(o->offer.interface_type == vmbus::kNetvscClass)) {
        kLog.error("%s: no netvsc offer with this relid", name_);
        return false;
    }
    const Options& p = opt_;
    if (p.ring_out_pages < 2 || p.ring_in_pages < 2 || p.ring_out_pages + p.ring_in_pages > 256 ||
        p.recv_buffer_bytes < 64 * 1024 || (p.recv_buffer_bytes & 0xFFF) != 0 ||
        (p.use_send_buffer && (p.send_buffer_bytes < 16 * 1024 || (p.send_buffer_bytes & 0xFFF) != 0))) {
        kLog.error("%s: bad ring or buffer sizes", name_);
        return false;
    }
    const uint32_t ring_pages = p.ring_out_pages + p.ring_in_pages;
    if (!dma_.alloc(ring_pages * 4096ull, ring_mem_, 4096) || !dma_.alloc(p.recv_buffer_bytes, recv_mem_, 4096) ||
        !dma_.alloc(kGpaSlots * kGpaArea, gpa_mem_, 4096) ||
        (p.use_send_buffer && !dma_.alloc(p.send_buffer_bytes, send_mem_, 4096))) {
        kLog.error("%s: out of DMA memory for rings and buffers", name_);
        free_memory();
        return false;
    }
    scratch_size_ = (p.ring_in_pages - 1) * 4096ull;
    scratch_ = new uint8_t[scratch_size_];
    if (!channel_.begin_open(conn_, port_, relid_, ring_mem_.phys, ring_mem_.virt, p.ring_out_pages, p.ring_in_pages)) {
        kLog.error("%s: cannot start opening the channel", name_);
        free_memory();
        return false;
    }
    // The buffers' GPADLs go out now too; the host answers them while the channel opens.
    auto gpadl = [&](const dma::Region& r) -> uint32_t {
        const size_t pages = r.size / 4096;
        uint64_t* pfns = new uint64_t[pages];
        for (size_t i = 0; i < pages; ++i) pfns[i] = (r.phys >> 12) + i;
        const uint32_t h = conn_.create_gpadl(relid_, vmbus::GpadlRange{static_cast<uint32_t>(r.size), 0, pfns, pages});
        delete[] pfns;
        return h;
    };
    recv_gpadl_ = gpadl(recv_mem_);
    if (recv_gpadl_ != 0 && p.use_send_buffer) send_gpadl_ = gpadl(send_mem_);
    if (recv_gpadl_ == 0 || (p.use_send_buffer && send_gpadl_ == 0)) {
        kLog.error("%s: cannot create the buffer GPADLs", name_);
        state_ = BringUp::Failed;
        return true;  // the ring GPADL is out: the caller may still stop() to tear it down
    }
    for (size_t i = 0; i < kNvspVersionCount; ++i) {
        version_index_ = i;
        if (kNvspVersions[i] <= opt_.max_nvsp_version) break;
    }
    return true;
}

void Driver::free_memory() {
    dma_.free(ring_mem_);
    dma_.free(send_mem_);
    dma_.free(gpa_mem_);
    if (rx_lent_ == 0) dma_.free(recv_mem_);
}

void Driver::enter(BringUp s) {
    progress_++;
    kLog.debug("%s: %s -> %s", name_, bring_up_name(state_), bring_up_name(s));
    state_ = s;
}

void Driver::fail(const char* why) {
    kLog.error("%s: bring-up failed in %s: %s", name_, bring_up_name(state_), why);
    ctr_.device_errors++;
    state_ = BringUp::Failed;
}

void Driver::malformed(bool data, const char* what, uint64_t value) {
    stats_.malformed++;
    if (data) {
        ctr_.rx_dropped_bad_frame++;
    } else {
        ctr_.device_errors++;
    }
    if (log_budget_ < kLogFirst || log_budget_ % kLogEvery == 0)
        kLog.warn("%s: dropped %s (%llu) [%llu so far]", name_, what, static_cast<unsigned long long>(value),
                  static_cast<unsigned long long>(stats_.malformed));
    log_budget_++;
}

// ------------------------------------------------------------------------------------------------ sending

bool Driver::send_nvsp(const uint8_t* msg, size_t len, uint64_t tid, bool completion) {
    const vmbus::RingStatus s = channel_.send(vmbus::kPacketDataInband,
                                              completion ? vmbus::kPacketFlagCompletionRequested : 0, tid, nullptr, 0,
                                              msg, len);
    return s == vmbus::RingStatus::Ok;
}

bool Driver::send_init() {
    progress_++;
    uint8_t m[kNvspMessageSize];
    build_init(m, kNvspVersions[version_index_]);
    return send_nvsp(m, sizeof m, kTidInit + version_index_, true);
}

int Driver::alloc_section() {
    for (uint32_t w = 0; w < (section_count_ + 63) / 64; ++w) {
        const uint64_t free_bits = ~section_bits_[w];
        if (free_bits == 0) continue;
        const uint32_t i = w * 64 + static_cast<uint32_t>(__builtin_ctzll(free_bits));
        if (i >= section_count_) return -1;
        section_bits_[w] |= 1ull << (i % 64);
        sections_busy_++;
        return static_cast<int>(i);
    }
    return -1;
}

void Driver::free_section(uint32_t i) {
    section_bits_[i / 64] &= ~(1ull << (i % 64));
    sections_busy_--;
}

int Driver::alloc_gpa() {
    for (uint32_t i = 0; i < kGpaSlots; ++i) {
        if (gpa_[i].busy) continue;
        gpa_[i] = GpaSlot{nullptr, true};
        gpa_busy_++;
        return static_cast<int>(i);
    }
    return -1;
}

bool Driver::can_send() const { return section_count_ != 0 ? sections_busy_ < section_count_ : gpa_busy_ < kGpaSlots; }

// One RNDIS message as a GPA-direct packet: the first range is slot's header area (`head_len` bytes, written by
// the caller), then one range per frame segment, each listing the pages it spans (kernel addresses are
// physical). NVSP 107 with no section.
bool Driver::send_gpa(uint32_t slot, size_t head_len, const net::TxFrame* f, uint32_t channel) {
    uint8_t extra[8 + (8 + 8) + net::kMaxTxSegments * (8 + 2 * 8)];
    size_t n = 8;
    uint32_t ranges = 0;
    auto range = [&](uint64_t phys, uint32_t len) {
        const uint32_t off = static_cast<uint32_t>(phys & 0xFFF);
        const uint32_t pages = (off + len + 4095) / 4096;
        if (n + 8 + 8ull * pages > sizeof extra) return false;
        put32(extra + n, len);
        put32(extra + n + 4, off);
        n += 8;
        for (uint32_t i = 0; i < pages; ++i, n += 8) put64(extra + n, (phys >> 12) + i);
        ranges++;
        return true;
    };
    bool ok = range(gpa_mem_.phys + slot * kGpaArea, static_cast<uint32_t>(head_len));
    for (size_t i = 0; ok && f != nullptr && i < f->count; ++i)
        if (f->segs[i].len != 0) ok = range(reinterpret_cast<uint64_t>(f->segs[i].data), f->segs[i].len);
    if (!ok) return false;
    put32(extra, 0);
    put32(extra + 4, ranges);
    uint8_t m[kNvspMessageSize];
    build_rndis_packet(m, channel, kNvspNoSection, 0);
    return channel_.send(vmbus::kPacketDataGpaDirect, vmbus::kPacketFlagCompletionRequested, kTidGpaBase + slot, extra,
                         n, m, sizeof m) == vmbus::RingStatus::Ok;
}

// An RNDIS control message through a send-buffer section, or GPA direct without one (NVSP 107, control).
bool Driver::send_rndis_control(const uint8_t* msg, size_t len) {
    if (section_count_ == 0) {
        const int g = alloc_gpa();
        if (g < 0 || len > kGpaArea) {
            if (g >= 0) {
                gpa_[g].busy = false;
                gpa_busy_--;
            }
            return false;
        }
        memcpy(static_cast<uint8_t*>(gpa_mem_.virt) + g * kGpaArea, msg, len);
        if (send_gpa(static_cast<uint32_t>(g), len, nullptr, kNvspChannelControl)) return true;
        gpa_[g].busy = false;
        gpa_busy_--;
        return false;
    }
    const int s = alloc_section();
    if (s < 0 || len > section_size_) {
        if (s >= 0) free_section(static_cast<uint32_t>(s));
        return false;
    }
    memcpy(static_cast<uint8_t*>(send_mem_.virt) + static_cast<size_t>(s) * section_size_, msg, len);
    uint8_t m[kNvspMessageSize];
    build_rndis_packet(m, kNvspChannelControl, static_cast<uint32_t>(s), static_cast<uint32_t>(len));
    if (!send_nvsp(m, sizeof m, kTidSectionBase + static_cast<uint32_t>(s), true)) {
        free_section(static_cast<uint32_t>(s));
        return false;
    }
    return true;
}

bool Driver::rndis_query(uint32_t oid) {
    uint8_t m[28];
    rndis_request_ = next_request_++;
    if (next_request_ == 0) next_request_ = 1;
    return send_rndis_control(m, build_rndis_query(m, rndis_request_, oid));
}

bool Driver::rndis_set_filter(uint32_t filter) {
    uint8_t m[32];
    uint8_t v[4];
    put32(v, filter);
    rndis_request_ = next_request_++;
    if (next_request_ == 0) next_request_ = 1;
    return send_rndis_control(m, build_rndis_set(m, rndis_request_, kOidCurrentPacketFilter, v, 4));
}

// ------------------------------------------------------------------------------------------------ bring-up

void Driver::advance() {
    if (state_ != BringUp::Opening) return;
    const vmbus::Channel::State c = channel_.advance();
    if (c == vmbus::Channel::State::Failed) return fail("the channel did not open");
    const vmbus::GpadlState r = conn_.gpadl_state(recv_gpadl_);
    const vmbus::GpadlState s = send_gpadl_ != 0 ? conn_.gpadl_state(send_gpadl_) : vmbus::GpadlState::Created;
    if (r == vmbus::GpadlState::Failed || s == vmbus::GpadlState::Failed) return fail("the host refused a GPADL");
    if (c != vmbus::Channel::State::Open || r != vmbus::GpadlState::Created || s != vmbus::GpadlState::Created) return;
    enter(BringUp::NvspInit);
    if (!send_init()) fail("cannot send NVSP INIT");
}

void Driver::on_timeout() {
    stats_.timeouts++;
    switch (state_) {
    case BringUp::NvspInit:
        kLog.warn("%s: no answer to NVSP INIT 0x%x", name_, static_cast<unsigned>(kNvspVersions[version_index_]));
        if (++version_index_ >= kNvspVersionCount) return fail("no NVSP version answered");
        if (!send_init()) fail("cannot send NVSP INIT");
        return;
    case BringUp::Ready:
    case BringUp::Failed:
    case BringUp::Stopped: return;
    case BringUp::Stopping: kLog.warn("%s: the host did not confirm the teardown", name_); return;
    case BringUp::Draining:
        kLog.warn("%s: the host did not complete our last sends; closing anyway", name_);
        return teardown();
    default: return fail("the host did not answer");
    }
}

void Driver::handle_completion(uint64_t tid, const uint8_t* p, size_t len) {
    if (tid >= kTidSectionBase && tid < kTidSectionBase + section_count_) {
        const uint32_t i = static_cast<uint32_t>(tid - kTidSectionBase);
        uint32_t status = 0;
        if (!(section_bits_[i / 64] & (1ull << (i % 64)))) return malformed(false, "completion of a free section", i);
        if (parse_rndis_packet_complete(p, len, status) != Parse::Ok) {
            malformed(false, "send completion that is not SEND_RNDIS_PKT_COMPLETE", len);
        } else if (status != kNvspStatusSuccess) {
            ctr_.tx_errors++;
        }
        free_section(i);  // even a malformed completion names the section: the host is done with it
        stats_.tx_completions++;
        return;
    }
    if (tid >= kTidGpaBase && tid < kTidGpaBase + kGpaSlots) {
        const uint32_t i = static_cast<uint32_t>(tid - kTidGpaBase);
        uint32_t status = 0;
        if (!gpa_[i].busy) return malformed(false, "completion of an idle GPA-direct send", i);
        if (parse_rndis_packet_complete(p, len, status) != Parse::Ok) {
            malformed(false, "send completion that is not SEND_RNDIS_PKT_COMPLETE", len);
        } else if (status != kNvspStatusSuccess) {
            ctr_.tx_errors++;
        }
        void* cookie = gpa_[i].cookie;
        gpa_[i] = GpaSlot{};
        gpa_busy_--;
        stats_.tx_completions++;
        if (cookie != nullptr) queue_tx_done(cookie);  // the host is done reading it
        return;
    }
    if (tid >= kTidInit && tid < kTidInit + kNvspVersionCount) {
        InitComplete ic;
        if (state_ != BringUp::NvspInit) return malformed(false, "unexpected INIT completion", tid);
        if (tid != kTidInit + version_index_) return malformed(false, "late answer to an earlier INIT", tid);
        if (parse_init_complete(p, len, ic) != Parse::Ok) return malformed(false, "bad INIT completion", len);
        const uint32_t v = kNvspVersions[version_index_];
        if (ic.status != kNvspStatusSuccess) {
            kLog.info("%s: host refused NVSP version 0x%x", name_, static_cast<unsigned>(v));
            if (++version_index_ >= kNvspVersionCount) return fail("no common NVSP version");
            if (!send_init()) fail("cannot send NVSP INIT");
            return;
        }
        nvsp_version_ = v;
        uint8_t m[kNvspMessageSize];
        bool ok = true;
        if (v >= kNvspV2) ok = send_nvsp(m, build_ndis_config(m, kNdisFrameMtu, kNdisCapIeee8021q), 0, false);
        ok = ok && send_nvsp(m, build_ndis_version(m, 6, ndis_minor_for(v)), 0, false);
        ok = ok && send_nvsp(m, build_send_recv_buf(m, recv_gpadl_, kRecvBufId), kTidRecvBuf, true);
        if (!ok) return fail("cannot send the NDIS version / receive buffer");
        return enter(BringUp::RecvBuf);
    }
    if (tid == kTidRecvBuf) {
        RecvBufComplete rc;
        if (state_ != BringUp::RecvBuf) return malformed(false, "unexpected receive buffer completion", tid);
        const Parse pr = parse_recv_buf_complete(p, len, rc);
        if (pr != Parse::Ok) return fail("malformed receive buffer completion");
        if (rc.status != kNvspStatusSuccess) return fail("the host refused the receive buffer");
        if (rc.end_offset > recv_mem_.size || rc.sub_alloc_size < kRndisPacketHeaderSize + kEthHeader)
            return fail("receive buffer sections do not fit the buffer");
        sub_alloc_size_ = rc.sub_alloc_size;
        sub_alloc_count_ = rc.num_sub_allocs;
        if (send_gpadl_ == 0) return start_rndis();
        uint8_t m[kNvspMessageSize];
        if (!send_nvsp(m, build_send_send_buf(m, send_gpadl_, kSendBufId), kTidSendBuf, true))
            return fail("cannot send the send buffer");
        return enter(BringUp::SendBuf);
    }
    if (tid == kTidSendBuf) {
        SendBufComplete sc;
        if (state_ != BringUp::SendBuf) return malformed(false, "unexpected send buffer completion", tid);
        if (parse_send_buf_complete(p, len, sc) != Parse::Ok) return fail("malformed send buffer completion");
        if (sc.status != kNvspStatusSuccess) {
            kLog.warn("%s: the host refused the send buffer; sending GPA direct", name_);
        } else if (sc.section_size < kRndisPacketHeaderSize + kMaxFrame || sc.section_size > send_mem_.size) {
            malformed(false, "send buffer section size unusable; sending GPA direct", sc.section_size);
        } else {
            section_size_ = sc.section_size;
            section_count_ = static_cast<uint32_t>(send_mem_.size / sc.section_size);
            if (section_count_ > kMaxSections) section_count_ = kMaxSections;
        }
        return start_rndis();
    }
    malformed(false, "completion with an unknown transaction id", tid);
}

void Driver::start_rndis() {
    uint8_t m[24];
    rndis_request_ = next_request_++;
    enter(BringUp::RndisInit);
    if (!send_rndis_control(m, build_rndis_init(m, rndis_request_, kRndisMaxTransfer)))
        fail("cannot send RNDIS INITIALIZE");
}

void Driver::handle_rndis_control(const uint8_t* msg, size_t len) {
    RndisMessage r;
    if (parse_rndis(msg, len, r) != Parse::Ok) return malformed(false, "malformed RNDIS control message", len);
    stats_.control_messages++;
    if (r.type == kRndisIndicateStatusMsg) {
        if (r.status == kStatusMediaConnect || r.status == kStatusMediaDisconnect) {
            const bool up = r.status == kStatusMediaConnect;
            if (up == link_ || state_ == BringUp::Draining) return;  // stopping: the link stays down
            link_ = up;
            ctr_.link_changes++;
            kLog.info("%s: link %s", name_, up ? "up" : "down");  // the client hears of it in the delivery
        } else if (r.status == kStatusLinkSpeedChange && r.info_len >= 4) {
            speed_mbps_ = get32(r.info) / 10000;
        }
        return;  // other indications (offload configuration, network change) need nothing
    }
    if (r.type == kRndisKeepaliveMsg) {
        uint8_t m[16];
        if (!send_rndis_control(m, build_rndis_keepalive_cmplt(m, r.request_id)))
            malformed(false, "keepalive we could not answer (no send section)", r.request_id);
        return;
    }
    if (rndis_request_ == 0 || r.request_id != rndis_request_)
        return malformed(false, "RNDIS completion for no outstanding request", r.request_id);
    rndis_request_ = 0;
    const bool ok = r.status == kRndisStatusSuccess;
    switch (state_) {
    case BringUp::Draining: return;  // the filter-0 SET's answer: nothing more to do
    case BringUp::RndisInit:
        if (r.type != kRndisInitializeCmplt) return fail("expected INITIALIZE_CMPLT");
        if (!ok) return fail("RNDIS INITIALIZE refused");
        max_transfer_ = r.max_transfer_size;
        enter(BringUp::QueryMac);
        if (!rndis_query(kOidPermanentAddress)) fail("cannot send the MAC query");
        return;
    case BringUp::QueryMac:
        if (r.type != kRndisQueryCmplt) return fail("expected QUERY_CMPLT");
        if (ok && r.info_len >= 6 && (r.info[0] & 1) == 0 &&
            (r.info[0] | r.info[1] | r.info[2] | r.info[3] | r.info[4] | r.info[5]) != 0) {
            memcpy(mac_, r.info, 6);
            enter(BringUp::QueryMtu);
            if (!rndis_query(kOidMaximumFrameSize)) fail("cannot send the MTU query");
            return;
        }
        if (mac_from_current_) return fail("the host gave no usable MAC address");
        kLog.warn("%s: no usable permanent address; asking for the current one", name_);
        mac_from_current_ = true;
        if (!rndis_query(kOidCurrentAddress)) fail("cannot send the MAC query");
        return;
    case BringUp::QueryMtu:
        if (r.type != kRndisQueryCmplt) return fail("expected QUERY_CMPLT");
        if (ok && r.info_len >= 4) {
            const uint32_t v = get32(r.info);
            if (v < 576 || v > kNdisFrameMtu - kEthHeader) {
                malformed(false, "maximum frame size out of range; using 1500", v);
            } else {
                mtu_ = static_cast<uint16_t>(v);
            }
        } else {
            kLog.warn("%s: the host did not give its frame size; using 1500", name_);
        }
        enter(BringUp::QuerySpeed);
        if (!rndis_query(kOidLinkSpeed)) fail("cannot send the speed query");
        return;
    case BringUp::QuerySpeed:
        if (r.type != kRndisQueryCmplt) return fail("expected QUERY_CMPLT");
        if (ok && r.info_len >= 4) speed_mbps_ = get32(r.info) / 10000;  // units of 100 bit/s
        enter(BringUp::QueryLink);
        if (!rndis_query(kOidMediaConnectStatus)) fail("cannot send the link query");
        return;
    case BringUp::QueryLink:
        if (r.type != kRndisQueryCmplt) return fail("expected QUERY_CMPLT");
        link_ = !(ok && r.info_len >= 4) || get32(r.info) == 0;  // unknown: assume connected
        enter(BringUp::SetFilter);
        if (!rndis_set_filter(kFilter)) fail("cannot set the packet filter");
        return;
    case BringUp::SetFilter:
        if (r.type != kRndisSetCmplt) return fail("expected SET_CMPLT");
        if (!ok) return fail("the host refused the packet filter");
        filter_ = kFilter;
        enter(BringUp::Ready);
        char sends[48];
        if (section_count_ != 0) {
            snprintf(sends, sizeof sends, "%u x %u B send sections", static_cast<unsigned>(section_count_),
                     static_cast<unsigned>(section_size_));
        } else {
            snprintf(sends, sizeof sends, "GPA-direct sends");
        }
        kLog.info("%s: NVSP 0x%x, MAC %02x:%02x:%02x:%02x:%02x:%02x, MTU %u, link %s, %u Mb/s, %u x %u B receive, %s",
                  name_, static_cast<unsigned>(nvsp_version_), mac_[0], mac_[1], mac_[2], mac_[3], mac_[4], mac_[5],
                  static_cast<unsigned>(mtu_), link_ ? "up" : "down", static_cast<unsigned>(speed_mbps_),
                  static_cast<unsigned>(sub_alloc_count_), static_cast<unsigned>(sub_alloc_size_), sends);
        return;
    default: return malformed(false, "RNDIS completion outside bring-up", r.type);
    }
}

// ------------------------------------------------------------------------------------------------ receive

void Driver::handle_packet(const uint8_t* pkt, size_t len) {
    vmbus::PacketDescriptor d;
    memcpy(&d, pkt, sizeof d);  // the ring validated offset8/len8 against the packet
    const size_t off = d.offset8 * 8u;
    if (off > len) return malformed(false, "packet header longer than the packet", off);
    switch (d.type) {
    case vmbus::kPacketCompletion: return handle_completion(d.transaction_id, pkt + off, len - off);
    case vmbus::kPacketDataXferPages: return handle_xfer(d, pkt, len);
    case vmbus::kPacketDataInband: {
        // Host-initiated NVSP messages (VF association, indirection table) are for features we do not ask
        // for; note them and go on.
        if (len - off < 4) return malformed(false, "short inband message", len - off);
        kLog.debug("%s: ignored host NVSP message %u", name_, static_cast<unsigned>(get32(pkt + off)));
        return;
    }
    default: return malformed(false, "packet of unexpected type", d.type);
    }
}

void Driver::handle_xfer(const vmbus::PacketDescriptor& d, const uint8_t* pkt, size_t len) {
    stats_.rx_xfer_packets++;
    const size_t off = d.offset8 * 8u;
    const bool wants_completion = (d.flags & vmbus::kPacketFlagCompletionRequested) != 0;
    // One slot per transfer-page packet: it is completed when the last of its frames comes back. Frames are
    // only queued here (the delivery hands them to the client), so a packet that queued none is done now.
    uint16_t slot = 0;
    while (slot < kMaxRxPackets && rx_packets_[slot].state != RxPacket::Free) ++slot;
    RxPacket& p = rx_packets_[slot];  // the ring work only reads a packet when a slot is free
    p.tid = d.transaction_id;
    p.frames = 0;
    p.completion = wants_completion;
    p.state = RxPacket::Held;
    auto finish = [&] {
        if (p.frames == 0) finish_packet(slot);
    };
    RndisPacket np;
    if (len < 24 || off < 24) {
        malformed(false, "transfer-page packet too short", len);
        return finish();
    }
    const uint16_t set_id = get16(pkt + 16);
    const uint32_t ranges = get32(pkt + 20);
    if (set_id != kRecvBufId || sub_alloc_count_ == 0) {
        malformed(false, "transfer-page packet for an unknown page set", set_id);
        return finish();
    }
    if (ranges == 0 || 24 + static_cast<uint64_t>(ranges) * 8 > off) {
        malformed(false, "transfer-page packet range count inconsistent", ranges);
        return finish();
    }
    if (parse_rndis_packet(pkt + off, len - off, np) != Parse::Ok) {
        malformed(false, "transfer-page packet without SEND_RNDIS_PKT", len - off);
        return finish();
    }
    const uint8_t* buf = static_cast<const uint8_t*>(recv_mem_.virt);
    const uint64_t limit = static_cast<uint64_t>(sub_alloc_size_) * sub_alloc_count_;
    for (uint32_t i = 0; i < ranges; ++i) {
        const uint32_t count = get32(pkt + 24 + 8 * i), start = get32(pkt + 28 + 8 * i);
        if (count == 0 || start + static_cast<uint64_t>(count) > limit) {
            malformed(np.channel_type == kNvspChannelData, "receive range outside the buffer", start);
            continue;
        }
        const uint8_t* m = buf + start;
        // The RNDIS type decides what a message is (as in Linux): the NVSP channel type only says where a
        // malformed one is counted.
        RndisMessage r;
        const Parse pr = parse_rndis(m, count, r);
        if (pr == Parse::Ok && r.type != kRndisPacketMsg) {
            handle_rndis_control(m, count);
            continue;
        }
        if (pr != Parse::Ok) {
            if (np.channel_type == kNvspChannelControl) {
                malformed(false, "malformed RNDIS control message", count);
            } else {
                malformed(true, "malformed RNDIS data message", count);
            }
            continue;
        }
        if (r.info_len < kEthHeader || r.info_len > static_cast<uint32_t>(mtu_) + kEthHeader + 4) {
            malformed(true, "frame of bad length", r.info_len);
            continue;
        }
        queue_frame(r.info, r.info_len, slot);
    }
    finish();
}

// A frame for the client, queued for the delivery. It counts against its packet from now on: the packet is
// completed only once the frame came back (released, refused, or dropped at a teardown).
void Driver::queue_frame(const uint8_t* frame, uint32_t len, uint16_t slot) {
    if (client_ == nullptr || state_ != BringUp::Ready) {
        stats_.rx_no_client++;
        return;
    }
    if (rx_free_ref_count_ == 0) {
        ctr_.rx_dropped_no_buffer++;
        return;
    }
    const uint16_t k = rx_free_refs_[--rx_free_ref_count_];
    rx_refs_[k] = RxRef{frame, len, slot, RxRef::Queued};
    rx_packets_[slot].frames++;
    rx_batch_[rx_batch_count_++] = k;  // at most kMaxRxFrames refs exist
}

// A frame came back from the client (or was never delivered): its reference is free, and its packet is done
// when it was the packet's last.
void Driver::put_back(uint16_t k) {
    RxRef& ref = rx_refs_[k];
    ref.state = RxRef::Free;
    rx_free_refs_[rx_free_ref_count_++] = k;
    RxPacket& p = rx_packets_[ref.packet];
    if (p.frames > 0 && --p.frames == 0 && p.state == RxPacket::Held) finish_packet(ref.packet);
}

void Driver::finish_packet(uint16_t slot) {
    if (rx_packets_[slot].completion) {
        complete_rx(slot);
    } else {
        rx_packets_[slot].state = RxPacket::Free;
    }
}

void Driver::complete_rx(uint16_t slot) {
    RxPacket& p = rx_packets_[slot];
    if (state_ == BringUp::Stopping || state_ == BringUp::Stopped || state_ == BringUp::Failed) {
        if (p.state == RxPacket::CompletePending) rx_complete_pending_--;
        p.state = RxPacket::Free;  // the channel is gone: nobody to complete to
        return;
    }
    uint8_t m[kNvspCompletionSize];
    build_rndis_packet_complete(m, kNvspStatusSuccess);
    const vmbus::RingStatus s = channel_.send(vmbus::kPacketCompletion, 0, p.tid, nullptr, 0, m, sizeof m);
    if (s == vmbus::RingStatus::Full) {
        if (p.state != RxPacket::CompletePending) {
            p.state = RxPacket::CompletePending;
            rx_complete_pending_++;
            stats_.rx_completions_deferred++;
        }
        return;
    }
    if (p.state == RxPacket::CompletePending) rx_complete_pending_--;
    p.state = RxPacket::Free;
    if (s == vmbus::RingStatus::Ok) {
        stats_.rx_completions_sent++;
    } else {
        ctr_.device_errors++;
    }
}

size_t Driver::flush_rx_completions() {
    size_t n = 0;
    for (uint16_t i = 0; i < kMaxRxPackets && rx_complete_pending_ != 0; ++i) {
        if (rx_packets_[i].state != RxPacket::CompletePending) continue;
        complete_rx(i);
        if (rx_packets_[i].state == RxPacket::CompletePending) break;  // still full
        n++;
    }
    return n;
}

// Takes the frame back; the last frame of a packet sends the packet's completion (an outbound ring write, which
// calls nobody). Never reads the inbound ring, never calls the client.
void Driver::rx_release(void* buffer) {
    RxRef* ref = static_cast<RxRef*>(buffer);
    if (ref < rx_refs_ || ref >= rx_refs_ + kMaxRxFrames || ref->state != RxRef::Lent) {
        kLog.warn("%s: rx_release of %p, which is not a frame the client holds", name_, buffer);
        ctr_.device_errors++;
        return;
    }
    rx_lent_--;
    put_back(static_cast<uint16_t>(ref - rx_refs_));
    if (rx_lent_ == 0 && state_ == BringUp::Stopped) dma_.free(recv_mem_);
}

// ------------------------------------------------------------------------------------------------ transmit

// The frame could not be put on the ring: a corrupt ring loses it (Dropped, counted as a transmit error), a
// full one refuses it (Full; tx_ready() follows a completion).
net::TxStatus Driver::send_failed() {
    if (channel_.outbound().corrupt()) {
        ctr_.tx_errors++;
        return net::TxStatus::Dropped;
    }
    ctr_.tx_dropped_ring_full++;
    want_tx_ready_ = true;
    return net::TxStatus::Full;
}

void Driver::queue_tx_done(void* cookie) {
    if (tx_done_count_ == kTxDoneSlots) {  // cannot happen (see kTxDoneSlots); never overwrite one
        ctr_.device_errors++;
        return;
    }
    tx_done_[(tx_done_head_ + tx_done_count_++) % kTxDoneSlots] = cookie;
}

// Queues a frame; never calls the client (the cookie of a copied frame waits for the next pass's delivery).
net::TxStatus Driver::transmit(const net::TxFrame& f) {
    if (client_ == nullptr) return net::TxStatus::Full;  // not started: nothing kept, nobody to tell
    if (state_ != BringUp::Ready) {
        ctr_.tx_errors++;
        return net::TxStatus::Dropped;  // the device is gone or going: dropped, not retried
    }
    uint32_t sum = 0;
    bool bad = f.count == 0 || f.count > net::kMaxTxSegments;
    for (size_t i = 0; !bad && i < f.count; ++i) {
        if (f.segs[i].data == nullptr && f.segs[i].len != 0) bad = true;
        sum += f.segs[i].len;
    }
    const uint32_t max_len = static_cast<uint32_t>(mtu_) + kEthHeader + 4;
    if (bad || sum != f.total_len || f.total_len < kEthHeader || f.total_len > max_len) {
        ctr_.tx_dropped_bad_frame++;
        return net::TxStatus::Dropped;
    }
    if (tx_done_count_ == kTxDoneSlots) {  // (cannot happen; see kTxDoneSlots)
        ctr_.tx_dropped_ring_full++;
        want_tx_ready_ = true;
        return net::TxStatus::Full;
    }
    if (section_count_ == 0) {  // GPA direct: zero copy, tx_done once the host completes
        const int g = alloc_gpa();
        if (g < 0) {
            ctr_.tx_dropped_ring_full++;
            want_tx_ready_ = true;
            return net::TxStatus::Full;
        }
        build_rndis_packet_header(static_cast<uint8_t*>(gpa_mem_.virt) + g * kGpaArea, f.total_len);
        if (!send_gpa(static_cast<uint32_t>(g), kRndisPacketHeaderSize, &f, kNvspChannelData)) {
            gpa_[g].busy = false;
            gpa_busy_--;
            return send_failed();
        }
        gpa_[g].cookie = f.cookie;
        return net::TxStatus::Queued;
    }
    const int s = alloc_section();
    if (s < 0) {
        ctr_.tx_dropped_ring_full++;
        want_tx_ready_ = true;
        return net::TxStatus::Full;
    }
    uint8_t* sec = static_cast<uint8_t*>(send_mem_.virt) + static_cast<size_t>(s) * section_size_;
    size_t pos = build_rndis_packet_header(sec, f.total_len);
    for (size_t i = 0; i < f.count; ++i) {
        memcpy(sec + pos, f.segs[i].data, f.segs[i].len);
        pos += f.segs[i].len;
    }
    uint8_t m[kNvspMessageSize];
    build_rndis_packet(m, kNvspChannelData, static_cast<uint32_t>(s), static_cast<uint32_t>(pos));
    if (!send_nvsp(m, sizeof m, kTidSectionBase + static_cast<uint32_t>(s), true)) {
        free_section(static_cast<uint32_t>(s));
        return send_failed();
    }
    queue_tx_done(f.cookie);  // copied: the pieces are free, which the next pass tells the client
    return net::TxStatus::Queued;
}

bool Driver::add_multicast(const uint8_t*) { return true; }     // the filter accepts all multicast
bool Driver::remove_multicast(const uint8_t*) { return true; }  // (the stack filters by group)

// ------------------------------------------------------------------------------------------------ the loop

bool Driver::start(net::NicClient& client) {
    if (state_ != BringUp::Ready) {
        kLog.error("%s: start() before bring-up finished (%s)", name_, bring_up_name(state_));
        return false;
    }
    client_ = &client;
    link_client_ = link_;  // what the client reads from link_up() now; changes come with deliveries
    if (opt_.self_poll && !poller_registered_) poller_registered_ = loop::add_poller(poller, this);
    return true;
}

bool Driver::poller(void* self) { return static_cast<Driver*>(self)->poll(64) != 0; }

size_t Driver::poll(size_t budget) {
    stats_.polls++;
    const size_t work = ring_work(budget);
    return work + deliver();
}

// The ring work of a pass: bring-up and stopping steps, waiting receive completions, then host packets off the
// inbound ring. Calls nobody: frames, cookies and the link state wait for deliver().
size_t Driver::ring_work(size_t budget) {
    if (state_ == BringUp::Stopped) return 0;
    if (state_ != BringUp::Stopping) {
        const vmbus::ChannelOffer* o = conn_.find_relid(relid_);
        if (o == nullptr || o->rescinded) {
            on_rescind();
            return 1;
        }
    }
    if (state_ == BringUp::Stopping) {
        finish_stop();
        return 0;
    }
    if (state_ == BringUp::Opening) advance();
    if (state_ == BringUp::Opening || state_ == BringUp::Failed) return 0;
    if (state_ == BringUp::Draining) drain();
    if (state_ == BringUp::Stopping || state_ == BringUp::Stopped) return 1;
    size_t work = flush_rx_completions();
    size_t packets = 0;
    // The budget counts the frames this pass queued (rx_batch_count_ starts at 0: the last delivery took all).
    while (rx_batch_count_ < budget && packets < budget * 4 && rx_complete_pending_ == 0) {
        bool slot_free = false;
        for (size_t i = 0; i < kMaxRxPackets && !slot_free; ++i) slot_free = rx_packets_[i].state == RxPacket::Free;
        if (!slot_free) {
            stats_.rx_stalls++;
            break;
        }
        size_t len = 0;
        const vmbus::RingStatus s = channel_.receive(scratch_, scratch_size_, len);
        if (s == vmbus::RingStatus::Empty) break;
        if (s != vmbus::RingStatus::Ok) {
            kLog.error("%s: inbound ring unusable (%s); stopping", name_, vmbus::ring_status_name(s));
            ctr_.device_errors++;
            teardown();
            return work + 1;
        }
        stats_.host_packets++;
        packets++;
        handle_packet(scratch_, len);
        if (state_ == BringUp::Failed || state_ == BringUp::Stopping) break;
    }
    if (state_ == BringUp::Draining) drain();
    return work + packets;
}

// The delivery of a pass: the ring work is finished and the rings are consistent, so the client may transmit
// and release frames from inside these calls. Cookies and frames queued meanwhile wait for the next pass.
size_t Driver::deliver() {
    if (client_ == nullptr) return 0;
    size_t work = 0;
    for (size_t n = tx_done_count_; n > 0; --n, ++work) {
        void* cookie = tx_done_[tx_done_head_];
        tx_done_head_ = (tx_done_head_ + 1) % kTxDoneSlots;
        tx_done_count_--;
        client_->tx_done(cookie);
    }
    const size_t frames = rx_batch_count_;
    rx_batch_count_ = 0;
    for (size_t i = 0; i < frames; ++i) {
        const uint16_t k = rx_batch_[i];
        RxRef& ref = rx_refs_[k];
        ref.state = RxRef::Lent;
        rx_lent_++;
        const net::RxFrame f{const_cast<uint8_t*>(ref.data), ref.len, net::RxChecksum::Unknown, &ref};
        if (!client_->receive(f) && ref.state == RxRef::Lent) {  // refused: the frame comes back at once
            rx_lent_--;
            put_back(k);
        }
    }
    work += frames;
    if (link_client_ != link_) {
        link_client_ = link_;
        client_->link_changed(link_);
        work++;
    }
    if (want_tx_ready_ && state_ == BringUp::Ready && can_send()) {
        want_tx_ready_ = false;
        client_->tx_ready();
        work++;
    }
    return work;
}

// ------------------------------------------------------------------------------------------------ stopping

void Driver::teardown() {
    if (state_ == BringUp::Stopping || state_ == BringUp::Stopped) return;
    if (link_) ctr_.link_changes++;
    link_ = false;  // the client hears of it in the next delivery
    state_ = BringUp::Stopping;
    channel_.close();  // CLOSECHANNEL, ring GPADL teardown
    if (recv_gpadl_ != 0 && conn_.gpadl_state(recv_gpadl_) == vmbus::GpadlState::Created)
        conn_.teardown_gpadl(relid_, recv_gpadl_);
    if (send_gpadl_ != 0 && conn_.gpadl_state(send_gpadl_) == vmbus::GpadlState::Created)
        conn_.teardown_gpadl(relid_, send_gpadl_);
    // Frames queued by this pass's ring work and not delivered yet are dropped (a packet left without frames is
    // freed, not completed: complete_rx() sees the state). Lent frames stay valid (the buffer is freed when the
    // last comes back); their completions are moot.
    for (size_t i = 0; i < rx_batch_count_; ++i) put_back(rx_batch_[i]);
    rx_batch_count_ = 0;
    for (size_t i = 0; i < kMaxRxPackets; ++i)
        if (rx_packets_[i].state == RxPacket::CompletePending) rx_packets_[i].state = RxPacket::Free;
    rx_complete_pending_ = 0;
    // Frames sent GPA direct and never completed: the host is gone, so they are done (and counted lost); the
    // next delivery hands them back.
    for (uint32_t i = 0; i < kGpaSlots; ++i) {
        if (!gpa_[i].busy) continue;
        if (gpa_[i].cookie != nullptr) {
            ctr_.tx_errors++;
            queue_tx_done(gpa_[i].cookie);
        }
        gpa_[i] = GpaSlot{};
    }
    gpa_busy_ = 0;
    finish_stop();
}

void Driver::finish_stop() {
    auto gone = [&](uint32_t h) {
        const vmbus::GpadlState g = h == 0 ? vmbus::GpadlState::Free : conn_.gpadl_state(h);
        return g == vmbus::GpadlState::Free || g == vmbus::GpadlState::Failed;
    };
    if (!gone(channel_.ring_gpadl()) || !gone(recv_gpadl_) || !gone(send_gpadl_)) return;
    const vmbus::ChannelOffer* o = conn_.find_relid(relid_);
    if (o != nullptr && o->rescinded) conn_.release_relid(relid_);
    free_memory();
    state_ = BringUp::Stopped;
    kLog.info("%s: stopped", name_);
}

void Driver::on_rescind() {
    if (state_ == BringUp::Stopping || state_ == BringUp::Stopped) return;
    kLog.warn("%s: the host rescinded the channel", name_);
    teardown();
}

void Driver::stop() {
    if (state_ == BringUp::Stopping || state_ == BringUp::Stopped || state_ == BringUp::Draining) return;
    if (state_ != BringUp::Ready) return teardown();
    // Filter 0 and HALT; once the host completed every send, revoke the buffers (the host stops using them and
    // never completes a revoke), and once it read the revokes, close. The link goes down now; the client hears
    // of it in the next delivery.
    if (link_) ctr_.link_changes++;
    link_ = false;
    state_ = BringUp::Draining;
    uint8_t m[32];
    const bool ok = rndis_set_filter(0) && send_rndis_control(m, build_rndis_halt(m, next_request_++));
    if (!ok) return teardown();
}

void Driver::drain() {
    if (!revoked_) {
        if (sections_busy_ != 0 || gpa_busy_ != 0) return;
        uint8_t n[kNvspMessageSize];
        const bool ok = send_nvsp(n, build_revoke_recv_buf(n, kRecvBufId), 0, false) &&
                        send_nvsp(n, build_revoke_send_buf(n, kSendBufId), 0, false);
        revoked_ = true;
        if (!ok) return teardown();
    }
    vmbus::Ring& out = channel_.outbound();
    if (out.bytes_to_write() == out.data_size() || out.corrupt()) teardown();
}

}  // namespace skerry::netvsc
