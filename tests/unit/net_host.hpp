// Host stand-ins for the network stack's kernel dependencies, and a harness for tests that need two stacks.
//
// The kernel pieces the stack uses are provided here for the host: the event loop (timers on the same
// TimerQueue, pollers, raised work; idle waits are poll(2) on the wire's file descriptors), the monotonic
// clock, random numbers, panic and kernel::command_line(); init_node() hands the stack its NIC with net::add_nic(),
// as the kernel's boot code does (a FakeNic on a socketpair, or NodeConfig::driver).
//
// lwIP is one global stack per process, so each stack runs in a forked child: run_pair() forks two children
// joined by a SOCK_SEQPACKET socketpair (the "wire": one Ethernet frame per message), waits for both with a
// deadline, and reports how they ended. A child checks with NT_CHECK, which prints the child's log and exits
// non-zero on failure; the child's log is otherwise kept in memory (set SKERRY_NET_TEST_LOG=1 to see it all).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <functional>
#include <string>

#include "tests/unit/net_fake_nic.hpp"

namespace net_test {

struct NodeConfig {
    const char* name = "node";                 // log prefix
    const char* cmdline = "";                  // the kernel command line the stack sees
    uint8_t mac_last = 1;                      // MAC 02:00:00:00:00:<mac_last>
    uint32_t offloads = 0;                     // skerry::net::Offload bits the fake NIC advertises (and performs)
    size_t tx_ring = 64;                       // frames the fake NIC holds before transmit() returns false
    skerry::net::NicDriver* driver = nullptr;  // the stack's NIC instead of a FakeNic (the wire is the caller's)
};

// In a child: the fake NIC on `wire_fd` (given to the stack), the command line, the log capture. Call before
// net::start().
void init_node(int wire_fd, const NodeConfig& config);
FakeNic& nic();

// The event loop: runs until done() is true (true) or timeout_ms passed (false).
bool run_until(const std::function<bool()>& done, uint64_t timeout_ms);
void run_for(uint64_t ms);
void watch_fd(int fd);  // idle waits also wake when fd is readable

// The child's captured log.
bool log_contains(const char* text);
const std::string& log_text();
void dump_log();

[[noreturn]] void fail(const char* file, int line, const char* what);

// Forks a child per function; each gets its end of the wire and returns its exit status (0 = passed).
struct PairResult {
    int a = -1, b = -1;  // exit statuses; 128 + signal when killed by one
    bool timed_out = false;
};
PairResult run_pair(const std::function<int(int wire_fd)>& a, const std::function<int(int wire_fd)>& b, int timeout_ms);
// One child with its own wire (the other end stays unused in the parent until the child ends).
int run_single(const std::function<int(int wire_fd)>& fn, int timeout_ms);

}  // namespace net_test

#define NT_CHECK(cond)                                            \
    do {                                                          \
        if (!(cond)) ::net_test::fail(__FILE__, __LINE__, #cond); \
    } while (0)
