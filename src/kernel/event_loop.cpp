// The event loop itself; see event_loop.hpp. The part that halts the CPU is event_loop_kernel.cpp.
#include "kernel/event_loop.hpp"

#include "hw/hw.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace skerry::loop {
namespace {

TimerQueue timers;

struct Hook {
    Poller fn;
    void* context;
};
constexpr int kMaxPollers = 32;
Hook pollers[kMaxPollers];
int n_pollers;
constexpr int kMaxEndHooks = 16;
Hook end_hooks[kMaxEndHooks];
int n_end_hooks;

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
    hw::InterruptGuard guard;
    if (work_head == work_tail) return false;
    out = work[work_head % kWorkSlots];
    work_head = work_head + 1;
    return true;
}

bool add_hook(Hook* table, int& n, int max, const char* what, Poller fn, void* context) {
    if (n == max) {
        log::error("loop: no room for another %s (%d in use)", what, max);
        return false;
    }
    table[n++] = {fn, context};
    return true;
}

void remove_hook(Hook* table, int& n, Poller fn, void* context) {
    for (int i = 0; i < n; ++i) {
        if (table[i].fn != fn || table[i].context != context) continue;
        for (int j = i + 1; j < n; ++j) table[j - 1] = table[j];
        --n;
        return;
    }
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

bool add_poller(Poller fn, void* context) { return add_hook(pollers, n_pollers, kMaxPollers, "poller", fn, context); }
void remove_poller(Poller fn, void* context) { remove_hook(pollers, n_pollers, fn, context); }

bool add_iteration_end(Poller fn, void* context) {
    return add_hook(end_hooks, n_end_hooks, kMaxEndHooks, "end-of-iteration hook", fn, context);
}
void remove_iteration_end(Poller fn, void* context) { remove_hook(end_hooks, n_end_hooks, fn, context); }

bool raise(Callback fn, void* context) {
    hw::InterruptGuard guard;
    if (work_tail - work_head >= kWorkSlots) {
        ++st.work_dropped;
        return false;
    }
    work[work_tail % kWorkSlots] = {fn, context};
    work_tail = work_tail + 1;
    return true;
}

namespace {
void nothing(void*) {}
}  // namespace

void cancel_raised(void* context) {
    hw::InterruptGuard guard;
    for (uint32_t i = work_head; i != work_tail; ++i) {
        WorkItem& w = work[i % kWorkSlots];
        if (w.context == context) w.fn = nothing;
    }
}

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
    for (int i = 0; i < n_end_hooks; ++i) {
        if (end_hooks[i].fn(end_hooks[i].context)) ++st.end_work;
    }
    return busy;
}

bool work_pending() { return work_head != work_tail; }

uint64_t next_deadline() {
    const Timer* next = timers.earliest();
    return next ? next->deadline() : 0;
}

void note_idle(uint64_t ns) {
    ++st.halts;
    st.idle_ns += ns;
}

Stats stats() { return st; }
size_t timers_armed() { return timers.size(); }

}  // namespace skerry::loop
