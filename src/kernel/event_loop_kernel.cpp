// The part of the event loop that halts the CPU: idle waits, run() and run_until(). See event_loop.hpp.
#include "kernel/arch/cpu.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace skerry::loop {
namespace {

// Idle: program the next deadline and halt. Interrupts stay off from the last check to the hlt (sti's
// shadow covers it), so a wake-up cannot slip in between and be missed. Returns with interrupts on.
void idle() {
    cpu::disable_interrupts();
    if (work_pending()) {
        cpu::enable_interrupts();
        return;
    }
    const uint64_t next = next_deadline();
    if (next && next <= time::now_ns()) {
        cpu::enable_interrupts();
        return;
    }
    time::arm_deadline(next);
    const uint64_t halted_at = time::now_ns();
    cpu::enable_and_halt();
    note_idle(time::now_ns() - halted_at);  // the wake-up's handler time counts as idle: it is short
}

void wake_up(void*) {}

}  // namespace

[[noreturn]] void run() {
    log::debug("loop: running (%u timers armed)", static_cast<unsigned>(timers_armed()));
    for (;;) {
        if (!run_once()) idle();
    }
}

bool run_until(bool (*done)(void* context), void* context, uint64_t deadline_ns) {
    const bool were_enabled = cpu::interrupts_enabled();
    Timer limit;
    arm(limit, deadline_ns, wake_up, nullptr);
    bool ok = done(context);
    while (!ok && time::now_ns() < deadline_ns) {
        if (!run_once()) idle();
        ok = done(context);
    }
    cancel(limit);
    if (!were_enabled) cpu::disable_interrupts();
    return ok;
}

}  // namespace skerry::loop
