// Console bring-up: which sinks exist and in what order. See console.hpp.
#include "drivers/console/console.hpp"

#include "drivers/console/fb_console.hpp"
#include "drivers/console/font.hpp"
#include "drivers/console/vga_text.hpp"
#include "kernel/log.hpp"

#include "kernel/arch/paging.hpp"

namespace skerry::console {
namespace {
constexpr log::Logger kLog{"console"};

Serial16550 com1;
VgaText vga;
FbConsole fbcon;  // ~96 KiB of cell arrays, in .bss
Screen active = Screen::None;

const char* fb_type_name(boot::FramebufferType t) {
    switch (t) {
    case boot::FramebufferType::None: return "none";
    case boot::FramebufferType::Indexed: return "indexed colour";
    case boot::FramebufferType::Rgb: return "RGB";
    case boot::FramebufferType::EgaText: return "EGA text";
    }
    return "?";
}

Screen start_framebuffer(const boot::Framebuffer& fb) {
    const uint64_t bytes = static_cast<uint64_t>(fb.pitch) * fb.height;
    if (!paging::map_mmio(fb.phys, bytes)) {
        kLog.warn("cannot map the framebuffer at 0x%llx", static_cast<unsigned long long>(fb.phys));
        return Screen::None;
    }
    paging::set_write_combining(fb.phys, bytes);
    if (!fbcon.init(fb, kFont8x16)) {
        kLog.warn("framebuffer %ux%u %u bpp at 0x%llx not usable (RGB 16/24/32 bpp only)", fb.width, fb.height, fb.bpp,
                  static_cast<unsigned long long>(fb.phys));
        return Screen::None;
    }
    fbcon.hold(true);
    log::add_sink(&fbcon, true);
    fbcon.hold(false);
    kLog.info("framebuffer %ux%u %u bpp at 0x%llx (%llu KiB, pitch %u), %ux%u text, font %s%s", fb.width, fb.height,
              fb.bpp, static_cast<unsigned long long>(fb.phys), static_cast<unsigned long long>(bytes / 1024), fb.pitch,
              fbcon.cols(), fbcon.rows(), kFont8x16.name, fbcon.scale() > 1 ? " (scaled)" : "");
    return Screen::Framebuffer;
}

Screen start_vga(uint64_t phys, uint32_t cols, uint32_t rows) {
    if (!vga.init(phys, cols, rows)) {
        kLog.warn("VGA text %ux%u at 0x%llx not usable", cols, rows, static_cast<unsigned long long>(phys));
        return Screen::None;
    }
    log::add_sink(&vga, true);
    kLog.info("VGA text %ux%u at 0x%llx", cols, rows, static_cast<unsigned long long>(phys));
    return Screen::VgaText;
}
}  // namespace

bool init_serial() {
    if (com1.init(Serial16550::kCom1, 115200)) {
        log::add_sink(&com1);
        kLog.info("serial COM1 at 0x%x, 115200 8N1%s", com1.base(), com1.fifo() ? ", 16-byte FIFO" : "");
        return true;
    }
    kLog.info("no serial port at 0x%x (loopback test failed)", Serial16550::kCom1);
    return false;
}

Screen init_screen(const boot::BootInfo& info) {
    if (active != Screen::None) return active;
    const boot::Framebuffer& fb = info.framebuffer;
    switch (fb.type) {
    case boot::FramebufferType::Rgb: active = start_framebuffer(fb); break;
    case boot::FramebufferType::EgaText:
        active = start_vga(fb.phys ? fb.phys : VgaText::kPhys, fb.width ? fb.width : 80, fb.height ? fb.height : 25);
        break;
    case boot::FramebufferType::None:
        if (info.efi.system_table == 0 && VgaText::probe()) {
            active = start_vga(VgaText::kPhys, 80, 25);
        } else {
            kLog.info("no screen (no framebuffer information%s); serial only",
                      info.efi.system_table ? " from UEFI" : ", no VGA");
        }
        break;
    default: kLog.info("no screen (%s framebuffer not supported); serial only", fb_type_name(fb.type)); break;
    }
    return active;
}

Screen screen() { return active; }
Serial16550& serial() { return com1; }
int read_byte() { return com1.read_byte(); }

}  // namespace skerry::console
