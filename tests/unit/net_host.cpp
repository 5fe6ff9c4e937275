#include "tests/unit/net_host.hpp"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vector>

#include "kernel/arch/interrupts.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "kernel/random.hpp"
#include "kernel/time.hpp"
#include "kernel/timer_queue.hpp"
#include "net/nic.hpp"
#include "net/stack.hpp"

namespace {

uint64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// ---- per-process state of the host "kernel" (each child has its own copy)
uint64_t clock_base = monotonic_ns();
std::vector<int> watched;
uint64_t rng_state = 0x9E3779B97F4A7C15ull;

skerry::cmdline::CommandLine command_line_object;
net_test::FakeNic* the_nic;
skerry::net::NicDriver* the_driver;  // NodeConfig::driver, instead of the_nic
const char* node_name = "node";
std::string captured;
bool live_log = getenv("SKERRY_NET_TEST_LOG") != nullptr;

class CaptureSink final : public skerry::log::Sink {
public:
    void write(const char* s, size_t n) override {
        captured.append(s, n);
        if (live_log) {
            // One prefix per line, so the two children's logs can be told apart.
            for (size_t i = 0; i < n; ++i) {
                if (at_line_start_) fprintf(stderr, "[%s] ", node_name);
                fputc(s[i], stderr);
                at_line_start_ = s[i] == '\n';
            }
        }
    }

private:
    bool at_line_start_ = true;
};
CaptureSink capture_sink;

void cmdline_sink(void*, const char* line) { skerry::log::warn("%s", line); }

// One iteration of the kernel's own event loop (src/kernel/event_loop.cpp); when it had nothing to do, the idle
// wait is poll(2) on the wire(s) up to the next timer, in place of the kernel's hlt.
bool step(uint64_t max_wait_ms) {
    if (skerry::loop::run_once()) return true;
    if (skerry::loop::work_pending()) return false;
    uint64_t wait_ms = max_wait_ms;
    if (const uint64_t deadline = skerry::loop::next_deadline()) {
        const uint64_t now = skerry::time::now_ns();
        const uint64_t until = deadline > now ? (deadline - now + 999999) / 1000000 : 0;
        if (until < wait_ms) wait_ms = until;
    }
    std::vector<pollfd> fds;
    for (int fd : watched) fds.push_back(pollfd{fd, POLLIN, 0});
    const uint64_t idle_from = skerry::time::now_ns();
    ::poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
    skerry::loop::note_idle(skerry::time::now_ns() - idle_from);
    return false;
}

}  // namespace

// ---- the kernel interfaces the network stack uses, for the host
namespace skerry::time {
uint64_t now_ns() { return monotonic_ns() - clock_base; }
}  // namespace skerry::time

