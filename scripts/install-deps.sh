#!/usr/bin/env bash
# install-deps.sh GROUP... - install the Debian packages a step needs, only when missing.
#   build: compile the library and the CLI      test: + unit tests and the Python module
#   peers: the hnswlib/faiss benchmark driver   data: scripts/get-data.sh and bench.sh's chart
#   format: clang-format for make test-format
#   neon: the aarch64 cross compiler and qemu-user for make test-neon (NEON kernels vs scalar)
#   postgres: the PostgreSQL 15 extension in postgres/ (server, PGXS headers, numpy for its test)
#   (test also has what `pip install .` of the Python module and its plot tests need)
# Runs apt-get (after one apt-get update) as root, or through sudo; otherwise prints what to
# install and fails. Fast and offline when everything is already there.
set -euo pipefail

pkgs=()
for group in "$@"; do
    case $group in
    build) pkgs+=(gcc make cmake pkg-config libopenblas-dev libhdf5-dev libxxhash-dev) ;;
    test) pkgs+=(gcc make cmake pkg-config libopenblas-dev libhdf5-dev libxxhash-dev libcmocka-dev
                 dataset-fashion-mnist clang libclang-rt-14-dev python3-dev python3-numpy
                 python3-pytest python3-setuptools python3-pip python3-matplotlib python3-yaml) ;;
    # libfaiss-dev: the fallback faiss when make peers-faiss has not built a full-speed one
    format) pkgs+=(clang-format git) ;;
    peers) pkgs+=(g++ libhnswlib-dev libfaiss-dev) ;;
    neon) pkgs+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user) ;;
    data) pkgs+=(dataset-fashion-mnist python3-numpy python3-matplotlib) ;;
    postgres) pkgs+=(postgresql-15 postgresql-server-dev-15 pkg-config libopenblas-dev
                     python3-numpy) ;;
    *) echo "install-deps: unknown group '$group' (build, test, format, neon, peers, data, postgres)" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Deduplicate while keeping order.
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "install-deps: missing packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
