#!/usr/bin/env bash
# cli_errors.sh SCANN - the command-line tool rejects bad input with a message and a non-zero
# status, and computes correct ground truth on a tiny file it writes itself.
set -u
scann=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect_fail() { # expect_fail "what" cmd...
    local what=$1; shift
    if "$@" >"$tmp/out" 2>&1; then echo "FAIL: $what: exited 0"; fail=1;
    elif ! [ -s "$tmp/out" ]; then echo "FAIL: $what: no message"; fail=1;
    else echo "ok: $what: $(head -c 150 "$tmp/out" | tr '\n' ' ')"; fi
}
# 3 vectors of dim 2 in .fvecs: (0,0) (1,0) (5,5); one query (0.9,0).
printf '\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\xa0\x40\x00\x00\xa0\x40' > "$tmp/b.fvecs"
printf '\x02\x00\x00\x00\x66\x66\x66\x3f\x00\x00\x00\x00' > "$tmp/q.fvecs"
head -c 30 "$tmp/b.fvecs" > "$tmp/trunc.fvecs"

expect_fail "no command" "$scann"
expect_fail "unknown command" "$scann" frobnicate
expect_fail "unknown option" "$scann" gt --bogus 1
expect_fail "missing --metric" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --out "$tmp/g.ivecs"
expect_fail "bad metric" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric hamming --out "$tmp/g.ivecs"
expect_fail "truncated base" "$scann" gt --base "$tmp/trunc.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g.ivecs"
expect_fail "missing file" "$scann" gt --base "$tmp/nope.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g.ivecs"
expect_fail "k > n" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --k 4 --out "$tmp/g.ivecs"
expect_fail "bad k" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --k 0 --out "$tmp/g.ivecs"

# Correct ground truth: nearest of (0.9,0) by L2 is row 1, then 0, then 2.
if "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --k 3 --out "$tmp/g.ivecs" 2>/dev/null &&
   [ "$(od -An -tu4 -v "$tmp/g.ivecs" | tr -s ' \n' ' ')" = " 3 1 0 2 " ]; then
    echo "ok: gt on a tiny file"
else
    echo "FAIL: gt on a tiny file: $(od -An -tu4 -v "$tmp/g.ivecs" 2>&1)"; fail=1
fi
expect_fail "bench without gt" "$scann" bench --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --index FLAT
expect_fail "bench bad spec" "$scann" bench --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --gt "$tmp/g.ivecs" --metric l2 --index "FLAT,x=1" --k 3
expect_fail "bench bad grid" "$scann" bench --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --gt "$tmp/g.ivecs" --metric l2 --index FLAT --k 3 --search "nprobe"
if "$scann" bench --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --gt "$tmp/g.ivecs" --metric l2 --index FLAT --k 3 --csv "$tmp/r.csv" > "$tmp/out" 2>&1 &&
   grep -q '^"FLAT","-",.*,1.00000,' "$tmp/r.csv"; then
    echo "ok: bench FLAT recall 1 on a tiny file"
else
    echo "FAIL: bench FLAT: $(cat "$tmp/out" "$tmp/r.csv" 2>&1)"; fail=1
fi

# Index files: build saves, search loads (or maps) and measures; damaged files are refused.
expect_fail "build without --out" "$scann" build --base "$tmp/b.fvecs" --metric l2 --index FLAT
expect_fail "build bad spec" "$scann" build --base "$tmp/b.fvecs" --metric l2 --index "FLAT,x=1" --out "$tmp/ix.scann"
expect_fail "build into a missing directory" "$scann" build --base "$tmp/b.fvecs" --metric l2 --index FLAT --out "$tmp/no/ix.scann"
for spec in FLAT "IVF_FLAT,nlist=2,nprobe=2"; do
    for how in "" --mmap; do
        rm -f "$tmp/ix.scann" "$tmp/r2.csv"
        if "$scann" build --base "$tmp/b.fvecs" --metric l2 --index "$spec" --out "$tmp/ix.scann" > "$tmp/out" 2>&1 &&
           "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --gt "$tmp/g.ivecs" --k 3 $how --csv "$tmp/r2.csv" >> "$tmp/out" 2>&1 &&
           grep -q ',1.00000,' "$tmp/r2.csv"; then
            echo "ok: build + search $how $spec: recall 1 on a tiny file"
        else
            echo "FAIL: build + search $how $spec: $(cat "$tmp/out" "$tmp/r2.csv" 2>&1)"; fail=1
        fi
    done
