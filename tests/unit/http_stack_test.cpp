// The http appliance's server code (appliances/http/server.cpp, status.cpp, tls.cpp, request.cpp, files.cpp
// with the generated file table) under the whole stack, on the host: one forked child runs it over lwIP and
// our glue on the netvsc driver, whose host is the VMBus host simulator with its netvsp side
// (tests/unit/hv_netvsc_node.hpp); the other child is an ordinary FakeNic node with an HTTP client written on
// the socket layer (src/net/socket.hpp), and, for HTTPS, mbedTLS's TLS 1.2 client (the host build of the same
// library and configuration, libmbed*-host.a). Plus GET / between two FakeNic nodes, so the server is covered
// independently of netvsc. The children's logs: SKERRY_NET_TEST_LOG=1 (tests/unit/net_host.hpp).
#include <gtest/gtest.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <string>
#include <vector>

#include "appliances/http/files.hpp"
#include "appliances/http/server.hpp"
#include "cJSON.h"
#include "kernel/cpu_info.hpp"
#include "kernel/kernel.hpp"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/oid.h"
#include "mbedtls/sha256.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"
#include "net/socket.hpp"
#include "net/stack.hpp"
#include "tests/unit/hv_netvsc_node.hpp"
#include "tests/unit/net_host.hpp"
#include "tests/unit/status_host.hpp"

using namespace skerry;
using namespace netvsc_node;
using net_test::run_for;
using net_test::run_until;

namespace {

constexpr int kPairTimeoutMs = 20000;
constexpr uint64_t kClientTimeoutMs = 8000;
constexpr uint64_t kServerTimeoutMs = 15000;

struct Response {
    int status = 0;
    std::string headers;  // the header block, lower-cased, without the status line
    std::string body;
    bool has(const char* header_line) const { return headers.find(header_line) != std::string::npos; }
};

// ---- the peer's TLS client (mbedTLS), one per process
struct TlsClient {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    bool ready = false;

    void init() {
        if (ready) return;
        mbedtls_entropy_init(&entropy);
        mbedtls_ctr_drbg_init(&drbg);
        mbedtls_ssl_config_init(&conf);
        static const char kPers[] = "skerry-test-client";
        NT_CHECK(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                       reinterpret_cast<const unsigned char*>(kPers), sizeof kPers - 1) == 0);
        NT_CHECK(mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                             MBEDTLS_SSL_PRESET_DEFAULT) == 0);
        mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
        // The server's certificate is self-signed and made at its start: checked below (CN, fingerprint).
        mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
        ready = true;
    }
};
TlsClient tls_client;

// An HTTP/1.1 client on the socket layer: sends requests[i] once the answer to requests[i - 1] is complete
// (keep-alive, one connection), collects the responses, closes after the last one.
struct HttpClient {
    net::Stream* s = nullptr;
    std::vector<std::string> requests;
    size_t next = 0;     // next request to send
    size_t out_off = 0;  // bytes of requests[next - 1] written
    std::string in;
    std::vector<Response> responses;
    bool done = false, failed = false, peer_closed_early = false;
    net::Error error = net::Error::None;
    // HTTPS
    bool use_tls = false, handshaken = false;
    mbedtls_ssl_context ssl;
    std::string peer_cert_sha256;  // "AB:CD:..." of the certificate the server presented
    std::string ciphersuite, peer_cn;
    uint32_t verify_flags = 0;

    static int bio_send(void* ctx, const unsigned char* buf, size_t len) {
        net::Stream* st = static_cast<net::Stream*>(ctx);
        if (st->state() != net::Stream::State::Open) return MBEDTLS_ERR_SSL_CONN_EOF;
        const size_t w = st->write(buf, len);
        return w == 0 ? MBEDTLS_ERR_SSL_WANT_WRITE : static_cast<int>(w);
    }
    static int bio_recv(void* ctx, unsigned char* buf, size_t len) {
        net::Stream* st = static_cast<net::Stream*>(ctx);
        if (st->available() == 0) return st->peer_closed() ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
        return static_cast<int>(st->read(buf, len));
    }

