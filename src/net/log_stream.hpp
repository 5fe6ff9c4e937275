// The console log, streamed to a listener on the host: `log.stream=vsock:2:5140` (over vsock, to the host; no IP
// configuration needed) or `log.stream=10.0.2.2:5140` (over TCP). The whole log so far (the in-memory ring) goes
// first, then every new line as it is written. A listener that is not there yet, or that goes away, is retried
// (1 s, doubling to 30 s); what the log writes meanwhile is kept (64 KiB) and sent on the next connection, and
// what did not fit is counted and announced in the stream ("[log stream: N bytes dropped]"). Anything the host
// sends is read and ignored. The serial and screen consoles are not affected.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "net/address.hpp"

namespace skerry::net::log_stream {

// Starts streaming to `to` (a vsock or IP address with a port). False (logged) for an unusable address.
bool start(const Address& to);
// From the command line's value of log.stream (empty: nothing to do, true).
bool start_from_option(const char* value);

struct Stats {
    uint64_t bytes_sent = 0;     // log bytes the stream accepted
    uint64_t bytes_dropped = 0;  // log bytes that found the buffer full
    uint32_t connections = 0;    // connections established
    uint32_t attempts = 0;       // connects started
    bool connected = false;
};
Stats stats();

// Host tests: back to the state before start().
void reset_for_test();

}  // namespace skerry::net::log_stream
