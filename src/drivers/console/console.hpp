// The kernel's consoles: COM1 from the first instruction of C++ on, then a screen (framebuffer or VGA text)
// once the boot information says which. Both are log sinks, so they show the same log; the screen gets
// the log written before it existed replayed from the log ring.
#pragma once

#include <stdint.h>

#include "boot/bootinfo.hpp"
#include "drivers/console/serial16550.hpp"

namespace skerry::console {

// Programs COM1 and, when its loopback self-test passes, registers it as a log sink. Needs nothing else
// (no clock, no heap, no paging); call it first. Returns whether COM1 is present.
bool init_serial();

enum class Screen : uint8_t { None, VgaText, Framebuffer };

// Picks the screen: an RGB framebuffer from the boot information (mapped and set write-combining here, so
// call after paging::init), an EGA text "framebuffer", or, on a BIOS boot without framebuffer information
// (Multiboot1 from QEMU -kernel, PVH under QEMU), VGA text when a VGA answers at the CRT controller.
// Registers it as a log sink, replays the early log onto it and logs "console: ...". Returns the choice.
Screen init_screen(const boot::BootInfo& info);
Screen screen();

Serial16550& serial();
// Non-blocking console input (COM1): the next byte, or -1.
int read_byte();

}  // namespace skerry::console
