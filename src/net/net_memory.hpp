// The network stack's memory: lwIP's heap (MEM_LIBC_MALLOC) is malloc's, through a budget.
//
// Allocations above kSmall bytes (TCP send data copied in by tcp_write, frames copied when a NIC's lent
// buffers run out, linearised transmit chains) count against `budget`; beyond it they fail, which lwIP and the
// glue already handle (tcp_write says ERR_MEM and the socket layer waits for `sent`, a copied frame is dropped
// and counted, TCP retransmits). Small allocations (headers, pure ACKs, SYN-ACKs, control segments) are
// outside the budget, so a stack whose buffers are all in use can still acknowledge, and so drain.
//
// The budget and the TCP send buffer per connection come from the memory plan (kernel/mem_plan.hpp).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net::memory {

inline constexpr size_t kSmall = 256;

// Sets the budget and lwIP's per-connection TCP send buffer (effective for connections made afterwards).
void configure(uint64_t budget, uint32_t tcp_snd_buf);

struct Stats {
    uint64_t budget;
    uint64_t in_budget;      // bytes of counted (large) allocations live now
    uint64_t in_budget_max;  // the most at once
    uint64_t small;          // bytes of small allocations live now
    uint64_t refused;        // large allocations refused by the budget
    uint64_t failed;         // allocations malloc itself could not satisfy
};
Stats stats();

}  // namespace skerry::net::memory
