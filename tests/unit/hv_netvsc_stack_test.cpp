// The netvsc driver under the whole network stack: one forked child runs lwIP + our glue + the echo appliance
// over netvsc, whose host (the VMBus host simulator with its netvsp side) bridges frames to the SOCK_SEQPACKET
// wire; the other child is an ordinary FakeNic node (tests/unit/net_host.hpp). TCP echo of 1 MiB, a bulk
// download service, link down/up, a channel rescind, and a host sending malformed and oversized packets while
// traffic flows.
#include <errno.h>
#include <gtest/gtest.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <functional>
#include <vector>

#include "appliances/echo/echo.hpp"
#include "drivers/nic/netvsc/netvsc.hpp"
#include "drivers/nic/netvsc/nvsp.hpp"
#include "hv_fake.hpp"
#include "hv_host_sim.hpp"
#include "hv_netvsp_sim.hpp"
#include "kernel/dma.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/time.hpp"
#include "net/socket.hpp"
#include "net/stack.hpp"
#include "tests/unit/hv_netvsc_node.hpp"
#include "tests/unit/net_echo_client.hpp"
#include "tests/unit/net_host.hpp"

using namespace skerry;
using net_test::run_for;
using net_test::EchoClient;
using net_test::pattern;
using net_test::run_until;
using namespace netvsc_node;

