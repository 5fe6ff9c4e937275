// virtio-MMIO transport (see mmio_transport.hpp; docs/protocols/virtio.md §6).
#include "drivers/bus/virtio/mmio_transport.hpp"

#include <stdio.h>

#include "hw/hw.hpp"
#include "kernel/log.hpp"

namespace skerry::virtio {

uint32_t MmioTransport::rd(uint32_t off) const { return hw::mmio_read32(base_ + off); }
void MmioTransport::wr(uint32_t off, uint32_t v) const { hw::mmio_write32(base_ + off, v); }

MmioTransport::~MmioTransport() { detach_interrupts(); }

bool MmioTransport::init(const MmioDeviceSpec& spec, MmioEnv& env) {
    env_ = &env;
    base_ = spec.base;
    size_ = spec.size;
    irq_ = spec.irq;
    level_ = spec.level;
    active_low_ = spec.active_low;
    snprintf(location_, sizeof location_, "mmio 0x%llx", static_cast<unsigned long long>(base_));
    if (!env.map_mmio(base_, size_)) {
        log::error("virtio %s: cannot map the register window (%llu bytes)", location_,
                   static_cast<unsigned long long>(size_));
        return false;
    }
    const uint32_t magic = rd(mmio::kMagic);
    if (magic != mmio::kMagicValue) {
        log::error("virtio %s: no virtio-mmio device here (magic 0x%08x)", location_, magic);
        return false;
    }
    version_ = rd(mmio::kVersion);
    if (version_ != 1 && version_ != 2) {
        log::error("virtio %s: unknown virtio-mmio version %u", location_, version_);
        return false;
    }
    type_ = rd(mmio::kDeviceId);
    return type_ != 0;  // 0: a placeholder slot with no device behind it
}

void MmioTransport::reset() {
    wr(mmio::kStatus, 0);
    for (int i = 0; i < 1000 && rd(mmio::kStatus) != 0; ++i) env_->delay_us(100);
}

uint8_t MmioTransport::status() { return static_cast<uint8_t>(rd(mmio::kStatus)); }
void MmioTransport::set_status(uint8_t status) { wr(mmio::kStatus, status); }

uint64_t MmioTransport::device_features() {
    wr(mmio::kDeviceFeaturesSel, 0);
    uint64_t f = rd(mmio::kDeviceFeatures);
    if (version_ != 1) {
        wr(mmio::kDeviceFeaturesSel, 1);
        f |= static_cast<uint64_t>(rd(mmio::kDeviceFeatures)) << 32;
    }
    return f;
}

void MmioTransport::set_driver_features(uint64_t features) {
    wr(mmio::kDriverFeaturesSel, 0);
    wr(mmio::kDriverFeatures, static_cast<uint32_t>(features));
    if (version_ != 1) {
        wr(mmio::kDriverFeaturesSel, 1);
        wr(mmio::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    }
}

uint8_t MmioTransport::config8(uint32_t off) { return hw::mmio_read8(base_ + mmio::kConfig + off); }
uint16_t MmioTransport::config16(uint32_t off) { return hw::mmio_read16(base_ + mmio::kConfig + off); }
uint32_t MmioTransport::config32(uint32_t off) { return hw::mmio_read32(base_ + mmio::kConfig + off); }
uint32_t MmioTransport::config_generation() { return version_ == 1 ? 0 : rd(mmio::kConfigGeneration); }

void MmioTransport::on_interrupt(interrupts::Frame&, void* context) {
    auto* t = static_cast<MmioTransport*>(context);
    const uint32_t sources = t->read_isr();
    if (sources && t->callback_) t->callback_(t->callback_context_, sources);
}

uint32_t MmioTransport::read_isr() {
    const uint32_t st = rd(mmio::kInterruptStatus) & (mmio::kInterruptUsedBuffer | mmio::kInterruptConfigChange);
    if (!st) return 0;
    wr(mmio::kInterruptAck, st);  // the line stays up until every bit it reports is acknowledged
    return ((st & mmio::kInterruptUsedBuffer) ? kIrqAnyQueue : 0) |
           ((st & mmio::kInterruptConfigChange) ? kIrqConfig : 0);
}

bool MmioTransport::attach_interrupts(uint16_t, IrqCallback callback, void* context) {
    callback_ = callback;
    callback_context_ = context;
    if (!env_->attach_gsi(irq_, level_, active_low_, on_interrupt, this, vector_)) {
        vector_ = 0;
        snprintf(irq_mode_, sizeof irq_mode_, "none (polled)");
        return false;
    }
    snprintf(irq_mode_, sizeof irq_mode_, "GSI %u (%s, active %s)", irq_, level_ ? "level" : "edge",
             active_low_ ? "low" : "high");
    return true;
}

void MmioTransport::detach_interrupts() {
    if (vector_ && env_) env_->detach_gsi(irq_, vector_);
    vector_ = 0;
    callback_ = nullptr;
}

uint16_t MmioTransport::max_queue_size(uint16_t q) {
    wr(mmio::kQueueSel, q);
    if (version_ == 1 ? rd(mmio::kQueuePfn) != 0 : rd(mmio::kQueueReady) != 0) return 0;  // already live
    const uint32_t n = rd(mmio::kQueueNumMax);
    return n > 0xFFFF ? 0xFFFF : static_cast<uint16_t>(n);
}

bool MmioTransport::setup_queue(uint16_t q, uint16_t size, const QueueAddresses& a) {
    wr(mmio::kQueueSel, q);
    wr(mmio::kQueueNum, size);
    if (version_ == 1) {
        // Legacy: one contiguous ring at a page frame, used ring at the next page boundary (virtqueue.hpp).
        if (a.desc & 4095 || (a.desc >> 12) > 0xFFFFFFFFull) return false;
        wr(mmio::kGuestPageSize, 4096);
        wr(mmio::kQueueAlign, 4096);
        wr(mmio::kQueuePfn, static_cast<uint32_t>(a.desc >> 12));
        return rd(mmio::kQueuePfn) == static_cast<uint32_t>(a.desc >> 12);
    }
    wr(mmio::kQueueDescLow, static_cast<uint32_t>(a.desc));
    wr(mmio::kQueueDescHigh, static_cast<uint32_t>(a.desc >> 32));
    wr(mmio::kQueueDriverLow, static_cast<uint32_t>(a.avail));
    wr(mmio::kQueueDriverHigh, static_cast<uint32_t>(a.avail >> 32));
    wr(mmio::kQueueDeviceLow, static_cast<uint32_t>(a.used));
    wr(mmio::kQueueDeviceHigh, static_cast<uint32_t>(a.used >> 32));
    wr(mmio::kQueueReady, 1);
    return rd(mmio::kQueueReady) == 1;
}

void MmioTransport::notify(uint16_t q) { wr(mmio::kQueueNotify, q); }

}  // namespace skerry::virtio
