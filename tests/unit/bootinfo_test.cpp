// Boot information parsers: crafted Multiboot1, Multiboot2 and PVH structures in a fake physical memory.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "boot/bootinfo.hpp"
#include "hw/hw.hpp"

using namespace skerry::boot;

namespace {

// Physical memory made of separate regions; a read succeeds only if it lies entirely inside one region,
// and every read is recorded so tests can check nothing outside the declared sizes was touched.
class FakeMemory final : public PhysReader {
public:
    std::vector<uint8_t>& region(uint64_t base, size_t size) {
        regions_.push_back({base, std::vector<uint8_t>(size, 0)});
        return regions_.back().bytes;
    }
    void put(uint64_t phys, const void* src, size_t len) {
        for (auto& r : regions_) {
            if (phys >= r.base && phys + len <= r.base + r.bytes.size()) {
                std::memcpy(r.bytes.data() + (phys - r.base), src, len);
                return;
            }
        }
        ADD_FAILURE() << "put outside regions at " << std::hex << phys;
    }
    void put_string(uint64_t phys, const std::string& s) { put(phys, s.c_str(), s.size() + 1); }
    void put32(uint64_t phys, uint32_t v) { put(phys, &v, 4); }
    void put64(uint64_t phys, uint64_t v) { put(phys, &v, 8); }
    bool read(uint64_t phys, void* dst, size_t len) const override {
        reads++;
        if (phys + len < phys) return false;
        for (const auto& r : regions_) {
            if (phys >= r.base && phys + len <= r.base + r.bytes.size()) {
                std::memcpy(dst, r.bytes.data() + (phys - r.base), len);
                if (phys + len > max_read_end) max_read_end = phys + len;
                return true;
            }
        }
        return false;
    }
    mutable size_t reads = 0;
    mutable uint64_t max_read_end = 0;

private:
    struct Region {
        uint64_t base;
        std::vector<uint8_t> bytes;
    };
    std::deque<Region> regions_;  // references returned by region() stay valid
};

struct E820 {
    uint64_t base, length;
    uint32_t type;
};

// QEMU-like e820 map for 128 MiB.
const std::vector<E820> kQemuMap = {
    {0x0, 0x9FC00, 1},        {0x9FC00, 0x400, 2},     {0xF0000, 0x10000, 2},
    {0x100000, 0x7EE0000, 1}, {0x7FE0000, 0x20000, 2}, {0xFFFC0000, 0x40000, 2},
};

std::vector<uint8_t> make_rsdp(int revision, bool good_checksum = true) {
    std::vector<uint8_t> r(revision >= 2 ? 36 : 20, 0);
    std::memcpy(r.data(), "RSD PTR ", 8);
    std::memcpy(r.data() + 9, "SKERRY", 6);
    r[15] = static_cast<uint8_t>(revision);
    uint32_t rsdt = 0x7FE1000;
    std::memcpy(r.data() + 16, &rsdt, 4);
    if (revision >= 2) {
        uint32_t len = 36;
        std::memcpy(r.data() + 20, &len, 4);
        uint64_t xsdt = 0x7FE2000;
        std::memcpy(r.data() + 24, &xsdt, 8);
    }
    uint8_t sum = 0;
    for (int i = 0; i < 20; i++) sum = static_cast<uint8_t>(sum + r[i]);
    r[8] = static_cast<uint8_t>(-sum);
    if (revision >= 2) {
        uint8_t ext = 0;
        for (int i = 0; i < 36; i++) ext = static_cast<uint8_t>(ext + r[i]);
        r[32] = static_cast<uint8_t>(-ext);
    }
    if (!good_checksum) r[10] ^= 0x55;
    return r;
}

// ------------------------------------------------------------------------------------------ Multiboot1
constexpr uint64_t kMb1Info = 0x9000;
constexpr uint64_t kMb1Mmap = 0x9100;
constexpr uint64_t kMb1Cmdline = 0xA000;
constexpr uint64_t kMb1Loader = 0xB000;

struct Mb1Builder {
    FakeMemory mem;
    std::vector<uint8_t>* info;
    Mb1Builder() {
        info = &mem.region(kMb1Info, 116);
        mem.region(kMb1Mmap, 0x800);
        mem.region(kMb1Cmdline, 0x1000);
        mem.region(kMb1Loader, 0x100);
    }
    void set32(size_t off, uint32_t v) { std::memcpy(info->data() + off, &v, 4); }
    void flag(int bit) { set32(0, flags() | (1u << bit)); }
    uint32_t flags() const {
        uint32_t f;
        std::memcpy(&f, info->data(), 4);
        return f;
    }
    void mmap(const std::vector<E820>& entries, uint32_t size_field = 20) {
        flag(6);
        uint64_t p = kMb1Mmap;
        for (const auto& e : entries) {
            mem.put32(p, size_field);
            mem.put64(p + 4, e.base);
            mem.put64(p + 12, e.length);
            mem.put32(p + 20, e.type);
            p += 4 + size_field;
        }
        set32(44, static_cast<uint32_t>(p - kMb1Mmap));
        set32(48, kMb1Mmap);
    }
    void cmdline(const std::string& s) {
        flag(2);
        mem.put_string(kMb1Cmdline, s);
        set32(16, kMb1Cmdline);
    }
    void loader(const std::string& s) {
        flag(9);
        mem.put_string(kMb1Loader, s);
        set32(64, kMb1Loader);
    }
    ParseResult parse(BootInfo& bi) { return parse_multiboot1(kMb1Info, mem, bi); }
};

TEST(Multiboot1, WellFormedEveryField) {
    Mb1Builder b;
    b.flag(0);
    b.set32(4, 639);
    b.set32(8, 130048);
    b.mmap(kQemuMap);
    b.cmdline("/build/appliances/hello.elf loglevel=7 marker=mb1");
    b.loader("qemu");
    b.flag(12);
    uint64_t fb = 0xFD000000;
    std::memcpy(b.info->data() + 88, &fb, 8);
    b.set32(96, 4096);
    b.set32(100, 1024);
    b.set32(104, 768);
    (*b.info)[108] = 32;
    (*b.info)[109] = 1;
    const uint8_t color[6] = {16, 8, 8, 8, 0, 8};
    std::memcpy(b.info->data() + 110, color, 6);

    static BootInfo bi;
    ParseResult r = b.parse(bi);
    ASSERT_TRUE(r.ok()) << parse_error_text(r.error);
    EXPECT_EQ(bi.protocol, Protocol::Multiboot1);
    EXPECT_STREQ(protocol_name(bi.protocol), "Multiboot1");
    EXPECT_EQ(bi.magic, kMultiboot1Magic);
    EXPECT_EQ(bi.info_phys, kMb1Info);
    EXPECT_TRUE(bi.have_basic_meminfo);
    EXPECT_EQ(bi.mem_lower_kib, 639u);
    EXPECT_EQ(bi.mem_upper_kib, 130048u);
    EXPECT_TRUE(bi.have_cmdline);
    EXPECT_STREQ(bi.cmdline, "/build/appliances/hello.elf loglevel=7 marker=mb1");
    EXPECT_EQ(bi.cmdline_len, std::strlen(bi.cmdline));
    EXPECT_STREQ(bi.args(), "loglevel=7 marker=mb1");
    EXPECT_TRUE(bi.have_loader_name);
    EXPECT_STREQ(bi.loader_name, "qemu");

    ASSERT_EQ(bi.firmware_map.count, kQemuMap.size());
    for (size_t i = 0; i < kQemuMap.size(); i++) {
        EXPECT_EQ(bi.firmware_map.entries[i].base, kQemuMap[i].base);
        EXPECT_EQ(bi.firmware_map.entries[i].length, kQemuMap[i].length);
        EXPECT_EQ(bi.firmware_map.entries[i].raw_type, kQemuMap[i].type);
        EXPECT_EQ(bi.firmware_map.entries[i].type, kQemuMap[i].type == 1 ? MemType::Usable : MemType::Reserved);
    }
    // Sanitized: the two adjacent entries at 0x9FC00 are different types, so nothing merges here.
    EXPECT_EQ(bi.memory_map.count, kQemuMap.size());
    EXPECT_EQ(bi.memory_map.total(MemType::Usable), 0x9FC00ull + 0x7EE0000ull);

    EXPECT_EQ(bi.framebuffer.type, FramebufferType::Rgb);
    EXPECT_EQ(bi.framebuffer.phys, 0xFD000000ull);
    EXPECT_EQ(bi.framebuffer.pitch, 4096u);
    EXPECT_EQ(bi.framebuffer.width, 1024u);
    EXPECT_EQ(bi.framebuffer.height, 768u);
    EXPECT_EQ(bi.framebuffer.bpp, 32);
    EXPECT_EQ(bi.framebuffer.red.position, 16);
    EXPECT_EQ(bi.framebuffer.red.size, 8);
    EXPECT_EQ(bi.framebuffer.green.position, 8);
    EXPECT_EQ(bi.framebuffer.green.size, 8);
    EXPECT_EQ(bi.framebuffer.blue.position, 0);
    EXPECT_EQ(bi.framebuffer.blue.size, 8);
    EXPECT_EQ(bi.rsdp.copy_len, 0);
    EXPECT_EQ(bi.rsdp.phys, 0u);
    EXPECT_EQ(bi.efi.system_table, 0u);
    EXPECT_EQ(bi.warnings, 0u);
}

TEST(Multiboot1, MmapSizeFieldLargerThanEntry) {
    Mb1Builder b;
    b.mmap(kQemuMap, 24);  // loaders may pad entries: size excludes itself, the walk must honour it
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    ASSERT_EQ(bi.firmware_map.count, kQemuMap.size());
    EXPECT_EQ(bi.firmware_map.entries[3].base, 0x100000u);
    EXPECT_EQ(bi.firmware_map.entries[5].base, 0xFFFC0000u);
}

TEST(Multiboot1, ReadsOnlyWhatTheFlagsDeclare) {
    FakeMemory mem;
    auto& info = mem.region(kMb1Info, 12);  // just flags, mem_lower, mem_upper
    uint32_t v[3] = {1, 640, 65536};
    std::memcpy(info.data(), v, 12);
    static BootInfo bi;
    ASSERT_TRUE(parse_multiboot1(kMb1Info, mem, bi).ok());
    EXPECT_EQ(mem.max_read_end, kMb1Info + 12);
    // Legacy fallback: [0, 640K) and [1M, 1M + 64M) usable.
    EXPECT_TRUE(bi.has_warning(kWarnMemoryMapLegacy));
    ASSERT_EQ(bi.memory_map.count, 2u);
    EXPECT_EQ(bi.memory_map.entries[0].base, 0u);
    EXPECT_EQ(bi.memory_map.entries[0].length, 640u * 1024);
    EXPECT_EQ(bi.memory_map.entries[1].base, 0x100000u);
    EXPECT_EQ(bi.memory_map.entries[1].length, 64ull << 20);
    EXPECT_FALSE(bi.have_cmdline);
    EXPECT_STREQ(bi.cmdline, "");
    EXPECT_STREQ(bi.args(), "");
}

TEST(Multiboot1, NoMemoryInformationAtAll) {
    Mb1Builder b;
    b.cmdline("x");
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnNoMemoryMap));
    EXPECT_EQ(bi.memory_map.count, 0u);
}

