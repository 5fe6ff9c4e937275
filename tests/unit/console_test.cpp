// Console drivers against fake hardware: the 16550 UART (present, absent, stuck), VGA text memory and the
// CRT controller, and an RGB framebuffer with a tiny test font.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "drivers/console/fb_console.hpp"
#include "drivers/console/font.hpp"
#include "drivers/console/serial16550.hpp"
#include "drivers/console/vga_text.hpp"
#include "hw/hw.hpp"
#include "kernel/log.hpp"

using namespace skerry;
using console::FbConsole;
using console::Serial16550;
using console::VgaText;

namespace {

struct ModelGuard {
    explicit ModelGuard(hw::Model* m) { hw::set_model(m); }
    ~ModelGuard() { hw::set_model(nullptr); }
};

// ------------------------------------------------------------------------------------------------ 16550
class Fake16550 : public hw::Model {
public:
    static constexpr uint16_t kBase = 0x3F8;
    struct Op {
        uint16_t reg;
        uint8_t value;
        bool operator==(const Op&) const = default;
    };

    bool loopback_works = true;
    bool has_fifo = true;
    bool thre_stuck = false;
    int busy_polls = 0;  // LSR reads that still report the transmitter busy

    std::vector<Op> outs;
    std::string tx;
    std::deque<uint8_t> rx;
    uint8_t ier = 0, lcr = 0, mcr = 0, fcr = 0, dll = 0, dlm = 0;
    int lsr_reads = 0;

