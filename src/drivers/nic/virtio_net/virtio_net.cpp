// virtio-net driver; see virtio_net.hpp.
#include "drivers/nic/virtio_net/virtio_net.hpp"

#include <stdio.h>
#include <string.h>

#include "hw/hw.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace skerry::virtio_net {
namespace {

using virtio::bit;

constexpr uint64_t kWanted = bit(kFeatCsum) | bit(kFeatGuestCsum) | bit(kFeatMtu) | bit(kFeatMac) | bit(kFeatMrgRxbuf) |
                             bit(kFeatStatus) | bit(virtio::kFeatureEventIdx);
constexpr uint64_t kWatchdogNs = 1000000000ull, kPollNs = 1000000ull;
constexpr int kStallTicks = 3;
constexpr uint8_t kDefaultMac[6] = {0x02, 0x00, 0x5e, 0x10, 0x00, 0x01};  // locally administered

uint64_t phys_of(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

bool frame_byte(const net::TxFrame& f, uint32_t off, uint8_t& out) {
    for (size_t i = 0; i < f.count; ++i) {
        if (off < f.segs[i].len) {
            out = static_cast<const uint8_t*>(f.segs[i].data)[off];
            return true;
        }
        off -= f.segs[i].len;
    }
    return false;
}

// Ones'-complement sum of a byte range (big-endian 16-bit words), unfolded.
uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i]) << 8 | p[i + 1];
    if (n & 1) acc += static_cast<uint32_t>(p[n - 1]) << 8;
    return acc;
}
uint16_t fold(uint32_t s) {
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return static_cast<uint16_t>(s);
}

void* token_of(uint16_t index) { return reinterpret_cast<void*>(static_cast<uintptr_t>(index) + 1); }
uint16_t index_of(void* token) { return static_cast<uint16_t>(reinterpret_cast<uintptr_t>(token) - 1); }

}  // namespace

Driver::~Driver() {
    loop::cancel(timer_);
    loop::cancel_raised(this);
    if (hooked_) {
        loop::remove_poller(on_poller, this);
        loop::remove_iteration_end(on_iteration_end, this);
    }
    if (t_ && state_ != State::Off) t_->reset();
    if (t_) t_->detach_interrupts();
    free_buffers();
    dma::free(tx_hdr_mem_);
}

Driver* Driver::create(virtio::Transport& t, const Options& options) {
    Driver* d = new Driver;
    if (!d->init(t, options)) {
        delete d;
        return nullptr;
    }
    return d;
}

bool Driver::init(virtio::Transport& t, const Options& options) {
    if (state_ != State::Off) return false;
    t_ = &t;
    opt_ = options;
    const char* loc = t.location();
    if (strncmp(loc, "pci ", 4) == 0) loc += 4;
    snprintf(name_, sizeof name_, "virtio-net %s (%s)", loc, t.kind());
    if (t.device_type() != virtio::kTypeNet) {
        log::error("%s: not a network device (%s)", name_, virtio::type_name(t.device_type()));
        return false;
    }
    if (!opt_.rx_buffers) opt_.rx_buffers = static_cast<uint16_t>(2 * opt_.rx_ring);
    if (opt_.rx_buffers > kMaxRxBuffers) opt_.rx_buffers = kMaxRxBuffers;
    if (!opt_.poll_budget || opt_.poll_budget > kMaxBudget) opt_.poll_budget = 64;
    if (!virtio::initialise(t, kWanted, features_, name_)) return false;
    hdr_len_ = (features_ & (bit(virtio::kFeatureVersion1) | bit(kFeatMrgRxbuf))) ? 12 : 10;
    if (!read_config()) {
        t.set_status(static_cast<uint8_t>(t.status() | virtio::kStatusFailed));
        return false;
    }
    state_ = State::Ready;
    return true;
}

