// The vsock stream protocol engine against a scripted peer (the host side, written from docs/protocols/virtio-vsock.md:
// the virtio specification's socket device section and Linux's virtio_transport_common.c behaviour): header layout,
// passive and active open, RST rules, credit accounting both ways, close handshakes, a device without room, transport
// reset, and garbage.
#include <gtest/gtest.h>

#include <string.h>

#include <deque>
#include <random>
#include <vector>

#include "kernel/event_loop.hpp"
#include "net/vsock/engine.hpp"

using namespace skerry;
using namespace skerry::net::vsock;

namespace {

constexpr uint64_t kGuest = 3;

struct Sent {
    Header h;
    std::vector<uint8_t> data;
};

class FakeDevice final : public Device {
public:
    uint64_t local_cid() const override { return kGuest; }
    bool send(const Header& h, const uint8_t* payload, uint32_t len) override {
        if (room == 0) return false;
        if (room > 0) --room;
        sent.push_back({h, std::vector<uint8_t>(payload, payload + len)});
        return true;
    }
    std::deque<Sent> sent;
    long room = -1;  // packets it still takes (-1: unlimited)

    Sent pop() {
        EXPECT_FALSE(sent.empty());
        Sent s = sent.front();
        sent.pop_front();
        return s;
    }
};

Header from_host(Op op, uint32_t host_port, uint32_t guest_port, uint32_t len = 0, uint32_t flags = 0,
                 uint32_t buf_alloc = 256 * 1024, uint32_t fwd_cnt = 0) {
    Header h{};
    h.src_cid = kCidHost;
    h.dst_cid = kGuest;
    h.src_port = host_port;
    h.dst_port = guest_port;
    h.len = len;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(op);
    h.flags = flags;
    h.buf_alloc = buf_alloc;
    h.fwd_cnt = fwd_cnt;
    return h;
}

struct App {
    std::vector<Conn*> accepted;
    std::vector<uint8_t> got;
    bool read_all = true;
    int readable = 0, writable = 0, connected = 0, closed = 0;
    net::Error why = net::Error::None;
};

void on_readable(Conn& c, void* ctx) {
    auto* a = static_cast<App*>(ctx);
    ++a->readable;
    if (!a->read_all) return;
    uint8_t buf[4096];
    size_t n;
    while ((n = c.read(buf, sizeof buf)) > 0) a->got.insert(a->got.end(), buf, buf + n);
}
void on_writable(Conn&, void* ctx) { ++static_cast<App*>(ctx)->writable; }
void on_connected(Conn&, void* ctx) { ++static_cast<App*>(ctx)->connected; }
void on_closed(Conn&, net::Error why, void* ctx) {
    auto* a = static_cast<App*>(ctx);
    ++a->closed;
    a->why = why;
}
const ConnHandlers kHandlers{on_connected, on_readable, on_writable, on_closed};

void on_accept(Engine&, Conn& c, void* ctx) {
    auto* a = static_cast<App*>(ctx);
    a->accepted.push_back(&c);
    c.set_handlers(kHandlers, ctx);
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 31 + seed);
    return v;
}

class VsockEngineTest : public ::testing::Test {
protected:
    FakeDevice dev;
    Engine eng{dev};
    App app;

    // The host opens a connection to guest port 7 from host port `hp`.
    Conn* open_from_host(uint32_t hp = 1000, uint32_t buf_alloc = 256 * 1024) {
        EXPECT_TRUE(eng.listen(7, on_accept, &app) || true);
        eng.receive(from_host(Op::Request, hp, 7, 0, 0, buf_alloc), nullptr, 0);
        const Sent r = dev.pop();
        EXPECT_EQ(r.h.op, static_cast<uint16_t>(Op::Response));
        EXPECT_EQ(r.h.src_cid, kGuest);
        EXPECT_EQ(r.h.dst_cid, kCidHost);
        EXPECT_EQ(r.h.src_port, 7u);
        EXPECT_EQ(r.h.dst_port, hp);
        EXPECT_EQ(r.h.buf_alloc, Engine::kBufAlloc);
        return app.accepted.empty() ? nullptr : app.accepted.back();
    }
    void rw(uint32_t hp, const std::vector<uint8_t>& d, uint32_t fwd_cnt = 0, uint32_t buf_alloc = 256 * 1024) {
        eng.receive(from_host(Op::Rw, hp, 7, static_cast<uint32_t>(d.size()), 0, buf_alloc, fwd_cnt), d.data(),
                    static_cast<uint32_t>(d.size()));
    }
};