    uint32_t port_in(uint16_t port, int width) override {
        EXPECT_EQ(width, 1);
        if (port < kBase || port > kBase + 7) return 0xFF;
        switch (port - kBase) {
        case 0:
            if (lcr & 0x80) return dll;
            if (rx.empty()) return 0;
            {
                uint8_t b = rx.front();
                rx.pop_front();
                return b;
            }
        case 1: return (lcr & 0x80) ? dlm : ier;
        case 2: return ((fcr & 1) && has_fifo) ? 0xC1 : 0x01;
        case 3: return lcr;
        case 4: return mcr;
        case 5: {
            ++lsr_reads;
            uint8_t v = rx.empty() ? 0 : 0x01;
            if (busy_polls > 0) {
                --busy_polls;
            } else if (!thre_stuck) {
                v |= 0x60;
            }
            return v;
        }
        default: return 0;
        }
    }
    void port_out(uint16_t port, uint32_t value, int width) override {
        EXPECT_EQ(width, 1);
        ASSERT_GE(port, kBase);
        ASSERT_LE(port, kBase + 7);
        uint16_t reg = static_cast<uint16_t>(port - kBase);
        uint8_t v = static_cast<uint8_t>(value);
        outs.push_back({reg, v});
        switch (reg) {
        case 0:
            if (lcr & 0x80) {
                dll = v;
            } else if (mcr & 0x10) {
                if (loopback_works) rx.push_back(v);
            } else {
                tx += static_cast<char>(v);
            }
            break;
        case 1: (lcr & 0x80 ? dlm : ier) = v; break;
        case 2: fcr = v; break;
        case 3: lcr = v; break;
        case 4: mcr = v; break;
        default: break;
        }
    }
    size_t thr_writes_since(size_t from) const {
        size_t n = 0;
        for (size_t i = from; i < outs.size(); ++i) n += outs[i].reg == 0;
        return n;
    }
};

// No device: reads float high, writes vanish.
class NoDevice : public hw::Model {
public:
    int outs = 0;
    uint32_t port_in(uint16_t, int) override { return 0xFF; }
    void port_out(uint16_t, uint32_t, int) override { ++outs; }
};

TEST(Serial16550, InitSequenceAndLoopbackTest) {
    Fake16550 m;
    ModelGuard g(&m);
    Serial16550 s;
    ASSERT_TRUE(s.init());
    EXPECT_TRUE(s.present());
    EXPECT_TRUE(s.fifo());
    using Op = Fake16550::Op;
    const std::vector<Op> expected = {
        {1, 0x00},  // IER: no interrupts
        {3, 0x80},  // LCR: DLAB
        {0, 0x01},  // DLL: 115200
        {1, 0x00},  // DLM
        {3, 0x03},  // LCR: 8N1
        {2, 0xC7},  // FCR: enable + clear FIFOs, 14-byte trigger
        {4, 0x1E},  // MCR: loopback, RTS, OUT1, OUT2
        {0, 0xAE},  // test byte
        {4, 0x0F},  // MCR: normal, DTR, RTS, OUT1, OUT2
    };
    EXPECT_EQ(m.outs, expected);
    EXPECT_EQ(m.dll, 1);
    EXPECT_EQ(m.dlm, 0);
    EXPECT_EQ(m.lcr, 0x03);
    EXPECT_TRUE(m.rx.empty());  // the loopback byte was consumed
    EXPECT_EQ(s.read_byte(), -1);
}

TEST(Serial16550, DivisorForOtherBaudRates) {
    Fake16550 m;
    ModelGuard g(&m);
    Serial16550 s;
    ASSERT_TRUE(s.init(Fake16550::kBase, 9600));
    EXPECT_EQ(m.dll, 12);
    EXPECT_EQ(m.dlm, 0);
    ASSERT_TRUE(s.init(Fake16550::kBase, 50));
    EXPECT_EQ(m.dll, 0x00);
    EXPECT_EQ(m.dlm, 0x09);  // 2304
}

TEST(Serial16550, WritesTranslateNewlines) {
    Fake16550 m;
    ModelGuard g(&m);
    Serial16550 s;
    ASSERT_TRUE(s.init());
    s.write("a\nb\n", 4);
    EXPECT_EQ(m.tx, "a\r\nb\r\n");
}

TEST(Serial16550, PollsThreOncePerFifoLoad) {
    Fake16550 m;
    ModelGuard g(&m);
    Serial16550 s;
    ASSERT_TRUE(s.init());
    m.lsr_reads = 0;
    std::string data(32, 'x');
    s.write(data.data(), data.size());
    EXPECT_EQ(m.tx, data);
    EXPECT_EQ(m.lsr_reads, 2);
}

TEST(Serial16550, WithoutFifoPollsEveryByteAndWaitsForThre) {
    Fake16550 m;
    m.has_fifo = false;
    ModelGuard g(&m);
    Serial16550 s;
    ASSERT_TRUE(s.init());
    EXPECT_FALSE(s.fifo());
    m.lsr_reads = 0;
    m.busy_polls = 5;
    s.write("hey", 3);
    EXPECT_EQ(m.tx, "hey");
    EXPECT_EQ(m.lsr_reads, 3 + 5);
    EXPECT_EQ(s.timeouts(), 0u);
}

TEST(Serial16550, AbsentPortIsNeverWritten) {
    NoDevice m;
    ModelGuard g(&m);
    Serial16550 s;
    EXPECT_FALSE(s.init());
    EXPECT_FALSE(s.present());
    int outs_after_init = m.outs;
    s.write("lost\n", 5);
    s.put('x');
    EXPECT_EQ(m.outs, outs_after_init);
    EXPECT_EQ(s.read_byte(), -1);
}

TEST(Serial16550, FailedLoopbackMeansAbsent) {
    Fake16550 m;
    m.loopback_works = false;
    ModelGuard g(&m);
    Serial16550 s;
    EXPECT_FALSE(s.init());
    size_t mark = m.outs.size();
    s.write("nothing", 7);
    EXPECT_EQ(m.thr_writes_since(mark), 0u);
    EXPECT_TRUE(m.tx.empty());
}

TEST(Serial16550, StuckTransmitterIsAbandonedAfterBoundedSpins) {
    Fake16550 m;
    ModelGuard g(&m);
    Serial16550 s;
    ASSERT_TRUE(s.init());
    m.thre_stuck = true;
    m.lsr_reads = 0;
    s.write("abcdef", 6);
    EXPECT_TRUE(s.stuck());
    EXPECT_EQ(s.timeouts(), Serial16550::kStuckAfter);
    EXPECT_EQ(m.lsr_reads, static_cast<int>(Serial16550::kSpinLimit * Serial16550::kStuckAfter));
    EXPECT_TRUE(m.tx.empty());
    m.lsr_reads = 0;
    s.write("more", 4);
    EXPECT_EQ(m.lsr_reads, 0);
}

TEST(Serial16550, NonBlockingRead) {
    Fake16550 m;
    ModelGuard g(&m);
    Serial16550 s;
    ASSERT_TRUE(s.init());
    EXPECT_EQ(s.read_byte(), -1);
    m.rx.push_back('k');
    m.rx.push_back(0xFF);
    EXPECT_EQ(s.read_byte(), 'k');
    EXPECT_EQ(s.read_byte(), 0xFF);
    EXPECT_EQ(s.read_byte(), -1);
}

TEST(Serial16550, AsLogSink) {
    Fake16550 m;
    ModelGuard g(&m);
    Serial16550 s;
    ASSERT_TRUE(s.init());
    log::reset();
    log::add_sink(&s);
    log::info("up");
    log::reset();
    EXPECT_EQ(m.tx, "[    0.000000] I up\r\n");
}

// ---------------------------------------------------------------------------------------------- VGA text
class FakeVga : public hw::Model {
public:
    static constexpr uint64_t kPhys = 0xB8000;
    bool present = true;
    std::vector<uint16_t> mem = std::vector<uint16_t>(80 * 25, 0xDEAD);
    uint8_t crtc_index = 0;
    uint8_t crtc[32] = {};

