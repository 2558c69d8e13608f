# cluster.sh - throwaway PostgreSQL 15 servers, sourced by test/run.sh, test/untrained.sh,
# test/shard.sh and bench/bench.sh. PostgreSQL refuses to run as root, so the servers run as
# Debian's postgres user, in a temporary directory it owns, each on a free port with its socket
# in that directory (no TCP listener); on exit, whatever happens, every server is stopped and the
# directory removed, after printing the end of each server's log when the script failed.
#   pg_tmp PREFIX            create $tmp (/tmp/PREFIX.XXXXXX) and the exit trap
#   pg_init NAME             initdb $tmp/NAME (log $tmp/NAME.log), pick pg_port[NAME]
#   pg_start NAME [OPT ...]  start it; OPTs are postgres options such as "-c fsync=off"
#   pg_psql NAME [ARG ...]   psql as postgres on it, stopping at the first error
#   pg_fvecs_text BASE QUERY ROWS QUERIES
#                            $tmp/base.txt and $tmp/query.txt: the first ROWS / QUERIES vectors
#                            of two .fvecs files as COPY text (id, then {v1,v2,...})
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
declare -A pg_port
pg_names=()

as_pg() { runuser -u postgres -- "$@"; }

pg_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_cleanup() {
    local rc=$? n
    for n in "${pg_names[@]}"; do
        [ $rc -ne 0 ] && [ -f "$tmp/$n.log" ] && tail -25 "$tmp/$n.log"
        as_pg "$PGBIN/pg_ctl" -D "$tmp/$n" -m immediate stop >/dev/null 2>&1 || true
    done
    rm -rf "$tmp"
}

pg_tmp() {
    tmp=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$tmp"
    chown postgres "$tmp"
    trap pg_cleanup EXIT
}

pg_init() {
    pg_names+=("$1")
    pg_port[$1]=$(pg_free_port)
    as_pg "$PGBIN/initdb" -D "$tmp/$1" -A trust >/dev/null
}

pg_start() {
    local n=$1
    shift
    as_pg "$PGBIN/pg_ctl" -D "$tmp/$n" -l "$tmp/$n.log" -w \
        -o "-p ${pg_port[$n]} -k $tmp -c listen_addresses='' $*" start >/dev/null
}

pg_psql() {
    local n=$1
    shift
    as_pg /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "${pg_port[$n]}" -d postgres "$@"
}

pg_fvecs_text() {
    /usr/bin/python3 - "$@" "$tmp" <<'PY'
import sys, numpy as np
def fvecs(p, n):
    a = np.fromfile(p, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:n, 1:].view(np.float32)
b, q = fvecs(sys.argv[1], int(sys.argv[3])), fvecs(sys.argv[2], int(sys.argv[4]))
for name, x in (("base", b), ("query", q)):
    with open(f"{sys.argv[5]}/{name}.txt", "w") as f:
        for i, r in enumerate(x):
            f.write(f"{i}\t{{{','.join('%g' % v for v in r)}}}\n")
PY
    chmod 644 "$tmp/base.txt" "$tmp/query.txt"
}
