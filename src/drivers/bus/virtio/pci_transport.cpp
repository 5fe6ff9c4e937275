// virtio over PCI, modern interface (see pci_transport.hpp; docs/protocols/virtio.md §5).
#include "drivers/bus/virtio/pci_transport.hpp"

#include <stdio.h>

#include "hw/hw.hpp"
#include "kernel/log.hpp"

namespace skerry::virtio {

uint32_t pci_device_type(const pci::Device& d) {
    if (d.vendor != kPciVendor) return 0;
    if (d.device >= 0x1040 && d.device <= 0x107F) return d.device - 0x1040u;
    if (d.device >= 0x1000 && d.device <= 0x103F) return d.subsystem_device;  // transitional
    return 0;
}

PciTransport::~PciTransport() { detach_interrupts(); }

bool PciTransport::map_region(uint8_t bar, uint32_t offset, uint32_t length, Region& out) {
    if (bar > 5) return false;
    const pci::Bar& b = dev_.bars[bar];
    if (!b.is_mem() || b.address == 0 || length == 0) return false;
    if (static_cast<uint64_t>(offset) + length > b.size) return false;
    if (!env_->map_mmio(b.address + offset, length)) return false;
    out.addr = b.address + offset;
    out.length = length;
    return true;
}

bool PciTransport::find_structures() {
    if (!(dev_.read16(pci::kStatus) & pci::kStatusCapList)) return false;
    uint8_t off = dev_.read8(pci::kCapPointer) & 0xFC;
    for (int hops = 0; off >= 0x40 && hops < pci::kMaxCapHops; ++hops) {
        const uint8_t id = dev_.read8(off), next = dev_.read8(static_cast<uint16_t>(off + 1)) & 0xFC;
        if (id == pci::kCapVendor) {
            const uint8_t len = dev_.read8(static_cast<uint16_t>(off + 2));
            const uint8_t type = dev_.read8(static_cast<uint16_t>(off + 3));
            const uint8_t bar = dev_.read8(static_cast<uint16_t>(off + 4));
            const uint32_t offset = dev_.read32(static_cast<uint16_t>(off + 8));
            const uint32_t length = dev_.read32(static_cast<uint16_t>(off + 12));
            // The first usable capability of each type wins (§5.2); later ones are alternatives we do not need.
            if (len >= 16) {
                switch (type) {
                case pcicap::kCommon:
                    if (!common_.addr && length >= pcicap::kCommonMinLength) map_region(bar, offset, length, common_);
                    break;
                case pcicap::kNotify:
                    if (!notify_.addr && len >= 20 && map_region(bar, offset, length, notify_)) {
                        notify_multiplier_ = dev_.read32(static_cast<uint16_t>(off + 16));
                    }
                    break;
                case pcicap::kIsr:
                    if (!isr_.addr) map_region(bar, offset, length, isr_);
                    break;
                case pcicap::kDevice:
                    if (!device_.addr) map_region(bar, offset, length, device_);
                    break;
                default: break;
                }
            }
        }
        off = next;
    }
    return common_.addr && notify_.addr && isr_.addr;
}

bool PciTransport::init(const pci::Device& dev, pci::Env& env) {
    dev_ = dev;
    env_ = &env;
    if (dev.segment) {
        snprintf(location_, sizeof location_, "pci %04x:%02x:%02x.%x", dev.segment, dev.bus, dev.dev, dev.fn);
    } else {
        snprintf(location_, sizeof location_, "pci %02x:%02x.%x", dev.bus, dev.dev, dev.fn);
    }
    type_ = pci_device_type(dev);
    if (!type_) {
        log::error("virtio %s: %04x:%04x is not a virtio device", location_, dev.vendor, dev.device);
        return false;
    }
    dev_.enable(true, false);  // memory decode and bus mastering (interrupt attach may turn INTx off)
    if (!find_structures()) {
        log::error("virtio %s: no modern interface (common/notify/ISR capabilities); a legacy-only device is not "
                   "supported (QEMU: drop disable-modern=on)",
                   location_);
        return false;
    }
    return true;
}

void PciTransport::reset() {
    hw::mmio_write8(common_.addr + pcicap::kDeviceStatus, 0);
    for (int i = 0; i < 1000 && hw::mmio_read8(common_.addr + pcicap::kDeviceStatus) != 0; ++i) env_->delay_us(100);
}

uint8_t PciTransport::status() { return hw::mmio_read8(common_.addr + pcicap::kDeviceStatus); }
void PciTransport::set_status(uint8_t status) { hw::mmio_write8(common_.addr + pcicap::kDeviceStatus, status); }

uint64_t PciTransport::device_features() {
    hw::mmio_write32(common_.addr + pcicap::kDeviceFeatureSelect, 0);
    uint64_t f = hw::mmio_read32(common_.addr + pcicap::kDeviceFeature);
    hw::mmio_write32(common_.addr + pcicap::kDeviceFeatureSelect, 1);
    f |= static_cast<uint64_t>(hw::mmio_read32(common_.addr + pcicap::kDeviceFeature)) << 32;
    return f;
}

void PciTransport::set_driver_features(uint64_t features) {
    hw::mmio_write32(common_.addr + pcicap::kDriverFeatureSelect, 0);
    hw::mmio_write32(common_.addr + pcicap::kDriverFeature, static_cast<uint32_t>(features));
    hw::mmio_write32(common_.addr + pcicap::kDriverFeatureSelect, 1);
    hw::mmio_write32(common_.addr + pcicap::kDriverFeature, static_cast<uint32_t>(features >> 32));
}

uint8_t PciTransport::config8(uint32_t off) {
    return off + 1 <= device_.length ? hw::mmio_read8(device_.addr + off) : 0;
}
uint16_t PciTransport::config16(uint32_t off) {
    return off + 2 <= device_.length ? hw::mmio_read16(device_.addr + off) : 0;
}
uint32_t PciTransport::config32(uint32_t off) {
    return off + 4 <= device_.length ? hw::mmio_read32(device_.addr + off) : 0;
}
uint32_t PciTransport::config_generation() { return hw::mmio_read8(common_.addr + pcicap::kConfigGeneration); }

uint32_t PciTransport::read_isr() {
    const uint8_t v = hw::mmio_read8(isr_.addr);  // reading acknowledges (and lowers INTx)
    return ((v & 1) ? kIrqAnyQueue : 0) | ((v & 2) ? kIrqConfig : 0);
}

void PciTransport::on_vector(interrupts::Frame&, void* context) {
    const Vector* v = static_cast<const Vector*>(context);
    if (v->transport->callback_) v->transport->callback_(v->transport->callback_context_, v->sources);
}

void PciTransport::on_intx(interrupts::Frame&, void* context) {
    auto* t = static_cast<PciTransport*>(context);
    const uint32_t sources = t->read_isr();  // a shared line: nothing set means another device's interrupt
    if (sources && t->callback_) t->callback_(t->callback_context_, sources);
}

bool PciTransport::attach_interrupts(uint16_t queues, IrqCallback callback, void* context) {
    callback_ = callback;
    callback_context_ = context;
    if (dev_.msix_cap && queues <= 16) {
        per_queue_ = dev_.msix_table_size >= 1u + queues;
        const uint16_t entries = per_queue_ ? static_cast<uint16_t>(1 + queues) : 1;
        bool ok = true;
        for (uint16_t i = 0; i < entries && ok; ++i) {
            vectors_[i].transport = this;
            vectors_[i].sources = i == 0 ? (per_queue_ ? kIrqConfig : kIrqConfig | kIrqAnyQueue)
                                         : irq_queue(static_cast<uint16_t>(i - 1));
            ok = env_->attach_msix_entry(dev_, i, on_vector, &vectors_[i], vectors_[i].irq);
            if (ok) vector_count_ = static_cast<uint16_t>(i + 1);
        }
        if (ok) {
            hw::mmio_write16(common_.addr + pcicap::kConfigMsixVector, 0);
            ok = hw::mmio_read16(common_.addr + pcicap::kConfigMsixVector) == 0;
        }
        if (ok) {
            snprintf(irq_mode_, sizeof irq_mode_, "MSI-X, %u vector%s", vector_count_, vector_count_ > 1 ? "s" : "");
            return true;
        }
        log::warn("virtio %s: MSI-X set-up failed; trying INTx", location_);
        detach_interrupts();
        callback_ = callback;
        callback_context_ = context;
    }
    if (env_->attach_irq(dev_, on_intx, this, intx_, pci::kAllowIntx)) {
        snprintf(irq_mode_, sizeof irq_mode_, "INTx GSI %u", intx_.gsi);
        return true;
    }
    snprintf(irq_mode_, sizeof irq_mode_, "none (polled)");
    return false;
}

void PciTransport::detach_interrupts() {
    if (!env_) return;
    for (uint16_t i = 0; i < vector_count_; ++i) env_->detach_irq(dev_, vectors_[i].irq);
    vector_count_ = 0;
    per_queue_ = false;
    if (intx_.kind != pci::IrqKind::None) env_->detach_irq(dev_, intx_);
    callback_ = nullptr;
}

uint16_t PciTransport::max_queue_size(uint16_t q) {
    if (q >= hw::mmio_read16(common_.addr + pcicap::kNumQueues) || q >= 16) return 0;
    hw::mmio_write16(common_.addr + pcicap::kQueueSelect, q);
    if (hw::mmio_read16(common_.addr + pcicap::kQueueEnable)) return 0;
    return hw::mmio_read16(common_.addr + pcicap::kQueueSize);
}

bool PciTransport::setup_queue(uint16_t q, uint16_t size, const QueueAddresses& a) {
    if (q >= 16) return false;
    const uint64_t c = common_.addr;
    hw::mmio_write16(c + pcicap::kQueueSelect, q);
    hw::mmio_write16(c + pcicap::kQueueSize, size);
    if (vector_count_) {
        const uint16_t v = per_queue_ ? static_cast<uint16_t>(1 + q) : 0;
        hw::mmio_write16(c + pcicap::kQueueMsixVector, v);
        if (hw::mmio_read16(c + pcicap::kQueueMsixVector) != v) {
            log::error("virtio %s: the device refused MSI-X vector %u for queue %u", location_, v, q);
            return false;
        }
    } else {
        hw::mmio_write16(c + pcicap::kQueueMsixVector, pcicap::kNoVector);
    }
    hw::mmio_write32(c + pcicap::kQueueDesc, static_cast<uint32_t>(a.desc));
    hw::mmio_write32(c + pcicap::kQueueDesc + 4, static_cast<uint32_t>(a.desc >> 32));
    hw::mmio_write32(c + pcicap::kQueueDriver, static_cast<uint32_t>(a.avail));
    hw::mmio_write32(c + pcicap::kQueueDriver + 4, static_cast<uint32_t>(a.avail >> 32));
    hw::mmio_write32(c + pcicap::kQueueDevice, static_cast<uint32_t>(a.used));
    hw::mmio_write32(c + pcicap::kQueueDevice + 4, static_cast<uint32_t>(a.used >> 32));
    const uint64_t off = static_cast<uint64_t>(hw::mmio_read16(c + pcicap::kQueueNotifyOff)) * notify_multiplier_;
    if (off + 2 > notify_.length) {
        log::error("virtio %s: queue %u's notification address is outside the notify structure", location_, q);
        return false;
    }
    queue_notify_[q] = notify_.addr + off;
    hw::mmio_write16(c + pcicap::kQueueEnable, 1);
    return true;
}

void PciTransport::notify(uint16_t q) {
    if (q < 16 && queue_notify_[q]) hw::mmio_write16(queue_notify_[q], q);
}

}  // namespace skerry::virtio
