// VMBus ring buffers: one direction of a channel, shared with the host inside the channel's ring GPADL.
//
// A ring is a 4 KiB control page followed by a data area of D bytes (a multiple of 4 KiB). Packets start
// 8-aligned, may wrap around the end of the data area, and are followed by an 8-byte trailer holding the
// packet's start offset in its upper 32 bits. The writer never fills the ring completely (free must exceed the
// packet), so read == write always means empty.
//
// Each side keeps its own copy of the index it owns and never trusts the peer's copy of it; the peer's index is
// checked (8-aligned, < D) on every use. A bad index or descriptor marks the ring corrupt: every later call
// returns Corrupt and the channel must be closed. Nothing here crashes or loops on host-controlled data.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::vmbus {

// Control page offsets.
constexpr size_t kRingOffWriteIndex = 0;
constexpr size_t kRingOffReadIndex = 4;
constexpr size_t kRingOffInterruptMask = 8;
constexpr size_t kRingOffPendingSendSz = 12;
constexpr size_t kRingOffFeatureBits = 64;
constexpr uint32_t kRingFeaturePendingSendSz = 1u << 0;
constexpr size_t kRingControlSize = 4096;

// Packet types and flags.
constexpr uint16_t kPacketDataInband = 0x6;
constexpr uint16_t kPacketDataXferPages = 0x7;
constexpr uint16_t kPacketDataGpaDirect = 0x9;
constexpr uint16_t kPacketCancelRequest = 0xA;
constexpr uint16_t kPacketCompletion = 0xB;
constexpr uint16_t kPacketFlagCompletionRequested = 1u << 0;

struct PacketDescriptor {
    uint16_t type;
    uint16_t offset8;  // header length in qwords (>= 2)
    uint16_t len8;     // header + payload + padding in qwords, trailer excluded
    uint16_t flags;
    uint64_t transaction_id;
};
static_assert(sizeof(PacketDescriptor) == 16);
constexpr size_t kPacketTrailerSize = 8;

enum class RingStatus : uint8_t {
    Ok = 0,
    Empty,           // nothing to read
    Full,            // not enough space now; retry after the reader made room
    TooBig,          // can never fit in this ring
    BufferTooSmall,  // the packet is larger than the caller's buffer; it stays in the ring
    Corrupt,         // peer index or descriptor invalid: the ring is unusable from now on
    NotAttached,
};
const char* ring_status_name(RingStatus s);

struct RingStats {
    uint64_t packets_written = 0;
    uint64_t packets_read = 0;
    uint64_t signals = 0;  // signals requested from the caller (either direction)
    uint64_t full = 0;     // writes refused for lack of space
    uint64_t corruptions = 0;
};

class Ring {
public:
    // `base` is the control page; `bytes` the ring's total size (control page included), a multiple of 4096 and
    // at least 8192. Takes the current shared indices as its own (validated): a fresh ring has both at 0.
    RingStatus attach(void* base, size_t bytes);
    bool attached() const { return ctl_ != nullptr; }
    uint32_t data_size() const { return size_; }
    bool corrupt() const { return corrupt_; }
    const RingStats& stats() const { return stats_; }

    // ---- writer side
    struct Chunk {
        const void* data;
        size_t len;
    };
    // Write one packet made of `chunks` concatenated (the first must begin with a PacketDescriptor whose len8 and
    // offset8 the caller set), zero padding to 8 and the trailer. `signal` is set when the reader must be
    // signalled: the ring was empty before this packet and the reader's interrupt_mask is 0.
    RingStatus write(const Chunk* chunks, size_t count, bool& signal);
    // A packet with a plain descriptor (offset8 = 2 + extra_header/8) followed by `extra_header` (a multiple of
    // 8 bytes, may be empty) and `payload`.
    RingStatus write_packet(uint16_t type, uint16_t flags, uint64_t transaction_id, const void* extra_header,
                            size_t extra_len, const void* payload, size_t len, bool& signal);
    // Writer-owned control fields.
    void set_pending_send_sz(uint32_t bytes);
    void set_writer_feature_pending_send_sz(bool on);
    // Space the writer could use now: D minus what is unread (a packet needs strictly more than its size).
    uint32_t bytes_to_write() const;

    // ---- reader side
    // The next packet's descriptor and total size in the ring (len8*8 + trailer), without consuming it.
    RingStatus peek(PacketDescriptor& desc);
    // Copy the next packet (descriptor, headers, payload and padding: len8*8 bytes) into `buf` and consume it.
    // `signal` is set when the writer must be signalled: it declared (feature bit + pending_send_sz) that it
    // waits for space, and this read moved free space from "not enough" (<= pending) to "enough" (> pending).
    RingStatus read(void* buf, size_t cap, size_t& len, bool& signal);
    // Consume the next packet without copying it (after BufferTooSmall, or to drop an unwanted packet).
    RingStatus skip(bool& signal);
    // Reader-owned control fields.
    void set_interrupt_mask(bool masked);
    uint32_t bytes_to_read() const;

private:
    uint32_t load(size_t off) const;
    void store(size_t off, uint32_t v);
    bool valid_index(uint32_t i) const { return i < size_ && (i & 7) == 0; }
    RingStatus fail();
    void copy_out(uint32_t pos, void* dst, size_t len) const;
    void copy_in(uint32_t pos, const void* src, size_t len);
    RingStatus next(PacketDescriptor& desc, uint32_t& total);
    RingStatus consume(uint32_t total, bool& signal);

    uint8_t* ctl_ = nullptr;
    uint8_t* data_ = nullptr;
    uint32_t size_ = 0;   // D
    uint32_t write_ = 0;  // writer side: our write index
    uint32_t read_ = 0;   // reader side: our read index
    bool corrupt_ = false;
    RingStats stats_;
};

}  // namespace skerry::vmbus
