// A host model of an Intel 8254x / 82574L NIC for the driver's unit tests: registers at a fake BAR0, receive
// and transmit descriptor rings walked in host memory (DMA memory in host tests is host memory, so a
// "physical" address is a pointer), and a wire the test drives: inject() receives a frame, transmit()
// sends what the driver queued, set_link() pulls the cable. The model is deliberately literal: it trusts
// nothing and checks nothing the driver would not see, and exposes its rings so tests can corrupt them.
#pragma once

#include <stdint.h>

#include <array>
#include <map>
#include <utility>
#include <vector>

#include "drivers/nic/e1000/e1000.hpp"
#include "hw/hw.hpp"

namespace skerry::e1000::test {

struct ModelConfig {
    Family family = Family::I8254x;
    std::array<uint8_t, 6> mac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    bool mac_in_ral = true;  // reset loads RAL0/RAH0 (with AV) from the EEPROM
    bool eeprom_present = true;
    bool error_counters_clear = true;  // false: CRCERRS..MPC, collisions, RLEC, RNBC keep counting (QEMU's e1000)
};

struct ModelRxOptions {
    uint8_t status = 0;  // extra status bits (IXSM, IPCS, TCPCS, UDPCS)
    uint8_t errors = 0;  // error bits
    int length = -1;     // written-back length instead of the real one (faulty device)
    bool eop = true;     // false: written back without EOP
};

struct ModelTxFrame {
    std::vector<uint8_t> bytes;
    int descriptors = 0;      // data descriptors used
    bool extended = false;    // extended data descriptors (DEXT)
    uint32_t popts = 0;       // POPTS bits of the first data descriptor (IXSM 1, TXSM 2): what the device uses
    uint32_t popts_last = 0;  // ... of the last one (what QEMU's e1000e uses)
    bool ifcs = false;
};

class E1000Model : public hw::Model {
public:
    static constexpr uint64_t kBar = 0xFEB80000;
    static constexpr uint64_t kBarSize = 0x20000;

    using Config = ModelConfig;

    E1000Model() : E1000Model(Config{}) {}
    explicit E1000Model(const Config& c);

    // hw::Model
    uint32_t port_in(uint16_t port, int width) override;               // PCI configuration: all ones
    void port_out(uint16_t port, uint32_t value, int width) override;  // ignored
    uint64_t mmio_read(uint64_t phys, int width) override;
    void mmio_write(uint64_t phys, uint64_t value, int width) override;
    void* phys_to_host(uint64_t phys, size_t len) override;

    // Registers without side effects.
    uint32_t reg(uint32_t off) const { return regs_[off / 4]; }
    void set_reg(uint32_t off, uint32_t v) { regs_[off / 4] = v; }
    // Every register write the driver made, in order.
    std::vector<std::pair<uint32_t, uint32_t>> writes;
    size_t count_writes(uint32_t off) const;
    int resets = 0;
    uint16_t eeprom[64] = {};

    // ---- the wire
    using RxOptions = ModelRxOptions;
    // The device receives a frame: DMA into the descriptor at RDH, write back, advance RDH, raise causes.
    // False when it was missed (receive off, or no descriptor: MPC and RXO).
    bool inject(const std::vector<uint8_t>& frame, const RxOptions& o = RxOptions{});
    uint64_t missed = 0;

    using TxFrameSeen = ModelTxFrame;
    // The device sends everything between TDH and TDT (applying checksum offload as a context says),
    // writes DD back where RS asks, raises TXDW. Returns the frames sent.
    std::vector<TxFrameSeen> transmit();
    int context_descriptors = 0;

    // Link state: STATUS.LU / speed / duplex, and LSC when it changes.
    void set_link(bool up, uint32_t speed_code = 2, bool full_duplex = true);

    // A broken device: CTRL.RST stays set after a reset request (the driver's reset then fails).
    bool stuck_in_reset = false;

    bool irq_pending() const { return (reg(reg::kIcr) & reg(reg::kIms)) != 0; }
    void raise(uint32_t causes) { regs_[reg::kIcr / 4] |= causes; }

    // Ring access for tests that play a faulty device.
    RxDesc* rx_desc(uint32_t index);
    TxDesc* tx_desc(uint32_t index);
    uint32_t rx_ring_size() const { return reg(reg::kRdlen) / 16; }
    uint32_t tx_ring_size() const { return reg(reg::kTdlen) / 16; }
    // Descriptors the driver has given the device and the device has not used.
    uint32_t rx_available() const;

private:
    void reset();
    void count_stat(uint32_t off, uint64_t n = 1);
    std::vector<uint32_t> regs_;
    Config cfg_;
    struct Context {
        uint32_t ipcss = 0, ipcso = 0, ipcse = 0, tucss = 0, tucso = 0, tucse = 0;
    } ctx_;
};

// The Internet checksum (RFC 1071) over bytes, as a big-endian 16-bit sum (not complemented).
uint32_t ones_sum(const uint8_t* p, size_t n, uint32_t sum = 0);
uint16_t fold(uint32_t sum);

}  // namespace skerry::e1000::test
