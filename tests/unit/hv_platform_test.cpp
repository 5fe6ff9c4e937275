// The Hyper-V platform bring-up (drivers/bus/vmbus/platform.*) and the VMBus device registry (registry.*) against the
// fake hypervisor and the VMBus host simulator, with a made-up clock: offers arrive, a late reply makes the guest
// fall back to the next version when the attempt's timer expires, a silent host or a missing Hyper-V is a clean,
// bounded, non-fatal failure, and UNLOAD at shutdown is bounded too.
#include <gtest/gtest.h>
#include <string.h>

#include <string>
#include <vector>

#include "drivers/bus/vmbus/platform.hpp"
#include "drivers/bus/vmbus/reftime.hpp"
#include "drivers/bus/vmbus/registry.hpp"
#include "drivers/devices.hpp"
#include "hv_fake.hpp"
#include "hv_host_sim.hpp"
#include "kernel/dma.hpp"
#include "net/nic.hpp"
#include "stub_nic.hpp"

namespace skerry::hyperv {
namespace {

using hvtest::HostSim;
using hvtest::HvModel;
using vmbus::Guid;
using vmbus::make_guid;

constexpr uint64_t kMs = 1000000ull;
const Guid kIdeClass = make_guid(0x32412632, 0x86cb, 0x44a2, 0x9b5c50d1417354f5ull);

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\n";
    return s;
}

// Forwards to the simulator, but holds back the host's reply to the guest's next message of type `hold_type`
// (taken out of the SIM slot or the hypervisor's queue), to be delivered later with release(), or never.
class HoldingPort : public hv::HypercallPort {
public:
    HoldingPort(HostSim& host, HvModel& model) : host_(host), model_(model) {}
    uint64_t call(uint64_t control, uint64_t rdx, uint64_t r8) override {
        const bool post = (control & 0xFFFF) == hv::kCallPostMessage;
        uint32_t msgtype = 0;
        if (post) memcpy(&msgtype, reinterpret_cast<const uint8_t*>(rdx) + 16, 4);
        auto& q = model_.queues[hv::kVmbusSint];
        const size_t queued = q.size();
        uint8_t* slot = model_.sim_page() + hv::kVmbusSint * hv::kMessageSlotSize;
        uint32_t slot_type;
        memcpy(&slot_type, slot, 4);
        const uint64_t r = host_.call(control, rdx, r8);
        if (!post || hold_type == 0 || msgtype != hold_type) return r;
        hold_type = 0;
        if (q.size() > queued) {
            held = q.back().payload;
            q.pop_back();
        } else {
            uint32_t now_type;
            memcpy(&now_type, slot, 4);
            if (slot_type == 0 && now_type != 0) {
                held.assign(slot + hv::kSlotOffPayload, slot + hv::kSlotOffPayload + slot[hv::kSlotOffSize]);
                memset(slot, 0, 4);
            }
        }
        return r;
    }
    void release() {
        model_.send(hv::kVmbusSint, hv::kMessageTypeVmbus, held.data(), held.size());
        held.clear();
    }
    uint32_t hold_type = 0;
    std::vector<uint8_t> held;

private:
    HostSim& host_;
    HvModel& model_;
};

uint64_t fake_clock_ns;
uint64_t fake_now() { return fake_clock_ns += kMs; }  // every reading advances 1 ms

struct PlatformTest : ::testing::Test {
    void SetUp() override {
        hw::set_model(&model);
        dma_before = dma::in_use();
        ASSERT_TRUE(dma::alloc(4096, hypercall_page));
        host.devices = {{kIdeClass, make_guid(1, 2, 3, 4), 0}, {vmbus::kNetvscClass, make_guid(5, 6, 7, 8), 0}};
        cfg.port = &host;
        cfg.hypercall_page_phys = hypercall_page.phys;
        cfg.vector = 0x50;
        cfg.contact_timeout_ns = 1000 * kMs;
        cfg.offers_timeout_ns = 5000 * kMs;
    }
    void TearDown() override {
        EXPECT_TRUE(host.violations.empty()) << joined(host.violations);
        EXPECT_TRUE(model.violations.empty()) << joined(model.violations);
        hw::set_model(nullptr);
        dma::free(hypercall_page);
    }
    // Run the platform the way the kernel's loop does: service at each deadline until it settles.
    int run(Platform& p, uint64_t from_ns) {
        int steps = 0;
        for (uint64_t t = from_ns; !p.settled() && steps < 100; ++steps) {
            t = p.deadline();
            p.service(t);
        }
        return steps;
    }
    bool synic_off() {
        return (model.msrs[hv::kMsrSimp] & hv::kPageEnable) == 0 &&
               (model.msrs[hv::kMsrSiefp] & hv::kPageEnable) == 0 &&
               (model.msrs[hv::kMsrSint0 + hv::kVmbusSint] & hv::kSintMasked) != 0;
    }

