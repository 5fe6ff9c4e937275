// Bitmap fonts for the framebuffer console: 8 pixels wide (one byte per glyph row, most significant bit
// leftmost), any height. The kernel's 8x16 font is generated at build time from a Debian console font
// (scripts/gen_font.py, mk/font.mk); no font data lives in the source tree.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::console {

struct Font {
    const char* name;            // where the glyphs came from, for the boot log
    uint8_t width;               // always 8
    uint8_t height;              // rows per glyph
    uint16_t first;              // code point of glyphs[0]
    uint16_t count;              // glyphs in the table (code points first .. first + count - 1)
    const uint8_t* glyphs;       // count * height bytes
    const uint8_t* replacement;  // height bytes, for code points without a glyph

    const uint8_t* glyph(uint32_t cp) const {
        if (cp >= first && cp - first < count) return glyphs + static_cast<size_t>(cp - first) * height;
        return replacement;
    }
};

// Generated (build/gen/font8x16.cpp): code points U+0020..U+00FF (Latin-1); code points the source font
// lacks, and the C1 controls U+007F..U+009F, hold the replacement glyph.
extern const Font kFont8x16;

}  // namespace skerry::console