namespace {

constexpr int kPairTimeoutMs = 30000;

void put32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Measurements go to stderr only when asked for (SKERRY_NET_TEST_LOG=1, as for the children's logs).
void report(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void report(const char* fmt, ...) {
    if (!getenv("SKERRY_NET_TEST_LOG") && !getenv("SKERRY_NETVSC_REPORT")) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

double now_s() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The peer's side of an echo run: 1 MiB (or `bytes`) through the netvsc node and back, byte-exact.
int echo_client(int fd, uint64_t bytes, uint64_t timeout_ms, const char* label) {
    peer_node(fd);
    EchoClient c;
    c.total = bytes;
    c.seed = 11;
    const double t0 = now_s();
    NT_CHECK(c.start(addr("10.0.0.2:7")));
    NT_CHECK(run_until([&] { return c.done || c.failed; }, timeout_ms));
    const double dt = now_s() - t0;
    NT_CHECK(!c.failed);
    NT_CHECK(!c.mismatch);
    NT_CHECK(c.received == bytes);
    report("[A] %s: %llu bytes echoed through netvsc in %.2f s (%.1f MiB/s each way)\n", label,
           static_cast<unsigned long long>(bytes), dt, static_cast<double>(bytes) / (1 << 20) / dt);
    run_for(200);
    return 0;
}

// The netvsc node's checks after the peer went away.
void check_hv_end(HvNode& n) {
    run_for(50);
    n.pump();
    NT_CHECK(n.host.violations.empty());
    NT_CHECK(n.sim->rx_outstanding() <= 1);  // at most the packet in flight when the wire closed
    const net::NetifGlue::Counters& g = glue_counters();
    NT_CHECK(g.rx_frames > 0 && g.tx_frames > 0);
    NT_CHECK(g.rx_refused == 0 && n.drv->stats().rx_no_client == 0);
}

}  // namespace

// 1 MiB through the echo appliance on netvsc and back.
TEST(NetvscStack, TcpEchoOneMebibyte) {
    constexpr uint64_t kBytes = 1 << 20;
    auto client = [](int fd) { return echo_client(fd, kBytes, 20000, "echo"); };
    auto server = [](int fd) {
        HvNode& n = hv_node(fd, "B", kCmdB);
        NT_CHECK(echo::start(7));
        NT_CHECK(run_until([&] { return n.wire_closed; }, 25000));
        const echo::Totals t = echo::totals();
        NT_CHECK(t.connections == 1 && t.tcp_bytes == kBytes && t.resets == 0);
        check_hv_end(n);
        const net::NicCounters c = n.drv->counters();
        const net::NetifGlue::Counters& g = glue_counters();
        NT_CHECK(c.rx_dropped_bad_frame == 0 && c.device_errors == 0 && c.tx_dropped_bad_frame == 0);
        NT_CHECK(n.sim->rx_completions + n.sim->rx_outstanding() == n.sim->rx_packets);
        const hvtest::HostSim::ChannelInfo& ch = n.host.channels().at(n.relid);
        report("[B] netvsc: %llu frames in (%llu transfer-page packets), %llu out, %llu tx back-pressure; "
               "%llu packets to the host, %llu signals\n",
               static_cast<unsigned long long>(g.rx_frames), static_cast<unsigned long long>(n.sim->rx_packets),
               static_cast<unsigned long long>(g.tx_frames), static_cast<unsigned long long>(c.tx_dropped_ring_full),
               static_cast<unsigned long long>(ch.to_host.stats().packets_read),
               static_cast<unsigned long long>(ch.guest_signals));
        return 0;
    };
    const auto r = net_test::run_pair(client, server, kPairTimeoutMs);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.a, 0);
    EXPECT_EQ(r.b, 0);
}

// The same without a send buffer: every frame goes GPA direct, straight out of lwIP's pbufs (zero copy).
TEST(NetvscStack, TcpEchoOneMebibyteGpaDirect) {
    constexpr uint64_t kBytes = 1 << 20;
    auto client = [](int fd) { return echo_client(fd, kBytes, 20000, "echo, GPA direct"); };
    auto server = [](int fd) {
        netvsc::Options o;
        o.use_send_buffer = false;
        HvNode& n = hv_node(fd, "B", kCmdB, o);
        NT_CHECK(net_test::log_contains("580 x 1806 B receive, GPA-direct sends"));
        NT_CHECK(echo::start(7));
        NT_CHECK(run_until([&] { return n.wire_closed; }, 25000));
        NT_CHECK(echo::totals().tcp_bytes == kBytes);
        check_hv_end(n);
        NT_CHECK(n.drv->counters().device_errors == 0 && n.drv->counters().tx_errors == 0);
        NT_CHECK(n.drv->send_section_count() == 0);
        return 0;
    };
    const auto r = net_test::run_pair(client, server, kPairTimeoutMs);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.a, 0);
    EXPECT_EQ(r.b, 0);
}

// A second TCP service on the netvsc node: a bulk download (GET <n> -> n bytes of a pattern, then close),
// four clients at once, mostly transmit through netvsc.
namespace {
struct Download {
    net::Stream* s = nullptr;
    uint64_t want = 0, sent = 0;
    char req[32] = {};
    size_t req_len = 0;
    void pump() {
        uint8_t buf[8192];
        while (s && want && sent < want) {
            const size_t n = want - sent < sizeof buf ? static_cast<size_t>(want - sent) : sizeof buf;
            for (size_t i = 0; i < n; ++i) buf[i] = pattern(sent + i, 3);
            const size_t w = s->write(buf, n);
            sent += w;
            if (w < n) return;
        }
        if (s && want && sent == want) {
            s->close();
            s = nullptr;
        }
    }
};
}  // namespace

TEST(NetvscStack, BulkDownloadServiceFourClients) {
    constexpr uint64_t kBytes = 1 << 20;
    constexpr int kClients = 4;
    auto client = [](int fd) {
        peer_node(fd);
        struct Getter {
            net::Stream* s = nullptr;
            uint64_t got = 0;
            bool bad = false, closed = false;
        } g[kClients];
        const double t0 = now_s();
        for (auto& x : g) {
            net::StreamHandlers h;
            h.connected = [](net::Stream& s, void*) {
                char r[32];
                const int n = snprintf(r, sizeof r, "GET %llu\n", static_cast<unsigned long long>(kBytes));
                NT_CHECK(s.write(r, static_cast<size_t>(n)) == static_cast<size_t>(n));
            };
            h.readable = [](net::Stream& s, void* c) {
                Getter* x = static_cast<Getter*>(c);
                uint8_t buf[8192];
                size_t n;
                while ((n = s.read(buf, sizeof buf)) > 0) {
                    for (size_t i = 0; i < n; ++i)
                        if (buf[i] != pattern(x->got + i, 3)) x->bad = true;
                    x->got += n;
                }
                if (s.at_eof() && x->s) {
                    x->closed = true;
                    s.close();
                    x->s = nullptr;
                }
            };
            h.closed = [](net::Stream&, net::Error, void* c) {
                static_cast<Getter*>(c)->closed = true;
                static_cast<Getter*>(c)->s = nullptr;
            };
            x.s = net::Stream::connect(addr("10.0.0.2:8080"), h, &x);
            NT_CHECK(x.s != nullptr);
        }
        NT_CHECK(run_until(
            [&] {
                for (auto& x : g)
                    if (!x.closed) return false;
                return true;
            },
            20000));
        const double dt = now_s() - t0;
        for (auto& x : g) {
            NT_CHECK(!x.bad);
            NT_CHECK(x.got == kBytes);
        }
        report("[A] download: %d x %llu bytes from netvsc in %.2f s (%.1f MiB/s)\n", kClients,
               static_cast<unsigned long long>(kBytes), dt, kClients * static_cast<double>(kBytes) / (1 << 20) / dt);
        run_for(200);
        return 0;
    };
    auto server = [](int fd) {
        HvNode& n = hv_node(fd, "B", kCmdB);
        static Download d[kClients];
        static int next = 0;
        net::Listener* l = net::Listener::open(
            net::Address::any(8080), 8,
            [](net::Listener&, net::Stream& s, void*) {
                NT_CHECK(next < kClients);
                Download* x = &d[next++];
                x->s = &s;
                net::StreamHandlers h;
                h.readable = [](net::Stream& s, void* c) {
                    Download* x = static_cast<Download*>(c);
                    char ch;
                    while (!x->want && s.read(&ch, 1) == 1) {
                        if (ch == '\n') {
                            x->req[x->req_len] = 0;
                            NT_CHECK(sscanf(x->req, "GET %llu", reinterpret_cast<unsigned long long*>(&x->want)) == 1);
                            x->pump();
                        } else if (x->req_len + 1 < sizeof x->req) {
                            x->req[x->req_len++] = ch;
                        }
                    }
                };
                h.writable = [](net::Stream&, void* c) { static_cast<Download*>(c)->pump(); };
                h.closed = [](net::Stream&, net::Error e, void* c) {
                    NT_CHECK(e == net::Error::None);
                    static_cast<Download*>(c)->s = nullptr;
                };
                s.set_handlers(h, x);
            },
            nullptr);
        NT_CHECK(l != nullptr);
        NT_CHECK(run_until([&] { return n.wire_closed; }, 25000));
        for (auto& x : d) NT_CHECK(x.sent == kBytes);
        check_hv_end(n);
        NT_CHECK(n.drv->counters().device_errors == 0);
        return 0;
    };
    const auto r = net_test::run_pair(client, server, kPairTimeoutMs);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.a, 0);
    EXPECT_EQ(r.b, 0);
}