    HvModel model;
    HostSim host{model};
    dma::Region hypercall_page;
    size_t dma_before = 0;
    PlatformConfig cfg;
};

TEST_F(PlatformTest, BringsUpHypercallsSynicAndCollectsOffers) {
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.phase(), Phase::Ready) << failure_name(p.failure());
    EXPECT_EQ(p.connection().version(), vmbus::kVersionWin10V53);
    EXPECT_EQ(p.connection().offer_count(), 2u);
    EXPECT_NE(p.connection().find_offer(vmbus::kNetvscClass), nullptr);
    EXPECT_EQ(p.deadline(), 0u);
    // The hypercall page is ours and enabled; SINT2 carries our vector, unmasked, without AutoEOI.
    EXPECT_EQ(model.msrs[hv::kMsrGuestOsId], hv::kSkerryGuestOsId);
    EXPECT_EQ(model.msrs[hv::kMsrHypercall] & ~0xFFFull, hypercall_page.phys);
    EXPECT_TRUE(model.msrs[hv::kMsrHypercall] & hv::kHypercallEnable);
    const uint64_t sint = model.msrs[hv::kMsrSint0 + hv::kVmbusSint];
    EXPECT_EQ(sint & 0xFF, 0x50u);
    EXPECT_EQ(sint & (hv::kSintMasked | hv::kSintAutoEoi), 0u);
    EXPECT_TRUE(model.msrs[hv::kMsrScontrol] & hv::kScontrolEnable);
    EXPECT_TRUE(host.connected());
}

TEST_F(PlatformTest, LateReplyMakesTheTimerFallBackToTheNextVersion) {
    HoldingPort port(host, model);
    port.hold_type = vmbus::kMsgInitiateContact;  // the host's answer to 5.3 comes late
    cfg.port = &port;
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.phase(), Phase::Connecting);
    ASSERT_FALSE(port.held.empty());
    EXPECT_EQ(p.deadline(), 1000 * kMs);  // the attempt's timeout comes before the overall one
    p.service(500 * kMs);                 // nothing yet: still waiting for 5.3
    EXPECT_EQ(p.connection().version(), vmbus::kVersionWin10V53);
    EXPECT_EQ(p.version_timeouts(), 0u);
    p.service(1000 * kMs);  // the timer: fall back to 5.2, which the host answers at once
    EXPECT_EQ(p.version_timeouts(), 1u);
    port.release();  // ... and now the late answer to 5.3 arrives: dropped, counted
    run(p, 1000 * kMs);
    EXPECT_EQ(p.phase(), Phase::Ready) << failure_name(p.failure());
    EXPECT_EQ(p.connection().version(), vmbus::kVersionWin10V52);
    EXPECT_EQ(host.version(), vmbus::kVersionWin10V52);
    EXPECT_GE(p.connection().stats().dropped, 1u);
    EXPECT_EQ(p.connection().offer_count(), 2u);
}

TEST_F(PlatformTest, RefusedVersionsWalkDownWithoutWaiting) {
    host.max_version = vmbus::kVersionWin81;
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.phase(), Phase::Ready);
    EXPECT_EQ(p.connection().version(), vmbus::kVersionWin81);
    EXPECT_EQ(p.version_timeouts(), 0u);
}

