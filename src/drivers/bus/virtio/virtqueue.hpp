// A split virtqueue (docs/protocols/virtio.md §4), driver side: the descriptor table, the available ring the
// driver writes and the used ring the device writes, in one DMA region. Nothing the device writes is trusted: a
// used element whose id is out of range or not the head of a chain we made available, or whose length exceeds what
// the chain can hold, is counted and dropped (the descriptors are not followed), and a used index that runs ahead
// of what can possibly be outstanding is counted and the ring declared broken (the driver resets the device).
//
// One owner, one thread: the event loop. Memory ordering: the device is another agent, so the driver publishes
// ring entries before the index (store-store, a compiler barrier on x86) and reads the event/flags fields after its
// index stores only through a full barrier (store-load), as §4.6 requires.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/virtio/virtio.hpp"
#include "kernel/dma.hpp"

namespace skerry::virtio {

// Descriptor flags and ring flags (§4.1).
inline constexpr uint16_t kDescNext = 1, kDescWrite = 2, kDescIndirect = 4;
inline constexpr uint16_t kAvailNoInterrupt = 1, kUsedNoNotify = 1;

struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(Desc) == 16);
struct UsedElem {
    uint32_t id;
    uint32_t len;
};
static_assert(sizeof(UsedElem) == 8);

// The layout of a queue of `size` entries (§4.2, §4.3): byte offsets of the three parts from the region start and
// the total. Legacy: available ring right after the table, used ring at the next 4 KiB boundary.
struct QueueLayout {
    size_t avail, used, total;
};
QueueLayout queue_layout(uint16_t size, bool legacy);

// The size to give a queue whose device allows `max` entries when the driver would like `want`: a legacy queue has
// exactly the device's size (§4.3); a modern one the largest power of two within both.
constexpr uint16_t queue_size_for(uint16_t want, uint16_t max, bool legacy) {
    if (legacy) return max;
    const uint16_t limit = want < max ? want : max;
    uint16_t p = 1;
    while (static_cast<uint32_t>(p) * 2 <= limit) p = static_cast<uint16_t>(p * 2);
    return p;
}

// vring_need_event (§4.6): with EVENT_IDX, whether moving an index from `old_idx` to `new_idx` crosses `event`.
constexpr bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx) {
    return static_cast<uint16_t>(new_idx - event - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

struct QueueCounters {
    uint64_t bad_used_id;   // id out of range or not an outstanding head
    uint64_t bad_used_len;  // a length beyond the chain's device-writable bytes
    uint64_t bad_used_idx;  // the used index ran ahead of what was made available
    uint64_t notifies;      // doorbell writes
    uint64_t notifies_suppressed;
};

class Virtqueue {
public:
    static constexpr uint16_t kMaxSize = 1024;
    static constexpr uint16_t kNoHead = 0xFFFF;

    Virtqueue() = default;
    ~Virtqueue() { destroy(); }
    Virtqueue(const Virtqueue&) = delete;
    Virtqueue& operator=(const Virtqueue&) = delete;

    // Allocates the rings for `size` entries (a power of two, 2..kMaxSize) in the layout the transport needs.
    bool create(uint16_t index, uint16_t size, bool event_idx, bool legacy);
    void destroy();
    // After a device reset: every descriptor free again, indexes at 0 (the caller takes back what was in flight
    // with drain_all() first).
    void reset_state();

    uint16_t index() const { return index_; }
    uint16_t size() const { return size_; }
    QueueAddresses addresses() const;
    uint16_t free_descriptors() const { return free_count_; }
    uint16_t in_flight() const { return static_cast<uint16_t>(size_ - free_count_); }  // descriptors, not chains
    bool broken() const { return broken_; }
    const QueueCounters& counters() const { return counters_; }

    // A chain of `n` buffers: the first `readable` are read by the device, the rest written by it. Returns the
    // head descriptor (kNoHead when there are not n free descriptors or n is 0). The entry goes into the available
    // ring at once; the device sees it once publish() moves the index.
    struct Buffer {
        uint64_t phys;
        uint32_t len;
    };
    uint16_t add(const Buffer* bufs, uint16_t n, uint16_t readable, void* token);
    // Makes everything added since the last publish visible (one index store).
    void publish();
    // Whether the device wants a notification for what publish() made visible since the last kick (EVENT_IDX:
    // avail_event; else the used ring's NO_NOTIFY flag). Resets the "since the last kick" mark.
    bool kick_needed();

    // The next used chain: its token and the length the device wrote; false when there is none. A bad element is
    // counted and skipped (its descriptors stay lost until reset: they may still be in the device's hands).
    bool pop_used(void*& token, uint32_t& len);
    bool has_used() const;

    // Interrupt suppression (§4.6). disable: the device need not interrupt for used buffers (EVENT_IDX: used_event
    // is simply not moved; else NO_INTERRUPT). enable: interrupt at the next used buffer; returns false when used
    // buffers arrived meanwhile (the caller polls again instead of waiting). enable_at(n): interrupt only once n
    // more buffers are used (EVENT_IDX; without it the same as enable).
    void disable_interrupts();
    bool enable_interrupts();
    bool enable_interrupts_after(uint16_t outstanding);

    // After a reset of the device: the chains still in flight, one at a time (in descriptor order), so the caller can
    // take its token back. Returns false when there is none left. The descriptors are freed.
    bool drain_one(void*& token);

private:
    volatile Desc* desc_ = nullptr;
    volatile uint16_t* avail_flags_ = nullptr;
    volatile uint16_t* avail_idx_ = nullptr;
    volatile uint16_t* avail_ring_ = nullptr;
    volatile uint16_t* used_event_ = nullptr;  // in the available ring, after its entries
    volatile uint16_t* used_flags_ = nullptr;
    volatile uint16_t* used_idx_ = nullptr;
    volatile UsedElem* used_ring_ = nullptr;
    volatile uint16_t* avail_event_ = nullptr;  // in the used ring, after its entries

    dma::Region mem_{};
    uint16_t index_ = 0;
    uint16_t size_ = 0;
    bool event_idx_ = false;
    bool legacy_ = false;
    bool broken_ = false;

    uint16_t free_head_ = 0;
    uint16_t free_count_ = 0;
    uint16_t avail_shadow_ = 0;  // our next available index (published or not)
    uint16_t kicked_idx_ = 0;    // the available index at the last kick decision
    uint16_t last_used_ = 0;     // the next used index we have not consumed
    bool interrupts_off_ = false;

    uint16_t next_[kMaxSize] = {};  // our own links (free list and chains): the device's copy is never read
    void* token_[kMaxSize] = {};
    uint16_t chain_len_[kMaxSize] = {};  // on a head: descriptors in the chain (0: not an outstanding head)
    uint32_t writable_[kMaxSize] = {};   // on a head: device-writable bytes in the chain
    QueueCounters counters_{};

    void free_chain(uint16_t head);
};

}  // namespace skerry::virtio
