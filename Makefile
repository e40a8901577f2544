# The two commands: `make demo` and `make test`. Each does all set-up first.
BUILD ?= build
ASSETS ?= assets
JOBS ?= $(shell nproc)

.PHONY: all deps assets build demo test bench clean

all: build

deps:
	@bash scripts/install-deps.sh

assets: deps
	@bash scripts/fetch-guest-assets.sh $(ASSETS)

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBROOD_ASSETS_DIR=$(abspath $(ASSETS)) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

demo: build assets
	@bash scripts/demo.sh $(BUILD) $(ASSETS)

test: build assets
	@cd $(BUILD) && BROOD_ASSETS=$(abspath $(ASSETS)) ctest --output-on-failure -j 2 --timeout 900

bench: build assets
	@bash scripts/bench.sh $(BUILD) $(ASSETS)

clean:
	rm -rf $(BUILD)