TEST_F(PlatformTest, SilentHostFailsCleanlyWithinTheBudget) {
    host.answer_contact = false;  // KVM with Hyper-V enlightenments: a SynIC but no VMBus server
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    const int steps = run(p, 0);
    EXPECT_LE(steps, 10);
    EXPECT_EQ(p.phase(), Phase::Failed);
    EXPECT_EQ(p.failure(), Failure::OffersTimedOut);
    EXPECT_EQ(p.version_timeouts(), 4u);  // 5.3 at 0 s, 5.2 at 1 s, ... 5.0 at 4 s; the budget ends at 5 s
    // Everything undone: SynIC off, hypercall page off, guest id cleared, pages returned.
    EXPECT_TRUE(synic_off());
    EXPECT_EQ(model.msrs[hv::kMsrHypercall] & hv::kHypercallEnable, 0u);
    EXPECT_EQ(model.msrs[hv::kMsrGuestOsId], 0u);
    EXPECT_EQ(dma::in_use(), dma_before + 4096);  // only the test's hypercall page
    p.service(10000 * kMs);                       // harmless after the failure
    EXPECT_EQ(p.phase(), Phase::Failed);
}

TEST_F(PlatformTest, ShortVersionTimeoutsExhaustTheListFirst) {
    host.answer_contact = false;
    cfg.contact_timeout_ns = 100 * kMs;
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    run(p, 0);
    EXPECT_EQ(p.failure(), Failure::Connection);
    EXPECT_EQ(p.connection_failure(), vmbus::Failure::NoCommonVersion);
    EXPECT_EQ(p.version_timeouts(), static_cast<uint32_t>(vmbus::kGuestVersionCount));
}

TEST_F(PlatformTest, NotHyperVDoesNothing) {
    model.leaves[1] = {0, 0, 0, 0};  // no hypervisor bit
    Platform p;
    EXPECT_FALSE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.failure(), Failure::NotHyperV);
    EXPECT_TRUE(model.writes.empty());
    EXPECT_EQ(host.posts, 0);
}

TEST_F(PlatformTest, MissingPrivilegesDoNothing) {
    model.leaves[0x40000003].ebx &= ~hv::kPrivPostMessages;
    Platform p;
    EXPECT_FALSE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.failure(), Failure::NotHyperV);
    EXPECT_TRUE(model.writes.empty());
}

TEST_F(PlatformTest, BadConfigurationIsRefused) {
    Platform p;
    cfg.vector = 8;
    EXPECT_FALSE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.failure(), Failure::BadConfig);
    cfg.vector = 0x50;
    cfg.hypercall_page_phys = hypercall_page.phys + 8;
    EXPECT_FALSE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.failure(), Failure::BadConfig);
    EXPECT_TRUE(model.writes.empty());
}

TEST_F(PlatformTest, LockedHypercallPageElsewhereFailsAndUndoes) {
    model.msrs[hv::kMsrHypercall] = 0x12345000ull | hv::kHypercallLocked | hv::kHypercallEnable;
    Platform p;
    EXPECT_FALSE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.failure(), Failure::Hypercalls);
    EXPECT_EQ(dma::in_use(), dma_before + 4096);
    EXPECT_EQ(host.posts, 0);
}

TEST_F(PlatformTest, ShutdownUnloadsAndDisables) {
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    fake_clock_ns = 0;
    EXPECT_TRUE(p.shutdown(fake_now, 100 * kMs));
    EXPECT_EQ(p.phase(), Phase::Unloaded);
    ASSERT_FALSE(host.received.empty());
    EXPECT_EQ(host.received.back(), static_cast<uint32_t>(vmbus::kMsgUnload));
    EXPECT_FALSE(host.connected());
    EXPECT_TRUE(synic_off());
    EXPECT_EQ(model.msrs[hv::kMsrGuestOsId], 0u);
    EXPECT_EQ(dma::in_use(), dma_before + 4096);
    EXPECT_FALSE(p.shutdown(fake_now, 100 * kMs));  // once only
}

TEST_F(PlatformTest, ShutdownWaitIsBoundedWhenTheHostDoesNotAnswer) {
    HoldingPort port(host, model);
    cfg.port = &port;
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    port.hold_type = vmbus::kMsgUnload;
    fake_clock_ns = 0;
    EXPECT_FALSE(p.shutdown(fake_now, 50 * kMs));
    EXPECT_LE(fake_clock_ns, 60 * kMs);
    EXPECT_EQ(p.phase(), Phase::Unloaded);
    EXPECT_TRUE(synic_off());
}