    void* phys_to_host(uint64_t phys, size_t len) override {
        if (phys == kPhys && len <= mem.size() * 2) return mem.data();
        return nullptr;
    }
    uint32_t port_in(uint16_t port, int) override {
        if (!present) return 0xFF;
        if (port == 0x3D4) return crtc_index;
        if (port == 0x3D5) return crtc[crtc_index & 31];
        return 0xFF;
    }
    void port_out(uint16_t port, uint32_t v, int) override {
        if (!present) return;
        if (port == 0x3D4) crtc_index = static_cast<uint8_t>(v);
        if (port == 0x3D5) crtc[crtc_index & 31] = static_cast<uint8_t>(v);
    }
    uint16_t cursor() const { return static_cast<uint16_t>(crtc[0x0E] << 8 | crtc[0x0F]); }
    uint16_t at(int col, int row) const { return mem[static_cast<size_t>(row * 80 + col)]; }
    std::string row_text(int row) const {
        std::string s;
        for (int c = 0; c < 80; ++c) s += static_cast<char>(at(c, row) & 0xFF);
        while (!s.empty() && s.back() == ' ') s.pop_back();
        return s;
    }
};

TEST(VgaText, InitClearsAndHomesCursor) {
    FakeVga m;
    ModelGuard g(&m);
    m.crtc[0x0F] = 0x33;
    VgaText v;
    ASSERT_TRUE(v.init());
    for (uint16_t c : m.mem) ASSERT_EQ(c, 0x0720);
    EXPECT_EQ(m.cursor(), 0);
}

TEST(VgaText, InitFailsWhenMemoryIsUnreachable) {
    FakeVga m;
    ModelGuard g(&m);
    VgaText v;
    EXPECT_FALSE(v.init(0xA0000));
    EXPECT_FALSE(v.ready());
    v.write("x", 1);  // harmless
    EXPECT_FALSE(v.init(FakeVga::kPhys, 0, 25));
}

TEST(VgaText, CharactersAttributesAndCursor) {
    FakeVga m;
    ModelGuard g(&m);
    VgaText v;
    ASSERT_TRUE(v.init());
    v.write("Hi", 2);
    v.write_level(log::Level::Error, "E", 1);
    v.write_level(log::Level::Warn, "W", 1);
    v.write_level(log::Level::Debug, "D", 1);
    EXPECT_EQ(m.at(0, 0), 0x0700 | 'H');
    EXPECT_EQ(m.at(1, 0), 0x0700 | 'i');
    EXPECT_EQ(m.at(2, 0), 0x0C00 | 'E');
    EXPECT_EQ(m.at(3, 0), 0x0E00 | 'W');
    EXPECT_EQ(m.at(4, 0), 0x0800 | 'D');
    EXPECT_EQ(m.cursor(), 5);
}

TEST(VgaText, NewlineCarriageReturnTabAndWrap) {
    FakeVga m;
    ModelGuard g(&m);
    VgaText v;
    ASSERT_TRUE(v.init());
    v.write("ab\ncd\rX\tY\n", 10);
    EXPECT_EQ(m.row_text(0), "ab");
    EXPECT_EQ(m.row_text(1), "X       Y");  // the tab writes blanks up to column 8
    EXPECT_EQ(v.cursor_row(), 2u);
    EXPECT_EQ(v.cursor_col(), 0u);
    std::string long_line(85, 'z');
    v.write(long_line.data(), long_line.size());
    EXPECT_EQ(m.row_text(2), std::string(80, 'z'));
    EXPECT_EQ(m.row_text(3), "zzzzz");
    EXPECT_EQ(m.cursor(), 3 * 80 + 5);
}

TEST(VgaText, NonAsciiBecomesOneReplacementPerCharacter) {
    FakeVga m;
    ModelGuard g(&m);
    VgaText v;
    ASSERT_TRUE(v.init());
    v.write("a\xc3\xa9"
            "b\xe2\x80\xa6"
            "c",
            8);  // a é b … c
    EXPECT_EQ(m.row_text(0), "a?b?c");
}

TEST(VgaText, ScrollsWhenFull) {
    FakeVga m;
    ModelGuard g(&m);
    VgaText v;
    ASSERT_TRUE(v.init());
    char line[32];
    for (int i = 1; i <= 30; ++i) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        v.write_level(i == 30 ? log::Level::Error : log::Level::Info, line, static_cast<size_t>(n));
    }
    // 30 lines and the cursor's empty line: lines 7..30 remain on rows 0..23.
    EXPECT_EQ(m.row_text(0), "line 7");
    EXPECT_EQ(m.row_text(23), "line 30");
    EXPECT_EQ(m.at(0, 23), 0x0C00 | 'l');
    EXPECT_EQ(m.row_text(24), "");
    EXPECT_EQ(m.at(0, 24), 0x0720);
    EXPECT_EQ(v.cursor_row(), 24u);
    EXPECT_EQ(m.cursor(), 24 * 80);
}

