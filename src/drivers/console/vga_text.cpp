// VGA text-mode console. See vga_text.hpp.
#include "drivers/console/vga_text.hpp"

#include "hw/hw.hpp"

namespace skerry::console {
namespace {
constexpr uint8_t kReplacementChar = '?';  // for non-ASCII text (the font is code page 437, not Unicode)
constexpr uint16_t cell(uint8_t ch, uint8_t attr) { return static_cast<uint16_t>(ch | (attr << 8)); }
}  // namespace

uint8_t VgaText::attribute(log::Level l) {
    switch (l) {
    case log::Level::Error: return kAttrError;
    case log::Level::Warn: return kAttrWarn;
    case log::Level::Info: return kAttrInfo;
    case log::Level::Debug: return kAttrDebug;
    }
    return kAttrInfo;
}

bool VgaText::probe() {
    uint8_t saved_index = hw::inb(kCrtcIndex);
    hw::outb(kCrtcIndex, kCrtcCursorLow);
    uint8_t saved = hw::inb(kCrtcData);
    bool ok = true;
    static constexpr uint8_t kPatterns[] = {0x5A, 0xA5};
    for (uint8_t pattern : kPatterns) {
        hw::outb(kCrtcData, pattern);
        if (hw::inb(kCrtcData) != pattern) ok = false;
    }
    hw::outb(kCrtcData, saved);
    hw::outb(kCrtcIndex, saved_index);
    return ok;
}

bool VgaText::init(uint64_t phys, uint32_t cols, uint32_t rows) {
    cells_ = nullptr;
    if (cols == 0 || rows == 0 || cols > kMaxCols || rows > kMaxRows) return false;
    void* p = hw::phys_to_virt(phys, static_cast<size_t>(cols) * rows * 2);
    if (!p) return false;
    cells_ = static_cast<volatile uint16_t*>(p);
    cols_ = cols;
    rows_ = rows;
    utf8_pending_ = 0;
    clear();
    return true;
}

void VgaText::clear() {
    if (!cells_) return;
    for (uint32_t i = 0; i < cols_ * rows_; ++i) cells_[i] = cell(' ', kAttrInfo);
    col_ = row_ = 0;
    update_cursor();
}

void VgaText::update_cursor() {
    uint32_t pos = row_ * cols_ + col_;
    hw::outb(kCrtcIndex, kCrtcCursorHigh);
    hw::outb(kCrtcData, static_cast<uint8_t>(pos >> 8));
    hw::outb(kCrtcIndex, kCrtcCursorLow);
    hw::outb(kCrtcData, static_cast<uint8_t>(pos & 0xFF));
}

void VgaText::scroll() {
    const uint32_t n = cols_ * (rows_ - 1);
    for (uint32_t i = 0; i < n; ++i) cells_[i] = cells_[i + cols_];
    for (uint32_t i = n; i < n + cols_; ++i) cells_[i] = cell(' ', kAttrInfo);
}

void VgaText::newline() {
    col_ = 0;
    if (row_ + 1 < rows_) {
        ++row_;
    } else {
        row_ = rows_ - 1;
        scroll();
    }
}

void VgaText::put(uint8_t ch, uint8_t attr) {
    if (col_ >= cols_) newline();
    if (row_ >= rows_) row_ = rows_ - 1;  // tolerate re-entry from the fatal path
    cells_[row_ * cols_ + col_] = cell(ch, attr);
    ++col_;
}

void VgaText::write_level(log::Level level, const char* s, size_t n) {
    if (!cells_) return;
    const uint8_t attr = attribute(level);
    for (size_t i = 0; i < n; ++i) {
        const uint8_t c = static_cast<uint8_t>(s[i]);
        if (c >= 0x80) {  // UTF-8: one replacement character per sequence
            if (c >= 0xC0) {
                utf8_pending_ = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
                put(kReplacementChar, attr);
            } else if (utf8_pending_) {
                --utf8_pending_;
            } else {
                put(kReplacementChar, attr);  // a stray continuation byte
            }
            continue;
        }
        utf8_pending_ = 0;
        switch (c) {
        case '\n': newline(); break;
        case '\r': col_ = 0; break;
        case '\t':
            do put(' ', attr);
            while (col_ % 8 != 0 && col_ < cols_);
            break;
        default:
            if (c >= 0x20 && c < 0x7F) put(c, attr);
            break;
        }
    }
    update_cursor();
}

}  // namespace skerry::console
