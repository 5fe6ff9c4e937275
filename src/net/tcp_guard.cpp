#include "net/tcp_guard.hpp"

#include "kernel/log.hpp"
#include "kernel/time.hpp"
#include "lwip/priv/tcp_priv.h"  // tcp_active_pcbs, tcp_abandon
#include "lwip/tcp.h"

namespace skerry::net::tcp_guard {
namespace {

uint64_t recycled = 0;
uint64_t retransmitted = 0;
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
uint64_t segments_retransmitted() { return retransmitted; }

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

// lwIP's tcp_output_segment calls this (LWIP_HOOK_TCP_OUT_ADD_TCPOPTS) for each data segment it sends, before
// advancing snd_nxt past a new one, and tcp_output_control_segment for ACKs, resets and probes. A segment counts when
// it starts before snd_nxt and carries data, SYN or FIN: a keepalive (snd_nxt - 1, empty) and a reset do not. No
// option is added: `opts` goes back as it came.
extern "C" u32_t* skerry_lwip_tcp_out_opts(const struct pbuf* p, struct tcp_pcb* pcb, const struct tcp_hdr* hdr,
                                           u32_t* opts) {
    if (!pcb || !hdr || !p || pcb->state == LISTEN) return opts;
    const u8_t flags = TCPH_FLAGS(hdr);
    const bool carries = p->tot_len > TCPH_HDRLEN_BYTES(hdr) || (flags & (TCP_SYN | TCP_FIN)) != 0;
    if (!carries || (flags & TCP_RST) != 0 || !TCP_SEQ_LT(lwip_ntohl(hdr->seqno), pcb->snd_nxt)) return opts;
    // An active open's first SYN also starts below snd_nxt (tcp_connect sets snd_nxt to the ISS and queues the SYN
    // at ISS - 1); a SYN sent again follows a timeout, which counted it in nrtx first (tcp_slowtmr).
    if ((flags & TCP_SYN) != 0 && pcb->nrtx == 0) return opts;
    ++skerry::net::tcp_guard::retransmitted;
    return opts;
}
