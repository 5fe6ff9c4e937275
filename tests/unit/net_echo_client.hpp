// Test clients shared by the whole-stack tests (net_stack_test, hv_netvsc_stack_test): a byte pattern that
// depends on position and seed, and a client that streams `total` bytes of it to an echo server through the
// socket layer and checks every byte that comes back.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "net/address.hpp"
#include "net/socket.hpp"

namespace net_test {

inline uint8_t pattern(uint64_t i, uint32_t seed) {
    return static_cast<uint8_t>((i * 2654435761u) >> 13) ^ static_cast<uint8_t>(seed + (i >> 9));
}

struct EchoClient {
    skerry::net::Stream* s = nullptr;
    uint64_t total = 0, sent = 0, received = 0;
    uint32_t seed = 0;
    size_t short_writes = 0;  // writes the stream took only part of (back-pressure)
    bool done = false, mismatch = false, failed = false;
    skerry::net::Error error = skerry::net::Error::None;

    bool start(const skerry::net::Address& to) {
        skerry::net::StreamHandlers h;
        h.connected = [](skerry::net::Stream&, void* c) { static_cast<EchoClient*>(c)->pump_write(); };
        h.writable = [](skerry::net::Stream&, void* c) { static_cast<EchoClient*>(c)->pump_write(); };
        h.readable = [](skerry::net::Stream&, void* c) { static_cast<EchoClient*>(c)->pump_read(); };
        h.closed = [](skerry::net::Stream&, skerry::net::Error e, void* c) {
            auto* self = static_cast<EchoClient*>(c);
            self->failed = true;
            self->error = e;
            self->s = nullptr;
        };
        skerry::net::Error e;
        s = skerry::net::Stream::connect(to, h, this, &e);
        return s != nullptr;
    }
    void pump_write() {
        uint8_t buf[8192];
        while (s && sent < total) {
            const size_t n = total - sent < sizeof buf ? static_cast<size_t>(total - sent) : sizeof buf;
            for (size_t i = 0; i < n; ++i) buf[i] = pattern(sent + i, seed);
            const size_t w = s->write(buf, n);
            sent += w;
            if (w < n) {
                ++short_writes;
                return;
            }
        }
    }
    void pump_read() {
        uint8_t buf[8192];
        size_t n;
        while (s && (n = s->read(buf, sizeof buf)) > 0) {
            for (size_t i = 0; i < n; ++i)
                if (buf[i] != pattern(received + i, seed)) mismatch = true;
            received += n;
        }
        if (s && received == total) {
            done = true;
            s->close();
            s = nullptr;
        }
    }
};

}  // namespace net_test
