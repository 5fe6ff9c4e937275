# The framebuffer console's 8x16 font, generated at build time from a Debian console font (no font data in
# the tree). The fonts come from the console-setup-linux package (/usr/share/consolefonts); FONT_PSF may be
# set to any 8-pixel-wide PSF1/PSF2 font, optionally gzipped.
FONT_PACKAGE := console-setup-linux
FONT_PSF_CANDIDATES := /usr/share/consolefonts/Lat15-VGA16.psf.gz /usr/share/consolefonts/Uni2-VGA16.psf.gz \
                       /usr/share/kbd/consolefonts/default8x16.psf.gz /usr/share/kbd/consolefonts/lat0-16.psfu.gz
FONT_PSF ?= $(firstword $(wildcard $(FONT_PSF_CANDIDATES)))
FONT_SRC := build/gen/font8x16.cpp

$(FONT_SRC): scripts/gen_font.py $(FONT_PSF) mk/font.mk
	@mkdir -p $(dir $@)
	@echo "  FONT    $@ ($(notdir $(FONT_PSF)))"
	$(Q)test -n "$(FONT_PSF)" || { echo "no console font found: apt-get install $(FONT_PACKAGE)" >&2; exit 1; }
	$(Q)$(PYTHON) scripts/gen_font.py $(FONT_PSF) -o $@
