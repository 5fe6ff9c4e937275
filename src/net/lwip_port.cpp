#include "net/lwip_port.hpp"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel/arch/interrupts.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "kernel/mem_plan.hpp"
#include "kernel/random.hpp"
#include "kernel/time.hpp"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"
#include "net/net_memory.hpp"
#include "net/tcp_isn.hpp"

// ---- the hooks lwIP calls (lwipopts.h, arch/cc.h, lwip/sys.h)
namespace {
// Added to sys_now(): 0, except when net.clock_wrap_in= asks for lwIP's 32-bit millisecond clock to wrap soon
// after boot (a test of every lwIP timer across the wrap, which otherwise comes after 49.7 days).
uint32_t clock_offset_ms;
}  // namespace

u32_t sys_now(void) {
    return static_cast<u32_t>(skerry::time::now_ns() / 1000000ull) + clock_offset_ms;  // wraps modulo 2^32
}

extern "C" uint32_t skerry_lwip_rand(void) { return skerry::random::next_u32(); }

extern "C" void skerry_lwip_diag(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    skerry::log::vlogf_sub(skerry::log::Level::Info, "lwip", fmt, ap);
    va_end(ap);
}

extern "C" void skerry_lwip_assert(const char* msg, const char* file, int line) {
    static char reason[256];
    // lwIP passes its full source path; the file name is enough to find the assertion.
    const char* base = file ? strrchr(file, '/') : nullptr;
    snprintf(reason, sizeof reason, "lwip: assertion \"%s\" failed at %s:%d", msg ? msg : "?",
             base ? base + 1 : (file ? file : "?"), line);
    skerry::interrupts::panic(reason);
}

namespace skerry::net::port {
namespace {

constexpr uint64_t kNsPerMs = 1000000ull;
constexpr uint64_t kNever = ~0ull;

cmdline::Option opt_clock_wrap_in = cmdline::Option::integer(
    "net.clock_wrap_in", 0, 0, 4000000,
    "test: seconds until lwIP's 32-bit millisecond clock wraps (0: from boot, after 49.7 days)");
cmdline::Option* const kPortOptions[] = {&opt_clock_wrap_in};

bool ready;
loop::Timer timer;
uint64_t armed_deadline = kNever;
TimerStats stats_;

// The now_ns() deadline of lwIP's next timeout, kNever when it has none. sys_now() counts whole
// milliseconds of now_ns(), so a timeout due at sys_now() == T is due at now_ns() == T * 1 ms.
uint64_t lwip_deadline() {
    const u32_t sleep = sys_timeouts_sleeptime();
    if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE) return kNever;
    return (time::now_ns() / kNsPerMs + sleep) * kNsPerMs;
}

void fire(void*);

void arm(uint64_t deadline) {
    if (deadline == kNever) {
        loop::cancel(timer);
        armed_deadline = kNever;
        return;
    }
    loop::arm(timer, deadline, fire, nullptr);
    armed_deadline = deadline;
}

void fire(void*) {
    armed_deadline = kNever;
    ++stats_.fired;
    sys_check_timeouts();
    arm(lwip_deadline());
}

// Once per loop iteration, after the iteration's work: a timeout that lwIP added while handling a frame or
// a socket call may be due before the armed deadline. Never reports work, so the loop still halts.
bool sync_poller(void*) {
    reschedule();
    return false;
}

}  // namespace

void init() {
    if (ready) return;
    // Before lwIP starts: its timers take absolute sys_now() times from here on.
    kernel::command_line().apply(kPortOptions);
    if (const int64_t s = opt_clock_wrap_in.as_int()) {
        const uint32_t now_ms = static_cast<uint32_t>(time::now_ns() / kNsPerMs);
        clock_offset_ms = 0u - now_ms - static_cast<uint32_t>(s * 1000);
        log::info("net: lwIP's 32-bit millisecond clock set to wrap in %lld s (net.clock_wrap_in, a test option)",
                  static_cast<long long>(s));
    }
    lwip_init();
    memory::configure(mem_plan::current().net_buffers, mem_plan::current().tcp_snd_buf);
    isn::set_key(random::next_u64(), random::next_u64());
    ready = true;
    loop::add_poller(sync_poller, nullptr);
    arm(lwip_deadline());
    log::debug("net: lwIP %s initialised (NO_SYS, timers on the event loop)", LWIP_VERSION_STRING);
}

bool initialised() { return ready; }

void reschedule() {
    if (!ready) return;
    const uint64_t d = lwip_deadline();
    if (d < armed_deadline) {
        arm(d);
        ++stats_.rearmed;
    }
}

TimerStats timer_stats() { return stats_; }

void format_stats(void (*line)(void* ctx, const char* text), void* ctx) {
#if LWIP_STATS
    char buf[256];
    auto proto = [&](const char* name, const stats_proto& p) {
        snprintf(buf, sizeof buf,
                 "%s: xmit %lu recv %lu drop %lu chkerr %lu lenerr %lu memerr %lu rterr %lu proterr %lu err %lu", name,
                 static_cast<unsigned long>(p.xmit), static_cast<unsigned long>(p.recv),
                 static_cast<unsigned long>(p.drop), static_cast<unsigned long>(p.chkerr),
                 static_cast<unsigned long>(p.lenerr), static_cast<unsigned long>(p.memerr),
                 static_cast<unsigned long>(p.rterr), static_cast<unsigned long>(p.proterr),
                 static_cast<unsigned long>(p.err));
        line(ctx, buf);
    };
    proto("link", lwip_stats.link);
    proto("etharp", lwip_stats.etharp);
    proto("ip", lwip_stats.ip);
    proto("ip6", lwip_stats.ip6);
    proto("icmp", lwip_stats.icmp);
    proto("icmp6", lwip_stats.icmp6);
    proto("nd6", lwip_stats.nd6);
    proto("udp", lwip_stats.udp);
    proto("tcp", lwip_stats.tcp);
    const memory::Stats ms = memory::stats();
    snprintf(buf, sizeof buf,
             "mem: buffers %llu of %llu bytes (most %llu), small allocations %llu bytes, refused %llu, "
             "no memory %llu; TCP send buffer %lu",
             static_cast<unsigned long long>(ms.in_budget), static_cast<unsigned long long>(ms.budget),
             static_cast<unsigned long long>(ms.in_budget_max), static_cast<unsigned long long>(ms.small),
             static_cast<unsigned long long>(ms.refused), static_cast<unsigned long long>(ms.failed),
             static_cast<unsigned long>(TCP_SND_BUF));
    line(ctx, buf);
    // The pools that matter under load, plus any pool that ever ran dry.
    for (int i = 0; i < MEMP_MAX; ++i) {
        const stats_mem* m = lwip_stats.memp[i];
        if (!m) continue;
        const bool interesting = i == MEMP_PBUF_POOL || i == MEMP_TCP_PCB || i == MEMP_TCP_SEG || i == MEMP_PBUF;
        if (!interesting && m->err == 0) continue;
        snprintf(buf, sizeof buf, "pool %s: used %lu of %lu, max %lu, errors %lu", m->name ? m->name : "?",
                 static_cast<unsigned long>(m->used), static_cast<unsigned long>(m->avail),
                 static_cast<unsigned long>(m->max), static_cast<unsigned long>(m->err));
        line(ctx, buf);
    }
#else
    line(ctx, "statistics are off (LWIP_STATS=0)");
#endif
}

void log_stats() {
    format_stats([](void*, const char* text) { log::info("lwip: %s", text); }, nullptr);
}

}  // namespace skerry::net::port
