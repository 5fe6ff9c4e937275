#include "kernel/timer_queue.hpp"

namespace skerry {

bool TimerQueue::before(const Timer* a, const Timer* b) {
    if (a->deadline_ != b->deadline_) return a->deadline_ < b->deadline_;
    return a->seq_ < b->seq_;
}

// Joins two heap roots; the later one becomes the first child of the earlier one.
Timer* TimerQueue::meld(Timer* a, Timer* b) {
    if (!a) return b;
    if (!b) return a;
    if (before(b, a)) {
        Timer* t = a;
        a = b;
        b = t;
    }
    b->prev_ = a;
    b->sibling_ = a->child_;
    if (a->child_) a->child_->prev_ = b;
    a->child_ = b;
    a->sibling_ = nullptr;
    a->prev_ = nullptr;
    return a;
}

// The standard two-pass merge of a sibling list: pair left to right, then fold right to left. Iterative,
// so a long list (many timers armed in order) cannot exhaust the stack.
Timer* TimerQueue::merge_pairs(Timer* first) {
    if (!first) return nullptr;
    // Pass 1: meld pairs, building a reversed singly linked list of the results through sibling_.
    Timer* pairs = nullptr;
    while (first) {
        Timer* a = first;
        Timer* b = a->sibling_;
        first = b ? b->sibling_ : nullptr;
        a->sibling_ = nullptr;
        a->prev_ = nullptr;
        if (b) {
            b->sibling_ = nullptr;
            b->prev_ = nullptr;
        }
        Timer* m = meld(a, b);
        m->sibling_ = pairs;
        pairs = m;
    }
    // Pass 2: fold the list (already right to left).
    Timer* result = pairs;
    Timer* rest = pairs->sibling_;
    result->sibling_ = nullptr;
    while (rest) {
        Timer* next = rest->sibling_;
        rest->sibling_ = nullptr;
        result = meld(result, rest);
        rest = next;
    }
    return result;
}

void TimerQueue::remove(Timer& t) {
    if (&t == root_) {
        root_ = merge_pairs(t.child_);
    } else {
        // Unlink t (with its subtree) from its parent's child list.
        if (t.prev_->child_ == &t) {
            t.prev_->child_ = t.sibling_;
        } else {
            t.prev_->sibling_ = t.sibling_;
        }
        if (t.sibling_) t.sibling_->prev_ = t.prev_;
        Timer* sub = merge_pairs(t.child_);
        root_ = meld(root_, sub);
    }
    t.child_ = t.sibling_ = t.prev_ = nullptr;
    t.queue_ = nullptr;
    --size_;
}

void TimerQueue::arm(Timer& t, uint64_t deadline, Timer::Callback fn, void* context) {
    if (t.queue_) t.queue_->remove(t);
    t.fn = fn;
    t.context = context;
    t.deadline_ = deadline;
    t.seq_ = next_seq_++;
    t.child_ = t.sibling_ = t.prev_ = nullptr;
    t.queue_ = this;
    root_ = meld(root_, &t);
    ++size_;
}

void TimerQueue::cancel(Timer& t) {
    if (t.queue_ == this) remove(t);
}

Timer* TimerQueue::pop_expired(uint64_t now) {
    if (!root_ || root_->deadline_ > now) return nullptr;
    Timer* t = root_;
    remove(*t);
    return t;
}

size_t TimerQueue::run_expired(uint64_t now, size_t limit) {
    size_t ran = 0;
    while (ran < limit) {
        Timer* t = pop_expired(now);
        if (!t) break;
        ++ran;
        if (t->fn) t->fn(t->context);
    }
    return ran;
}

}  // namespace skerry
