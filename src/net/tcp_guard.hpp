// Half-open connections under a SYN flood. lwIP keeps each SYN it answers as a pcb in SYN-RCVD, counted against
// its listener's backlog until the handshake completes or 20 s pass (TCP_SYN_RCVD_TIMEOUT); once the backlog is
// full it drops every further SYN, so a flood of spoofed SYNs shuts a port for 20 s after it stops, and shuts it
// for legitimate clients during it. The guard, called by lwIP for each segment to a listening port
// (LWIP_HOOK_TCP_INPACKET_PCB, lwipopts.h), makes room for a new SYN by dropping the listener's oldest half-open
// connection, silently (its peer is most likely spoofed). RFC 4987 ("TCP SYN Flooding Attacks and Common
// Mitigations", section 3.4, "Recycling the Oldest Half-Open TCB") describes this defence. Connections that
// completed their handshake are never touched. docs/architecture.md, "Half-open connections".
//
// It also counts retransmitted TCP segments, which lwIP 2.1.3 does not (its MIB-II counter misses timeouts' resends):
// lwIP calls LWIP_HOOK_TCP_OUT_ADD_TCPOPTS for every data segment it sends, and one that starts before the
// connection's snd_nxt (the next new sequence number) was sent before.
#pragma once

#include <stdint.h>

namespace skerry::net::tcp_guard {

// Half-open connections dropped to make room since boot (for /status and the console summary).
uint64_t half_open_recycled();

// TCP segments sent again (timeouts, fast retransmits) since boot, all connections.
uint64_t segments_retransmitted();

}  // namespace skerry::net::tcp_guard
