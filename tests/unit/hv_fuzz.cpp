// libFuzzer target for everything the Hyper-V guest code parses from the host: VMBus channel messages fed to
// vmbus::Connection in whatever state earlier messages put it (and through a SynIC message slot with arbitrary
// header bytes), ring buffers with arbitrary indices, descriptors and control fields, and the NVSP/RNDIS parsers.
// No crash, no sanitizer report, no hang, and the invariants the drivers rely on hold for every input.
// Built and run by `make fuzz-hyperv` (tests/unit/hyperv.mk), seeded from tests/unit/hv_fuzz_seeds/ (made by
// tests/unit/hv_fuzz_seeds.py from the golden messages of the unit tests).
//
// Input: byte 0 picks the target (mod 3), the rest drives it.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>

#include "drivers/bus/vmbus/hv.hpp"
#include "drivers/bus/vmbus/ring.hpp"
#include "drivers/bus/vmbus/synic.hpp"
#include "drivers/bus/vmbus/vmbus.hpp"
#include "drivers/bus/vmbus/vmbus_msg.hpp"
#include "drivers/nic/netvsc/nvsp.hpp"
#include "hw/hw.hpp"

namespace {

using namespace skerry;

#define check(ok) check_at(ok, #ok, __LINE__)
void check_at(bool ok, const char* what, int line) {
    if (ok) return;
    fprintf(stderr, "hv_fuzz: invariant broken at line %d: %s\n", line, what);
    abort();
}

// Reads the fuzz input front to back; past the end everything reads as zero.
struct Input {
    const uint8_t* p;
    size_t n;
    size_t left() const { return n; }
    uint8_t u8() {
        if (n == 0) return 0;
        n--;
        return *p++;
    }
    uint32_t u32() { return u8() | (u8() << 8) | (u8() << 16) | (static_cast<uint32_t>(u8()) << 24); }
    size_t take(uint8_t* out, size_t want) {
        const size_t k = want < n ? want : n;
        memcpy(out, p, k);
        p += k;
        n -= k;
        return k;
    }
};

// The hypervisor as far as the SynIC needs it: MSRs remembered, memory identity-mapped, EOM counted.
struct FuzzModel : hw::Model {
    std::map<uint32_t, uint64_t> msrs;
    int eoms = 0;
    uint64_t rdmsr(uint32_t m) override { return msrs[m]; }
    void wrmsr(uint32_t m, uint64_t v) override {
        if (m == hv::kMsrEom) eoms++;
        msrs[m] = v;
    }
    void* phys_to_host(uint64_t phys, size_t) override { return reinterpret_cast<void*>(phys); }
};

// Hypercalls succeed, or fail as the input says.
struct FuzzPort : hv::HypercallPort {
    Input* in = nullptr;
    uint64_t call(uint64_t, uint64_t, uint64_t) override {
        const uint8_t b = in->u8();
        return b < 200 ? hv::kStatusSuccess : (b < 230 ? hv::kStatusInsufficientBuffers : b);
    }
};

alignas(4096) uint8_t sim_page[4096];
alignas(4096) uint8_t sief_page[4096];
alignas(4096) uint8_t post_page[4096];

bool known_version(uint32_t v) {
    for (uint32_t k : vmbus::kGuestVersions)
        if (k == v) return true;
    return v == 0;
}

void fuzz_connection(Input& in) {
    FuzzModel model;
    hw::set_model(&model);
    hv::Synic synic;
    check(synic.enable(reinterpret_cast<uint64_t>(sim_page), reinterpret_cast<uint64_t>(sief_page), hv::kVmbusSint,
                       0x50, false));
    FuzzPort port;
    port.in = &in;
    vmbus::Connection::Config cfg;
    cfg.port = &port;
    cfg.synic = &synic;
    cfg.post_buffer = reinterpret_cast<hv::PostMessageInput*>(post_page);
    cfg.post_buffer_phys = reinterpret_cast<uint64_t>(post_page);
    cfg.interrupt_page = 0x10000;
    cfg.monitor_page1 = 0x11000;
    cfg.monitor_page2 = 0x12000;
    vmbus::Connection conn(cfg);
    conn.start();
    uint64_t handled = 0, slots = 0;  // messages given to handle(); SIM slots consumed by poll()
    uint64_t pfns[64];
    for (size_t i = 0; i < 64; ++i) pfns[i] = 0x100 + i;
    for (int steps = 0; steps < 256 && in.left() > 0; ++steps) {
        const uint8_t op = in.u8();
        switch (op % 8) {
        case 0:
        case 1:
        case 2: {  // a channel message straight into handle()
            uint8_t msg[256];
            const size_t len = in.take(msg, in.u8());
            conn.handle(msg, len);
            handled++;
            break;
        }
        case 3: {  // the same through the SIM slot, header bytes (type, size, flags) included
            uint8_t* slot = sim_page + hv::kVmbusSint * hv::kMessageSlotSize;
            in.take(slot + 4, 12);
            const uint32_t type = (op & 0x80) ? in.u32() : hv::kMessageTypeVmbus;
            in.take(slot + 16, 240);
            memcpy(slot, &type, 4);
            const size_t n = conn.poll();
            check(n <= 1);
            slots += n;
            break;
        }
        case 4: conn.on_timeout(); break;
        case 5: {
            const uint32_t relid = in.u8();
            vmbus::GpadlRange r;
            r.pfn_count = in.u8() % 64;
            r.byte_offset = in.u8() * 16;
            r.byte_count = r.pfn_count * 4096 - r.byte_offset;
            r.pfns = pfns;
            conn.create_gpadl(relid, r);
            break;
        }
        case 6: {
            const uint32_t relid = in.u8();
            switch (in.u8() % 6) {
            case 0: conn.open_channel(relid, 0xE1E10 + in.u8() % 8, 1 + in.u8() % 8); break;
            case 1: conn.close_channel(relid); break;
            case 2: conn.teardown_gpadl(relid, 0xE1E10 + in.u8() % 8); break;
            case 3: conn.release_relid(relid); break;
            case 4: conn.unload(); break;
            default: conn.start(); break;
            }
            break;
        }
        default:
            slots += conn.poll();  // an empty slot
            break;
        }
        // What the rest of the kernel relies on, whatever the host sent.
        check(conn.offer_count() <= vmbus::Connection::kMaxOffers);
        check(known_version(conn.version()));
        for (size_t i = 0; i < conn.offer_count(); ++i) {
            const vmbus::ChannelOffer* o = conn.offer(i);
            check(o != nullptr && o->offer.child_relid >= 1 && o->offer.child_relid <= vmbus::kMaxRelid);
            check(conn.find_relid(o->offer.child_relid) == o);  // relids are unique
        }
        // Every drop is a message handled or a slot consumed (malformed slots never reach handle()).
        check(conn.stats().dropped <= conn.stats().messages + slots);
        if (conn.state() == vmbus::State::Ready || conn.state() == vmbus::State::RequestingOffers)
            check(conn.msg_conn_id() != 0 && (conn.msg_conn_id() & 0xFF000000u) == 0);
    }
    check(conn.stats().messages >= handled);
    synic.disable();
    hw::set_model(nullptr);
}

void fuzz_ring(Input& in) {
    // A ring of 2..4 pages whose control page and data the host wrote arbitrarily.
    const size_t pages = 2 + in.u8() % 3;
    alignas(4096) static uint8_t mem[4 * 4096];
    memset(mem, 0, sizeof mem);
    const uint32_t wi = in.u32(), ri = in.u32();
    memcpy(mem + vmbus::kRingOffWriteIndex, &wi, 4);
    memcpy(mem + vmbus::kRingOffReadIndex, &ri, 4);
    in.take(mem + 8, 8);  // interrupt mask, pending_send_sz
    in.take(mem + vmbus::kRingOffFeatureBits, 4);
    in.take(mem + 4096, (pages - 1) * 4096);
    vmbus::Ring r;
    const vmbus::RingStatus a = r.attach(mem, pages * 4096);
    if (a != vmbus::RingStatus::Ok) {
        check(a == vmbus::RingStatus::Corrupt || a == vmbus::RingStatus::NotAttached);
        return;
    }
    const uint32_t d = r.data_size();
    check(d == (pages - 1) * 4096);
    uint8_t buf[3 * 4096];
    bool was_corrupt = false;
    for (int i = 0; i < 64; ++i) {
        const uint8_t op = in.u8();
        vmbus::RingStatus s;
        size_t len = 0;
        bool sig = false;
        if (op % 4 == 0) {
            vmbus::PacketDescriptor desc;
            s = r.peek(desc);
            if (s == vmbus::RingStatus::Ok) check(desc.offset8 >= 2 && desc.len8 >= desc.offset8 && desc.len8 * 8u < d);
        } else if (op % 4 == 1) {
            s = r.skip(sig);
        } else if (op % 4 == 2) {
            const size_t cap = in.u8() * 16;
            s = r.read(buf, cap, len, sig);
            if (s == vmbus::RingStatus::Ok) check(len <= cap && len >= 16 && len % 8 == 0);
        } else {
            // The guest writing while the host moves the read index under it.
            const uint32_t host_read = in.u32();
            if (op & 0x80) memcpy(mem + vmbus::kRingOffReadIndex, &host_read, 4);
            uint8_t payload[512] = {};
            s = r.write_packet(vmbus::kPacketDataInband, 0, i, nullptr, 0, payload, in.u8() * 2, sig);
        }
        check(r.bytes_to_read() < d || r.corrupt());
        if (was_corrupt) check(s == vmbus::RingStatus::Corrupt);
        was_corrupt = r.corrupt();
        if (s == vmbus::RingStatus::Empty && op % 4 != 3 && in.left() == 0) break;
    }
}

void fuzz_nvsp(Input& in) {
    uint8_t m[4096];
    const size_t len = in.take(m, sizeof m);
    netvsc::InitComplete ic;
    netvsc::RecvBufComplete rb;
    netvsc::SendBufComplete sb;
    netvsc::RndisPacket rp;
    uint32_t status;
    netvsc::parse_init_complete(m, len, ic);
    if (netvsc::parse_recv_buf_complete(m, len, rb) == netvsc::Parse::Ok && rb.status == netvsc::kNvspStatusSuccess) {
        check(rb.num_sections == 1 && rb.offset == 0);
        check(static_cast<uint64_t>(rb.sub_alloc_size) * rb.num_sub_allocs <= rb.end_offset);
    }
    netvsc::parse_send_buf_complete(m, len, sb);
    netvsc::parse_rndis_packet(m, len, rp);
    netvsc::parse_rndis_packet_complete(m, len, status);
    for (size_t off = 0; off < len && off < 64; off += 8) {
        netvsc::RndisMessage r;
        if (netvsc::parse_rndis(m + off, len - off, r) == netvsc::Parse::Ok) {
            check(r.length <= len - off);
            if (r.info_len != 0) {
                check(r.info >= m + off && r.info + r.info_len <= m + off + r.length);
            }
        }
    }
    // The VMBus parsers directly too.
    uint32_t type, u;
    vmbus::Offer o;
    vmbus::VersionResponse v;
    vmbus::OpenResult orr;
    vmbus::GpadlCreated gc;
    if (vmbus::parse_header(m, len, type) == vmbus::ParseResult::Ok) check(len >= 8 && len <= 240);
    if (vmbus::parse_offer(m, len, o) == vmbus::ParseResult::Ok) check(o.child_relid >= 1 && o.child_relid <= 2047);
    vmbus::parse_version_response(m, len, v);
    vmbus::parse_open_result(m, len, orr);
    vmbus::parse_gpadl_created(m, len, gc);
    vmbus::parse_gpadl_torndown(m, len, u);
    vmbus::parse_rescind(m, len, u);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    Input in{data + 1, size - 1};
    switch (data[0] % 3) {
    case 0: fuzz_connection(in); break;
    case 1: fuzz_ring(in); break;
    default: fuzz_nvsp(in); break;
    }
    return 0;
}
