// The VMBus device registry (see registry.hpp).
#include "drivers/bus/vmbus/registry.hpp"

#include "kernel/log.hpp"

namespace skerry::vmbus {
namespace {

constinit Registry kernel_registry;
KernelDma kernel_dma_provider;

struct KnownClass {
    Guid id;
    const char* name;
};
// Device classes from Linux's include/linux/hyperv.h list of offer types (facts only).
constexpr KnownClass kKnownClasses[] = {
    {kNetvscClass, "netvsc"},
    {make_guid(0xba6163d9, 0x04a1, 0x4d29, 0xb60572e2ffb1dc7full), "storage (SCSI)"},
    {make_guid(0x32412632, 0x86cb, 0x44a2, 0x9b5c50d1417354f5ull), "storage (IDE)"},
    {make_guid(0x2f9bcc4a, 0x0069, 0x4af3, 0xb76b6fd0be528cdaull), "storage (Fibre Channel)"},
    {make_guid(0xda0a7802, 0xe377, 0x4aac, 0x8e770558eb1073f8ull), "synthetic video"},
    {make_guid(0xf912ad6d, 0x2b17, 0x48ea, 0xbd65f927a61c7684ull), "keyboard"},
    {make_guid(0xcfa8b69e, 0x5b4a, 0x4cc0, 0xb98b8ba1a1f3f95aull), "mouse"},
    {make_guid(0x0e0b6031, 0x5213, 0x4934, 0x818b38d90ced39dbull), "shutdown"},
    {make_guid(0x9527e630, 0xd0ae, 0x497b, 0xadcee80ab0175cafull), "time sync"},
    {make_guid(0x57164f39, 0x9115, 0x4e78, 0xab55382f3bd5422dull), "heartbeat"},
    {make_guid(0xa9a0f4e7, 0x5a45, 0x4d96, 0xb8278a841e8c03e6ull), "key-value exchange"},
    {make_guid(0x35fa2e29, 0xea23, 0x4236, 0x96ae3a6ebacba440ull), "backup (VSS)"},
    {make_guid(0x34d14be3, 0xdee4, 0x41c8, 0x9ae76b174977c192ull), "file copy"},
    {make_guid(0x525074dc, 0x8985, 0x46e2, 0x8057a307dc18a502ull), "dynamic memory"},
    {make_guid(0x44c4f61d, 0x4444, 0x4400, 0x9d52802e27ede19full), "PCI pass-through"},
    {make_guid(0x8c2eaf3d, 0x32a7, 0x4b09, 0xab99bd1f1c86b501ull), "network direct (RDMA)"},
    {make_guid(0xf8e65716, 0x3cb3, 0x4a06, 0x9a601889c5cccab5ull), "activation (AVMA)"},
    {make_guid(0x3375baf4, 0x9e15, 0x4b30, 0xb76567acb10d607bull), "activation (AVMA)"},
    {make_guid(0x276aacf4, 0xac15, 0x426c, 0x98dd7521ad3f01feull), "remote desktop virtualization"},
    {make_guid(0xc376c1c3, 0xd276, 0x48d2, 0x90a9c04748072c60ull), "initial machine configuration"},
};

}  // namespace

Registry& registry() { return kernel_registry; }
DmaProvider& kernel_dma() { return kernel_dma_provider; }

bool Registry::add(DeviceDriver& d) {
    if (d.make_nic == nullptr || find(d.class_id) != nullptr) return false;
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next)
        if (p == &d) return false;
    // Append, so drivers are tried in registration order.
    d.next = nullptr;
    DeviceDriver** link = &head_;
    while (*link != nullptr) link = &(*link)->next;
    *link = &d;
    return true;
}

const DeviceDriver* Registry::find(const Guid& class_id) const {
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next)
        if (p->class_id == class_id) return p;
    return nullptr;
}

size_t Registry::driver_count() const {
    size_t n = 0;
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next) n++;
    return n;
}

