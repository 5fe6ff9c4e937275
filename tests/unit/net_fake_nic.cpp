#include "tests/unit/net_fake_nic.hpp"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kernel/event_loop.hpp"
#include "net/ethernet.hpp"
#include "tests/unit/net_host.hpp"

using namespace skerry::net;

namespace net_test {
namespace {

constexpr size_t kFrameMax = 2048;

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
    return sum;
}

uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// What a device with receive checksum offload reports: Good only when it verified the IP header (IPv4) and
// the TCP/UDP checksum, Bad when one is wrong, Unknown otherwise.
RxChecksum verify(const uint8_t* f, size_t len) {
    if (len < kEthHeader) return RxChecksum::Unknown;
    const uint16_t type = get16(f + 12);
    const size_t l3 = kEthHeader;
    uint8_t proto;
    size_t l4, l4len;
    uint32_t pseudo;
    if (type == kEthTypeIpv4) {
        if (len < l3 + 20) return RxChecksum::Unknown;
        const size_t ihl = (f[l3] & 0x0f) * 4u;
        if (ihl < 20 || len < l3 + ihl) return RxChecksum::Unknown;
        if (fold(sum16(f + l3, ihl)) != 0xFFFF) return RxChecksum::Bad;
        const size_t total = get16(f + l3 + 2);
        const bool fragment = ((f[l3 + 6] & 0x3f) | f[l3 + 7]) != 0;
        proto = f[l3 + 9];
        if (fragment || total < ihl || l3 + total > len || (proto != kIpProtoTcp && proto != kIpProtoUdp))
            return RxChecksum::Unknown;
        l4 = l3 + ihl;
        l4len = total - ihl;
        pseudo = sum16(f + l3 + 12, 8) + proto + static_cast<uint32_t>(l4len);
    } else if (type == kEthTypeIpv6) {
        if (len < l3 + 40) return RxChecksum::Unknown;
        proto = f[l3 + 6];
        l4len = get16(f + l3 + 4);
        if ((proto != kIpProtoTcp && proto != kIpProtoUdp) || l3 + 40 + l4len > len) return RxChecksum::Unknown;
        l4 = l3 + 40;
        pseudo = sum16(f + l3 + 8, 32) + proto + static_cast<uint32_t>(l4len);
    } else {
        return RxChecksum::Unknown;
    }
    if (proto == kIpProtoUdp && l4len >= 8 && get16(f + l4 + 6) == 0 && type == kEthTypeIpv4) return RxChecksum::Good;
    return fold(sum16(f + l4, l4len, pseudo)) == 0xFFFF ? RxChecksum::Good : RxChecksum::Bad;
}

// Completes the checksums a frame asked for, like the device would.
void apply_offload(uint8_t* f, size_t len, const TxFrame& fr) {
    const size_t l3 = fr.l3_offset;
    if ((fr.offload & kOffloadTxIpv4Checksum) && len >= l3 + 20) {
        const size_t ihl = (f[l3] & 0x0f) * 4u;
        put16(f + l3 + 10, 0);
        put16(f + l3 + 10, static_cast<uint16_t>(~fold(sum16(f + l3, ihl))));
    }
    if ((fr.offload & (kOffloadTxTcpUdpChecksum | kOffloadTxTcp6UdpChecksum)) && fr.l4_offset) {
        const bool v6 = fr.offload & kOffloadTxTcp6UdpChecksum;
        const uint8_t proto = v6 ? f[l3 + 6] : f[l3 + 9];
        const size_t field = fr.l4_offset + (proto == kIpProtoTcp ? kTcpChecksumOffset : kUdpChecksumOffset);
        if (field + 2 > len) return;
        // The field holds the pseudo-header sum; the device sums the segment over it and stores the complement.
        uint16_t c = static_cast<uint16_t>(~fold(sum16(f + fr.l4_offset, len - fr.l4_offset)));
        if (proto == kIpProtoUdp && c == 0) c = 0xFFFF;
        put16(f + field, c);
    }
}

}  // namespace

FakeNic::FakeNic(int fd, uint8_t mac_last, uint32_t offloads, size_t tx_ring)
    : fd_(fd), mac_{0x02, 0x00, 0x00, 0x00, 0x00, mac_last}, offloads_(offloads), tx_ring_(tx_ring) {}

FakeNic::~FakeNic() {
    for (void* b : lent_) free(b);
}

bool FakeNic::start(NicClient& client) {
    client_ = &client;
    skerry::loop::add_poller(poll_cb, this);
    watch_fd(fd_);
    return true;
}

