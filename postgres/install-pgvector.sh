#!/usr/bin/env bash
# install-pgvector.sh [TARBALL] - build and install pgvector (PGXS) into the PostgreSQL that
# pg_config names, unless it is there already. TARBALL defaults to the peer source the
# workplace keeps (../shared/peers/pgvector-0.8.6.tar.gz beside the repository); without it,
# says so and exits 1, so callers choose whether that is an error (the benchmark) or a skip
# (the tests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tarball=${1:-${PGVECTOR:-$here/../../shared/peers/pgvector-0.8.6.tar.gz}}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -f "$("$pgbin"/pg_config --sharedir)/extension/vector.control" ] && exit 0
[ -f "$tarball" ] || { echo "install-pgvector: pgvector is not installed and there is no $tarball" >&2; exit 1; }
src=$(mktemp -d /tmp/pgvector-src.XXXXXX)
trap 'rm -rf "$src"' EXIT
tar xzf "$tarball" -C "$src"
make -s -C "$src"/pgvector-* PG_CONFIG="$pgbin/pg_config" -j"$(nproc)" >/dev/null 2>&1
make -s -C "$src"/pgvector-* PG_CONFIG="$pgbin/pg_config" install >/dev/null
echo "install-pgvector: installed $(basename "$tarball" .tar.gz)"
