// VMBus ring buffers (see ring.hpp). Index and signalling rules: docs/protocols/hyperv-vmbus.md §7.
#include "drivers/bus/vmbus/ring.hpp"

#include <string.h>

namespace skerry::vmbus {

const char* ring_status_name(RingStatus s) {
    switch (s) {
    case RingStatus::Ok: return "ok";
    case RingStatus::Empty: return "empty";
    case RingStatus::Full: return "full";
    case RingStatus::TooBig: return "packet too big for the ring";
    case RingStatus::BufferTooSmall: return "buffer too small";
    case RingStatus::Corrupt: return "ring corrupt";
    case RingStatus::NotAttached: return "not attached";
    }
    return "?";
}

uint32_t Ring::load(size_t off) const {
    return __atomic_load_n(reinterpret_cast<const uint32_t*>(ctl_ + off), __ATOMIC_ACQUIRE);
}

void Ring::store(size_t off, uint32_t v) {
    __atomic_store_n(reinterpret_cast<uint32_t*>(ctl_ + off), v, __ATOMIC_RELEASE);
}

RingStatus Ring::fail() {
    if (!corrupt_) stats_.corruptions++;
    corrupt_ = true;
    return RingStatus::Corrupt;
}

RingStatus Ring::attach(void* base, size_t bytes) {
    ctl_ = nullptr;
    corrupt_ = false;
    if (base == nullptr || bytes < 2 * kRingControlSize || bytes % 4096 != 0 || bytes - kRingControlSize > 0x80000000u)
        return RingStatus::NotAttached;
    ctl_ = static_cast<uint8_t*>(base);
    data_ = ctl_ + kRingControlSize;
    size_ = static_cast<uint32_t>(bytes - kRingControlSize);
    write_ = load(kRingOffWriteIndex);
    read_ = load(kRingOffReadIndex);
    if (!valid_index(write_) || !valid_index(read_)) {
        write_ = read_ = 0;
        return fail();
    }
    return RingStatus::Ok;
}

void Ring::copy_out(uint32_t pos, void* dst, size_t len) const {
    const size_t first = len < size_ - pos ? len : size_ - pos;
    memcpy(dst, data_ + pos, first);
    if (first < len) memcpy(static_cast<uint8_t*>(dst) + first, data_, len - first);
}

void Ring::copy_in(uint32_t pos, const void* src, size_t len) {
    const size_t first = len < size_ - pos ? len : size_ - pos;
    memcpy(data_ + pos, src, first);
    if (first < len) memcpy(data_, static_cast<const uint8_t*>(src) + first, len - first);
}

// ------------------------------------------------------------------------------------------------ writer

uint32_t Ring::bytes_to_write() const {
    if (ctl_ == nullptr) return 0;
    const uint32_t r = load(kRingOffReadIndex);
    if (!valid_index(r)) return 0;
    return size_ - (write_ + size_ - r) % size_;
}

void Ring::set_pending_send_sz(uint32_t bytes) {
    if (ctl_ != nullptr) store(kRingOffPendingSendSz, bytes);
}

void Ring::set_writer_feature_pending_send_sz(bool on) {
    if (ctl_ == nullptr) return;
    const uint32_t f = load(kRingOffFeatureBits);
    store(kRingOffFeatureBits, on ? (f | kRingFeaturePendingSendSz) : (f & ~kRingFeaturePendingSendSz));
}

RingStatus Ring::write(const Chunk* chunks, size_t count, bool& signal) {
    signal = false;
    if (ctl_ == nullptr) return RingStatus::NotAttached;
    if (corrupt_) return RingStatus::Corrupt;
    size_t len = 0;
    for (size_t i = 0; i < count; ++i) len += chunks[i].len;
    const size_t padded = (len + 7) & ~size_t{7};
    const size_t total = padded + kPacketTrailerSize;
    if (len < sizeof(PacketDescriptor) || total >= size_) return RingStatus::TooBig;
    const uint32_t r = load(kRingOffReadIndex);
    if (!valid_index(r)) return fail();
    const uint32_t free_bytes = size_ - (write_ + size_ - r) % size_;
    if (free_bytes <= total) {
        stats_.full++;
        return RingStatus::Full;
    }
    const uint32_t old = write_;
    uint32_t pos = old;
    for (size_t i = 0; i < count; ++i) {
        if (chunks[i].len == 0) continue;
        copy_in(pos, chunks[i].data, chunks[i].len);
        pos = static_cast<uint32_t>((pos + chunks[i].len) % size_);
    }
    static const uint8_t zeros[8] = {};
    if (padded != len) {
        copy_in(pos, zeros, padded - len);
        pos = static_cast<uint32_t>((pos + padded - len) % size_);
    }
    const uint64_t trailer = static_cast<uint64_t>(old) << 32;
    copy_in(pos, &trailer, sizeof trailer);
    write_ = static_cast<uint32_t>((old + total) % size_);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    store(kRingOffWriteIndex, write_);
    stats_.packets_written++;
    // Signal only on empty -> non-empty, and only if the reader has not masked interrupts.
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (load(kRingOffInterruptMask) != 0) return RingStatus::Ok;
    if (load(kRingOffReadIndex) == old) {
        signal = true;
        stats_.signals++;
    }
    return RingStatus::Ok;
}

RingStatus Ring::write_packet(uint16_t type, uint16_t flags, uint64_t transaction_id, const void* extra_header,
                              size_t extra_len, const void* payload, size_t len, bool& signal) {
    signal = false;
    if (extra_len % 8 != 0 || extra_len > 0x7FFF0) return RingStatus::TooBig;
    const size_t header = sizeof(PacketDescriptor) + extra_len;
    const size_t qwords = (header + len + 7) / 8;
    if (qwords > 0xFFFF) return RingStatus::TooBig;
    PacketDescriptor d{type, static_cast<uint16_t>(header / 8), static_cast<uint16_t>(qwords), flags, transaction_id};
    const Chunk chunks[3] = {{&d, sizeof d}, {extra_header, extra_len}, {payload, len}};
    return write(chunks, 3, signal);
}

// ------------------------------------------------------------------------------------------------ reader

uint32_t Ring::bytes_to_read() const {
    if (ctl_ == nullptr) return 0;
    const uint32_t w = load(kRingOffWriteIndex);
    if (!valid_index(w)) return 0;
    return (w + size_ - read_) % size_;
}

void Ring::set_interrupt_mask(bool masked) {
    if (ctl_ == nullptr) return;
    store(kRingOffInterruptMask, masked ? 1 : 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

RingStatus Ring::next(PacketDescriptor& desc, uint32_t& total) {
    if (ctl_ == nullptr) return RingStatus::NotAttached;
    if (corrupt_) return RingStatus::Corrupt;
    const uint32_t w = load(kRingOffWriteIndex);
    if (!valid_index(w)) return fail();
    const uint32_t readable = (w + size_ - read_) % size_;
    if (readable == 0) return RingStatus::Empty;
    if (readable < sizeof(PacketDescriptor) + kPacketTrailerSize) return fail();
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    copy_out(read_, &desc, sizeof desc);
    const uint64_t body = static_cast<uint64_t>(desc.len8) * 8;
    if (desc.offset8 < 2 || desc.len8 < desc.offset8 || body + kPacketTrailerSize > readable) return fail();
    total = static_cast<uint32_t>(body + kPacketTrailerSize);
    return RingStatus::Ok;
}

RingStatus Ring::peek(PacketDescriptor& desc) {
    uint32_t total;
    return next(desc, total);
}

RingStatus Ring::consume(uint32_t total, bool& signal) {
    read_ = (read_ + total) % size_;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    store(kRingOffReadIndex, read_);
    stats_.packets_read++;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if ((load(kRingOffFeatureBits) & kRingFeaturePendingSendSz) == 0) return RingStatus::Ok;
    const uint32_t pending = load(kRingOffPendingSendSz);
    if (pending == 0) return RingStatus::Ok;
    const uint32_t w = load(kRingOffWriteIndex);
    if (!valid_index(w)) return fail();
    const uint32_t now_free = size_ - (w + size_ - read_) % size_;
    // "Exactly pending" free bytes are not enough: a packet needs strictly more room than its size (Linux
    // hv_pkt_iter_close). Without this read the writer would have now_free - total.
    const uint32_t had = now_free >= total ? now_free - total : 0;
    if (now_free > pending && had <= pending) {
        signal = true;
        stats_.signals++;
    }
    return RingStatus::Ok;
}

RingStatus Ring::read(void* buf, size_t cap, size_t& len, bool& signal) {
    signal = false;
    len = 0;
    PacketDescriptor d;
    uint32_t total;
    const RingStatus s = next(d, total);
    if (s != RingStatus::Ok) return s;
    const size_t body = total - kPacketTrailerSize;
    if (buf == nullptr || cap < body) {
        len = body;
        return RingStatus::BufferTooSmall;
    }
    copy_out(read_, buf, body);
    len = body;
    return consume(total, signal);
}

RingStatus Ring::skip(bool& signal) {
    signal = false;
    PacketDescriptor d;
    uint32_t total;
    const RingStatus s = next(d, total);
    if (s != RingStatus::Ok) return s;
    return consume(total, signal);
}

}  // namespace skerry::vmbus
