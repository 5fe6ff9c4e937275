// The virtio-MMIO transport (docs/protocols/virtio.md §6): version 2 (Firecracker, cloud-hypervisor, QEMU with
// `-global virtio-mmio.force-legacy=false`) and version 1, the legacy layout QEMU's microvm uses by default. One
// register window and one interrupt line per device; the line is level-triggered: the handler reads
// InterruptStatus and acknowledges exactly those bits.
//
// What differs between the kernel and host tests (mapping, interrupt routing, delays) comes through an MmioEnv.
#pragma once

#include <stdint.h>

#include "drivers/bus/virtio/virtio.hpp"
#include "drivers/devices.hpp"
#include "kernel/arch/interrupts.hpp"

namespace skerry::virtio {

class MmioEnv {
public:
    virtual bool map_mmio(uint64_t phys, uint64_t size) = 0;
    // Routes interrupt line `gsi` (its trigger mode and polarity) to a new vector running handler(context). False when
    // it cannot.
    virtual bool attach_gsi(uint32_t gsi, bool level, bool active_low, interrupts::Handler handler, void* context,
                            uint8_t& vector) = 0;
    virtual void detach_gsi(uint32_t gsi, uint8_t vector) = 0;
    virtual void delay_us(uint64_t us) = 0;

protected:
    ~MmioEnv() = default;
};
MmioEnv& kernel_mmio_env();  // virtio_mmio_kernel.cpp
// Kernel: the virtio-MMIO devices the command line names, each given to its driver and recorded in `out`. Returns
// how many a driver took.
size_t bind_mmio_devices(devices::Registry& out);

namespace mmio {
// Register offsets (§6.1).
inline constexpr uint32_t kMagic = 0x000, kVersion = 0x004, kDeviceId = 0x008, kVendorId = 0x00C,
                          kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014, kDriverFeatures = 0x020,
                          kDriverFeaturesSel = 0x024, kGuestPageSize = 0x028, kQueueSel = 0x030, kQueueNumMax = 0x034,
                          kQueueNum = 0x038, kQueueAlign = 0x03C, kQueuePfn = 0x040, kQueueReady = 0x044,
                          kQueueNotify = 0x050, kInterruptStatus = 0x060, kInterruptAck = 0x064, kStatus = 0x070,
                          kQueueDescLow = 0x080, kQueueDescHigh = 0x084, kQueueDriverLow = 0x090,
                          kQueueDriverHigh = 0x094, kQueueDeviceLow = 0x0A0, kQueueDeviceHigh = 0x0A4,
                          kConfigGeneration = 0x0FC, kConfig = 0x100;
inline constexpr uint32_t kMagicValue = 0x74726976;  // "virt"
inline constexpr uint32_t kInterruptUsedBuffer = 1, kInterruptConfigChange = 2;
}  // namespace mmio

class MmioTransport final : public Transport {
public:
    MmioTransport() = default;
    ~MmioTransport() override;
    MmioTransport(const MmioTransport&) = delete;
    MmioTransport& operator=(const MmioTransport&) = delete;

    // Maps the window and checks the magic, version (1 or 2) and device id. False (logged) when there is no usable
    // device there; a device id of 0 (an empty slot) is false without a log line.
    bool init(const MmioDeviceSpec& spec, MmioEnv& env);
    uint32_t version() const { return version_; }
    uint64_t base() const { return base_; }
    uint32_t irq() const { return irq_; }

    uint32_t device_type() const override { return type_; }
    const char* location() const override { return location_; }
    const char* kind() const override { return version_ == 1 ? "MMIO v1 (legacy)" : "MMIO v2"; }
    bool legacy() const override { return version_ == 1; }
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
    uint32_t rd(uint32_t off) const;
    void wr(uint32_t off, uint32_t v) const;
    static void on_interrupt(interrupts::Frame& frame, void* context);

    MmioEnv* env_ = nullptr;
    uint64_t base_ = 0, size_ = 0;
    uint32_t irq_ = 0;
    bool level_ = false, active_low_ = false;
    uint32_t version_ = 0;
    uint32_t type_ = 0;
    char location_[32] = {};
    char irq_mode_[40] = "none (polled)";
    IrqCallback callback_ = nullptr;
    void* callback_context_ = nullptr;
    uint8_t vector_ = 0;
};

}  // namespace skerry::virtio
