// Kernel glue for the Hyper-V platform (see platform.hpp): the hypercall page, the VMBus SINT's interrupt vector,
// the event-loop work and timer that drive Platform::service(), the bounded wait for offers before the kernel hands
// the NICs to the network stack, the VMBus device registry (its outcomes recorded in the kernel's device registry,
// drivers/devices.hpp), the boot log of what the host offers and which driver took it, and UNLOAD at power-off.
// Nothing here runs unless CPUID names Hyper-V: other hypervisors boot exactly as before.
#include <stdio.h>

#include "drivers/bus/vmbus/platform.hpp"
#include "drivers/bus/vmbus/reftime.hpp"
#include "drivers/bus/vmbus/registry.hpp"
#include "drivers/devices.hpp"
#include "hw/hw.hpp"
#include "kernel/arch/interrupts.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/cpu_info.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "kernel/power.hpp"
#include "kernel/time.hpp"

// The hypercall page. The hypervisor overlays its code on this guest-physical page once the HYPERCALL MSR points
// at it, so it must be mapped executable: it lives in .text (the kernel maps text read-only + executable, every
// data page no-execute), page aligned, filled with int3 so a call before the overlay traps instead of running on.
__asm__(".pushsection .text.hv_hypercall_page, \"ax\", @progbits\n"
        ".balign 4096\n"
        ".globl skerry_hv_hypercall_page\n"
        "skerry_hv_hypercall_page:\n"
        ".fill 4096, 1, 0xcc\n"
        ".popsection\n");
extern "C" char skerry_hv_hypercall_page[];

