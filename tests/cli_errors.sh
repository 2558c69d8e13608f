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
if "$scann" search "$tmp/ix.scann" --query "$tmp/q.fvecs" --k 3 --out "$tmp/ids.ivecs" > "$tmp/out" 2>&1 &&
   [ "$(od -An -tu4 -v "$tmp/ids.ivecs" | tr -s ' \n' ' ')" = " 3 1 0 2 " ]; then
    echo "ok: search without gt writes the neighbours"
else
    echo "FAIL: search without gt: $(cat "$tmp/out"; od -An -tu4 -v "$tmp/ids.ivecs" 2>&1)"; fail=1
fi
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
[ $fail = 0 ] && echo "cli_errors: all passed"
exit $fail