TEST(Multiboot1, FramebufferIndexedAndEgaText) {
    {
        Mb1Builder b;
        b.flag(12);
        (*b.info)[109] = 0;
        b.set32(110, 0x12345);
        uint16_t colors = 256;
        std::memcpy(b.info->data() + 114, &colors, 2);
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi).ok());
        EXPECT_EQ(bi.framebuffer.type, FramebufferType::Indexed);
        EXPECT_EQ(bi.framebuffer.palette_colors, 256u);
    }
    {
        Mb1Builder b;
        b.flag(12);
        uint64_t fb = 0xB8000;
        std::memcpy(b.info->data() + 88, &fb, 8);
        b.set32(96, 160);
        b.set32(100, 80);
        b.set32(104, 25);
        (*b.info)[108] = 16;
        (*b.info)[109] = 2;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi).ok());
        EXPECT_EQ(bi.framebuffer.type, FramebufferType::EgaText);
        EXPECT_EQ(bi.framebuffer.phys, 0xB8000u);
        EXPECT_EQ(bi.framebuffer.width, 80u);
        EXPECT_EQ(bi.framebuffer.height, 25u);
        EXPECT_EQ(bi.framebuffer.pitch, 160u);
    }
    {
        Mb1Builder b;
        b.flag(12);
        (*b.info)[109] = 9;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi).ok());
        EXPECT_EQ(bi.framebuffer.type, FramebufferType::None);
        EXPECT_TRUE(bi.has_warning(kWarnFramebufferOdd));
    }
}

TEST(Multiboot1, CmdlineFirstWordHeuristic) {
    struct Case {
        const char* line;
        const char* args;
    } cases[] = {
        {"/boot/hello.elf a=1", "a=1"},
        {"hello.elf", ""},
        {"  kernel/hello   debug", "debug"},
        {"loglevel=7 debug", "loglevel=7 debug"},  // a loader that passes only the arguments (GRUB 2)
        {"debug loglevel=7", "debug loglevel=7"},  // no '/' or '.': an option, not a path
        {"ip=10.0.2.15 x", "ip=10.0.2.15 x"},      // has '=': an option
        {"", ""},
    };
    for (const auto& c : cases) {
        Mb1Builder b;
        b.cmdline(c.line);
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi).ok()) << c.line;
        EXPECT_STREQ(bi.cmdline, c.line);
        EXPECT_STREQ(bi.args(), c.args) << c.line;
    }
}

TEST(Multiboot1, LongCmdlineIsTruncatedWithAWarning) {
    FakeMemory mem;
    auto& info = mem.region(kMb1Info, 116);
    uint32_t flags = 1u << 2, ptr = 0x20000;
    std::memcpy(info.data(), &flags, 4);
    std::memcpy(info.data() + 16, &ptr, 4);
    std::string s(5000, 'a');
    s[4094] = 'b';
    s[4095] = 'c';
    mem.region(0x20000, 8192);
    mem.put_string(0x20000, s);
    static BootInfo bi;
    ASSERT_TRUE(parse_multiboot1(kMb1Info, mem, bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnCmdlineTruncated));
    EXPECT_EQ(bi.cmdline_len, kCmdlineSize - 1);
    EXPECT_EQ(std::strlen(bi.cmdline), kCmdlineSize - 1);
    EXPECT_EQ(bi.cmdline[4094], 'b');
    EXPECT_EQ(bi.cmdline[4095], '\0');
}

TEST(Multiboot1, CmdlineExactlyFitsBuffer) {
    Mb1Builder b;
    b.mem.region(0x40000, 8192);
    b.flag(2);
    b.set32(16, 0x40000);
    b.mem.put_string(0x40000, std::string(kCmdlineSize - 1, 'x'));
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_FALSE(bi.has_warning(kWarnCmdlineTruncated));
    EXPECT_EQ(bi.cmdline_len, kCmdlineSize - 1);
}