done
# --out writes int64 ids as .npy (and --out-dist float32 distances); .ivecs would truncate.
if "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --k 3 --out "$tmp/ids.npy" --out-dist "$tmp/dist.npy" > "$tmp/out" 2>&1 &&
   head -c 128 "$tmp/ids.npy" | grep -q "'descr': '<i8'" &&
   [ "$(od -An -td8 -j128 -v "$tmp/ids.npy" | tr -s ' \n' ' ')" = " 1 0 2 " ] &&
   head -c 128 "$tmp/dist.npy" | grep -q "'descr': '<f4', 'fortran_order': False, 'shape': (1, 3)"; then
    echo "ok: search without gt writes int64 ids and float32 distances as .npy"
else
    echo "FAIL: search --out .npy: $(cat "$tmp/out"; od -An -td8 -j128 -v "$tmp/ids.npy" 2>&1)"; fail=1
fi
# --radius: a range search; squared distances from (0.9,0) are 0.01, 0.81 and 41.81.
if "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --radius 1 --out "$tmp/rid.npy" --out-lims "$tmp/rl.npy" > "$tmp/out" 2>&1 &&
   [ "$(od -An -td8 -j128 -v "$tmp/rid.npy" | tr -s ' \n' ' ')" = " 1 0 " ] &&
   [ "$(od -An -td8 -j128 -v "$tmp/rl.npy" | tr -s ' \n' ' ')" = " 0 2 " ]; then
    echo "ok: search --radius writes the matches and their offsets"
else
    echo "FAIL: search --radius: $(cat "$tmp/out")"; fail=1
fi
expect_fail "search --radius nan" "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --radius nan
expect_fail "search --radius with --gt" "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --radius 1 --gt "$tmp/g.ivecs"
expect_fail "search --out-lims without --radius" "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --out-lims "$tmp/l.npy"
expect_fail "search --out .ivecs" "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --k 3 --out "$tmp/ids.ivecs"
expect_fail "search --out-dist .txt" "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --k 3 --out-dist "$tmp/d.txt"
[ -e "$tmp/ids.ivecs" ] && { echo "FAIL: a refused --out still wrote a file"; fail=1; }
cp "$tmp/ix.scann" "$tmp/bad.scann"
printf '\377' | dd of="$tmp/bad.scann" bs=1 seek=200 conv=notrunc 2>/dev/null
head -c 100 "$tmp/ix.scann" > "$tmp/short.scann"
expect_fail "search without a file" "$scann" search --query "$tmp/q.fvecs" --k 3
expect_fail "search a missing file" "$scann" search "$tmp/nope.scann" --query "$tmp/q.fvecs" --k 3
expect_fail "search a corrupt file" "$scann" search "$tmp/bad.scann" --query "$tmp/q.fvecs" --gt "$tmp/g.ivecs" --k 3
expect_fail "search a corrupt file, mapped" "$scann" search "$tmp/bad.scann" --query "$tmp/q.fvecs" --k 3 --mmap
expect_fail "search a truncated file" "$scann" search "$tmp/short.scann" --query "$tmp/q.fvecs" --k 3
expect_fail "search a vector file" "$scann" search "$tmp/b.fvecs" --query "$tmp/q.fvecs" --k 3
expect_fail "search with --metric" "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --k 3 --metric l2
expect_fail "search k > n" "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --k 4

# Strict numbers: no default, no prefix, no wrap-around.
base=(--base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --gt "$tmp/g.ivecs" --metric l2 --k 3)
for grid in "nprobe=abc" "nprobe=4x" "nprobe=99999999999" "nprobe=" "nprobe=0" "reorder_k=-5" "nprobe= 4"; do
    expect_fail "bench --search $grid" "$scann" bench "${base[@]}" --index "IVF_FLAT,nlist=2" --search "$grid"
    expect_fail "search --search $grid" "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --k 3 --search "$grid"
