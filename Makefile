# The two commands a newcomer runs (see README.md):
#   make demo   installs what is missing, builds, runs the main job on the local workspace
#   make test   installs what is missing, builds with ASan+UBSan, runs the whole test suite
# Also: make build (build/release/bin/overdrive and the dashboard, web/dist), make bench, make fuzz,
# make clean.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
RELEASE := build/release
DEBUG := build/debug

.PHONY: all build demo test deps deps-demo deps-test deps-bench debug bench fuzz clean format

all: build

deps:
	@scripts/deps.sh build

deps-demo:
	@scripts/deps.sh demo

deps-test:
	@scripts/deps.sh test

deps-bench:
	@scripts/deps.sh bench

$(RELEASE)/build.ninja:
	cmake -S . -B $(RELEASE) -G Ninja -DCMAKE_BUILD_TYPE=Release -DOVERDRIVE_TESTS=OFF

build: deps $(RELEASE)/build.ninja
	@ninja -C $(RELEASE) -j$(JOBS) overdrive
	@scripts/web.sh build
	@echo "built $(RELEASE)/bin/overdrive"

$(DEBUG)/build.ninja:
	cmake -S . -B $(DEBUG) -G Ninja -DCMAKE_BUILD_TYPE=Debug

debug: deps $(DEBUG)/build.ninja
	@ninja -C $(DEBUG) -j$(JOBS)
	@scripts/web.sh build

demo: deps-demo build
	@scripts/demo.sh

test: deps-test debug
	@scripts/test.sh

bench: deps-bench build
	@scripts/bench.sh

# make fuzz [FUZZ_SECONDS=60 (per target)] [FUZZ_TARGETS="jsonl_collector ..."]: see scripts/fuzz.sh.
fuzz:
	@scripts/deps.sh fuzz
	@scripts/fuzz.sh $(or $(FUZZ_SECONDS),60) $(FUZZ_TARGETS)

format:
	@find src tests bench fuzz -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i

clean:
	rm -rf build