    void start(const char* to) {
        net::StreamHandlers h;
        h.connected = [](net::Stream&, void* c) { static_cast<HttpClient*>(c)->pump(); };
        h.readable = [](net::Stream&, void* c) { static_cast<HttpClient*>(c)->pump(); };
        h.writable = [](net::Stream&, void* c) { static_cast<HttpClient*>(c)->pump(); };
        h.closed = [](net::Stream&, net::Error why, void* c) {
            HttpClient* x = static_cast<HttpClient*>(c);
            x->error = why;
            x->s = nullptr;
            if (!x->done) x->failed = true;
        };
        if (use_tls) {
            tls_client.init();
            mbedtls_ssl_init(&ssl);
            NT_CHECK(mbedtls_ssl_setup(&ssl, &tls_client.conf) == 0);
        }
        s = net::Stream::connect(addr(to), h, this);
        NT_CHECK(s != nullptr);
        if (use_tls) mbedtls_ssl_set_bio(&ssl, s, bio_send, bio_recv, nullptr);
    }

    long transport_write(const char* p, size_t n) {
        if (!use_tls) return static_cast<long>(s->write(p, n));
        const int rc = mbedtls_ssl_write(&ssl, reinterpret_cast<const unsigned char*>(p), n);
        if (rc > 0) return rc;
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
        return -1;
    }

    // Reads what there is into `in`; false on a transport error.
    bool transport_read() {
        char buf[4096];
        if (!use_tls) {
            size_t n;
            while ((n = s->read(buf, sizeof buf)) > 0) in.append(buf, n);
            return true;
        }
        for (;;) {
            const int rc = mbedtls_ssl_read(&ssl, reinterpret_cast<unsigned char*>(buf), sizeof buf);
            if (rc > 0) {
                in.append(buf, static_cast<size_t>(rc));
                continue;
            }
            return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
        }
    }

    void after_handshake() {
        handshaken = true;
        ciphersuite = mbedtls_ssl_get_ciphersuite(&ssl);
        verify_flags = mbedtls_ssl_get_verify_result(&ssl);
        const mbedtls_x509_crt* crt = mbedtls_ssl_get_peer_cert(&ssl);
        NT_CHECK(crt != nullptr);
        unsigned char fp[32];
        NT_CHECK(mbedtls_sha256_ret(crt->raw.p, crt->raw.len, fp, 0) == 0);
        char hex[32 * 3 + 1];
        for (int i = 0; i < 32; ++i) snprintf(hex + i * 3, 4, "%02X%s", fp[i], i == 31 ? "" : ":");
        peer_cert_sha256 = hex;
        for (const mbedtls_x509_name* n = &crt->subject; n; n = n->next) {
            if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
                peer_cn.assign(reinterpret_cast<const char*>(n->val.p), n->val.len);
        }
    }

    // A complete response at the front of `in`: moves it to `responses`.
    bool take_response() {
        const size_t end = in.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        std::string head = in.substr(0, end + 2);
        for (char& ch : head) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
        Response r;
        NT_CHECK(sscanf(head.c_str(), "http/1.1 %d", &r.status) == 1);
        const size_t cl = head.find("\r\ncontent-length:");
        NT_CHECK(cl != std::string::npos);
        const size_t len = strtoul(head.c_str() + cl + 17, nullptr, 10);
        if (in.size() < end + 4 + len) return false;
        r.headers = head.substr(head.find("\r\n") + 2);
        r.body = in.substr(end + 4, len);
        in.erase(0, end + 4 + len);
        responses.push_back(std::move(r));
        return true;
    }

    void finish() {
        done = true;
        if (use_tls) mbedtls_ssl_close_notify(&ssl);
        s->close();
        s = nullptr;
    }

