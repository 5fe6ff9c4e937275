// Intel PRO/1000 (8254x, 82574L) driver; see e1000.hpp.
#include "drivers/nic/e1000/e1000.hpp"

#include <stdio.h>
#include <string.h>

#include "hw/hw.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"

namespace skerry::e1000 {
namespace {

constexpr ModelInfo kModels[] = {
    {0x100E, "82540EM", Family::I8254x, false},                                              // QEMU `e1000`
    {0x1015, "82540EM", Family::I8254x, false},                                              // LOM
    {0x1016, "82540EP", Family::I8254x, false},                                              // LOM
    {0x1017, "82540EP", Family::I8254x, false}, {0x101E, "82540EP", Family::I8254x, false},  // low profile
    {0x100F, "82545EM", Family::I8254x, false},                                              // copper; VMware's e1000
    {0x1026, "82545GM", Family::I8254x, false},                                              // copper
    {0x1010, "82546EB", Family::I8254x, true},                                               // copper, two ports
    {0x1079, "82546GB", Family::I8254x, true},                                               // copper, two ports
    {0x1008, "82544EI", Family::I82544, false},                                              // copper
    {0x100C, "82544GC", Family::I82544, false},  // copper; QEMU `e1000-82544gc`
    {0x100D, "82544GC", Family::I82544, false},  // LOM
    {0x10D3, "82574L", Family::I82574, false},   // QEMU/VMware `e1000e`
};

constexpr uint32_t kEnabledCauses = reg::kIntRxt0 | reg::kIntRxo | reg::kIntRxdmt0 | reg::kIntLsc | reg::kIntTxdw;
constexpr uint32_t kRxErrorsFatal = kRxErrCe | kRxErrSe | kRxErrSeq | kRxErrCxe | kRxErrRxe;
constexpr uint32_t kTctlCt = 0x0F, kColdFull = 0x40, kColdHalf = 0x200;
constexpr uint32_t kTipg8254x = 10 | (8u << 10) | (6u << 20), kTipg82574 = 8 | (8u << 10) | (6u << 20);
constexpr uint64_t kWatchdogNs = 1000000000ull, kPollNs = 1000000ull;
constexpr int kStallTicks = 3;

uint16_t ring_next(uint16_t i, uint16_t size) { return static_cast<uint16_t>(i + 1 == size ? 0 : i + 1); }

bool valid_unicast(const uint8_t m[6]) {
    bool zero = true, ones = true;
    for (int i = 0; i < 6; ++i) {
        zero = zero && m[i] == 0;
        ones = ones && m[i] == 0xFF;
    }
    return !zero && !ones && !(m[0] & 1);
}

bool ring_size_ok(uint16_t n) { return n >= 8 && n <= Driver::kMaxRing && n % 8 == 0; }

// The byte at `off` of a frame given as segments; false past the end.
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

uint64_t phys_of(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

}  // namespace

const ModelInfo* find_model(uint16_t vendor, uint16_t device_id) {
    if (vendor != 0x8086) return nullptr;
    for (const ModelInfo& m : kModels) {
        if (m.device_id == device_id) return &m;
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------------------------
// Register access and bring-up

uint32_t Driver::rd(uint32_t off) const { return hw::mmio_read32(regs_ + off); }
void Driver::wr(uint32_t off, uint32_t v) const { hw::mmio_write32(regs_ + off, v); }

void Driver::delay(uint64_t us) const { env_->delay_us(us); }

Driver::~Driver() {
    loop::cancel(timer_);
    loop::cancel_raised(this);
    if (hooked_) {
        loop::remove_poller(on_poller, this);
        loop::remove_iteration_end(on_iteration_end, this);
    }
    if (irq_.kind != pci::IrqKind::None) env_->detach_irq(dev_, irq_);
    if (state_ != State::Off) {
        wr(reg::kImc, ~0u);
        wr(reg::kRctl, 0);
        wr(reg::kTctl, reg::kTctlPsp);
        (void)rd(reg::kStatus);
    }
    free_memory();
}

Driver* Driver::create(const pci::Device& dev, pci::Env& env, const Options& options) {
    Driver* d = new Driver;  // the kernel heap (out of memory at boot is a panic there)
    if (!d->init(dev, env, options)) {
        delete d;
        return nullptr;
    }
    return d;
}

bool Driver::map_registers() {
    const pci::Bar& bar = dev_.bars[0];
    if (!bar.is_mem() || bar.address == 0) {
        log::error("%s: BAR0 is not a memory BAR", prefix_);
        return false;
    }
    if (!env_->map_mmio(bar.address, bar.size ? bar.size : 0x20000)) {
        log::error("%s: cannot map BAR0 at 0x%llx", prefix_, static_cast<unsigned long long>(bar.address));
        return false;
    }
    regs_ = bar.address;
    return true;
}

bool Driver::init(const pci::Device& dev, pci::Env& env, const Options& options) {
    if (state_ != State::Off) return false;
    dev_ = dev;
    env_ = &env;
    if (dev.segment) {
        snprintf(prefix_, sizeof prefix_, "e1000 %04x:%02x:%02x.%x", dev.segment, dev.bus, dev.dev, dev.fn);
    } else {
        snprintf(prefix_, sizeof prefix_, "e1000 %02x:%02x.%x", dev.bus, dev.dev, dev.fn);
    }
    model_ = find_model(dev.vendor, dev.device);
    if (!model_) {
        log::error("%s: %04x:%04x is not a supported device", prefix_, dev.vendor, dev.device);
        return false;
    }
    snprintf(name_, sizeof name_, "%s (%s)", prefix_, model_->name);
    opt_ = options;
    if (!opt_.rx_buffers) opt_.rx_buffers = static_cast<uint16_t>(2 * opt_.rx_ring);
    if (opt_.rx_buffers > kMaxRxBuffers) opt_.rx_buffers = kMaxRxBuffers;
    if (!opt_.poll_budget) opt_.poll_budget = 64;
    if (opt_.poll_budget > kMaxBudget) opt_.poll_budget = kMaxBudget;
    if (!ring_size_ok(opt_.rx_ring) || !ring_size_ok(opt_.tx_ring) || opt_.rx_buffers < 8) {
        log::error("%s: bad ring sizes (rx %u, tx %u, buffers %u)", prefix_, opt_.rx_ring, opt_.tx_ring,
                   opt_.rx_buffers);
        return false;
    }
    if (!map_registers()) return false;
    dev_.enable(true, false);  // memory decode and bus mastering (interrupt attach may turn INTx off)
    if (!reset_device()) return false;
    if (!read_mac()) return false;
    accumulate_stats();  // the registers clear on read: start from zero
    stats_ = DeviceStats{};
    state_ = State::Ready;
    return true;
}

bool Driver::reset_device() {
    // Quiesce: no interrupts, receive and transmit off, let outstanding DMA finish.
    wr(reg::kImc, ~0u);
    wr(reg::kRctl, 0);
    wr(reg::kTctl, reg::kTctlPsp);
    (void)rd(reg::kStatus);
    delay(10000);

    wr(reg::kCtrl, rd(reg::kCtrl) | reg::kCtrlRst);
    delay(model_->family == Family::I82574 ? 20000 : 5000);
    int waited = 0;
    while ((rd(reg::kCtrl) & reg::kCtrlRst) && waited < 1000) {
        delay(100);
        ++waited;
    }
    if (rd(reg::kCtrl) & reg::kCtrlRst) {
        log::error("%s: the device does not come out of reset", prefix_);
        return false;
    }
    if (model_->family == Family::I82574) {
        // The EEPROM auto-read after reset (addresses, configuration); QEMU may not model the bit.
        for (int i = 0; i < 100 && !(rd(reg::kEecd) & reg::kEecdAutoRd); ++i) delay(100);
    }
    wr(reg::kImc, ~0u);
    (void)rd(reg::kIcr);

    // Link: let the MAC follow the PHY's auto-negotiation; no forced speed/duplex, no flow control.
    uint32_t ctrl = rd(reg::kCtrl);
    ctrl |= reg::kCtrlSlu;
    if (model_->family != Family::I82574) ctrl |= reg::kCtrlAsde;
    ctrl &= ~(reg::kCtrlLrst | reg::kCtrlPhyRst | reg::kCtrlIlos | reg::kCtrlFrcspd | reg::kCtrlFrcdplx |
              reg::kCtrlVme | reg::kCtrlRfce | reg::kCtrlTfce);
    wr(reg::kCtrl, ctrl);
    wr(reg::kFcal, 0);
    wr(reg::kFcah, 0);
    wr(reg::kFct, 0);
    wr(reg::kFcttv, 0);
    tx_ctx_.valid = false;
    return true;
}

bool Driver::read_eeprom(uint8_t word, uint16_t& out) const {
    uint32_t done, shift;
    switch (model_->family) {
    case Family::I8254x: done = reg::kEerdDone8254x, shift = reg::kEerdAddrShift8254x; break;
    case Family::I82574: done = reg::kEerdDone82574, shift = reg::kEerdAddrShift82574; break;
    default: return false;  // 82544: no EERD
    }
    wr(reg::kEerd, (static_cast<uint32_t>(word) << shift) | reg::kEerdStart);
    for (int i = 0; i < 2000; ++i) {
        const uint32_t v = rd(reg::kEerd);
        if (v & done) {
            out = static_cast<uint16_t>(v >> reg::kEerdDataShift);
            return true;
        }
        delay(5);
    }
    return false;
}

bool Driver::read_mac() {
    const uint32_t ral = rd(reg::kRal0), rah = rd(reg::kRah0);
    if (rah & reg::kRahAv) {
        for (int i = 0; i < 4; ++i) mac_[i] = static_cast<uint8_t>(ral >> (8 * i));
        mac_[4] = static_cast<uint8_t>(rah);
        mac_[5] = static_cast<uint8_t>(rah >> 8);
        if (valid_unicast(mac_)) return true;
    }
    // Words 0-2 of the EEPROM, low byte first.
    for (uint8_t w = 0; w < 3; ++w) {
        uint16_t v;
        if (!read_eeprom(w, v)) {
            log::error("%s: no valid address in RAL0/RAH0 and the EEPROM does not answer", prefix_);
            return false;
        }
        mac_[2 * w] = static_cast<uint8_t>(v);
        mac_[2 * w + 1] = static_cast<uint8_t>(v >> 8);
    }
    if (model_->dual_port && (dev_.fn & 1)) mac_[5] ^= 1;
    if (!valid_unicast(mac_)) {
        log::error("%s: the EEPROM holds no valid address (%02x:%02x:%02x:%02x:%02x:%02x)", prefix_, mac_[0], mac_[1],
                   mac_[2], mac_[3], mac_[4], mac_[5]);
        return false;
    }
    return true;
}

// Receive address 0 = our MAC, the other exact-match entries off, the multicast table from mta_.
void Driver::program_filters() {
    const uint32_t entries = model_->family == Family::I82574 ? 5 : 16;
    for (uint32_t i = 1; i < entries; ++i) {
        wr(reg::kRah0 + 8 * i, 0);
        wr(reg::kRal0 + 8 * i, 0);
    }
    wr(reg::kRal0, static_cast<uint32_t>(mac_[0]) | (static_cast<uint32_t>(mac_[1]) << 8) |
                       (static_cast<uint32_t>(mac_[2]) << 16) | (static_cast<uint32_t>(mac_[3]) << 24));
    wr(reg::kRah0, static_cast<uint32_t>(mac_[4]) | (static_cast<uint32_t>(mac_[5]) << 8) | reg::kRahAv);
    for (uint32_t w = 0; w < reg::kMtaWords; ++w) write_mta(w);
}

void Driver::write_mta(uint32_t word) {
    wr(reg::kMta + 4 * word, mta_[word]);
    // 82544: a write to an odd MTA register can disturb the even one before it; write that one again.
    if (model_->family == Family::I82544 && (word & 1)) wr(reg::kMta + 4 * (word - 1), mta_[word - 1]);
}

bool Driver::alloc_memory() {
    if (!dma::alloc(opt_.rx_ring * sizeof(RxDesc), rx_ring_mem_) ||
        !dma::alloc(opt_.tx_ring * sizeof(TxDesc), tx_ring_mem_)) {
        free_memory();
        return false;
    }
    rx_ = static_cast<volatile RxDesc*>(rx_ring_mem_.virt);
    tx_ = static_cast<volatile TxDesc*>(tx_ring_mem_.virt);
    rx_ring_size_ = opt_.rx_ring;
    tx_ring_size_ = opt_.tx_ring;
    const size_t chunks = (opt_.rx_buffers + kBuffersPerChunk - 1) / kBuffersPerChunk;
    for (chunk_count_ = 0; chunk_count_ < chunks; ++chunk_count_) {
        if (!dma::alloc(kChunkBytes, chunks_[chunk_count_])) break;
    }
    if (chunk_count_ == 0) {
        free_memory();
        return false;
    }
    // Fewer chunks than asked for: a smaller pool still works.
    const size_t have = chunk_count_ * kBuffersPerChunk;
    buffer_count_ = static_cast<uint16_t>(have < opt_.rx_buffers ? have : opt_.rx_buffers);
    free_count_ = 0;
    for (uint16_t i = buffer_count_; i > 0; --i) {
        buf_state_[i - 1] = BufState::Free;
        free_list_[free_count_++] = static_cast<uint16_t>(i - 1);
    }
    return true;
}

void Driver::free_memory() {
    for (size_t i = 0; i < chunk_count_; ++i) dma::free(chunks_[i]);
    chunk_count_ = 0;
    buffer_count_ = 0;
    free_count_ = 0;
    dma::free(rx_ring_mem_);
    dma::free(tx_ring_mem_);
    rx_ = nullptr;
    tx_ = nullptr;
}

// Rings from scratch (after a reset): receive ring filled from the pool, transmit ring empty.
void Driver::program_rings() {
    for (uint16_t i = 0; i < rx_ring_size_; ++i) {
        rx_[i].addr = 0;
        rx_[i].status = 0;
    }
    for (uint16_t i = 0; i < tx_ring_size_; ++i) {
        tx_[i].addr = 0;
        tx_[i].lower = 0;
        tx_[i].upper = 0;
        tx_ndesc_[i] = 0;
        tx_cookie_[i] = nullptr;
    }
    rx_next_ = rx_tail_ = rx_filled_ = 0;
    rx_discarding_ = false;
    tx_tail_ = tx_clean_ = tx_used_ = 0;
    tx_ctx_.valid = false;
    wd_tx_stalls_ = 0;
    wd_tx_pending_ = false;
    tctl_half_duplex_ = false;

    wr(reg::kRdbal, static_cast<uint32_t>(rx_ring_mem_.phys));
    wr(reg::kRdbah, static_cast<uint32_t>(rx_ring_mem_.phys >> 32));
    wr(reg::kRdlen, rx_ring_size_ * static_cast<uint32_t>(sizeof(RxDesc)));
    wr(reg::kRdh, 0);
    wr(reg::kRdt, 0);
    wr(reg::kRdtr, 0);  // no receive delay timer: ITR does the moderation
    wr(reg::kRadv, 0);
    wr(reg::kRxcsum, reg::kRxcsumIpofl | reg::kRxcsumTuofl);
    refill();
    // 2048-byte buffers (BSIZE 0, BSEX 0), broadcast accepted, CRC stripped, no promiscuous modes, no long
    // frames, minimum-threshold interrupt at half the ring, multicast offset 0 (bits 47:36).
    wr(reg::kRctl, reg::kRctlEn | reg::kRctlBam | reg::kRctlSecrc);

    wr(reg::kTdbal, static_cast<uint32_t>(tx_ring_mem_.phys));
    wr(reg::kTdbah, static_cast<uint32_t>(tx_ring_mem_.phys >> 32));
    wr(reg::kTdlen, tx_ring_size_ * static_cast<uint32_t>(sizeof(TxDesc)));
    wr(reg::kTdh, 0);
    wr(reg::kTdt, 0);
    wr(reg::kTidv, 0);
    wr(reg::kTadv, 0);
    wr(reg::kTipg, model_->family == Family::I82574 ? kTipg82574 : kTipg8254x);
    uint32_t tctl = reg::kTctlEn | reg::kTctlPsp | (kTctlCt << reg::kTctlCtShift) | (kColdFull << reg::kTctlColdShift);
    if (model_->family == Family::I82574) tctl |= reg::kTctlRtlc;
    wr(reg::kTctl, tctl);
}

void Driver::enable_device() {
    // ITR counts 256 ns units between interrupts.
    const uint32_t itr = opt_.itr_per_sec ? static_cast<uint32_t>(1000000000ull / (256ull * opt_.itr_per_sec)) : 0;
    wr(reg::kItr, itr);
    (void)rd(reg::kIcr);
    if (interrupts_on_) wr(reg::kIms, kEnabledCauses);
}

bool Driver::start(net::NicClient& client) {
    if (state_ != State::Ready) return false;
    if (!alloc_memory()) {
        log::error("%s: out of DMA memory for the rings and buffers", prefix_);
        return false;
    }
    if (!hooked_) {
        if (!loop::add_poller(on_poller, this)) {
            free_memory();
            return false;
        }
        if (!loop::add_iteration_end(on_iteration_end, this)) {
            loop::remove_poller(on_poller, this);
            free_memory();
            return false;
        }
        hooked_ = true;
    }
    client_ = &client;
    state_ = State::Running;
    accumulate_stats();  // the device's counters count from here
    stats_ = DeviceStats{};
    program_filters();
    program_rings();
    // MSI on the 82574 (MSI-X would need IVAR/EIAC set up); the 8254x stay on INTx, as other drivers for
    // them do (the PCI-X parts' MSI is not something to try first on a hypervisor's model).
    const uint8_t allow = model_->family == Family::I82574 ? pci::kAllowMsi | pci::kAllowIntx : pci::kAllowIntx;
    if (opt_.use_interrupts && env_->attach_irq(dev_, on_interrupt, this, irq_, allow)) interrupts_on_ = true;
    loop::arm_in(timer_, interrupts_on_ ? kWatchdogNs : kPollNs, on_timer, this);
    enable_device();
    update_link(true);
    log_summary();
    if (link_up_) client_->link_changed(true);
    return true;
}

void Driver::log_summary() {
    char irq[32];
    switch (irq_.kind) {
    case pci::IrqKind::Msi: snprintf(irq, sizeof irq, "MSI"); break;
    case pci::IrqKind::Msix: snprintf(irq, sizeof irq, "MSI-X"); break;
    case pci::IrqKind::Intx: snprintf(irq, sizeof irq, "INTx GSI %u", static_cast<unsigned>(irq_.gsi)); break;
    default: snprintf(irq, sizeof irq, interrupts_on_ ? "interrupts" : "polled"); break;
    }
    char link[32];
    if (link_up_) {
        snprintf(link, sizeof link, "link up %u Mbit/s", static_cast<unsigned>(speed_));
    } else {
        snprintf(link, sizeof link, "link down");
    }
    log::info("%s: %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, %s, %s, %u receive descriptors", prefix_, model_->name,
              mac_[0], mac_[1], mac_[2], mac_[3], mac_[4], mac_[5], irq, link, static_cast<unsigned>(rx_ring_size_));
}

uint32_t Driver::offloads() const {
    return net::kOffloadTxIpv4Checksum | net::kOffloadTxTcpUdpChecksum | net::kOffloadTxTcp6UdpChecksum |
           net::kOffloadRxChecksum;
}

// ---------------------------------------------------------------------------------------------------------
// Link, interrupts, watchdog, recovery

// Reads the link state; a change is logged, counted and told to the client in the next delivery (not the
// initial read at start, which start() reports itself).
void Driver::update_link(bool initial) {
    const uint32_t status = rd(reg::kStatus);
    const bool up = status & reg::kStatusLu;
    const uint32_t code = (status & reg::kStatusSpeedMask) >> reg::kStatusSpeedShift;
    const uint32_t speed = code == 0 ? 10 : code == 1 ? 100 : 1000;
    const bool fd = status & reg::kStatusFd;
    const bool changed = up != link_up_;
    if (up && !fd != tctl_half_duplex_) {
        // Collision distance: 64 byte times full duplex, 512 half.
        uint32_t tctl = rd(reg::kTctl) & ~reg::kTctlColdMask;
        tctl |= (fd ? kColdFull : kColdHalf) << reg::kTctlColdShift;
        wr(reg::kTctl, tctl);
        tctl_half_duplex_ = !fd;
    }
    link_up_ = up;
    speed_ = up ? speed : 0;
    full_duplex_ = up && fd;
    if (!changed || initial) return;
    ++counters_.link_changes;
    link_report_ = !link_report_;  // two changes before a delivery cancel out
    if (up) {
        log::info("%s: link up %u Mbit/s %s duplex", prefix_, static_cast<unsigned>(speed), fd ? "full" : "half");
    } else {
        log::info("%s: link down", prefix_);
    }
}

uint32_t Driver::read_causes() {
    const uint32_t icr = rd(reg::kIcr);  // reading acknowledges (clears) the causes
    if (icr == 0) return 0;
    if (icr == ~0u) {
        // All ones: the device is gone or wedged. Mask it so a level interrupt cannot storm; the watchdog
        // resets it if it comes back.
        ++counters_.device_errors;
        wr(reg::kImc, ~0u);
        return 0;
    }
    if (model_->family == Family::I82574) wr(reg::kIcr, icr);  // clear-on-read depends on mode: be explicit
    return icr & ~reg::kIntAsserted;
}

void Driver::handle_interrupt() {
    if (state_ == State::Off) return;
    const uint32_t causes = read_causes();
    if (!causes) return;  // a shared line, not ours
    ++counters_.interrupts;
    __atomic_fetch_or(&pending_causes_, causes, __ATOMIC_RELAXED);
    if (!__atomic_exchange_n(&work_queued_, true, __ATOMIC_RELAXED)) schedule_work();
}

void Driver::schedule_work() {
    (void)loop::raise(on_work, this);  // if the queue is full, the poller sees pending_causes_
}

void Driver::run_work() {
    __atomic_store_n(&work_queued_, false, __ATOMIC_RELAXED);
    const uint32_t causes = __atomic_exchange_n(&pending_causes_, 0u, __ATOMIC_RELAXED);
    if (state_ != State::Running) return;
    if (causes & reg::kIntLsc) update_link();
    // Overrun: the device found no descriptor (counted in MPC). Make sure it is not lost in the ring.
    if ((causes & reg::kIntRxo) && rd(reg::kRdh) >= rx_ring_size_) recover("receive head register out of range");
    poll(opt_.poll_budget);
}

void Driver::watchdog() {
    if (state_ != State::Running) return;
    accumulate_stats();
    const uint32_t rdh = rd(reg::kRdh), tdh = rd(reg::kTdh);
    if (rdh >= rx_ring_size_ || tdh >= tx_ring_size_) {
        recover("head register out of range");
    } else {
        if (!interrupts_on_) update_link();
        (void)tx_reclaim();
        // Frames in flight at the last look, link up, and not one completed since: stalled (after a few looks).
        if (wd_tx_pending_ && tx_used_ && link_up_ && tx_completed_ == wd_tx_completed_) {
            if (++wd_tx_stalls_ >= kStallTicks) recover("transmit ring stalled");
        } else {
            wd_tx_stalls_ = 0;
            wd_tx_completed_ = tx_completed_;
            wd_tx_pending_ = tx_used_ > 0;
        }
    }
    poll(opt_.poll_budget);  // a safety net for a lost interrupt, and the delivery of what the above found
}

// A reset from inside a pass's ring work (never during delivery): buffers the device held go back to the pool,
// frames in flight are handed back with tx_done in the delivery that follows.
void Driver::recover(const char* why) {
    log::warn("%s: %s; resetting the device", prefix_, why);
    ++counters_.device_errors;
    ++resets_;
    accumulate_stats();
    const bool ok = reset_device();
    for (uint16_t slot = rx_next_, n = 0; n < rx_filled_; slot = ring_next(slot, rx_ring_size_), ++n) {
        const uint16_t idx = rx_slot_buf_[slot];
        if (idx < buffer_count_ && buf_state_[idx] == BufState::Ring) recycle(idx);
    }
    rx_next_ = rx_tail_ = rx_filled_ = 0;
    tx_drop_all();
    if (!ok) {
        log::error("%s: the reset failed; the device stays off", prefix_);
        state_ = State::Failed;
        return;
    }
    program_filters();
    program_rings();
    enable_device();
    update_link();
}

// An error counter's increase since the last call. The datasheets clear every statistics register on read;
// QEMU's e1000 leaves these ones alone (it clears the traffic counters). A nonzero value is read a second
// time: the same value again means the register keeps counting, and from then on it is read as a running
// total (a smaller value than last time means the device was reset: it counts from zero again).
uint64_t Driver::error_counter(uint32_t off, unsigned slot) const {
    const uint32_t v = rd(off);
    if (cumulative_ & (1u << slot)) {
        const uint32_t last = counter_last_[slot];
        counter_last_[slot] = v;
        return v >= last ? v - last : v;
    }
    if (!v) return 0;
    const uint32_t again = rd(off);
    if (again == v) {
        cumulative_ |= 1u << slot;
        counter_last_[slot] = v;
        return v;
    }
    return static_cast<uint64_t>(v) + again;  // cleared by the first read; `again` counted since
}

void Driver::accumulate_stats() const {
    if (state_ == State::Off) return;
    DeviceStats& s = stats_;
    unsigned slot = 0;
    s.crcerrs += error_counter(reg::kCrcerrs, slot++);
    s.algnerrc += error_counter(reg::kAlgnerrc, slot++);
    s.symerrs += error_counter(reg::kSymerrs, slot++);
    s.rxerrc += error_counter(reg::kRxerrc, slot++);
    s.mpc += error_counter(reg::kMpc, slot++);
    s.ecol += error_counter(reg::kEcol, slot++);
    s.latecol += error_counter(reg::kLatecol, slot++);
    s.colc += error_counter(reg::kColc, slot++);
    s.rlec += error_counter(reg::kRlec, slot++);
    s.rnbc += error_counter(reg::kRnbc, slot++);
    s.ruc += rd(reg::kRuc);
    s.roc += rd(reg::kRoc);
    s.gprc += rd(reg::kGprc);
    s.bprc += rd(reg::kBprc);
    s.mprc += rd(reg::kMprc);
    s.gptc += rd(reg::kGptc);
    s.tpr += rd(reg::kTpr);
    s.tpt += rd(reg::kTpt);
    s.mptc += rd(reg::kMptc);
    s.bptc += rd(reg::kBptc);
    // 64-bit octet counters: low half first, the high read clears both.
    auto pair = [this](uint32_t lo) {
        const uint64_t l = rd(lo);
        return l | (static_cast<uint64_t>(rd(lo + 4)) << 32);
    };
    s.gorc += pair(reg::kGorcl);
    s.gotc += pair(reg::kGotcl);
    s.tor += pair(reg::kTorl);
    s.tot += pair(reg::kTotl);
}

DeviceStats Driver::device_stats() const {
    accumulate_stats();
    return stats_;
}

net::NicCounters Driver::counters() const {
    accumulate_stats();
    net::NicCounters c = counters_;
    c.rx_dropped_no_buffer += stats_.mpc;
    c.rx_dropped_bad_frame += stats_.crcerrs + stats_.algnerrc + stats_.rxerrc + stats_.rlec + stats_.ruc + stats_.roc;
    c.tx_errors += stats_.ecol + stats_.latecol;
    return c;
}

// ---------------------------------------------------------------------------------------------------------
// Receive

void* Driver::buffer_virt(uint16_t index) const {
    return static_cast<uint8_t*>(chunks_[index / kBuffersPerChunk].virt) + (index % kBuffersPerChunk) * kBufferSize;
}

uint64_t Driver::buffer_phys(uint16_t index) const {
    return chunks_[index / kBuffersPerChunk].phys + (index % kBuffersPerChunk) * kBufferSize;
}

bool Driver::buffer_index(const void* p, uint16_t& index) const {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    for (size_t c = 0; c < chunk_count_; ++c) {
        const uintptr_t base = reinterpret_cast<uintptr_t>(chunks_[c].virt);
        if (a < base || a >= base + kChunkBytes) continue;
        if ((a - base) % kBufferSize) return false;
        const size_t i = c * kBuffersPerChunk + (a - base) / kBufferSize;
        if (i >= buffer_count_) return false;
        index = static_cast<uint16_t>(i);
        return true;
    }
    return false;
}

void Driver::recycle(uint16_t index) {
    buf_state_[index] = BufState::Free;
    free_list_[free_count_++] = index;
}

// Gives free buffers to the empty descriptors (keeping one descriptor back, so a full ring never looks empty)
// and tells the device with one tail write.
void Driver::refill() {
    if (!rx_ || state_ != State::Running) return;
    bool gave = false;
    while (rx_filled_ + 1u < rx_ring_size_ && free_count_ > 0) {
        const uint16_t idx = free_list_[--free_count_];
        const uint16_t slot = rx_tail_;
        buf_state_[idx] = BufState::Ring;
        rx_slot_buf_[slot] = idx;
        volatile RxDesc& d = rx_[slot];
        d.addr = buffer_phys(idx);
        d.length = 0;
        d.csum = 0;
        d.errors = 0;
        d.special = 0;
        d.status = 0;
        rx_tail_ = ring_next(slot, rx_ring_size_);
        ++rx_filled_;
        gave = true;
    }
    if (gave) {
        hw::compiler_barrier();  // descriptors are in memory before the device hears of them (x86: stores in order)
        wr(reg::kRdt, rx_tail_);
    }
}

net::RxChecksum Driver::rx_checksum(const uint8_t* frame, uint32_t len, uint8_t status, uint8_t errors) const {
    if (status & kRxStaIxsm) return net::RxChecksum::Unknown;
    const bool ip_checked = status & kRxStaIpcs;
    const bool l4_checked = status & (kRxStaTcpcs | kRxStaUdpcs);
    if ((ip_checked && (errors & kRxErrIpe)) || (l4_checked && (errors & kRxErrTcpe))) return net::RxChecksum::Bad;
    if (!l4_checked || len < 14) return net::RxChecksum::Unknown;
    const uint16_t type = static_cast<uint16_t>((frame[12] << 8) | frame[13]);
    if (type == 0x0800) return ip_checked ? net::RxChecksum::Good : net::RxChecksum::Unknown;
    if (type == 0x86DD) return net::RxChecksum::Good;  // no IP header checksum in IPv6
    return net::RxChecksum::Unknown;
}

// Ring work: takes up to `budget` written-back descriptors off the ring into rx_batch_ (buffers good frames
// are in become the client's), drops bad ones (their buffers go back to the pool). Calls nobody.
size_t Driver::rx_harvest(size_t budget) {
    size_t handled = 0;
    while (handled < budget && rx_filled_ > 0 && rx_batch_count_ < kMaxBudget) {
        const uint16_t slot = rx_next_;
        volatile RxDesc& d = rx_[slot];
        const uint8_t status = d.status;
        if (!(status & kRxStaDd)) break;
        hw::compiler_barrier();  // the rest of the descriptor after DD (x86 keeps loads in order)
        const uint32_t len = d.length;
        const uint8_t errors = d.errors;
        const uint16_t idx = rx_slot_buf_[slot];
        rx_next_ = ring_next(slot, rx_ring_size_);
        --rx_filled_;
        ++handled;
        if (idx >= buffer_count_ || buf_state_[idx] != BufState::Ring) {
            ++counters_.device_errors;  // cannot happen unless our own bookkeeping is broken
            continue;
        }
        if (rx_discarding_) {  // the rest of a frame spread over several descriptors
            if (status & kRxStaEop) rx_discarding_ = false;
            recycle(idx);
            continue;
        }
        if (!(status & kRxStaEop)) {
            // 2 KiB buffers without long-packet mode: a frame never needs two. Drop all of its pieces.
            ++counters_.rx_dropped_bad_frame;
            ++counters_.device_errors;
            rx_discarding_ = true;
            recycle(idx);
            continue;
        }
        if (len == 0 || len > kBufferSize) {
            ++counters_.device_errors;
            ++counters_.rx_dropped_bad_frame;
            recycle(idx);
            continue;
        }
        if ((errors & kRxErrorsFatal) || len < 14 || len > kMaxRxFrame) {
            ++counters_.rx_dropped_bad_frame;
            recycle(idx);
            continue;
        }
        const uint8_t* data = static_cast<const uint8_t*>(buffer_virt(idx));
        buf_state_[idx] = BufState::Client;
        rx_batch_[rx_batch_count_++] = {idx, static_cast<uint16_t>(len), rx_checksum(data, len, status, errors)};
    }
    return handled;
}

void Driver::rx_release(void* buffer) {
    uint16_t idx;
    if (!buffer_index(buffer, idx) || buf_state_[idx] != BufState::Client) {
        log::warn("%s: rx_release of %p, which is not a buffer the client holds", prefix_, buffer);
        return;
    }
    recycle(idx);
    // Refill at once when the ring runs low; otherwise in batches (one tail write for many buffers).
    if (rx_filled_ < rx_ring_size_ / 2 || free_count_ >= 32) refill();
}

// A pass: the ring work, then the delivery. Nothing in the ring work calls the client, and nothing the client
// does during the delivery (transmit, rx_release) walks the rings, so neither needs a re-entry guard.
size_t Driver::poll(size_t budget) {
    if (!client_) return 0;
    size_t tx = 0, rx = 0;
    if (state_ == State::Running) {
        tx = tx_reclaim();
        rx = rx_harvest(budget);
        rx_backlog_ = budget && rx >= budget;
        // A ring running low gets buffers before the delivery; otherwise one refill after it also covers the
        // buffers the client gives back during the delivery: one tail write a pass (each is a trap into the
        // hypervisor's device model).
        if (rx_filled_ < rx_ring_size_ / 2) refill();
    }
    deliver();  // also after a failed reset: the frames that were in flight go back
    refill();
    return rx + tx;
}

// Hands the client what the ring work collected: finished transmits, received frames in ring order, a link
// change, room to transmit again.
void Driver::deliver() {
    const size_t done = tx_done_count_;
    tx_done_count_ = 0;
    for (size_t i = 0; i < done; ++i) client_->tx_done(tx_done_[i]);

    const size_t n = rx_batch_count_;
    rx_batch_count_ = 0;
    for (size_t i = 0; i < n; ++i) {
        const Harvested h = rx_batch_[i];
        void* data = buffer_virt(h.index);
        if (!client_->receive(net::RxFrame{data, h.len, h.checksum, data}) && buf_state_[h.index] == BufState::Client) {
            recycle(h.index);  // refused: the buffer stays ours
        }
    }

    if (link_report_) {
        link_report_ = false;
        client_->link_changed(link_up_);
    }
    // Room for a frame of the most segments (or an empty ring) before telling a blocked client.
    const size_t room = net::kMaxTxSegments + 1 < tx_ring_size_ - 1u ? net::kMaxTxSegments + 1 : tx_ring_size_ - 1u;
    if (tx_blocked_ && state_ == State::Running && tx_free() >= room) {
        tx_blocked_ = false;
        client_->tx_ready();
    }
}

// ---------------------------------------------------------------------------------------------------------
// Transmit

bool Driver::tx_context(const net::TxFrame& f, uint32_t offload, TxContext& ctx, uint32_t& popts) const {
    const uint32_t l3 = f.l3_offset;
    uint8_t vihl, proto;
    if (!frame_byte(f, l3, vihl)) return false;
    uint32_t ipcss = 0, ipcso = 0, ipcse = 0, tucss = 0, tucso = 0, tucmd = 0;
    uint32_t l4;
    bool want_l4;
    popts = 0;
    if ((vihl >> 4) == 4) {
        const uint32_t ihl = (vihl & 0xFu) * 4;
        if (ihl < 20 || l3 + ihl > f.total_len || !frame_byte(f, l3 + 9, proto)) return false;
        l4 = l3 + ihl;
        if (f.l4_offset && f.l4_offset != l4) return false;
        tucmd |= kTxTucmdIp;
        if (offload & net::kOffloadTxIpv4Checksum) {
            ipcss = l3;
            ipcso = l3 + 10;
            ipcse = l4 - 1;
            popts |= kTxPoptsIxsm;
        }
        want_l4 = offload & net::kOffloadTxTcpUdpChecksum;
    } else if ((vihl >> 4) == 6) {
        if (!frame_byte(f, l3 + 6, proto)) return false;
        l4 = f.l4_offset ? f.l4_offset : l3 + 40;
        if (l4 < l3 + 40) return false;
        want_l4 = offload & net::kOffloadTxTcp6UdpChecksum;
    } else {
        return false;
    }
    if (want_l4) {
        if (proto != 6 && proto != 17) return false;
        tucss = l4;
        tucso = l4 + (proto == 6 ? 16 : 6);
        if (tucso + 2 > f.total_len) return false;
        if (proto == 6) tucmd |= kTxTucmdTcp;
        popts |= kTxPoptsTxsm;
    }
    if (!popts) return true;  // nothing the device needs to do (e.g. an IPv4 checksum asked of IPv6)
    // The start and offset fields are 8 bits wide.
    if (ipcso > 255 || tucso > 255) return false;
    ctx.addr = static_cast<uint64_t>(ipcss) | (static_cast<uint64_t>(ipcso) << 8) |
               (static_cast<uint64_t>(ipcse) << 16) | (static_cast<uint64_t>(tucss) << 32) |
               (static_cast<uint64_t>(tucso) << 40);  // TUCSE 0: to the end of the frame
    ctx.lower = kTxCmdDext | kTxDtypContext | tucmd;
    ctx.valid = true;
    return true;
}

net::TxStatus Driver::transmit(const net::TxFrame& f) {
    if (state_ == State::Failed) {  // gone for good: no tx_ready will ever follow (nic.hpp, TxStatus)
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
    size_t segs = 0;
    for (size_t i = 0; !bad && i < f.count; ++i) {
        if (!f.segs[i].len) continue;
        if (!f.segs[i].data || f.segs[i].len > kMaxTxFrame) bad = true;
        total += f.segs[i].len;
        ++segs;
    }
    bad = bad || total != f.total_len || total < 14 || total > kMaxTxFrame;
    TxContext ctx{};
    uint32_t popts = 0;
    const uint32_t offload = f.offload & offloads() & ~net::kOffloadRxChecksum;
    if (!bad && offload && !tx_context(f, offload, ctx, popts)) bad = true;
    if (bad) {
        ++counters_.tx_dropped_bad_frame;
        return net::TxStatus::Dropped;
    }
    const bool new_ctx = popts && !(tx_ctx_.valid && tx_ctx_.addr == ctx.addr && tx_ctx_.lower == ctx.lower);
    const size_t need = segs + (new_ctx ? 1 : 0);
    if (need > tx_free()) (void)tx_reclaim();
    if (need > tx_free()) {
        ++counters_.tx_dropped_ring_full;
        tx_blocked_ = true;
        return net::TxStatus::Full;
    }
    const uint16_t first = tx_tail_;
    uint16_t slot = first;
    if (new_ctx) {
        volatile TxDesc& d = tx_[slot];
        d.addr = ctx.addr;
        d.lower = ctx.lower;
        d.upper = 0;
        tx_ndesc_[slot] = 0;
        slot = ring_next(slot, tx_ring_size_);
        tx_ctx_ = ctx;
    }
    size_t written = 0;
    for (size_t i = 0; i < f.count; ++i) {
        if (!f.segs[i].len) continue;
        const bool last = ++written == segs;
        uint32_t lower = f.segs[i].len | kTxCmdIfcs | (last ? kTxCmdEop | kTxCmdRs : 0);
        uint32_t upper = 0;
        if (popts) {
            // Extended data descriptor. The datasheets read the options from a frame's first descriptor only;
            // QEMU's e1000e takes them from every one (the last wins), so every one carries them.
            lower |= kTxCmdDext | kTxDtypData;
            upper = popts;
        }
        volatile TxDesc& d = tx_[slot];
        d.addr = phys_of(f.segs[i].data);
        d.lower = lower;
        d.upper = upper;
        tx_ndesc_[slot] = 0;
        slot = ring_next(slot, tx_ring_size_);
    }
    tx_ndesc_[first] = static_cast<uint8_t>(need);
    tx_cookie_[first] = f.cookie;
    tx_tail_ = slot;
    tx_used_ = static_cast<uint16_t>(tx_used_ + need);
    return net::TxStatus::Queued;  // the device hears of it from flush_tx at the end of the loop iteration
}

// The tail write makes the device send everything up to it. It waits for the end of the loop iteration, so a
// burst of frames (lwIP sends a window's worth in one go) costs one write: on a hypervisor each write is a trap
// into the device model, and QEMU's e1000 then sends the whole batch and raises one interrupt.
bool Driver::flush_tx() {
    if (state_ != State::Running || tx_tail_ == tdt_written_) return false;
    hw::compiler_barrier();  // descriptors are in memory before the device hears of them (x86: stores in order)
    wr(reg::kTdt, tx_tail_);
    tdt_written_ = tx_tail_;
    return true;
}

// Ring work: frees the descriptors of frames whose last descriptor the device wrote back (RS is set only
// there); their cookies wait in tx_done_ for the delivery. Calls nobody, so transmit() may use it for room.
size_t Driver::tx_reclaim() {
    if (!tx_) return 0;
    size_t done = 0;
    while (tx_used_ > 0 && tx_done_count_ < sizeof tx_done_ / sizeof tx_done_[0]) {
        const uint16_t first = tx_clean_;
        const uint16_t n = tx_ndesc_[first];
        if (n == 0 || n > tx_used_) {
            ++counters_.device_errors;  // our bookkeeping broke: never walk on
            break;
        }
        const uint16_t last = static_cast<uint16_t>((first + n - 1) % tx_ring_size_);
        const uint32_t upper = tx_[last].upper;
        if (!(upper & kTxStaDd)) break;
        if (upper & (kTxStaEc | kTxStaLc)) ++counters_.tx_errors;
        void* cookie = tx_cookie_[first];
        tx_ndesc_[first] = 0;
        tx_cookie_[first] = nullptr;
        tx_clean_ = ring_next(last, tx_ring_size_);
        tx_used_ = static_cast<uint16_t>(tx_used_ - n);
        ++done;
        ++tx_completed_;
        tx_done_[tx_done_count_++] = cookie;
    }
    return done;
}

// After a reset: every frame in flight is dropped (handed back in the next delivery).
void Driver::tx_drop_all() {
    while (tx_used_ > 0 && tx_done_count_ < sizeof tx_done_ / sizeof tx_done_[0]) {
        const uint16_t first = tx_clean_;
        const uint16_t n = tx_ndesc_[first];
        if (n == 0 || n > tx_used_) break;
        void* cookie = tx_cookie_[first];
        tx_ndesc_[first] = 0;
        tx_cookie_[first] = nullptr;
        tx_clean_ = static_cast<uint16_t>((first + n) % tx_ring_size_);
        tx_used_ = static_cast<uint16_t>(tx_used_ - n);
        ++counters_.tx_errors;
        tx_done_[tx_done_count_++] = cookie;
    }
    tx_used_ = 0;
    tx_clean_ = tx_tail_ = tdt_written_ = 0;
}

// ---------------------------------------------------------------------------------------------------------
// Multicast filter: the 4096-bit hash table indexed by address bits 47:36 (RCTL.MO = 0).

uint32_t Driver::mta_index(const uint8_t m[6]) const {
    return ((m[4] >> 4) | (static_cast<uint32_t>(m[5]) << 4)) & 0xFFF;
}

void Driver::mta_set(uint32_t index, bool on) {
    const uint32_t word = index >> 5, bit = 1u << (index & 31);
    mta_[word] = on ? mta_[word] | bit : mta_[word] & ~bit;
    if (state_ != State::Off) write_mta(word);
}

bool Driver::add_multicast(const uint8_t m[6]) {
    if (!(m[0] & 1)) return false;
    Multicast* free_slot = nullptr;
    for (Multicast& e : mcast_) {
        if (e.refs && memcmp(e.mac, m, 6) == 0) {
            if (e.refs == 0xFFFF) return false;
            ++e.refs;
            return true;
        }
        if (!e.refs && !free_slot) free_slot = &e;
    }
    if (!free_slot) return false;
    memcpy(free_slot->mac, m, 6);
    free_slot->refs = 1;
    mta_set(mta_index(m), true);
    return true;
}

bool Driver::remove_multicast(const uint8_t m[6]) {
    for (Multicast& e : mcast_) {
        if (!e.refs || memcmp(e.mac, m, 6) != 0) continue;
        if (--e.refs) return true;
        const uint32_t index = mta_index(m);
        for (const Multicast& o : mcast_) {
            if (o.refs && mta_index(o.mac) == index) return true;  // another group shares the bit
        }
        mta_set(index, false);
        return true;
    }
    return false;
}

// ---------------------------------------------------------------------------------------------------------
// Loop wiring: interrupt handler, raised work, poller, end-of-iteration hook, timer.

void Driver::on_interrupt(interrupts::Frame&, void* context) { static_cast<Driver*>(context)->handle_interrupt(); }

void Driver::on_work(void* context) { static_cast<Driver*>(context)->run_work(); }

bool Driver::on_iteration_end(void* context) { return static_cast<Driver*>(context)->flush_tx(); }

bool Driver::on_poller(void* context) {
    Driver* d = static_cast<Driver*>(context);
    if (d->state_ != State::Running) return false;
    if (!d->rx_backlog_ && !__atomic_load_n(&d->pending_causes_, __ATOMIC_RELAXED)) return false;
    d->run_work();
    return true;
}

void Driver::on_timer(void* context) {
    Driver* d = static_cast<Driver*>(context);
    if (d->state_ != State::Running) return;
    uint64_t period = kWatchdogNs;
    if (!d->interrupts_on_) {
        // Polled: the cause register still says what happened (link changes), even with nothing unmasked.
        const uint32_t causes = d->read_causes();
        __atomic_fetch_or(&d->pending_causes_, causes, __ATOMIC_RELAXED);
        d->run_work();
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

}  // namespace skerry::e1000
