// virtio over PCI, the modern interface (docs/protocols/virtio.md §5): vendor-specific capabilities locate the
// common configuration, notification, ISR and device configuration structures in memory BARs. Interrupts: MSI-X
// with one vector for configuration changes and one per queue when the table has room (else one shared vector),
// INTx (the ISR register says why) otherwise. Devices that only have the legacy I/O-port interface (QEMU's
// `disable-modern=on`) are refused with a log line saying so.
#pragma once

#include <stdint.h>

#include "drivers/bus/pci/pci.hpp"
#include "drivers/bus/pci/pci_env.hpp"
#include "drivers/bus/pci/pci_irq.hpp"
#include "drivers/bus/virtio/virtio.hpp"

namespace skerry::virtio {

inline constexpr uint16_t kPciVendor = 0x1AF4;
// The virtio device type of a PCI function (§5.1): modern ids 0x1040 + type, transitional ids 0x1000..0x103F with
// the type in the subsystem id. 0 when it is not a virtio device.
uint32_t pci_device_type(const pci::Device& d);

namespace pcicap {
// Vendor capability (§5.2): cfg_type at +3, bar +4, offset +8, length +12; notify adds the multiplier at +16.
inline constexpr uint8_t kCommon = 1, kNotify = 2, kIsr = 3, kDevice = 4, kPciCfg = 5;
// Common configuration structure offsets (§5.3).
inline constexpr uint32_t kDeviceFeatureSelect = 0x00, kDeviceFeature = 0x04, kDriverFeatureSelect = 0x08,
                          kDriverFeature = 0x0C, kConfigMsixVector = 0x10, kNumQueues = 0x12, kDeviceStatus = 0x14,
                          kConfigGeneration = 0x15, kQueueSelect = 0x16, kQueueSize = 0x18, kQueueMsixVector = 0x1A,
                          kQueueEnable = 0x1C, kQueueNotifyOff = 0x1E, kQueueDesc = 0x20, kQueueDriver = 0x28,
                          kQueueDevice = 0x30;
inline constexpr uint32_t kCommonMinLength = 0x38;
inline constexpr uint16_t kNoVector = 0xFFFF;
}  // namespace pcicap

class PciTransport final : public Transport {
public:
    static constexpr uint16_t kMaxVectors = 17;  // configuration + 16 queues

    PciTransport() = default;
    ~PciTransport() override;
    PciTransport(const PciTransport&) = delete;
    PciTransport& operator=(const PciTransport&) = delete;

    // Finds and maps the capability structures. False (logged) when the function is not a usable modern device.
    bool init(const pci::Device& dev, pci::Env& env);
    const pci::Device& device() const { return dev_; }

    uint32_t device_type() const override { return type_; }
    const char* location() const override { return location_; }
    const char* kind() const override { return "modern PCI"; }
    bool legacy() const override { return false; }
    void reset() override;
    uint8_t status() override;
    void set_status(uint8_t status) override;
    uint64_t device_features() override;
    void set_driver_features(uint64_t features) override;
    uint8_t config8(uint32_t off) override;
    uint16_t config16(uint32_t off) override;
    uint32_t config32(uint32_t off) override;
    uint32_t config_generation() override;
    bool attach_interrupts(uint16_t queues, IrqCallback callback, void* context) override;
    void detach_interrupts() override;
    const char* interrupt_mode() const override { return irq_mode_; }
    uint16_t max_queue_size(uint16_t q) override;
    bool setup_queue(uint16_t q, uint16_t size, const QueueAddresses& a) override;
    void notify(uint16_t q) override;
    uint32_t read_isr() override;

private:
    struct Region {
        uint64_t addr = 0;  // mapped physical address of the structure
        uint32_t length = 0;
    };
    struct Vector {
        PciTransport* transport;
        uint32_t sources;
        pci::Irq irq;
    };
    bool find_structures();
    bool map_region(uint8_t bar, uint32_t offset, uint32_t length, Region& out);
    static void on_vector(interrupts::Frame& frame, void* context);
    static void on_intx(interrupts::Frame& frame, void* context);

    pci::Device dev_{};
    pci::Env* env_ = nullptr;
    uint32_t type_ = 0;
    char location_[24] = {};
    char irq_mode_[32] = "none (polled)";
    Region common_, notify_, isr_, device_;
    uint32_t notify_multiplier_ = 0;
    uint64_t queue_notify_[16] = {};  // notification address per queue (set up)

    IrqCallback callback_ = nullptr;
    void* callback_context_ = nullptr;
    Vector vectors_[kMaxVectors] = {};
    uint16_t vector_count_ = 0;  // MSI-X entries in use (0: INTx or none)
    bool per_queue_ = false;     // one vector per queue (entry 1 + q), else every queue on entry 0
    pci::Irq intx_{};
};

}  // namespace skerry::virtio