namespace skerry::hyperv {
namespace {

constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kUnloadBudgetNs = 100 * kMs;

cmdline::Option opt_vmbus = cmdline::Option::boolean("vmbus", true,
                                                     "use Hyper-V's VMBus (synthetic devices) when present");
cmdline::Option* const kOptions[] = {&opt_vmbus};

Platform platform;
hv::PageHypercall page_port;
loop::Timer timer;
volatile bool work_queued;
uint8_t sint_vector;
size_t offers_logged;   // offers already in the log
bool boot_done;         // kernel_init has logged the boot-time offers
uint64_t drops_logged;  // host messages dropped (malformed, unexpected, out of order) already in the log
uint64_t drops_logged_at;

// At most one line a second: a host spamming bad messages cannot flood the console.
void log_drops() {
    const vmbus::ConnectionStats& st = platform.connection().stats();
    const uint64_t synic_bad = platform.synic().stats().malformed;
    if (st.dropped == drops_logged) return;
    const uint64_t now = time::now_ns();
    if (drops_logged != 0 && now - drops_logged_at < 1000 * kMs) return;
    drops_logged_at = now;
    log::warn("vmbus: dropped %llu malformed or unexpected host message(s) (%llu in all, %llu oversized SynIC slots)",
              static_cast<unsigned long long>(st.dropped - drops_logged), static_cast<unsigned long long>(st.dropped),
              static_cast<unsigned long long>(synic_bad));
    drops_logged = st.dropped;
}

// One line per offer: "vmbus: relid 14: netvsc (f8615163-...): netvsc". With `reg`, the verdict is its record of
// the offer: the driver that took it, "no driver", "<driver> failed"; without, the line has no verdict.
void log_offer(const vmbus::ChannelOffer& o, const devices::Registry* reg) {
    char guid[37];
    vmbus::format_guid(o.offer.interface_type, guid);
    if (o.offer.sub_channel_index != 0) {
        log::debug("vmbus: relid %u: %s sub-channel %u", o.offer.child_relid, vmbus::offer_class_name(o.offer),
                   o.offer.sub_channel_index);
        return;
    }
    if (reg == nullptr) {
        log::info("vmbus: relid %u: %s (%s)", o.offer.child_relid, vmbus::offer_class_name(o.offer), guid);
        return;
    }
    char verdict[64];
    const devices::Record* r = reg->find(devices::Bus::Vmbus, o.offer.child_relid);
    if (r != nullptr) {
        devices::format_outcome(*r, verdict, sizeof verdict);
    } else {
        snprintf(verdict, sizeof verdict, "%s", o.rescinded ? "rescinded" : "no driver");
    }
    log::info("vmbus: relid %u: %s (%s): %s", o.offer.child_relid, vmbus::offer_class_name(o.offer), guid, verdict);
}

void service_now() {
    platform.service(time::now_ns());
    log_drops();
    const uint64_t d = platform.deadline();
    if (d != 0) {
        loop::arm(
            timer, d, [](void*) { service_now(); }, nullptr);
    } else {
        loop::cancel(timer);
    }
    // Offers that arrive after boot (hot add, hv_sock) are logged; devices are made only at boot for now.
    const vmbus::Connection& c = platform.connection();
    if (platform.phase() == Phase::Ready && boot_done) {
        for (; offers_logged < c.offer_count(); ++offers_logged) {
            log::info("vmbus: a channel was offered after boot (not used):");
            log_offer(*c.offer(offers_logged), nullptr);
        }
    }
}

void sint_work(void*) {
    work_queued = false;
    service_now();
}

// Interrupt context: only queue the work (once), the EOI follows in the dispatcher (AutoEOI is off).
void sint_interrupt(interrupts::Frame&, void*) {
    if (work_queued) return;
    work_queued = true;
    if (!loop::raise(sint_work, nullptr)) work_queued = false;
}

// Back-off between HvPostMessage retries. The connection doubles the delay up to seconds (as Linux does); here,
// busy-waiting during boot or with interrupts off, each pause is capped at 2 ms so a post that keeps failing
// gives up within 0.2 s (100 attempts) and the boot's own budgets stay meaningful.
void post_delay(uint32_t us) { time::delay_us(us < 2000 ? us : 2000); }

void unload_at_shutdown() {
    if (platform.phase() != Phase::Ready) return;
    const bool ok = platform.shutdown(time::now_ns, kUnloadBudgetNs);
    if (ok) {
        log::info("vmbus: unloaded");
    } else {
        log::warn("vmbus: the host did not confirm UNLOAD within %llu ms; powering off anyway",
                  static_cast<unsigned long long>(kUnloadBudgetNs / kMs));
    }
}

void give_up() {
    if (platform.failure() == Failure::Connection) {
        log::warn("vmbus: not available: %s (%s, in state %s); booting on without synthetic devices",
                  failure_name(platform.failure()),
                  platform.connection_failure() == vmbus::Failure::NoCommonVersion ? "no common protocol version"
                  : platform.connection_failure() == vmbus::Failure::HostRefused   ? "the host refused the connection"
                  : platform.connection_failure() == vmbus::Failure::PostFailed    ? "HvPostMessage failed"
                                                                                   : "not initialised",
                  vmbus::state_name(platform.connection().state()));
    } else {
        log::warn("vmbus: not available: %s; booting on without synthetic devices", failure_name(platform.failure()));
    }
    loop::cancel(timer);
    if (sint_vector != 0) interrupts::free_vector(sint_vector);
    sint_vector = 0;
}

// ---- partition reference time
hv::Features clock_features;
const volatile void* ref_page;

uint64_t read_tsc() { return hw::rdtsc(); }

bool read_reference(uint64_t& out) {
    hv::RefTscSample s;
    if (ref_page != nullptr && hv::read_reference_tsc(ref_page, read_tsc, s)) {
        out = s.time;
        return true;
    }
    return hv::read_time_ref_count(clock_features, out);  // the page went invalid: same time base
}

}  // namespace

Platform& kernel_platform() { return platform; }

void kernel_quiesce() {
    // kernel::cpu() is not filled in yet: CPUID directly. hv::detect reads the Hyper-V leaves only when the
    // hypervisor bit is set and the interface is "Hv#1".
    const hv::Features f = hv::detect();
    const FirmwareState st = quiesce(f);
    if (!st.hypercall_page && !st.reference_tsc_page && !st.simp && !st.siefp && st.sints_unmasked == 0) return;
    log::info("hyperv: firmware left (guest OS id 0x%llx)%s%s%s%s, SINTs unmasked 0x%04x: turned off%s",
              static_cast<unsigned long long>(st.guest_os_id), st.hypercall_page ? " hypercall page" : "",
              st.reference_tsc_page ? " reference TSC page" : "", st.simp ? " SIMP" : "", st.siefp ? " SIEFP" : "",
              st.sints_unmasked, st.hypercall_locked ? " (hypercall page locked: left as is)" : "");
}

void prepare_clock(time::Calibration& cal) {
    if (kernel::cpu().hypervisor != cpu_info::Hypervisor::HyperV) return;
    cal.hyperv = true;
    clock_features = hv::detect();
    if (clock_features.result == hv::DetectResult::NoHypervisor || clock_features.result == hv::DetectResult::NotHyperV)
        return;
    if (clock_features.has_reference_tsc()) {
        const uint64_t page = kernel::pages().alloc(1, PageAllocator::kPageSize);
        if (page != 0 && hv::enable_reference_tsc(clock_features, page)) {
            ref_page = hw::phys_to_virt(page, PageAllocator::kPageSize);  // an overlay from now on: never freed
        } else if (page != 0) {
            kernel::pages().free(page, 1);
        }
    }
    hv::RefTscSample s;
    if (ref_page != nullptr && hv::read_reference_tsc(ref_page, read_tsc, s)) {
        cal.reference_valid = true;
        cal.reference_tsc_hz = hv::tsc_hz_from_scale(s.scale);
        cal.reference_100ns = read_reference;
    } else {
        log::info("hyperv: no valid reference TSC page (privilege %s); the TSC is the clock",
                  clock_features.has_reference_tsc() ? "granted" : "not granted");
    }
}

void kernel_init() {
    kernel::command_line().apply(kOptions);  // on every boot, so vmbus= is never reported as unknown
    const cpu_info::CpuInfo& cpu = kernel::cpu();
    if (cpu.hypervisor != cpu_info::Hypervisor::HyperV) return;
    const hv::Features f = hv::detect();
    if (!f.usable()) {
        log::info("hyperv: %s: VMBus not used", hv::detect_result_name(f.result));
        return;
    }
    log::info("hyperv: version %u.%u build %u, privileges 0x%08x:%08x, features 0x%08x, recommendations 0x%08x",
              f.version_major, f.version_minor, f.build, f.privileges_high, f.privileges_low, f.features_edx,
              f.recommendations);
    if (!opt_vmbus.as_bool()) {
        log::info("vmbus: off (vmbus=0)");
        return;
    }
    sint_vector = interrupts::allocate_vector(sint_interrupt, nullptr);
    if (sint_vector == 0) {
        log::warn("vmbus: no free interrupt vector for the VMBus SINT; booting on without synthetic devices");
        return;
    }
    PlatformConfig c;
    c.hypercall_page_phys = reinterpret_cast<uint64_t>(skerry_hv_hypercall_page);  // identity mapped
    page_port.set_page(c.hypercall_page_phys);
    c.port = &page_port;
    c.vector = sint_vector;
    c.delay_us = post_delay;
    if (cpu.hypervisor_alt != cpu_info::Hypervisor::None) {
        // Another hypervisor behind Hyper-V's interface (KVM with enlightenments): a VMBus server there (QEMU's
        // vmbus device) answers at once or not at all, so do not hold the boot for long.
        c.contact_timeout_ns = 200 * kMs;
        c.offers_timeout_ns = 1000 * kMs;
        log::info("vmbus: %s behind the Hyper-V interface: waiting at most %llu ms for VMBus",
                  cpu_info::hypervisor_name(cpu.hypervisor_alt),
                  static_cast<unsigned long long>(c.offers_timeout_ns / kMs));
    }
    const uint64_t t0 = time::now_ns();
    if (!platform.start(f, c, t0)) return give_up();
    service_now();
    const bool settled = loop::run_until([](void*) { return platform.settled(); }, nullptr,
                                         t0 + c.offers_timeout_ns + 50 * kMs);
    if (!settled) service_now();  // the budget's own deadline decides
    if (platform.phase() != Phase::Ready) {
        if (platform.phase() == Phase::Connecting) {
            // Cannot happen (the budget ends in service()), but never leave it half-way.
            platform.shutdown(time::now_ns, kUnloadBudgetNs);
            log::warn("vmbus: not settled after the wait; turned off");
            loop::cancel(timer);
            interrupts::free_vector(sint_vector);
            sint_vector = 0;
            return;
        }
        return give_up();
    }
    vmbus::Connection& conn = platform.connection();
    const uint32_t v = conn.version();
    log::info("vmbus: connected, protocol %u.%u, %zu channel offer(s) in %llu ms%s", v >> 16, v & 0xFFFF,
              conn.offer_count(), static_cast<unsigned long long>(platform.connected_after_ns() / kMs),
              platform.version_timeouts() ? " (after version timeouts)" : "");
    offers_logged = conn.offer_count();  // these are listed below, once their drivers had them
    boot_done = true;
    power::add_shutdown_hook(unload_at_shutdown);

    vmbus::Registry& reg = vmbus::registry();
    const size_t made = reg.create_devices(conn, page_port, vmbus::kernel_dma(), &devices::registry());
    for (size_t i = 0; i < offers_logged; ++i) log_offer(*conn.offer(i), &devices::registry());
    if (made == 0) {
        log::info("vmbus: no driver for any offered channel (%zu driver(s) registered)", reg.driver_count());
    }
}

}  // namespace skerry::hyperv
