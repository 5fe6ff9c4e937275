// virtio-vsock driver; see virtio_vsock.hpp.
#include "drivers/vsock/virtio_vsock/virtio_vsock.hpp"

#include <stdio.h>
#include <string.h>

#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace skerry::virtio_vsock {
namespace {

using virtio::bit;
using net::vsock::kHeaderSize;

constexpr uint64_t kWanted = bit(virtio::kFeatureEventIdx);
constexpr uint64_t kWatchdogNs = 1000000000ull, kPollNs = 1000000ull;

void* token_of(uint16_t i) { return reinterpret_cast<void*>(static_cast<uintptr_t>(i) + 1); }
uint16_t index_of(void* t) { return static_cast<uint16_t>(reinterpret_cast<uintptr_t>(t) - 1); }

}  // namespace

Driver::~Driver() {
    loop::cancel(timer_);
    loop::cancel_raised(this);
    if (hooked_) {
        loop::remove_poller(on_poller, this);
        loop::remove_iteration_end(on_iteration_end, this);
    }
    if (t_) {
        if (running_) t_->reset();
        t_->detach_interrupts();
    }
    dma::free(rx_mem_);
    dma::free(tx_mem_);
    dma::free(ev_mem_);
}

Driver* Driver::create(virtio::Transport& t, const Options& options) {
    Driver* d = new Driver;
    if (!d->init(t, options)) {
        delete d;
        return nullptr;
    }
    return d;
}

bool Driver::read_cid(uint64_t& out) {
    for (int attempt = 0; attempt < 8; ++attempt) {
        const uint32_t gen = t_->config_generation();
        const uint64_t lo = t_->config32(0), hi = t_->config32(4);
        if (t_->config_generation() != gen) continue;
        out = lo | hi << 32;
        // 0, 1 and 2 name the hypervisor, the local host and the host; all ones is VMADDR_CID_ANY.
        return out >= 3 && out < 0xFFFFFFFFull;
    }
    return false;
}

bool Driver::setup_queues() {
    const bool legacy = t_->legacy();
    const bool event_idx = features_ & bit(virtio::kFeatureEventIdx);
    const uint16_t rmax = t_->max_queue_size(kRxQueue), tmax = t_->max_queue_size(kTxQueue),
                   emax = t_->max_queue_size(kEventQueue);
    if (rmax < 2 || tmax < 2 || emax < 2) {
        log::error("%s: the device lacks a queue (sizes %u, %u, %u)", name_, rmax, tmax, emax);
        return false;
    }
    const uint16_t rs = virtio::queue_size_for(opt_.rx_ring, rmax, legacy),
                   ts = virtio::queue_size_for(opt_.tx_ring, tmax, legacy),
                   es = virtio::queue_size_for(kEventBuffers, emax, legacy);
    if (!rxq_.create(kRxQueue, rs, event_idx, legacy) || !txq_.create(kTxQueue, ts, event_idx, legacy) ||
        !evq_.create(kEventQueue, es, event_idx, legacy)) {
        log::error("%s: unsupported queue sizes %u/%u/%u or out of DMA memory", name_, rs, ts, es);
        return false;
    }
    if (!dma::alloc(static_cast<size_t>(rs) * kBufferSize, rx_mem_) ||
        !dma::alloc(static_cast<size_t>(ts) * kBufferSize, tx_mem_) ||
        !dma::alloc(8 * static_cast<size_t>(es), ev_mem_)) {
        log::error("%s: out of DMA memory for buffers", name_);
        return false;
    }
    if (!t_->setup_queue(kRxQueue, rs, rxq_.addresses()) || !t_->setup_queue(kTxQueue, ts, txq_.addresses()) ||
        !t_->setup_queue(kEventQueue, es, evq_.addresses())) {
        log::error("%s: the device refused the queue set-up", name_);
        return false;
    }
    tx_free_count_ = 0;
    for (uint16_t i = ts; i > 0; --i) tx_free_[tx_free_count_++] = static_cast<uint16_t>(i - 1);
    return true;
}

bool Driver::init(virtio::Transport& t, const Options& options) {
    t_ = &t;
    opt_ = options;
    const char* loc = t.location();
    if (strncmp(loc, "pci ", 4) == 0) loc += 4;
    snprintf(name_, sizeof name_, "virtio-vsock %s (%s)", loc, t.kind());
    if (t.device_type() != virtio::kTypeVsock) return false;
    if (!virtio::initialise(t, kWanted, features_, name_)) return false;
    if (!read_cid(cid_)) {
        log::error("%s: the device's guest CID %llu is not a guest CID", name_, static_cast<unsigned long long>(cid_));
        t.set_status(static_cast<uint8_t>(t.status() | virtio::kStatusFailed));
        return false;
    }
    interrupts_on_ = opt_.use_interrupts && t.attach_interrupts(3, on_irq, this);
    if (!setup_queues()) {
        t.set_status(static_cast<uint8_t>(t.status() | virtio::kStatusFailed));
        return false;
    }
    if (!loop::add_poller(on_poller, this)) return false;
    if (!loop::add_iteration_end(on_iteration_end, this)) {
        loop::remove_poller(on_poller, this);
        return false;
    }
    hooked_ = true;
    t.set_status(static_cast<uint8_t>(t.status() | virtio::kStatusDriverOk));
    running_ = true;
    engine_.set_max_payload(kBufferSize - static_cast<uint32_t>(kHeaderSize));
    refill_rx();
    refill_events();
    if (interrupts_on_) {
        (void)rxq_.enable_interrupts();
        (void)evq_.enable_interrupts();
    } else {
        rxq_.disable_interrupts();
        evq_.disable_interrupts();
        txq_.disable_interrupts();
    }
    flush();
    loop::arm_in(timer_, interrupts_on_ ? kWatchdogNs : kPollNs, on_timer, this);
    log::info("%s: guest CID %llu, queues rx %u tx %u, interrupts %s", name_, static_cast<unsigned long long>(cid_),
              rxq_.size(), txq_.size(), t.interrupt_mode());
    return true;
}

