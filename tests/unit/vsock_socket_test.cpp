// The socket layer's vsock family: the unchanged echo appliance behind Listener::open(Address::vsock) on the vsock
// engine, driven by a scripted host that keeps to the credit rules (docs/protocols/virtio-vsock.md), and an outgoing
// Stream::connect to the host.
#include <gtest/gtest.h>

#include <string.h>

#include <deque>
#include <vector>

#include "appliances/echo/echo.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "net/log_stream.hpp"
#include "net/socket.hpp"
#include "net/vsock/engine.hpp"
#include "tests/unit/net_host.hpp"

using namespace skerry;
using namespace skerry::net::vsock;

namespace {

constexpr uint64_t kGuest = 42;

class HostSide final : public Device {
public:
    uint64_t local_cid() const override { return kGuest; }
    bool send(const Header& h, const uint8_t* payload, uint32_t len) override {
        out.push_back({h, std::vector<uint8_t>(payload, payload + len)});
        return true;
    }
    struct Packet {
        Header h;
        std::vector<uint8_t> data;
    };
    std::deque<Packet> out;  // what the guest sent
};

HostSide& host() {
    static HostSide h;
    return h;
}
Engine& engine() {
    static Engine e(host());
    static bool added = net::add_vsock(e);
    (void)added;
    return e;
}

Header to_guest(Op op, uint32_t hport, uint32_t gport, uint32_t len, uint32_t fwd, uint32_t flags = 0) {
    Header h{};
    h.src_cid = kCidHost;
    h.dst_cid = kGuest;
    h.src_port = hport;
    h.dst_port = gport;
    h.len = len;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(op);
    h.flags = flags;
    h.buf_alloc = 256 * 1024;
    h.fwd_cnt = fwd;
    return h;
}

TEST(VsockSocket, EchoApplianceServesOverVsockByteExact) {
    Engine& e = engine();
    ASSERT_TRUE(net::vsock_available());
    EXPECT_EQ(net::vsock_local_cid(), kGuest);
    ASSERT_TRUE(echo::start_vsock(7));
    const uint64_t connections_before = echo::totals().connections;
    HostSide& h = host();
    h.out.clear();
    e.receive(to_guest(Op::Request, 1000, 7, 0, 0), nullptr, 0);
    ASSERT_FALSE(h.out.empty());
    ASSERT_EQ(h.out.front().h.op, static_cast<uint16_t>(Op::Response));
    uint32_t guest_buf = h.out.front().h.buf_alloc, guest_fwd = h.out.front().h.fwd_cnt;
    h.out.pop_front();
    EXPECT_EQ(echo::totals().connections, connections_before + 1);

    std::vector<uint8_t> data(300 * 1024);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 13 + i / 4096);
    std::vector<uint8_t> echoed;
    uint32_t sent = 0, received = 0;
    for (int rounds = 0; rounds < 100000 && echoed.size() < data.size(); ++rounds) {
        // Send as much as the guest's credit allows, in 4 KiB packets.
        const uint32_t credit = guest_buf - (sent - guest_fwd);
        uint32_t n = static_cast<uint32_t>(data.size()) - sent;
        if (n > 4096 - 44) n = 4096 - 44;
        if (n > credit) n = credit;
        if (n) {
            e.receive(to_guest(Op::Rw, 1000, 7, n, received), data.data() + sent, n);
            sent += n;
        }
        // Take what the guest sent: echoed data, credit updates.
        bool got = false;
        while (!h.out.empty()) {
            const auto p = h.out.front();
            h.out.pop_front();
            guest_buf = p.h.buf_alloc;
            guest_fwd = p.h.fwd_cnt;
            if (p.h.op == static_cast<uint16_t>(Op::Rw)) {
                echoed.insert(echoed.end(), p.data.begin(), p.data.end());
                received += static_cast<uint32_t>(p.data.size());
                got = true;
            }
        }
        // The host consumed what it received: tell the guest (its writes wait for this credit).
        if (got) e.receive(to_guest(Op::CreditUpdate, 1000, 7, 0, received), nullptr, 0);
        if (!n && !got) e.receive(to_guest(Op::CreditRequest, 1000, 7, 0, received), nullptr, 0);
    }
    ASSERT_EQ(echoed.size(), data.size());
    EXPECT_EQ(echoed, data);
    // The host closes; the echo appliance finishes and closes its side.
    e.receive(to_guest(Op::Shutdown, 1000, 7, 0, received, kShutdownRcv | kShutdownSend), nullptr, 0);
    bool rst = false;
    for (const auto& p : h.out) rst = rst || p.h.op == static_cast<uint16_t>(Op::Rst);
    EXPECT_TRUE(rst);
    for (int i = 0; i < 5; ++i) loop::run_once();  // the socket layer frees released streams from a timer
    EXPECT_EQ(e.connections(), 0u);
    EXPECT_EQ(echo::totals().open, 0u);
    EXPECT_EQ(echo::totals().resets, 0u);
}

