// lwIP's port to Skerry (NO_SYS=1): the hooks lwIP needs (sys_now, skerry_lwip_rand, skerry_lwip_diag,
// skerry_lwip_assert) and its timers, driven by one event-loop timer that is always armed for lwIP's next
// timeout (sys_timeouts_sleeptime), never by a busy poller.
//
// Everything lwIP runs in the event loop, one thing at a time; nothing here is interrupt safe or needs to be.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net::port {

// lwip_init() once, then the timer. Idempotent.
void init();
bool initialised();

// Re-arms the loop timer if lwIP's next timeout is now earlier than the armed deadline. The port also does
// this once per loop iteration (a poller that never reports work), so callers only need it for latency.
void reschedule();

// lwIP's statistics (LWIP_STATS), summarised for status output: one line per area into `line`, called
// for each line. Also used by log_stats().
void format_stats(void (*line)(void* ctx, const char* text), void* ctx);
void log_stats();

struct TimerStats {
    uint64_t fired;    // the loop timer ran sys_check_timeouts()
    uint64_t rearmed;  // the timer was moved to an earlier lwIP deadline by reschedule()
};
TimerStats timer_stats();

}  // namespace skerry::net::port
