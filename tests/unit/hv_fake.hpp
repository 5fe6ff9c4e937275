// A fake Hyper-V hypervisor for the guest driver's unit tests: CPUID leaves, the hypercall/guest-id/SynIC MSRs
// with the hypervisor's side effects (page enabling, EOM delivering the next queued message into the SIM slot),
// memory through dma_host's identity "physical" addresses, and a recording hypercall port. Written from the
// docs/protocols/hyperv-vmbus.md (§1-§4), not from the driver.
#pragma once

#include <stdint.h>
#include <string.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "drivers/bus/vmbus/hv.hpp"
#include "drivers/bus/vmbus/synic.hpp"
#include "hw/hw.hpp"

namespace skerry::hvtest {

class HvModel : public hw::Model {
public:
    // A Hyper-V with all the privileges VMBus needs.
    HvModel() {
        leaves[1] = {0, 0, 1u << 31, 0};
        leaves[0x40000000] = {0x4000000C, 0x7263694D, 0x666F736F, 0x76482074};
        leaves[0x40000001] = {hv::kInterfaceHv1, 0, 0, 0};
        leaves[0x40000002] = {20348, (10u << 16) | 0, 0, 0};
        leaves[0x40000003] = {0x2E7F, 0x3B8030, 0, 0xBED7B2};
        leaves[0x40000004] = {0, 0, 0, 0};
        for (unsigned i = 0; i < hv::kSintCount; ++i) msrs[hv::kMsrSint0 + i] = hv::kSintResetValue;
    }

    hw::CpuidResult cpuid(uint32_t leaf, uint32_t) override {
        auto it = leaves.find(leaf);
        return it == leaves.end() ? hw::CpuidResult{0, 0, 0, 0} : it->second;
    }
    uint64_t rdmsr(uint32_t msr) override {
        reads.push_back(msr);
        if (msr == hv::kMsrEom) return 0;
        auto it = msrs.find(msr);
        return it == msrs.end() ? 0 : it->second;
    }
    void wrmsr(uint32_t msr, uint64_t value) override {
        writes.push_back({msr, value});
        if (msr == hv::kMsrHypercall) {
            const uint64_t cur = msrs[msr];
            if (cur & hv::kHypercallLocked) return;
            // The page cannot be enabled while the guest OS id is zero.
            if (msrs[hv::kMsrGuestOsId] == 0) value &= ~hv::kHypercallEnable;
        } else if (msr == hv::kMsrGuestOsId && value == 0) {
            msrs[hv::kMsrHypercall] &= ~hv::kHypercallEnable;
        } else if (msr == hv::kMsrEom) {
            eom_writes++;
            for (unsigned s = 0; s < hv::kSintCount; ++s) deliver(s);
            return;
        } else if (msr >= hv::kMsrSint0 && msr < hv::kMsrSint0 + hv::kSintCount) {
            if ((value & 0xFF) < 16 && (value & hv::kSintMasked) == 0) violations.push_back("SINT vector < 16");
        }
        msrs[msr] = value;
    }
    void* phys_to_host(uint64_t phys, size_t) override { return reinterpret_cast<void*>(phys); }

    // ---- host side of the SynIC
    bool simp_ready() {
        return (msrs[hv::kMsrScontrol] & hv::kScontrolEnable) && (msrs[hv::kMsrSimp] & hv::kPageEnable);
    }
    uint8_t* sim_page() { return reinterpret_cast<uint8_t*>(msrs[hv::kMsrSimp] & ~0xFFFull); }
    uint8_t* sief_page() { return reinterpret_cast<uint8_t*>(msrs[hv::kMsrSiefp] & ~0xFFFull); }

    struct Queued {
        uint32_t type;
        uint8_t size;  // may lie (> 240) for malformed-message tests
        std::vector<uint8_t> payload;
    };
    // Queue a message for `sint` and try to deliver it.
    void send(unsigned sint, uint32_t type, const void* payload, size_t size, int claim_size = -1) {
        Queued q{type, static_cast<uint8_t>(claim_size >= 0 ? claim_size : static_cast<int>(size)), {}};
        q.payload.assign(static_cast<const uint8_t*>(payload), static_cast<const uint8_t*>(payload) + size);
        queues[sint].push_back(q);
        deliver(sint);
    }
    // Copy the head of the queue into the slot if the slot is free; flag pending when more wait.
    void deliver(unsigned sint) {
        auto& q = queues[sint];
        if (q.empty() || !simp_ready()) return;
        uint8_t* slot = sim_page() + sint * hv::kMessageSlotSize;
        uint32_t type;
        memcpy(&type, slot, 4);
        if (type != 0) {
            slot[hv::kSlotOffFlags] |= hv::kMessageFlagPending;
            return;
        }
        const Queued m = q.front();
        q.pop_front();
        memset(slot, 0, hv::kMessageSlotSize);
        slot[hv::kSlotOffSize] = m.size;
        slot[hv::kSlotOffFlags] = q.empty() ? 0 : hv::kMessageFlagPending;
        const uint64_t origin = 0x1122334455667788ull;
        memcpy(slot + hv::kSlotOffOrigin, &origin, 8);
        memcpy(slot + hv::kSlotOffPayload, m.payload.data(), m.payload.size() < 240 ? m.payload.size() : 240);
        memcpy(slot, &m.type, 4);  // type last: it publishes the slot
    }
    void set_event(unsigned sint, unsigned flag) { sief_page()[sint * 256 + flag / 8] |= 1u << (flag % 8); }

    std::map<uint32_t, hw::CpuidResult> leaves;
    std::map<uint32_t, uint64_t> msrs;
    std::vector<uint32_t> reads;
    std::vector<std::pair<uint32_t, uint64_t>> writes;
    std::map<unsigned, std::deque<Queued>> queues;
    std::vector<std::string> violations;
    int eom_writes = 0;
};

// Records hypercalls and answers with a fixed (or scripted) status.
class RecordingPort : public hv::HypercallPort {
public:
    struct Call {
        uint64_t control, rdx, r8;
        std::vector<uint8_t> input;  // the 256-byte input block for memory-form calls
    };
    uint64_t call(uint64_t control, uint64_t rdx, uint64_t r8) override {
        Call c{control, rdx, r8, {}};
        if ((control & (1ull << 16)) == 0 && rdx != 0) {
            const uint8_t* p = reinterpret_cast<const uint8_t*>(rdx);
            c.input.assign(p, p + 256);
        }
        calls.push_back(c);
        if (!script.empty()) {
            const uint16_t s = script.front();
            script.pop_front();
            return s;
        }
        return status;
    }
    std::vector<Call> calls;
    std::deque<uint16_t> script;
    uint16_t status = hv::kStatusSuccess;
};

// Installs a model for the lifetime of a test.
struct ModelScope {
    explicit ModelScope(hw::Model* m) { hw::set_model(m); }
    ~ModelScope() { hw::set_model(nullptr); }
};

}  // namespace skerry::hvtest