// MAC, MTU and link from the configuration space, read consistently (the generation must not change meanwhile).
bool Driver::read_config() {
    for (int attempt = 0;; ++attempt) {
        if (attempt == 8) {
            log::error("%s: the configuration keeps changing while read", name_);
            return false;
        }
        const uint32_t gen = t_->config_generation();
        if (features_ & bit(kFeatMac)) {
            for (uint32_t i = 0; i < 6; ++i) mac_[i] = t_->config8(kCfgMac + i);
        }
        const uint16_t mtu = (features_ & bit(kFeatMtu)) ? t_->config16(kCfgMtu) : kMaxMtu;
        const uint16_t status = (features_ & bit(kFeatStatus)) ? t_->config16(kCfgStatus) : kLinkUp;
        if (t_->config_generation() != gen) continue;
        mtu_ = kMaxMtu;
        if (mtu < 68) {
            log::warn("%s: the device states an MTU of %u (below IPv4's minimum of 68); using %u", name_, mtu, mtu_);
        } else if (mtu < kMaxMtu) {
            mtu_ = mtu;
        }
        link_up_ = status & kLinkUp;
        break;
    }
    mac_from_device_ = features_ & bit(kFeatMac);
    const bool multicast = mac_[0] & 1;
    bool zero = true;
    for (uint8_t b : mac_) zero = zero && b == 0;
    if (!mac_from_device_ || zero || multicast) {
        if (mac_from_device_) log::warn("%s: the device's MAC is not a unicast address; using a local one", name_);
        memcpy(mac_, opt_.fallback_mac ? opt_.fallback_mac : kDefaultMac, 6);
        mac_[0] = static_cast<uint8_t>((mac_[0] & ~1u) | 2u);  // unicast, locally administered
        mac_from_device_ = false;
    }
    return true;
}

uint32_t Driver::offloads() const {
    uint32_t o = 0;
    if (features_ & bit(kFeatCsum)) o |= net::kOffloadTxTcpUdpChecksum | net::kOffloadTxTcp6UdpChecksum;
    if (features_ & bit(kFeatGuestCsum)) o |= net::kOffloadRxChecksum;
    return o;
}

// ---------------------------------------------------------------------------------------------------------
// Buffers

bool Driver::alloc_buffers() {
    const size_t chunks = (opt_.rx_buffers + kBuffersPerChunk - 1) / kBuffersPerChunk;
    for (chunk_count_ = 0; chunk_count_ < chunks; ++chunk_count_) {
        if (!dma::alloc(kChunkBytes, chunks_[chunk_count_])) break;
    }
    if (chunk_count_ == 0) return false;
    const size_t have = chunk_count_ * kBuffersPerChunk;
    buffer_count_ = static_cast<uint16_t>(have < opt_.rx_buffers ? have : opt_.rx_buffers);
    free_count_ = 0;
    for (uint16_t i = buffer_count_; i > 0; --i) {
        buf_state_[i - 1] = BufState::Free;
        free_list_[free_count_++] = static_cast<uint16_t>(i - 1);
    }
    return true;
}

void Driver::free_buffers() {
    for (size_t i = 0; i < chunk_count_; ++i) dma::free(chunks_[i]);
    chunk_count_ = 0;
    buffer_count_ = 0;
    free_count_ = 0;
}

void* Driver::buffer_virt(uint16_t i) const {
    return static_cast<uint8_t*>(chunks_[i / kBuffersPerChunk].virt) + (i % kBuffersPerChunk) * kBufferSize;
}
uint64_t Driver::buffer_phys(uint16_t i) const {
    return chunks_[i / kBuffersPerChunk].phys + (i % kBuffersPerChunk) * kBufferSize;
}
bool Driver::buffer_index(const void* p, uint16_t& out) const {
    const auto a = reinterpret_cast<uintptr_t>(p);
    for (size_t c = 0; c < chunk_count_; ++c) {
        const auto base = reinterpret_cast<uintptr_t>(chunks_[c].virt);
        if (a < base || a >= base + kChunkBytes) continue;
        const size_t i = c * kBuffersPerChunk + (a - base) / kBufferSize;
        if (i >= buffer_count_) return false;
        out = static_cast<uint16_t>(i);
        return true;
    }
    return false;
}

void Driver::recycle(uint16_t i) {
    buf_state_[i] = BufState::Free;
    free_list_[free_count_++] = i;
}

