// The bus-neutral device registry (src/drivers/devices.*): records by bus and address, products, the boot log's
// wording; and the e1000 driver's PCI ID table (e1000_ids.hpp) against the driver's own model table. PCI matching
// against a fake configuration space is in pci_test.cpp, VMBus offers feeding the registry in
// hv_platform_test.cpp.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "drivers/devices.hpp"
#include "drivers/nic/e1000/e1000.hpp"
#include "drivers/nic/e1000/e1000_ids.hpp"
#include "net/nic.hpp"
#include "stub_nic.hpp"

using namespace skerry;

namespace {

using NullNic = skerry_test::StubNic;

std::string location(const devices::Record& r) {
    char buf[32];
    const size_t n = devices::format_location(r, buf, sizeof buf);
    EXPECT_EQ(n, std::string(buf).size());
    return buf;
}

std::string outcome(const devices::Record& r) {
    char buf[64];
    const size_t n = devices::format_outcome(r, buf, sizeof buf);
    EXPECT_EQ(n, std::string(buf).size());
    return buf;
}

TEST(Devices, RecordsAreFoundByBusAndAddress) {
    devices::Record storage[3];
    devices::Registry reg{storage, 3};
    EXPECT_EQ(reg.count(), 0u);
    EXPECT_EQ(reg.capacity(), 3u);
    devices::Record* a = reg.record(devices::Bus::Pci, devices::pci_address(0, 0, 3, 0));
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->outcome, devices::Outcome::NoDriver);
    EXPECT_EQ(a->driver, nullptr);
    EXPECT_TRUE(a->product.empty());
    // The same device again is the same record; the same number on another bus is another device.
    EXPECT_EQ(reg.record(devices::Bus::Pci, devices::pci_address(0, 0, 3, 0)), a);
    devices::Record* b = reg.record(devices::Bus::Vmbus, devices::pci_address(0, 0, 3, 0));
    ASSERT_NE(b, nullptr);
    EXPECT_NE(b, a);
    EXPECT_EQ(reg.find(devices::Bus::Vmbus, devices::pci_address(0, 0, 3, 0)), b);
    EXPECT_EQ(reg.find(devices::Bus::Vmbus, 99), nullptr);
    ASSERT_NE(reg.record(devices::Bus::Vmbus, 14), nullptr);
    EXPECT_EQ(reg.count(), 3u);
    // Full: nothing new, counted; existing records are still handed out.
    EXPECT_EQ(reg.record(devices::Bus::Vmbus, 15), nullptr);
    EXPECT_EQ(reg.dropped(), 1u);
    EXPECT_EQ(reg.record(devices::Bus::Vmbus, 14), reg.at(2));
    EXPECT_EQ(reg.count(), 3u);
    EXPECT_EQ(reg.at(3), nullptr);
}

TEST(Devices, ProductsAreTypedAndNicsComeInDiscoveryOrder) {
    NullNic n1, n2, n3;
    EXPECT_TRUE(devices::Product().empty());
    EXPECT_TRUE(devices::Product::nic(nullptr).empty());
    const devices::Product p = devices::Product::nic(&n1);
    EXPECT_EQ(p.kind(), devices::Kind::Nic);
    EXPECT_EQ(p.as_nic(), &n1);
    EXPECT_STREQ(devices::kind_name(devices::Kind::Nic), "NIC");
    EXPECT_STREQ(devices::kind_name(devices::Kind::None), "none");

    devices::Record storage[8];
    devices::Registry reg{storage, 8};
    auto bind = [&](devices::Bus bus, uint32_t address, NullNic* nic) {
        devices::Record* r = reg.record(bus, address);
        r->driver = "drv";
        r->outcome = devices::Outcome::Bound;
        r->product = devices::Product::nic(nic);
    };
    bind(devices::Bus::Pci, devices::pci_address(0, 0, 3, 0), &n1);
    reg.record(devices::Bus::Pci, devices::pci_address(0, 0, 4, 0));  // no driver
    bind(devices::Bus::Pci, devices::pci_address(0, 0, 5, 0), &n2);
    bind(devices::Bus::Vmbus, 14, &n3);
    net::NicDriver* out[8] = {};
    ASSERT_EQ(reg.nics(out, 8), 3u);
    EXPECT_EQ(out[0], &n1);
    EXPECT_EQ(out[1], &n2);
    EXPECT_EQ(out[2], &n3);
    EXPECT_EQ(reg.nics(out, 2), 2u);
    EXPECT_EQ(reg.nics(out, 0), 0u);
    EXPECT_EQ(reg.count(devices::Kind::Nic), 3u);
    EXPECT_EQ(reg.count(devices::Kind::None), 1u);
    EXPECT_EQ(reg.count(devices::Outcome::Bound), 3u);
    EXPECT_EQ(reg.count(devices::Outcome::NoDriver), 1u);
}

