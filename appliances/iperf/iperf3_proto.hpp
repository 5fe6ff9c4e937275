// iperf3's control protocol (server side), as a pure state machine: bytes from the control connection in,
// bytes to send back and events for the appliance out. No sockets here, so it is host-testable.
//
// Wire format (iperf3 3.x): the client sends a 37-byte cookie (36 characters and a NUL); every state change
// is one signed byte; JSON messages are framed by a 4-byte big-endian length. Server order: cookie ->
// PARAM_EXCHANGE, params JSON -> CREATE_STREAMS, (streams connect, each sending the cookie) -> TEST_START,
// TEST_RUNNING; client's TEST_END -> EXCHANGE_RESULTS, client results JSON -> server results JSON,
// DISPLAY_RESULTS; client's IPERF_DONE ends the test.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace iperf::v3 {

constexpr size_t kCookieSize = 37;
constexpr size_t kMaxJson = 64 * 1024;
constexpr int kMaxStreams = 64;

enum State : int8_t {
    kTestStart = 1,
    kTestRunning = 2,
    kTestEnd = 4,
    kParamExchange = 9,
    kCreateStreams = 10,
    kServerTerminate = 11,
    kClientTerminate = 12,
    kExchangeResults = 13,
    kDisplayResults = 14,
    kIperfStart = 15,
    kIperfDone = 16,
    kAccessDenied = -1,
    kServerError = -2,
};

struct Params {
    bool udp = false;
    bool reverse = false;
    bool bidir = false;
    int parallel = 1;
    double time = 10;
    int omit = 0;
    uint64_t len = 128 * 1024;
    uint64_t bandwidth = 0;  // bits/s (UDP default 1 Mbit/s)
    bool udp_counters_64bit = false;
    bool get_server_output = false;
    // Streams the client opens: parallel, twice that with --bidir.
    int streams() const { return bidir ? 2 * parallel : parallel; }
    // Whether the server sends on stream number i (0-based, in connect order).
    bool server_sends(int i) const { return bidir ? i >= parallel : reverse; }
};

struct StreamResult {
    int id = 0;
    uint64_t bytes = 0;
    double seconds = 0;
    int64_t packets = 0;
    int64_t errors = 0;        // lost packets (UDP)
    double jitter = 0;         // seconds (UDP)
    int64_t retransmits = -1;  // TCP segments the server retransmitted on this stream; -1: not counted
};

enum class Event : uint8_t {
    None,
    CreateStreams,  // params are known: accept Params::streams() data streams with this cookie
    TestEnd,        // client sent TEST_END: stop the streams, then call end_test() with their results
    Done,           // client sent IPERF_DONE: close everything
    Terminated,     // client sent CLIENT_TERMINATE
    Error,          // protocol error (error_text() says what); send nothing more, close
};

// iperf3's stream ids: 1, 3, 4, 5, ... in the order the streams were created.
int stream_id(int index);

// Retransmissions between two samples of an lwIP PCB's nrtx (retransmissions of the oldest unacknowledged
// segment, back to 0 when new data is acknowledged): a rise counts its size; a drop means an ACK reset it and
// `now` more followed.
inline int nrtx_rise(uint8_t before, uint8_t now) { return now >= before ? now - before : now; }

// CPU busy share, in percent, of `elapsed_ns` of which `idle_ns` were spent halted (clamped to 0..100).
inline double busy_percent(uint64_t elapsed_ns, uint64_t idle_ns) {
    if (elapsed_ns == 0 || idle_ns >= elapsed_ns) return 0;
    return 100.0 * static_cast<double>(elapsed_ns - idle_ns) / static_cast<double>(elapsed_ns);
}

class Control {
public:
    Control() = default;
    ~Control();
    Control(const Control&) = delete;
    Control& operator=(const Control&) = delete;

    // Feeds bytes received on the control connection; returns how many were used (the rest must be fed
    // again later, after the event returned here has been handled). Event::None: all used, nothing to do.
    size_t feed(const void* data, size_t len, Event* event);

    // All streams connected: queue TEST_START, TEST_RUNNING.
    void start_test();
    // After Event::TestEnd: queue EXCHANGE_RESULTS; the server's results follow the client's. `text` (may be
    // null) is sent as "server_output_text" when the client asked for it (--get-server-output).
    // "sender_has_retransmits" follows iperf3's server: -1 when the server only received, 1 when it sent TCP
    // (each sending stream's `retransmits` then counts), 0 when it sent UDP.
    // `cpu_busy_percent`: the share of the test the appliance's CPU was not halted (iperf3's cpu_util_total
    // and, everything running in ring 0, cpu_util_system).
    void end_test(const StreamResult* results, int n, bool server_sent, double cpu_busy_percent = 0,
                  const char* text = nullptr);

    // Bytes to send on the control connection.
    const uint8_t* out() const { return out_; }
    size_t out_size() const { return out_len_; }
    void sent(size_t n);

    const char* cookie() const { return cookie_; }
    bool has_cookie() const { return cookie_len_ == kCookieSize; }
    const Params& params() const { return params_; }
    int8_t state() const { return state_; }
    const char* error_text() const { return error_; }
    // The client's results (after they arrived): total bytes it counted.
    uint64_t client_bytes() const { return client_bytes_; }

    // Parses a params JSON (exposed for tests). False on malformed JSON.
    static bool parse_params(const char* json, size_t len, Params* out);

private:
    enum class In : uint8_t { Cookie, ParamsJson, Running, ResultsJson, Done, Failed };
    void put(const void* p, size_t n);
    void put_state(int8_t s);
    void put_json(const char* s, size_t n);
    Event fail(const char* why);
    size_t take_json(const uint8_t* p, size_t len, bool* complete);

    In in_ = In::Cookie;
    int8_t state_ = 0;
    char cookie_[kCookieSize + 1] = {};
    size_t cookie_len_ = 0;
    Params params_;
    uint8_t* out_ = nullptr;
    size_t out_len_ = 0, out_cap_ = 0;
    char* json_ = nullptr;  // a JSON message being received
    size_t json_len_ = 0, json_have_ = 0;
    uint8_t hdr_[4] = {};
    size_t hdr_have_ = 0;
    char* results_ = nullptr;  // the server's results JSON, sent after the client's arrived
    uint64_t client_bytes_ = 0;
    const char* error_ = "";
};

}  // namespace iperf::v3
