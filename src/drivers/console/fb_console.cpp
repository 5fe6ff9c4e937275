// Framebuffer text console. See fb_console.hpp.
#include "drivers/console/fb_console.hpp"

#include <string.h>

#include "hw/hw.hpp"

namespace skerry::console {
namespace {
constexpr uint16_t kBlank = 0x0020;

bool field_ok(boot::ColorField f, uint32_t bpp) { return f.size >= 1 && f.size <= 16 && f.position + f.size <= bpp; }

uint32_t scale_channel(uint8_t v, boot::ColorField f) {
    uint32_t x = f.size <= 8 ? static_cast<uint32_t>(v) >> (8 - f.size) : static_cast<uint32_t>(v) << (f.size - 8);
    return x << f.position;
}
}  // namespace

FbConsole::Rgb FbConsole::color(log::Level l) {
    switch (l) {
    case log::Level::Error: return {0xFF, 0x55, 0x55};
    case log::Level::Warn: return {0xFF, 0xFF, 0x55};
    case log::Level::Info: return {0xC0, 0xC0, 0xC0};
    case log::Level::Debug: return {0x80, 0x80, 0x80};
    }
    return {0xC0, 0xC0, 0xC0};
}

uint32_t FbConsole::pack(Rgb c) const {
    return scale_channel(c.r, red_) | scale_channel(c.g, green_) | scale_channel(c.b, blue_);
}

bool FbConsole::init(const boot::Framebuffer& fb, const Font& font) {
    fb_ = nullptr;
    if (fb.type != boot::FramebufferType::Rgb) return false;
    if (fb.bpp != 16 && fb.bpp != 24 && fb.bpp != 32) return false;
    if (!field_ok(fb.red, fb.bpp) || !field_ok(fb.green, fb.bpp) || !field_ok(fb.blue, fb.bpp)) return false;
    if (font.width != 8 || font.height == 0 || !font.glyphs || !font.replacement) return false;
    const uint32_t bytes_pp = fb.bpp / 8u;
    if (fb.width == 0 || fb.height == 0 || fb.width > 65536 || fb.height > 65536) return false;
    if (static_cast<uint64_t>(fb.pitch) < static_cast<uint64_t>(fb.width) * bytes_pp) return false;

    uint32_t s = 1;
    while (fb.width / (8 * s) > kMaxCols || fb.height / (font.height * s) > kMaxRows) ++s;
    const uint32_t cols = fb.width / (8 * s), rows = fb.height / (font.height * s);
    if (cols == 0 || rows == 0) return false;

    void* p = hw::phys_to_virt(fb.phys, static_cast<size_t>(fb.pitch) * fb.height);
    if (!p) return false;

    font_ = &font;
    width_ = fb.width;
    height_ = fb.height;
    pitch_ = fb.pitch;
    bytes_pp_ = bytes_pp;
    red_ = fb.red;
    green_ = fb.green;
    blue_ = fb.blue;
    scale_ = s;
    cell_w_ = 8 * s;
    cell_h_ = font.height * s;
    cols_ = cols;
    rows_ = rows;
    for (int l = 0; l < 4; ++l) fg_[l] = pack(color(static_cast<log::Level>(l)));
    bg_ = pack(kBackground);
    held_ = false;
    utf8_pending_ = 0;
    cells_drawn_ = 0;
    fast32_ = bytes_pp == 4 && fb.pitch % 4 == 0 && (reinterpret_cast<uintptr_t>(p) & 3) == 0;
    fb_ = static_cast<volatile uint8_t*>(p);
    clear();
    return true;
}

uint8_t FbConsole::char_at(uint32_t col, uint32_t row) const {
    if (col >= cols_ || row >= rows_) return 0;
    return static_cast<uint8_t>(want_[row * cols_ + col] & 0xFF);
}

void FbConsole::store_pixel(volatile uint8_t* p, uint32_t pixel) {
    switch (bytes_pp_) {
    case 4: *reinterpret_cast<volatile uint32_t*>(p) = pixel; break;
    case 2: *reinterpret_cast<volatile uint16_t*>(p) = static_cast<uint16_t>(pixel); break;
    default:
        p[0] = static_cast<uint8_t>(pixel);
        p[1] = static_cast<uint8_t>(pixel >> 8);
        p[2] = static_cast<uint8_t>(pixel >> 16);
        break;
    }
}

void FbConsole::fill_rect(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t pixel) {
    if (fast32_) {
        const uint32_t x_end = x + w < width_ ? x + w : width_;
        for (uint32_t yy = y; yy < y + h && yy < height_; ++yy) {
            uint32_t* line = reinterpret_cast<uint32_t*>(const_cast<uint8_t*>(fb_) + static_cast<size_t>(yy) * pitch_);
            for (uint32_t xx = x; xx < x_end; ++xx) line[xx] = pixel;
        }
        return;
    }
    for (uint32_t yy = y; yy < y + h && yy < height_; ++yy) {
        volatile uint8_t* line = fb_ + static_cast<size_t>(yy) * pitch_;
        for (uint32_t xx = x; xx < x + w && xx < width_; ++xx)
            store_pixel(line + static_cast<size_t>(xx) * bytes_pp_, pixel);
    }
}

void FbConsole::clear() {
    if (!fb_) return;
    fill_rect(0, 0, width_, height_, bg_);
    for (uint32_t i = 0; i < cols_ * rows_; ++i) want_[i] = shown_[i] = kBlank;
    col_ = row_ = 0;
}

void FbConsole::draw_cell(uint32_t col, uint32_t row, uint16_t cell) {
    ++cells_drawn_;
    const uint32_t x0 = col * cell_w_, y0 = row * cell_h_;
    const uint8_t code = static_cast<uint8_t>(cell & 0xFF);
    if (code == ' ') {
        fill_rect(x0, y0, cell_w_, cell_h_, bg_);
        return;
    }
    const uint8_t* glyph = code == kReplacement ? font_->replacement : font_->glyph(code);
    const uint32_t fg = fg_[(cell >> 8) & 3];
    if (fast32_ && scale_ == 1) {  // the common case (GOP is 32 bpp): whole glyph rows of pixels
        for (uint32_t gy = 0; gy < font_->height; ++gy) {
            const uint8_t bits = glyph[gy];
            uint32_t* p = reinterpret_cast<uint32_t*>(
                const_cast<uint8_t*>(fb_) + static_cast<size_t>(y0 + gy) * pitch_ + static_cast<size_t>(x0) * 4);
            for (uint32_t gx = 0; gx < 8; ++gx) p[gx] = (bits & (0x80u >> gx)) ? fg : bg_;
        }
        return;
    }
    for (uint32_t gy = 0; gy < font_->height; ++gy) {
        const uint8_t bits = glyph[gy];
        for (uint32_t sy = 0; sy < scale_; ++sy) {
            volatile uint8_t* p = fb_ + static_cast<size_t>(y0 + gy * scale_ + sy) * pitch_ +
                                  static_cast<size_t>(x0) * bytes_pp_;
            for (uint32_t gx = 0; gx < 8; ++gx) {
                const uint32_t pixel = (bits & (0x80u >> gx)) ? fg : bg_;
                for (uint32_t sx = 0; sx < scale_; ++sx, p += bytes_pp_) store_pixel(p, pixel);
            }
        }
    }
}

void FbConsole::flush() {
    if (!fb_ || held_) return;
    const uint32_t n = cols_ * rows_;
    for (uint32_t i = 0; i < n; ++i) {
        const uint16_t c = want_[i];
        if (c != shown_[i]) {
            draw_cell(i % cols_, i / cols_, c);
            shown_[i] = c;
        }
    }
}

void FbConsole::hold(bool on) {
    held_ = on;
    if (!on) flush();
}

void FbConsole::newline() {
    col_ = 0;
    if (row_ + 1 < rows_) {
        ++row_;
        return;
    }
    row_ = rows_ - 1;
    memmove(want_, want_ + cols_, sizeof(uint16_t) * cols_ * (rows_ - 1));
    for (uint32_t i = cols_ * (rows_ - 1); i < cols_ * rows_; ++i) want_[i] = kBlank;
}

void FbConsole::put(uint8_t code, uint8_t color) {
    if (col_ >= cols_) newline();
    if (row_ >= rows_) row_ = rows_ - 1;  // tolerate re-entry from the fatal path
    want_[row_ * cols_ + col_] = code == ' ' ? kBlank : static_cast<uint16_t>(code | (color << 8));
    ++col_;
}

void FbConsole::put_codepoint(uint32_t cp, uint8_t color) {
    put(cp >= 0xA0 && cp <= 0xFF ? static_cast<uint8_t>(cp) : kReplacement, color);
}

void FbConsole::write_level(log::Level level, const char* s, size_t n) {
    if (!fb_) return;
    const uint8_t color = static_cast<uint8_t>(level) & 3;
    for (size_t i = 0; i < n; ++i) {
        const uint8_t c = static_cast<uint8_t>(s[i]);
        if (utf8_pending_) {
            if ((c & 0xC0) == 0x80) {
                utf8_cp_ = (utf8_cp_ << 6) | (c & 0x3F);
                if (--utf8_pending_ == 0) put_codepoint(utf8_cp_, color);
                continue;
            }
            utf8_pending_ = 0;  // a cut sequence: show it as one replacement, then take c afresh
            put(kReplacement, color);
        }
        if (c >= 0x80) {
            if (c >= 0xC2 && c <= 0xDF) {
                utf8_pending_ = 1;
                utf8_cp_ = c & 0x1F;
            } else if (c >= 0xE0 && c <= 0xEF) {
                utf8_pending_ = 2;
                utf8_cp_ = c & 0x0F;
            } else if (c >= 0xF0 && c <= 0xF4) {
                utf8_pending_ = 3;
                utf8_cp_ = c & 0x07;
            } else {
                put(kReplacement, color);
            }
            continue;
        }
        switch (c) {
        case '\n': newline(); break;
        case '\r': col_ = 0; break;
        case '\t':
            do put(' ', color);
            while (col_ % 8 != 0 && col_ < cols_);
            break;
        default:
            if (c >= 0x20 && c < 0x7F) put(c, color);
            break;
        }
    }
    flush();
}

}  // namespace skerry::console