TEST(VsockHeader, LayoutAndRoundTrip) {
    Header h{};
    h.src_cid = 0x1122334455667788ull;
    h.dst_cid = 2;
    h.src_port = 0xA1A2A3A4;
    h.dst_port = 7;
    h.len = 0x100;
    h.type = 1;
    h.op = 5;
    h.flags = 3;
    h.buf_alloc = 0x40000;
    h.fwd_cnt = 0xDEADBEEF;
    uint8_t b[kHeaderSize];
    encode(h, b);
    EXPECT_EQ(b[0], 0x88);   // little endian, src_cid at 0
    EXPECT_EQ(b[8], 2);      // dst_cid at 8
    EXPECT_EQ(b[16], 0xA4);  // src_port at 16
    EXPECT_EQ(b[20], 7);     // dst_port at 20
    EXPECT_EQ(b[25], 1);     // len at 24
    EXPECT_EQ(b[28], 1);     // type at 28
    EXPECT_EQ(b[30], 5);     // op at 30
    EXPECT_EQ(b[32], 3);     // flags at 32
    EXPECT_EQ(b[38], 4);     // buf_alloc at 36
    EXPECT_EQ(b[40], 0xEF);  // fwd_cnt at 40
    const Header d = decode(b);
    EXPECT_EQ(d.src_cid, h.src_cid);
    EXPECT_EQ(d.dst_cid, h.dst_cid);
    EXPECT_EQ(d.src_port, h.src_port);
    EXPECT_EQ(d.dst_port, h.dst_port);
    EXPECT_EQ(d.len, h.len);
    EXPECT_EQ(d.type, h.type);
    EXPECT_EQ(d.op, h.op);
    EXPECT_EQ(d.flags, h.flags);
    EXPECT_EQ(d.buf_alloc, h.buf_alloc);
    EXPECT_EQ(d.fwd_cnt, h.fwd_cnt);
}

TEST_F(VsockEngineTest, HostConnectsAndSendsDataToAListener) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    EXPECT_FALSE(eng.listen(7, on_accept, &app));  // taken
    Conn* c = open_from_host();
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->state(), Conn::State::Open);
    const auto d = pattern(3000, 1);
    rw(1000, d);
    EXPECT_EQ(app.got, d);
    EXPECT_TRUE(dev.sent.empty());  // 3000 bytes read: below a quarter of the buffer, no credit update yet
    for (int i = 0; i < 6; ++i) rw(1000, pattern(3000, 2 + i));
    ASSERT_EQ(dev.sent.size(), 1u);  // once past a quarter (16 KiB) consumed, the peer hears, once
    const Sent u = dev.pop();
    EXPECT_EQ(u.h.op, static_cast<uint16_t>(Op::CreditUpdate));
    EXPECT_EQ(u.h.fwd_cnt, 18000u);
    EXPECT_EQ(u.h.buf_alloc, Engine::kBufAlloc);
}

TEST_F(VsockEngineTest, RstRules) {
    eng.receive(from_host(Op::Request, 1000, 99), nullptr, 0);  // nobody listens on 99
    Sent r = dev.pop();
    EXPECT_EQ(r.h.op, static_cast<uint16_t>(Op::Rst));
    EXPECT_EQ(r.h.dst_port, 1000u);
    EXPECT_EQ(r.h.src_port, 99u);
    eng.receive(from_host(Op::Rst, 1000, 99), nullptr, 0);  // never answer an RST with an RST
    EXPECT_TRUE(dev.sent.empty());
    eng.receive(from_host(Op::Rw, 1000, 99, 0), nullptr, 0);  // data for no connection
    EXPECT_EQ(dev.pop().h.op, static_cast<uint16_t>(Op::Rst));
    EXPECT_EQ(eng.counters().rx_no_connection, 3u);

    Header wrong = from_host(Op::Request, 1000, 7);
    wrong.dst_cid = 77;  // not us
    eng.receive(wrong, nullptr, 0);
    Header op9 = from_host(Op::Request, 1000, 7);
    op9.op = 9;
    eng.receive(op9, nullptr, 0);
    Header lie = from_host(Op::Rw, 1000, 7, 100);
    uint8_t few[10] = {};
    eng.receive(lie, few, 10);  // header says 100, 10 came
    EXPECT_TRUE(dev.sent.empty());
    EXPECT_EQ(eng.counters().rx_bad, 3u);
    Header seq = from_host(Op::Request, 1000, 7);
    seq.type = kTypeSeqpacket;
    eng.receive(seq, nullptr, 0);
    EXPECT_EQ(dev.pop().h.op, static_cast<uint16_t>(Op::Rst));
}

