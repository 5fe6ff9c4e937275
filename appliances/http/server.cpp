#include "appliances/http/server.hpp"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "appliances/http/files.hpp"
#include "appliances/http/request.hpp"
#include "appliances/http/status.hpp"
#include "appliances/http/tls.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"
#include "net/socket.hpp"
#include "net/stack.hpp"

namespace http {
namespace {

using namespace skerry;
using net::Error;
using net::Stream;

constexpr int kBacklog = 128;
constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kTickNs = 250 * kMs;
constexpr uint64_t kStallNs = 60000 * kMs;  // output that does not move for this long: abort
constexpr uint64_t kDrainNs = 5000 * kMs;   // after our FIN, wait this long for the peer's
constexpr size_t kStatusMax = 16 * 1024;
constexpr size_t kMaxRejecting = 64;  // 503 answers still draining

const Limits kLimits{};
constexpr size_t kInCap = 8192 + 256;  // > kLimits.max_header_bytes: a full buffer is always judged

enum class Phase : uint8_t { Reading, Draining };

struct Conn {
    Stream* s;
    Phase phase;
    bool close_after;  // close once the response is written
    uint64_t accepted_ns;
    uint64_t request_start_ns;  // first byte of the pending request (0: none)
    uint64_t last_activity_ns;  // last byte in or out
    uint64_t drain_start_ns;
    uint64_t skip_body;  // request body bytes still to drop
    uint32_t requests;
    tls::Session* tls;  // HTTPS: the TLS session (nullptr: plain HTTP)
    bool tls_closed;    // the TLS layer ended (peer's close_notify, end of stream, or an error)
    // Output: the header block, then a body (a file, or memory).
    size_t hdr_len, hdr_off;
    const File* file;
    const char* mem;
    bool mem_owned;
    size_t body_len, body_off;
    char peer[net::kAddressTextMax];
    char hdr[1024];
    size_t in_len;
    char in[kInCap];
};

Options opts;
net::Listener* listener;
net::Listener* tls_listener;
net::Listener* vsock_listener;
net::Listener* vsock_tls_listener;
Totals totals_;
Timer tick_timer;
Conn** conns;  // every open connection, for the tick (opts.max_connections slots)
size_t rejecting;

// ---- access log, rate limited
uint64_t log_window;  // now_ns / 1 s of the current window
uint32_t log_in_window;
uint64_t log_suppressed;  // since the last "not logged" line

void access_log(const Conn& c, const char* method, const char* path, int status, uint64_t bytes) {
    const uint64_t now_s = time::now_ns() / 1000000000ull;
    if (now_s != log_window) {
        log_window = now_s;
        log_in_window = 0;
        if (log_suppressed) {
            log::info("http: %llu requests not logged", static_cast<unsigned long long>(log_suppressed));
            log_suppressed = 0;
        }
    }
    if (log_in_window >= opts.log_per_second) {
        ++log_suppressed;
        ++totals_.not_logged;
        return;
    }
    ++log_in_window;
    log::info("http: %s \"%s %s\" %d %llu", c.peer, method, path, status, static_cast<unsigned long long>(bytes));
}

// ---- Date: cached per second
const char* http_date() {
    static char buf[40];
    static time_t cached = -1;
    const time_t t = ::time(nullptr);
    if (t != cached) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached = t;
    }
    return buf;
}

bool output_pending(const Conn& c) { return c.hdr_off < c.hdr_len || c.body_off < c.body_len; }

void release_body(Conn& c) {
    if (c.mem_owned) free(const_cast<char*>(c.mem));
    c.mem = nullptr;
    c.mem_owned = false;
    c.file = nullptr;
    c.body_len = c.body_off = 0;
}

void forget(Conn* c) {
    release_body(*c);
    tls::close(c->tls);
    c->tls = nullptr;
    for (size_t i = 0; i < opts.max_connections; ++i) {
        if (conns[i] == c) {
            conns[i] = nullptr;
            break;
        }
    }
    --totals_.open;
    free(c);
}

// Starts a response: status line, common headers, `extra` (each line with "\r\n"), the connection header.
void begin_response(Conn& c, const char* version, int status, const char* extra, bool keep_alive, bool http10) {
    const char* conn_hdr = "";
    if (!keep_alive) {
        conn_hdr = "Connection: close\r\n";
    } else if (http10) {
        conn_hdr = "Connection: keep-alive\r\n";
    }
    const int n = snprintf(c.hdr, sizeof c.hdr, "%s %d %s\r\nServer: skerry\r\nDate: %s\r\n%s%s\r\n", version, status,
                           reason_phrase(status), http_date(), extra, conn_hdr);
    c.hdr_len = n > 0 && static_cast<size_t>(n) < sizeof c.hdr ? static_cast<size_t>(n) : 0;
    c.hdr_off = 0;
    c.close_after = !keep_alive;
    const int cls = status / 100;
    if (cls >= 1 && cls <= 5) ++totals_.status[cls];
}

void respond_error(Conn& c, int status, bool head, bool keep_alive, bool http10, const char* method, const char* path) {
    static char body[96];
    const int bn = snprintf(body, sizeof body, "%d %s\n", status, reason_phrase(status));
    char extra[192];
    snprintf(extra, sizeof extra, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%s%s", bn,
             status == 405 ? "Allow: GET, HEAD\r\n" : "", status == 503 ? "Retry-After: 1\r\n" : "");
    begin_response(c, http10 ? "HTTP/1.0" : "HTTP/1.1", status, extra, keep_alive, http10);
    release_body(c);
    if (!head) {
        // A fresh copy per connection: `body` is shared.
        char* m = static_cast<char*>(malloc(static_cast<size_t>(bn)));
        if (m) {
            memcpy(m, body, static_cast<size_t>(bn));
            c.mem = m;
            c.mem_owned = true;
            c.body_len = static_cast<size_t>(bn);
        } else {
            c.close_after = true;
        }
    }
    if (status == 408) ++totals_.timeouts;
    access_log(c, method, path, status, c.hdr_len + c.body_len);
}

void respond(Conn& c, const Request& r) {
    const bool head = r.method == Method::Head;
    const bool http10 = r.version_minor == 0;
    const char* version = http10 ? "HTTP/1.0" : "HTTP/1.1";
    release_body(c);
    if (r.method == Method::NotAllowed || r.method == Method::Unknown) {
        const int st = r.method == Method::NotAllowed ? 405 : 501;
        // Any body was counted in r.body_bytes and is skipped; an unknown method may mean more we do not
        // understand, so 501 closes.
        respond_error(c, st, false, st == 405 && r.keep_alive, http10, r.method_text, r.path);
        return;
    }
    if (strcmp(r.path, "/status") == 0) {
        char* m = static_cast<char*>(malloc(kStatusMax));
        const size_t n = m ? write_status_json(m, kStatusMax) : 0;
        if (n == 0) {
            free(m);
            respond_error(c, 500, head, false, http10, r.method_text, r.path);
            return;
        }
        char extra[128];
        snprintf(extra, sizeof extra,
                 "Content-Type: application/json\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n", n);
        begin_response(c, version, 200, extra, r.keep_alive, http10);
        if (head) {
            free(m);
        } else {
            c.mem = m;
            c.mem_owned = true;
            c.body_len = n;
        }
        access_log(c, r.method_text, r.path, 200, c.hdr_len + c.body_len);
        return;
    }
    const File* f = find_file(r.path);
    if (!f) {
        respond_error(c, 404, head, r.keep_alive, http10, r.method_text, r.path);
        return;
    }
    if (r.has_if_none_match && etag_matches(r.if_none_match, f->etag)) {
        char extra[192];
        snprintf(extra, sizeof extra, "ETag: %s\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\n", f->etag,
                 kLastModified);
        begin_response(c, version, 304, extra, r.keep_alive, http10);
        access_log(c, r.method_text, r.path, 304, c.hdr_len);
        return;
    }
    // The precomputed headers go in as `extra`; they fit (gen_www keeps them short).
    char extra[512];
    const size_t hl = f->headers_len < sizeof extra - 1 ? f->headers_len : sizeof extra - 1;
    memcpy(extra, f->headers, hl);
    extra[hl] = '\0';
    begin_response(c, version, 200, extra, r.keep_alive, http10);
    if (!head) {
        c.file = f;
        c.body_len = f->size;
    }
    access_log(c, r.method_text, r.path, 200, c.hdr_len + c.body_len);
}

// ---- transport: the stream itself, or TLS over it
size_t conn_write(Conn& c, const void* p, size_t n) {
    if (!c.tls) return c.s->write(p, n);
    const long r = tls::write(c.tls, p, n);
    if (r > 0) return static_cast<size_t>(r);
    if (r == tls::kClosed) c.tls_closed = true;
    return 0;
}

// Reads into the input buffer; true if bytes came.
bool conn_fill(Conn& c) {
    if (c.in_len >= kInCap) return false;
    if (!c.tls) {
        if (!c.s->available()) return false;
        c.in_len += c.s->read(c.in + c.in_len, kInCap - c.in_len);
        return true;
    }
    const long r = tls::read(c.tls, c.in + c.in_len, kInCap - c.in_len);
    if (r > 0) {
        c.in_len += static_cast<size_t>(r);
        return true;
    }
    if (r == tls::kClosed) c.tls_closed = true;
    return false;
}

bool conn_eof(Conn& c) { return c.tls ? c.tls_closed || c.s->at_eof() : c.s->at_eof(); }

// Writes what it can; true when everything is written.
bool flush(Conn& c) {
    while (c.hdr_off < c.hdr_len) {
        const size_t w = conn_write(c, c.hdr + c.hdr_off, c.hdr_len - c.hdr_off);
        if (w == 0) return false;
        c.hdr_off += w;
        totals_.bytes_sent += w;
        c.last_activity_ns = time::now_ns();
    }
    while (c.body_off < c.body_len) {
        const unsigned char* p = nullptr;
        size_t n;
        if (c.file) {
            n = c.file->chunk(c.body_off, 64 * 1024, &p);
        } else {
            p = reinterpret_cast<const unsigned char*>(c.mem) + c.body_off;
            n = c.body_len - c.body_off;
        }
        const size_t w = conn_write(c, p, n);
        if (w == 0) return false;
        c.body_off += w;
        totals_.bytes_sent += w;
        c.last_activity_ns = time::now_ns();
    }
    release_body(c);
    c.hdr_len = c.hdr_off = 0;
    return true;
}

void start_drain(Conn& c) {
    c.phase = Phase::Draining;
    c.drain_start_ns = time::now_ns();
    c.in_len = 0;
    tls::close(c.tls);  // close_notify goes out before our FIN
    c.tls = nullptr;
    c.s->shutdown_write();
}

// Closes the stream and frees the connection (no callback follows close()).
void finish(Conn* c) {
    Stream* s = c->s;
    if (s->available()) s->consume(s->available());
    forget(c);
    s->close();
}

void pump(Conn* c);

void readable(Stream&, void* ctx) { pump(static_cast<Conn*>(ctx)); }

void closed(Stream&, Error why, void* ctx) {
    Conn* c = static_cast<Conn*>(ctx);
    if (why != Error::None) log::debug("http: %s: %s", c->peer, net::error_text(why));
    forget(c);
}

void pump(Conn* c) {
    Stream& s = *c->s;
    for (;;) {
        if (c->phase == Phase::Draining) {
            if (s.available()) s.consume(s.available());
            if (s.at_eof() || s.state() == Stream::State::Closed) finish(c);
            return;
        }
        if (c->tls) {
            const long h = tls::handshake(c->tls);
            if (h == tls::kClosed || c->tls_closed) {
                Stream* st = c->s;
                forget(c);
                st->abort();
                return;
            }
            if (h == 0) {
                if (s.at_eof()) {
                    finish(c);
                } else if (c->request_start_ns == 0) {
                    c->request_start_ns = time::now_ns();  // the handshake counts as part of the request
                }
                return;
            }
        }
        if (output_pending(*c) && !flush(*c)) {
            if (c->tls && c->tls_closed) continue;  // handled above
            return;                                 // `writable` resumes
        }
        if (c->close_after) {
            start_drain(*c);
            continue;
        }
        // Drop a request body we do not use.
        if (c->skip_body) {
            const size_t from_buf = c->skip_body < c->in_len ? static_cast<size_t>(c->skip_body) : c->in_len;
            memmove(c->in, c->in + from_buf, c->in_len - from_buf);
            c->in_len -= from_buf;
            c->skip_body -= from_buf;
            if (!c->tls) {
                const size_t avail = s.available();
                const size_t from_stream = c->skip_body < avail ? static_cast<size_t>(c->skip_body) : avail;
                s.consume(from_stream);
                c->skip_body -= from_stream;
            } else if (c->skip_body && conn_fill(*c)) {
                continue;  // dropped from the buffer on the next round
            }
            if (c->skip_body) {
                if (conn_eof(*c)) {
                    finish(c);
                } else if (c->request_start_ns == 0) {
                    c->request_start_ns = time::now_ns();  // a slow body counts as a slow request
                }
                return;
            }
            c->request_start_ns = 0;
        }
        // More input.
        if (conn_fill(*c)) c->last_activity_ns = time::now_ns();
        if (c->in_len == 0) {
            if (conn_eof(*c)) finish(c);
            return;
        }
        Request r;
        const ParseResult pr = parse_request(c->in, c->in_len, kLimits, &r);
        if (pr.parse == Parse::Incomplete) {
            if (c->in_len >= kInCap) {
                ++totals_.requests;
                respond_error(*c, 431, false, false, false, "-", "-");
                continue;
            }
            if (conn_eof(*c)) {
                finish(c);  // the peer gave up mid-request
                return;
            }
            if (c->request_start_ns == 0) c->request_start_ns = time::now_ns();
            return;
        }
        ++totals_.requests;
        ++c->requests;
        c->request_start_ns = 0;
        if (pr.parse == Parse::Error) {
            respond_error(*c, pr.status, false, false, false, "-", "-");
            continue;
        }
        memmove(c->in, c->in + r.header_bytes, c->in_len - r.header_bytes);
        c->in_len -= r.header_bytes;
        c->skip_body = r.body_bytes;
        respond(*c, r);
        if (c->in_len > 0 && c->request_start_ns == 0) c->request_start_ns = time::now_ns();
    }
}

// ---- over the limit: 503, then drain and close
void reject_readable(Stream& s, void*) {
    if (s.available()) s.consume(s.available());
    if (s.at_eof() || s.state() == Stream::State::Closed) {
        --rejecting;
        s.close();
    }
}

void reject_closed(Stream&, Error, void*) { --rejecting; }

void reject(Stream& s) {
    ++totals_.rejected;
    ++totals_.status[5];
    if (rejecting >= kMaxRejecting) {
        s.abort();
        return;
    }
    static const char k503[] =
        "HTTP/1.1 503 Service Unavailable\r\nServer: skerry\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Length: 24\r\nRetry-After: 1\r\nConnection: close\r\n\r\n503 Service Unavailable\n";
    ++rejecting;
    net::StreamHandlers h;
    h.readable = reject_readable;
    h.closed = reject_closed;
    s.set_handlers(h, nullptr);
    if (s.available()) s.consume(s.available());
    totals_.bytes_sent += s.write(k503, sizeof k503 - 1);
    s.shutdown_write();
    char peer[net::kAddressTextMax];
    s.remote().format(peer, sizeof peer);
    log::info("http: %s: 503, %llu connections open (limit %u)", peer, static_cast<unsigned long long>(totals_.open),
              opts.max_connections);
}

void writable(Stream&, void* ctx) { pump(static_cast<Conn*>(ctx)); }

void accept_common(Stream& s, bool tls_on) {
    ++totals_.connections;
    size_t slot = opts.max_connections;
    for (size_t i = 0; i < opts.max_connections; ++i) {
        if (!conns[i]) {
            slot = i;
            break;
        }
    }
    Conn* c = slot < opts.max_connections ? static_cast<Conn*>(calloc(1, sizeof(Conn))) : nullptr;
    tls::Session* t = c && tls_on ? tls::open(s) : nullptr;
    if (c && tls_on && !t) {
        free(c);
        c = nullptr;
    }
    if (!c) {
        if (tls_on) {
            ++totals_.rejected;
            s.abort();  // a plain-text 503 means nothing to a TLS client
        } else {
            reject(s);
        }
        return;
    }
    c->tls = t;
    conns[slot] = c;
    ++totals_.open;
    c->s = &s;
    c->phase = Phase::Reading;
    c->accepted_ns = c->last_activity_ns = time::now_ns();
    s.remote().format(c->peer, sizeof c->peer);
    log::debug("http: connection from %s (%llu open)", c->peer, static_cast<unsigned long long>(totals_.open));
    s.set_nodelay(true);
    net::StreamHandlers h;
    h.readable = readable;
    h.writable = writable;
    h.closed = closed;
    s.set_handlers(h, c);
    pump(c);  // the request may have come with the handshake
}

void accepted(net::Listener&, Stream& s, void*) { accept_common(s, false); }
void accepted_tls(net::Listener&, Stream& s, void*) { accept_common(s, true); }

void tick(void*) {
    const uint64_t now = time::now_ns();
    for (size_t i = 0; i < opts.max_connections; ++i) {
        Conn* c = conns[i];
        if (!c) continue;
        if (c->phase == Phase::Draining) {
            if (now - c->drain_start_ns > kDrainNs) finish(c);
            continue;
        }
        if (output_pending(*c)) {
            if (now - c->last_activity_ns > kStallNs) {
                log::info("http: %s: not reading for %llu s, aborted", c->peer,
                          static_cast<unsigned long long>(kStallNs / 1000000000ull));
                Stream* s = c->s;
                forget(c);
                s->abort();
            }
            continue;
        }
        const bool pending = c->request_start_ns != 0;
        const uint64_t since_request = pending ? now - c->request_start_ns : 0;
        if (pending && since_request > opts.request_timeout_ms * kMs) {
            respond_error(*c, 408, false, false, c->in_len == 0, "-", "-");
            pump(c);
            continue;
        }
        if (!pending && c->in_len == 0) {
            const uint64_t idle = now - c->last_activity_ns;
            if (c->requests == 0 && idle > opts.request_timeout_ms * kMs) {
                respond_error(*c, 408, false, false, false, "-", "-");  // connected, said nothing
                pump(c);
            } else if (c->requests > 0 && idle > opts.keepalive_timeout_ms * kMs) {
                finish(c);
            }
        }
    }
    // Flush the access log's suppressed count once a quiet second has passed.
    if (log_suppressed && now / 1000000000ull != log_window) {
        log::info("http: %llu requests not logged", static_cast<unsigned long long>(log_suppressed));
        log_suppressed = 0;
        log_window = now / 1000000000ull;
        log_in_window = 0;
    }
    loop::arm_in(tick_timer, kTickNs, tick, nullptr);
}

}  // namespace

