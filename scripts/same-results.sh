#!/bin/sh
# same-results.sh [REF] - prove a change keeps search results bit for bit: builds REF (default
# HEAD, i.e. before the uncommitted change) in a temporary worktree and this tree, runs
# tests/results_dump.c against each library on every ISA the CPU has, and diffs the dumps.
# Works on any machine (tests/golden's files only on machines with one of their fingerprints).
set -eu
ref=${1:-HEAD}
root=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$tmp/ref" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
git -C "$root" worktree add --detach "$tmp/ref" "$ref" >/dev/null 2>&1
for side in ref cur; do
    src=$root
    [ $side = ref ] && src=$tmp/ref
    cmake -S "$src" -B "$tmp/build-$side" -DCMAKE_BUILD_TYPE=Release -DSCANN_BUILD_TESTS=OFF \
        -DSCANN_BUILD_PYTHON=OFF >/dev/null
    cmake --build "$tmp/build-$side" --target scann -j"$(nproc)" >/dev/null
    cc -O2 -I"$src/include" "$root/tests/results_dump.c" -L"$tmp/build-$side" -lscann \
        -Wl,-rpath,"$tmp/build-$side" $(pkg-config --cflags --libs openblas) -lm \
        -o "$tmp/dump-$side"
done
status=0
for isa in avx512icl avx512 avx2 scalar; do
    for side in ref cur; do
        SCANN_FORCE_ISA=$isa OPENBLAS_NUM_THREADS=1 "$tmp/dump-$side" >"$tmp/$side.txt"
    done
    if diff -u "$tmp/ref.txt" "$tmp/cur.txt"; then
        echo "same-results: $isa: $(wc -l <"$tmp/cur.txt") lines identical to $ref"
    else
        echo "same-results: $isa: results differ from $ref"
        status=1
    fi
done
exit $status
