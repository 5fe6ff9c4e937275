#include "net/net_memory.hpp"

#include <stdlib.h>
#include <string.h>

#include "lwip/opt.h"

uint32_t skerry_lwip_tcp_snd_buf = TCP_SND_BUF_MAX;

// The rules lwIP's init.c checks at compile time when TCP_SND_BUF is a constant (LWIP_DISABLE_TCP_SANITY_CHECKS
// is on because ours is a variable), checked here for every size configure() accepts.
namespace {
constexpr uint32_t kMinSndBuf = 64 * 1024;
constexpr uint32_t queuelen(uint32_t snd_buf) { return (4 * snd_buf + (TCP_MSS - 1)) / TCP_MSS; }
static_assert(kMinSndBuf >= 2 * TCP_MSS, "TCP_SND_BUF must be at least 2 * TCP_MSS");
static_assert(TCP_SNDLOWAT < kMinSndBuf, "TCP_SNDLOWAT must be below every TCP_SND_BUF");
static_assert(TCP_SNDLOWAT < 0xFFFF - 4 * TCP_MSS, "TCP_SNDLOWAT must be 4 * MSS below 64 KiB");
static_assert(MEMP_NUM_TCP_SEG >= queuelen(TCP_SND_BUF_MAX), "MEMP_NUM_TCP_SEG below TCP_SND_QUEUELEN");
static_assert(queuelen(kMinSndBuf) >= 2 * (kMinSndBuf / TCP_MSS), "TCP_SND_QUEUELEN too small");
static_assert(TCP_WND >= TCP_MSS, "TCP_WND below MSS");
static_assert(TCP_SND_BUF_MAX <= 0xFFFFu << TCP_RCV_SCALE, "send buffer above the scaled window");

using skerry::net::memory::kSmall;

// Nearly every allocation lwIP makes on the data path is one of two sizes: a header-only pbuf (a pure ACK, a
// SYN-ACK, <= kSmall) or one segment or frame (a TCP segment of one MSS with its headers and pbuf, a copied
// received frame). Those come from two fixed block sizes kept on free lists (a pop instead of a malloc per
// segment); anything else is malloc'd as asked. Each block carries a 16-byte header (its class and size) so
// that malloc's alignment is kept.
constexpr size_t kHeader = 16;
constexpr size_t kFrame = 1792;  // >= MSS 1460 + TCP/IP headers and options + Ethernet + struct pbuf; a 1518 frame
static_assert(kFrame >= TCP_MSS + 40 + 40 + 14 + 64, "a full segment fits a frame block");

struct Block {
    Block* next;
};
struct Class {
    size_t size;  // usable bytes
    Block* free = nullptr;
    size_t cached = 0, cache_max = 0;
};
Class small_class{kSmall};
Class frame_class{kFrame};

skerry::net::memory::Stats st{~0ull, 0, 0, 0, 0, 0};

Class* class_for(size_t size) {
    if (size <= kSmall) return &small_class;
    if (size <= kFrame) return &frame_class;
    return nullptr;
}

struct Header {
    size_t charged;  // bytes counted: the block's size, or the request for a plain malloc
    Class* cls;      // nullptr for a plain malloc
};
static_assert(sizeof(Header) <= kHeader, "header fits");

void* take(size_t size, bool zero) {
    Class* c = class_for(size);
    const size_t charge = c ? c->size : size;
    const bool counted = charge > kSmall;
    if (counted && st.in_budget + charge > st.budget) {
        ++st.refused;
        return nullptr;
    }
    uint8_t* raw;
    if (c && c->free) {
        raw = reinterpret_cast<uint8_t*>(c->free);
        c->free = c->free->next;
        --c->cached;
    } else {
        raw = static_cast<uint8_t*>(malloc(charge + kHeader));
        if (!raw) {
            ++st.failed;
            return nullptr;
        }
    }
    Header h{charge, c};
    memcpy(raw, &h, sizeof h);
    if (zero) memset(raw + kHeader, 0, size);
    if (counted) {
        st.in_budget += charge;
        if (st.in_budget > st.in_budget_max) st.in_budget_max = st.in_budget;
    } else {
        st.small += charge;
    }
    return raw + kHeader;
}
}  // namespace

extern "C" void* skerry_net_mem_malloc(size_t size) { return take(size, false); }

extern "C" void* skerry_net_mem_calloc(size_t count, size_t size) {
    if (size && count > (SIZE_MAX - kHeader) / size) return nullptr;
    return take(count * size, true);
}

extern "C" void skerry_net_mem_free(void* p) {
    if (!p) return;
    uint8_t* raw = static_cast<uint8_t*>(p) - kHeader;
    Header h;
    memcpy(&h, raw, sizeof h);
    if (h.charged > kSmall) st.in_budget -= h.charged;
    else st.small -= h.charged;
    if (h.cls && h.cls->cached < h.cls->cache_max) {
        Block* b = reinterpret_cast<Block*>(raw);
        b->next = h.cls->free;
        h.cls->free = b;
        ++h.cls->cached;
        return;
    }
    free(raw);
}

namespace skerry::net::memory {

void configure(uint64_t budget, uint32_t tcp_snd_buf) {
    st.budget = budget;
    if (tcp_snd_buf < kMinSndBuf) tcp_snd_buf = kMinSndBuf;
    if (tcp_snd_buf > TCP_SND_BUF_MAX) tcp_snd_buf = TCP_SND_BUF_MAX;
    skerry_lwip_tcp_snd_buf = tcp_snd_buf;
    // Blocks kept for reuse: up to an eighth of the budget in frames (at most 512, a TCP window's worth of
    // segments), 512 header blocks. Kept blocks are not counted in the budget: they are free for any use.
    const uint64_t frames = budget / 8 / (kFrame + kHeader);
    frame_class.cache_max = frames > 512 ? 512 : static_cast<size_t>(frames);
    small_class.cache_max = 512;
    Class* const classes[] = {&small_class, &frame_class};
    for (Class* c : classes) {
        while (c->cached > c->cache_max) {
            Block* b = c->free;
            c->free = b->next;
            --c->cached;
            free(b);
        }
    }
}

Stats stats() { return st; }

}  // namespace skerry::net::memory
