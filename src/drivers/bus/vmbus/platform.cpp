// Hyper-V platform bring-up (see platform.hpp).
#include "drivers/bus/vmbus/platform.hpp"

#include "drivers/bus/vmbus/reftime.hpp"
#include "hw/hw.hpp"

namespace skerry::hyperv {

const char* phase_name(Phase p) {
    switch (p) {
    case Phase::Off: return "off";
    case Phase::Connecting: return "connecting";
    case Phase::Ready: return "ready";
    case Phase::Failed: return "failed";
    case Phase::Unloaded: return "unloaded";
    }
    return "?";
}

const char* failure_name(Failure f) {
    switch (f) {
    case Failure::None: return "none";
    case Failure::NotHyperV: return "not a usable Hyper-V";
    case Failure::NoMemory: return "no memory for the SynIC and VMBus pages";
    case Failure::BadConfig: return "bad configuration";
    case Failure::Hypercalls: return "the hypercall page did not enable";
    case Failure::Synic: return "the SynIC did not enable";
    case Failure::Connection: return "the VMBus connection failed";
    case Failure::OffersTimedOut: return "the host did not finish offering channels in time";
    }
    return "?";
}

namespace {
constexpr size_t kPageCount = 6;
constexpr size_t kSim = 0, kSief = 1, kPost = 2, kInterrupt = 3, kMonitor1 = 4, kMonitor2 = 5;
}  // namespace

FirmwareState quiesce(const hv::Features& f) {
    FirmwareState st;
    if (f.result != hv::DetectResult::Ok && f.result != hv::DetectResult::MissingPrivileges) return st;
    if (f.privileges_low & hv::kPrivHypercallMsrs) {
        st.guest_os_id = hw::rdmsr(hv::kMsrGuestOsId);
        const uint64_t hc = hw::rdmsr(hv::kMsrHypercall);
        st.hypercall_page = (hc & hv::kHypercallEnable) != 0;
        st.hypercall_locked = (hc & hv::kHypercallLocked) != 0;
        if (st.hypercall_page && !st.hypercall_locked) hw::wrmsr(hv::kMsrHypercall, hc & ~hv::kHypercallEnable);
    }
    if (f.has_reference_tsc()) {
        const uint64_t rt = hw::rdmsr(hv::kMsrReferenceTsc);
        st.reference_tsc_page = (rt & hv::kReferenceTscEnable) != 0;
        if (st.reference_tsc_page) hw::wrmsr(hv::kMsrReferenceTsc, rt & ~hv::kReferenceTscEnable);
    }
    if (f.privileges_low & hv::kPrivSynicRegs) {
        for (unsigned i = 0; i < hv::kSintCount; ++i) {
            const uint64_t v = hw::rdmsr(hv::kMsrSint0 + i);
            if ((v & hv::kSintMasked) != 0) continue;
            st.sints_unmasked |= 1u << i;
            hw::wrmsr(hv::kMsrSint0 + i, v | hv::kSintMasked);
        }
        const uint64_t simp = hw::rdmsr(hv::kMsrSimp), siefp = hw::rdmsr(hv::kMsrSiefp);
        st.simp = (simp & hv::kPageEnable) != 0;
        st.siefp = (siefp & hv::kPageEnable) != 0;
        if (st.simp) hw::wrmsr(hv::kMsrSimp, simp & ~hv::kPageEnable);
        if (st.siefp) hw::wrmsr(hv::kMsrSiefp, siefp & ~hv::kPageEnable);
    }
    return st;
}

bool Platform::start(const hv::Features& f, const PlatformConfig& c, uint64_t now_ns) {
    if (phase_ != Phase::Off && phase_ != Phase::Failed && phase_ != Phase::Unloaded) return false;
    cfg_ = c;
    failure_ = Failure::None;
    version_timeouts_ = 0;
    start_ns_ = ready_ns_ = now_ns;
    if (!f.usable()) {
        fail(Failure::NotHyperV);
        return false;
    }
    if (c.port == nullptr || c.vector < 16 || c.hypercall_page_phys == 0 || (c.hypercall_page_phys & 0xFFF) != 0) {
        fail(Failure::BadConfig);
        return false;
    }
    if (!dma::alloc(kPageCount * 4096, pages_)) {
        fail(Failure::NoMemory);
        return false;
    }
    if (hv::enable_hypercalls(f, c.hypercall_page_phys) != hv::SetupResult::Ok) {
        fail(Failure::Hypercalls);
        return false;
    }
    hypercalls_on_ = true;
    const uint64_t base = pages_.phys;
    // AutoEOI stays off: the kernel's interrupt dispatch EOIs every device vector, and an EOI for an
    // auto-EOIed interrupt would retire a different in-service one.
    if (!synic_.enable(base + kSim * 4096, base + kSief * 4096, hv::kVmbusSint, c.vector, false)) {
        fail(Failure::Synic);
        return false;
    }
    vmbus::Connection::Config cc;
    cc.port = c.port;
    cc.synic = &synic_;
    cc.post_buffer = reinterpret_cast<hv::PostMessageInput*>(static_cast<uint8_t*>(pages_.virt) + kPost * 4096);
    cc.post_buffer_phys = base + kPost * 4096;
    cc.vp_index = hv::vp_index(f);
    cc.interrupt_page = base + kInterrupt * 4096;
    cc.monitor_page1 = base + kMonitor1 * 4096;
    cc.monitor_page2 = base + kMonitor2 * 4096;
    cc.max_version = c.max_version;
    cc.delay_us = c.delay_us;
    conn_ = vmbus::Connection(cc);
    phase_ = Phase::Connecting;
    offers_deadline_ = now_ns + c.offers_timeout_ns;
    if (!conn_.start()) {
        fail(Failure::Connection);
        return false;
    }
    attempt_version_ = conn_.version();
    attempt_deadline_ = now_ns + c.contact_timeout_ns;
    service(now_ns);  // a host that answered synchronously (the simulator) is handled at once
    return phase_ != Phase::Failed;
}

void Platform::service(uint64_t now_ns) {
    if (phase_ != Phase::Connecting && phase_ != Phase::Ready) return;
    conn_.poll();
    if (phase_ == Phase::Ready) {
        // Later offers, rescinds, GPADL and open replies: the connection keeps them. Channel signals: the drivers.
        dispatch_channel_events();
        return;
    }
    switch (conn_.state()) {
    case vmbus::State::Ready:
        phase_ = Phase::Ready;
        ready_ns_ = now_ns;
        return;
    case vmbus::State::Failed: fail(Failure::Connection); return;
    default: break;
    }
    if (now_ns >= offers_deadline_) {
        fail(Failure::OffersTimedOut);
        return;
    }
    if (conn_.state() != vmbus::State::Contacting) return;
    if (conn_.version() != attempt_version_) {
        // The host refused the last version and the connection moved on: a new attempt, a new timeout.
        attempt_version_ = conn_.version();
        attempt_deadline_ = now_ns + cfg_.contact_timeout_ns;
    } else if (now_ns >= attempt_deadline_) {
        version_timeouts_++;
        conn_.on_timeout();
        if (conn_.state() == vmbus::State::Failed) {
            fail(Failure::Connection);
            return;
        }
        attempt_version_ = conn_.version();
        attempt_deadline_ = now_ns + cfg_.contact_timeout_ns;
    }
}

uint64_t Platform::deadline() const {
    if (phase_ != Phase::Connecting) return 0;
    if (conn_.state() == vmbus::State::Contacting && attempt_deadline_ < offers_deadline_) return attempt_deadline_;
    return offers_deadline_;
}

bool Platform::shutdown(uint64_t (*now_ns)(), uint64_t budget_ns) {
    if (phase_ != Phase::Ready && phase_ != Phase::Connecting) return false;
    bool confirmed = false;
    // Hosts answer UNLOAD from 3.0 on (Linux sends it only then); before that there is nothing to wait for.
    if (conn_.version() >= vmbus::kVersionWin81 && conn_.unload()) {
        const uint64_t end = now_ns() + budget_ns;
        while (conn_.state() == vmbus::State::Unloading && now_ns() < end) conn_.poll();
        confirmed = conn_.state() == vmbus::State::Unloaded;
    }
    teardown();
    phase_ = Phase::Unloaded;
    return confirmed;
}

bool Platform::set_channel_handler(uint32_t relid, ChannelHandler fn, void* context) {
    if (relid == 0 || relid > vmbus::kMaxRelid) return false;
    for (Handler& h : handlers_) {
        if (h.relid == relid) {
            h = fn != nullptr ? Handler{relid, fn, context} : Handler{};
            return true;
        }
    }
    if (fn == nullptr) return true;
    for (Handler& h : handlers_) {
        if (h.relid == 0) {
            h = Handler{relid, fn, context};
            return true;
        }
    }
    return false;
}

void Platform::dispatch_channel_events() {
    for (const Handler& h : handlers_)
        if (h.relid != 0 && synic_.test_and_clear_event(hv::kVmbusSint, h.relid)) h.fn(h.context);
}

void Platform::fail(Failure f) {
    failure_ = f;
    teardown();
    phase_ = Phase::Failed;
}

void Platform::teardown() {
    synic_.disable();
    if (hypercalls_on_) hv::disable_hypercalls();
    hypercalls_on_ = false;
    dma::free(pages_);
}

}  // namespace skerry::hyperv
