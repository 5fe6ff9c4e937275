#include "kernel/timer_queue.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <vector>

using skerry::Timer;
using skerry::TimerQueue;

namespace {

std::vector<int> fired;
void record(void* ctx) { fired.push_back(static_cast<int>(reinterpret_cast<intptr_t>(ctx))); }
void* tag(int i) { return reinterpret_cast<void*>(static_cast<intptr_t>(i)); }

TEST(TimerQueue, FiresInDeadlineOrderAndFifoOnTies) {
    fired.clear();
    TimerQueue q;
    Timer t[5];
    q.arm(t[0], 30, record, tag(0));
    q.arm(t[1], 10, record, tag(1));
    q.arm(t[2], 20, record, tag(2));
    q.arm(t[3], 10, record, tag(3));
    q.arm(t[4], 40, record, tag(4));
    EXPECT_EQ(q.size(), 5u);
    EXPECT_EQ(q.earliest(), &t[1]);
    EXPECT_EQ(q.run_expired(9), 0u);
    EXPECT_EQ(q.run_expired(30), 4u);
    EXPECT_EQ(fired, (std::vector<int>{1, 3, 2, 0}));
    EXPECT_TRUE(t[4].armed());
    EXPECT_FALSE(t[0].armed());
    EXPECT_EQ(q.size(), 1u);
}

TEST(TimerQueue, RearmMovesAndCancelRemoves) {
    fired.clear();
    TimerQueue q;
    Timer a, b, c;
    q.arm(a, 10, record, tag(1));
    q.arm(b, 20, record, tag(2));
    q.arm(c, 30, record, tag(3));
    q.arm(a, 25, record, tag(1));  // move later
    q.cancel(c);
    q.cancel(c);  // twice is harmless
    EXPECT_EQ(q.size(), 2u);
    q.run_expired(100);
    EXPECT_EQ(fired, (std::vector<int>{2, 1}));
    EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, CancelOfTimerInAnotherQueueIsIgnored) {
    TimerQueue q1, q2;
    Timer t;
    q1.arm(t, 5, record, nullptr);
    q2.cancel(t);
    EXPECT_TRUE(t.armed());
    EXPECT_EQ(q1.size(), 1u);
    q2.arm(t, 7, record, nullptr);  // re-arming in another queue moves it there
    EXPECT_EQ(q1.size(), 0u);
    EXPECT_EQ(q2.size(), 1u);
}

struct SelfRearm {
    TimerQueue* q;
    Timer t;
    int runs = 0;
};
void rearm_in_past(void* ctx) {
    auto* s = static_cast<SelfRearm*>(ctx);
    ++s->runs;
    s->q->arm(s->t, 0, rearm_in_past, s);
}

TEST(TimerQueue, RunLimitStopsATimerThatKeepsRearmingInThePast) {
    TimerQueue q;
    SelfRearm s{&q, {}, 0};
    q.arm(s.t, 0, rearm_in_past, &s);
    EXPECT_EQ(q.run_expired(100, 16), 16u);
    EXPECT_EQ(s.runs, 16);
    EXPECT_TRUE(s.t.armed());
}

struct Chain {
    TimerQueue* q;
    Timer* timers;
    int n;
};
void cancel_others(void* ctx) {
    auto* c = static_cast<Chain*>(ctx);
    for (int i = 0; i < c->n; ++i) c->q->cancel(c->timers[i]);
}

TEST(TimerQueue, CallbackMayCancelOtherDueTimers) {
    fired.clear();
    TimerQueue q;
    Timer others[3];
    Timer first;
    Chain chain{&q, others, 3};
    q.arm(first, 1, cancel_others, &chain);
    for (int i = 0; i < 3; ++i) q.arm(others[i], 2, record, tag(i));
    EXPECT_EQ(q.run_expired(10), 1u);
    EXPECT_TRUE(fired.empty());
    EXPECT_TRUE(q.empty());
}

// Random arm/re-arm/cancel/pop against a reference model.
TEST(TimerQueue, RandomOperationsMatchReference) {
    constexpr int kTimers = 300;
    std::mt19937_64 rng(12345);
    TimerQueue q;
    auto timers = std::make_unique<Timer[]>(kTimers);
    std::map<std::pair<uint64_t, uint64_t>, int> ref;  // (deadline, order) -> index
    std::vector<std::pair<uint64_t, uint64_t>> key(kTimers);
    std::vector<bool> in(kTimers, false);
    uint64_t order = 0, now = 0;
    for (int step = 0; step < 20000; ++step) {
        int i = static_cast<int>(rng() % kTimers);
        switch (rng() % 4) {
        case 0:
        case 1: {
            uint64_t d = now + rng() % 1000;
            if (in[i]) ref.erase(key[i]);
            q.arm(timers[i], d, nullptr, tag(i));
            key[i] = {d, order++};
            ref[key[i]] = i;
            in[i] = true;
            break;
        }
        case 2:
            q.cancel(timers[i]);
            if (in[i]) ref.erase(key[i]);
            in[i] = false;
            break;
        case 3: {
            now += rng() % 50;
            while (Timer* t = q.pop_expired(now)) {
                ASSERT_FALSE(ref.empty());
                auto it = ref.begin();
                ASSERT_LE(it->first.first, now);
                ASSERT_EQ(t, &timers[it->second]);
                in[it->second] = false;
                ref.erase(it);
            }
            if (!ref.empty()) {
                ASSERT_GT(ref.begin()->first.first, now);
            }
            break;
        }
        }
        ASSERT_EQ(q.size(), ref.size());
        if (!ref.empty()) {
            ASSERT_EQ(q.earliest(), &timers[ref.begin()->second]);
        }
    }
}

TEST(TimerQueue, ManyTimersInOrderDoNotRecurseDeeply) {
    constexpr int kN = 200000;
    TimerQueue q;
    auto timers = std::make_unique<Timer[]>(kN);
    for (int i = 0; i < kN; ++i) q.arm(timers[i], static_cast<uint64_t>(i), nullptr, nullptr);
    uint64_t last = 0;
    int n = 0;
    while (Timer* t = q.pop_expired(~0ull)) {
        ASSERT_GE(t->deadline(), last);
        last = t->deadline();
        ++n;
    }
    EXPECT_EQ(n, kN);
}

}  // namespace