TEST(Multiboot1, CmdlinePointerOutsideMemory) {
    Mb1Builder b;
    b.mmap(kQemuMap);
    b.flag(2);
    b.set32(16, 0xDEAD0000);
    static BootInfo bi;
    ParseResult r = b.parse(bi);
    EXPECT_EQ(r.error, ParseError::CmdlineUnreadable);
    EXPECT_EQ(r.offset, 16u);
    EXPECT_STREQ(bi.cmdline, "");
    EXPECT_FALSE(bi.have_cmdline);
    // The memory map parsed before the error is kept.
    EXPECT_EQ(bi.memory_map.count, kQemuMap.size());
}

TEST(Multiboot1, UnterminatedCmdline) {
    {
        // The string runs into unreadable memory before any NUL.
        Mb1Builder b;
        auto& r = b.mem.region(0x30000, 100);
        std::memset(r.data(), 'z', r.size());
        b.flag(2);
        b.set32(16, 0x30000);
        static BootInfo bi;
        EXPECT_EQ(b.parse(bi).error, ParseError::CmdlineUnreadable);
        EXPECT_LE(b.mem.max_read_end, 0x30000u + 100);
    }
    {
        // Readable but no NUL within kMaxStringScan bytes.
        Mb1Builder b;
        auto& r = b.mem.region(0x100000, kMaxStringScan + 4096);
        std::memset(r.data(), 'z', r.size());
        b.flag(2);
        b.set32(16, 0x100000);
        static BootInfo bi;
        EXPECT_EQ(b.parse(bi).error, ParseError::CmdlineUnterminated);
        EXPECT_LE(b.mem.max_read_end, 0x100000u + kMaxStringScan);
        EXPECT_STREQ(bi.cmdline, "");
    }
}

TEST(Multiboot1, BadLoaderNameIsOnlyAWarning) {
    Mb1Builder b;
    b.flag(9);
    b.set32(64, 0xDEAD0000);
    b.cmdline("a=b");
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnLoaderNameBad));
    EXPECT_FALSE(bi.have_loader_name);
    EXPECT_STREQ(bi.loader_name, "");
    EXPECT_STREQ(bi.cmdline, "a=b");

    Mb1Builder b2;
    b2.loader(std::string(200, 'L'));
    ASSERT_TRUE(b2.parse(bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnLoaderNameTruncated));
    EXPECT_EQ(std::strlen(bi.loader_name), kLoaderNameSize - 1);
}

TEST(Multiboot1, MmapErrors) {
    {
        Mb1Builder b;
        b.mmap(kQemuMap);
        b.mem.put32(kMb1Mmap + 24, 0);  // second entry's size = 0
        static BootInfo bi;
        ParseResult r = b.parse(bi);
        EXPECT_EQ(r.error, ParseError::MmapEntryTooSmall);
        EXPECT_EQ(r.offset, 24u);
        EXPECT_EQ(bi.firmware_map.count, 1u);  // the first entry was kept
    }
    {
        Mb1Builder b;
        b.mmap(kQemuMap);
        b.mem.put32(kMb1Mmap, 16);  // smaller than base + length + type
        static BootInfo bi;
        EXPECT_EQ(b.parse(bi).error, ParseError::MmapEntryTooSmall);
    }
    {
        Mb1Builder b;
        b.mmap(kQemuMap);
        b.set32(44, 6 * 24 - 4);  // the last entry runs past mmap_length
        static BootInfo bi;
        ParseResult r = b.parse(bi);
        EXPECT_EQ(r.error, ParseError::MmapOverrun);
        EXPECT_EQ(r.offset, 5u * 24);
    }
    {
        Mb1Builder b;
        b.mmap(kQemuMap);
        b.set32(44, 6 * 24 + 2);  // 2 trailing bytes: not even a size field
        static BootInfo bi;
        EXPECT_EQ(b.parse(bi).error, ParseError::MmapOverrun);
    }
    {
        Mb1Builder b;
        b.mmap(kQemuMap);
        b.set32(44, 0x7FFFFFFF);
        static BootInfo bi;
        EXPECT_EQ(b.parse(bi).error, ParseError::MmapTooLarge);
    }
    {
        Mb1Builder b;
        b.mmap(kQemuMap);
        b.set32(48, 0xDEAD0000);
        static BootInfo bi;
        EXPECT_EQ(b.parse(bi).error, ParseError::MmapUnreadable);
    }
}

TEST(Multiboot1, ThousandMmapEntriesTruncateWithAWarning) {
    FakeMemory mem;
    auto& info = mem.region(kMb1Info, 116);
    mem.region(0x100000, 1000 * 24);
    uint64_t p = 0x100000;
    for (int i = 0; i < 1000; i++) {
        mem.put32(p, 20);
        mem.put64(p + 4, 0x10000000ull + static_cast<uint64_t>(i) * 0x2000);  // 4K holes: nothing merges
        mem.put64(p + 12, 0x1000);
        mem.put32(p + 20, 1);
        p += 24;
    }
    uint32_t hdr[13] = {};
    hdr[0] = 1u << 6;
    hdr[11] = 1000 * 24;
    hdr[12] = 0x100000;
    std::memcpy(info.data(), hdr, sizeof hdr);
    static BootInfo bi;
    ASSERT_TRUE(parse_multiboot1(kMb1Info, mem, bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnMemoryMapTruncated));
    EXPECT_EQ(bi.firmware_map.count, kMaxMemRegions);
    EXPECT_EQ(bi.memory_map.count, kMaxMemRegions);
}

TEST(Multiboot1, InfoUnreadable) {
    FakeMemory mem;
    static BootInfo bi;
    EXPECT_EQ(parse_multiboot1(0x5000, mem, bi).error, ParseError::Unreadable);
    // Flags claim a framebuffer but the structure is shorter than 116 bytes.
    auto& info = mem.region(0x5000, 88);
    uint32_t flags = 1u << 12;
    std::memcpy(info.data(), &flags, 4);
    EXPECT_EQ(parse_multiboot1(0x5000, mem, bi).error, ParseError::Unreadable);
}

TEST(Multiboot1, AoutAndElfFlagsTogether) {
    Mb1Builder b;
    b.flag(4);
    b.flag(5);
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnMb1FlagsOdd));
}

// ------------------------------------------------------------------------------------------ Multiboot2
constexpr uint64_t kMb2Info = 0x10000;

