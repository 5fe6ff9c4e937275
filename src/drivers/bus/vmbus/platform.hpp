// Hyper-V platform bring-up for the kernel: hypercall page, SynIC with the VMBus SINT on its own vector, the VMBus
// connection (version walk with per-attempt timeouts, offers), and UNLOAD at shutdown. Event-driven like the layers
// below it: start() sends the first request, service(now) consumes host messages and acts on timeouts, deadline()
// says when service() must run next. The kernel glue (hyperv_kernel.cpp) runs service() from the event loop (the
// SINT interrupt raises it; a timer fires it at deadline()); host tests run it against the host simulator with a
// made-up clock. Every failure is reported (failure()) and leaves the machine as it was: never fatal.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/vmbus/hv.hpp"
#include "drivers/bus/vmbus/synic.hpp"
#include "drivers/bus/vmbus/vmbus.hpp"
#include "kernel/dma.hpp"

namespace skerry::time {
struct Calibration;
}

namespace skerry::hyperv {

struct PlatformConfig {
    hv::HypercallPort* port = nullptr;  // kernel: hv::PageHypercall on hypercall_page_phys
    uint64_t hypercall_page_phys = 0;   // page-aligned, mapped executable (the hypervisor overlays it)
    uint8_t vector = 0;                 // IDT vector for the VMBus SINT, installed by the caller (16..255)
    uint32_t max_version = vmbus::kGuestVersions[0];
    uint64_t contact_timeout_ns = 1000000000ull;  // per version attempt: then fall back to the next version
    uint64_t offers_timeout_ns = 5000000000ull;   // from start() to ALLOFFERS_DELIVERED, all attempts included
    void (*delay_us)(uint32_t us) = nullptr;      // back-off between post retries
};

enum class Phase : uint8_t { Off, Connecting, Ready, Failed, Unloaded };
const char* phase_name(Phase p);

enum class Failure : uint8_t {
    None,
    NotHyperV,       // features not usable (see hv::Features::result)
    NoMemory,        // no pages for SIM/SIEF/post buffer/monitor pages
    BadConfig,       // no port, vector < 16, no hypercall page
    Hypercalls,      // hv::enable_hypercalls failed
    Synic,           // Synic::enable refused
    Connection,      // the VMBus connection failed (vmbus::Failure says why)
    OffersTimedOut,  // no ALLOFFERS_DELIVERED within offers_timeout_ns
};
const char* failure_name(Failure f);

// What firmware (Gen2 UEFI has its own VMBus session) left enabled at hand-off, and quiesce() turned off.
struct FirmwareState {
    uint64_t guest_os_id = 0;
    bool hypercall_page = false;       // an overlay hiding a RAM page the kernel may hand out
    bool hypercall_locked = false;     // could not be moved or disabled
    bool reference_tsc_page = false;   // another overlay
    bool simp = false, siefp = false;  // the host writes messages and event flags into these pages
    uint32_t sints_unmasked = 0;       // bit per SINT
};
// Turn off what firmware left on, before the kernel hands out memory: the hypercall and reference TSC overlay
// pages (writes to an overlaid RAM page are lost or fault), the SynIC message/event pages (the host would keep
// writing into what is now ordinary RAM) and every unmasked SINT. SCONTROL is left alone (clearing it hung
// WS2016 during iPXE's hand-off). Only touches MSRs whose privilege CPUID grants; nothing without Hyper-V.
FirmwareState quiesce(const hv::Features& f);

class Platform {
public:
    Platform() = default;
    // Releases what a running platform holds (SynIC, hypercall page, pages) without talking to the host.
    ~Platform() {
        if (phase_ == Phase::Connecting || phase_ == Phase::Ready) teardown();
    }
    Platform(const Platform&) = delete;
    Platform& operator=(const Platform&) = delete;

    // Bring up hypercalls and SynIC and send the first INITIATE_CONTACT. False when anything failed (everything
    // enabled so far is undone; failure() says what).
    bool start(const hv::Features& f, const PlatformConfig& c, uint64_t now_ns);
    // Consume host messages, advance, and act on timeouts. Safe to call at any time and in any phase.
    void service(uint64_t now_ns);
    // When service() must run next without a host message (0: no deadline).
    uint64_t deadline() const;
    // Connecting is over: Ready, or Failed.
    bool settled() const { return phase_ != Phase::Connecting; }

    // Host->guest channel signals (SIEF bit = relid on the VMBus SINT), for drivers whose rings the host fills:
    // service() calls fn(context) for each registered relid whose bit it found set (and cleared). A null fn
    // removes the handler. False when all kMaxHandlers slots are taken or relid is 0 or above 2047.
    static constexpr size_t kMaxHandlers = 16;
    using ChannelHandler = void (*)(void* context);
    bool set_channel_handler(uint32_t relid, ChannelHandler fn, void* context);

    // UNLOAD (negotiated version >= 3.0) and wait for UNLOAD_RESPONSE, polling, at most `budget_ns` as measured
    // by `now_ns`; then disable the SynIC and the hypercall page. Returns true when the host confirmed.
    bool shutdown(uint64_t (*now_ns)(), uint64_t budget_ns);

    Phase phase() const { return phase_; }
    Failure failure() const { return failure_; }
    vmbus::Failure connection_failure() const { return conn_.failure(); }
    vmbus::Connection& connection() { return conn_; }
    const vmbus::Connection& connection() const { return conn_; }
    hv::Synic& synic() { return synic_; }
    hv::HypercallPort* port() const { return cfg_.port; }
    uint32_t version_timeouts() const { return version_timeouts_; }
    uint64_t connected_after_ns() const { return ready_ns_ - start_ns_; }

private:
    void fail(Failure f);
    void teardown();
    void dispatch_channel_events();

    struct Handler {
        uint32_t relid = 0;
        ChannelHandler fn = nullptr;
        void* context = nullptr;
    };
    Handler handlers_[kMaxHandlers];

    PlatformConfig cfg_;
    Phase phase_ = Phase::Off;
    Failure failure_ = Failure::None;
    hv::Synic synic_;
    vmbus::Connection conn_{vmbus::Connection::Config{}};
    dma::Region pages_;  // SIM, SIEF, post buffer, interrupt page, monitor pages 1 and 2
    bool hypercalls_on_ = false;
    uint64_t start_ns_ = 0, ready_ns_ = 0;
    uint64_t offers_deadline_ = 0;
    uint64_t attempt_deadline_ = 0;
    uint32_t attempt_version_ = 0;
    uint32_t version_timeouts_ = 0;
};

// ---- kernel glue (hyperv_kernel.cpp; not in host builds)
// Called by kernel_entry before the appliance's main: when CPUID says Hyper-V with the privileges VMBus needs,
// bring the platform up, wait (bounded) for the offers, log what was found and create the registered devices.
// Does nothing elsewhere; never fatal.
void kernel_init();
// Called first thing in kernel_entry, before memory is handed out: quiesce() under Hyper-V, with a log line.
void kernel_quiesce();
// Called before time::init: under Hyper-V with the privilege, enable the reference TSC page and offer partition
// reference time (the page, else the TIME_REF_COUNT MSR) as the kernel's clock. Does nothing elsewhere.
void prepare_clock(time::Calibration& cal);
// The platform (phase Off when not on Hyper-V).
Platform& kernel_platform();

}  // namespace skerry::hyperv
