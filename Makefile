# Thin wrapper over CMake so the README's commands stay short. Each target installs the Debian
# packages it needs first (scripts/install-deps.sh: a no-op when they are present).
#   make          build the library, the CLI and the peer driver into build/
#   make bench    the main job: fetch Fashion-MNIST, build, print the benchmark table; its faiss
#                 rows use the full-speed faiss of `make peers-faiss` when that was built, else
#                 Debian's generic libfaiss (the table's header says which)
#   make peers-faiss  build that faiss (AVX2 + AVX-512 static libraries, about 6 minutes each
#                 on 2 cores) into FAISS_DIR with FAISS_SCRIPT, then relink scann-peers;
#                 `make bench FAISS=full` does this first
#   make test     every test: unit tests, the same under ASan+UBSan, the concurrency tests under
#                 TSan, then a short fuzz run
#   make bench-kernel  the FastScan kernels' codes/s per core beside their vpshufb and memory
#                 bandwidth bounds (bench/fastscan_bound.c; about a minute)
#   make bench-growth  SCANN vs faiss FastScan+refine vs hnswlib on 100k, 300k and 1M vectors of
#                 debian-sift-1m: build time, memory, best QPS at recall 0.90 / 0.95
#                 (bench/growth.sh; 30-40 minutes on 2 cores)
#   make install  install into PREFIX (default /usr/local)
#   make test-postgres  build and install the PostgreSQL extension (postgres/, needs root) and
#                 run its SQL tests on a throwaway cluster (about 2.5 minutes; not part of test)
#   make fuzz     clang + libFuzzer: fuzz the index loader for FUZZ_SECONDS (default 20) from
#                 FUZZ_SEED (default 1; e.g. make fuzz FUZZ_SEED=$$RANDOM FUZZ_SECONDS=600)
MAKEFLAGS += --no-print-directory
BUILD ?= build
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
DATASET ?= fashion-mnist
# The full-speed faiss for the peer rows: build-faiss.sh OUTDIR (CMake's SCANN_FAISS_DIR).
FAISS_DIR ?= $(HOME)/.cache/faiss-02dbb4e
FAISS_SCRIPT ?= ../shared/peers/build-faiss.sh
FAISS ?=

.PHONY: all build peers peers-faiss bench bench-all bench-kernel bench-growth test test-format test-postgres test-release test-sanitize test-tsan fuzz install clean

all: build

build:
	@scripts/install-deps.sh build peers
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DSCANN_BUILD_PEERS=ON -DSCANN_BUILD_TESTS=OFF \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DSCANN_FAISS_DIR=$(FAISS_DIR) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

peers: build

peers-faiss:
	@if [ ! -x $(FAISS_SCRIPT) ]; then echo "make peers-faiss: no $(FAISS_SCRIPT) (set \
	    FAISS_SCRIPT to a build-faiss.sh, or FAISS_DIR to a faiss built with it)" >&2; exit 1; fi
	@scripts/install-deps.sh build peers
	@echo "make peers-faiss: building faiss into $(FAISS_DIR) (skipped when there; else about 6 minutes a SIMD level on 2 cores)" >&2
	@nice -n 10 $(FAISS_SCRIPT) $(FAISS_DIR) >/dev/null
	@$(MAKE) build

bench: $(if $(filter full,$(FAISS)),peers-faiss,build)
	@scripts/install-deps.sh data
	@scripts/get-data.sh $(DATASET)
	@scripts/bench.sh $(DATASET)

bench-all: $(if $(filter full,$(FAISS)),peers-faiss,build)
	@scripts/install-deps.sh data
	@scripts/get-data.sh all
	@scripts/bench.sh fashion-mnist
	@scripts/bench.sh glove-100

bench-kernel: build
	@$(BUILD)/fastscan-bound

bench-growth: $(if $(filter full,$(FAISS)),peers-faiss,build)
	@scripts/install-deps.sh data
	@scripts/get-data.sh debian-sift-1m
	@BUILD=$(BUILD) bench/growth.sh

test: test-format test-release test-sanitize test-tsan fuzz

# Every C file and header as .clang-format says (clang-format -i on the listed files fixes it).
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
test-format:
	@scripts/install-deps.sh format
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format: $(words $(FORMAT_FILES)) files as .clang-format says"

test-postgres: build
	@scripts/install-deps.sh postgres
	@$(MAKE) -C postgres SCANN_BUILD=$(abspath $(BUILD))
	@postgres/test/run.sh

test-release:
	@scripts/install-deps.sh test
	@cmake -S . -B $(BUILD)-test -DCMAKE_BUILD_TYPE=Release -DSCANN_BUILD_TESTS=ON >/dev/null
	@cmake --build $(BUILD)-test -j$(JOBS)
	@cd $(BUILD)-test && ctest --output-on-failure -j$(JOBS)

test-sanitize:
	@scripts/install-deps.sh test
	@cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCANN_SANITIZE=ON \
	    -DSCANN_BUILD_TESTS=ON >/dev/null
	@cmake --build $(BUILD)-asan -j$(JOBS)
	@cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

# ThreadSanitizer over the tests that run threads against one index.
test-tsan:
	@scripts/install-deps.sh test
	@cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCANN_TSAN=ON \
	    -DSCANN_BUILD_TESTS=ON >/dev/null
	@cmake --build $(BUILD)-tsan -j$(JOBS) --target test_updates test_promises test_stress
	@cd $(BUILD)-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	    ctest --output-on-failure -R '^(test_updates|test_promises|test_stress)$$'

FUZZ_SECONDS ?= 20
FUZZ_SEED ?= 1
fuzz:
	@scripts/install-deps.sh test
	@cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DSCANN_BUILD_FUZZ=ON -DSCANN_BUILD_TESTS=OFF -DSCANN_BUILD_PYTHON=OFF \
	    -DFUZZ_SECONDS=$(FUZZ_SECONDS) -DFUZZ_SEED=$(FUZZ_SEED) >/dev/null
	@cmake --build $(BUILD)-fuzz -j$(JOBS) --target fuzz_load fuzz_seeds
	@cd $(BUILD)-fuzz && ctest --output-on-failure -R '^fuzz_'

install: build
	@cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD)-test $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz
