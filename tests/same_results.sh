#!/bin/sh
# same_results.sh DUMP GOLDEN_DIR - the dump of this build must equal, line for line and on
# every ISA this CPU runs, the golden file in GOLDEN_DIR whose fingerprint line it shares.
# Skips (77) where none does: another BLAS kernel or CPU trains other centres or rounds the
# batch probe's scores apart, so compare two builds there with scripts/same-results.sh.
# A new golden file: run the dump (OPENBLAS_CORETYPE picks OpenBLAS's kernel) into GOLDEN_DIR.
set -eu
dump=$1 dir=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$dump" >"$out"
golden=
for f in "$dir"/*.txt; do
    if [ "$(head -n1 "$f")" = "$(head -n1 "$out")" ]; then golden=$f; fi
done
if [ -z "$golden" ]; then
    echo "same_results: no golden file in $dir has this machine's $(head -n1 "$out");"
    echo "  compare builds with scripts/same-results.sh instead"
    exit 77
fi
for isa in avx512icl avx512 avx2 scalar; do
    SCANN_FORCE_ISA=$isa "$dump" >"$out"
    if ! diff -u "$golden" "$out"; then
        echo "same_results: results changed (SCANN_FORCE_ISA=$isa, against $golden)"
        exit 1
    fi
done
echo "same_results: $(($(wc -l <"$golden") - 1)) cases identical to $(basename "$golden") on avx512icl, avx512, avx2 and scalar"