    void pump() {
        if (!s || s->state() != net::Stream::State::Open) return;
        if (use_tls && !handshaken) {
            const int rc = mbedtls_ssl_handshake(&ssl);
            if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return;
            if (rc != 0) {
                char text[128];
                mbedtls_strerror(rc, text, sizeof text);
                fprintf(stderr, "[A] TLS handshake failed: %s\n", text);
                failed = true;
                return;
            }
            after_handshake();
        }
        for (;;) {
            // Start the next request once every earlier one has its answer.
            if (next == responses.size() && next < requests.size()) {
                ++next;
                out_off = 0;
            }
            if (out_off < requests[next - 1].size()) {
                const std::string& q = requests[next - 1];
                const long w = transport_write(q.data() + out_off, q.size() - out_off);
                if (w < 0) {
                    failed = true;
                    return;
                }
                out_off += static_cast<size_t>(w);
            }
            if (!transport_read()) {
                failed = true;
                return;
            }
            const size_t before = responses.size();
            while (take_response()) {
            }
            if (responses.size() == requests.size()) {
                finish();
                return;
            }
            if (responses.size() == before) break;  // wait for more
        }
        if (s->at_eof()) {  // the server closed before answering everything
            peer_closed_early = true;
            failed = true;
        }
    }
};

std::string get(const char* path, const char* extra = "") {
    return std::string("GET ") + path + " HTTP/1.1\r\nHost: 10.0.0.2\r\nUser-Agent: skerry-test\r\n" + extra + "\r\n";
}

// The peer's run: the requests on one connection to `to`; returns the responses (all of them, or a failed check).
std::vector<Response> fetch(const char* to, std::vector<std::string> requests, HttpClient* out = nullptr) {
    static HttpClient c;  // lives past the stream's last callback
    c.requests = std::move(requests);
    c.use_tls = out && out->use_tls;
    c.start(to);
    NT_CHECK(run_until([&] { return c.done || c.failed; }, kClientTimeoutMs));
    if (c.failed)
        fprintf(stderr, "[A] client failed: %s%s, %zu responses\n", net::error_text(c.error),
                c.peer_closed_early ? " (the server closed first)" : "", c.responses.size());
    NT_CHECK(!c.failed);
    NT_CHECK(!c.peer_closed_early);
    NT_CHECK(c.responses.size() == c.requests.size());
    if (out) {
        out->handshaken = c.handshaken;
        out->peer_cert_sha256 = c.peer_cert_sha256;
        out->ciphersuite = c.ciphersuite;
        out->peer_cn = c.peer_cn;
        out->verify_flags = c.verify_flags;
    }
    run_for(100);  // our FIN and the server's out before the wire goes
    return c.responses;
}

// The body the file table holds for `path`.
std::string table_body(const char* path) {
    const http::File* f = http::find_file(path);
    NT_CHECK(f != nullptr);
    std::string b;
    const unsigned char* p = nullptr;
    size_t n;
    while ((n = f->chunk(b.size(), 1 << 16, &p)) > 0) b.append(reinterpret_cast<const char*>(p), n);
    NT_CHECK(b.size() == f->size);
    return b;
}

void check_index(const Response& r) {
    NT_CHECK(r.status == 200);
    const std::string want = table_body("/");
    NT_CHECK(want.size() > 100);
    NT_CHECK(r.body == want);
    NT_CHECK(r.has("content-type: text/html"));
    NT_CHECK(r.has("server: skerry\r\n"));
    const http::File* f = http::find_file("/");
    std::string etag = std::string("etag: ") + f->etag + "\r\n";
    for (char& ch : etag) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    NT_CHECK(r.has(etag.c_str()));
}

const char* json_string(const cJSON* o, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    NT_CHECK(cJSON_IsString(v));
    return v->valuestring;
}

double json_number(const cJSON* o, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    NT_CHECK(cJSON_IsNumber(v));
    return v->valuedouble;
}

