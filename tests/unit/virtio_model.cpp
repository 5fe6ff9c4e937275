// The virtio-net device model (see virtio_model.hpp).
#include "virtio_model.hpp"

#include <string.h>

#include "drivers/bus/virtio/virtqueue.hpp"

namespace skerry::virtio::test {
namespace {

uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void wr16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
void wr32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

constexpr unsigned kNetMrgRxbuf = 15, kNetCsum = 0;

}  // namespace

NetModel::NetModel(bool legacy_device) : legacy(legacy_device) {
    // What QEMU's virtio-net offers over a backend without a virtio-net header (user networking), plus CSUM and
    // GUEST_CSUM as over tap (hw/net/virtio-net.c virtio_net_get_features).
    offered = bit(0) | bit(1) | bit(3) | bit(5) | bit(15) | bit(16) | bit(17) | bit(kFeatureEventIdx) |
              bit(kFeatureIndirectDesc);
    if (!legacy) offered |= bit(kFeatureVersion1);
}

void NetModel::reset() {
    status = 0;
    driver_features = 0;
    features_written = false;
    isr = 0;
    ++resets;
    for (Queue& x : q) {
        x.size = 0;
        x.ready = false;
        x.last_avail = x.used_idx = 0;
        x.held.clear();
        x.addr = {};
    }
}

void NetModel::set_status(uint8_t s) {
    if (s == 0) {
        reset();
        return;
    }
    if ((s & kStatusFeaturesOk) && !(status & kStatusFeaturesOk)) {
        if (!features_written) violation("FEATURES_OK before the features were written");
        if ((driver_features & ~offered) || refuse_features_ok) {
            s = static_cast<uint8_t>(s & ~kStatusFeaturesOk);  // refused: the bit does not stick
        }
    }
    if ((s & kStatusDriverOk) && !legacy && !(s & kStatusFeaturesOk)) violation("DRIVER_OK without FEATURES_OK");
    status = static_cast<uint8_t>(s | (status & kStatusNeedsReset));
}

void NetModel::write_features(uint64_t f) {
    if (f & ~offered) violation("the driver accepted features the device did not offer");
    driver_features = f;
    features_written = true;
}

uint8_t NetModel::config_byte(uint32_t off) const {
    if (!config.empty()) return off < config.size() ? config[off] : 0;
    if (off < 6) return mac[off];
    if (off == 6 || off == 7) return static_cast<uint8_t>(status_field >> (8 * (off - 6)));
    if (off == 8) return 1;
    if (off == 9) return 0;
    if (off == 10 || off == 11) return static_cast<uint8_t>(mtu >> (8 * (off - 10)));
    return 0;
}

bool NetModel::setup_queue(uint16_t qi, uint16_t size, const QueueAddresses& a) {
    if (qi >= kQueues) return false;
    if (!legacy && !(status & kStatusFeaturesOk)) violation("queue set-up before FEATURES_OK");
    if (size == 0 || size > q[qi].max || (size & (size - 1))) {
        violation("queue size not a power of two within the maximum");
        return false;
    }
    if (!a.desc || !a.avail || !a.used) {
        violation("a queue part at address 0");
        return false;
    }
    q[qi].size = size;
    q[qi].addr = a;
    q[qi].ready = true;
    q[qi].last_avail = q[qi].used_idx = 0;
    q[qi].held.clear();
    return true;
}

void NetModel::notify(uint16_t qi) {
    if (qi >= kQueues) {
        violation("notification for a queue that does not exist");
        return;
    }
    if (!(status & kStatusDriverOk)) violation("notification before DRIVER_OK");
    ++q[qi].notifies;
}

uint32_t NetModel::read_isr() {
    const uint32_t v = isr;
    isr = 0;
    return ((v & 1) ? kIrqAnyQueue : 0) | ((v & 2) ? kIrqConfig : 0);
}

size_t NetModel::hdr_len() const { return negotiated(kFeatureVersion1) || negotiated(kNetMrgRxbuf) ? 12 : 10; }

uint16_t NetModel::avail_idx(uint16_t qi) const { return rd16(ptr(q[qi].addr.avail) + 2); }
uint16_t NetModel::avail_flags(uint16_t qi) const { return rd16(ptr(q[qi].addr.avail)); }
uint16_t NetModel::used_event(uint16_t qi) const { return rd16(ptr(q[qi].addr.avail) + 4 + 2 * q[qi].size); }
void NetModel::set_avail_event(uint16_t qi, uint16_t v) { wr16(ptr(used_base(qi)) + 4 + 8 * q[qi].size, v); }

bool NetModel::read_chain(uint16_t qi, uint16_t head, bool want_write,
                          std::vector<std::pair<uint64_t, uint32_t>>& bufs) {
    const Queue& x = q[qi];
    bufs.clear();
    if (head >= x.size) {
        violation("available head out of range");
        return false;
    }
    bool seen_write = false;
    uint16_t i = head;
    for (uint16_t n = 0;; ++n) {
        if (n >= x.size) {
            violation("descriptor chain loops or is longer than the queue");
            return false;
        }
        const uint8_t* d = ptr(x.addr.desc) + 16 * i;
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
        memcpy(&addr, d, 8);
        memcpy(&len, d + 8, 4);
        memcpy(&flags, d + 12, 2);
        memcpy(&next, d + 14, 2);
        const bool w = flags & kDescWrite;
        if (!addr || !len) violation("a descriptor with address or length 0");
        if (seen_write && !w) violation("a device-readable buffer after a writable one");
        if (w != want_write)
            violation(want_write ? "a receive buffer the device may not write" : "a writable transmit buffer");
        seen_write = seen_write || w;
        if (flags & kDescIndirect) violation("an indirect descriptor that was not negotiated");
        bufs.emplace_back(addr, len);
        if (!(flags & kDescNext)) break;
        if (next >= x.size) {
            violation("next descriptor out of range");
            return false;
        }
        i = next;
    }
    return true;
}

void NetModel::push_used(uint16_t qi, uint16_t id, uint32_t len) {
    Queue& x = q[qi];
    uint8_t* u = ptr(used_base(qi));
    uint8_t* e = u + 4 + 8 * (x.used_idx % x.size);
    wr32(e, id);
    wr32(e + 4, len);
    const uint16_t old = x.used_idx;
    ++x.used_idx;
    wr16(u + 2, x.used_idx);
    x.held.erase(id);
    signal_used(qi, old);
}

// Interrupt unless suppressed ("Used Buffer Notification Suppression").
void NetModel::signal_used(uint16_t qi, uint16_t old_idx) {
    const Queue& x = q[qi];
    bool fire;
    if (negotiated(kFeatureEventIdx)) {
        fire = need_event(used_event(qi), x.used_idx, old_idx);
    } else {
        fire = !(avail_flags(qi) & kAvailNoInterrupt);
    }
    if (!fire) return;
    isr |= 1;
    ++interrupts_raised;
    if (interrupt) interrupt(irq_queue(qi) | kIrqAnyQueue);
}

bool NetModel::deliver(const std::vector<uint8_t>& frame, uint8_t flags, uint16_t num_buffers, uint16_t csum_start,
                       uint16_t csum_offset, int64_t len_override) {
    Queue& x = q[0];
    if (!x.ready || !(status & kStatusDriverOk)) return false;
    const uint16_t avail = avail_idx(0);
    if (static_cast<uint16_t>(avail - x.last_avail) > x.size)
        violation("available index ran ahead by more than the queue");
    if (avail == x.last_avail) {
        ++rx_dropped_no_buffer;
        return false;
    }
    const uint16_t head = rd16(ptr(x.addr.avail) + 4 + 2 * (x.last_avail % x.size));
    ++x.last_avail;
    if (x.held.count(head)) violation("a head made available again while the device holds it");
    x.held.insert(head);
    std::vector<std::pair<uint64_t, uint32_t>> bufs;
    if (!read_chain(0, head, true, bufs)) return false;
    std::vector<uint8_t> bytes(hdr_len(), 0);
    bytes[0] = flags;
    wr16(bytes.data() + 6, csum_start);
    wr16(bytes.data() + 8, csum_offset);
    if (hdr_len() >= 12) wr16(bytes.data() + 10, num_buffers);
    bytes.insert(bytes.end(), frame.begin(), frame.end());
    size_t off = 0;
    for (auto& [addr, len] : bufs) {
        const size_t n = std::min<size_t>(len, bytes.size() - off);
        memcpy(ptr(addr), bytes.data() + off, n);
        off += n;
    }
    if (off < bytes.size()) {
        violation("a receive buffer too small for a full frame");
        return false;
    }
    push_used(0, head, len_override >= 0 ? static_cast<uint32_t>(len_override) : static_cast<uint32_t>(bytes.size()));
    return true;
}

bool NetModel::deliver_raw(uint16_t qi, const std::vector<uint8_t>& bytes, int64_t len_override) {
    Queue& x = q[qi];
    if (!x.ready || !(status & kStatusDriverOk)) return false;
    const uint16_t avail = avail_idx(qi);
    if (avail == x.last_avail) {
        ++rx_dropped_no_buffer;
        return false;
    }
    const uint16_t head = rd16(ptr(x.addr.avail) + 4 + 2 * (x.last_avail % x.size));
    ++x.last_avail;
    if (x.held.count(head)) violation("a head made available again while the device holds it");
    x.held.insert(head);
    std::vector<std::pair<uint64_t, uint32_t>> bufs;
    if (!read_chain(qi, head, true, bufs)) return false;
    size_t off = 0;
    for (auto& [addr, len] : bufs) {
        const size_t n = std::min<size_t>(len, bytes.size() - off);
        memcpy(ptr(addr), bytes.data() + off, n);
        off += n;
    }
    if (off < bytes.size()) violation("a buffer too small for the packet");
    push_used(qi, head, len_override >= 0 ? static_cast<uint32_t>(len_override) : static_cast<uint32_t>(off));
    return true;
}

std::vector<std::vector<uint8_t>> NetModel::take_raw(uint16_t qi) {
    std::vector<std::vector<uint8_t>> out;
    Queue& x = q[qi];
    if (!x.ready) return out;
    while (x.last_avail != avail_idx(qi)) {
        const uint16_t head = rd16(ptr(x.addr.avail) + 4 + 2 * (x.last_avail % x.size));
        ++x.last_avail;
        std::vector<std::pair<uint64_t, uint32_t>> bufs;
        if (!read_chain(qi, head, false, bufs)) return out;
        std::vector<uint8_t> all;
        for (auto& [addr, len] : bufs) all.insert(all.end(), ptr(addr), ptr(addr) + len);
        out.push_back(std::move(all));
        x.held.insert(head);
        push_used(qi, head, 0);
    }
    return out;
}

size_t NetModel::process_tx() {
    Queue& x = q[1];
    if (!x.ready) return 0;
    size_t n = 0;
    while (x.last_avail != avail_idx(1)) {
        if (static_cast<uint16_t>(avail_idx(1) - x.last_avail) > x.size) {
            violation("transmit available index ran ahead by more than the queue");
            return n;
        }
        const uint16_t head = rd16(ptr(x.addr.avail) + 4 + 2 * (x.last_avail % x.size));
        ++x.last_avail;
        if (x.held.count(head)) violation("a transmit head made available again while the device holds it");
        std::vector<std::pair<uint64_t, uint32_t>> bufs;
        if (!read_chain(1, head, false, bufs)) return n;
        std::vector<uint8_t> all;
        for (auto& [addr, len] : bufs) all.insert(all.end(), ptr(addr), ptr(addr) + len);
        TxFrame f;
        const size_t h = hdr_len();
        if (all.size() < h) {
            violation("a transmit chain shorter than the header");
        } else {
            f.hdr.assign(all.begin(), all.begin() + static_cast<long>(h));
            f.data.assign(all.begin() + static_cast<long>(h), all.end());
            if (f.hdr[0] & 1) {  // NEEDS_CSUM: the device completes the checksum (CSUM)
                if (!negotiated(kNetCsum)) violation("NEEDS_CSUM without CSUM negotiated");
                const uint16_t start = rd16(f.hdr.data() + 6), off = rd16(f.hdr.data() + 8);
                if (start + off + 2u > f.data.size()) {
                    violation("checksum offsets outside the frame");
                } else {
                    uint32_t s = 0;
                    for (size_t i = start; i + 1 < f.data.size(); i += 2) s += f.data[i] << 8 | f.data[i + 1];
                    if ((f.data.size() - start) & 1) s += f.data.back() << 8;
                    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
                    const uint16_t c = static_cast<uint16_t>(~s);
                    f.data[start + off] = static_cast<uint8_t>(c >> 8);
                    f.data[start + off + 1] = static_cast<uint8_t>(c);
                }
            }
        }
        sent.push_back(std::move(f));
        x.held.insert(head);
        push_used(1, head, 0);
        ++n;
    }
    return n;
}

void NetModel::push_used_raw(uint16_t qi, uint32_t id, uint32_t len, bool signal) {
    Queue& x = q[qi];
    uint8_t* u = ptr(used_base(qi));
    uint8_t* e = u + 4 + 8 * (x.used_idx % x.size);
    wr32(e, id);
    wr32(e + 4, len);
    const uint16_t old = x.used_idx;
    ++x.used_idx;
    wr16(u + 2, x.used_idx);
    if (signal) signal_used(qi, old);
}

void NetModel::bump_used_idx(uint16_t qi, uint16_t by) {
    Queue& x = q[qi];
    const uint16_t old = x.used_idx;
    x.used_idx = static_cast<uint16_t>(x.used_idx + by);
    wr16(ptr(used_base(qi)) + 2, x.used_idx);
    signal_used(qi, old);
}

void NetModel::config_changed() {
    ++generation;
    isr |= 2;
    ++interrupts_raised;
    if (interrupt) interrupt(kIrqConfig);
}

void NetModel::set_link(bool up) {
    status_field = static_cast<uint16_t>(up ? status_field | 1 : status_field & ~1);
    config_changed();
}

void NetModel::set_needs_reset() {
    status |= kStatusNeedsReset;
    config_changed();
}

// ---------------------------------------------------------------------------------------------------------
// virtio-MMIO front-end

uint64_t MmioFront::mmio_read(uint64_t phys, int width) {
    const uint64_t off = phys - base_;
    if (off >= mmio::kConfig) {
        uint64_t v = 0;
        for (int i = 0; i < width; ++i)
            v |= static_cast<uint64_t>(m_.config_byte(static_cast<uint32_t>(off - mmio::kConfig + i))) << (8 * i);
        return v;
    }
    switch (off) {
    case mmio::kMagic: return mmio::kMagicValue;
    case mmio::kVersion: return version_;
    case mmio::kDeviceId: return device_id;
    case mmio::kVendorId: return 0x554D4551;  // "QEMU"
    case mmio::kDeviceFeatures:
        return dev_sel_ == 0   ? static_cast<uint32_t>(m_.offered)
               : dev_sel_ == 1 ? static_cast<uint32_t>(m_.offered >> 32)
                               : 0;
    case mmio::kQueueNumMax: return queue_sel_ < 2 ? m_.q[queue_sel_].max : 0;
    case mmio::kQueueReady: return queue_sel_ < 2 && m_.q[queue_sel_].ready;
    case mmio::kQueuePfn:
        return queue_sel_ < 2 && m_.q[queue_sel_].ready ? static_cast<uint32_t>(m_.q[queue_sel_].addr.desc >> 12) : 0;
    case mmio::kInterruptStatus: return m_.isr;
    case mmio::kStatus: return m_.status;
    case mmio::kConfigGeneration: return m_.generation;
    default: return 0;
    }
}

void MmioFront::mmio_write(uint64_t phys, uint64_t value, int) {
    const uint64_t off = phys - base_;
    const auto v = static_cast<uint32_t>(value);
    Pending* p = queue_sel_ < 2 ? &pending_[queue_sel_] : nullptr;
    switch (off) {
    case mmio::kDeviceFeaturesSel: dev_sel_ = v; break;
    case mmio::kDriverFeaturesSel: drv_sel_ = v; break;
    case mmio::kDriverFeatures:
        if (drv_sel_ == 0) drv_features_ = (drv_features_ & ~0xFFFFFFFFull) | v;
        if (drv_sel_ == 1) drv_features_ = (drv_features_ & 0xFFFFFFFFull) | static_cast<uint64_t>(v) << 32;
        m_.write_features(drv_features_);
        break;
    case mmio::kGuestPageSize: page_size_ = v; break;
    case mmio::kQueueSel: queue_sel_ = v; break;
    case mmio::kQueueNum:
        if (p) p->num = static_cast<uint16_t>(v);
        break;
    case mmio::kQueueAlign: break;
    case mmio::kQueuePfn:
        if (p && version_ == 1) {
            if (page_size_ != 4096) m_.violations.push_back("QueuePFN before GuestPageSize 4096");
            const uint64_t desc = static_cast<uint64_t>(v) << 12;
            const virtio::QueueLayout l = virtio::queue_layout(p->num, true);
            m_.setup_queue(static_cast<uint16_t>(queue_sel_), p->num, {desc, desc + l.avail, desc + l.used});
        }
        break;
    case mmio::kQueueDescLow:
        if (p) p->desc = (p->desc & ~0xFFFFFFFFull) | v;
        break;
    case mmio::kQueueDescHigh:
        if (p) p->desc = (p->desc & 0xFFFFFFFFull) | static_cast<uint64_t>(v) << 32;
        break;
    case mmio::kQueueDriverLow:
        if (p) p->avail = (p->avail & ~0xFFFFFFFFull) | v;
        break;
    case mmio::kQueueDriverHigh:
        if (p) p->avail = (p->avail & 0xFFFFFFFFull) | static_cast<uint64_t>(v) << 32;
        break;
    case mmio::kQueueDeviceLow:
        if (p) p->used = (p->used & ~0xFFFFFFFFull) | v;
        break;
    case mmio::kQueueDeviceHigh:
        if (p) p->used = (p->used & 0xFFFFFFFFull) | static_cast<uint64_t>(v) << 32;
        break;
    case mmio::kQueueReady:
        if (p && v == 1) m_.setup_queue(static_cast<uint16_t>(queue_sel_), p->num, {p->desc, p->avail, p->used});
        break;
    case mmio::kQueueNotify: m_.notify(static_cast<uint16_t>(v)); break;
    case mmio::kInterruptAck: m_.isr &= ~v; break;
    case mmio::kStatus: m_.set_status(static_cast<uint8_t>(v)); break;
    default: break;
    }
}

bool MmioFront::attach_gsi(uint32_t g, bool level, bool active_low, interrupts::Handler h, void* ctx, uint8_t& vector) {
    gsi = g;
    gsi_level = level;
    gsi_active_low = active_low;
    handler_ = h;
    handler_ctx_ = ctx;
    vector = 0x40;
    // The model's interrupt line: the transport's handler runs as if the interrupt came in (reads and
    // acknowledges InterruptStatus).
    m_.interrupt = [this](uint32_t) {
        interrupts::Frame f{};
        if (handler_) handler_(f, handler_ctx_);
    };
    return true;
}

}  // namespace skerry::virtio::test