// At start: every receive buffer to the device. Afterwards each goes back on its own right after its packet is handed
// to the engine (which copies the payload).
void Driver::refill_rx() {
    for (uint16_t i = 0; i < rxq_.size(); ++i) {
        const virtio::Virtqueue::Buffer b{rx_mem_.phys + static_cast<uint64_t>(i) * kBufferSize, kBufferSize};
        if (rxq_.add(&b, 1, 0, token_of(i)) == virtio::Virtqueue::kNoHead) break;
    }
    rxq_.publish();
    rx_dirty_ = true;
}

void Driver::refill_events() {
    for (uint16_t i = 0; i < evq_.size(); ++i) {
        const virtio::Virtqueue::Buffer b{ev_mem_.phys + 8ull * i, 8};
        if (evq_.add(&b, 1, 0, token_of(i)) == virtio::Virtqueue::kNoHead) break;
    }
    evq_.publish();
    ev_dirty_ = true;
}

bool Driver::send(const net::vsock::Header& h, const uint8_t* payload, uint32_t len) {
    if (!running_) return false;
    if (len > kBufferSize - kHeaderSize) {  // the engine cuts packets to fit: cannot happen
        ++ctr_.device_errors;
        return true;
    }
    if (tx_free_count_ == 0) (void)reclaim_tx();
    if (tx_free_count_ == 0) {
        ++ctr_.tx_no_room;
        tx_waiting_ = true;
        return false;
    }
    const uint16_t slot = tx_free_[--tx_free_count_];
    auto* p = static_cast<uint8_t*>(tx_mem_.virt) + static_cast<size_t>(slot) * kBufferSize;
    net::vsock::encode(h, p);
    if (len) memcpy(p + kHeaderSize, payload, len);
    const virtio::Virtqueue::Buffer b{tx_mem_.phys + static_cast<uint64_t>(slot) * kBufferSize,
                                      static_cast<uint32_t>(kHeaderSize + len)};
    if (txq_.add(&b, 1, 1, token_of(slot)) == virtio::Virtqueue::kNoHead) {
        tx_free_[tx_free_count_++] = slot;
        tx_waiting_ = true;
        return false;
    }
    txq_.publish();
    tx_dirty_ = true;
    ++ctr_.tx_packets;
    return true;
}

size_t Driver::reclaim_tx() {
    size_t n = 0;
    void* token;
    uint32_t len;
    while (txq_.pop_used(token, len)) {
        const uint16_t slot = index_of(token);
        if (slot < txq_.size() && tx_free_count_ < txq_.size()) tx_free_[tx_free_count_++] = slot;
        ++n;
    }
    return n;
}