TEST_F(VsockEngineTest, GuestConnectsToTheHost) {
    net::Error err;
    Conn* c = eng.connect(kCidHost, 5201, kHandlers, &app, &err);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(err, net::Error::None);
    const Sent req = dev.pop();
    EXPECT_EQ(req.h.op, static_cast<uint16_t>(Op::Request));
    EXPECT_EQ(req.h.dst_port, 5201u);
    EXPECT_GE(req.h.src_port, 49152u);
    EXPECT_EQ(c->state(), Conn::State::Connecting);
    EXPECT_EQ(c->write(pattern(10, 0).data(), 10), 0u);  // not open yet
    Header resp = from_host(Op::Response, 5201, req.h.src_port, 0, 0, 4096);
    eng.receive(resp, nullptr, 0);
    EXPECT_EQ(app.connected, 1);
    EXPECT_EQ(c->state(), Conn::State::Open);
    const auto d = pattern(10000, 3);
    EXPECT_EQ(c->write(d.data(), d.size()), d.size());
    // Only the peer's 4096 bytes of credit went out; then it asks for more.
    ASSERT_EQ(dev.sent.size(), 2u);
    EXPECT_EQ(dev.sent[0].h.op, static_cast<uint16_t>(Op::Rw));
    EXPECT_EQ(dev.sent[0].data.size(), 4096u);
    EXPECT_EQ(dev.sent[1].h.op, static_cast<uint16_t>(Op::CreditRequest));
    dev.sent.clear();
    eng.receive(from_host(Op::CreditUpdate, 5201, req.h.src_port, 0, 0, 4096, 4096), nullptr, 0);
    ASSERT_GE(dev.sent.size(), 1u);
    EXPECT_EQ(dev.sent[0].data.size(), 4096u);
    EXPECT_TRUE(std::equal(dev.sent[0].data.begin(), dev.sent[0].data.end(), d.begin() + 4096));
    // Invalid targets.
    EXPECT_EQ(eng.connect(kGuest, 1, kHandlers, &app, &err), nullptr);
    EXPECT_EQ(err, net::Error::Invalid);
    EXPECT_EQ(eng.connect(kCidHypervisor, 1, kHandlers, &app, &err), nullptr);
}

TEST_F(VsockEngineTest, ConnectRefused) {
    Conn* c = eng.connect(kCidHost, 9, kHandlers, &app);
    ASSERT_NE(c, nullptr);
    const Sent req = dev.pop();
    eng.receive(from_host(Op::Rst, 9, req.h.src_port), nullptr, 0);
    EXPECT_EQ(app.closed, 1);
    EXPECT_EQ(app.why, net::Error::Refused);
    EXPECT_EQ(eng.connections(), 0u);
}

TEST_F(VsockEngineTest, PeerSendingBeyondItsCreditIsReset) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    app.read_all = false;  // the application does not read: the buffer fills
    ASSERT_NE(open_from_host(), nullptr);
    for (int i = 0; i < 16; ++i) rw(1000, pattern(4096, static_cast<uint32_t>(i)));  // exactly 64 KiB: allowed
    EXPECT_EQ(app.closed, 0);
    rw(1000, pattern(1, 99));  // one byte more than the credit
    EXPECT_EQ(eng.counters().rx_credit_violations, 1u);
    EXPECT_EQ(dev.pop().h.op, static_cast<uint16_t>(Op::Rst));
    EXPECT_EQ(app.closed, 1);
    EXPECT_EQ(app.why, net::Error::Reset);
    EXPECT_EQ(eng.connections(), 0u);
}