namespace skerry::random {
uint64_t next_u64() {
    // xorshift64*: deterministic per seed, good enough for ports and ISNs in tests.
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
}  // namespace skerry::random

namespace skerry::interrupts {
[[noreturn]] void panic(const char* reason) {
    fprintf(stderr, "[%s] PANIC: %s\n", node_name, reason);
    net_test::dump_log();
    fflush(stderr);
    _exit(70);
}
}  // namespace skerry::interrupts

namespace skerry::kernel {
cmdline::CommandLine& command_line() { return command_line_object; }
}  // namespace skerry::kernel

// ---- the harness
namespace net_test {

void init_node(int wire_fd, const NodeConfig& config) {
    node_name = config.name;
    rng_state ^= static_cast<uint64_t>(getpid()) * 0x100000001B3ull ^ config.mac_last;
    clock_base = monotonic_ns();
    skerry::log::reset();
    skerry::log::set_level(getenv("SKERRY_NET_TEST_DEBUG") ? skerry::log::Level::Debug : skerry::log::Level::Info);
    skerry::log::set_clock(skerry::time::now_ns);
    skerry::log::add_sink(&capture_sink);
    command_line_object.load(config.cmdline, cmdline_sink, nullptr);
    the_driver = config.driver;
    if (!the_driver) the_nic = new FakeNic(wire_fd, config.mac_last, config.offloads, config.tx_ring);
    // What the kernel's boot code does with the NICs its buses found: hand them to the stack before it starts.
    if (!skerry::net::add_nic(the_driver ? *the_driver : *static_cast<skerry::net::NicDriver*>(the_nic))) {
        fail(__FILE__, __LINE__, "net::add_nic");
    }
}

FakeNic& nic() { return *the_nic; }

void watch_fd(int fd) { watched.push_back(fd); }

bool run_until(const std::function<bool()>& done, uint64_t timeout_ms) {
    const uint64_t deadline = skerry::time::now_ns() + timeout_ms * 1000000ull;
    while (!done()) {
        const uint64_t now = skerry::time::now_ns();
        if (now >= deadline) return false;
        const uint64_t left_ms = (deadline - now) / 1000000ull + 1;
        step(left_ms < 20 ? left_ms : 20);
    }
    return true;
}

void run_for(uint64_t ms) {
    const uint64_t deadline = skerry::time::now_ns() + ms * 1000000ull;
    run_until([deadline] { return skerry::time::now_ns() >= deadline; }, ms + 1);
}

bool log_contains(const char* text) { return captured.find(text) != std::string::npos; }
const std::string& log_text() { return captured; }

void dump_log() {
    if (live_log) return;  // already shown
    fprintf(stderr, "---- log of %s ----\n", node_name);
    size_t start = 0;
    while (start < captured.size()) {
        size_t end = captured.find('\n', start);
        if (end == std::string::npos) end = captured.size();
        fprintf(stderr, "[%s] %.*s\n", node_name, static_cast<int>(end - start), captured.data() + start);
        start = end + 1;
    }
    fprintf(stderr, "---- end of log of %s ----\n", node_name);
}

[[noreturn]] void fail(const char* file, int line, const char* what) {
    fprintf(stderr, "[%s] check failed at %s:%d: %s\n", node_name, file, line, what);
    dump_log();
    fflush(stderr);
    _exit(1);
}

namespace {

pid_t spawn(int keep_fd, int close_fd, const std::function<int(int)>& fn) {
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid == 0) {
        if (close_fd >= 0) close(close_fd);
        const int rc = fn(keep_fd);
        if (rc != 0) {
            fprintf(stderr, "[%s] finished with status %d\n", node_name, rc);
            dump_log();
        }
        fflush(stderr);
        _exit(rc);
    }
    return pid;
}

int status_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Waits for the children (pid 0: already reaped), killing whatever is left at the deadline.
bool wait_all(pid_t* pids, int* statuses, size_t n, int timeout_ms) {
    const uint64_t deadline = monotonic_ns() + static_cast<uint64_t>(timeout_ms) * 1000000ull;
    size_t left = n;
    bool timed_out = false;
    while (left) {
        for (size_t i = 0; i < n; ++i) {
            if (!pids[i]) continue;
            int st;
            const pid_t r = waitpid(pids[i], &st, WNOHANG);
            if (r == pids[i]) {
                statuses[i] = status_of(st);
                pids[i] = 0;
                --left;
            }
        }
        if (!left) break;
        if (monotonic_ns() > deadline) {
            timed_out = true;
            for (size_t i = 0; i < n; ++i) {
                if (!pids[i]) continue;
                kill(pids[i], SIGKILL);
                int st;
                waitpid(pids[i], &st, 0);
                statuses[i] = status_of(st);
                pids[i] = 0;
            }
            break;
        }
        usleep(2000);
    }
    return !timed_out;
}

}  // namespace

PairResult run_pair(const std::function<int(int)>& a, const std::function<int(int)>& b, int timeout_ms) {
    PairResult r;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) {
        perror("socketpair");
        return r;
    }
    pid_t pids[2];
    pids[0] = spawn(sv[0], sv[1], a);
    pids[1] = spawn(sv[1], sv[0], b);
    close(sv[0]);
    close(sv[1]);
    int st[2] = {-1, -1};
    r.timed_out = !wait_all(pids, st, 2, timeout_ms);
    r.a = st[0];
    r.b = st[1];
    return r;
}

int run_single(const std::function<int(int)>& fn, int timeout_ms) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) {
        perror("socketpair");
        return -1;
    }
    pid_t pid = spawn(sv[0], -1, fn);
    int st = -1;
    const bool ok = wait_all(&pid, &st, 1, timeout_ms);
    close(sv[0]);
    close(sv[1]);
    return ok ? st : -2;
}

}  // namespace net_test
