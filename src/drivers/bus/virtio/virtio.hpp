// virtio: the device-independent part shared by every virtio driver (virtio-net now, virtio-vsock next), a bus of
// its own beside PCI and VMBus. A virtio device is reached through a Transport (virtio over PCI, modern interface;
// virtio-MMIO version 2, and version 1 "legacy" as QEMU's microvm uses by default) and talks through split
// virtqueues (virtqueue.hpp). Drivers register by virtio device type (registry.hpp); the transports find devices
// (PCI enumeration, `virtio_mmio.device=` on the command line, ACPI) and hand each to the driver of its type.
//
// Facts, with their sources, are in docs/protocols/virtio.md; section numbers below (§) are that file's.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::virtio {

// Device types (§1; virtio 1.2 section 5).
enum DeviceType : uint32_t {
    kTypeNet = 1,
    kTypeBlock = 2,
    kTypeConsole = 3,
    kTypeEntropy = 4,
    kTypeBalloon = 5,
    kTypeScsi = 8,
    kType9p = 9,
    kTypeGpu = 16,
    kTypeInput = 18,
    kTypeVsock = 19,
};
const char* type_name(uint32_t type);  // "net", "vsock", ... or "type N" (static buffer for unknown ones: log only)

// Device status bits (§2).
inline constexpr uint8_t kStatusAcknowledge = 1, kStatusDriver = 2, kStatusDriverOk = 4, kStatusFeaturesOk = 8,
                         kStatusNeedsReset = 64, kStatusFailed = 128;

// Device-independent feature bits (§3).
inline constexpr unsigned kFeatureIndirectDesc = 28, kFeatureEventIdx = 29, kFeatureVersion1 = 32,
                          kFeatureAccessPlatform = 33, kFeatureRingPacked = 34, kFeatureInOrder = 35,
                          kFeatureOrderPlatform = 36, kFeatureNotificationData = 38, kFeatureRingReset = 40;
constexpr uint64_t bit(unsigned b) { return 1ull << b; }

// Interrupt sources a transport reports to its driver's callback (in interrupt context).
inline constexpr uint32_t kIrqAnyQueue = 1u << 0;  // some queue has used buffers (INTx, MMIO: not said which)
inline constexpr uint32_t kIrqConfig = 1u << 1;    // the device configuration changed (or NEEDS_RESET was set)
constexpr uint32_t irq_queue(uint16_t q) { return 1u << (8 + (q & 15)); }  // queue q (MSI-X: a vector per queue)
using IrqCallback = void (*)(void* context, uint32_t sources);

// Where a split virtqueue lives: the three parts' guest-physical addresses (§4).
struct QueueAddresses {
    uint64_t desc, avail, used;
};

// One device, as a driver sees it whatever the transport. Register-level rules of each transport are in its
// implementation; everything here follows the device initialisation sequence of §2 when used as
// virtio::initialise() does.
class Transport {
public:
    virtual ~Transport() = default;

    virtual uint32_t device_type() const = 0;
    // "pci 00:04.0" / "mmio 0xfeb00000"; also what the NIC's name starts from.
    virtual const char* location() const = 0;
    // "modern PCI", "MMIO v2", "MMIO v1 (legacy)".
    virtual const char* kind() const = 0;
    // A legacy interface (MMIO v1): VERSION_1 is not offered, queues use the legacy layout (§4.3), the net header
    // has no num_buffers field unless MRG_RXBUF.
    virtual bool legacy() const = 0;

    virtual void reset() = 0;  // writes 0 and waits (bounded) until the device reads back 0
    virtual uint8_t status() = 0;
    virtual void set_status(uint8_t status) = 0;  // the whole byte (callers OR in the new bit)
    virtual uint64_t device_features() = 0;
    virtual void set_driver_features(uint64_t features) = 0;

    // Device-specific configuration, little endian (§5: re-read while config_generation changes).
    virtual uint8_t config8(uint32_t off) = 0;
    virtual uint16_t config16(uint32_t off) = 0;
    virtual uint32_t config32(uint32_t off) = 0;
    virtual uint32_t config_generation() = 0;

    // Interrupts: called once before queues are set up (MSI-X vectors are assigned per queue at setup). False when
    // the device gets no interrupt: the driver then polls. `queues` is how many queues will ask for a vector.
    virtual bool attach_interrupts(uint16_t queues, IrqCallback callback, void* context) = 0;
    virtual void detach_interrupts() = 0;
    virtual const char* interrupt_mode() const = 0;  // "MSI-X, 3 vectors", "INTx GSI 11", "GSI 5", "none (polled)"

    // Queues (§4). max_queue_size: 0 when the queue does not exist (or is already live). setup_queue programs the
    // size and addresses (legacy: the page frame of a legacy-layout ring) and enables the queue.
    virtual uint16_t max_queue_size(uint16_t q) = 0;
    virtual bool setup_queue(uint16_t q, uint16_t size, const QueueAddresses& a) = 0;
    virtual void notify(uint16_t q) = 0;

    // Interrupt status for the poll path (INTx/MMIO read-and-acknowledge; MSI-X has none and returns 0).
    virtual uint32_t read_isr() = 0;
};

// The device initialisation sequence of §2 up to FEATURES_OK: reset, ACKNOWLEDGE, DRIVER, feature negotiation
// (`wanted` & offered; VERSION_1 is required of a non-legacy transport and added here), FEATURES_OK read back.
// Returns false (FAILED set, logged with `who`) when the device refuses; `negotiated` holds the accepted set.
bool initialise(Transport& t, uint64_t wanted, uint64_t& negotiated, const char* who);

// `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` (§6), as Linux, Firecracker and QEMU's microvm write it: size
// with an optional K/M/G suffix, base in C notation, irq decimal. False for anything else (the caller logs it).
struct MmioDeviceSpec {
    uint64_t base, size;
    uint32_t irq;
    // How the line signals. A command-line device is edge-triggered, active high, as Linux takes an ISA line without
    // other information (Firecracker signals by irqfd pulses; QEMU's IOAPIC delivers every raise of an edge line,
    // so its level-held line works too); an ACPI-described one says (QEMU's microvm: level; Firecracker: edge).
    bool level = false;
    bool active_low = false;
};
bool parse_mmio_device(const char* value, size_t len, MmioDeviceSpec& out);
// virtio-MMIO devices an ACPI DSDT describes (§6.3): Device objects whose _HID is "LNRO0005", with the window and
// interrupt from their _CRS. `aml` is the table's body after its 36-byte header. Returns how many (at most max).
size_t find_acpi_mmio_devices(const uint8_t* aml, size_t len, MmioDeviceSpec* out, size_t max);

}  // namespace skerry::virtio