bool Driver::flush() {
    if (!running_) return false;
    bool did = false;
    // The engine waits for a free transmit slot: interrupt when everything in flight is sent (whether or not anything
    // new went out in this iteration), or poll at once if that already happened.
    if (tx_waiting_ && interrupts_on_) {
        const uint16_t in_flight = txq_.in_flight();
        if (in_flight == 0 || !txq_.enable_interrupts_after(in_flight)) polling_ = true;
    }
    if (tx_dirty_) {
        tx_dirty_ = false;
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
    if (ev_dirty_) {
        ev_dirty_ = false;
        if (evq_.kick_needed()) {
            t_->notify(kEventQueue);
            did = true;
        }
    }
    return did;
}

// A pass: reclaim transmit slots, take received packets (up to the budget) and events, then hand them to the engine.
size_t Driver::poll(size_t budget) {
    if (!running_) return 0;
    (void)reclaim_tx();
    if (rxq_.broken() || txq_.broken() || evq_.broken()) {
        // A device whose used index ran wild: reset it; every connection ends (as on TRANSPORT_RESET).
        log::warn("%s: the device's used index ran beyond what it was given; resetting it", name_);
        ++ctr_.device_errors;
        running_ = false;
        t_->reset();
        engine_.transport_reset();
        return 0;
    }
    struct Got {
        uint16_t index;
        uint32_t len;
    } got[kBudget];
    size_t n = 0;
    void* token;
    uint32_t len;
    while (n < budget && n < kBudget && rxq_.pop_used(token, len)) got[n++] = {index_of(token), len};
    bool reset = false;
    while (evq_.pop_used(token, len)) {
        const uint16_t i = index_of(token);
        ++ctr_.events;
        uint32_t id = 0xFFFFFFFF;
        if (i < evq_.size() && len >= 4) memcpy(&id, static_cast<uint8_t*>(ev_mem_.virt) + 8ull * i, 4);
        if (id == kEventTransportReset) {
            reset = true;
        } else {
            ++ctr_.bad_events;
        }
        if (i < evq_.size()) {
            const virtio::Virtqueue::Buffer b{ev_mem_.phys + 8ull * i, 8};
            (void)evq_.add(&b, 1, 0, token_of(i));
            evq_.publish();
            ev_dirty_ = true;
        }
    }
    // Delivery.
    if (reset) {
        ++ctr_.transport_resets;
        uint64_t cid = cid_;
        if (read_cid(cid)) {
            if (cid != cid_)
                log::info("%s: transport reset: guest CID %llu (was %llu)", name_, static_cast<unsigned long long>(cid),
                          static_cast<unsigned long long>(cid_));
            cid_ = cid;
        }
        log::info("%s: transport reset: every connection ends", name_);
        engine_.transport_reset();
    }
    for (size_t k = 0; k < n; ++k) {
        const uint16_t i = got[k].index;
        if (i >= rxq_.size()) {
            ++ctr_.device_errors;
            continue;
        }
        const auto* p = static_cast<const uint8_t*>(rx_mem_.virt) + static_cast<size_t>(i) * kBufferSize;
        const uint32_t used = got[k].len;
        if (used >= kHeaderSize && used <= kBufferSize) {
            const net::vsock::Header h = net::vsock::decode(p);
            if (h.len <= used - kHeaderSize) {
                ++ctr_.rx_packets;
                engine_.receive(h, p + kHeaderSize, h.len);
            } else {
                ++ctr_.rx_bad;
            }
        } else {
            ++ctr_.rx_bad;
        }
        const virtio::Virtqueue::Buffer b{rx_mem_.phys + static_cast<uint64_t>(i) * kBufferSize, kBufferSize};
        (void)rxq_.add(&b, 1, 0, token_of(i));
    }
    if (n) {
        rxq_.publish();
        rx_dirty_ = true;
    }
    if (tx_waiting_ && tx_free_count_ > 0) {
        tx_waiting_ = false;
        engine_.device_ready();
    }
    const uint64_t now = time::now_ns();
    if (n) linger_until_ = now + opt_.linger_ns;
    bool keep = n >= budget || now < linger_until_;
    if (interrupts_on_ && !keep) {
        keep = !rxq_.enable_interrupts();
        if (!evq_.enable_interrupts()) keep = true;
    } else if (keep) {
        rxq_.disable_interrupts();
    }
    polling_ = keep || tx_waiting_;
    return n;
}

void Driver::handle_irq(uint32_t sources) {
    ++ctr_.interrupts;
    __atomic_fetch_or(&pending_, sources, __ATOMIC_RELAXED);
    if (!__atomic_exchange_n(&work_queued_, true, __ATOMIC_ACQ_REL)) {
        if (!loop::raise(on_work, this)) __atomic_store_n(&work_queued_, false, __ATOMIC_RELEASE);
    }
}

void Driver::run_work() {
    __atomic_store_n(&work_queued_, false, __ATOMIC_RELEASE);
    const uint32_t sources = __atomic_exchange_n(&pending_, 0u, __ATOMIC_ACQ_REL);
    if (!running_) return;
    if ((sources & virtio::kIrqConfig) && (t_->status() & virtio::kStatusNeedsReset)) {
        log::warn("%s: the device needs a reset (NEEDS_RESET); vsock stays down until the next boot", name_);
        ++ctr_.device_errors;
        running_ = false;
        t_->reset();
        engine_.transport_reset();
        return;
    }
    poll(kBudget);
}

void Driver::on_irq(void* context, uint32_t sources) { static_cast<Driver*>(context)->handle_irq(sources); }
void Driver::on_work(void* context) { static_cast<Driver*>(context)->run_work(); }
bool Driver::on_iteration_end(void* context) { return static_cast<Driver*>(context)->flush(); }

bool Driver::on_poller(void* context) {
    Driver* d = static_cast<Driver*>(context);
    if (!d->running_ || !d->polling_) return false;
    d->poll(kBudget);
    return true;
}

void Driver::on_timer(void* context) {
    Driver* d = static_cast<Driver*>(context);
    if (!d->running_) return;
    if (!d->interrupts_on_) {
        (void)d->t_->read_isr();
        d->poll(kBudget);
        loop::arm_in(d->timer_, kPollNs, on_timer, d);
        return;
    }
    if (d->t_->status() & virtio::kStatusNeedsReset) {
        d->pending_ |= virtio::kIrqConfig;
        d->run_work();
        return;
    }
    loop::arm_in(d->timer_, kWatchdogNs, on_timer, d);
}

}  // namespace skerry::virtio_vsock