class Mb2Builder {
public:
    void tag(uint32_t type, const std::vector<uint8_t>& payload) {
        const uint32_t size = static_cast<uint32_t>(8 + payload.size());
        append32(type);
        append32(size);
        bytes_.insert(bytes_.end(), payload.begin(), payload.end());
        while (bytes_.size() % 8) bytes_.push_back(0);
    }
    void raw(const std::vector<uint8_t>& b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
    void string_tag(uint32_t type, const std::string& s) {
        std::vector<uint8_t> p(s.begin(), s.end());
        p.push_back(0);
        tag(type, p);
    }
    void mmap_tag(const std::vector<E820>& entries, uint32_t entry_size = 24, uint32_t version = 0) {
        std::vector<uint8_t> p;
        put32(p, entry_size);
        put32(p, version);
        for (const auto& e : entries) {
            std::vector<uint8_t> ent(entry_size, 0);
            if (entry_size >= 20) {
                std::memcpy(ent.data(), &e.base, 8);
                std::memcpy(ent.data() + 8, &e.length, 8);
                std::memcpy(ent.data() + 16, &e.type, 4);
            }
            p.insert(p.end(), ent.begin(), ent.end());
        }
        tag(6, p);
    }
    void end() { tag(0, {}); }
    // Header with total_size = actual size (or an override), then copy into fake memory.
    std::vector<uint8_t> build(int64_t total_override = -1) const {
        std::vector<uint8_t> out(8, 0);
        out.insert(out.end(), bytes_.begin(), bytes_.end());
        uint32_t total = total_override >= 0 ? static_cast<uint32_t>(total_override)
                                             : static_cast<uint32_t>(out.size());
        std::memcpy(out.data(), &total, 4);
        return out;
    }
    ParseResult parse(BootInfo& bi, FakeMemory& mem, int64_t total_override = -1, size_t extra = 0) const {
        auto img = build(total_override);
        auto& r = mem.region(kMb2Info, img.size() + extra);
        std::memcpy(r.data(), img.data(), img.size());
        return parse_multiboot2(kMb2Info, mem, bi);
    }
    static void put32(std::vector<uint8_t>& v, uint32_t x) {
        for (int i = 0; i < 4; i++) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
    }
    static void put64(std::vector<uint8_t>& v, uint64_t x) {
        for (int i = 0; i < 8; i++) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
    }

private:
    void append32(uint32_t x) { put32(bytes_, x); }
    std::vector<uint8_t> bytes_;
};

std::vector<uint8_t> fb_rgb_payload() {
    std::vector<uint8_t> p;
    Mb2Builder::put64(p, 0x80000000);
    Mb2Builder::put32(p, 1280 * 4);
    Mb2Builder::put32(p, 1280);
    Mb2Builder::put32(p, 800);
    p.push_back(32);  // bpp
    p.push_back(1);   // RGB
    p.push_back(0);   // reserved (u16)
    p.push_back(0);
    const uint8_t c[6] = {16, 8, 8, 8, 0, 8};
    p.insert(p.end(), c, c + 6);
    return p;
}

TEST(Multiboot2, WellFormedEveryField) {
    Mb2Builder b;
    b.string_tag(1, "loglevel=7 marker=grub");
    b.string_tag(2, "GRUB 2.06");
    {
        std::vector<uint8_t> p;
        Mb2Builder::put32(p, 639);
        Mb2Builder::put32(p, 130048);
        b.tag(4, p);
    }
    b.tag(3, std::vector<uint8_t>(20, 0xAA));  // a module: ignored
    b.mmap_tag(kQemuMap);
    b.tag(8, fb_rgb_payload());
    {
        std::vector<uint8_t> p;
        Mb2Builder::put64(p, 0x7F9E018);
        b.tag(12, p);
    }
    b.tag(15, make_rsdp(2));  // new RSDP first, old afterwards: the v2 copy must stay
    b.tag(14, make_rsdp(0));
    b.tag(18, {});
    b.tag(99, std::vector<uint8_t>(5, 1));  // unknown tag: skipped
    b.end();
    FakeMemory mem;
    static BootInfo bi;
    ParseResult r = b.parse(bi, mem);
    ASSERT_TRUE(r.ok()) << parse_error_text(r.error) << " tag " << r.tag << " at " << r.offset;
    EXPECT_EQ(bi.protocol, Protocol::Multiboot2);
    EXPECT_STREQ(bi.cmdline, "loglevel=7 marker=grub");
    EXPECT_STREQ(bi.args(), "loglevel=7 marker=grub");
    EXPECT_EQ(bi.cmdline_len, 22u);
    EXPECT_STREQ(bi.loader_name, "GRUB 2.06");
    EXPECT_TRUE(bi.have_basic_meminfo);
    EXPECT_EQ(bi.mem_lower_kib, 639u);
    EXPECT_EQ(bi.mem_upper_kib, 130048u);
    ASSERT_EQ(bi.memory_map.count, kQemuMap.size());
    for (size_t i = 0; i < kQemuMap.size(); i++) {
        EXPECT_EQ(bi.memory_map.entries[i].base, kQemuMap[i].base);
        EXPECT_EQ(bi.memory_map.entries[i].length, kQemuMap[i].length);
    }
    EXPECT_EQ(bi.framebuffer.type, FramebufferType::Rgb);
    EXPECT_EQ(bi.framebuffer.phys, 0x80000000u);
    EXPECT_EQ(bi.framebuffer.pitch, 5120u);
    EXPECT_EQ(bi.framebuffer.width, 1280u);
    EXPECT_EQ(bi.framebuffer.height, 800u);
    EXPECT_EQ(bi.framebuffer.bpp, 32);
    EXPECT_EQ(bi.framebuffer.red.position, 16);
    EXPECT_EQ(bi.framebuffer.green.position, 8);
    EXPECT_EQ(bi.framebuffer.blue.position, 0);
    EXPECT_EQ(bi.framebuffer.blue.size, 8);
    EXPECT_EQ(bi.efi.system_table, 0x7F9E018u);
    EXPECT_EQ(bi.efi.system_table_bits, 64);
    EXPECT_TRUE(bi.efi.boot_services_active);
    EXPECT_FALSE(bi.efi.memory_map_from_efi);
    EXPECT_EQ(bi.rsdp.phys, 0u);
    EXPECT_EQ(bi.rsdp.copy_len, 36);
    EXPECT_EQ(bi.rsdp.revision, 2);
    EXPECT_TRUE(bi.rsdp.checksum_ok);
    auto v2 = make_rsdp(2);
    EXPECT_EQ(std::memcmp(bi.rsdp.bytes, v2.data(), 36), 0);
    EXPECT_EQ(bi.warnings, 0u);
}

TEST(Multiboot2, OldRsdpOnlyAndEfi32) {
    Mb2Builder b;
    b.tag(14, make_rsdp(0));
    {
        std::vector<uint8_t> p;
        Mb2Builder::put32(p, 0x7F9E000);
        b.tag(11, p);
    }
    b.end();
    FakeMemory mem;
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi, mem).ok());
    EXPECT_EQ(bi.rsdp.copy_len, 20);
    EXPECT_EQ(bi.rsdp.revision, 0);
    EXPECT_TRUE(bi.rsdp.checksum_ok);
    EXPECT_EQ(bi.efi.system_table, 0x7F9E000u);
    EXPECT_EQ(bi.efi.system_table_bits, 32);
    EXPECT_FALSE(bi.efi.boot_services_active);
    EXPECT_TRUE(bi.has_warning(kWarnNoMemoryMap));
}

TEST(Multiboot2, RsdpProblemsAreWarnings) {
    {
        Mb2Builder b;
        b.tag(15, make_rsdp(2, false));
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_TRUE(bi.has_warning(kWarnRsdpBad));
        EXPECT_EQ(bi.rsdp.copy_len, 36);  // kept; the ACPI code decides
        EXPECT_FALSE(bi.rsdp.checksum_ok);
    }
    {
        Mb2Builder b;
        b.tag(14, std::vector<uint8_t>(12, 0));  // too short
        auto bad = make_rsdp(0);
        bad[0] = 'X';
        b.tag(14, bad);  // bad signature
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_TRUE(bi.has_warning(kWarnRsdpBad));
        EXPECT_EQ(bi.rsdp.copy_len, 0);
    }
}

TEST(Multiboot2, FramebufferIndexedEgaAndShort) {
    {
        Mb2Builder b;
        auto p = fb_rgb_payload();
        p[21] = 0;  // indexed
        p.resize(24);
        p.push_back(16);  // u16 number of colours
        p.push_back(0);
        b.tag(8, p);
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_EQ(bi.framebuffer.type, FramebufferType::Indexed);
        EXPECT_EQ(bi.framebuffer.palette_colors, 16u);
    }
    {
        Mb2Builder b;
        auto p = fb_rgb_payload();
        p[21] = 2;  // EGA text
        p.resize(24);
        b.tag(8, p);
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_EQ(bi.framebuffer.type, FramebufferType::EgaText);
        EXPECT_EQ(bi.framebuffer.width, 1280u);
    }
    {
        Mb2Builder b;
        auto p = fb_rgb_payload();
        p.resize(26);  // RGB but the colour fields are cut off
        b.tag(8, p);
        b.tag(8, std::vector<uint8_t>(10, 0));  // shorter than the common part
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_EQ(bi.framebuffer.type, FramebufferType::None);
        EXPECT_TRUE(bi.has_warning(kWarnFramebufferOdd));
    }
}