bool start(const Options& o) {
    opts = o;
    conns = static_cast<Conn**>(calloc(opts.max_connections, sizeof(Conn*)));
    if (!conns) {
        log::error("http: no memory for %u connection slots", opts.max_connections);
        return false;
    }
    Error e = Error::None;
    if (opts.inet) {
        listener = net::Listener::open(net::Address::any(opts.port), kBacklog, accepted, nullptr, &e);
        if (!listener) {
            log::error("http: cannot listen on TCP port %u: %s", opts.port, net::error_text(e));
            return false;
        }
    }
    if (opts.vsock_port && net::vsock_available()) {
        vsock_listener = net::Listener::open(net::Address::vsock(net::kVsockCidAny, opts.vsock_port), kBacklog,
                                             accepted, nullptr, &e);
        if (!vsock_listener)
            log::error("http: cannot listen on vsock port %u: %s", opts.vsock_port, net::error_text(e));
    }
    if (!listener && !vsock_listener) return false;
    loop::arm_in(tick_timer, kTickNs, tick, nullptr);
    return true;
}

bool start_https() {
    const bool on_vsock = opts.vsock_https_port && vsock_listener;
    if ((opts.https_port == 0 || !opts.inet) && !on_vsock) return false;
    if (!tls::init()) {
        log::error("https: off (no key or certificate); plain HTTP goes on");
        return false;
    }
    Error e = Error::None;
    if (opts.inet && opts.https_port) {
        tls_listener = net::Listener::open(net::Address::any(opts.https_port), kBacklog, accepted_tls, nullptr, &e);
        if (!tls_listener) log::error("https: cannot listen on TCP port %u: %s", opts.https_port, net::error_text(e));
    }
    if (on_vsock) {
        vsock_tls_listener = net::Listener::open(net::Address::vsock(net::kVsockCidAny, opts.vsock_https_port),
                                                 kBacklog, accepted_tls, nullptr, &e);
        if (!vsock_tls_listener) {
            log::error("https: cannot listen on vsock port %u: %s", opts.vsock_https_port, net::error_text(e));
        }
    }
    return tls_listener || vsock_tls_listener;
}

