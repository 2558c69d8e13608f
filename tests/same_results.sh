#!/bin/sh
# same_results.sh DUMP GOLDEN - the dump of this build must equal the golden file, line for
# line, on every ISA this CPU runs. Skips (77) where the fingerprint line differs: another
# BLAS or CPU trains other centres, so compare two builds there with scripts/same-results.sh.
set -eu
dump=$1 golden=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for isa in avx512icl avx512 avx2 scalar; do
    SCANN_FORCE_ISA=$isa "$dump" >"$out"
    if [ "$(head -n1 "$out")" != "$(head -n1 "$golden")" ]; then
        echo "same_results: fingerprint $(head -n1 "$out") differs from the golden file's;"
        echo "  compare builds with scripts/same-results.sh instead"
        exit 77
    fi
    if ! diff -u "$golden" "$out"; then
        echo "same_results: results changed (SCANN_FORCE_ISA=$isa)"
        exit 1
    fi
done
echo "same_results: $(($(wc -l <"$golden") - 1)) cases identical on avx512icl, avx512, avx2 and scalar"
