// 16550-compatible UART (COM1 at 0x3F8 on PCs) as a log sink: 115200 8N1, polled, no interrupts.
//
// init() checks the port with the UART's loopback mode; when nothing answers (no COM1, as on Hyper-V Gen2
// without a configured COM port, or many UEFI machines) the port is marked absent and every write is a
// no-op, so logging never waits on missing hardware. Transmission polls LSR.THRE with a bounded spin; a
// UART that stays busy through several spins in a row is given up on (stuck()).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/log.hpp"

namespace skerry::console {

class Serial16550 final : public log::Sink {
public:
    static constexpr uint16_t kCom1 = 0x3F8;
    static constexpr uint32_t kClockHz = 115200;  // UART input clock / 16: the divisor for baud b is this / b

    // Register offsets from the base port.
    enum Reg : uint16_t { RBR_THR_DLL = 0, IER_DLM = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
    static constexpr uint8_t kLcrDlab = 0x80, kLcr8N1 = 0x03;
    static constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02, kFcrClearTx = 0x04, kFcrTrigger14 = 0xC0;
    static constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
    static constexpr uint8_t kLsrDataReady = 0x01, kLsrThre = 0x20;
    static constexpr uint8_t kLoopbackPattern = 0xAE;

    static constexpr uint32_t kSpinLimit = 100000;  // LSR polls per byte before giving up (~0.1 s or more)
    static constexpr uint32_t kStuckAfter = 3;      // consecutive timeouts before the port is abandoned

    // Programs the UART and runs the loopback self-test. Returns present().
    bool init(uint16_t base = kCom1, uint32_t baud = 115200);
    bool present() const { return present_; }
    bool stuck() const { return stuck_; }
    bool fifo() const { return fifo_size_ > 1; }
    uint16_t base() const { return base_; }
    uint64_t timeouts() const { return timeouts_; }

    // log::Sink: '\n' goes out as "\r\n". Nothing happens when the port is absent or stuck.
    void write(const char* s, size_t n) override;
    void put(uint8_t byte);
    // Non-blocking: the next received byte, or -1 when none is waiting (or the port is absent).
    int read_byte();

private:
    bool wait_thre();
    uint8_t in(uint16_t reg) const;
    void out(uint16_t reg, uint8_t v) const;

    uint16_t base_ = kCom1;
    bool present_ = false;
    bool stuck_ = false;
    uint32_t fifo_size_ = 1;  // bytes the transmitter takes after THRE (16 with the FIFO enabled)
    uint32_t room_ = 0;       // bytes we may still write before polling THRE again
    uint32_t consecutive_timeouts_ = 0;
    uint64_t timeouts_ = 0;
};

}  // namespace skerry::console