TEST(VgaText, ProbeFindsTheCrtcAndRestoresIt) {
    FakeVga m;
    ModelGuard g(&m);
    m.crtc_index = 0x0A;
    m.crtc[0x0F] = 0x42;
    EXPECT_TRUE(VgaText::probe());
    EXPECT_EQ(m.crtc[0x0F], 0x42);
    EXPECT_EQ(m.crtc_index, 0x0A);
    m.present = false;
    EXPECT_FALSE(VgaText::probe());
}

// ------------------------------------------------------------------------------------------- framebuffer
// A 16-row test font with glyphs for 'A' (left and right columns set) and 'B' (all set), and a
// checkerboard-ish replacement.
struct TestFont {
    uint8_t glyphs[2 * 16];
    uint8_t replacement[16];
    console::Font font;
    TestFont() {
        for (int r = 0; r < 16; ++r) {
            glyphs[r] = 0x81;
            glyphs[16 + r] = 0xFF;
            replacement[r] = (r & 1) ? 0x55 : 0xAA;
        }
        font = {"test", 8, 16, 'A', 2, glyphs, replacement};
    }
};

class FakeFb : public hw::Model {
public:
    static constexpr uint64_t kPhys = 0xFD000000;
    std::vector<uint8_t> mem;
    boot::Framebuffer fb{};