TEST(Multiboot2, EfiMemoryMapFallback) {
    // No tag 6: the EFI memory map (tag 17) is used. Tag 18 comes after 17 and still applies.
    Mb2Builder b;
    std::vector<uint8_t> p;
    const uint32_t desc_size = 48;  // firmware descriptors are often larger than the 40-byte struct
    Mb2Builder::put32(p, desc_size);
    Mb2Builder::put32(p, 1);
    struct D {
        uint32_t type;
        uint64_t phys, pages;
    } descs[] = {
        {7, 0x0, 0x9F},         // conventional
        {3, 0x100000, 0x100},   // boot services code: reserved while boot services are active
        {7, 0x200000, 0x1000},  // conventional
        {9, 0x1200000, 0x10},   // ACPI reclaim
        {10, 0x1210000, 0x10},  // ACPI NVS
        {11, 0xFEC00000, 1},    // MMIO
        {8, 0x1220000, 1},      // unusable
    };
    for (const auto& d : descs) {
        std::vector<uint8_t> e(desc_size, 0);
        std::memcpy(e.data(), &d.type, 4);
        std::memcpy(e.data() + 8, &d.phys, 8);
        std::memcpy(e.data() + 24, &d.pages, 8);
        p.insert(p.end(), e.begin(), e.end());
    }
    b.tag(17, p);
    b.tag(18, {});
    b.end();
    FakeMemory mem;
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi, mem).ok());
    EXPECT_TRUE(bi.efi.memory_map_from_efi);
    EXPECT_TRUE(bi.efi.boot_services_active);
    EXPECT_TRUE(bi.has_warning(kWarnMemoryMapFromEfi));
    ASSERT_EQ(bi.memory_map.count, 7u);
    EXPECT_EQ(bi.memory_map.entries[0].type, MemType::Usable);
    EXPECT_EQ(bi.memory_map.entries[0].length, 0x9Fu * 4096);
    EXPECT_EQ(bi.memory_map.entries[1].type, MemType::Reserved);
    EXPECT_EQ(bi.memory_map.entries[2].type, MemType::Usable);
    EXPECT_EQ(bi.memory_map.entries[3].type, MemType::AcpiReclaimable);
    EXPECT_EQ(bi.memory_map.entries[4].type, MemType::AcpiNvs);
    EXPECT_EQ(bi.memory_map.entries[5].type, MemType::Bad);
    EXPECT_EQ(bi.memory_map.entries[5].base, 0x1220000u);
    EXPECT_EQ(bi.memory_map.entries[6].type, MemType::Reserved);
    EXPECT_EQ(bi.memory_map.entries[6].base, 0xFEC00000u);
}

TEST(Multiboot2, Tag6PreferredOverEfiMapAndBasicMeminfoFallback) {
    {
        Mb2Builder b;
        std::vector<uint8_t> p;
        Mb2Builder::put32(p, 40);
        Mb2Builder::put32(p, 1);
        p.resize(8 + 40, 0);
        b.tag(17, p);
        b.mmap_tag(kQemuMap);
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_FALSE(bi.efi.memory_map_from_efi);
        EXPECT_EQ(bi.memory_map.count, kQemuMap.size());
    }
    {
        Mb2Builder b;
        std::vector<uint8_t> p;
        Mb2Builder::put32(p, 639);
        Mb2Builder::put32(p, 1024);
        b.tag(4, p);
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_TRUE(bi.has_warning(kWarnMemoryMapLegacy));
        ASSERT_EQ(bi.memory_map.count, 2u);
        EXPECT_EQ(bi.memory_map.entries[1].length, 1024u * 1024);
    }
}

TEST(Multiboot2, StructuralErrors) {
    FakeMemory mem;
    static BootInfo bi;
    // Misaligned info.
    mem.region(0x20000, 64);
    EXPECT_EQ(parse_multiboot2(0x20004, mem, bi).error, ParseError::Misaligned);
    // Unreadable.
    EXPECT_EQ(parse_multiboot2(0x50000, mem, bi).error, ParseError::Unreadable);
    struct Case {
        const char* name;
        std::vector<uint8_t> body;  // after the 8-byte header
        int64_t total;              // -1: real size
        ParseError want;
        uint32_t want_offset;
    };
    auto tag = [](uint32_t type, uint32_t size, size_t payload = 0) {
        std::vector<uint8_t> v;
        Mb2Builder::put32(v, type);
        Mb2Builder::put32(v, size);
        v.resize(v.size() + payload, 0);
        return v;
    };
    auto cat = [](std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    };
    const Case cases[] = {
        {"total_size 8", tag(0, 8), 8, ParseError::TotalSizeTooSmall, 0},
        {"total_size 0", tag(0, 8), 0, ParseError::TotalSizeTooSmall, 0},
        {"total_size huge", tag(0, 8), 0x7FFFFFF0, ParseError::TotalSizeTooLarge, 0},
        {"tag size 0", cat(tag(1, 0), tag(0, 8)), -1, ParseError::TagTooSmall, 8},
        {"tag size 4", cat(tag(1, 4), tag(0, 8)), -1, ParseError::TagTooSmall, 8},
        {"tag past total_size", cat(tag(1, 64, 8), tag(0, 8)), -1, ParseError::TagOverrun, 8},
        {"end tag past total_size", cat(tag(1, 16, 8), tag(0, 8)), 28, ParseError::MissingEndTag, 24},
        {"no end tag", tag(1, 16, 8), -1, ParseError::MissingEndTag, 24},
        {"truncated tag header", cat(tag(1, 16, 8), std::vector<uint8_t>(4, 0)), -1, ParseError::MissingEndTag, 24},
        // A 12-byte tag followed directly (no padding) by the next tag: the parser looks at offset 24.
        {"misaligned next tag", cat(cat(tag(2, 12, 4), tag(0, 8)), std::vector<uint8_t>(4, 0)), -1,
         ParseError::TagTooSmall, 24},
    };
    for (const auto& c : cases) {
        std::vector<uint8_t> img(8, 0);
        img.insert(img.end(), c.body.begin(), c.body.end());
        uint32_t total = c.total >= 0 ? static_cast<uint32_t>(c.total) : static_cast<uint32_t>(img.size());
        std::memcpy(img.data(), &total, 4);
        FakeMemory m;
        auto& r = m.region(kMb2Info, img.size());
        std::memcpy(r.data(), img.data(), img.size());
        ParseResult res = parse_multiboot2(kMb2Info, m, bi);
        EXPECT_EQ(res.error, c.want) << c.name << ": " << parse_error_text(res.error);
        EXPECT_EQ(res.offset, c.want_offset) << c.name;
        EXPECT_LE(m.max_read_end, kMb2Info + img.size()) << c.name;
    }
}

TEST(Multiboot2, InfoShorterInMemoryThanTotalSize) {
    Mb2Builder b;
    b.string_tag(1, "abc");
    b.end();
    auto img = b.build();
    FakeMemory mem;
    auto& r = mem.region(kMb2Info, img.size() - 8);  // the end tag is missing from memory
    std::memcpy(r.data(), img.data(), r.size());
    static BootInfo bi;
    ParseResult res = parse_multiboot2(kMb2Info, mem, bi);
    EXPECT_EQ(res.error, ParseError::Unreadable);
    EXPECT_STREQ(bi.cmdline, "abc");
}

