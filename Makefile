# The two commands: `make demo` and `make test`. Each does all set-up first.
BUILD ?= build
ASSETS ?= assets
JOBS ?= $(shell nproc)
# `make fuzz` runs each fuzz target this long.
FUZZ_SECONDS ?= 60

.PHONY: all deps assets build images demo test check sanitize fuzz bench clean

all: build

deps:
	@bash scripts/install-deps.sh

assets: deps
	@bash scripts/fetch-guest-assets.sh $(ASSETS)

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBROOD_ASSETS_DIR=$(abspath $(ASSETS)) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The Linux guest's images with brood-agent (an initrd and an ext4 root
# disk, in $(BUILD)/guest-images), made from the assets and the build.
images: build assets
	@cmake --build $(BUILD) --target guest-images

demo: build assets images
	@bash scripts/demo.sh $(BUILD) $(ASSETS)

# The whole suite (docs/testing.md): the normal build's tests (with the
# hardware-KVM lane and the fuzz corpora replayed), then the sanitizer builds'
# (`make sanitize`), then every fuzz target for FUZZ_SECONDS, two at a time.
# `make check` is the first part alone.
test: check
	@JOBS=$(JOBS) bash scripts/sanitize.sh $(BUILD) $(ASSETS)
	@JOBS=$(JOBS) FUZZ_PARALLEL=2 bash scripts/fuzz.sh $(FUZZ_SECONDS)

check: build assets images
	@cd $(BUILD) && BROOD_ASSETS=$(abspath $(ASSETS)) ctest --output-on-failure -j 2 --timeout 900

sanitize: build assets
	@JOBS=$(JOBS) bash scripts/sanitize.sh $(BUILD) $(ASSETS)

fuzz: deps
	@JOBS=$(JOBS) bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build assets images
	@bash scripts/bench.sh $(BUILD) $(ASSETS)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