done
for k in abc 4x 99999999999 "" " 3" 3.0 0x3; do
    expect_fail "gt --k '$k'" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g2.ivecs" --k "$k"
done
expect_fail "--k= (empty)" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g2.ivecs" --k=
expect_fail "--threads overflow" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g2.ivecs" --threads 99999999999999999999
expect_fail "--latency-queries 1x" "$scann" bench "${base[@]}" --index FLAT --latency-queries 1x
expect_fail "--limit 0" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g2.ivecs" --limit 0
expect_fail "--limit abc" "$scann" build --base "$tmp/b.fvecs" --metric l2 --index FLAT --out "$tmp/l.scann" --limit abc
expect_fail "--k without a value" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g2.ivecs" --k
expect_fail "option of another command" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g2.ivecs" --mmap
expect_fail "stray argument" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --out "$tmp/g2.ivecs" extra

# --k=3, --k 3 and -k 3 are the same option.
for form in "--k=3" "--k 3" "-k 3" "-k3"; do
    rm -f "$tmp/g3.ivecs"
    # shellcheck disable=SC2086
    if "$scann" gt --base="$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric=l2 $form --out "$tmp/g3.ivecs" 2>/dev/null &&
       cmp -s "$tmp/g.ivecs" "$tmp/g3.ivecs"; then
        echo "ok: gt $form"
    else
        echo "FAIL: gt $form: $(od -An -tu4 -v "$tmp/g3.ivecs" 2>&1)"; fail=1
    fi
done

# --version and per-command help (exit 0, stdout, the command's own options).
if "$scann" --version > "$tmp/out" 2>&1 && grep -q '^libscann [0-9]*\.[0-9]*\.[0-9]*$' "$tmp/out" &&
   grep -q '^kernels: ' "$tmp/out" && "$scann" bench --version | grep -q '^libscann '; then
    echo "ok: --version"
else
    echo "FAIL: --version: $(cat "$tmp/out")"; fail=1
fi
check_help() { # check_help CMD must-have... -- must-not-have...
    local cmd=$1; shift
    if ! "$scann" "$cmd" --help > "$tmp/help" 2>"$tmp/err" || [ -s "$tmp/err" ]; then
        echo "FAIL: $cmd --help: status or stderr"; fail=1; return
    fi
    local absent=0 w
    for w in "$@"; do
        if [ "$w" = -- ]; then absent=1; continue; fi
        if [ $absent = 0 ] && ! grep -qe "$w" "$tmp/help"; then echo "FAIL: $cmd --help lacks '$w'"; fail=1; return; fi
        if [ $absent = 1 ] && grep -qe "$w" "$tmp/help"; then echo "FAIL: $cmd --help mentions '$w'"; fail=1; return; fi
    done
    echo "ok: $cmd --help"
}
check_help gt "usage: scann gt" --limit --metric "default 10" -- --index --mmap nlist
check_help build "usage: scann build" --limit "nlist=N.*sqrt(n)" "nprobe=N.*nlist/16" "train_size=N.*100000" \
    "iters=N.*12" seed=N threads=N m=N "dims_per_block=N.*2" aq_threshold "float|bf16|int8|none" -- --mmap --peer
check_help bench "usage: scann bench" --peer --limit "dims_per_block=N.*2" "reorder=R" -- --mmap
check_help search "usage: scann search" --mmap --out-dist "IDS.npy" -- --limit --index dims_per_block
if "$scann" help build | grep -q "usage: scann build" && "$scann" -h | grep -q "scann COMMAND"; then
    echo "ok: scann help build, scann -h"
else
    echo "FAIL: scann help build / -h"; fail=1
fi

# --limit N: only the first N base vectors. Of (0,0) and (1,0), (1,0) is nearest (0.9,0).
if "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --k 2 --limit 2 --out "$tmp/gl.ivecs" 2>/dev/null &&
   [ "$(od -An -tu4 -v "$tmp/gl.ivecs" | tr -s ' \n' ' ')" = " 2 1 0 " ]; then
    echo "ok: gt --limit 2"
else
    echo "FAIL: gt --limit 2: $(od -An -tu4 -v "$tmp/gl.ivecs" 2>&1)"; fail=1
