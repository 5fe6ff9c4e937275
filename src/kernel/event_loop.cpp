#include "kernel/event_loop.hpp"

#include "kernel/arch/cpu.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace skerry::loop {
namespace {

TimerQueue timers;

struct PollerSlot {
    Poller fn;
    void* context;
};
constexpr int kMaxPollers = 32;
PollerSlot pollers[kMaxPollers];
int n_pollers;

// Work raised from interrupt handlers: a ring written with interrupts off (handlers run with IF=0) and
// read by the loop with interrupts briefly disabled. One CPU, so that is all the exclusion needed.
struct WorkItem {
    Callback fn;
    void* context;
};
constexpr uint32_t kWorkSlots = 256;
WorkItem work[kWorkSlots];
volatile uint32_t work_head, work_tail;  // head: next to run; tail: next free

Stats st;

bool take_work(WorkItem& out) {
    cpu::InterruptGuard guard;
    if (work_head == work_tail) return false;
    out = work[work_head % kWorkSlots];
    work_head = work_head + 1;
    return true;
}

}  // namespace

bool arm(Timer& t, uint64_t deadline_ns, Callback fn, void* context) {
    timers.arm(t, deadline_ns, fn, context);
    return true;
}

bool arm_in(Timer& t, uint64_t delay_ns, Callback fn, void* context) {
    return arm(t, time::now_ns() + delay_ns, fn, context);
}

void cancel(Timer& t) { timers.cancel(t); }

bool add_poller(Poller fn, void* context) {
    if (n_pollers == kMaxPollers) {
        log::error("loop: no room for another poller (%d in use)", kMaxPollers);
        return false;
    }
    pollers[n_pollers++] = {fn, context};
    return true;
}

bool raise(Callback fn, void* context) {
    cpu::InterruptGuard guard;
    if (work_tail - work_head >= kWorkSlots) {
        ++st.work_dropped;
        return false;
    }
    work[work_tail % kWorkSlots] = {fn, context};
    work_tail = work_tail + 1;
    return true;
}

namespace {

// One pass: interrupt-raised work, due timers, pollers. True when anything ran.
bool run_once() {
    ++st.iterations;
    bool busy = false;

    // Interrupt-raised work first (bounded per iteration, so timers and pollers still run).
    WorkItem item;
    for (uint32_t n = 0; n < kWorkSlots && take_work(item); ++n) {
        ++st.work_items;
        item.fn(item.context);
        busy = true;
    }

    size_t ran = timers.run_expired(time::now_ns());
    st.timers_fired += ran;
    if (ran) busy = true;

    for (int i = 0; i < n_pollers; ++i) {
        if (pollers[i].fn(pollers[i].context)) {
            ++st.poll_work;
            busy = true;
        }
    }
    return busy;
}

// Idle: program the next deadline and halt. Interrupts stay off from the last check to the hlt (sti's
// shadow covers it), so a wake-up cannot slip in between and be missed. Returns with interrupts on.
void idle() {
    cpu::disable_interrupts();
    if (work_head != work_tail) {
        cpu::enable_interrupts();
        return;
    }
    const Timer* next = timers.earliest();
    if (next && next->deadline() <= time::now_ns()) {
        cpu::enable_interrupts();
        return;
    }
    time::arm_deadline(next ? next->deadline() : 0);
    ++st.halts;
    const uint64_t halted_at = time::now_ns();
    cpu::enable_and_halt();
    st.idle_ns += time::now_ns() - halted_at;  // the wake-up's handler time counts as idle: it is short
}

void wake_up(void*) {}

}  // namespace

[[noreturn]] void run() {
    log::debug("loop: running (%u timers armed, %d pollers)", static_cast<unsigned>(timers.size()), n_pollers);
    for (;;) {
        if (!run_once()) idle();
    }
}

bool run_until(bool (*done)(void* context), void* context, uint64_t deadline_ns) {
    const bool were_enabled = cpu::interrupts_enabled();
    Timer limit;
    timers.arm(limit, deadline_ns, wake_up, nullptr);
    bool ok = done(context);
    while (!ok && time::now_ns() < deadline_ns) {
        if (!run_once()) idle();
        ok = done(context);
    }
    timers.cancel(limit);
    if (!were_enabled) cpu::disable_interrupts();
    return ok;
}

Stats stats() { return st; }
size_t timers_armed() { return timers.size(); }

}  // namespace skerry::loop
