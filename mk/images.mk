# Images for every appliance (issue 5): what users download and boot.
#
#   make images        build/images/<app>/: <app>.iso (BIOS+UEFI), <app>.img (raw GPT disk, BIOS+UEFI),
#                      <app>.vmdk (VMware, monolithic sparse), <app>.ova (OVF 1.0 + stream-optimized VMDK),
#                      <app>.vhdx + <app>-hyperv.ps1 (Hyper-V), pxe/ (iPXE for BIOS, GRUB netboot for UEFI,
#                      dnsmasq example), firecracker/ (the kernel, vm-config.json, run.sh, README.txt), SHA256SUMS
#   make release       all of them for all appliances in dist/, one dist/SHA256SUMS, dist/README.txt
#   make test-images   boot every artifact in QEMU (TCG) and check it serves; test-images-quick: the subset
#                      `make test` runs
#
# CMDLINE=... sets the kernel command line of every image (GRUB menu entries and boot.ipxe); IMAGE_APPS picks
# the appliances (default: all), IMAGE_MEM_MIB the RAM the OVA and the Hyper-V script give the VM (the tests
# boot the OVA's disk with exactly that much). Nothing here needs loop devices, mounts or root.

IMAGE_APPS ?= $(APPS)
IMAGE_MEM_MIB ?= 128
IMAGE_BUILD := $(PYTHON) images/build.py
IMAGE_CMDLINE_STAMP := build/images/.cmdline
IMAGE_COMMON := images/build.py images/grub.cfg.in $(IMAGE_CMDLINE_STAMP)

# The command line the images were built with, rewritten only when CMDLINE changes (so a new CMDLINE
# rebuilds the images and the same one does not).
$(shell mkdir -p build/images && c='$(strip $(CMDLINE))'; [ -f $(IMAGE_CMDLINE_STAMP) ] && [ "$$(cat $(IMAGE_CMDLINE_STAMP))" = "$$c" ] || printf '%s\n' "$$c" > $(IMAGE_CMDLINE_STAMP))

define IMAGE_RULES
build/images/$(1)/$(1).iso: build/appliances/$(1).elf images/make_iso.sh $(IMAGE_COMMON)
	$(Q)sh images/make_iso.sh $$< $$@ "$$(strip $$(CMDLINE))"

build/images/$(1)/$(1).img: build/appliances/$(1).elf $(IMAGE_COMMON)
	@echo "  DISK    $$@"
	$(Q)$(IMAGE_BUILD) disk $$< $$@ --cmdline "$$(strip $$(CMDLINE))"

build/images/$(1)/$(1).vmdk: build/images/$(1)/$(1).img
	@echo "  VMDK    $$@"
	$(Q)qemu-img convert -q -f raw -O vmdk -o subformat=monolithicSparse,adapter_type=lsilogic $$< $$@.tmp && mv $$@.tmp $$@

build/images/$(1)/$(1).vhdx: build/images/$(1)/$(1).img
	@echo "  VHDX    $$@"
	$(Q)qemu-img convert -q -f raw -O vhdx -o subformat=dynamic,block_size=1M $$< $$@.tmp && mv $$@.tmp $$@

build/images/$(1)/$(1).ova: build/images/$(1)/$(1).img images/build.py build/version.txt
	@echo "  OVA     $$@"
	$(Q)$(IMAGE_BUILD) ova $$< $$@ --app $(1) --mem-mib $(IMAGE_MEM_MIB) --version "$$$$(cat build/version.txt)"

build/images/$(1)/$(1)-hyperv.ps1: images/hyperv.ps1.in images/build.py
	@echo "  PS1     $$@"
	$(Q)$(IMAGE_BUILD) hyperv $$@ --app $(1) --mem-mib $(IMAGE_MEM_MIB)

build/images/$(1)/pxe/boot.ipxe: build/appliances/$(1).elf images/boot.ipxe.in images/dnsmasq.conf.in $(IMAGE_COMMON)
	@echo "  PXE     $$(dir $$@)"
	$(Q)$(IMAGE_BUILD) pxe $$< $$(dir $$@) --cmdline "$$(strip $$(CMDLINE))"

build/images/$(1)/firecracker/vm-config.json: build/appliances/$(1).elf images/firecracker-run.sh.in images/firecracker-README.txt.in $(IMAGE_COMMON)
	@echo "  FC      $$(dir $$@)"
	$(Q)$(IMAGE_BUILD) firecracker $$< $$(dir $$@) --cmdline "$$(strip $$(CMDLINE))" --mem-mib $(IMAGE_MEM_MIB)

IMAGE_FILES_$(1) := $(foreach k,.iso .img .vmdk .vhdx .ova -hyperv.ps1,build/images/$(1)/$(1)$(k)) build/images/$(1)/pxe/boot.ipxe \
	build/images/$(1)/firecracker/vm-config.json
build/images/$(1)/SHA256SUMS: $$(IMAGE_FILES_$(1))
	$(Q)$(IMAGE_BUILD) sums $$(dir $$@)
	@echo "  IMAGES  build/images/$(1)/ ($$$$(du -sh --apparent-size build/images/$(1) | cut -f1) apparent, $$$$(du -sh build/images/$(1) | cut -f1) on disk)"
endef
$(foreach a,$(IMAGE_APPS),$(eval $(call IMAGE_RULES,$(a))))

IMAGE_SUMS := $(foreach a,$(IMAGE_APPS),build/images/$(a)/SHA256SUMS)

.PHONY: images images-build release release-build test-images test-images-quick
# Set up first (packages such as python3-vmdkstream and mtools), then build in a make that sees them.
images: setup
	$(Q)$(MAKE) --no-print-directory images-build
images-build: $(IMAGE_SUMS)

release: setup
	$(Q)$(MAKE) --no-print-directory release-build
release-build: $(IMAGE_SUMS)
	@mkdir -p dist
	$(Q)rm -rf $(addprefix dist/,$(IMAGE_APPS)) dist/SHA256SUMS dist/README.txt
	$(Q)for a in $(IMAGE_APPS); do cp -a build/images/$$a dist/$$a && rm -f dist/$$a/SHA256SUMS || exit 1; done
	$(Q)$(IMAGE_BUILD) readme dist/README.txt --apps "$(IMAGE_APPS)" --mem-mib $(IMAGE_MEM_MIB) --version "$$(cat build/version.txt)"
	$(Q)$(IMAGE_BUILD) sums dist
	@echo "  RELEASE dist/ ($(IMAGE_APPS)): $$(du -sh --apparent-size dist | cut -f1); check with: cd dist && sha256sum -c SHA256SUMS"

# The boot tests use the images exactly as shipped (default command line) and stop QEMU once the checks pass.
IMAGE_TEST := $(PYTHON) tests/qemu/images_test.py --images build/images --mem-mib $(IMAGE_MEM_MIB)
test-images: setup
	$(Q)$(MAKE) --no-print-directory images-build CMDLINE=
	@echo "== image tests (full matrix)"
	$(Q)$(IMAGE_TEST) --apps "$(IMAGE_APPS)" --matrix full
test-images-quick: setup
	$(Q)$(MAKE) --no-print-directory images-build CMDLINE=
	@echo "== image tests (the make test subset)"
	$(Q)$(IMAGE_TEST) --apps "$(IMAGE_APPS)" --matrix quick