TEST_F(PlatformTest, ShutdownBeforeVersion30SendsNoUnload) {
    host.max_version = vmbus::kVersionWin8;
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    ASSERT_EQ(p.connection().version(), vmbus::kVersionWin8);
    fake_clock_ns = 0;
    EXPECT_FALSE(p.shutdown(fake_now, 50 * kMs));
    EXPECT_NE(host.received.back(), static_cast<uint32_t>(vmbus::kMsgUnload));
    EXPECT_TRUE(synic_off());
}

TEST_F(PlatformTest, QuiesceTurnsOffWhatFirmwareLeft) {
    // Gen2 UEFI at hand-off: its guest id, hypercall page, reference TSC page, SynIC pages and SINT2 on.
    model.msrs[hv::kMsrGuestOsId] = hv::kFirmwareGuestOsId;
    model.msrs[hv::kMsrHypercall] = 0x7F000000ull | hv::kHypercallEnable;
    model.msrs[hv::kMsrReferenceTsc] = 0x7F001000ull | 1;
    model.msrs[hv::kMsrSimp] = 0x7F002000ull | hv::kPageEnable;
    model.msrs[hv::kMsrSiefp] = 0x7F003000ull | hv::kPageEnable;
    model.msrs[hv::kMsrSint0 + 2] = 0x50;
    model.msrs[hv::kMsrScontrol] = hv::kScontrolEnable;
    const FirmwareState st = quiesce(hv::detect());
    EXPECT_EQ(st.guest_os_id, hv::kFirmwareGuestOsId);
    EXPECT_TRUE(st.hypercall_page && st.reference_tsc_page && st.simp && st.siefp);
    EXPECT_EQ(st.sints_unmasked, 1u << 2);
    EXPECT_EQ(model.msrs[hv::kMsrHypercall], 0x7F000000ull);
    EXPECT_EQ(model.msrs[hv::kMsrReferenceTsc], 0x7F001000ull);
    EXPECT_TRUE(synic_off());
    EXPECT_EQ(model.msrs[hv::kMsrScontrol], hv::kScontrolEnable);  // left alone
    // Then the platform comes up as usual.
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(p.phase(), Phase::Ready);
}

TEST_F(PlatformTest, QuiesceLeavesALockedHypercallPageAndCleanStateAlone) {
    model.msrs[hv::kMsrHypercall] = 0x7F000000ull | hv::kHypercallEnable | hv::kHypercallLocked;
    FirmwareState st = quiesce(hv::detect());
    EXPECT_TRUE(st.hypercall_locked);
    EXPECT_EQ(model.msrs[hv::kMsrHypercall], 0x7F000000ull | hv::kHypercallEnable | hv::kHypercallLocked);
    model.msrs[hv::kMsrHypercall] = 0;
    model.writes.clear();
    st = quiesce(hv::detect());  // reset state: nothing to write
    EXPECT_FALSE(st.hypercall_page || st.simp || st.siefp || st.reference_tsc_page);
    EXPECT_EQ(st.sints_unmasked, 0u);
    EXPECT_TRUE(model.writes.empty());
    model.leaves[0x40000003].eax = 0;  // no MSR privileges at all: not a single access
    model.reads.clear();
    quiesce(hv::detect());
    EXPECT_TRUE(model.reads.empty());
    model.leaves[1] = {0, 0, 0, 0};  // no hypervisor
    quiesce(hv::detect());
    EXPECT_TRUE(model.reads.empty());
    EXPECT_TRUE(model.writes.empty());
}

int handler_calls[3];
void count_handler(void* ctx) { handler_calls[reinterpret_cast<uintptr_t>(ctx)]++; }