TEST(Multiboot2, MmapTagErrors) {
    {
        Mb2Builder b;
        b.mmap_tag(kQemuMap, 0);
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ParseResult r = b.parse(bi, mem);
        EXPECT_EQ(r.error, ParseError::MmapEntryTooSmall);
        EXPECT_EQ(r.tag, 6u);
    }
    {
        Mb2Builder b;
        b.mmap_tag(kQemuMap, 20);
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        EXPECT_EQ(b.parse(bi, mem).error, ParseError::MmapEntryTooSmall);
    }
    {
        Mb2Builder b;
        b.tag(6, std::vector<uint8_t>(4, 0));  // shorter than entry_size + entry_version
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        EXPECT_EQ(b.parse(bi, mem).error, ParseError::TagTooSmall);
    }
    {
        Mb2Builder b;
        std::vector<uint8_t> p;
        Mb2Builder::put32(p, 8);  // EFI descriptor size smaller than a descriptor
        Mb2Builder::put32(p, 1);
        b.tag(17, p);
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ParseResult r = b.parse(bi, mem);
        EXPECT_EQ(r.error, ParseError::MmapEntryTooSmall);
        EXPECT_EQ(r.tag, 17u);
    }
    {
        // Larger entries (32 bytes) and an unknown version: parsed, with a warning for the version.
        Mb2Builder b;
        b.mmap_tag(kQemuMap, 32, 1);
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_EQ(bi.memory_map.count, kQemuMap.size());
        EXPECT_TRUE(bi.has_warning(kWarnMemoryMapOdd));
    }
}

TEST(Multiboot2, ThousandMmapEntries) {
    std::vector<E820> many;
    for (int i = 0; i < 1000; i++)
        many.push_back({static_cast<uint64_t>(i) * 0x3000, 0x1000, static_cast<uint32_t>(1 + (i % 2))});
    Mb2Builder b;
    b.mmap_tag(many);
    b.end();
    FakeMemory mem;
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi, mem).ok());
    EXPECT_TRUE(bi.has_warning(kWarnMemoryMapTruncated));
    EXPECT_EQ(bi.firmware_map.count, kMaxMemRegions);
}

TEST(Multiboot2, CmdlineTagProblems) {
    {
        Mb2Builder b;
        b.tag(1, {'a', 'b', 'c', 'd'});  // no NUL inside the tag (the padding after it is not the tag's)
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ParseResult r = b.parse(bi, mem);
        EXPECT_EQ(r.error, ParseError::CmdlineUnterminated);
        EXPECT_EQ(r.tag, 1u);
        EXPECT_FALSE(bi.have_cmdline);
        EXPECT_STREQ(bi.cmdline, "");
    }
    {
        Mb2Builder b;
        b.string_tag(1, std::string(6000, 'q'));
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_TRUE(bi.has_warning(kWarnCmdlineTruncated));
        EXPECT_EQ(bi.cmdline_len, kCmdlineSize - 1);
    }
    {
        Mb2Builder b;
        b.string_tag(1, "first");
        b.string_tag(1, "second");
        b.tag(2, {'x', 'y'});  // unterminated loader name: a warning only
        b.end();
        FakeMemory mem;
        static BootInfo bi;
        ASSERT_TRUE(b.parse(bi, mem).ok());
        EXPECT_STREQ(bi.cmdline, "second");
        EXPECT_TRUE(bi.has_warning(kWarnDuplicateTag));
        EXPECT_TRUE(bi.has_warning(kWarnLoaderNameBad));
        EXPECT_STREQ(bi.loader_name, "");
    }
}

TEST(Multiboot2, ShortFixedTagsAreWarnings) {
    Mb2Builder b;
    b.tag(4, {1, 2, 3});
    b.tag(12, {1, 2, 3, 4});
    b.tag(11, {});
    b.end();
    FakeMemory mem;
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi, mem).ok());
    EXPECT_TRUE(bi.has_warning(kWarnShortTag));
    EXPECT_FALSE(bi.have_basic_meminfo);
    EXPECT_EQ(bi.efi.system_table_bits, 0);
}

// ------------------------------------------------------------------------------------------------ PVH
constexpr uint64_t kPvhInfo = 0x6000;
constexpr uint64_t kPvhMemmap = 0x7000;
constexpr uint64_t kPvhCmdline = 0x20000;
constexpr uint64_t kPvhRsdp = 0xF59E0;

struct PvhBuilder {
    FakeMemory mem;
    std::vector<uint8_t>* si;
    explicit PvhBuilder(uint32_t version = 1) {
        si = &mem.region(kPvhInfo, version >= 1 ? 56 : 40);
        set32(0, kPvhMagic);
        set32(4, version);
        mem.region(kPvhMemmap, 0x1000);
        mem.region(kPvhCmdline, 0x1000);
        mem.region(0xE0000, 0x20000);
    }
    void set32(size_t off, uint32_t v) { std::memcpy(si->data() + off, &v, 4); }
    void set64(size_t off, uint64_t v) { std::memcpy(si->data() + off, &v, 8); }
    void memmap(const std::vector<E820>& entries) {
        uint64_t p = kPvhMemmap;
        for (const auto& e : entries) {
            mem.put64(p, e.base);
            mem.put64(p + 8, e.length);
            mem.put32(p + 16, e.type);
            mem.put32(p + 20, 0);
            p += 24;
        }
        set64(40, kPvhMemmap);
        set32(48, static_cast<uint32_t>(entries.size()));
    }
    void cmdline(const std::string& s) {
        mem.put_string(kPvhCmdline, s);
        set64(24, kPvhCmdline);
    }
    void rsdp(int revision) {
        auto r = make_rsdp(revision);
        mem.put(kPvhRsdp, r.data(), r.size());
        set64(32, kPvhRsdp);
    }
    ParseResult parse(BootInfo& bi) { return parse_pvh(kPvhInfo, mem, bi); }
};

TEST(Pvh, Version1EveryField) {
    PvhBuilder b;
    b.memmap(kQemuMap);
    b.cmdline("debug_exit=0xf4 marker=pvh");
    b.rsdp(2);
    static BootInfo bi;
    ParseResult r = b.parse(bi);
    ASSERT_TRUE(r.ok()) << parse_error_text(r.error);
    EXPECT_EQ(bi.protocol, Protocol::Pvh);
    EXPECT_EQ(bi.magic, kPvhMagic);
    EXPECT_STREQ(bi.cmdline, "debug_exit=0xf4 marker=pvh");
    EXPECT_STREQ(bi.args(), "debug_exit=0xf4 marker=pvh");
    EXPECT_FALSE(bi.have_loader_name);
    ASSERT_EQ(bi.memory_map.count, kQemuMap.size());
    EXPECT_EQ(bi.memory_map.entries[3].base, 0x100000u);
    EXPECT_EQ(bi.memory_map.entries[3].length, 0x7EE0000u);
    EXPECT_EQ(bi.memory_map.entries[3].type, MemType::Usable);
    EXPECT_EQ(bi.rsdp.phys, kPvhRsdp);
    EXPECT_EQ(bi.rsdp.copy_len, 36);
    EXPECT_EQ(bi.rsdp.revision, 2);
    EXPECT_TRUE(bi.rsdp.checksum_ok);
    EXPECT_EQ(bi.framebuffer.type, FramebufferType::None);
    EXPECT_EQ(bi.warnings, 0u);
    EXPECT_LE(b.mem.max_read_end, 0x100000u);
}

TEST(Pvh, Version0HasNoMemoryMap) {
    PvhBuilder b(0);
    b.cmdline("a=1");
    b.rsdp(0);
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_STREQ(bi.cmdline, "a=1");
    EXPECT_EQ(bi.rsdp.copy_len, 20);
    EXPECT_TRUE(bi.has_warning(kWarnNoMemoryMap));
    // Only the 40 bytes of a version-0 structure were read.
    FakeMemory only40;
    auto& r = only40.region(kPvhInfo, 40);
    std::memcpy(r.data(), b.si->data(), 40);
    std::memset(r.data() + 24, 0, 16);  // no cmdline, no RSDP in this copy
    EXPECT_TRUE(parse_pvh(kPvhInfo, only40, bi).ok());
}