    FakeFb(uint32_t w, uint32_t h, uint8_t bpp, uint32_t pad = 0) {
        fb.type = boot::FramebufferType::Rgb;
        fb.phys = kPhys;
        fb.width = w;
        fb.height = h;
        fb.bpp = bpp;
        fb.pitch = w * (bpp / 8) + pad;
        if (bpp == 16) {
            fb.red = {11, 5};
            fb.green = {5, 6};
            fb.blue = {0, 5};
        } else {
            fb.red = {16, 8};
            fb.green = {8, 8};
            fb.blue = {0, 8};
        }
        mem.assign(static_cast<size_t>(fb.pitch) * h, 0xEE);
    }
    void* phys_to_host(uint64_t phys, size_t len) override {
        if (phys == kPhys && len <= mem.size()) return mem.data();
        return nullptr;
    }
    uint32_t pixel(uint32_t x, uint32_t y) const {
        const uint8_t* p = mem.data() + static_cast<size_t>(y) * fb.pitch + static_cast<size_t>(x) * (fb.bpp / 8);
        uint32_t v = 0;
        for (int i = 0; i < fb.bpp / 8; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
        return v;
    }
    // The glyph row as a bit mask (bit 7 = leftmost pixel) from pixels equal to fg.
    uint8_t row_bits(uint32_t x0, uint32_t y, uint32_t fg, uint32_t scale = 1) const {
        uint8_t bits = 0;
        for (uint32_t i = 0; i < 8; ++i)
            if (pixel(x0 + i * scale, y) == fg) bits |= static_cast<uint8_t>(0x80 >> i);
        return bits;
    }
};

constexpr uint32_t kInfo32 = 0x00C0C0C0, kError32 = 0x00FF5555;

TEST(FbConsole, RendersAGlyphInto32BppPixels) {
    FakeFb m(64, 32, 32, 16);  // 8x2 cells; 16 bytes of padding per line
    ModelGuard g(&m);
    TestFont tf;
    auto con = std::make_unique<FbConsole>();
    ASSERT_TRUE(con->init(m.fb, tf.font));
    EXPECT_EQ(con->cols(), 8u);
    EXPECT_EQ(con->rows(), 2u);
    EXPECT_EQ(con->scale(), 1u);
    EXPECT_EQ(m.pixel(0, 0), 0u);    // cleared to black
    EXPECT_EQ(m.mem[64 * 4], 0xEE);  // padding beyond the visible width untouched

    con->write("A", 1);
    EXPECT_EQ(con->char_at(0, 0), 'A');
    for (uint32_t y = 0; y < 16; ++y) {
        EXPECT_EQ(m.pixel(0, y), kInfo32);
        EXPECT_EQ(m.pixel(7, y), kInfo32);
        for (uint32_t x = 1; x < 7; ++x) EXPECT_EQ(m.pixel(x, y), 0u) << x << "," << y;
    }
    EXPECT_EQ(m.pixel(8, 0), 0u);

    con->write_level(log::Level::Error, "B", 1);
    for (uint32_t x = 8; x < 16; ++x) EXPECT_EQ(m.pixel(x, 5), kError32);
    EXPECT_EQ(m.mem[64 * 4 + 3], 0xEE);
}

TEST(FbConsole, MissingGlyphsAndUtf8UseTheReplacement) {
    FakeFb m(64, 32, 32);
    ModelGuard g(&m);
    TestFont tf;
    auto con = std::make_unique<FbConsole>();
    ASSERT_TRUE(con->init(m.fb, tf.font));
    con->write("Z\xe2\x80\xa6\xc3\xa9!", 7);  // Z … é ! : none in the test font
    EXPECT_EQ(con->char_at(0, 0), 'Z');
    EXPECT_EQ(con->char_at(1, 0), 0x7F);  // U+2026 has no cell code
    EXPECT_EQ(con->char_at(2, 0), 0xE9);  // Latin-1 is kept (the real font has it)
    EXPECT_EQ(con->char_at(3, 0), '!');
    EXPECT_EQ(con->cursor_col(), 4u);
    for (uint32_t cell = 0; cell < 4; ++cell) {
        EXPECT_EQ(m.row_bits(cell * 8, 0, kInfo32), 0xAA);
        EXPECT_EQ(m.row_bits(cell * 8, 1, kInfo32), 0x55);
    }
    con->write("\x80\xc3!", 3);  // stray continuation; lead byte cut short by '!'
    EXPECT_EQ(con->char_at(4, 0), 0x7F);
    EXPECT_EQ(con->char_at(5, 0), 0x7F);
    EXPECT_EQ(con->char_at(6, 0), '!');
}

TEST(FbConsole, ChannelLayoutsAnd24And16Bpp) {
    TestFont tf;
    {
        FakeFb m(16, 16, 32);
        m.fb.red = {0, 8};  // BGR-ordered fields
        m.fb.blue = {16, 8};
        ModelGuard g(&m);
        auto con = std::make_unique<FbConsole>();
        ASSERT_TRUE(con->init(m.fb, tf.font));
        EXPECT_EQ(con->pack({0xFF, 0x55, 0x11}), 0x001155FFu);
        con->write_level(log::Level::Error, "B", 1);
        EXPECT_EQ(m.pixel(3, 3), 0x005555FFu);
    }
    {
        FakeFb m(16, 16, 24);
        ModelGuard g(&m);
        auto con = std::make_unique<FbConsole>();
        ASSERT_TRUE(con->init(m.fb, tf.font));
        con->write_level(log::Level::Warn, "A", 1);
        EXPECT_EQ(m.pixel(0, 0), 0xFFFF55u);
        EXPECT_EQ(m.pixel(1, 0), 0u);
        EXPECT_EQ(m.pixel(7, 15), 0xFFFF55u);
    }
    {
        FakeFb m(16, 16, 16);  // RGB565
        ModelGuard g(&m);
        auto con = std::make_unique<FbConsole>();
        ASSERT_TRUE(con->init(m.fb, tf.font));
        const uint32_t red565 = (0x1Fu << 11) | (0x15u << 5) | 0x0Au;  // FF 55 55
        EXPECT_EQ(con->pack({0xFF, 0x55, 0x55}), red565);
        con->write_level(log::Level::Error, "A", 1);
        EXPECT_EQ(m.pixel(0, 4), red565);
        EXPECT_EQ(m.pixel(3, 4), 0u);
    }
}

TEST(FbConsole, RejectsUnusableFramebuffers) {
    TestFont tf;
    FakeFb m(64, 32, 32);
    ModelGuard g(&m);
    auto con = std::make_unique<FbConsole>();
    boot::Framebuffer fb = m.fb;
    fb.type = boot::FramebufferType::Indexed;
    EXPECT_FALSE(con->init(fb, tf.font));
    fb = m.fb;
    fb.bpp = 8;
    EXPECT_FALSE(con->init(fb, tf.font));
    fb = m.fb;
    fb.pitch = 64 * 4 - 1;
    EXPECT_FALSE(con->init(fb, tf.font));
    fb = m.fb;
    fb.phys = 0x1000;  // not reachable
    EXPECT_FALSE(con->init(fb, tf.font));
    fb = m.fb;
    fb.green = {28, 8};  // field past the pixel
    EXPECT_FALSE(con->init(fb, tf.font));
    fb = m.fb;
    fb.height = 8;  // shorter than a glyph
    EXPECT_FALSE(con->init(fb, tf.font));
    EXPECT_FALSE(con->ready());
    con->write("x", 1);  // harmless
    console::Font wide = tf.font;
    wide.width = 9;
    EXPECT_FALSE(con->init(m.fb, wide));
}

TEST(FbConsole, ScrollsTextUpAndRedrawsPixels) {
    FakeFb m(16, 32, 32);  // 2x2 cells
    ModelGuard g(&m);
    TestFont tf;
    auto con = std::make_unique<FbConsole>();
    ASSERT_TRUE(con->init(m.fb, tf.font));
    con->write("AB\n", 3);
    con->write("BA\n", 3);  // scrolls: "BA" on row 0, row 1 empty
    EXPECT_EQ(con->char_at(0, 0), 'B');
    EXPECT_EQ(con->char_at(1, 0), 'A');
    EXPECT_EQ(con->char_at(0, 1), ' ');
    EXPECT_EQ(con->cursor_row(), 1u);
    EXPECT_EQ(m.row_bits(0, 7, kInfo32), 0xFF);
    EXPECT_EQ(m.row_bits(8, 7, kInfo32), 0x81);
    for (uint32_t y = 16; y < 32; ++y)
        for (uint32_t x = 0; x < 16; ++x) ASSERT_EQ(m.pixel(x, y), 0u) << x << "," << y;
    con->write("AAA", 3);  // wraps onto a new line, scrolling again
    EXPECT_EQ(con->char_at(0, 0), 'A');
    EXPECT_EQ(con->char_at(1, 0), 'A');
    EXPECT_EQ(con->char_at(0, 1), 'A');
    EXPECT_EQ(m.row_bits(0, 20, kInfo32), 0x81);
    EXPECT_EQ(m.pixel(8, 20), 0u);
}

TEST(FbConsole, ManyLinesInOneWriteCostOneRedraw) {
    FakeFb m(80, 64, 32);  // 10x4 cells
    ModelGuard g(&m);
    TestFont tf;
    auto con = std::make_unique<FbConsole>();
    ASSERT_TRUE(con->init(m.fb, tf.font));
    std::string text;
    for (int i = 0; i < 100; ++i) text += (i % 2) ? "BBBB\n" : "AAAA\n";
    con->write(text.data(), text.size());
    EXPECT_LE(con->cells_drawn(), 12u);  // three rows of four cells on screen at the end
    EXPECT_EQ(con->char_at(0, 2), 'B');
    EXPECT_EQ(m.row_bits(0, 2 * 16 + 3, kInfo32), 0xFF);
    EXPECT_EQ(m.row_bits(0, 1 * 16 + 3, kInfo32), 0x81);
}

TEST(FbConsole, HoldDefersDrawing) {
    FakeFb m(16, 16, 32);
    ModelGuard g(&m);
    TestFont tf;
    auto con = std::make_unique<FbConsole>();
    ASSERT_TRUE(con->init(m.fb, tf.font));
    con->hold(true);
    con->write("B", 1);
    EXPECT_EQ(m.pixel(0, 0), 0u);
    con->hold(false);
    EXPECT_EQ(m.pixel(0, 0), kInfo32);
}

TEST(FbConsole, LargeScreensScaleTheFont) {
    FakeFb m(2000, 64, 16);  // 250 columns of 8 pixels would exceed kMaxCols
    ModelGuard g(&m);
    TestFont tf;
    auto con = std::make_unique<FbConsole>();
    ASSERT_TRUE(con->init(m.fb, tf.font));
    EXPECT_EQ(con->scale(), 2u);
    EXPECT_EQ(con->cols(), 125u);
    EXPECT_EQ(con->rows(), 2u);
    con->write("A", 1);
    const uint32_t info565 = (0x18u << 11) | (0x30u << 5) | 0x18u;  // C0 C0 C0
    for (uint32_t y = 0; y < 32; ++y) {
        EXPECT_EQ(m.pixel(0, y), info565);
        EXPECT_EQ(m.pixel(1, y), info565);
        EXPECT_EQ(m.pixel(2, y), 0u);
        EXPECT_EQ(m.pixel(14, y), info565);
        EXPECT_EQ(m.pixel(15, y), info565);
    }
    EXPECT_EQ(m.row_bits(0, 9, info565, 2), 0x81);
}

TEST(FbConsole, ReplaysTheEarlyLogWhenAddedAsSink) {
    log::reset();
    log::warn("early");
    FakeFb m(8 * 40, 16 * 3, 32);
    ModelGuard g(&m);
    TestFont tf;
    auto con = std::make_unique<FbConsole>();
    ASSERT_TRUE(con->init(m.fb, tf.font));
    con->hold(true);
    ASSERT_TRUE(log::add_sink(con.get(), true));
    con->hold(false);
    log::error("late");
    log::reset();
    std::string row0, row1;
    for (uint32_t c = 0; c < con->cols(); ++c) {
        row0 += static_cast<char>(con->char_at(c, 0));
        row1 += static_cast<char>(con->char_at(c, 1));
    }
    EXPECT_EQ(row0.substr(0, 22), "[    0.000000] W early");
    EXPECT_EQ(row1.substr(0, 21), "[    0.000000] E late");
    // The "[" of each line in its level's colour: the test font has no '[' glyph, so it is the
    // replacement pattern (0xAA in the first glyph row).
    EXPECT_EQ(m.row_bits(0, 0, 0x00FFFF55), 0xAA);
    EXPECT_EQ(m.row_bits(0, 16, kError32), 0xAA);
}

}  // namespace
