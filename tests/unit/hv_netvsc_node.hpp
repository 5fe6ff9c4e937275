// The netvsc node of the whole-stack tests (hv_netvsc_stack_test.cpp, http_stack_test.cpp), in a forked child
// (tests/unit/net_host.hpp): the hypervisor model, the VMBus host simulator with its netvsp side, the guest's
// VMBus connection and netvsc driver under lwIP and our glue, and a bridge between the host's NIC and the
// SOCK_SEQPACKET wire. peer_node() is the other child: an ordinary FakeNic node.
#pragma once

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include <functional>
#include <vector>

#include "drivers/nic/netvsc/netvsc.hpp"
#include "drivers/nic/netvsc/nvsp.hpp"
#include "hv_fake.hpp"
#include "hv_host_sim.hpp"
#include "hv_netvsp_sim.hpp"
#include "kernel/dma.hpp"
#include "kernel/event_loop.hpp"
#include "net/netif_glue.hpp"
#include "net/socket.hpp"
#include "net/stack.hpp"
#include "tests/unit/net_host.hpp"

namespace netvsc_node {

using namespace skerry;

inline constexpr const char* kCmdA = "ip=10.0.0.1/24 hostname=peer";
inline constexpr const char* kCmdB = "ip=10.0.0.2/24 hostname=hv";

inline net::Address addr(const char* text) {
    net::Address a;
    NT_CHECK(net::parse_address(text, &a));
    return a;
}

// The Hyper-V side of a child: hypervisor model, VMBus host, netvsp, the guest's connection and driver, and a
// bridge between the host's NIC and the wire.
struct HvNode {
    hvtest::HvModel model;
    hvtest::HostSim host{model};
    hv::Synic synic;
    dma::Region sim_page, sief_page, post_page, pages;
    vmbus::Connection* conn = nullptr;
    hvtest::NetvspSim* sim = nullptr;
    netvsc::Driver* drv = nullptr;
    uint32_t relid = 0;
    int fd = -1;
    bool wire_closed = false;
    uint64_t to_guest = 0, from_guest = 0;
    std::function<void(HvNode&)> hook;  // runs on every bridge pass (fault injection)
    size_t reported = 0;

    size_t pump() {
        size_t work = conn->poll();
        uint8_t buf[2048];
        // Wire -> host -> guest, while the host's queue is short (else the wire backs up, as a real host would).
        while (!wire_closed && sim->frames_queued() < 256) {
            const ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
            if (r == 0) wire_closed = true;
            if (r <= 0) break;
            sim->inject(buf, static_cast<size_t>(r));
            to_guest++;
            work++;
        }
        if (hook) hook(*this);
        work += sim->pump();
        // Guest -> host -> wire.
        while (!sim->tx_frames.empty() && !wire_closed) {
            const std::vector<uint8_t>& f = sim->tx_frames.front();
            const ssize_t r = send(fd, f.data(), f.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) break;
            if (r < 0) wire_closed = true;
            sim->tx_frames.pop_front();
            from_guest++;
            work++;
        }
        if (host.violations.size() > reported) {
            for (; reported < host.violations.size(); ++reported)
                fprintf(stderr, "[hv] host simulator: %s\n", host.violations[reported].c_str());
            NT_CHECK(host.violations.empty());
        }
        return work;
    }
    static bool poller(void* self) { return static_cast<HvNode*>(self)->pump() != 0; }
};

inline HvNode& hv_node(int fd, const char* name, const char* cmdline, const netvsc::Options& opt = netvsc::Options{}) {
    HvNode* n = new HvNode;
    n->fd = fd;
    hw::set_model(&n->model);
    NT_CHECK(dma::alloc(4096, n->sim_page) && dma::alloc(4096, n->sief_page) && dma::alloc(4096, n->post_page) &&
             dma::alloc(3 * 4096, n->pages));
    NT_CHECK(n->synic.enable(n->sim_page.phys, n->sief_page.phys, hv::kVmbusSint, 0x40, true));
    n->host.devices = {{vmbus::kNetvscClass, vmbus::make_guid(5, 6, 7, 8), 0}};
    vmbus::Connection::Config cfg;
    cfg.port = &n->host;
    cfg.synic = &n->synic;
    cfg.post_buffer = static_cast<hv::PostMessageInput*>(n->post_page.virt);
    cfg.post_buffer_phys = n->post_page.phys;
    cfg.interrupt_page = n->pages.phys;
    cfg.monitor_page1 = n->pages.phys + 4096;
    cfg.monitor_page2 = n->pages.phys + 8192;
    n->conn = new vmbus::Connection(cfg);
    NT_CHECK(n->conn->start());
    for (int i = 0; i < 100 && n->conn->poll() != 0; ++i) {
    }
    NT_CHECK(n->conn->state() == vmbus::State::Ready);
    n->relid = n->conn->find_offer(vmbus::kNetvscClass)->offer.child_relid;
    n->sim = new hvtest::NetvspSim(n->host, n->relid);
    n->drv = netvsc::Driver::create(*n->conn, n->host, n->relid, vmbus::kernel_dma(), opt);
    NT_CHECK(n->drv != nullptr);
    net_test::NodeConfig c;
    c.name = name;
    c.cmdline = cmdline;
    c.driver = n->drv;
    net_test::init_node(fd, c);
    for (int i = 0; i < 1000 && !n->drv->ready() && !n->drv->failed(); ++i) {
        n->pump();
        n->drv->poll(64);
    }
    NT_CHECK(n->drv->ready());
    NT_CHECK(net_test::log_contains("netvsc: netvsc relid 1: NVSP 0x60001, MAC 00:15:5d:12:34:56, MTU 1500, link up"));
    NT_CHECK(loop::add_poller(HvNode::poller, n));
    net_test::watch_fd(fd);
    NT_CHECK(net::start());
    NT_CHECK(net_test::log_contains("netvsc relid 1, MAC 00:15:5d:12:34:56, link up 10000 Mb/s, MTU 1500"));
    return *n;
}

// The netvsc NIC's per-frame counters: the glue counts frames and bytes (src/net/nic.hpp), the driver only what
// only it sees.
inline const net::NetifGlue::Counters& glue_counters() {
    net::NetifGlue* g = net::interface(0);
    NT_CHECK(g != nullptr);
    return g->counters();
}

inline void peer_node(int fd) {
    net_test::NodeConfig c;
    c.name = "A";
    c.cmdline = kCmdA;
    c.mac_last = 1;
    net_test::init_node(fd, c);
    NT_CHECK(net::start());
}

}  // namespace netvsc_node
