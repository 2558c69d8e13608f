# Thin wrapper over CMake so the README's commands stay short. Each target installs the Debian
# packages it needs first (scripts/install-deps.sh: a no-op when they are present).
#   make          build the library, the CLI and the peer driver into build/
#   make bench    the main job: fetch Fashion-MNIST, build, print the benchmark table; its faiss
#                 rows use the full-speed faiss of `make peers-faiss` when that was built, else
#                 Debian's generic libfaiss (the table's header says which)
#   make peers-faiss  build that faiss (AVX2 + AVX-512 static libraries, about 6 minutes each
#                 on 2 cores) into FAISS_DIR with FAISS_SCRIPT, then relink scann-peers;
#                 `make bench FAISS=full` does this first
#   make test     every test: unit tests, the NEON kernels under qemu (test-neon), the same unit
#                 tests under ASan+UBSan, the concurrency tests under TSan, a short fuzz run, then
#                 the PostgreSQL extension's tests (test-postgres)
#   make test-neon  cross-compile tests/neon_check.c for aarch64 and run it under qemu-user: every
#                 NEON kernel against its scalar twin, bit for bit (seconds)
#   make bench-kernel  the FastScan kernels' codes/s per core beside their vpshufb and memory
#                 bandwidth bounds (bench/fastscan_bound.c; about a minute)
#   make bench-growth  SCANN vs faiss FastScan+refine vs hnswlib on 100k, 300k and 1M vectors of
#                 debian-sift-1m: build time, memory, best QPS at recall 0.90 / 0.95
#                 (bench/growth.sh; 30-40 minutes on 2 cores)
#   make install  install into PREFIX (default /usr/local)
#   make test-postgres  build and install the PostgreSQL extension (postgres/, needs root) and
#                 run its SQL tests on a throwaway cluster (run.sh: recall, life cycle, filters,
#                 pgvector types, crash, concurrency, bad input) and on 3 postgres_fdw shards
#                 (shard.sh); about 4 minutes on an idle 2-core machine; not part of test
#   make bench-postgres  scann next to pgvector's HNSW and IVFFlat in one PostgreSQL 15 server
#                 on GloVe-100 through SQL (postgres/bench/bench.sh; needs root; ~15 minutes)
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

.PHONY: all build peers peers-faiss bench bench-all bench-kernel bench-growth test test-format test-neon test-postgres bench-postgres test-release test-sanitize test-tsan fuzz install clean

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

test: test-format test-neon test-release test-sanitize test-tsan fuzz test-postgres

# Every C file and header as .clang-format says (clang-format -i on the listed files fixes it).
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
test-format:
	@scripts/install-deps.sh format
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format: $(words $(FORMAT_FILES)) files as .clang-format says"

# The NEON kernels (compiled only for aarch64) with only their scalar twins and cpu.c: no cmocka or
# BLAS for arm64 needed. Same warnings and -ffp-contract=off as the CMake build.
NEON_CC ?= aarch64-linux-gnu-gcc
NEON_SRC = tests/neon_check.c src/cpu.c src/distance/dist_scalar.c src/distance/dist_neon.c \
    src/fastscan/scan_scalar.c src/fastscan/scan_neon.c src/kmeans_scalar.c src/kmeans_neon.c \
    src/avq_scalar.c src/avq_neon.c
test-neon:
	@scripts/install-deps.sh neon || { echo "make test-neon: could not install the aarch64 cross \
	    compiler and qemu-user (scripts/install-deps.sh neon), so the NEON kernels are untested" >&2; exit 1; }
	@mkdir -p $(BUILD)-neon
	@$(NEON_CC) -std=c11 -O3 -Wall -Wextra -Wno-unused-parameter -Werror -ffp-contract=off \
	    -fno-math-errno -D_GNU_SOURCE -Isrc -Iinclude $(NEON_SRC) -lm -o $(BUILD)-neon/neon_check
	@qemu-aarch64 -L /usr/aarch64-linux-gnu $(BUILD)-neon/neon_check

# The PostgreSQL extension against the test build's libscann.a, in throwaway clusters (the
# pgvector type tests need pgvector: built from the peer source when it is there, else skipped).
test-postgres:
	@scripts/install-deps.sh test postgres
	@cmake -S . -B $(BUILD)-test -DCMAKE_BUILD_TYPE=Release -DSCANN_BUILD_TESTS=ON >/dev/null
	@cmake --build $(BUILD)-test -j$(JOBS) --target scann_static scann_cli
	@SCANN_BIN=$(abspath $(BUILD))-test/scann scripts/get-data.sh fashion-mnist >/dev/null
	@$(MAKE) -s -C postgres SCANN_BUILD=$(abspath $(BUILD))-test
	@postgres/install-pgvector.sh || echo "test-postgres: the pgvector tests will be skipped" >&2
	@SCANN_BUILD=$(abspath $(BUILD))-test postgres/test/untrained.sh
	@SCANN_BUILD=$(abspath $(BUILD))-test postgres/test/run.sh
	@SCANN_BUILD=$(abspath $(BUILD))-test ROWS=10000 QUERIES=50 SECONDS_EACH=2 postgres/test/shard.sh

bench-postgres: build
	@scripts/install-deps.sh postgres data
	@scripts/get-data.sh glove-100
	@$(MAKE) -C postgres SCANN_BUILD=$(abspath $(BUILD))
	@postgres/bench/bench.sh

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
	rm -rf $(BUILD) $(BUILD)-test $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz $(BUILD)-neon
