// Intrusive timer queue: a pairing heap ordered by (deadline, arming order). Timers live inside their
// owners (no allocation), arming is O(1), removing any timer or the earliest is O(log n) amortised.
// Pure logic: the event loop drives it with time::now_ns(); host tests drive it with made-up times.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry {

class TimerQueue;

struct Timer {
    using Callback = void (*)(void* context);

    Callback fn = nullptr;
    void* context = nullptr;

    bool armed() const { return queue_ != nullptr; }
    uint64_t deadline() const { return deadline_; }

    Timer() = default;
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

private:
    friend class TimerQueue;
    uint64_t deadline_ = 0;
    uint64_t seq_ = 0;
    Timer* child_ = nullptr;
    Timer* sibling_ = nullptr;
    Timer* prev_ = nullptr;  // parent for a first child, previous sibling otherwise; nullptr for the root
    TimerQueue* queue_ = nullptr;
};

class TimerQueue {
public:
    // Arms (or re-arms, moving it) t to expire at `deadline`. Timers with equal deadlines expire in
    // the order they were armed.
    void arm(Timer& t, uint64_t deadline, Timer::Callback fn, void* context);
    // Removes t if it is armed in this queue; harmless otherwise.
    void cancel(Timer& t);
    // The earliest armed timer, nullptr when empty.
    const Timer* earliest() const { return root_; }
    // Removes and returns the earliest timer if its deadline is <= now, else nullptr. The caller then
    // runs t->fn(t->context); the callback may re-arm or cancel any timer, including t.
    Timer* pop_expired(uint64_t now);
    // Pops and runs every timer due at `now` (at most `limit` of them, so a timer that keeps
    // re-arming itself in the past cannot starve the loop). Returns how many ran.
    size_t run_expired(uint64_t now, size_t limit = 1024);
    size_t size() const { return size_; }
    bool empty() const { return root_ == nullptr; }

private:
    static bool before(const Timer* a, const Timer* b);
    static Timer* meld(Timer* a, Timer* b);
    static Timer* merge_pairs(Timer* first);
    void remove(Timer& t);

    Timer* root_ = nullptr;
    size_t size_ = 0;
    uint64_t next_seq_ = 0;
};

}  // namespace skerry
