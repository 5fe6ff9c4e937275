// Half-open connections under a SYN flood. lwIP keeps each SYN it answers as a pcb in SYN-RCVD, counted against
// its listener's backlog until the handshake completes or 20 s pass (TCP_SYN_RCVD_TIMEOUT); once the backlog is
// full it drops every further SYN, so a flood of spoofed SYNs shuts a port for 20 s after it stops, and shuts it
// for legitimate clients during it. The guard, called by lwIP for each segment to a listening port
// (LWIP_HOOK_TCP_INPACKET_PCB, lwipopts.h), makes room for a new SYN by dropping the listener's oldest half-open
// connection, silently (its peer is most likely spoofed). RFC 4987 ("TCP SYN Flooding Attacks and Common
// Mitigations", section 3.4, "Recycling the Oldest Half-Open TCB") describes this defence. Connections that
// completed their handshake are never touched. docs/architecture.md, "Half-open connections".
#pragma once

#include <stdint.h>

namespace skerry::net::tcp_guard {

// Half-open connections dropped to make room since boot (for /status and the console summary).
uint64_t half_open_recycled();

}  // namespace skerry::net::tcp_guard