// /status as the netvsc node serves it: parses, and names the netvsc NIC with its address and traffic.
cJSON* check_status(const Response& r) {
    NT_CHECK(r.status == 200);
    NT_CHECK(r.has("content-type: application/json\r\n"));
    cJSON* j = cJSON_ParseWithLength(r.body.data(), r.body.size());
    NT_CHECK(j != nullptr);
    NT_CHECK(strcmp(json_string(j, "appliance"), SKERRY_HOST_APP_NAME) == 0);
    NT_CHECK(strcmp(json_string(j, "version"), SKERRY_HOST_VERSION) == 0);
    NT_CHECK(json_number(j, "uptime_s") >= 0 && json_number(j, "uptime_s") < 30);  // seconds, not ms or ns
    // This machine's CPU, as tests/unit/status_host.cpp reads it in either child.
    NT_CHECK(strcmp(json_string(j, "hypervisor"), cpu_info::hypervisor_name(kernel::cpu().hypervisor)) == 0);
    NT_CHECK(strcmp(json_string(j, "cpu"), kernel::cpu().brand) == 0);
    const cJSON* nics = cJSON_GetObjectItemCaseSensitive(j, "nics");
    NT_CHECK(cJSON_IsArray(nics) && cJSON_GetArraySize(nics) == 1);
    const cJSON* nic = cJSON_GetArrayItem(nics, 0);
    NT_CHECK(strcmp(json_string(nic, "name"), "e0") == 0);
    NT_CHECK(strcmp(json_string(nic, "driver"), "netvsc relid 1") == 0);
    NT_CHECK(strcmp(json_string(nic, "mac"), "00:15:5d:12:34:56") == 0);
    NT_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(nic, "link")));
    NT_CHECK(json_number(nic, "speed_mbps") == 10000);
    NT_CHECK(json_number(nic, "mtu") == 1500);
    const cJSON* addrs = cJSON_GetObjectItemCaseSensitive(nic, "addresses");
    NT_CHECK(cJSON_IsArray(addrs) && cJSON_GetArraySize(addrs) >= 1);
    NT_CHECK(strcmp(cJSON_GetArrayItem(addrs, 0)->valuestring, "10.0.0.2/24") == 0);
    const cJSON* ctr = cJSON_GetObjectItemCaseSensitive(nic, "counters");
    NT_CHECK(json_number(ctr, "rx_packets") >= 2 && json_number(ctr, "tx_packets") >= 1);  // SYN, request; SYN-ACK
    NT_CHECK(json_number(ctr, "rx_dropped") == 0);
    const cJSON* tcp = cJSON_GetObjectItemCaseSensitive(j, "tcp");
    NT_CHECK(json_number(tcp, "recv") >= 2);
    const cJSON* mem = cJSON_GetObjectItemCaseSensitive(j, "memory");
    NT_CHECK(json_number(mem, "heap_used") > 0 && json_number(mem, "heap_size") > json_number(mem, "heap_used"));
    NT_CHECK(json_number(mem, "dma_in_use") > 0);  // the netvsc driver's rings and buffers
    NT_CHECK(json_number(mem, "pages_total_bytes") > 0);
    const cJSON* h = cJSON_GetObjectItemCaseSensitive(j, "http");
    NT_CHECK(json_number(h, "open") >= 1);
    return j;
}

// ---- the server side
struct ServerExpect {
    uint64_t connections = 1;
    uint64_t requests = 1;
    uint64_t status2 = 0, status4 = 0;
    bool https = false;
};

void start_http(bool https) {
    http::Options o;
    o.port = 80;
    o.https_port = https ? 443 : 0;
    NT_CHECK(http::start(o));
    if (https) {
        NT_CHECK(http::start_https());
        NT_CHECK(net_test::log_contains("https: self-signed certificate (ECDSA P-256, CN=skerry) made"));
    }
}

