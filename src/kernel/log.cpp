// The kernel log: line formatting, the sink list and the ring of recent output. See log.hpp.
#include "kernel/log.hpp"

#include <stdio.h>
#include <string.h>

#if !defined(SKERRY_HOST_TEST)
#include "kernel/arch/cpu.hpp"
#endif

namespace skerry::log {
namespace {

Sink* sinks[kMaxSinks];
Level threshold = Level::Info;
uint64_t (*clock_fn)() = nullptr;
Ring<kRingSize> ring;
bool at_line_start = true;  // the last byte emitted was '\n' (or nothing was emitted yet)

// One CPU: a line is emitted with interrupts off so an interrupt handler's line cannot split it.
#if defined(SKERRY_HOST_TEST)
struct Guard {
    Guard() {}
    ~Guard() {}
};
#else
using Guard = cpu::InterruptGuard;
#endif

void emit(Level l, const char* s, size_t n) {
    if (n == 0) return;
    ring.append(s, n);
    for (Sink* k : sinks)
        if (k) k->write_level(l, s, n);
    at_line_start = s[n - 1] == '\n';
}

// "[sssss.uuuuuu] L " (seconds wider than 5 digits after ~28 hours). Returns the length (< 32).
size_t format_prefix(char* out, uint64_t ns, Level l) {
    uint64_t sec = ns / 1000000000u;
    uint32_t usec = static_cast<uint32_t>((ns / 1000u) % 1000000u);
    char digits[20];
    int nd = 0;
    do {
        digits[nd++] = static_cast<char>('0' + sec % 10);
        sec /= 10;
    } while (sec);
    size_t p = 0;
    out[p++] = '[';
    for (int pad = 5 - nd; pad > 0; --pad) out[p++] = ' ';
    while (nd) out[p++] = digits[--nd];
    out[p++] = '.';
    for (int i = 5; i >= 0; --i) {
        out[p + static_cast<size_t>(i)] = static_cast<char>('0' + usec % 10);
        usec /= 10;
    }
    p += 6;
    out[p++] = ']';
    out[p++] = ' ';
    out[p++] = level_tag(l);
    out[p++] = ' ';
    return p;
}

// The level of a line in the ring, from its tag ("[    1.000000] W ..."); Info when it has none.
Level level_of_line(const char* s, size_t n) {
    if (n < 4 || s[0] != '[') return Level::Info;
    for (size_t i = 1; i + 3 < n && i < 32; ++i) {
        if (s[i] == ']') {
            if (s[i + 1] != ' ' || s[i + 3] != ' ') return Level::Info;
            switch (s[i + 2]) {
            case 'E': return Level::Error;
            case 'W': return Level::Warn;
            case 'D': return Level::Debug;
            default: return Level::Info;
            }
        }
    }
    return Level::Info;
}

void replay_locked(Sink& sink) {
    size_t n = ring.size();
    size_t i = 0;
    if (ring.wrapped()) {  // the oldest line is cut: start after the first line break
        while (i < n && ring.at(i) != '\n') ++i;
        if (i < n) ++i;
        static const char kNote[] = "[log: earlier output dropped from the ring]\n";
        sink.write_level(Level::Warn, kNote, sizeof kNote - 1);
    }
    char buf[kLineMax];
    while (i < n) {
        size_t len = 0;
        while (i < n && len < sizeof buf) {
            char c = ring.at(i++);
            buf[len++] = c;
            if (c == '\n') break;
        }
        sink.write_level(level_of_line(buf, len), buf, len);
    }
}

}  // namespace

char level_tag(Level l) {
    switch (l) {
    case Level::Error: return 'E';
    case Level::Warn: return 'W';
    case Level::Info: return 'I';
    case Level::Debug: return 'D';
    }
    return '?';
}

const char* level_name(Level l) {
    switch (l) {
    case Level::Error: return "error";
    case Level::Warn: return "warn";
    case Level::Info: return "info";
    case Level::Debug: return "debug";
    }
    return "?";
}

Level level_from_syslog(int n) {
    if (n <= 3) return Level::Error;
    if (n <= 5) return Level::Warn;
    if (n == 6) return Level::Info;
    return Level::Debug;
}

bool add_sink(Sink* sink, bool replay_ring) {
    if (!sink) return false;
    Guard g;
    Sink** free_slot = nullptr;
    for (Sink*& k : sinks) {
        if (k == sink) return false;
        if (!k && !free_slot) free_slot = &k;
    }
    if (!free_slot) return false;
    if (replay_ring) replay_locked(*sink);
    *free_slot = sink;
    return true;
}

bool remove_sink(Sink* sink) {
    Guard g;
    for (Sink*& k : sinks) {
        if (k == sink && sink) {
            k = nullptr;
            return true;
        }
    }
    return false;
}

size_t sink_count() {
    size_t n = 0;
    for (Sink* k : sinks) n += k != nullptr;
    return n;
}

void set_clock(uint64_t (*now_ns)()) { clock_fn = now_ns; }
void set_level(Level t) { threshold = t; }
Level level() { return threshold; }

void vlogf_sub(Level l, const char* subsystem, const char* fmt, va_list ap) {
    if (!enabled(l)) return;
    char line[kLineMax];
    size_t pos = format_prefix(line, clock_fn ? clock_fn() : 0, l);
    if (subsystem && *subsystem) {
        for (size_t i = 0; subsystem[i] && i < 32; ++i) line[pos++] = subsystem[i];
        line[pos++] = ':';
        line[pos++] = ' ';
    }
    const size_t msg_start = pos;
    // The message may fill the buffer to the last byte, which then becomes the newline.
    const size_t room = kLineMax - pos;
    int r = vsnprintf(line + pos, room, fmt ? fmt : "(null)", ap);
    bool truncated = false;
    if (r < 0) {
        static const char kBad[] = "(log format error)";
        memcpy(line + pos, kBad, sizeof kBad - 1);
        pos += sizeof kBad - 1;
    } else if (static_cast<size_t>(r) >= room) {
        truncated = true;
        pos += room - 1;
    } else {
        pos += static_cast<size_t>(r);
    }
    if (truncated) {
        for (size_t i = 0; i < 3 && pos - i > msg_start; ++i) line[pos - 1 - i] = '.';
    } else {
        while (pos > msg_start && (line[pos - 1] == '\n' || line[pos - 1] == '\r')) --pos;
    }
    line[pos++] = '\n';

    Guard g;
    if (!at_line_start) emit(Level::Info, "\n", 1);
    emit(l, line, pos);
}

void vlogf(Level l, const char* fmt, va_list ap) { vlogf_sub(l, nullptr, fmt, ap); }

void logf(Level l, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlogf_sub(l, nullptr, fmt, ap);
    va_end(ap);
}

void logf_sub(Level l, const char* subsystem, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlogf_sub(l, subsystem, fmt, ap);
    va_end(ap);
}

#define SKERRY_LOG_FN(level, sub)   \
    va_list ap;                     \
    va_start(ap, fmt);              \
    vlogf_sub(level, sub, fmt, ap); \
    va_end(ap)

void error(const char* fmt, ...) { SKERRY_LOG_FN(Level::Error, nullptr); }
void warn(const char* fmt, ...) { SKERRY_LOG_FN(Level::Warn, nullptr); }
void info(const char* fmt, ...) { SKERRY_LOG_FN(Level::Info, nullptr); }
void debug(const char* fmt, ...) { SKERRY_LOG_FN(Level::Debug, nullptr); }

void Logger::error(const char* fmt, ...) const { SKERRY_LOG_FN(Level::Error, sub_); }
void Logger::warn(const char* fmt, ...) const { SKERRY_LOG_FN(Level::Warn, sub_); }
void Logger::info(const char* fmt, ...) const { SKERRY_LOG_FN(Level::Info, sub_); }
void Logger::debug(const char* fmt, ...) const { SKERRY_LOG_FN(Level::Debug, sub_); }

#undef SKERRY_LOG_FN

void write(const char* s, size_t n) {
    if (!s) return;
    Guard g;
    emit(Level::Info, s, n);
}

void emergency_write(const char* s, size_t n) {
    if (!s) return;
    emit(Level::Error, s, n);
}

uint64_t ring_total() { return ring.total(); }

size_t ring_copy(char* out, size_t cap) {
    if (!out || cap == 0) return 0;
    Guard g;
    size_t n = ring.size();
    size_t start = n > cap ? n - cap : 0;
    if (start > 0 || ring.wrapped()) {
        size_t i = start;
        // Only skip to a line break when it comes at or before the end; else keep the partial line.
        while (i < n && ring.at(i) != '\n') ++i;
        if (i < n) start = i + 1;
    }
    for (size_t i = start; i < n; ++i) out[i - start] = ring.at(i);
    return n - start;
}

void replay(Sink& sink) {
    Guard g;
    replay_locked(sink);
}

void reset() {
    Guard g;
    for (Sink*& k : sinks) k = nullptr;
    ring.clear();
    threshold = Level::Info;
    clock_fn = nullptr;
    at_line_start = true;
}

}  // namespace skerry::log