TEST_F(VsockEngineTest, GuestClosesOrderly) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    Conn* c = open_from_host(1000, 1000);  // a peer with 1000 bytes of room
    ASSERT_NE(c, nullptr);
    const auto d = pattern(2500, 5);
    EXPECT_EQ(c->write(d.data(), d.size()), d.size());
    c->close();                      // data first, then SHUTDOWN
    ASSERT_EQ(dev.sent.size(), 2u);  // 1000 bytes, and a CREDIT_REQUEST
    dev.sent.clear();
    eng.receive(from_host(Op::CreditUpdate, 1000, 7, 0, 0, 1000, 1000), nullptr, 0);
    eng.receive(from_host(Op::CreditUpdate, 1000, 7, 0, 0, 1000, 2000), nullptr, 0);
    std::vector<uint8_t> all;
    bool shutdown = false;
    for (const Sent& s : dev.sent) {
        if (s.h.op == static_cast<uint16_t>(Op::Rw)) all.insert(all.end(), s.data.begin(), s.data.end());
        if (s.h.op == static_cast<uint16_t>(Op::Shutdown)) {
            shutdown = true;
            EXPECT_EQ(s.h.flags, kShutdownRcv | kShutdownSend);
        }
    }
    EXPECT_EQ(all, std::vector<uint8_t>(d.begin() + 1000, d.end()));
    EXPECT_TRUE(shutdown);
    EXPECT_EQ(eng.connections(), 1u);  // waiting for the peer's RST
    eng.receive(from_host(Op::Rst, 1000, 7), nullptr, 0);
    EXPECT_EQ(eng.connections(), 0u);
    EXPECT_EQ(app.closed, 0);  // released by close(): no callback
}

TEST_F(VsockEngineTest, PeerClosesAndTheRestIsStillReadable) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    app.read_all = false;
    Conn* c = open_from_host();
    rw(1000, pattern(100, 1));
    eng.receive(from_host(Op::Shutdown, 1000, 7, 0, kShutdownRcv | kShutdownSend), nullptr, 0);
    EXPECT_EQ(dev.pop().h.op, static_cast<uint16_t>(Op::Rst));  // completes the peer's close
    EXPECT_TRUE(c->peer_closed());
    EXPECT_EQ(c->write("x", 1), 0u);
    uint8_t buf[200];
    EXPECT_EQ(c->read(buf, sizeof buf), 100u);
    EXPECT_TRUE(c->at_eof());
    c->close();
    EXPECT_EQ(eng.connections(), 0u);
}

TEST_F(VsockEngineTest, ClosingWithUnreadDataResets) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    app.read_all = false;
    Conn* c = open_from_host();
    rw(1000, pattern(100, 1));
    c->close();
    EXPECT_EQ(dev.pop().h.op, static_cast<uint16_t>(Op::Rst));
    EXPECT_EQ(eng.connections(), 0u);
}

TEST_F(VsockEngineTest, DeviceWithoutRoomHoldsTheDataInOrder) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    Conn* c = open_from_host();
    eng.set_max_payload(4096 - 44);
    dev.room = 2;
    const auto d = pattern(20000, 7);
    EXPECT_EQ(c->write(d.data(), d.size()), d.size());
    EXPECT_EQ(dev.sent.size(), 2u);
    dev.room = -1;
    eng.device_ready();
    std::vector<uint8_t> all;
    for (const Sent& s : dev.sent) {
        ASSERT_EQ(s.h.op, static_cast<uint16_t>(Op::Rw));
        EXPECT_LE(s.data.size(), 4096u - 44);
        all.insert(all.end(), s.data.begin(), s.data.end());
    }
    EXPECT_EQ(all, d);
}