void check_totals(const ServerExpect& e) {
    const http::Totals t = http::totals();
    if (t.connections != e.connections || t.requests != e.requests || t.status[2] != e.status2 ||
        t.status[4] != e.status4) {
        fprintf(stderr, "[B] http totals: %llu connections, %llu requests, %llu 2xx, %llu 4xx\n",
                static_cast<unsigned long long>(t.connections), static_cast<unsigned long long>(t.requests),
                static_cast<unsigned long long>(t.status[2]), static_cast<unsigned long long>(t.status[4]));
    }
    NT_CHECK(t.connections == e.connections);
    NT_CHECK(t.requests == e.requests);
    NT_CHECK(t.status[2] == e.status2 && t.status[4] == e.status4);
    NT_CHECK(t.status[3] == 0 && t.status[5] == 0 && t.rejected == 0 && t.timeouts == 0);
    NT_CHECK(t.bytes_sent > 0);
}

// The http appliance on the netvsc node until the peer is gone.
int netvsc_server(int fd, const ServerExpect& e) {
    HvNode& n = hv_node(fd, "B", kCmdB);
    start_http(e.https);
    NT_CHECK(run_until([&] { return n.wire_closed; }, kServerTimeoutMs));
    check_totals(e);
    run_for(50);
    n.pump();
    NT_CHECK(n.host.violations.empty());
    const net::NicCounters c = n.drv->counters();
    const net::NetifGlue::Counters& g = netvsc_node::glue_counters();
    NT_CHECK(g.rx_frames > 0 && g.tx_frames > 0);
    NT_CHECK(g.rx_refused == 0 && n.drv->stats().rx_no_client == 0);
    NT_CHECK(c.rx_dropped_bad_frame == 0 && c.device_errors == 0);
    return 0;
}

void run(const std::function<int(int)>& peer, const ServerExpect& e) {
    auto server = [&e](int fd) { return netvsc_server(fd, e); };
    const auto r = net_test::run_pair(peer, server, kPairTimeoutMs);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.a, 0) << "the peer (HTTP client) failed; SKERRY_NET_TEST_LOG=1 shows both logs";
    EXPECT_EQ(r.b, 0) << "the netvsc node (http appliance) failed";
}

}  // namespace

// GET / through netvsc: 200, and the body is the file table's index.
TEST(HttpNetvscStack, GetIndex) {
    ServerExpect e;
    e.status2 = 1;
    run(
        [](int fd) {
            peer_node(fd);
            const std::vector<Response> r = fetch("10.0.0.2:80", {get("/", "Connection: close\r\n")});
            check_index(r[0]);
            NT_CHECK(r[0].has("connection: close\r\n"));
            return 0;
        },
        e);
}

// GET /status through netvsc: 200, JSON that parses and describes the netvsc NIC.
TEST(HttpNetvscStack, GetStatusNamesTheNetvscNic) {
    ServerExpect e;
    e.status2 = 1;
    run(
        [](int fd) {
            peer_node(fd);
            const std::vector<Response> r = fetch("10.0.0.2:80", {get("/status")});
            cJSON* j = check_status(r[0]);
            const cJSON* h = cJSON_GetObjectItemCaseSensitive(j, "http");
            NT_CHECK(json_number(h, "connections") == 1 && json_number(h, "requests") == 1);
            NT_CHECK(json_number(h, "status_2xx") == 0);  // its own 200 is counted once the document is written
            const cJSON* https = cJSON_GetObjectItemCaseSensitive(j, "https");
            NT_CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(https, "on")));
            cJSON_Delete(j);
            return 0;
        },
        e);
}

