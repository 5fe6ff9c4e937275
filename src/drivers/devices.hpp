// The device registry: every device any bus found, in the order found, with the driver that took it (or none) and
// what that driver made of it. Buses fill it at boot: the PCI bus matches enumerated functions against the drivers
// registered with it (drivers/bus/pci/registry.hpp), the VMBus registry matches the host's channel offers
// (drivers/bus/vmbus/registry.hpp). The kernel's boot code then asks it for the NICs and hands them to the network
// stack; the boot log's device lines say what each record says.
//
// Bus-neutral on purpose: a record names its bus and its address on that bus, and what was made is a Product, a
// kind plus a typed pointer. Today the only kind is a NIC; vsock transports and Hyper-V integration services will
// be kinds of their own, so nothing here assumes a device is a NIC.
//
// Constant-initialised and allocation-free, like the bus registries: the table is storage the owner provides (the
// kernel's is a static array; host tests use their own, small ones).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net {
class NicDriver;
namespace vsock {
class Engine;
}
}  // namespace skerry::net

namespace skerry::devices {

enum class Bus : uint8_t { Pci, Vmbus, VirtioMmio };
const char* bus_name(Bus b);  // "pci", "vmbus", "virtio-mmio"

// The address of a virtio-MMIO device in a record: its register window's base in 256-byte units.
constexpr uint32_t mmio_address(uint64_t base) { return static_cast<uint32_t>(base >> 8); }

// The address of a PCI function in a record: segment, bus, device, function packed into 32 bits.
constexpr uint32_t pci_address(uint16_t segment, uint8_t bus, uint8_t dev, uint8_t fn) {
    return static_cast<uint32_t>(segment) << 16 | static_cast<uint32_t>(bus) << 8 |
           static_cast<uint32_t>(dev & 31) << 3 | (fn & 7u);
}

// What a driver made of a device.
enum class Kind : uint8_t {
    None,   // nothing (no driver, or it failed)
    Nic,    // a net::NicDriver, for the network stack
    Vsock,  // a vsock transport (its net::vsock::Engine), for the socket layer's vsock family
};
const char* kind_name(Kind k);  // "none", "NIC"

class Product {
public:
    constexpr Product() = default;
    // A NIC; a null pointer makes an empty product (the factory failed).
    static Product nic(net::NicDriver* n) { return n != nullptr ? Product(Kind::Nic, n) : Product(); }
    static Product vsock(net::vsock::Engine* e) { return e != nullptr ? Product(Kind::Vsock, e) : Product(); }

    Kind kind() const { return kind_; }
    bool empty() const { return kind_ == Kind::None; }
    net::NicDriver* as_nic() const { return kind_ == Kind::Nic ? static_cast<net::NicDriver*>(object_) : nullptr; }
    net::vsock::Engine* as_vsock() const {
        return kind_ == Kind::Vsock ? static_cast<net::vsock::Engine*>(object_) : nullptr;
    }

private:
    Product(Kind k, void* object) : kind_(k), object_(object) {}
    Kind kind_ = Kind::None;
    void* object_ = nullptr;  // of the type `kind_` names; read back only through the matching as_*()
};

enum class Outcome : uint8_t {
    NoDriver,  // no registered driver serves it
    Bound,     // a driver took it and made `product`
    Failed,    // the driver's factory could not bring it up (the driver logged why)
    NoRoom,    // a driver serves it, but the bus had no room to keep another device: left alone
};

struct Record {
    Bus bus = Bus::Pci;
    uint32_t address = 0;  // PCI: pci_address(); VMBus: the channel's relid; virtio-MMIO: mmio_address()
    Outcome outcome = Outcome::NoDriver;
    const char* driver = nullptr;  // the driver that matched (Bound, Failed, NoRoom); nullptr for NoDriver
    const char* detail = nullptr;  // what the driver's ID table calls the device ("82540EM"), or nullptr
    Product product;               // what the driver made (Bound)
};

// "00:03.0", "0001:00:03.0" (a non-zero PCI segment), "relid 14", "0xfeb00000". Return the length (truncated to size -
// 1).
size_t format_location(const Record& r, char* buf, size_t size);
// The boot log's verdict: "e1000 (82540EM)", "netvsc", "no driver", "e1000 failed", "netvsc: no room".
size_t format_outcome(const Record& r, char* buf, size_t size);

class Registry {
public:
    constexpr Registry(Record* storage, size_t capacity) : records_(storage), capacity_(capacity) {}
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    // The record of the device at `address` on `bus`: the one already there, else a new one (NoDriver, nothing
    // made). nullptr when the table is full (counted in dropped(); the caller leaves the device alone).
    Record* record(Bus bus, uint32_t address);
    const Record* find(Bus bus, uint32_t address) const;

    size_t count() const { return count_; }
    const Record* at(size_t i) const { return i < count_ ? &records_[i] : nullptr; }
    size_t capacity() const { return capacity_; }
    uint64_t dropped() const { return dropped_; }  // record() calls refused for want of room

    // Every NIC the drivers made, in the order their devices were found (at most max). Returns how many.
    size_t nics(net::NicDriver** out, size_t max) const;
    size_t count(Kind k) const;  // products of this kind
    size_t count(Outcome o) const;

private:
    Record* records_;
    size_t capacity_;
    size_t count_ = 0;
    uint64_t dropped_ = 0;
};

// The kernel's registry (constant-initialised; safe to use from global constructors).
inline constexpr size_t kMaxDevices = 192;  // PCI functions (128 at most) and VMBus offers
Registry& registry();

}  // namespace skerry::devices