TEST(Pvh, NoCmdlineNoRsdp) {
    PvhBuilder b;
    b.memmap(kQemuMap);
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_FALSE(bi.have_cmdline);
    EXPECT_EQ(bi.rsdp.phys, 0u);
    EXPECT_EQ(bi.rsdp.copy_len, 0);
}

TEST(Pvh, Errors) {
    static BootInfo bi;
    {
        PvhBuilder b;
        b.set32(0, 0x12345678);
        EXPECT_EQ(b.parse(bi).error, ParseError::BadMagic);
    }
    {
        FakeMemory mem;
        EXPECT_EQ(parse_pvh(kPvhInfo, mem, bi).error, ParseError::Unreadable);
        auto& r = mem.region(kPvhInfo, 40);  // claims version 1 but only 40 bytes exist
        uint32_t h[2] = {kPvhMagic, 1};
        std::memcpy(r.data(), h, 8);
        EXPECT_EQ(parse_pvh(kPvhInfo, mem, bi).error, ParseError::Unreadable);
    }
    {
        PvhBuilder b;
        b.memmap(kQemuMap);
        b.set32(48, 0xFFFFFFFF);
        EXPECT_EQ(b.parse(bi).error, ParseError::MmapTooLarge);
    }
    {
        PvhBuilder b;
        b.memmap(kQemuMap);
        b.set32(48, 200);  // runs off the end of the 4 KiB page holding the map
        ParseResult r = b.parse(bi);
        EXPECT_EQ(r.error, ParseError::MmapUnreadable);
        EXPECT_EQ(r.offset, 170u * 24);
    }
    {
        PvhBuilder b;
        b.set64(40, 0);
        b.set32(48, 3);
        EXPECT_EQ(b.parse(bi).error, ParseError::MmapUnreadable);
    }
    {
        PvhBuilder b;
        b.memmap(kQemuMap);
        b.set64(24, 0xDEAD0000);
        EXPECT_EQ(b.parse(bi).error, ParseError::CmdlineUnreadable);
        EXPECT_EQ(bi.memory_map.count, kQemuMap.size());
    }
    {
        PvhBuilder b;
        b.set64(24, 0xFFFFFFFFFFFFFFF0ull);  // wraps around the address space
        EXPECT_EQ(b.parse(bi).error, ParseError::CmdlineUnreadable);
    }
}

TEST(Pvh, WarningsNewerVersionAndUnreadableRsdp) {
    PvhBuilder b(2);
    b.memmap(kQemuMap);
    b.set64(32, 0xDEAD0000);
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnPvhNewerVersion));
    EXPECT_TRUE(bi.has_warning(kWarnRsdpUnreadable));
    EXPECT_EQ(bi.rsdp.phys, 0xDEAD0000u);
    EXPECT_EQ(bi.rsdp.copy_len, 0);
    EXPECT_EQ(bi.memory_map.count, kQemuMap.size());
}

TEST(Pvh, ThousandMemmapEntries) {
    PvhBuilder b;
    b.mem.region(0x200000, 1000 * 24);
    for (int i = 0; i < 1000; i++) {
        uint64_t p = 0x200000 + static_cast<uint64_t>(i) * 24;
        b.mem.put64(p, static_cast<uint64_t>(i) << 20);
        b.mem.put64(p + 8, 0x80000);
        b.mem.put32(p + 16, 1);
    }
    b.set64(40, 0x200000);
    b.set32(48, 1000);
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnMemoryMapTruncated));
    EXPECT_EQ(bi.memory_map.count, kMaxMemRegions);
}

TEST(Pvh, FirecrackerStyleOverlappingMap) {
    // RAM entries overlapping reserved ones: reserved wins, the result is sorted and merged.
    PvhBuilder b;
    b.memmap({{0x100000, 0x8000000, 1},
              {0x0, 0x9FC00, 1},
              {0x9FC00, 0x40400, 2},
              {0x7000000, 0x10000, 2},
              {0x7FFF000, 0x2000, 1}});
    static BootInfo bi;
    ASSERT_TRUE(b.parse(bi).ok());
    EXPECT_TRUE(bi.has_warning(kWarnMemoryMapOverlap));
    const MemoryMap& m = bi.memory_map;
    ASSERT_EQ(m.count, 5u);
    EXPECT_EQ(m.entries[0].base, 0u);
    EXPECT_EQ(m.entries[0].length, 0x9FC00u);
    EXPECT_EQ(m.entries[1].type, MemType::Reserved);
    EXPECT_EQ(m.entries[1].base, 0x9FC00u);
    EXPECT_EQ(m.entries[2].base, 0x100000u);
    EXPECT_EQ(m.entries[2].length, 0x7000000u - 0x100000u);
    EXPECT_EQ(m.entries[3].base, 0x7000000u);
    EXPECT_EQ(m.entries[3].type, MemType::Reserved);
    EXPECT_EQ(m.entries[4].base, 0x7010000u);
    EXPECT_EQ(m.entries[4].end(), 0x8100000u);
    EXPECT_EQ(m.entries[4].type, MemType::Usable);
}

// --------------------------------------------------------------------------------------- memory map
MemoryMap make_map(const std::vector<MemRegion>& rs) {
    MemoryMap m{};
    for (const auto& r : rs) {
        m.entries[m.count++] = r;
    }
    return m;
}

TEST(MemoryMapSanitize, Table) {
    using T = MemType;
    struct Case {
        const char* name;
        std::vector<MemRegion> in;
        std::vector<MemRegion> want;
        size_t overlaps;
    };
    const Case cases[] = {
        {"empty", {}, {}, 0},
        {"zero length dropped", {{0x1000, 0, T::Usable, 1}}, {}, 0},
        {"sorted",
         {{0x3000, 0x1000, T::Usable, 1}, {0x1000, 0x1000, T::Reserved, 2}},
         {{0x1000, 0x1000, T::Reserved, 2}, {0x3000, 0x1000, T::Usable, 1}},
         0},
        {"adjacent merged",
         {{0x2000, 0x1000, T::Usable, 1}, {0x1000, 0x1000, T::Usable, 1}},
         {{0x1000, 0x2000, T::Usable, 1}},
         0},
        {"reserved inside usable",
         {{0x0, 0x10000, T::Usable, 1}, {0x4000, 0x1000, T::Reserved, 2}},
         {{0x0, 0x4000, T::Usable, 1}, {0x4000, 0x1000, T::Reserved, 2}, {0x5000, 0xB000, T::Usable, 1}},
         1},
        {"usable inside reserved",
         {{0x4000, 0x1000, T::Usable, 1}, {0x0, 0x10000, T::Reserved, 2}},
         {{0x0, 0x10000, T::Reserved, 2}},
         1},
        {"partial overlap",
         {{0x0, 0x3000, T::Usable, 1}, {0x2000, 0x3000, T::AcpiReclaimable, 3}},
         {{0x0, 0x2000, T::Usable, 1}, {0x2000, 0x3000, T::AcpiReclaimable, 3}},
         1},
        {"bad beats reserved",
         {{0x0, 0x2000, T::Reserved, 2}, {0x1000, 0x2000, T::Bad, 5}},
         {{0x0, 0x1000, T::Reserved, 2}, {0x1000, 0x2000, T::Bad, 5}},
         1},
        {"nvs beats reclaimable",
         {{0x0, 0x2000, T::AcpiNvs, 4}, {0x0, 0x2000, T::AcpiReclaimable, 3}},
         {{0x0, 0x2000, T::AcpiNvs, 4}},
         1},
        {"duplicate entries",
         {{0x0, 0x2000, T::Usable, 1}, {0x0, 0x2000, T::Usable, 1}},
         {{0x0, 0x2000, T::Usable, 1}},
         1},
        {"wrapping clamped",
         {{0xFFFFFFFFFFFFF000ull, 0x2000, T::Reserved, 2}},
         {{0xFFFFFFFFFFFFF000ull, 0xFFF, T::Reserved, 2}},
         0},
        {"gaps kept",
         {{0x0, 0x1000, T::Usable, 1}, {0x5000, 0x1000, T::Usable, 1}},
         {{0x0, 0x1000, T::Usable, 1}, {0x5000, 0x1000, T::Usable, 1}},
         0},
    };
    for (const auto& c : cases) {
        MemoryMap in = make_map(c.in);
        static MemoryMap out;
        size_t overlaps = sanitize_memory_map(in, out);
        EXPECT_EQ(overlaps, c.overlaps) << c.name;
        ASSERT_EQ(out.count, c.want.size()) << c.name;
        for (size_t i = 0; i < out.count; i++) {
            EXPECT_EQ(out.entries[i].base, c.want[i].base) << c.name << " #" << i;
            EXPECT_EQ(out.entries[i].length, c.want[i].length) << c.name << " #" << i;
            EXPECT_EQ(out.entries[i].type, c.want[i].type) << c.name << " #" << i;
            EXPECT_EQ(out.entries[i].raw_type, c.want[i].raw_type) << c.name << " #" << i;
        }
    }
}