// A REQUEST that finds the transmit queue full is still accepted: its RESPONSE goes out first once the device has
// room, ahead of the data the application wrote meanwhile (a dropped RESPONSE is a refused connection 2 s later).
TEST_F(VsockEngineTest, RequestWhileTheDeviceIsFullIsAnsweredLater) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    dev.room = 0;
    eng.receive(from_host(Op::Request, 1000, 7), nullptr, 0);
    ASSERT_EQ(app.accepted.size(), 1u);
    Conn* c = app.accepted.back();
    EXPECT_EQ(c->state(), Conn::State::Open);
    EXPECT_TRUE(dev.sent.empty());
    const auto d = pattern(100, 3);
    EXPECT_EQ(c->write(d.data(), d.size()), d.size());
    EXPECT_TRUE(dev.sent.empty());
    dev.room = -1;
    eng.device_ready();
    ASSERT_EQ(dev.sent.size(), 2u);
    const Sent r = dev.pop();
    EXPECT_EQ(r.h.op, static_cast<uint16_t>(Op::Response));
    EXPECT_EQ(r.h.dst_port, 1000u);
    const Sent w = dev.pop();
    EXPECT_EQ(w.h.op, static_cast<uint16_t>(Op::Rw));
    EXPECT_EQ(w.data, d);
    EXPECT_EQ(eng.counters().connections_accepted, 1u);
    // Aborted before the device had room: an RST, never a late RESPONSE.
    dev.room = 0;
    eng.receive(from_host(Op::Request, 1001, 7), nullptr, 0);
    ASSERT_EQ(app.accepted.size(), 2u);
    app.accepted.back()->abort();
    dev.room = -1;
    eng.device_ready();
    ASSERT_EQ(dev.sent.size(), 1u);
    EXPECT_EQ(dev.pop().h.op, static_cast<uint16_t>(Op::Rst));
}

TEST_F(VsockEngineTest, SendBufferFullThenWritable) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    Conn* c = open_from_host(1000, 1000);
    const auto d = pattern(Engine::kSendBuffer + 5000, 1);
    const size_t n = c->write(d.data(), d.size());
    EXPECT_EQ(n, Engine::kSendBuffer);  // the send buffer's worth; 1000 of it went out at once
    EXPECT_EQ(app.writable, 0);         // never from inside write()
    eng.receive(from_host(Op::CreditUpdate, 1000, 7, 0, 0, 1000, 1000), nullptr, 0);
    EXPECT_EQ(app.writable, 1);
}

TEST_F(VsockEngineTest, TransportResetEndsConnectionsKeepsListeners) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    ASSERT_NE(open_from_host(1000), nullptr);
    ASSERT_NE(open_from_host(1001), nullptr);
    eng.transport_reset();
    EXPECT_EQ(app.closed, 2);
    EXPECT_EQ(app.why, net::Error::Reset);
    EXPECT_EQ(eng.connections(), 0u);
    EXPECT_NE(open_from_host(1002), nullptr);
}

TEST_F(VsockEngineTest, CloseFromInsideACallbackIsSafe) {
    struct Closer {
        static void readable(Conn& c, void*) { c.close(); }
    };
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    Conn* c = open_from_host();
    c->set_handlers(ConnHandlers{nullptr, Closer::readable, nullptr, nullptr}, nullptr);
    rw(1000, pattern(10, 0));  // unread data at close: a reset, from inside the engine's receive
    EXPECT_EQ(eng.connections(), 0u);
}

TEST_F(VsockEngineTest, GarbageNeverCrashes) {
    ASSERT_TRUE(eng.listen(7, on_accept, &app));
    std::mt19937 rng(3);
    std::vector<uint8_t> payload(70000, 0xAB);
    for (int i = 0; i < 20000; ++i) {
        Header h = from_host(static_cast<Op>(rng() % 9), 1000 + rng() % 4, rng() % 2 ? 7 : rng() % 10,
                             rng() % 3 ? 0 : rng() % 70000, rng() % 4, rng() % 100000, rng() % 100000);
        if (rng() % 10 == 0) h.type = static_cast<uint16_t>(rng() % 3);
        eng.receive(h, payload.data(), rng() % 4 ? h.len : rng() % 70000);
        if (rng() % 50 == 0) dev.sent.clear();
        if (rng() % 100 == 0 && !app.accepted.empty()) {
            app.accepted.clear();  // the application forgets its pointers; the engine keeps what it owns
        }
    }
    SUCCEED();
}

}  // namespace
