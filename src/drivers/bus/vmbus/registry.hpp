// The VMBus device registry: drivers declare the device class (offer interface-type GUID) they serve with one
// static registration line; once the host's offers are in, create_devices() matches every primary, non-rescinded
// offer against the registered drivers and calls their factories. Each offer and its outcome also goes into the
// bus-neutral device registry (drivers/devices.hpp), from which the kernel's boot code hands the NICs to the network
// stack like any PCI NIC.
//
// Registration happens in global constructors (the kernel runs them first thing in kernel_entry), so the registry
// is constant-initialised and allocation-free: drivers live in an intrusive list, devices in a fixed table.
// Host tests use their own Registry instances. Nothing here talks to the host except through the factories.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/vmbus/hv.hpp"
#include "drivers/bus/vmbus/vmbus.hpp"
#include "drivers/bus/vmbus/vmbus_msg.hpp"
#include "drivers/devices.hpp"
#include "kernel/dma.hpp"

namespace skerry::net {
class NicDriver;
}

namespace skerry::vmbus {

// Memory for rings and buffers, handed to device factories. The kernel's is dma::alloc/free (the page allocator);
// tests may count or fail allocations.
class DmaProvider {
public:
    virtual bool alloc(size_t size, dma::Region& out, uint64_t align = 4096) = 0;
    virtual void free(dma::Region& r) = 0;

protected:
    ~DmaProvider() = default;
};
class KernelDma final : public DmaProvider {
public:
    bool alloc(size_t size, dma::Region& out, uint64_t align) override { return dma::alloc(size, out, align); }
    void free(dma::Region& r) override { dma::free(r); }
};
DmaProvider& kernel_dma();

// A NIC driver's factory: bring up the device on channel `relid` (the offer is conn.find_relid(relid)); nullptr
// when it cannot (logged by the driver). The returned driver lives for the rest of the run.
using NicFactory = net::NicDriver* (*)(Connection& conn, hv::HypercallPort& port, uint32_t relid, DmaProvider& dma);

struct DeviceDriver {
    Guid class_id;
    const char* name;
    NicFactory make_nic;
    DeviceDriver* next = nullptr;  // registry-owned link
};

struct DeviceStats {
    uint64_t offers_seen = 0;       // primary, non-rescinded offers looked at
    uint64_t unclaimed = 0;         // no driver registered for the class
    uint64_t factory_failures = 0;  // a driver returned nullptr
    uint64_t table_full = 0;        // more devices than kMaxDevices (or than the device registry holds)
};

class Registry {
public:
    static constexpr size_t kMaxDevices = 16;

    constexpr Registry() = default;

    // False (and not added) for a null factory, or when a driver already serves this class.
    bool add(DeviceDriver& d);
    const DeviceDriver* find(const Guid& class_id) const;
    size_t driver_count() const;

    // Offer every primary (sub-channel index 0), non-rescinded offer of `conn` that no device was made for yet
    // to the driver of its class. Idempotent: a second call only handles offers that arrived since. Returns the
    // number of devices created by this call. With `record`, every offer looked at is recorded there too (by relid):
    // Bound with the NIC, Failed, NoRoom or NoDriver; an offer with a driver that `record` has no room for is left
    // alone (counted in table_full) like one beyond kMaxDevices.
    size_t create_devices(Connection& conn, hv::HypercallPort& port, DmaProvider& dma,
                          devices::Registry* record = nullptr);

    struct Device {
        const DeviceDriver* driver = nullptr;
        uint32_t relid = 0;
        net::NicDriver* nic = nullptr;
    };
    size_t device_count() const { return device_count_; }
    const Device* device(size_t i) const { return i < device_count_ ? &devices_[i] : nullptr; }
    // The NIC devices, in offer order.
    size_t nics(net::NicDriver** out, size_t max) const;
    const DeviceStats& stats() const { return stats_; }

private:
    bool attempted(uint32_t relid) const;

    DeviceDriver* head_ = nullptr;
    Device devices_[kMaxDevices] = {};
    size_t device_count_ = 0;
    uint32_t attempted_[Connection::kMaxOffers] = {};  // relids already offered to a driver (made or failed)
    size_t attempted_count_ = 0;
    DeviceStats stats_;
};

// The kernel's registry (constant-initialised; safe to use from global constructors).
Registry& registry();

// One line in a driver's source registers it with the kernel's registry:
//   static vmbus::Registration netvsc_registration{vmbus::kNetvscClass, "netvsc", &make_netvsc};
class Registration {
public:
    Registration(const Guid& class_id, const char* name, NicFactory make_nic) : driver_{class_id, name, make_nic} {
        registry().add(driver_);
    }

private:
    DeviceDriver driver_;
};

// Names of the device classes Hyper-V offers (for the boot log): "netvsc", "storage (SCSI)", "hv_sock", ...
// hv_sock channels are recognised by the offer flags, not the class (their class is a service id).
constexpr uint16_t kOfferFlagNamedPipe = 0x0010;
constexpr uint16_t kOfferFlagTlnpiProvider = 0x2000;
const char* offer_class_name(const Offer& o);
const char* class_name(const Guid& class_id);  // nullptr when unknown

// "f8615163-df3e-46c5-913f-f2d2f965ed0e" (36 characters and a NUL).
void format_guid(const Guid& g, char out[37]);

}  // namespace skerry::vmbus