TEST(MemoryMapSanitize, SplittingBeyondCapacityTruncates) {
    // One usable region with 127 reserved holes splits into 255 pieces: more than the map holds.
    MemoryMap in{};
    in.entries[in.count++] = {0, 0x1000000, MemType::Usable, 1};
    for (size_t i = 1; i < kMaxMemRegions; i++) in.entries[in.count++] = {i * 0x10000, 0x1000, MemType::Reserved, 2};
    static MemoryMap out;
    EXPECT_GT(sanitize_memory_map(in, out), 0u);  // counted up to where the output filled
    EXPECT_EQ(out.count, kMaxMemRegions);
    EXPECT_TRUE(out.truncated);
    for (size_t i = 1; i < out.count; i++) {
        EXPECT_GE(out.entries[i].base, out.entries[i - 1].end());
        EXPECT_NE(out.entries[i].type, out.entries[i - 1].type);
    }
}

TEST(MemoryMapAdd, MergesContiguousSameTypeAndTruncates) {
    static MemoryMap m;
    m = MemoryMap{};
    EXPECT_TRUE(m.add(0, 0x1000, MemType::Usable, 1));
    EXPECT_TRUE(m.add(0x1000, 0x1000, MemType::Usable, 7));  // EFI boot services data next to conventional
    EXPECT_TRUE(m.add(0x2000, 0, MemType::Usable, 1));
    EXPECT_TRUE(m.add(0x2000, 0x1000, MemType::Reserved, 2));
    ASSERT_EQ(m.count, 2u);
    EXPECT_EQ(m.entries[0].length, 0x2000u);
    EXPECT_EQ(m.entries[0].raw_type, 1u);
    for (size_t i = 0; i < 200; i++) m.add(0x100000 + i * 0x2000, 0x1000, MemType::Usable, 1);
    EXPECT_EQ(m.count, kMaxMemRegions);
    EXPECT_TRUE(m.truncated);
    EXPECT_EQ(m.total(MemType::Reserved), 0x1000u);
}

TEST(MemTypes, Conversions) {
    EXPECT_EQ(mem_type_from_e820(1), MemType::Usable);
    EXPECT_EQ(mem_type_from_e820(2), MemType::Reserved);
    EXPECT_EQ(mem_type_from_e820(3), MemType::AcpiReclaimable);
    EXPECT_EQ(mem_type_from_e820(4), MemType::AcpiNvs);
    EXPECT_EQ(mem_type_from_e820(5), MemType::Bad);
    EXPECT_EQ(mem_type_from_e820(7), MemType::Reserved);
    EXPECT_EQ(mem_type_from_e820(0), MemType::Reserved);
    EXPECT_EQ(mem_type_from_efi(4, false), MemType::Usable);
    EXPECT_EQ(mem_type_from_efi(4, true), MemType::Reserved);
    EXPECT_EQ(mem_type_from_efi(5, false), MemType::Reserved);
    EXPECT_EQ(mem_type_from_efi(14, false), MemType::Reserved);
    EXPECT_STREQ(mem_type_name(MemType::AcpiNvs), "ACPI NVS");
}

// ------------------------------------------------------------------------------------- misc / dispatch
TEST(BootInfoParse, DispatchOnMagic) {
    PvhBuilder b;
    b.memmap(kQemuMap);
    static BootInfo bi;
    EXPECT_TRUE(parse(kPvhMagic, kPvhInfo, b.mem, bi).ok());
    EXPECT_EQ(bi.protocol, Protocol::Pvh);
    EXPECT_EQ(parse(0x12345678, kPvhInfo, b.mem, bi).error, ParseError::UnknownMagic);
    EXPECT_EQ(bi.protocol, Protocol::None);
    EXPECT_EQ(bi.magic, 0x12345678u);
    // The wrong protocol's magic for the data: garbage, yet only errors, never a stray read.
    EXPECT_EQ(parse(kMultiboot1Magic, kPvhInfo, b.mem, bi).error, ParseError::Unreadable);
    EXPECT_EQ(bi.protocol, Protocol::Multiboot1);
    EXPECT_EQ(parse(kMultiboot2Magic, kPvhInfo, b.mem, bi).error, ParseError::TotalSizeTooLarge);
}

TEST(BootInfoParse, TextsForEveryWarningAndError) {
    for (int bit = 0; bit < kWarningBits; bit++) EXPECT_NE(warning_text(1u << bit), nullptr) << bit;
    EXPECT_EQ(warning_text(1u << kWarningBits), nullptr);
    for (int e = 0; e <= static_cast<int>(ParseError::CmdlineUnterminated); e++)
        EXPECT_STRNE(parse_error_text(static_cast<ParseError>(e)), "?") << e;
}

// The kernel's reader goes through hw::phys_to_virt, i.e. the hw::Model in host tests.
class RamModel : public skerry::hw::Model {
public:
    uint8_t ram[0x3000] = {};
    void* phys_to_host(uint64_t phys, size_t len) override {
        if (phys >= sizeof ram || len > sizeof ram - phys) return nullptr;
        return ram + phys;
    }
};

TEST(IdentityPhysReader, BoundsAndModel) {
    RamModel model;
    model.ram[0x1000] = 0x5A;
    skerry::hw::set_model(&model);
    IdentityPhysReader reader;
    uint8_t b = 0;
    EXPECT_TRUE(reader.read(0x1000, &b, 1));
    EXPECT_EQ(b, 0x5A);
    EXPECT_FALSE(reader.read(0x0, &b, 1));             // page 0 refused
    EXPECT_FALSE(reader.read(0xFFF, &b, 2));           // starts in page 0
    EXPECT_FALSE(reader.read(0x2FFF, &b, 2));          // the model has no RAM there
    EXPECT_FALSE(reader.read(0x100000000ull, &b, 1));  // above 4 GiB
    EXPECT_FALSE(reader.read(0xFFFFFFFFull, &b, 2));   // crosses 4 GiB
    EXPECT_FALSE(reader.read(~0ull, &b, 2));           // wraps
    EXPECT_TRUE(reader.read(0x5000, &b, 0));           // empty reads succeed
    IdentityPhysReader wide(0, ~0ull);
    EXPECT_TRUE(wide.read(0x0, &b, 1));
    skerry::hw::set_model(nullptr);
}

}  // namespace
