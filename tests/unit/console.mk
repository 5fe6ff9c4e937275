# Kernel log and console drivers (16550 serial, VGA text, framebuffer text). The tests use a tiny test font,
# so they do not need the generated one (mk/font.mk).
UNIT_SRCS += src/kernel/log.cpp src/drivers/console/serial16550.cpp src/drivers/console/vga_text.cpp \
             src/drivers/console/fb_console.cpp
UNIT_TESTS += tests/unit/log_test.cpp tests/unit/console_test.cpp
