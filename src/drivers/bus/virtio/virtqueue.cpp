// Split virtqueue, driver side (see virtqueue.hpp; docs/protocols/virtio.md §4).
#include "drivers/bus/virtio/virtqueue.hpp"

#include <string.h>

#include "hw/hw.hpp"

namespace skerry::virtio {
namespace {

constexpr size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

}  // namespace

QueueLayout queue_layout(uint16_t size, bool legacy) {
    QueueLayout l;
    const size_t desc_bytes = sizeof(Desc) * size;
    const size_t avail_bytes = 6 + 2 * static_cast<size_t>(size);  // flags, idx, ring[size], used_event
    const size_t used_bytes = 6 + sizeof(UsedElem) * size;         // flags, idx, ring[size], avail_event
    l.avail = desc_bytes;
    l.used = align_up(desc_bytes + avail_bytes, legacy ? 4096 : 4);
    l.total = l.used + used_bytes;
    return l;
}

bool Virtqueue::create(uint16_t index, uint16_t size, bool event_idx, bool legacy) {
    destroy();
    if (size < 2 || size > kMaxSize || (size & (size - 1)) != 0) return false;
    const QueueLayout l = queue_layout(size, legacy);
    // A legacy queue is given to the device as a 32-bit page frame number: below 16 TiB.
    if (!dma::alloc(l.total, mem_, 4096, legacy ? (1ull << 44) : ~0ull)) return false;
    auto* base = static_cast<uint8_t*>(mem_.virt);
    desc_ = reinterpret_cast<volatile Desc*>(base);
    avail_flags_ = reinterpret_cast<volatile uint16_t*>(base + l.avail);
    avail_idx_ = avail_flags_ + 1;
    avail_ring_ = avail_flags_ + 2;
    used_event_ = avail_ring_ + size;
    used_flags_ = reinterpret_cast<volatile uint16_t*>(base + l.used);
    used_idx_ = used_flags_ + 1;
    used_ring_ = reinterpret_cast<volatile UsedElem*>(base + l.used + 4);
    avail_event_ = reinterpret_cast<volatile uint16_t*>(base + l.used + 4 + sizeof(UsedElem) * size);
    index_ = index;
    size_ = size;
    event_idx_ = event_idx;
    legacy_ = legacy;
    reset_state();
    return true;
}

void Virtqueue::destroy() {
    dma::free(mem_);
    desc_ = nullptr;
    size_ = 0;
    free_count_ = 0;
}

void Virtqueue::reset_state() {
    if (!mem_.virt) return;
    memset(mem_.virt, 0, queue_layout(size_, legacy_).total);
    for (uint16_t i = 0; i < size_; ++i) {
        next_[i] = static_cast<uint16_t>(i + 1);
        token_[i] = nullptr;
        chain_len_[i] = 0;
        writable_[i] = 0;
    }
    free_head_ = 0;
    free_count_ = size_;
    avail_shadow_ = kicked_idx_ = last_used_ = 0;
    interrupts_off_ = false;
    broken_ = false;
}

QueueAddresses Virtqueue::addresses() const {
    const QueueLayout l = queue_layout(size_, legacy_);
    return QueueAddresses{mem_.phys, mem_.phys + l.avail, mem_.phys + l.used};
}

uint16_t Virtqueue::add(const Buffer* bufs, uint16_t n, uint16_t readable, void* token) {
    if (n == 0 || n > free_count_ || broken_) return kNoHead;
    const uint16_t head = free_head_;
    uint16_t i = head;
    uint32_t writable = 0;
    for (uint16_t k = 0; k < n; ++k) {
        volatile Desc& d = desc_[i];
        d.addr = bufs[k].phys;
        d.len = bufs[k].len;
        const bool write = k >= readable;
        if (write) writable += bufs[k].len;
        d.flags = static_cast<uint16_t>((write ? kDescWrite : 0) | (k + 1 < n ? kDescNext : 0));
        d.next = k + 1 < n ? next_[i] : 0;
        i = next_[i];
    }
    free_head_ = i;
    free_count_ = static_cast<uint16_t>(free_count_ - n);
    token_[head] = token;
    chain_len_[head] = n;
    writable_[head] = writable;
    avail_ring_[avail_shadow_ & (size_ - 1)] = head;
    ++avail_shadow_;
    return head;
}

void Virtqueue::publish() {
    hw::compiler_barrier();  // ring entries and descriptors before the index (x86 keeps stores in order)
    *avail_idx_ = avail_shadow_;
}

bool Virtqueue::kick_needed() {
    const uint16_t old_idx = kicked_idx_, new_idx = avail_shadow_;
    if (old_idx == new_idx) return false;
    kicked_idx_ = new_idx;
    hw::memory_barrier();  // our index store before the read of the device's event/flags (store-load)
    bool kick;
    if (event_idx_) {
        kick = need_event(*avail_event_, new_idx, old_idx);
    } else {
        kick = !(*used_flags_ & kUsedNoNotify);
    }
    if (kick) {
        ++counters_.notifies;
    } else {
        ++counters_.notifies_suppressed;
    }
    return kick;
}

bool Virtqueue::has_used() const { return !broken_ && desc_ && *used_idx_ != last_used_; }

bool Virtqueue::pop_used(void*& token, uint32_t& len) {
    if (broken_ || !desc_) return false;
    for (;;) {
        const uint16_t used = *used_idx_;
        if (used == last_used_) return false;
        // The device can have used at most what is outstanding; an index further ahead is garbage.
        if (static_cast<uint16_t>(used - last_used_) > static_cast<uint16_t>(avail_shadow_ - last_used_)) {
            ++counters_.bad_used_idx;
            broken_ = true;
            return false;
        }
        hw::compiler_barrier();  // the element after the index (x86 keeps loads in order)
        const volatile UsedElem& e = used_ring_[last_used_ & (size_ - 1)];
        const uint32_t id = e.id, n = e.len;
        ++last_used_;
        if (id >= size_ || chain_len_[id] == 0) {
            ++counters_.bad_used_id;  // not a chain we made available: never followed
            continue;
        }
        token = token_[id];
        if (n > writable_[id]) {
            ++counters_.bad_used_len;
            len = 0;  // nothing the device says it wrote can be believed
        } else {
            len = n;
        }
        free_chain(static_cast<uint16_t>(id));
        return true;
    }
}

void Virtqueue::free_chain(uint16_t head) {
    uint16_t n = chain_len_[head], i = head, last = head;
    chain_len_[head] = 0;
    token_[head] = nullptr;
    writable_[head] = 0;
    for (uint16_t k = 0; k < n; ++k) {
        last = i;
        i = next_[i];
    }
    // The chain's own links (next_) still lead from head to last: put the whole chain in front of the free list.
    next_[last] = free_head_;
    free_head_ = head;
    free_count_ = static_cast<uint16_t>(free_count_ + n);
}

void Virtqueue::disable_interrupts() {
    if (!desc_ || interrupts_off_) return;
    interrupts_off_ = true;
    if (!event_idx_) *avail_flags_ = kAvailNoInterrupt;  // with EVENT_IDX, used_event simply stays behind
}

bool Virtqueue::enable_interrupts() { return enable_interrupts_after(1); }

bool Virtqueue::enable_interrupts_after(uint16_t outstanding) {
    if (!desc_) return true;
    if (outstanding == 0) outstanding = 1;
    interrupts_off_ = false;
    if (event_idx_) {
        *used_event_ = static_cast<uint16_t>(last_used_ + outstanding - 1);
    } else {
        *avail_flags_ = 0;
    }
    hw::memory_barrier();  // the event store before the index read (store-load)
    return static_cast<uint16_t>(*used_idx_ - last_used_) < outstanding;
}

bool Virtqueue::drain_one(void*& token) {
    for (uint16_t i = 0; i < size_; ++i) {
        if (chain_len_[i] == 0) continue;
        token = token_[i];
        free_chain(i);
        return true;
    }
    return false;
}

}  // namespace skerry::virtio
