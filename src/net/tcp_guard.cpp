#include "net/tcp_guard.hpp"

#include "kernel/log.hpp"
#include "kernel/time.hpp"
#include "lwip/priv/tcp_priv.h"  // tcp_active_pcbs, tcp_abandon
#include "lwip/tcp.h"

namespace skerry::net::tcp_guard {
namespace {

uint64_t recycled = 0;
uint64_t recycled_at_last_log = 0;
uint64_t last_log_ns = 0;
constexpr uint64_t kLogEveryNs = 10ull * 1000 * 1000 * 1000;

// The listener's half-open connection that has waited longest (tmr: the tick of its last received segment).
tcp_pcb* oldest_half_open(const tcp_pcb_listen* listener) {
    tcp_pcb* oldest = nullptr;
    for (tcp_pcb* p = tcp_active_pcbs; p; p = p->next) {
        if (p->state != SYN_RCVD || p->listener != listener) continue;
        if (!oldest || static_cast<u32_t>(tcp_ticks - p->tmr) > static_cast<u32_t>(tcp_ticks - oldest->tmr)) oldest = p;
    }
    return oldest;
}

void log_recycling(u16_t port) {
    const uint64_t now = time::now_ns();
    if (recycled_at_last_log != 0 && now - last_log_ns < kLogEveryNs) return;  // one line per 10 s at most
    log::warn("tcp: port %u: backlog full of half-open connections (a SYN flood?): the oldest dropped for new ones, "
              "%llu so far",
              static_cast<unsigned>(port), static_cast<unsigned long long>(recycled));
    last_log_ns = now;
    recycled_at_last_log = recycled;
}

}  // namespace

uint64_t half_open_recycled() { return recycled; }

}  // namespace skerry::net::tcp_guard

using namespace skerry::net::tcp_guard;

// lwIP calls this for every segment that matched a pcb, before processing it; ERR_OK lets it through.
extern "C" err_t skerry_lwip_tcp_inpacket(tcp_pcb* pcb, tcp_hdr* hdr) {
    if (pcb->state != LISTEN) return ERR_OK;
    if ((TCPH_FLAGS(hdr) & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN) return ERR_OK;
    auto* listener = reinterpret_cast<tcp_pcb_listen*>(pcb);
    if (listener->accepts_pending < listener->backlog) return ERR_OK;
    tcp_pcb* victim = skerry::net::tcp_guard::oldest_half_open(listener);
    if (!victim) return ERR_OK;  // the backlog holds completed connections only: lwIP drops the SYN
    ++skerry::net::tcp_guard::recycled;
    skerry::net::tcp_guard::log_recycling(listener->local_port);
    tcp_abandon(victim, 0);  // no RST: purging it returns its backlog slot (tcp_pcb_purge -> tcp_backlog_accepted)
    return ERR_OK;
}