TEST_F(PlatformTest, ChannelSignalsReachTheirHandlers) {
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    memset(handler_calls, 0, sizeof handler_calls);
    EXPECT_TRUE(p.set_channel_handler(2, count_handler, reinterpret_cast<void*>(1)));
    EXPECT_TRUE(p.set_channel_handler(5, count_handler, reinterpret_cast<void*>(2)));
    EXPECT_FALSE(p.set_channel_handler(0, count_handler, nullptr));
    EXPECT_FALSE(p.set_channel_handler(2048, count_handler, nullptr));
    model.set_event(hv::kVmbusSint, 2);
    model.set_event(hv::kVmbusSint, 3);  // nobody's: left alone
    p.service(1);
    EXPECT_EQ(handler_calls[1], 1);
    EXPECT_EQ(handler_calls[2], 0);
    p.service(2);  // the bit was cleared: no second call
    EXPECT_EQ(handler_calls[1], 1);
    EXPECT_TRUE(p.set_channel_handler(2, nullptr, nullptr));  // removed
    model.set_event(hv::kVmbusSint, 2);
    p.service(3);
    EXPECT_EQ(handler_calls[1], 1);
    for (uint32_t r = 10; r < 10 + Platform::kMaxHandlers - 1; ++r)
        EXPECT_TRUE(p.set_channel_handler(r, count_handler, nullptr));
    EXPECT_FALSE(p.set_channel_handler(100, count_handler, nullptr));  // table full
}

// ------------------------------------------------------------------------------------------------ registry
// A NIC the test factories make; only its relid matters.
struct TestNic : skerry_test::StubNic {
    explicit TestNic(uint32_t relid) : StubNic(relid, "test nic", true) {}
    uint32_t relid() const { return id(); }
};

struct FactoryLog {
    std::vector<uint32_t> relids;
    std::vector<hv::HypercallPort*> ports;
    bool fail = false;
    std::vector<TestNic*> made;
};
FactoryLog factory_log;

net::NicDriver* make_test_nic(vmbus::Connection& conn, hv::HypercallPort& port, uint32_t relid,
                              vmbus::DmaProvider& dma) {
    factory_log.relids.push_back(relid);
    factory_log.ports.push_back(&port);
    // The factory may use the connection and the DMA provider (as netvsc will).
    EXPECT_NE(conn.find_relid(relid), nullptr);
    dma::Region r;
    EXPECT_TRUE(dma.alloc(8192, r));
    dma.free(r);
    if (factory_log.fail) return nullptr;
    auto* nic = new TestNic(relid);
    factory_log.made.push_back(nic);
    return nic;
}

struct RegistryTest : PlatformTest {
    void SetUp() override {
        PlatformTest::SetUp();
        factory_log = FactoryLog{};
    }
    void TearDown() override {
        for (TestNic* n : factory_log.made) delete n;
        PlatformTest::TearDown();
    }
};

TEST_F(RegistryTest, MatchesOffersToDriversAndHandsOutNics) {
    vmbus::Registry reg;
    vmbus::DeviceDriver drv{vmbus::kNetvscClass, "testvsc", make_test_nic};
    ASSERT_TRUE(reg.add(drv));
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    const uint32_t relid = p.connection().find_offer(vmbus::kNetvscClass)->offer.child_relid;
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma()), 1u);
    ASSERT_EQ(factory_log.relids.size(), 1u);
    EXPECT_EQ(factory_log.relids[0], relid);
    EXPECT_EQ(factory_log.ports[0], &host);
    ASSERT_EQ(reg.device_count(), 1u);
    EXPECT_EQ(reg.device(0)->driver, &drv);
    EXPECT_EQ(reg.device(0)->relid, relid);
    net::NicDriver* nics[4];
    ASSERT_EQ(reg.nics(nics, 4), 1u);
    EXPECT_EQ(static_cast<TestNic*>(nics[0])->relid(), relid);
    EXPECT_EQ(reg.nics(nics, 0), 0u);
    EXPECT_EQ(reg.stats().offers_seen, 2u);
    EXPECT_EQ(reg.stats().unclaimed, 1u);  // the IDE controller
    // Idempotent: nothing new, no second factory call.
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma()), 0u);
    EXPECT_EQ(factory_log.relids.size(), 1u);
    EXPECT_EQ(reg.stats().offers_seen, 2u);
}

TEST_F(RegistryTest, OneDevicePerPrimaryOfferSkippingSubchannelsAndRescinded) {
    host.devices.push_back({vmbus::kNetvscClass, make_guid(5, 6, 7, 8), 1});  // a vRSS sub-channel of the NIC
    host.devices.push_back({vmbus::kNetvscClass, make_guid(9, 9, 9, 9), 0});  // a second NIC, rescinded below
    vmbus::Registry reg;
    vmbus::DeviceDriver drv{vmbus::kNetvscClass, "testvsc", make_test_nic};
    ASSERT_TRUE(reg.add(drv));
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    ASSERT_EQ(p.connection().offer_count(), 4u);
    host.rescind(4);
    p.service(0);
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma()), 1u);
    ASSERT_EQ(factory_log.relids.size(), 1u);
    EXPECT_EQ(factory_log.relids[0], 2u);
}