void print_vsock() {
    if (!vsock_listener) return;
    const unsigned long long cid = net::vsock_local_cid();
    log::info("http: ready on vsock CID %llu port %u: `skerry-vsock --uds <uds_path> --port %u --listen "
              "127.0.0.1:8080` (Firecracker) or `--cid %llu` (vhost-vsock), then `curl http://127.0.0.1:8080/`",
              cid, opts.vsock_port, opts.vsock_port, cid);
    if (vsock_tls_listener) log::info("https: ready on vsock CID %llu port %u", cid, opts.vsock_https_port);
}

Totals totals() { return totals_; }
const Options& options() { return opts; }

void print_how_to_reach() {
    net::Address a;
    if (!net::primary_address(&a)) {
        log::info("http: listening on port %u, but no address yet", opts.port);
        return;
    }
    char host[net::kAddressTextMax];
    a.format(host, sizeof host, false);
    const unsigned p = opts.port;
    char url[net::kAddressTextMax + 16];
    if (a.family == net::Family::Ipv6) {
        snprintf(url, sizeof url, "[%s]", host);
    } else {
        snprintf(url, sizeof url, "%s", host);
    }
    if (p == 80) {
        log::info("http: ready on %s port %u: try `curl http://%s/`", host, p, url);
    } else {
        log::info("http: ready on %s port %u: try `curl http://%s:%u/`", host, p, url, p);
    }
    if (tls_listener) {
        const unsigned q = opts.https_port;
        if (q == 443) {
            log::info("https: ready on %s port %u: try `curl -k https://%s/`", host, q, url);
        } else {
            log::info("https: ready on %s port %u: try `curl -k https://%s:%u/`", host, q, url, q);
        }
    }
}

}  // namespace http