bool Registry::attempted(uint32_t relid) const {
    for (size_t i = 0; i < attempted_count_; ++i)
        if (attempted_[i] == relid) return true;
    return false;
}

size_t Registry::create_devices(Connection& conn, hv::HypercallPort& port, DmaProvider& dma,
                                devices::Registry* record) {
    if (conn.state() != State::Ready) return 0;
    size_t made = 0;
    // A factory may talk to the host (GPADLs, open) and so change the offer table; walk it by relid snapshot.
    uint32_t relids[Connection::kMaxOffers];
    size_t n = 0;
    for (size_t i = 0; i < conn.offer_count() && n < Connection::kMaxOffers; ++i) {
        const ChannelOffer* o = conn.offer(i);
        if (o->rescinded || o->offer.sub_channel_index != 0) continue;
        relids[n++] = o->offer.child_relid;
    }
    for (size_t i = 0; i < n; ++i) {
        const uint32_t relid = relids[i];
        if (attempted(relid)) continue;
        const ChannelOffer* o = conn.find_relid(relid);
        if (o == nullptr || o->rescinded) continue;
        stats_.offers_seen++;
        const DeviceDriver* d = find(o->offer.interface_type);
        devices::Record* rec = record != nullptr ? record->record(devices::Bus::Vmbus, relid) : nullptr;
        if (record != nullptr && rec == nullptr && d != nullptr) {
            // A device nobody could find afterwards is worse than none: leave it to a later call.
            stats_.table_full++;
            log::warn("vmbus: no room in the device registry (%zu devices); %s on relid %u left alone",
                      record->capacity(), d->name, relid);
            continue;
        }
        if (d == nullptr) {
            stats_.unclaimed++;
            if (attempted_count_ < Connection::kMaxOffers) attempted_[attempted_count_++] = relid;
            continue;  // the record (if any) says NoDriver
        }
        if (rec != nullptr) rec->driver = d->name;
        if (device_count_ == kMaxDevices) {
            stats_.table_full++;
            if (rec != nullptr) rec->outcome = devices::Outcome::NoRoom;
            log::warn("vmbus: no room for another device (%zu in use); %s on relid %u left alone", kMaxDevices, d->name,
                      relid);
            continue;
        }
        if (attempted_count_ < Connection::kMaxOffers) attempted_[attempted_count_++] = relid;
        net::NicDriver* nic = d->make_nic(conn, port, relid, dma);
        if (nic == nullptr) {
            stats_.factory_failures++;
            if (rec != nullptr) rec->outcome = devices::Outcome::Failed;
            log::warn("vmbus: %s on relid %u did not come up", d->name, relid);
            continue;
        }
        devices_[device_count_++] = Device{d, relid, nic};
        if (rec != nullptr) {
            rec->outcome = devices::Outcome::Bound;
            rec->product = devices::Product::nic(nic);
        }
        made++;
    }
    return made;
}

size_t Registry::nics(net::NicDriver** out, size_t max) const {
    size_t n = 0;
    for (size_t i = 0; i < device_count_ && n < max; ++i)
        if (devices_[i].nic != nullptr) out[n++] = devices_[i].nic;
    return n;
}

const char* class_name(const Guid& class_id) {
    for (const KnownClass& k : kKnownClasses)
        if (k.id == class_id) return k.name;
    return nullptr;
}

const char* offer_class_name(const Offer& o) {
    if ((o.flags & kOfferFlagTlnpiProvider) != 0) return "hv_sock";
    const char* n = class_name(o.interface_type);
    return n != nullptr ? n : "unknown";
}

void format_guid(const Guid& g, char out[37]) {
    static const char hex[] = "0123456789abcdef";
    // Wire order: the first three groups little-endian, the last eight bytes as written.
    static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    size_t o = 0;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        const uint8_t b = g.b[order[i]];
        out[o++] = hex[b >> 4];
        out[o++] = hex[b & 15];
    }
    out[o] = '\0';
}

}  // namespace skerry::vmbus