TEST(VsockSocket, ConnectToTheHost) {
    Engine& e = engine();
    HostSide& h = host();
    h.out.clear();
    struct App {
        int connected = 0, closed = 0;
        net::Error why = net::Error::None;
        std::vector<uint8_t> got;
    } app;
    net::StreamHandlers handlers;
    handlers.connected = [](net::Stream& s, void* ctx) {
        ++static_cast<App*>(ctx)->connected;
        s.write("ping", 4);
    };
    handlers.readable = [](net::Stream& s, void* ctx) {
        uint8_t b[64];
        const size_t n = s.read(b, sizeof b);
        static_cast<App*>(ctx)->got.insert(static_cast<App*>(ctx)->got.end(), b, b + n);
    };
    handlers.closed = [](net::Stream&, net::Error why, void* ctx) {
        ++static_cast<App*>(ctx)->closed;
        static_cast<App*>(ctx)->why = why;
    };
    net::Error err;
    net::Stream* s = net::Stream::connect(net::Address::vsock(net::kVsockCidHost, 5201), handlers, &app, &err);
    ASSERT_NE(s, nullptr);
    ASSERT_EQ(h.out.size(), 1u);
    const Header req = h.out.front().h;
    h.out.clear();
    EXPECT_EQ(req.op, static_cast<uint16_t>(Op::Request));
    EXPECT_EQ(req.dst_cid, kCidHost);
    EXPECT_EQ(req.dst_port, 5201u);
    EXPECT_EQ(s->state(), net::Stream::State::Connecting);
    e.receive(to_guest(Op::Response, 5201, req.src_port, 0, 0), nullptr, 0);
    EXPECT_EQ(app.connected, 1);
    ASSERT_EQ(h.out.size(), 1u);
    EXPECT_EQ(h.out.front().data, std::vector<uint8_t>({'p', 'i', 'n', 'g'}));
    const uint8_t pong[4] = {'p', 'o', 'n', 'g'};
    e.receive(to_guest(Op::Rw, 5201, req.src_port, 4, 4), pong, 4);
    EXPECT_EQ(app.got, std::vector<uint8_t>(pong, pong + 4));
    char text[64];
    s->remote().format(text, sizeof text);
    EXPECT_STREQ(text, "vsock:2:5201");
    e.receive(to_guest(Op::Rst, 5201, req.src_port, 0, 4), nullptr, 0);
    EXPECT_EQ(app.closed, 1);
    EXPECT_EQ(app.why, net::Error::Reset);
    for (int i = 0; i < 5; ++i) loop::run_once();
    EXPECT_EQ(e.connections(), 0u);
}

TEST(VsockSocket, DatagramsAreInetOnlyAndOnlyOurCidListens) {
    (void)engine();
    net::Error err;
    EXPECT_EQ(net::Datagram::open(net::Address::vsock(net::kVsockCidAny, 7), nullptr, nullptr, &err), nullptr);
    EXPECT_EQ(err, net::Error::Unsupported);
    EXPECT_EQ(net::Listener::open(net::Address::vsock(77, 9), 4, nullptr, nullptr, &err), nullptr);
    EXPECT_EQ(err, net::Error::Invalid);  // another CID than ours
}

}  // namespace

// log.stream=vsock:2:5140: a refused first connect is retried; then the log so far and every new line reach the host.
TEST(VsockSocket, LogStreamToTheHost) {
    Engine& e = engine();
    HostSide& h = host();
    h.out.clear();
    net::log_stream::reset_for_test();
    log::info("a line from before the stream");
    ASSERT_TRUE(net::log_stream::start_from_option("vsock:2:5140"));
    ASSERT_FALSE(h.out.empty());
    Header req = h.out.back().h;
    EXPECT_EQ(req.op, static_cast<uint16_t>(Op::Request));
    EXPECT_EQ(req.dst_cid, kCidHost);
    EXPECT_EQ(req.dst_port, 5140u);
    h.out.clear();
    e.receive(to_guest(Op::Rst, 5140, req.src_port, 0, 0), nullptr, 0);  // nobody listens yet
    EXPECT_FALSE(net::log_stream::stats().connected);

    auto request_seen = [&] {
        for (const auto& p : h.out)
            if (p.h.op == static_cast<uint16_t>(Op::Request)) return true;
        return false;
    };
    ASSERT_TRUE(net_test::run_until(request_seen, 3000));  // the retry, about 1 s later
    for (const auto& p : h.out)
        if (p.h.op == static_cast<uint16_t>(Op::Request)) req = p.h;
    h.out.clear();
    e.receive(to_guest(Op::Response, 5140, req.src_port, 0, 0), nullptr, 0);
    EXPECT_TRUE(net::log_stream::stats().connected);
    EXPECT_EQ(net::log_stream::stats().attempts, 2u);

    std::string got;
    auto collect = [&] {
        for (const auto& p : h.out)
            if (p.h.op == static_cast<uint16_t>(Op::Rw)) got.append(p.data.begin(), p.data.end());
        h.out.clear();
    };
    auto has = [&](const char* text) {
        return net_test::run_until(
            [&] {
                collect();
                return got.find(text) != std::string::npos;
            },
            2000);
    };
    EXPECT_TRUE(has("a line from before the stream"));  // the ring, replayed
    EXPECT_TRUE(has("log: streaming the console log to vsock:2:5140"));
    log::info("a line written while streaming");
    EXPECT_TRUE(has("a line written while streaming"));
    const uint8_t junk[3] = {1, 2, 3};
    e.receive(to_guest(Op::Rw, 5140, req.src_port, 3, 0), junk, 3);  // read and ignored
    EXPECT_TRUE(net::log_stream::stats().connected);
    EXPECT_GT(net::log_stream::stats().bytes_sent, 0u);
    e.receive(to_guest(Op::Rst, 5140, req.src_port, 0, 0), nullptr, 0);
    EXPECT_FALSE(net::log_stream::stats().connected);
    net::log_stream::reset_for_test();
    for (int i = 0; i < 5; ++i) loop::run_once();
    EXPECT_EQ(e.connections(), 0u);

    EXPECT_FALSE(net::log_stream::start_from_option("vsock:2"));  // no port
    EXPECT_FALSE(net::log_stream::start_from_option("nonsense"));
    EXPECT_TRUE(net::log_stream::start_from_option(""));  // not configured
    EXPECT_EQ(net::log_stream::stats().attempts, 0u);
}
