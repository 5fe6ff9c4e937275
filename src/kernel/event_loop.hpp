// The run-to-completion event loop: timers, pollers and interrupt-raised work, one at a time on one CPU.
// Interrupt handlers only raise work; everything else runs here. When nothing is due, the CPU halts
// until the next interrupt (a device, or the one-shot timer programmed for the next deadline).
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

// From an interrupt handler: queue fn(context) to run in the loop. Returns false if the queue was full
// (counted). Safe with interrupts disabled; never blocks.
bool raise(Callback fn, void* context);

// Runs forever.
[[noreturn]] void run();

// Runs the loop (work, timers, pollers; halting when idle) until done(context) is true or deadline_ns passes,
// for a boot step that must finish before the appliance starts (VMBus offers before NIC probing). Interrupts
// are left as they were found. Returns done(context).
bool run_until(bool (*done)(void* context), void* context, uint64_t deadline_ns);

struct Stats {
    uint64_t iterations, halts, timers_fired, work_items, work_dropped, poll_work;
    uint64_t idle_ns;  // time spent halted, waiting for an interrupt (busy = elapsed - idle_ns)
};
Stats stats();
size_t timers_armed();

}  // namespace skerry::loop