// The host takes the link down for a while in the middle of the echo: the stack hears of it, frames are lost,
// TCP recovers once the link is back.
TEST(NetvscStack, LinkDownAndUpDuringTraffic) {
    constexpr uint64_t kBytes = 512 * 1024;
    auto client = [](int fd) { return echo_client(fd, kBytes, 25000, "echo across a link flap"); };
    auto server = [](int fd) {
        HvNode& n = hv_node(fd, "B", kCmdB);
        NT_CHECK(echo::start(7));
        static uint64_t down_at = 0;
        static int phase = 0;
        n.hook = [](HvNode& h) {
            if (phase == 0 && glue_counters().rx_bytes > 100000) {
                h.sim->set_link(false);
                down_at = time::now_ns();
                phase = 1;
            } else if (phase == 1 && time::now_ns() - down_at > 300000000ull) {
                h.sim->set_link(true);
                phase = 2;
            }
        };
        NT_CHECK(run_until([&] { return n.wire_closed; }, 28000));
        NT_CHECK(phase == 2);
        NT_CHECK(net_test::log_contains("net e0: link down"));
        NT_CHECK(net_test::log_contains("net e0: link up (10000 Mb/s)"));
        NT_CHECK(n.drv->counters().link_changes == 2);
        NT_CHECK(n.sim->dropped_link_down > 0);
        NT_CHECK(echo::totals().tcp_bytes == kBytes);
        check_hv_end(n);
        return 0;
    };
    const auto r = net_test::run_pair(client, server, kPairTimeoutMs);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.a, 0);
    EXPECT_EQ(r.b, 0);
}

// The host rescinds the NIC's channel in the middle of a transfer: the link goes down, the driver closes the
// channel, tears the GPADLs down and releases the relid; nothing crashes and the stack carries on without it.
TEST(NetvscStack, ChannelRescindDuringTraffic) {
    auto client = [](int fd) {
        peer_node(fd);
        EchoClient c;
        c.total = 4 << 20;
        c.seed = 5;
        NT_CHECK(c.start(addr("10.0.0.2:7")));
        NT_CHECK(run_until([&] { return net_test::nic().wire_closed() || c.failed; }, 20000));
        NT_CHECK(!c.done);
        NT_CHECK(!c.mismatch);
        NT_CHECK(c.received > 0);
        return 0;
    };
    auto server = [](int fd) {
        HvNode& n = hv_node(fd, "B", kCmdB);
        NT_CHECK(echo::start(7));
        static bool rescinded = false;
        n.hook = [](HvNode& h) {
            if (!rescinded && glue_counters().rx_bytes > 200000) {
                h.sim->rescind();
                rescinded = true;
            }
        };
        NT_CHECK(run_until([&] { return n.drv->stopped(); }, 15000));
        NT_CHECK(net_test::log_contains("the host rescinded the channel"));
        NT_CHECK(net_test::log_contains("net e0: link down"));
        NT_CHECK(!n.drv->link_up());
        run_for(300);  // the stack keeps running on a dead NIC: transmits are dropped, nothing hangs
        NT_CHECK(n.host.channels().count(n.relid) == 0);
        NT_CHECK(n.host.gpadls().empty());
        NT_CHECK(n.conn->find_relid(n.relid) == nullptr);
        NT_CHECK(n.drv->counters().tx_errors > 0 || glue_counters().tx_frames > 0);
        NT_CHECK(n.host.violations.empty());
        return 0;  // the wire closes with this process: the peer sees its NIC's wire go away
    };
    const auto r = net_test::run_pair(client, server, kPairTimeoutMs);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.a, 0);
    EXPECT_EQ(r.b, 0);
}

