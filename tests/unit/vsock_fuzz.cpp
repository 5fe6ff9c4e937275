// libFuzzer over what a vsock device hands the guest: a stream of packets (44-byte header, then as many payload bytes
// as the input's length field says, clipped to what is left), transport resets, and between them what an application
// does (read, write, close, abort, connect). The engine must never crash, read outside a packet, grow without bound or
// call back into a freed connection (ASan and UBSan watch). Build and run: `make fuzz-vsock`.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "kernel/time.hpp"
#include "net/vsock/engine.hpp"

using namespace skerry;
using namespace skerry::net::vsock;

namespace skerry::time {
uint64_t now_ns() { return 0; }  // timers never fire during a run: only packets and calls drive the engine
}  // namespace skerry::time

namespace {

class Dev final : public Device {
public:
    uint64_t local_cid() const override { return 3; }
    bool send(const Header&, const uint8_t*, uint32_t len) override {
        if (len > Engine::kMaxPayload) __builtin_trap();  // never more than one packet's worth
        return room-- > 0;
    }
    int room = 1000000;
};

struct App {
    std::vector<Conn*> conns;
};

void on_closed(Conn& c, net::Error, void* ctx) {
    auto* a = static_cast<App*>(ctx);
    for (auto& p : a->conns)
        if (p == &c) p = nullptr;
}
void on_readable(Conn& c, void*) {
    uint8_t buf[512];
    (void)c.read(buf, sizeof buf);  // reads some, leaves the rest
}
const ConnHandlers kHandlers{nullptr, on_readable, nullptr, on_closed};

void on_accept(Engine&, Conn& c, void* ctx) {
    auto* a = static_cast<App*>(ctx);
    c.set_handlers(kHandlers, ctx);
    if (a->conns.size() < 64) a->conns.push_back(&c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Dev dev;
    App app;
    {
        Engine eng(dev);
        eng.listen(7, on_accept, &app);
        eng.listen(80, on_accept, &app);
        size_t i = 0;
        static uint8_t payload[70000];
        while (i < size) {
            const uint8_t kind = data[i++];
            if (kind < 200) {  // a packet
                if (size - i < kHeaderSize) break;
                Header h = decode(data + i);
                i += kHeaderSize;
                h.dst_cid = (kind & 1) ? 3 : h.dst_cid;  // mostly for us
                h.src_cid = (kind & 2) ? 2 : h.src_cid;  // mostly from the host
                if (kind & 4) h.type = kTypeStream;
                if (kind & 8) h.dst_port = (kind & 16) ? 7 : 80;
                if (kind & 32) h.op = static_cast<uint16_t>(h.op % 8);
                uint32_t n = h.len;
                if (n > size - i) n = static_cast<uint32_t>(size - i);
                if (n > sizeof payload) n = sizeof payload;
                memcpy(payload, data + i, n);
                i += n;
                if (kind & 64) h.len = n;  // usually consistent; sometimes the header lies
                eng.receive(h, payload, n);
            } else if (kind < 210) {
                eng.transport_reset();
            } else if (kind < 220) {
                dev.room = (kind & 1) ? 0 : 1000000;
                eng.device_ready();
            } else if (!app.conns.empty() && i < size) {
                Conn* c = app.conns[data[i++] % app.conns.size()];
                if (!c) continue;
                switch (kind % 5) {
                case 0: {
                    uint8_t buf[3000];
                    (void)c->read(buf, sizeof buf);
                    break;
                }
                case 1: (void)c->write(data, size < 5000 ? size : 5000); break;
                case 2: (void)c->shutdown_write(); break;
                case 3:
                    c->close();
                    for (auto& p : app.conns)
                        if (p == c) p = nullptr;
                    break;
                default:
                    c->abort();
                    for (auto& p : app.conns)
                        if (p == c) p = nullptr;
                    break;
                }
            } else if (kind == 255) {
                Conn* c = eng.connect(2, 1234, kHandlers, &app);
                if (c && app.conns.size() < 64) app.conns.push_back(c);
            }
        }
    }
    return 0;
}