TxStatus FakeNic::transmit(const TxFrame& frame) {
    if (frame.count == 0 || frame.count > kMaxTxSegments || frame.total_len > kFrameMax) {
        ++ctr_.tx_dropped_bad_frame;
        return TxStatus::Dropped;
    }
    if (tx_.size() >= tx_ring_) {
        ++ctr_.tx_dropped_ring_full;
        want_ready_ = true;
        return TxStatus::Full;
    }
    if (frame.offload) ++tx_offload_frames_;
    if (frame.count > 1) ++tx_multi_segment_;
    last_tx_ = frame;
    have_last_ = true;
    tx_.push_back(frame);  // the pieces are read at completion, like DMA
    return TxStatus::Queued;
}

size_t FakeNic::complete_tx() {
    size_t done = 0;
    while (!tx_.empty()) {
        const TxFrame& f = tx_.front();
        uint8_t buf[kFrameMax];
        size_t len = 0;
        for (size_t i = 0; i < f.count; ++i) {
            memcpy(buf + len, f.segs[i].data, f.segs[i].len);
            len += f.segs[i].len;
        }
        if (f.offload) apply_offload(buf, len, f);
        if (!wire_closed_) {
            const ssize_t r = send(fd_, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) break;  // wire full
            if (r < 0) wire_closed_ = true;
        }
        tx_done_.push_back(f.cookie);
        tx_.pop_front();
        ++done;
    }
    return done;
}

size_t FakeNic::receive_some(size_t budget) {
    size_t n = 0;
    while (n < budget && lent_.size() < rx_limit && !wire_closed_) {
        uint8_t* buf = static_cast<uint8_t*>(malloc(kFrameMax));
        const ssize_t r = recv(fd_, buf, kFrameMax, MSG_DONTWAIT);
        if (r <= 0) {
            free(buf);
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) wire_closed_ = true;
            break;
        }
        ++n;
        if (!link_) {
            free(buf);
            continue;
        }
        RxFrame f{};
        f.data = buf;
        f.len = static_cast<uint32_t>(r);
        f.buffer = buf;
        f.checksum = RxChecksum::Unknown;
        if (offloads_ & kOffloadRxChecksum) {
            f.checksum = verify(buf, static_cast<size_t>(r));
            if (f.checksum == RxChecksum::Good) ++rx_good_;
            if (f.checksum == RxChecksum::Bad) ++rx_bad_;
        }
        lent_.insert(buf);
        if (lent_.size() > lent_max_) lent_max_ = lent_.size();
        rx_batch_.push_back(f);
    }
    return n;
}

void FakeNic::deliver() {
    delivering_ = true;
    std::vector<void*> done;
    done.swap(tx_done_);
    for (void* cookie : done) client_->tx_done(cookie);
    std::vector<RxFrame> frames;
    frames.swap(rx_batch_);
    for (const RxFrame& f : frames) {
        if (!client_->receive(f) && lent_.erase(f.buffer)) free(f.buffer);
    }
    if (want_ready_ && tx_.size() < tx_ring_) {
        want_ready_ = false;
        client_->tx_ready();
    }
    delivering_ = false;
}

size_t FakeNic::poll(size_t budget) {
    if (delivering_) {
        fprintf(stderr, "FakeNic: a pass started inside a delivery callback (nic.hpp rule 4)\n");
        abort();
    }
    const size_t tx = complete_tx();
    const size_t rx = receive_some(budget);
    deliver();
    return tx + rx;
}

bool FakeNic::poll_cb(void* self) { return static_cast<FakeNic*>(self)->poll(64) > 0; }

void FakeNic::rx_release(void* buffer) {
    auto it = lent_.find(buffer);
    if (it == lent_.end()) {
        ++bad_releases_;
        return;
    }
    lent_.erase(it);
    free(buffer);
}

bool FakeNic::add_multicast(const uint8_t mac[6]) {
    std::array<uint8_t, 6> m;
    memcpy(m.data(), mac, 6);
    mc_.push_back(m);
    return true;
}

bool FakeNic::remove_multicast(const uint8_t mac[6]) {
    for (auto it = mc_.begin(); it != mc_.end(); ++it) {
        if (memcmp(it->data(), mac, 6) == 0) {
            mc_.erase(it);
            return true;
        }
    }
    return false;
}

bool FakeNic::has_multicast(const uint8_t mac[6]) const {
    for (const auto& m : mc_)
        if (memcmp(m.data(), mac, 6) == 0) return true;
    return false;
}

void FakeNic::set_link(bool up) {
    if (link_ == up) return;
    link_ = up;
    ++ctr_.link_changes;
    if (client_) client_->link_changed(up);
}

}  // namespace net_test