// GET of a path the table does not have: 404 with its short text body, and the connection stays usable.
TEST(HttpNetvscStack, GetMissingIs404) {
    ServerExpect e;
    e.requests = 2;
    e.status2 = 1;
    e.status4 = 1;
    run(
        [](int fd) {
            peer_node(fd);
            const std::vector<Response> r = fetch("10.0.0.2:80", {get("/missing"), get("/")});
            NT_CHECK(r[0].status == 404);
            NT_CHECK(r[0].body == "404 Not Found\n");
            NT_CHECK(r[0].has("content-type: text/plain; charset=utf-8\r\n"));
            NT_CHECK(!r[0].has("connection: close"));
            check_index(r[1]);
            return 0;
        },
        e);
}

// Two requests one after the other on one kept-alive connection: the second (/status) reports one
// connection and two requests.
TEST(HttpNetvscStack, KeepAlivePairOnOneConnection) {
    ServerExpect e;
    e.requests = 2;
    e.status2 = 2;
    run(
        [](int fd) {
            peer_node(fd);
            const std::vector<Response> r = fetch("10.0.0.2:80", {get("/"), get("/status")});
            check_index(r[0]);
            NT_CHECK(!r[0].has("connection: close"));
            cJSON* j = check_status(r[1]);
            const cJSON* h = cJSON_GetObjectItemCaseSensitive(j, "http");
            NT_CHECK(json_number(h, "connections") == 1);
            NT_CHECK(json_number(h, "requests") == 2);
            NT_CHECK(json_number(h, "open") == 1);
            NT_CHECK(json_number(h, "status_2xx") == 1);  // the first response
            cJSON_Delete(j);
            return 0;
        },
        e);
}

// HTTPS through netvsc: mbedTLS's client against the appliance's TLS 1.2 server (a self-signed ECDSA
// certificate made at start), then GET /status inside the session, whose certificate fingerprint must be
// the one the handshake presented.
TEST(HttpNetvscStack, HttpsHandshakeAndGet) {
    ServerExpect e;
    e.status2 = 2;
    e.requests = 2;
    e.https = true;
    run(
        [](int fd) {
            peer_node(fd);
            HttpClient info;
            info.use_tls = true;
            const std::vector<Response> r = fetch("10.0.0.2:443", {get("/status"), get("/")}, &info);
            NT_CHECK(info.handshaken);
            NT_CHECK(info.ciphersuite == "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256");
            NT_CHECK(info.peer_cn == "skerry");
            NT_CHECK(info.verify_flags == MBEDTLS_X509_BADCERT_NOT_TRUSTED);  // self-signed; nothing else wrong
            cJSON* j = check_status(r[0]);
            const cJSON* https = cJSON_GetObjectItemCaseSensitive(j, "https");
            NT_CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(https, "on")));
            NT_CHECK(json_number(https, "port") == 443);
            NT_CHECK(info.peer_cert_sha256.size() == 95);
            NT_CHECK(info.peer_cert_sha256 == json_string(https, "certificate_sha256"));
            cJSON_Delete(j);
            check_index(r[1]);
            return 0;
        },
        e);
}

// The same GET / between two FakeNic nodes: the server code on the host independent of netvsc.
TEST(HttpStack, GetIndexOverFakeNic) {
    auto client = [](int fd) {
        peer_node(fd);
        const std::vector<Response> r = fetch("10.0.0.2:80", {get("/", "Connection: close\r\n")});
        check_index(r[0]);
        return 0;
    };
    auto server = [](int fd) {
        net_test::NodeConfig c;
        c.name = "B";
        c.cmdline = kCmdB;
        c.mac_last = 2;
        net_test::init_node(fd, c);
        NT_CHECK(net::start());
        start_http(false);
        NT_CHECK(run_until([] { return net_test::nic().wire_closed(); }, kServerTimeoutMs));
        ServerExpect e;
        e.status2 = 1;
        check_totals(e);
        NT_CHECK(net_test::log_contains("http: 10.0.0.1:"));
        NT_CHECK(net_test::log_contains("\"GET /\" 200 "));
        return 0;
    };
    const auto r = net_test::run_pair(client, server, kPairTimeoutMs);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.a, 0);
    EXPECT_EQ(r.b, 0);
}
