// VGA/EGA text mode (80x25 cells at 0xB8000) as a log sink: colour per log level, scrolling, and the
// hardware cursor through the CRT controller (ports 0x3D4/0x3D5). Used on BIOS boots (Multiboot1 from
// QEMU -kernel, GRUB's EGA-text framebuffer tag); never on UEFI, where there is no text mode.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/log.hpp"

namespace skerry::console {

class VgaText final : public log::Sink {
public:
    static constexpr uint64_t kPhys = 0xB8000;
    static constexpr uint16_t kCrtcIndex = 0x3D4, kCrtcData = 0x3D5;
    static constexpr uint8_t kCrtcCursorHigh = 0x0E, kCrtcCursorLow = 0x0F;
    static constexpr uint32_t kMaxCols = 255, kMaxRows = 255;

    // Attribute bytes (background << 4 | foreground).
    static constexpr uint8_t kAttrError = 0x0C;  // light red
    static constexpr uint8_t kAttrWarn = 0x0E;   // yellow
    static constexpr uint8_t kAttrInfo = 0x07;   // light grey
    static constexpr uint8_t kAttrDebug = 0x08;  // dark grey
    static uint8_t attribute(log::Level l);

    // Whether a colour VGA answers at the CRT controller: the cursor-low register must read back what was
    // written (absent hardware reads 0xFF). The register is restored.
    static bool probe();

    // Takes over the text buffer at phys (cols x rows cells), clears it and homes the cursor.
    bool init(uint64_t phys = kPhys, uint32_t cols = 80, uint32_t rows = 25);
    bool ready() const { return cells_ != nullptr; }
    uint32_t cols() const { return cols_; }
    uint32_t rows() const { return rows_; }
    uint32_t cursor_col() const { return col_; }
    uint32_t cursor_row() const { return row_; }

    void clear();
    void write(const char* s, size_t n) override { write_level(log::Level::Info, s, n); }
    void write_level(log::Level level, const char* s, size_t n) override;

private:
    void put(uint8_t ch, uint8_t attr);
    void newline();
    void scroll();
    void update_cursor();

    volatile uint16_t* cells_ = nullptr;
    uint32_t cols_ = 0, rows_ = 0;
    uint32_t col_ = 0, row_ = 0;
    uint8_t utf8_pending_ = 0;  // continuation bytes still expected in a UTF-8 sequence
};

}  // namespace skerry::console