TEST_F(RegistryTest, FactoryFailureIsCountedAndNotRetried) {
    factory_log.fail = true;
    vmbus::Registry reg;
    vmbus::DeviceDriver drv{vmbus::kNetvscClass, "testvsc", make_test_nic};
    ASSERT_TRUE(reg.add(drv));
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma()), 0u);
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma()), 0u);
    EXPECT_EQ(reg.stats().factory_failures, 1u);
    EXPECT_EQ(factory_log.relids.size(), 1u);
    net::NicDriver* nics[4];
    EXPECT_EQ(reg.nics(nics, 4), 0u);
}

// Every primary offer goes into the bus-neutral device registry with its outcome, where the kernel finds the NICs.
TEST_F(RegistryTest, OffersAndTheirDriversAreRecordedInTheDeviceRegistry) {
    vmbus::Registry reg;
    vmbus::DeviceDriver drv{vmbus::kNetvscClass, "testvsc", make_test_nic};
    ASSERT_TRUE(reg.add(drv));
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    const uint32_t nic_relid = p.connection().find_offer(vmbus::kNetvscClass)->offer.child_relid;
    const uint32_t ide_relid = p.connection().find_offer(kIdeClass)->offer.child_relid;
    devices::Record storage[8];
    devices::Registry out{storage, 8};
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma(), &out), 1u);
    ASSERT_EQ(out.count(), 2u);
    const devices::Record* nic = out.find(devices::Bus::Vmbus, nic_relid);
    ASSERT_NE(nic, nullptr);
    EXPECT_EQ(nic->outcome, devices::Outcome::Bound);
    EXPECT_STREQ(nic->driver, "testvsc");
    ASSERT_EQ(factory_log.made.size(), 1u);
    EXPECT_EQ(nic->product.as_nic(), factory_log.made[0]);
    const devices::Record* ide = out.find(devices::Bus::Vmbus, ide_relid);
    ASSERT_NE(ide, nullptr);
    EXPECT_EQ(ide->outcome, devices::Outcome::NoDriver);
    EXPECT_EQ(ide->driver, nullptr);
    EXPECT_TRUE(ide->product.empty());
    net::NicDriver* nics[4];
    ASSERT_EQ(out.nics(nics, 4), 1u);
    EXPECT_EQ(nics[0], factory_log.made[0]);
    char verdict[32];
    devices::format_outcome(*nic, verdict, sizeof verdict);
    EXPECT_STREQ(verdict, "testvsc");
    // Idempotent here too.
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma(), &out), 0u);
    EXPECT_EQ(out.count(), 2u);
}

TEST_F(RegistryTest, AFailedFactoryIsRecordedAsFailed) {
    factory_log.fail = true;
    vmbus::Registry reg;
    vmbus::DeviceDriver drv{vmbus::kNetvscClass, "testvsc", make_test_nic};
    ASSERT_TRUE(reg.add(drv));
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    devices::Record storage[8];
    devices::Registry out{storage, 8};
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma(), &out), 0u);
    const devices::Record* nic = out.find(devices::Bus::Vmbus,
                                          p.connection().find_offer(vmbus::kNetvscClass)->offer.child_relid);
    ASSERT_NE(nic, nullptr);
    EXPECT_EQ(nic->outcome, devices::Outcome::Failed);
    EXPECT_STREQ(nic->driver, "testvsc");
    EXPECT_TRUE(nic->product.empty());
    net::NicDriver* nics[4];
    EXPECT_EQ(out.nics(nics, 4), 0u);
}

