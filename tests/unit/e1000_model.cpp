// The e1000 device model (see e1000_model.hpp).
#include "e1000_model.hpp"

#include <string.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace skerry::e1000::test {

uint32_t ones_sum(const uint8_t* p, size_t n, uint32_t sum) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
    if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
    return sum;
}

uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

E1000Model::E1000Model(const Config& c) : regs_(kBarSize / 4, 0), cfg_(c) {
    if (cfg_.eeprom_present) {
        for (int w = 0; w < 3; ++w) eeprom[w] = static_cast<uint16_t>(cfg_.mac[2 * w] | cfg_.mac[2 * w + 1] << 8);
    }
    reset();
    resets = 0;
}

void E1000Model::reset() {
    std::fill(regs_.begin(), regs_.end(), 0);
    set_reg(reg::kStatus, reg::kStatusLu | reg::kStatusFd | (2u << reg::kStatusSpeedShift));
    set_reg(reg::kCtrl, reg::kCtrlSlu | reg::kCtrlFd);
    set_reg(reg::kEecd, reg::kEecdAutoRd);
    if (cfg_.mac_in_ral) {
        const auto& m = cfg_.mac;
        set_reg(reg::kRal0, static_cast<uint32_t>(m[0] | m[1] << 8 | m[2] << 16) | static_cast<uint32_t>(m[3]) << 24);
        set_reg(reg::kRah0, static_cast<uint32_t>(m[4] | m[5] << 8) | reg::kRahAv);
    }
    ctx_ = Context{};
    ++resets;
}

size_t E1000Model::count_writes(uint32_t off) const {
    return static_cast<size_t>(
        std::count_if(writes.begin(), writes.end(), [off](const auto& w) { return w.first == off; }));
}

uint32_t E1000Model::port_in(uint16_t, int) { return ~0u; }
void E1000Model::port_out(uint16_t, uint32_t, int) {}

void* E1000Model::phys_to_host(uint64_t phys, size_t) {
    return reinterpret_cast<void*>(static_cast<uintptr_t>(phys));  // dma_host.cpp: physical == host address
}

uint64_t E1000Model::mmio_read(uint64_t phys, int width) {
    if (phys < kBar || phys >= kBar + kBarSize) return ~0ull;  // e.g. configuration space through ECAM
    const uint32_t off = static_cast<uint32_t>(phys - kBar);
    if (width != 4 || (off & 3)) {
        std::fprintf(stderr, "e1000 model: %d-byte read at 0x%x\n", width, off);
        std::abort();
    }
    const uint32_t v = reg(off);
    if (off == reg::kIcr) {
        set_reg(reg::kIcr, 0);  // read to clear
    } else if (off == reg::kEerd) {
        if (!(v & reg::kEerdStart) || cfg_.family == Family::I82544 || !cfg_.eeprom_present) return v & ~0xFFFF0012u;
        const bool i74 = cfg_.family == Family::I82574;
        const uint32_t addr = i74 ? (v >> reg::kEerdAddrShift82574) & 0x3FFF : (v >> reg::kEerdAddrShift8254x) & 0xFF;
        const uint16_t data = addr < 64 ? eeprom[addr] : 0;
        return (v & 0xFFFF) | (i74 ? reg::kEerdDone82574 : reg::kEerdDone8254x) |
               (static_cast<uint32_t>(data) << reg::kEerdDataShift);
    } else if (off >= 0x4000 && off < 0x4100) {
        const bool error_counter = off <= reg::kMpc || off == reg::kEcol || off == reg::kLatecol || off == reg::kColc ||
                                   off == reg::kRlec || off == reg::kRnbc;
        if (cfg_.error_counters_clear || !error_counter) set_reg(off, 0);  // statistics: read to clear
    }
    return v;
}

void E1000Model::mmio_write(uint64_t phys, uint64_t value, int width) {
    if (phys < kBar || phys >= kBar + kBarSize) return;
    const uint32_t off = static_cast<uint32_t>(phys - kBar);
    if (width != 4 || (off & 3)) {
        std::fprintf(stderr, "e1000 model: %d-byte write at 0x%x\n", width, off);
        std::abort();
    }
    const uint32_t v = static_cast<uint32_t>(value);
    writes.emplace_back(off, v);
    switch (off) {
    case reg::kCtrl:
        if (v & reg::kCtrlRst) {
            if (stuck_in_reset) {
                set_reg(off, v);  // never comes out of reset
                return;
            }
            reset();
            return;
        }
        set_reg(off, v);
        return;
    case reg::kStatus: return;  // read only
    case reg::kIcr: set_reg(off, reg(off) & ~v); return;
    case reg::kIcs: raise(v); return;
    case reg::kIms: set_reg(off, reg(off) | v); return;
    case reg::kImc: set_reg(reg::kIms, reg(reg::kIms) & ~v); return;
    default: set_reg(off, v); return;
    }
}

RxDesc* E1000Model::rx_desc(uint32_t index) {
    const uint64_t base = static_cast<uint64_t>(reg(reg::kRdbah)) << 32 | reg(reg::kRdbal);
    return static_cast<RxDesc*>(phys_to_host(base + 16ull * index, 16));
}

TxDesc* E1000Model::tx_desc(uint32_t index) {
    const uint64_t base = static_cast<uint64_t>(reg(reg::kTdbah)) << 32 | reg(reg::kTdbal);
    return static_cast<TxDesc*>(phys_to_host(base + 16ull * index, 16));
}

uint32_t E1000Model::rx_available() const {
    const uint32_t n = rx_ring_size(), h = reg(reg::kRdh), t = reg(reg::kRdt);
    if (!n || h >= n || t >= n) return 0;
    return (t + n - h) % n;
}

