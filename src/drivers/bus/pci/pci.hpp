// PCI enumeration: configuration access through ECAM (from ACPI MCFG) or legacy port 0xCF8,
// the device list, and per-device helpers drivers use (BARs, bus mastering, capabilities, MSI/MSI-X).
//
// The device list is static (kMaxDevices entries); nothing allocates. Configuration accesses are not
// locked: the kernel runs on one CPU and does not touch configuration space from interrupt handlers.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::pci {

inline constexpr size_t kMaxDevices = 128;
inline constexpr size_t kMaxEcamRegions = 8;

struct EcamRegion {
    uint64_t base;  // address of bus 0 (as in ACPI MCFG), even when start_bus > 0
    uint16_t segment;
    uint8_t start_bus, end_bus;
};

// Configuration space registers and bits.
inline constexpr uint16_t kVendorId = 0x00, kDeviceId = 0x02, kCommand = 0x04, kStatus = 0x06, kRevision = 0x08,
                          kHeaderType = 0x0E, kBar0 = 0x10, kSubsystemVendor = 0x2C, kSubsystemId = 0x2E,
                          kCapPointer = 0x34, kCardbusCapPointer = 0x14, kInterruptLine = 0x3C, kInterruptPin = 0x3D;
inline constexpr uint16_t kCommandIo = 1u << 0, kCommandMemory = 1u << 1, kCommandBusMaster = 1u << 2,
                          kCommandIntxDisable = 1u << 10;
inline constexpr uint16_t kStatusCapList = 1u << 4;
inline constexpr uint8_t kCapMsi = 0x05, kCapVendor = 0x09, kCapPcie = 0x10, kCapMsix = 0x11;
inline constexpr int kMaxCapHops = 48;  // (256 - 64) / 4 possible capability positions

struct Bar {
    enum class Kind : uint8_t { None, Io, Mem32, Mem64 } kind = Kind::None;
    bool prefetchable = false;
    uint64_t address = 0;
    uint64_t size = 0;
    bool is_mem() const { return kind == Kind::Mem32 || kind == Kind::Mem64; }
};

struct Device {
    uint16_t segment;
    uint8_t bus, dev, fn;
    uint16_t vendor, device;
    uint16_t subsystem_vendor, subsystem_device;
    uint8_t class_code, subclass, prog_if, revision;
    uint8_t header_type;  // without the multifunction bit: 0 device, 1 PCI bridge, 2 CardBus bridge
    bool multifunction;
    uint8_t irq_line, irq_pin;  // pin: 0 none, 1..4 = INTA..INTD
    Bar bars[6];                // a 64-bit BAR occupies its slot; the next slot (its upper half) stays Kind::None
    uint8_t msi_cap, msix_cap, pcie_cap;  // capability offsets, 0 = absent
    uint16_t msix_table_size;             // entries (MSI-X)
    uint8_t cap_count;                    // capabilities found in the list
    uint8_t vendor_cap_count;             // vendor-specific capabilities (id 9), e.g. virtio's
    bool cap_list_bad;                    // the list loops, points below 0x40 or is too long (walk stopped there)

    uint32_t read32(uint16_t off) const;
    uint16_t read16(uint16_t off) const;
    uint8_t read8(uint16_t off) const;
    void write32(uint16_t off, uint32_t v) const;
    void write16(uint16_t off, uint16_t v) const;
    void write8(uint16_t off, uint8_t v) const;

    // Memory/IO decode on (for the kinds of BARs the device has) and bus mastering on when asked; INTx
    // disabled when asked (drivers using MSI/MSI-X).
    void enable(bool bus_master, bool disable_intx) const;
    // Walks the capability list (live, bounded, loop-safe); the offset of the first capability with this
    // id, 0 when absent.
    uint8_t find_capability(uint8_t id) const;
};

// Sets up configuration access. With ECAM regions (ACPI MCFG) memory-mapped access is used (extended
// space up to 4 KiB; buses outside every region fall back to port I/O on segment 0); otherwise legacy port
// I/O (0xCF8/0xCFC) covers the first 256 bytes of segment 0. Forgets any previous enumeration.
void init(const EcamRegion* regions, size_t count);
bool ecam();

// Raw configuration access. Reads of absent functions / unreachable offsets return all ones; such writes
// are dropped. Offsets must be naturally aligned for their width.
uint32_t config_read32(uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off);
uint16_t config_read16(uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off);
uint8_t config_read8(uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off);
void config_write32(uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint32_t v);
void config_write16(uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint16_t v);
void config_write8(uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint8_t v);

// Probes every bus of every ECAM region (legacy: buses 0-255), devices 0-31, function 0 and, for
// multifunction devices, 1-7. Sizes the BARs (decode briefly disabled, values restored) and walks the
// capability lists. Returns the number of functions found (at most kMaxDevices are kept).
size_t enumerate();
size_t count();
const Device& device(size_t i);                                             // i < count()
const Device* find(uint16_t vendor, uint16_t device_id, size_t start = 0);  // first match at index >= start

// Human-readable class name for the boot log ("Ethernet controller", "Host bridge", ...).
const char* class_name(uint8_t class_code, uint8_t subclass);
// One device's resources line: "pci 00:02.0 8086:100e Ethernet controller (rev 03) BAR0 mem32 0xfeb80000/128K ..."
// (a non-zero segment is shown as "pci 0001:00:02.0"). Returns the length (truncated to size - 1). The boot log's
// device list, with the driver each device went to, is pci::log_devices (drivers/bus/pci/registry.hpp).
size_t format_device(const Device& d, char* buf, size_t size);

// Program the MSI capability to deliver `vector` (fixed, edge) to this CPU with one message and enable
// it (MSI-X is turned off). False if the device has no MSI. Bus mastering must be on (Device::enable).
bool enable_msi(const Device& d, uint8_t vector);
// Program MSI-X table entry `entry` (the table is reached through its BAR, mapped if needed), unmask
// it and enable MSI-X (MSI is turned off). False if absent, entry out of range or the BAR is unusable.
bool enable_msix(const Device& d, uint16_t entry, uint8_t vector);

}  // namespace skerry::pci
