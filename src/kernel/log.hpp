// The kernel log: printf-style lines with a timestamp and a level tag, written to every registered sink
// (serial, screen) and kept in a small in-memory ring of the most recent output.
//
//   [    1.234567] I pci: 00:03.0 8086:100e Ethernet controller
//    seconds.micro  level (E/W/I/D), optional subsystem prefix, message
//
// Nothing here allocates; a line is formatted into a fixed stack buffer (kLineMax bytes, longer lines end
// in "..."). Everything may be called with interrupts disabled, and from interrupt handlers: in the kernel a
// line is emitted with interrupts disabled, so lines never interleave on one CPU. emergency_write() is the
// fatal-path variant: it only touches the sinks and the ring (no formatting, no clock, no level check).
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define SKERRY_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))

namespace skerry::log {

enum class Level : uint8_t { Error = 0, Warn = 1, Info = 2, Debug = 3 };

inline constexpr size_t kLineMax = 512;  // one formatted line, prefix and newline included
inline constexpr size_t kMaxSinks = 4;
inline constexpr size_t kRingSize = 16 * 1024;  // bytes of recent output kept in memory
inline constexpr size_t kPrefixLen = 17;        // "[sssss.uuuuuu] L "

char level_tag(Level l);          // 'E', 'W', 'I', 'D'
const char* level_name(Level l);  // "error", "warn", "info", "debug"
// The command line's syslog-style number (3 errors .. 7 debug): <= 3 Error, 4-5 Warn, 6 Info, >= 7 Debug.
Level level_from_syslog(int n);

// An output device. write() gets raw bytes (whole lines or pieces of them, '\n' line ends); sinks that can
// show colour override write_level(), which the log calls instead with the level of the text.
// Sinks must not allocate and must tolerate being re-entered from a fault or NMI (emergency_write).
class Sink {
public:
    virtual void write(const char* s, size_t n) = 0;
    virtual void write_level(Level level, const char* s, size_t n) {
        (void)level;
        write(s, n);
    }

protected:
    ~Sink() = default;
};

// Registers a sink (at most kMaxSinks; false when full or already registered). With replay, the ring's
// contents (the log so far, e.g. the early boot log for a screen that comes up late) are written to the
// sink first, atomically with the registration so no line is lost or doubled.
bool add_sink(Sink* sink, bool replay = false);
bool remove_sink(Sink* sink);
size_t sink_count();

// The monotonic clock for timestamps, in nanoseconds since boot. Until it is set (or while it returns 0)
// lines show [    0.000000].
void set_clock(uint64_t (*now_ns)());

// Lines above the threshold are dropped (neither written nor kept in the ring). Default: Info.
void set_level(Level threshold);
Level level();
inline bool enabled(Level l) { return static_cast<uint8_t>(l) <= static_cast<uint8_t>(level()); }

// A log line. A trailing newline in the message is optional (one is always added); embedded newlines
// continue the message on further lines without a prefix.
void logf(Level l, const char* fmt, ...) SKERRY_PRINTF(2, 3);
void vlogf(Level l, const char* fmt, va_list ap);
// With a subsystem prefix: "[...] I <subsystem>: message".
void logf_sub(Level l, const char* subsystem, const char* fmt, ...) SKERRY_PRINTF(3, 4);
void vlogf_sub(Level l, const char* subsystem, const char* fmt, va_list ap);

void error(const char* fmt, ...) SKERRY_PRINTF(1, 2);
void warn(const char* fmt, ...) SKERRY_PRINTF(1, 2);
void info(const char* fmt, ...) SKERRY_PRINTF(1, 2);
void debug(const char* fmt, ...) SKERRY_PRINTF(1, 2);

// A subsystem's logger:   constexpr log::Logger kLog{"pci"};   kLog.info("%u devices", n);
class Logger {
public:
    constexpr explicit Logger(const char* subsystem) : sub_(subsystem) {}
    void error(const char* fmt, ...) const SKERRY_PRINTF(2, 3);
    void warn(const char* fmt, ...) const SKERRY_PRINTF(2, 3);
    void info(const char* fmt, ...) const SKERRY_PRINTF(2, 3);
    void debug(const char* fmt, ...) const SKERRY_PRINTF(2, 3);
    const char* subsystem() const { return sub_; }

private:
    const char* sub_;
};

// Raw output without prefix or level filter (newlib's write(1/2), i.e. printf from appliances). Partial
// lines are fine; a log line that follows an unterminated raw write starts on a new line.
void write(const char* s, size_t n);

// The fatal path (exception dumps, panic, power-off failure): raw bytes straight to every sink and the
// ring, shown in the error colour. No formatting, clock or interrupt-flag handling; safe to re-enter.
void emergency_write(const char* s, size_t n);

// ---- the ring of recent output
uint64_t ring_total();  // bytes ever written to the ring (the newest byte is number ring_total() - 1)
// Copies the newest output into out (at most cap bytes). When not everything fits (or the ring has
// wrapped), the copy starts after a line break so it begins with a whole line. Returns the length.
size_t ring_copy(char* out, size_t cap);
// Writes the ring's whole lines to a sink, each in its level's colour (read from the line's tag).
void replay(Sink& sink);

// Unit tests: no sinks, empty ring, level Info, no clock.
void reset();

// Fixed-size byte ring (exposed for tests). Bytes beyond the capacity overwrite the oldest.
template <size_t N>
class Ring {
public:
    static_assert(N > 0 && (N & (N - 1)) == 0, "power of two");
    void append(const char* s, size_t n) {
        for (size_t i = 0; i < n; ++i) buf_[(total_ + i) & (N - 1)] = s[i];
        total_ += n;
    }
    uint64_t total() const { return total_; }
    size_t size() const { return total_ < N ? static_cast<size_t>(total_) : N; }
    bool wrapped() const { return total_ > N; }
    // Byte i of the current contents (0 = oldest kept).
    char at(size_t i) const { return buf_[(total_ - size() + i) & (N - 1)]; }
    void clear() { total_ = 0; }

private:
    char buf_[N];
    uint64_t total_ = 0;
};

}  // namespace skerry::log
