// The run-to-completion event loop: timers, pollers and interrupt-raised work, one at a time on one CPU.
// Interrupt handlers only raise work; everything else runs here. When nothing is due, the CPU halts
// until the next interrupt (a device, or the one-shot timer programmed for the next deadline).
//
// One iteration (run_once): raised work (bounded), due timers, pollers, then the end-of-iteration hooks. The
// parts are split by what they need: event_loop.cpp is the loop itself and builds for the host too (host tests
// link it and drive it with run_once() and their own idle wait); event_loop_kernel.cpp is the part that halts
// the CPU (idle, run, run_until).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/timer_queue.hpp"

namespace skerry::loop {

using Timer = skerry::Timer;
using Callback = void (*)(void* context);

// Timers (deadline in time::now_ns() nanoseconds). Re-arming an armed timer moves it.
bool arm(Timer& t, uint64_t deadline_ns, Callback fn, void* context);
bool arm_in(Timer& t, uint64_t delay_ns, Callback fn, void* context);
void cancel(Timer& t);

// Pollers run on every loop iteration; they return true when they did work (so the loop does not
// halt while a device is busy). Used by drivers under load instead of interrupts.
using Poller = bool (*)(void* context);
bool add_poller(Poller fn, void* context);
void remove_poller(Poller fn, void* context);

// End-of-iteration hooks run once at the end of every iteration, after work, timers and pollers, in the order
// they were added: for work that is cheaper batched per iteration than done per event, such as a NIC's
// transmit doorbell (one register write for every frame queued during the iteration). Return true when they
// did something. Not for interrupt handlers.
bool add_iteration_end(Poller fn, void* context);
void remove_iteration_end(Poller fn, void* context);

// From an interrupt handler: queue fn(context) to run in the loop. Returns false if the queue was full
// (counted). Safe with interrupts disabled; never blocks. Only for interrupt handlers: loop code that wants
// something done later arms a timer or uses an end-of-iteration hook.
bool raise(Callback fn, void* context);
// Raised work for `context` that has not run yet will not run (for an object that goes away).
void cancel_raised(void* context);

// One iteration; true when anything ran (then the caller should not idle). The kernel's run() and host test
// harnesses call it.
bool run_once();
// For an idle wait: whether raised work is waiting, and the earliest timer deadline (0 = none).
bool work_pending();
uint64_t next_deadline();
// The idle wait's bookkeeping: one halt that lasted `ns`.
void note_idle(uint64_t ns);

// Kernel only (event_loop_kernel.cpp): runs forever.
[[noreturn]] void run();

// Kernel only: runs the loop (work, timers, pollers; halting when idle) until done(context) is true or
// deadline_ns passes, for a boot step that must finish before the appliance starts (VMBus offers before NIC
// probing). Interrupts are left as they were found. Returns done(context).
bool run_until(bool (*done)(void* context), void* context, uint64_t deadline_ns);

struct Stats {
    uint64_t iterations, halts, timers_fired, work_items, work_dropped, poll_work, end_work;
    uint64_t idle_ns;  // time spent halted, waiting for an interrupt (busy = elapsed - idle_ns)
};
Stats stats();
size_t timers_armed();

}  // namespace skerry::loop