// Gives free buffers to the receive queue (calls nobody). The device hears of them in flush().
void Driver::refill() {
    if (state_ != State::Running) return;
    bool added = false;
    while (free_count_ > 0 && rxq_.free_descriptors() > 0) {
        const uint16_t i = free_list_[free_count_ - 1];
        const virtio::Virtqueue::Buffer b{buffer_phys(i), kBufferSize};
        if (rxq_.add(&b, 1, 0, token_of(i)) == virtio::Virtqueue::kNoHead) break;
        --free_count_;
        buf_state_[i] = BufState::Ring;
        added = true;
    }
    if (added) {
        rxq_.publish();
        rx_dirty_ = true;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Bring-up and recovery

bool Driver::setup_queues() {
    const uint16_t rmax = t_->max_queue_size(kRxQueue), tmax = t_->max_queue_size(kTxQueue);
    if (rmax < 2 || tmax < 2) {
        log::error("%s: the device has no usable receive/transmit queue (sizes %u, %u)", name_, rmax, tmax);
        return false;
    }
    const bool legacy = t_->legacy();
    const bool event_idx = features_ & bit(virtio::kFeatureEventIdx);
    const uint16_t rsize = virtio::queue_size_for(opt_.rx_ring, rmax, legacy),
                   tsize = virtio::queue_size_for(opt_.tx_ring, tmax, legacy);
    if (rsize > virtio::Virtqueue::kMaxSize || tsize > virtio::Virtqueue::kMaxSize || (rsize & (rsize - 1)) ||
        (tsize & (tsize - 1))) {
        log::error("%s: unsupported queue sizes %u/%u", name_, rsize, tsize);
        return false;
    }
    if (rxq_.size() != rsize && !rxq_.create(kRxQueue, rsize, event_idx, legacy)) return false;
    if (txq_.size() != tsize && !txq_.create(kTxQueue, tsize, event_idx, legacy)) return false;
    rxq_.reset_state();
    txq_.reset_state();
    if (!t_->setup_queue(kRxQueue, rsize, rxq_.addresses()) || !t_->setup_queue(kTxQueue, tsize, txq_.addresses())) {
        log::error("%s: the device refused the queue set-up", name_);
        return false;
    }
    return true;
}

// Queues, transmit slots, DRIVER_OK, receive buffers: from start() and after a reset (features negotiated already).
bool Driver::bring_up() {
    if (!setup_queues()) return false;
    tx_slots_free_ = txq_.size();
    tx_free_slot_ = 0;
    for (uint16_t i = 0; i < txq_.size(); ++i) {
        tx_slots_[i].cookie = nullptr;
        tx_slots_[i].next_free = static_cast<uint16_t>(i + 1);
    }
    tx_inflight_ = 0;
    rx_discard_ = 0;
    t_->set_status(static_cast<uint8_t>(t_->status() | virtio::kStatusDriverOk));
    state_ = State::Running;
    refill();
    if (interrupts_on_) {
        (void)rxq_.enable_interrupts();
        (void)txq_.enable_interrupts();
    } else {
        rxq_.disable_interrupts();
        txq_.disable_interrupts();
    }
    flush();
    return true;
}

bool Driver::start(net::NicClient& client) {
    if (state_ != State::Ready) return false;
    if (!alloc_buffers() || !dma::alloc(sizeof(NetHdr) * virtio::Virtqueue::kMaxSize, tx_hdr_mem_)) {
        log::error("%s: out of DMA memory for buffers", name_);
        free_buffers();
        return false;
    }
    if (!hooked_) {
        if (!loop::add_poller(on_poller, this)) return false;
        if (!loop::add_iteration_end(on_iteration_end, this)) {
            loop::remove_poller(on_poller, this);
            return false;
        }
        hooked_ = true;
    }
    client_ = &client;
    interrupts_on_ = opt_.use_interrupts && t_->attach_interrupts(2, on_irq, this);
    if (!bring_up()) {
        state_ = State::Failed;
        t_->set_status(static_cast<uint8_t>(t_->status() | virtio::kStatusFailed));
        client_ = nullptr;
        return false;
    }
    log_summary();
    if (link_up_) client.link_changed(true);
    loop::arm_in(timer_, interrupts_on_ ? kWatchdogNs : kPollNs, on_timer, this);
    return true;
}

void Driver::log_summary() {
    char feats[160];
    size_t n = 0;
    feats[0] = 0;
    struct Named {
        uint64_t bit;
        const char* name;
    };
    const Named names[] = {{bit(kFeatCsum), "CSUM"},
                           {bit(kFeatGuestCsum), "GUEST_CSUM"},
                           {bit(kFeatMtu), "MTU"},
                           {bit(kFeatMac), "MAC"},
                           {bit(kFeatMrgRxbuf), "MRG_RXBUF"},
                           {bit(kFeatStatus), "STATUS"},
                           {bit(virtio::kFeatureEventIdx), "EVENT_IDX"},
                           {bit(virtio::kFeatureVersion1), "VERSION_1"}};
    for (const Named& f : names) {
        if ((features_ & f.bit) && n < sizeof feats) {
            n += static_cast<size_t>(snprintf(feats + n, sizeof feats - n, "%s%s", n ? " " : "", f.name));
        }
    }
    log::info("%s: MAC %02x:%02x:%02x:%02x:%02x:%02x%s, link %s, MTU %u, queues rx %u tx %u, %u buffers, "
              "interrupts %s",
              name_, mac_[0], mac_[1], mac_[2], mac_[3], mac_[4], mac_[5],
              mac_from_device_ ? "" : " (locally made: the device has none)", link_up_ ? "up" : "down", mtu_,
              rxq_.size(), txq_.size(), buffer_count_, t_->interrupt_mode());
    log::info("%s: features %s", name_, feats);
}

// Everything the device held comes back: receive buffers to the pool, transmit cookies to the client (next
// delivery), counted as transmit errors.
void Driver::take_back_all() {
    void* token;
    while (rxq_.drain_one(token)) {
        const uint16_t i = index_of(token);
        if (i < buffer_count_ && buf_state_[i] == BufState::Ring) recycle(i);
    }
    while (txq_.drain_one(token)) {
        auto* slot = static_cast<TxSlot*>(token);
        if (tx_done_count_ < virtio::Virtqueue::kMaxSize) tx_done_[tx_done_count_++] = slot->cookie;
        ++counters_.tx_errors;
    }
    tx_inflight_ = 0;
}

void Driver::recover(const char* why) {
    log::warn("%s: %s: resetting the device", name_, why);
    ++resets_;
    ++counters_.device_errors;
    t_->reset();
    take_back_all();
    rx_batch_count_ = 0;
    uint64_t again = 0;
    if (!virtio::initialise(*t_, kWanted, again, name_) || again != features_ || !bring_up()) {
        log::error("%s: the device did not come back after the reset; it stays off", name_);
        state_ = State::Failed;
        t_->set_status(static_cast<uint8_t>(t_->status() | virtio::kStatusFailed));
        return;
    }
    update_link();
    log::info("%s: reset done, traffic resumes", name_);
}

// Configuration change or the watchdog: NEEDS_RESET, the queues' sanity, the link.
void Driver::check_device() {
    if (state_ != State::Running) return;
    if (t_->status() & virtio::kStatusNeedsReset) {
        recover("the device needs a reset (NEEDS_RESET)");
        return;
    }
    if (rxq_.broken() || txq_.broken()) {
        recover("the device's used index ran beyond what it was given");
        return;
    }
    update_link();
}

void Driver::update_link() {
    if (!(features_ & bit(kFeatStatus))) return;
    uint16_t status = 0;
    for (int attempt = 0; attempt < 8; ++attempt) {
        const uint32_t gen = t_->config_generation();
        status = t_->config16(kCfgStatus);
        if (t_->config_generation() == gen) break;
    }
    const bool up = status & kLinkUp;
    if (up != link_up_) {
        link_up_ = up;
        link_report_ = true;
        ++counters_.link_changes;
        log::info("%s: link %s", name_, up ? "up" : "down");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Receive

net::RxChecksum Driver::rx_checksum(const uint8_t* frame, uint32_t len, const NetHdr& h) const {
    if (!(h.flags & kHdrDataValid) || !(features_ & bit(kFeatGuestCsum))) return net::RxChecksum::Unknown;
    // DATA_VALID covers the TCP/UDP checksum; the stack skips the IPv4 header checksum too for a Good frame, so
    // check that one here (20-60 bytes).
    if (len >= 14 + 20 && frame[12] == 0x08 && frame[13] == 0x00) {
        const uint32_t ihl = (frame[14] & 0xFu) * 4;
        if ((frame[14] >> 4) != 4 || ihl < 20 || 14 + ihl > len) return net::RxChecksum::Unknown;
        if (fold(sum16(frame + 14, ihl)) != 0xFFFF) return net::RxChecksum::Unknown;
    }
    return net::RxChecksum::Good;
}

// Ring work: takes up to `budget` used receive buffers into rx_batch_, dropping bad frames. Calls nobody.
size_t Driver::rx_harvest(size_t budget) {
    size_t handled = 0;
    void* token;
    uint32_t len;
    while (handled < budget && rx_batch_count_ < kMaxBudget && rxq_.pop_used(token, len)) {
        ++handled;
        const uint16_t i = index_of(token);
        if (i >= buffer_count_ || buf_state_[i] != BufState::Ring) {
            ++counters_.device_errors;  // our own bookkeeping broke: cannot happen
            continue;
        }
        if (rx_discard_) {  // the rest of a frame spread over several buffers
            --rx_discard_;
            recycle(i);
            continue;
        }
        auto* base = static_cast<uint8_t*>(buffer_virt(i));
        if (len < hdr_len_ + 14) {  // includes a length the virtqueue found impossible (0)
            ++counters_.rx_dropped_bad_frame;
            recycle(i);
            continue;
        }
        NetHdr h{};
        memcpy(&h, base, hdr_len_);
        if (hdr_len_ < sizeof(NetHdr)) h.num_buffers = 1;
        if ((features_ & bit(kFeatMrgRxbuf)) && h.num_buffers != 1) {
            // We offer no receive segmentation, so a frame never needs a second buffer: malformed. Its other
            // buffers follow in the used ring; drop them too (at most what the queue can hold).
            ++counters_.rx_dropped_bad_frame;
            ++counters_.device_errors;
            if (h.num_buffers > 1) rx_discard_ = static_cast<uint16_t>(h.num_buffers - 1);
            if (rx_discard_ > rxq_.size()) rx_discard_ = rxq_.size();
            recycle(i);
            continue;
        }
        const uint32_t frame_len = len - hdr_len_;
        if (frame_len > static_cast<uint32_t>(mtu_) + 14 + 4 || h.gso_type != kGsoNone) {
            ++counters_.rx_dropped_bad_frame;
            recycle(i);
            continue;
        }
        uint8_t* frame = base + hdr_len_;
        net::RxChecksum cs = net::RxChecksum::Unknown;
        if (h.flags & kHdrNeedsCsum) {
            const uint32_t start = h.csum_start, at = static_cast<uint32_t>(h.csum_start) + h.csum_offset;
            if (start >= frame_len || at + 2 > frame_len || at < start) {
                ++counters_.rx_dropped_bad_frame;
                recycle(i);
                continue;
            }
            // The sender left the checksum partial (the field holds the pseudo-header sum): finish it as a device
            // would, so the stack sees a complete frame and checks it.
            const uint16_t sum = fold(sum16(frame + start, frame_len - start));
            const uint16_t c = static_cast<uint16_t>(~sum);
            frame[at] = static_cast<uint8_t>(c >> 8);
            frame[at + 1] = static_cast<uint8_t>(c);
        } else {
            cs = rx_checksum(frame, frame_len, h);
        }
        buf_state_[i] = BufState::Client;
        rx_batch_[rx_batch_count_++] = {i, static_cast<uint16_t>(frame_len), cs};
    }
    return handled;
}

void Driver::rx_release(void* buffer) {
    uint16_t i;
    // The client hands back the frame pointer (header + hdr_len_) or the buffer start.
    if (!buffer_index(buffer, i) || buf_state_[i] != BufState::Client) {
        log::warn("%s: rx_release of %p, which is not a buffer the client holds", name_, buffer);
        return;
    }
    recycle(i);
    if (rxq_.free_descriptors() > rxq_.size() / 2 || free_count_ >= 32) refill();
}

// ---------------------------------------------------------------------------------------------------------
// Transmit

net::TxStatus Driver::transmit(const net::TxFrame& f) {
    if (state_ == State::Failed) {
        ++counters_.tx_errors;
        return net::TxStatus::Dropped;
    }
    if (state_ != State::Running) {
        tx_blocked_ = true;
        ++counters_.tx_dropped_ring_full;
        return net::TxStatus::Full;
    }
    bool bad = f.count == 0 || f.count > net::kMaxTxSegments;
    uint32_t total = 0;
    uint16_t segs = 0;
    for (size_t i = 0; !bad && i < f.count; ++i) {
        if (!f.segs[i].len) continue;
        if (!f.segs[i].data) bad = true;
        total += f.segs[i].len;
        ++segs;
    }
    const uint32_t max_frame = static_cast<uint32_t>(mtu_) + 14 + 4;
    bad = bad || total != f.total_len || total < 14 || total > max_frame;
    NetHdr h{};
    const uint32_t offload = f.offload & offloads() & (net::kOffloadTxTcpUdpChecksum | net::kOffloadTxTcp6UdpChecksum);
    if (!bad && offload) {
        uint8_t vihl = 0, proto = 0;
        uint32_t l4 = 0;
        const uint32_t l3 = f.l3_offset;
        bool want = false;
        if (!frame_byte(f, l3, vihl)) {
            bad = true;
        } else if ((vihl >> 4) == 4) {
            const uint32_t ihl = (vihl & 0xFu) * 4;
            l4 = l3 + ihl;
            want = offload & net::kOffloadTxTcpUdpChecksum;
            bad = ihl < 20 || (f.l4_offset && f.l4_offset != l4) || !frame_byte(f, l3 + 9, proto);
        } else if ((vihl >> 4) == 6) {
            l4 = f.l4_offset ? f.l4_offset : l3 + 40;
            want = offload & net::kOffloadTxTcp6UdpChecksum;
            bad = l4 < l3 + 40 || !frame_byte(f, l3 + 6, proto);
        } else {
            bad = true;
        }
        if (!bad && want) {
            if (proto != 6 && proto != 17) {
                bad = true;
            } else {
                const uint32_t off = proto == 6 ? 16 : 6;
                bad = l4 + off + 2 > total || l4 > 0xFFFF;
                h.flags = kHdrNeedsCsum;
                h.csum_start = static_cast<uint16_t>(l4);
                h.csum_offset = static_cast<uint16_t>(off);
            }
        }
    }
    if (bad) {
        ++counters_.tx_dropped_bad_frame;
        return net::TxStatus::Dropped;
    }
    const uint16_t need = static_cast<uint16_t>(segs + 1);
    if (need > txq_.free_descriptors() || tx_slots_free_ == 0) (void)tx_reclaim();
    if (need > txq_.free_descriptors() || tx_slots_free_ == 0) {
        ++counters_.tx_dropped_ring_full;
        tx_blocked_ = true;
        return net::TxStatus::Full;
    }
    const uint16_t s = tx_free_slot_;
    TxSlot& slot = tx_slots_[s];
    tx_free_slot_ = slot.next_free;
    --tx_slots_free_;
    slot.cookie = f.cookie;
    auto* hdr = static_cast<uint8_t*>(tx_hdr_mem_.virt) + s * sizeof(NetHdr);
    memcpy(hdr, &h, sizeof h);
    virtio::Virtqueue::Buffer bufs[net::kMaxTxSegments + 1];
    bufs[0] = {tx_hdr_mem_.phys + s * sizeof(NetHdr), hdr_len_};
    uint16_t n = 1;
    for (size_t i = 0; i < f.count; ++i) {
        if (f.segs[i].len) bufs[n++] = {phys_of(f.segs[i].data), f.segs[i].len};
    }
    if (txq_.add(bufs, n, n, &slot) == virtio::Virtqueue::kNoHead) {  // cannot happen: room was checked
        slot.next_free = tx_free_slot_;
        tx_free_slot_ = s;
        ++tx_slots_free_;
        ++counters_.tx_dropped_ring_full;
        tx_blocked_ = true;
        return net::TxStatus::Full;
    }
    ++tx_inflight_;
    txq_.publish();
    tx_dirty_ = true;
    return net::TxStatus::Queued;
}

// Ring work: used transmit chains; their cookies wait in tx_done_ for the delivery. Calls nobody.
size_t Driver::tx_reclaim() {
    size_t done = 0;
    void* token;
    uint32_t len;
    while (tx_done_count_ < virtio::Virtqueue::kMaxSize && txq_.pop_used(token, len)) {
        auto* slot = static_cast<TxSlot*>(token);
        const auto s = static_cast<uint16_t>(slot - tx_slots_);
        tx_done_[tx_done_count_++] = slot->cookie;
        slot->cookie = nullptr;
        slot->next_free = tx_free_slot_;
        tx_free_slot_ = s;
        ++tx_slots_free_;
        if (tx_inflight_) --tx_inflight_;
        ++tx_completed_;
        ++done;
    }
    return done;
}

// The end-of-iteration hook: tells the device about what was published, where it asks to be told, and arms the
// transmit interrupt for the end of the batch in flight.
bool Driver::flush() {
    if (state_ != State::Running) return false;
    bool did = false;
    if (tx_dirty_) {
        tx_dirty_ = false;
        // Interrupt once the last chain in flight is used; if it already was, the poller runs a pass instead.
        if (interrupts_on_ && !txq_.enable_interrupts_after(tx_inflight_)) rx_backlog_ = true;
        if (txq_.kick_needed()) {
            t_->notify(kTxQueue);
            did = true;
        }
    }
    if (rx_dirty_) {
        rx_dirty_ = false;
        if (rxq_.kick_needed()) {
            t_->notify(kRxQueue);
            did = true;
        }
    }
    return did;
}

// ---------------------------------------------------------------------------------------------------------
// Passes and delivery

size_t Driver::poll(size_t budget) {
    if (!client_) return 0;
    size_t rx = 0, tx = 0;
    if (state_ == State::Running) {
        if (rxq_.broken() || txq_.broken()) check_device();
    }
    if (state_ == State::Running) {
        tx = tx_reclaim();
        rx = rx_harvest(budget);
        rx_backlog_ = budget && rx >= budget;
        if (rxq_.free_descriptors() > rxq_.size() / 2) refill();
    }
    deliver();
    refill();
    if (state_ != State::Running) {
        polling_ = false;
        return rx + tx;
    }
    // While frames keep coming, the poller takes them with the receive interrupt off (the device has no interrupt
    // moderation of its own: QEMU signals every frame): until the queue has been empty for opt_.linger_ns.
    const uint64_t now = time::now_ns();
    if (rx) linger_until_ = now + opt_.linger_ns;
    bool keep = rx_backlog_ || now < linger_until_;
    if (interrupts_on_ && !keep) {
        // Interrupt at the next frame; if frames came meanwhile, the poller takes them instead.
        keep = !rxq_.enable_interrupts();
    } else if (keep) {
        rxq_.disable_interrupts();
    }
    polling_ = keep;
    return rx + tx;
}

void Driver::deliver() {
    const size_t done = tx_done_count_;
    tx_done_count_ = 0;
    for (size_t i = 0; i < done; ++i) client_->tx_done(tx_done_[i]);

    const size_t n = rx_batch_count_;
    rx_batch_count_ = 0;
    for (size_t k = 0; k < n; ++k) {
        const Harvested h = rx_batch_[k];
        void* data = static_cast<uint8_t*>(buffer_virt(h.index)) + hdr_len_;
        if (!client_->receive(net::RxFrame{data, h.len, h.checksum, data}) && buf_state_[h.index] == BufState::Client) {
            recycle(h.index);
        }
    }
    if (link_report_) {
        link_report_ = false;
        client_->link_changed(link_up_);
    }
    const uint16_t room = static_cast<uint16_t>(net::kMaxTxSegments + 1 < txq_.size() ? net::kMaxTxSegments + 1
                                                                                      : txq_.size());
    if (tx_blocked_ && state_ == State::Running && txq_.free_descriptors() >= room && tx_slots_free_ > 0) {
        tx_blocked_ = false;
        client_->tx_ready();
    }
}

void Driver::handle_irq(uint32_t sources) {
    ++counters_.interrupts;
    __atomic_fetch_or(&pending_, sources, __ATOMIC_RELAXED);
    if (!__atomic_exchange_n(&work_queued_, true, __ATOMIC_ACQ_REL)) {
        if (!loop::raise(on_work, this)) __atomic_store_n(&work_queued_, false, __ATOMIC_RELEASE);
    }
}

void Driver::run_work() {
    __atomic_store_n(&work_queued_, false, __ATOMIC_RELEASE);
    const uint32_t sources = __atomic_exchange_n(&pending_, 0u, __ATOMIC_ACQ_REL);
    if (state_ != State::Running) {
        if (client_) deliver();  // after a failed reset: frames that were in flight go back
        return;
    }
    if (sources & virtio::kIrqConfig) check_device();
    poll(opt_.poll_budget);
}

void Driver::watchdog() {
    if (state_ != State::Running) return;
    check_device();
    if (state_ != State::Running) {
        if (client_) deliver();
        return;
    }
    // A transmit queue that holds frames and completes none for a few seconds: the device is stuck.
    if (tx_inflight_ && tx_completed_ == wd_tx_completed_) {
        if (++wd_tx_stalls_ >= kStallTicks) {
            wd_tx_stalls_ = 0;
            recover("transmit queue stalled");
        }
    } else {
        wd_tx_stalls_ = 0;
    }
    wd_tx_completed_ = tx_completed_;
    if (link_report_ || tx_done_count_) poll(opt_.poll_budget);
}

// ---------------------------------------------------------------------------------------------------------
// Multicast: without the control queue the device delivers every multicast frame (QEMU's and Firecracker's do); the
// stack filters. Nothing to program.

bool Driver::add_multicast(const uint8_t m[6]) { return m[0] & 1; }
bool Driver::remove_multicast(const uint8_t m[6]) { return m[0] & 1; }

net::NicCounters Driver::counters() const {
    net::NicCounters c = counters_;
    c.device_errors += rxq_.counters().bad_used_id + rxq_.counters().bad_used_len + rxq_.counters().bad_used_idx +
                       txq_.counters().bad_used_id + txq_.counters().bad_used_len + txq_.counters().bad_used_idx;
    return c;
}

// ---------------------------------------------------------------------------------------------------------
// Loop wiring

void Driver::on_irq(void* context, uint32_t sources) { static_cast<Driver*>(context)->handle_irq(sources); }
void Driver::on_work(void* context) { static_cast<Driver*>(context)->run_work(); }
bool Driver::on_iteration_end(void* context) { return static_cast<Driver*>(context)->flush(); }

bool Driver::on_poller(void* context) {
    Driver* d = static_cast<Driver*>(context);
    if (d->state_ != State::Running || !(d->rx_backlog_ || d->polling_)) return false;
    d->poll(d->opt_.poll_budget);
    return true;
}

void Driver::on_timer(void* context) {
    Driver* d = static_cast<Driver*>(context);
    if (d->state_ != State::Running) return;
    uint64_t period = kWatchdogNs;
    if (!d->interrupts_on_) {
        const uint32_t isr = d->t_->read_isr();  // a config change shows here too
        if (isr & virtio::kIrqConfig) d->check_device();
        d->poll(d->opt_.poll_budget);
        period = kPollNs;
        if (++d->ticks_ < kWatchdogNs / kPollNs) {
            loop::arm_in(d->timer_, period, on_timer, d);
            return;
        }
        d->ticks_ = 0;
    }
    d->watchdog();
    loop::arm_in(d->timer_, period, on_timer, d);
}

}  // namespace skerry::virtio_net
