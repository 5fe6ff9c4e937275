// The hello appliance: the kernel has already logged its boot (hypervisor, memory, PCI devices). hello
// exercises the C library the other appliances build on, arms a timer to prove the event loop wakes from
// idle, makes a NIC raise an interrupt to prove device interrupt delivery, and then idles.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "appliances/hello/hello.hpp"
#include "hw/hw.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace {
skerry::loop::Timer wake_timer;
uint64_t armed_at;

// The clock self-check: a 64 ms timer through the event loop (APIC timer or TSC deadline, from the calibrated
// clock). It logs when it is armed and when it fires; the QEMU tests time the two lines on the host, so a wrong
// TSC frequency (a 64 ms timer taking seconds) shows.
constexpr uint64_t kCheckMs = 64;
skerry::loop::Timer clock_check_timer;
uint64_t clock_check_armed_ns;
uint64_t clock_check_armed_tsc;

void clock_check_fired(void*) {
    const uint64_t ns = skerry::time::now_ns() - clock_check_armed_ns;
    const uint64_t cycles = skerry::hw::rdtsc() - clock_check_armed_tsc;
    const uint64_t hz = skerry::time::tsc_hz();
    const uint64_t tsc_us = hz ? static_cast<uint64_t>(static_cast<unsigned __int128>(cycles) * 1000000 / hz) : 0;
    const bool ok = ns >= kCheckMs * 1000000 && ns < (kCheckMs + 50) * 1000000;
    skerry::log::info("clock: self-check: the %llu ms timer fired after %llu.%03llu ms by the clock (%llu.%03llu ms by "
                      "the TSC at %llu kHz): %s",
                      static_cast<unsigned long long>(kCheckMs), static_cast<unsigned long long>(ns / 1000000),
                      static_cast<unsigned long long>(ns / 1000 % 1000), static_cast<unsigned long long>(tsc_us / 1000),
                      static_cast<unsigned long long>(tsc_us % 1000), static_cast<unsigned long long>(hz / 1000),
                      ok ? "ok" : "OUT OF RANGE");
}

void start_clock_check() {
    skerry::log::info("clock: self-check: arming a %llu ms timer", static_cast<unsigned long long>(kCheckMs));
    clock_check_armed_tsc = skerry::hw::rdtsc();
    clock_check_armed_ns = skerry::time::now_ns();
    skerry::loop::arm(clock_check_timer, clock_check_armed_ns + kCheckMs * 1000000ull, clock_check_fired, nullptr);
}

void woke(void*) {
    uint64_t ms = (skerry::time::now_ns() - armed_at) / 1000000;
    skerry::log::info("timer: event loop woke after %llu ms", static_cast<unsigned long long>(ms));
    skerry::log::info("hello: idle (nothing to serve; the network appliances are echo, http and iperf)");
}

// malloc/free through _sbrk, the clocks, getentropy and formatted output, each reported in one line.
void check_libc() {
    const size_t kBig = 4u << 20;
    char* big = static_cast<char*>(malloc(kBig));
    bool malloc_ok = big != nullptr;
    if (big) {
        memset(big, 0x5A, kBig);
        malloc_ok = big[kBig - 1] == 0x5A;
        free(big);
    }
    timespec mono{}, real{};
    const bool clocks_ok = clock_gettime(CLOCK_MONOTONIC, &mono) == 0 && clock_gettime(CLOCK_REALTIME, &real) == 0;
    timeval tv{};
    gettimeofday(&tv, nullptr);
    char date[32] = "?";
    time_t now = tv.tv_sec;
    struct tm tm_utc;
    if (gmtime_r(&now, &tm_utc)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
    unsigned char entropy[16];
    const int e = getentropy(entropy, sizeof entropy);
    char line[160];
    snprintf(line, sizeof line, "%.3f ms", static_cast<double>(mono.tv_sec) * 1e3 + mono.tv_nsec / 1e6);
    skerry::log::info("hello: libc: malloc+free 4 MiB %s, monotonic clock %s (%s), date %s, getentropy %s",
                      malloc_ok ? "ok" : "FAILED", clocks_ok ? "ok" : "FAILED", line, date,
                      e == 0 ? "ok (RDRAND)" : strerror(errno));
}
}  // namespace

int main() {
    printf("hello: Skerry is up. This appliance only shows the boot; it serves nothing.\n");
    check_libc();
    armed_at = skerry::time::now_ns();
    skerry::loop::arm(wake_timer, armed_at + 50 * 1000000ull, woke, nullptr);
    hello::start_irq_check();
    start_clock_check();
    return 0;
}