void E1000Model::count_stat(uint32_t off, uint64_t n) { set_reg(off, reg(off) + static_cast<uint32_t>(n)); }

bool E1000Model::inject(const std::vector<uint8_t>& frame, const RxOptions& o) {
    if (!(reg(reg::kRctl) & reg::kRctlEn) || !(reg(reg::kStatus) & reg::kStatusLu)) return false;
    const uint32_t n = rx_ring_size(), h = reg(reg::kRdh);
    if (rx_available() == 0) {
        ++missed;
        count_stat(reg::kMpc);
        count_stat(reg::kRnbc);
        raise(reg::kIntRxo);
        return false;
    }
    RxDesc* d = rx_desc(h);
    const bool strip = reg(reg::kRctl) & reg::kRctlSecrc;
    std::vector<uint8_t> bytes = frame;
    if (!strip) bytes.insert(bytes.end(), 4, 0xEE);  // a made-up FCS
    const size_t copy = std::min<size_t>(bytes.size(), Driver::kBufferSize);
    memcpy(phys_to_host(d->addr, copy), bytes.data(), copy);
    d->length = static_cast<uint16_t>(o.length >= 0 ? o.length : static_cast<int>(copy));
    d->csum = 0;
    d->errors = o.errors;
    d->special = 0;
    d->status = static_cast<uint8_t>(kRxStaDd | (o.eop ? kRxStaEop : 0) | o.status);
    set_reg(reg::kRdh, (h + 1) % n);
    count_stat(reg::kGprc);
    count_stat(reg::kTpr);
    count_stat(reg::kGorcl, bytes.size());
    uint32_t causes = reg::kIntRxt0;
    if (rx_available() <= n / 2) causes |= reg::kIntRxdmt0;  // RDMTS 0: half the ring
    raise(causes);
    return true;
}

std::vector<E1000Model::TxFrameSeen> E1000Model::transmit() {
    std::vector<TxFrameSeen> out;
    const uint32_t n = tx_ring_size();
    if (!(reg(reg::kTctl) & reg::kTctlEn) || n == 0) return out;
    TxFrameSeen cur;
    bool in_frame = false;
    uint32_t causes = reg::kIntTxqe;
    for (uint32_t steps = 0; steps < n && reg(reg::kTdh) != reg(reg::kTdt); ++steps) {
        const uint32_t h = reg(reg::kTdh);
        if (h >= n) break;
        TxDesc* d = tx_desc(h);
        const bool dext = d->lower & kTxCmdDext;
        const uint32_t dtyp = (d->lower >> 20) & 0xF;
        if (dext && dtyp == 0) {  // context
            ++context_descriptors;
            ctx_.ipcss = d->addr & 0xFF;
            ctx_.ipcso = (d->addr >> 8) & 0xFF;
            ctx_.ipcse = (d->addr >> 16) & 0xFFFF;
            ctx_.tucss = (d->addr >> 32) & 0xFF;
            ctx_.tucso = (d->addr >> 40) & 0xFF;
            ctx_.tucse = (d->addr >> 48) & 0xFFFF;
        } else {
            const uint32_t len = dext ? d->lower & 0xFFFFF : d->lower & 0xFFFF;
            if (!in_frame) {
                cur = TxFrameSeen{};
                cur.extended = dext;
                cur.popts = dext ? (d->upper >> 8) & 0xFF : 0;
                in_frame = true;
            }
            const uint8_t* src = static_cast<const uint8_t*>(phys_to_host(d->addr, len));
            cur.bytes.insert(cur.bytes.end(), src, src + len);
            ++cur.descriptors;
            cur.popts_last = dext ? (d->upper >> 8) & 0xFF : 0;
            if (d->lower & kTxCmdEop) {
                cur.ifcs = d->lower & kTxCmdIfcs;
                auto put = [&](uint32_t css, uint32_t cso, uint32_t cse) {
                    size_t end = cur.bytes.size();
                    if (cse && cse + 1 < end) end = cse + 1;
                    if (cso + 2 > cur.bytes.size() || css >= end) return;
                    const uint16_t sum = static_cast<uint16_t>(~fold(ones_sum(cur.bytes.data() + css, end - css)));
                    cur.bytes[cso] = static_cast<uint8_t>(sum >> 8);
                    cur.bytes[cso + 1] = static_cast<uint8_t>(sum);
                };
                if (cur.popts & 2) put(ctx_.tucss, ctx_.tucso, ctx_.tucse);
                if (cur.popts & 1) put(ctx_.ipcss, ctx_.ipcso, ctx_.ipcse);
                count_stat(reg::kGptc);
                count_stat(reg::kTpt);
                count_stat(reg::kGotcl, cur.bytes.size());
                out.push_back(cur);
                in_frame = false;
            }
        }
        if (d->lower & kTxCmdRs) {
            d->upper |= kTxStaDd;
            causes |= reg::kIntTxdw;
        }
        set_reg(reg::kTdh, (h + 1) % n);
    }
    raise(causes);
    return out;
}

void E1000Model::set_link(bool up, uint32_t speed_code, bool full_duplex) {
    uint32_t s = reg(reg::kStatus) & ~(reg::kStatusLu | reg::kStatusFd | reg::kStatusSpeedMask);
    if (up) s |= reg::kStatusLu | (full_duplex ? reg::kStatusFd : 0) | (speed_code << reg::kStatusSpeedShift);
    set_reg(reg::kStatus, s);
    raise(reg::kIntLsc);
}

}  // namespace skerry::e1000::test