TEST_F(RegistryTest, AnOfferTheDeviceRegistryHasNoRoomForIsLeftAlone) {
    vmbus::Registry reg;
    vmbus::DeviceDriver drv{vmbus::kNetvscClass, "testvsc", make_test_nic};
    ASSERT_TRUE(reg.add(drv));
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    devices::Record one[1];
    devices::Registry small{one, 1};  // the IDE offer (first) takes the only record
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma(), &small), 0u);
    EXPECT_TRUE(factory_log.relids.empty());  // no NIC made that nobody could find
    EXPECT_EQ(reg.stats().table_full, 1u);
    EXPECT_EQ(small.count(), 1u);
    EXPECT_EQ(small.at(0)->outcome, devices::Outcome::NoDriver);
    // With room, a later call makes it.
    devices::Record storage[8];
    devices::Registry out{storage, 8};
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma(), &out), 1u);
    EXPECT_EQ(out.count(devices::Outcome::Bound), 1u);
}

TEST_F(RegistryTest, NothingBeforeTheOffersAreIn) {
    host.answer_contact = false;
    vmbus::Registry reg;
    vmbus::DeviceDriver drv{vmbus::kNetvscClass, "testvsc", make_test_nic};
    ASSERT_TRUE(reg.add(drv));
    Platform p;
    ASSERT_TRUE(p.start(hv::detect(), cfg, 0));
    EXPECT_EQ(reg.create_devices(p.connection(), host, vmbus::kernel_dma()), 0u);
    EXPECT_TRUE(factory_log.relids.empty());
}

TEST(VmbusRegistry, RejectsDuplicatesAndNullFactories) {
    vmbus::Registry reg;
    vmbus::DeviceDriver a{vmbus::kNetvscClass, "a", make_test_nic};
    vmbus::DeviceDriver b{vmbus::kNetvscClass, "b", make_test_nic};
    vmbus::DeviceDriver c{kIdeClass, "c", nullptr};
    vmbus::DeviceDriver d{kIdeClass, "d", make_test_nic};
    EXPECT_TRUE(reg.add(a));
    EXPECT_FALSE(reg.add(a));
    EXPECT_FALSE(reg.add(b));
    EXPECT_FALSE(reg.add(c));
    EXPECT_TRUE(reg.add(d));
    EXPECT_EQ(reg.driver_count(), 2u);
    EXPECT_STREQ(reg.find(vmbus::kNetvscClass)->name, "a");
    EXPECT_STREQ(reg.find(kIdeClass)->name, "d");
    EXPECT_EQ(reg.find(make_guid(1, 1, 1, 1)), nullptr);
}

// A static registration, as a driver source has it, lands in the kernel's registry.
const Guid kStaticTestClass = make_guid(0x5ce77e57, 0x0001, 0x0002, 0x0304050607080910ull);
vmbus::Registration static_registration{kStaticTestClass, "static test driver", make_test_nic};

TEST(VmbusRegistry, StaticRegistrationReachesTheKernelRegistry) {
    const vmbus::DeviceDriver* d = vmbus::registry().find(kStaticTestClass);
    ASSERT_NE(d, nullptr);
    EXPECT_STREQ(d->name, "static test driver");
    EXPECT_EQ(d->make_nic, &make_test_nic);
}

TEST(VmbusRegistry, ClassNamesAndGuidFormat) {
    char s[37];
    vmbus::format_guid(vmbus::kNetvscClass, s);
    EXPECT_STREQ(s, "f8615163-df3e-46c5-913f-f2d2f965ed0e");
    vmbus::format_guid(kIdeClass, s);
    EXPECT_STREQ(s, "32412632-86cb-44a2-9b5c-50d1417354f5");
    EXPECT_STREQ(vmbus::class_name(vmbus::kNetvscClass), "netvsc");
    EXPECT_STREQ(vmbus::class_name(make_guid(0xba6163d9, 0x04a1, 0x4d29, 0xb60572e2ffb1dc7full)), "storage (SCSI)");
    EXPECT_EQ(vmbus::class_name(make_guid(1, 2, 3, 4)), nullptr);
    vmbus::Offer o{};
    o.interface_type = make_guid(1, 2, 3, 4);
    EXPECT_STREQ(vmbus::offer_class_name(o), "unknown");
    o.flags = vmbus::kOfferFlagTlnpiProvider | vmbus::kOfferFlagNamedPipe;
    EXPECT_STREQ(vmbus::offer_class_name(o), "hv_sock");
    o.flags = 0;
    o.interface_type = vmbus::kNetvscClass;
    EXPECT_STREQ(vmbus::offer_class_name(o), "netvsc");
}

}  // namespace
}  // namespace skerry::hyperv