TEST(Devices, LocationsAndVerdictsForTheBootLog) {
    devices::Record r;
    r.bus = devices::Bus::Pci;
    r.address = devices::pci_address(0, 0, 3, 0);
    EXPECT_EQ(location(r), "00:03.0");
    r.address = devices::pci_address(1, 0x3A, 0x1F, 6);
    EXPECT_EQ(location(r), "0001:3a:1f.6");
    r.address = devices::pci_address(0xFFFF, 0xFF, 31, 7);
    EXPECT_EQ(location(r), "ffff:ff:1f.7");
    r.bus = devices::Bus::Vmbus;
    r.address = 14;
    EXPECT_EQ(location(r), "relid 14");
    EXPECT_STREQ(devices::bus_name(devices::Bus::Pci), "pci");
    EXPECT_STREQ(devices::bus_name(devices::Bus::Vmbus), "vmbus");

    EXPECT_EQ(outcome(r), "no driver");
    r.driver = "e1000";
    r.outcome = devices::Outcome::Bound;
    EXPECT_EQ(outcome(r), "e1000");
    r.detail = "82540EM";
    EXPECT_EQ(outcome(r), "e1000 (82540EM)");
    r.outcome = devices::Outcome::Failed;
    EXPECT_EQ(outcome(r), "e1000 failed");
    r.outcome = devices::Outcome::NoRoom;
    EXPECT_EQ(outcome(r), "e1000: no room");
    char tiny[6];
    EXPECT_EQ(devices::format_outcome(r, tiny, sizeof tiny), 5u);
    EXPECT_STREQ(tiny, "e1000");
}

TEST(Devices, TheKernelRegistryStartsEmpty) {
    // Host tests bind nothing into it; the kernel fills it at boot.
    EXPECT_EQ(devices::registry().count(), 0u);
    EXPECT_EQ(devices::registry().capacity(), devices::kMaxDevices);
}

// The e1000 driver registers for exactly the devices its model table supports, under the same names.
TEST(Devices, E1000IdTableAgreesWithTheDriversModels) {
    std::set<uint16_t> listed;
    for (const pci::Match& m : e1000::kPciIds) {
        EXPECT_EQ(m.vendor, 0x8086);
        EXPECT_EQ(m.class_mask, 0u);
        EXPECT_TRUE(pci::valid(m));
        const e1000::ModelInfo* model = e1000::find_model(m.vendor, m.device);
        ASSERT_NE(model, nullptr) << std::hex << m.device;
        EXPECT_STREQ(model->name, m.model) << std::hex << m.device;
        EXPECT_TRUE(listed.insert(m.device).second) << "listed twice: " << std::hex << m.device;
    }
    for (uint32_t id = 0; id <= 0xFFFF; ++id) {
        if (e1000::find_model(0x8086, static_cast<uint16_t>(id)) != nullptr) {
            EXPECT_TRUE(listed.count(static_cast<uint16_t>(id))) << "not registered: 8086:" << std::hex << id;
        }
    }
}

}  // namespace
