// The memory plan: how the memory left after the kernel image is divided, chosen once at boot from how much
// there is, and said on the console. Everything that scales with memory reads it from here instead of keeping
// its own threshold: the heap behind malloc, each NIC driver's receive ring and buffer pool, and the network
// stack's budget for buffer memory (TCP send data, copied frames) with the TCP send buffer per connection.
//
// Pure arithmetic (no allocation), so the host tests check every tier.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::mem_plan {

enum class Tier { Tiny, Small, Large };

struct Plan {
    Tier tier;
    uint64_t free_bytes;      // the page allocator's free memory when the plan was made
    uint64_t heap_bytes;      // malloc's heap (0 when there is not even the minimum)
    uint64_t heap_align;      // its alignment in physical memory
    uint16_t nic_rx_ring;     // receive descriptors per NIC (drivers clamp to what the device allows)
    uint16_t nic_rx_buffers;  // receive buffers per NIC, 2 KiB each, from the page allocator
    uint16_t rx_lend;         // receive buffers a NIC may lend to the stack at once (zero copy); beyond, copies
    uint64_t net_buffers;     // heap bytes the network stack may hold in buffers (send data, copied frames)
    uint32_t tcp_snd_buf;     // TCP send buffer per connection
};

// `free_bytes`: the page allocator's free memory after the kernel image and page tables. `heap_request`: the
// `heap=` option, 0 for automatic (the request is honoured as far as memory allows).
Plan compute(uint64_t free_bytes, uint64_t heap_request);

// One console line: "3 MiB free (tiny): heap ..., NIC receive ..., network buffers ...".
void format(const Plan& p, char* out, size_t size);

const char* tier_name(Tier t);

// The plan in force (the kernel sets it at boot; host tests may set their own). Before set(), the large tier's
// figures, so code that runs without a plan behaves as it did before plans existed.
const Plan& current();
void set(const Plan& p);

}  // namespace skerry::mem_plan
