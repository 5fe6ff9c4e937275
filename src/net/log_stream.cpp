#include "net/log_stream.hpp"

#include <stdio.h>
#include <string.h>

#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "net/socket.hpp"

namespace skerry::net::log_stream {
namespace {

constexpr size_t kBuffer = 64 * 1024;  // log bytes held while the stream is slow or not connected
constexpr uint64_t kFirstRetryNs = 1'000'000'000ull;
constexpr uint64_t kMaxRetryNs = 30'000'000'000ull;
constexpr uint64_t kBackstopNs = 1'000'000'000ull;  // a flush now and then, should a raise() have been dropped

// Single producer (the log, possibly inside an interrupt handler, with interrupts off), single consumer (the
// loop): the producer only advances head_, the consumer only tail_; both are free-running counters.
class RingSink final : public log::Sink {
public:
    void write(const char* s, size_t n) override {
        const size_t head = __atomic_load_n(&head_, __ATOMIC_RELAXED);
        const size_t tail = __atomic_load_n(&tail_, __ATOMIC_ACQUIRE);
        const size_t room = kBuffer - (head - tail);
        const size_t k = n < room ? n : room;
        for (size_t i = 0; i < k; ++i) buf_[(head + i) % kBuffer] = s[i];
        if (k < n) __atomic_add_fetch(&dropped_, n - k, __ATOMIC_RELAXED);
        if (k == 0) return;
        __atomic_store_n(&head_, head + k, __ATOMIC_RELEASE);
        if (head == tail) wake();  // it was empty: the loop has something to send
    }
    // The first contiguous piece of what is waiting.
    size_t peek(const char** p) const {
        const size_t head = __atomic_load_n(&head_, __ATOMIC_ACQUIRE);
        const size_t tail = tail_;
        if (head == tail) return 0;
        const size_t off = tail % kBuffer;
        const size_t contiguous = kBuffer - off;
        *p = buf_ + off;
        return head - tail < contiguous ? head - tail : contiguous;
    }
    void consume(size_t n) { __atomic_store_n(&tail_, tail_ + n, __ATOMIC_RELEASE); }
    uint64_t dropped() const { return __atomic_load_n(&dropped_, __ATOMIC_RELAXED); }
    void clear() { head_ = tail_ = dropped_ = 0; }

private:
    static void wake();
    char buf_[kBuffer];
    size_t head_ = 0, tail_ = 0;
    uint64_t dropped_ = 0;
};

RingSink sink;
Address target;
Stream* stream = nullptr;
bool started = false;
uint64_t retry_ns = kFirstRetryNs;
uint64_t dropped_told = 0;
loop::Timer retry_timer{}, backstop_timer{};
Stats st;

void flush();
void connect_now(void*);

void flush_cb(void*) { flush(); }
void RingSink::wake() { loop::raise(flush_cb, &sink); }

void backstop(void*) {
    flush();
    if (started) loop::arm_in(backstop_timer, kBackstopNs, backstop, nullptr);
}

// Sends what the buffer holds, as far as the stream takes it; `writable` brings the rest.
void flush() {
    if (!stream || stream->state() != Stream::State::Open) return;
    const uint64_t dropped = sink.dropped();
    if (dropped != dropped_told) {
        char note[64];
        const int n = snprintf(note, sizeof note, "[log stream: %llu bytes dropped]\n",
                               static_cast<unsigned long long>(dropped - dropped_told));
        if (stream->write_space() < static_cast<size_t>(n)) return;
        stream->write(note, static_cast<size_t>(n));
        dropped_told = dropped;
    }
    const char* p;
    size_t n;
    while ((n = sink.peek(&p)) != 0) {
        const size_t w = stream->write(p, n);
        sink.consume(w);
        st.bytes_sent += w;
        if (w < n) return;
    }
}

void schedule_retry() {
    loop::arm_in(retry_timer, retry_ns, connect_now, nullptr);
    retry_ns = retry_ns * 2 > kMaxRetryNs ? kMaxRetryNs : retry_ns * 2;
}

void on_connected(Stream& s, void*) {
    s.set_nodelay(true);  // a log line goes out as it is written
    ++st.connections;
    st.connected = true;
    retry_ns = kFirstRetryNs;
    char to[kAddressTextMax];
    target.format(to, sizeof to);
    log::info("log: streaming the console log to %s", to);
    flush();
}

void on_readable(Stream& s, void*) {
    const void* p;
    size_t n;
    while ((n = s.peek(&p)) != 0) s.consume(n);  // the host has nothing to say to us
    if (s.at_eof()) {
        stream = nullptr;
        st.connected = false;
        s.close();
        log::warn("log: the listener closed the log stream; reconnecting in %llu s",
                  static_cast<unsigned long long>(retry_ns / 1'000'000'000ull));
        schedule_retry();
    }
}

void on_writable(Stream&, void*) { flush(); }

void on_closed(Stream&, Error why, void*) {
    stream = nullptr;
    const bool was = st.connected;
    st.connected = false;
    // Said once per outage, not on every retry.
    if (was || st.attempts == 1) {
        char to[kAddressTextMax];
        target.format(to, sizeof to);
        log::warn("log: log stream to %s: %s; retrying (every %llu s at most)", to, error_text(why),
                  static_cast<unsigned long long>(kMaxRetryNs / 1'000'000'000ull));
    }
    schedule_retry();
}

const StreamHandlers kHandlers{on_connected, on_readable, on_writable, on_closed};

void connect_now(void*) {
    if (stream || !started) return;
    ++st.attempts;
    Error e = Error::None;
    stream = Stream::connect(target, kHandlers, nullptr, &e);
    if (!stream) {
        if (st.attempts == 1) {
            char to[kAddressTextMax];
            target.format(to, sizeof to);
            log::warn("log: cannot connect the log stream to %s yet: %s; retrying", to, error_text(e));
        }
        schedule_retry();
    }
}

}  // namespace

bool start(const Address& to) {
    char text[kAddressTextMax];
    to.format(text, sizeof text);
    if (started) {
        log::warn("log: the log stream already runs; %s ignored", text);
        return false;
    }
    if (to.port == 0 || to.is_unspecified()) {
        log::warn("log: log.stream=%s needs a host and a port (e.g. vsock:2:5140 or 10.0.2.2:5140)", text);
        return false;
    }
    if (to.family == Family::Vsock && !vsock_available()) {
        log::warn("log: log.stream=%s: this machine has no vsock transport; no log stream", text);
        return false;
    }
    target = to;
    started = true;
    dropped_told = 0;
    log::add_sink(&sink, true);  // the log so far first, then every new line
    log::info("log: log stream to %s", text);
    loop::arm_in(backstop_timer, kBackstopNs, backstop, nullptr);
    connect_now(nullptr);
    return true;
}

bool start_from_option(const char* value) {
    if (!value || !*value) return true;
    Address a;
    if (!parse_address(value, &a)) {
        log::warn("log: bad value '%s' for log.stream (expected vsock:<cid>:<port> or <ip>:<port>); no log stream",
                  value);
        return false;
    }
    return start(a);
}

Stats stats() {
    Stats s = st;
    s.bytes_dropped = sink.dropped();
    return s;
}

void reset_for_test() {
    if (stream) {
        stream->set_handlers(StreamHandlers{}, nullptr);
        stream->abort();
    }
    stream = nullptr;
    started = false;
    log::remove_sink(&sink);
    loop::cancel(retry_timer);
    loop::cancel(backstop_timer);
    loop::cancel_raised(&sink);
    sink.clear();
    retry_ns = kFirstRetryNs;
    dropped_told = 0;
    st = Stats{};
}

}  // namespace skerry::net::log_stream