// While 1 MiB is echoed, the host keeps slipping in bad input: ranges outside the buffer, runts, oversized
// frames, lying RNDIS lengths, unknown page sets and completions, stray control answers. All are dropped and
// counted; the echo stays byte-exact.
TEST(NetvscStack, MalformedAndOversizedHostPacketsDuringTraffic) {
    constexpr uint64_t kBytes = 1 << 20;
    auto client = [](int fd) { return echo_client(fd, kBytes, 25000, "echo with a misbehaving host"); };
    auto server = [](int fd) {
        HvNode& n = hv_node(fd, "B", kCmdB);
        NT_CHECK(echo::start(7));
        static int kind = 0;
        static int injected = 0;
        n.hook = [](HvNode& h) {
            // While frames flow: one for every 25 frames received, 24 in all (1 MiB brings about 750).
            while (kind < 24 && static_cast<uint64_t>(kind) < glue_counters().rx_frames / 25) {
                hvtest::NetvspSim& s = *h.sim;
                std::vector<uint8_t> m(44 + 1700, 0);
                put32(&m[0], netvsc::kRndisPacketMsg);
                put32(&m[4], 44 + 1700);
                put32(&m[8], 36);
                put32(&m[12], 1700);  // oversized frame
                memcpy(&m[44], s.mac, 6);
                bool ok = true;
                switch (kind++ % 8) {
                case 0: ok = s.inject_rndis(m); break;
                case 1:
                    m.resize(54);
                    put32(&m[4], 54);
                    put32(&m[12], 10);  // runt
                    ok = s.inject_rndis(m);
                    break;
                case 2:
                    put32(&m[4], 0x40000000);  // length beyond the range and the buffer
                    m.resize(60);
                    ok = s.inject_rndis(m);
                    break;
                case 3:
                    m.resize(60);
                    put32(&m[4], 60);
                    put32(&m[12], 400);  // data beyond the message
                    ok = s.inject_rndis(m, 0, 60);
                    break;
                case 4: ok = s.send_xfer({{1500, 0xFFFFF000u}}, 0, netvsc::Driver::kRecvBufId); break;
                case 5: ok = s.send_xfer({{100, 0}}, 0, 0x1234); break;  // unknown page set
                case 6: {
                    uint8_t c[8];
                    put32(c, netvsc::kNvspSendRndisPktComplete);
                    put32(c + 4, 1);
                    ok = s.send_raw(vmbus::kPacketCompletion, 0, 0xABCDEF, nullptr, 0, c, 8);
                    break;
                }
                default: {
                    std::vector<uint8_t> q(24, 0);  // a QUERY_CMPLT nobody asked for
                    put32(&q[0], netvsc::kRndisQueryCmplt);
                    put32(&q[4], 24);
                    put32(&q[8], 999);
                    s.send_control(q);
                }
                }
                if (ok) injected++;
            }
        };
        NT_CHECK(run_until([&] { return n.wire_closed; }, 28000));
        NT_CHECK(echo::totals().tcp_bytes == kBytes);
        check_hv_end(n);
        const net::NicCounters c = n.drv->counters();
        NT_CHECK(kind == 24 && injected >= 20);  // every kind three times (a few may find no room)
        NT_CHECK(c.rx_dropped_bad_frame > 0);
        NT_CHECK(c.device_errors > 0);
        NT_CHECK(n.drv->stats().malformed == c.rx_dropped_bad_frame + c.device_errors);
        NT_CHECK(n.drv->state() == netvsc::BringUp::Ready);
        // Logged, but rate-limited: the first 16, then one in 1024.
        size_t lines = 0;
        for (size_t at = 0; (at = net_test::log_text().find("netvsc relid 1: dropped", at)) != std::string::npos; ++at)
            lines++;
        NT_CHECK(n.drv->stats().malformed > 16 && lines == 16);
        report("[B] misbehaving host: %d bad packets injected, %llu bad frames, %llu device errors\n", injected,
               static_cast<unsigned long long>(c.rx_dropped_bad_frame),
               static_cast<unsigned long long>(c.device_errors));
        return 0;
    };
    const auto r = net_test::run_pair(client, server, kPairTimeoutMs);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.a, 0);
    EXPECT_EQ(r.b, 0);
}