fi
expect_fail "gt --limit 2 --k 3" "$scann" gt --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --metric l2 --k 3 --limit 2 --out "$tmp/gl.ivecs"
expect_fail "bench --limit with the full base's gt" "$scann" bench "${base[@]}" --index FLAT --limit 2
if "$scann" bench --base "$tmp/b.fvecs" --query "$tmp/q.fvecs" --gt "$tmp/gl.ivecs" --metric l2 --k 2 --limit 2 --index FLAT --csv "$tmp/rl.csv" > "$tmp/out" 2>&1 &&
   grep -q ',1.00000,' "$tmp/rl.csv"; then
    echo "ok: bench --limit 2 with matching gt"
else
    echo "FAIL: bench --limit: $(cat "$tmp/out")"; fail=1
fi
if "$scann" build --base "$tmp/b.fvecs" --metric l2 --index FLAT --limit 2 --out "$tmp/l.scann" > "$tmp/out" 2>&1 &&
   grep -q ' 2 x 2:' "$tmp/out"; then
    echo "ok: build --limit 2"
else
    echo "FAIL: build --limit 2: $(cat "$tmp/out")"; fail=1
fi
# Backends keep their order: the grid after IVF_FLAT is its own; FLAT gets the default.
if "$scann" bench "${base[@]}" --search "nprobe=1" --index FLAT --index "IVF_FLAT,nlist=2" --search "nprobe=1,2" --csv "$tmp/ro.csv" > "$tmp/out" 2>&1 &&
   [ "$(tail -n +2 "$tmp/ro.csv" | cut -d'"' -f2,4 | tr '\n' ' ')" = 'FLAT"nprobe=1 IVF_FLAT,nlist=2"nprobe=1 IVF_FLAT,nlist=2"nprobe=2 ' ]; then
    echo "ok: bench keeps backend order and per-backend grids"
else
    echo "FAIL: bench order: $(cat "$tmp/out" "$tmp/ro.csv")"; fail=1
fi

# tune: the fastest setting reaching a recall, saved as the file's default search parameters.
"$scann" build --base "$tmp/b.fvecs" --metric l2 --index "IVF_FLAT,nlist=2" --out "$tmp/iv.scann" > /dev/null 2>&1
"$scann" build --base "$tmp/b.fvecs" --metric l2 --index FLAT --out "$tmp/flat.scann" > /dev/null 2>&1
tune=(tune "$tmp/iv.scann" --query "$tmp/q.fvecs" --gt "$tmp/g.ivecs" --k 3)
expect_fail "tune without --target-recall" "$scann" "${tune[@]}"
for r in 0 1.5 -0.5 abc nan 0x1p-1 " 0.9" 0.9x ""; do
    expect_fail "tune --target-recall '$r'" "$scann" "${tune[@]}" --target-recall "$r"
done
expect_fail "tune without a file" "$scann" tune --query "$tmp/q.fvecs" --target-recall 0.9
expect_fail "tune --gt and --base" "$scann" "${tune[@]}" --target-recall 0.9 --base "$tmp/b.fvecs"
expect_fail "tune a FLAT index" "$scann" tune "$tmp/flat.scann" --query "$tmp/q.fvecs" --target-recall 0.9 --k 3
expect_fail "tune --sample 0" "$scann" "${tune[@]}" --target-recall 0.9 --sample 0
if "$scann" "${tune[@]}" --target-recall 1 --out "$tmp/tuned.scann" > "$tmp/out" 2>&1 &&
   grep -q '^chosen: nprobe=[12] ' "$tmp/out" &&
   "$scann" search "$tmp/tuned.scann" --query "$tmp/q.fvecs" --gt "$tmp/g.ivecs" --k 3 --csv "$tmp/rt.csv" > /dev/null 2>&1 &&
   grep -q ',1.00000,' "$tmp/rt.csv"; then
    echo "ok: tune to recall 1 on a tiny file, then search the tuned file"
else
    echo "FAIL: tune: $(cat "$tmp/out" "$tmp/rt.csv" 2>&1)"; fail=1
fi
check_help tune "usage: scann tune" --target-recall --sample --dry-run -- --mmap --index
[ $fail = 0 ] && echo "cli_errors: all passed"
exit $fail
