// 16550 UART driver: polled output for the log, non-blocking input. See serial16550.hpp.
#include "drivers/console/serial16550.hpp"

#include "hw/hw.hpp"

namespace skerry::console {

uint8_t Serial16550::in(uint16_t reg) const { return hw::inb(static_cast<uint16_t>(base_ + reg)); }
void Serial16550::out(uint16_t reg, uint8_t v) const { hw::outb(static_cast<uint16_t>(base_ + reg), v); }

bool Serial16550::init(uint16_t base, uint32_t baud) {
    base_ = base;
    present_ = false;
    stuck_ = false;
    room_ = 0;
    consecutive_timeouts_ = 0;
    timeouts_ = 0;

    // No device on the bus reads as all ones; a real LSR never has every bit set at once.
    if (in(LSR) == 0xFF) return false;

    uint32_t divisor = baud ? kClockHz / baud : 1;
    if (divisor == 0) divisor = 1;
    if (divisor > 0xFFFF) divisor = 0xFFFF;

    out(IER_DLM, 0x00);  // no interrupts
    out(LCR, kLcrDlab);
    out(RBR_THR_DLL, static_cast<uint8_t>(divisor & 0xFF));
    out(IER_DLM, static_cast<uint8_t>(divisor >> 8));
    out(LCR, kLcr8N1);  // 8 data bits, no parity, 1 stop bit; DLAB off
    out(IIR_FCR, kFcrEnable | kFcrClearRx | kFcrClearTx | kFcrTrigger14);
    // IIR bits 7:6 read 11 when the FIFOs are enabled (a 16550A or later); an 8250/16450 has none.
    fifo_size_ = (in(IIR_FCR)&0xC0) == 0xC0 ? 16 : 1;

    // Loopback self-test: what we transmit must come back on the receive side.
    out(MCR, kMcrLoop | kMcrRts | kMcrOut1 | kMcrOut2);
    out(RBR_THR_DLL, kLoopbackPattern);
    bool ok = false;
    for (uint32_t spin = 0; spin < 1000; ++spin) {
        uint8_t lsr = in(LSR);
        if (lsr == 0xFF) break;
        if (lsr & kLsrDataReady) {
            ok = in(RBR_THR_DLL) == kLoopbackPattern;
            break;
        }
        hw::pause();
    }
    if (!ok) {
        out(MCR, 0x00);
        return false;
    }

    out(MCR, kMcrDtr | kMcrRts | kMcrOut1 | kMcrOut2);  // normal operation
    // Drop anything left in the receiver (bounded, so a noisy line cannot keep us here).
    for (int i = 0; i < 64 && (in(LSR)&kLsrDataReady); ++i) (void)in(RBR_THR_DLL);
    present_ = true;
    return true;
}

bool Serial16550::wait_thre() {
    for (uint32_t spin = 0; spin < kSpinLimit; ++spin) {
        if (in(LSR)&kLsrThre) {
            consecutive_timeouts_ = 0;
            room_ = fifo_size_;
            return true;
        }
        hw::pause();
    }
    ++timeouts_;
    if (++consecutive_timeouts_ >= kStuckAfter) stuck_ = true;
    return false;
}

void Serial16550::put(uint8_t byte) {
    if (!present_ || stuck_) return;
    if (room_ == 0 && !wait_thre()) return;  // a byte that cannot be sent is dropped
    out(RBR_THR_DLL, byte);
    --room_;
}

void Serial16550::write(const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (!present_ || stuck_) return;
        if (s[i] == '\n') put('\r');
        put(static_cast<uint8_t>(s[i]));
    }
}

int Serial16550::read_byte() {
    if (!present_) return -1;
    uint8_t lsr = in(LSR);
    if (lsr == 0xFF || !(lsr & kLsrDataReady)) return -1;
    return in(RBR_THR_DLL);
}

}  // namespace skerry::console
