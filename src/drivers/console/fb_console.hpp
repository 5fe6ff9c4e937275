// Text console on a linear RGB framebuffer (UEFI GOP, Hyper-V Gen2, a VBE mode from GRUB): 8xN bitmap font,
// colour per log level, 32, 24 or 16 bits per pixel with the channel layout from the boot information.
//
// The console keeps the text in two cell arrays: what should be on screen and what is. Writing only changes
// the first; at the end of each write() the cells that differ are drawn. Scrolling therefore moves cells in
// RAM and never reads the framebuffer (which is slow when it is uncached or write-combining), a write of
// many lines costs one redraw ("jump scroll"), and blank cells that stay blank cost nothing. hold() defers
// the redraw further (the early-log replay).
//
// Large screens scale the font by an integer factor so the text stays readable and fits the cell arrays.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "boot/bootinfo.hpp"
#include "drivers/console/font.hpp"
#include "kernel/log.hpp"

namespace skerry::console {

class FbConsole final : public log::Sink {
public:
    static constexpr uint32_t kMaxCols = 240, kMaxRows = 100;

    struct Rgb {
        uint8_t r, g, b;
    };
    static constexpr Rgb kBackground{0x00, 0x00, 0x00};
    static Rgb color(log::Level l);  // the text colour of a level

    // Takes over the framebuffer and clears it. Fails for anything but an RGB framebuffer with 16, 24 or
    // 32 bits per pixel, a font that is not 8 pixels wide, or memory hw::phys_to_virt cannot reach.
    bool init(const boot::Framebuffer& fb, const Font& font);
    bool ready() const { return fb_ != nullptr; }

    uint32_t cols() const { return cols_; }
    uint32_t rows() const { return rows_; }
    uint32_t scale() const { return scale_; }
    uint32_t cursor_col() const { return col_; }
    uint32_t cursor_row() const { return row_; }
    // The code point shown in a cell (0x20..0xFF; 0x7F marks a replacement glyph), for tests.
    uint8_t char_at(uint32_t col, uint32_t row) const;
    uint64_t cells_drawn() const { return cells_drawn_; }

    // Pixel value of a colour in this framebuffer's format.
    uint32_t pack(Rgb c) const;

    void clear();
    void write(const char* s, size_t n) override { write_level(log::Level::Info, s, n); }
    void write_level(log::Level level, const char* s, size_t n) override;

    // While held, writes only update the cells; release (hold(false)) draws everything that changed.
    void hold(bool on);
    void flush();

private:
    static constexpr uint8_t kReplacement = 0x7F;  // cell code for "no glyph"
    void put(uint8_t code, uint8_t color);
    void put_codepoint(uint32_t cp, uint8_t color);
    void newline();
    void draw_cell(uint32_t col, uint32_t row, uint16_t cell);
    void fill_rect(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t pixel);
    void store_pixel(volatile uint8_t* p, uint32_t pixel);

    volatile uint8_t* fb_ = nullptr;
    const Font* font_ = nullptr;
    uint32_t width_ = 0, height_ = 0, pitch_ = 0, bytes_pp_ = 0;
    boot::ColorField red_{}, green_{}, blue_{};
    uint32_t scale_ = 1, cell_w_ = 8, cell_h_ = 16;
    uint32_t cols_ = 0, rows_ = 0;
    uint32_t col_ = 0, row_ = 0;
    uint32_t fg_[4] = {};  // pixel value per level
    uint32_t bg_ = 0;
    bool fast32_ = false;  // 32 bpp, aligned: whole rows written as plain 32-bit stores (vectorizable)
    bool held_ = false;
    uint32_t utf8_cp_ = 0;
    uint8_t utf8_pending_ = 0;
    uint64_t cells_drawn_ = 0;

    // Cell = code (low byte) | level colour (high byte); a blank is always 0x0020 whatever its colour.
    uint16_t want_[kMaxCols * kMaxRows];
    uint16_t shown_[kMaxCols * kMaxRows];
};

}  // namespace skerry::console
