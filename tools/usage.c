/*
 * usage.c - the help texts of `scann`: an overview, and each subcommand's own options with
 * their defaults. Kept apart from the parser so the texts read as one document.
 */
#include "cli.h"

/* The spec keys of --index, shared by build and bench (defaults as src/spec.c applies them). */
static const char spec_help[] =
    "SPEC is a kind and optional key=value pairs: FLAT, IVF_FLAT,nlist=1024,\n"
    "IVF_PQ,nlist=1024,m=50, SCANN,nlist=1024,dims_per_block=2,reorder=int8. Keys:\n"
    "  nlist=N           k-means partitions (default about sqrt(n))\n"
    "  nprobe=N          partitions searched (default nlist/16)\n"
    "  reorder_k=N       candidates re-scored, IVF_PQ and SCANN (default 10 * k)\n"
    "  train_size=N      training sample (default 100000)\n"
    "  iters=N           k-means rounds (default 12)\n"
    "  seed=N            seed for sampling and k-means (same seed, same index)\n"
    "  threads=N         build threads (default --threads)\n"
    "  m=N               IVF_PQ 8-bit sub-spaces (default about d/2)\n"
    "  dims_per_block=N  SCANN dimensions per 4-bit block (default 2)\n"
    "  aq_threshold=T    SCANN anisotropic threshold (default 0.2 for ip/cosine, 0 = off\n"
    "                    for l2)\n"
    "  reorder=R         SCANN rerank store: float|bf16|int8|none (default int8 from\n"
    "                    d = 384, else float)\n";

static const char files_help[] =
    "Vector files (by extension): .fvecs .bvecs .ivecs, .npy (float32/16/64, uint8, int8,\n"
    "int32, int64), .fbin .u8bin .i8bin .ibin (big-ann), .hdf5/.h5 (ann-benchmarks; pick a\n"
    "dataset with FILE.hdf5:train, :test or :neighbors; plain FILE.hdf5 is train, or neighbors\n"
    "for ground truth). Without --metric, an HDF5 base's 'distance' attribute sets it\n"
    "(angular = cosine, euclidean = l2, dot = ip).\n";

static const char grid_help[] =
    "GRID is key=v1,v2;key2=w1,w2 and every combination runs (keys: nprobe, reorder_k; values\n"
    "are integers >= 1).\n";

static const char common_help[] = "  -t, --threads N        threads (default 0 = every core)\n"
                                  "  -h, --help             this help\n"
                                  "      --version          version and SIMD kernels\n";

void usage_main(FILE *f)
{
    fprintf(f, "usage: scann COMMAND [OPTIONS]   (scann COMMAND --help for its options)\n"
               "  gt      exact ground truth of queries against a base\n"
               "  bench   build indexes (and peers) on a base and measure recall, QPS, latency\n"
               "  build   build one index and save it to a file\n"
               "  search  load (or map) an index file and search it\n"
               "  tune    find the fastest search setting of an index file that reaches a recall\n"
               "  info    version, kernels and cores\n"
               "Options: --k=10, --k 10 and -k 10 are the same. scann --version prints the "
               "version.\n");
}

void usage_command(FILE *f, cli_cmd cmd)
{
    switch (cmd) {
    case CMD_GT:
        fprintf(f,
                "usage: scann gt --base B --query Q --metric l2|ip|cosine --out G.ivecs "
                "[options]\n"
                "Exact top-k neighbours (row numbers of B) of every query, with the FLAT "
                "index.\n"
                "  --base B, --query Q    vector files\n"
                "  --metric M             l2, ip or cosine (default: from an HDF5 base)\n"
                "  --out G                .ivecs or .npy (int32)\n"
                "  -k, --k K              neighbours per query (default 10)\n"
                "  --limit N              use only the first N base vectors\n"
                "%s%s",
                common_help, files_help);
        break;
    case CMD_BENCH:
        fprintf(f,
                "usage: scann bench --base B --query Q --gt G [--metric M] "
                "(--index SPEC | --peer P) [--search GRID]... [options]\n"
                "Builds each backend once, then for each point of its grid prints build_s, "
                "memory,\nrecall@k, batch QPS and single-query p50/p99 latency.\n"
                "  --base B, --query Q    vector files (an HDF5 base alone implies "
                "B:test, B:neighbors)\n"
                "  --gt G                 ground truth (.ivecs, .ibin, int .npy, "
                "HDF5 neighbors)\n"
                "  --metric M             l2, ip or cosine (default: from an HDF5 base)\n"
                "  --index SPEC           a libscann index (repeatable)\n"
                "  --peer P               hnsw:M=16,efc=200 (grid key ef) or faiss:FACTORY "
                "(grid keys\n"
                "                         nprobe, k_factor); needs scann-peers\n"
                "  --search GRID          after a backend: its own grid; before any: the "
                "default\n"
                "  -k, --k K              neighbours per query (default 10)\n"
                "  --limit N              use only the first N base vectors (the ground "
                "truth must\n"
                "                         be for them: scann gt --limit N)\n"
                "  --csv OUT              also write rows to OUT\n"
                "  --latency-queries N    queries timed one at a time (default 1000)\n"
                "%s%s%s%s",
                common_help, grid_help, spec_help, files_help);
        break;
    case CMD_BUILD:
        fprintf(f,
                "usage: scann build --base B --index SPEC --out FILE [--metric M] "
                "[options]\n"
                "Trains SPEC on the base, adds it (ids 0..n-1) and saves the index to FILE.\n"
                "  --base B               vector file\n"
                "  --metric M             l2, ip or cosine (default: from an HDF5 base)\n"
                "  --index SPEC           the index to build\n"
                "  --out FILE             the index file\n"
                "  --limit N              use only the first N base vectors\n"
                "%s%s%s",
                common_help, spec_help, files_help);
        break;
    case CMD_SEARCH:
        fprintf(f,
                "usage: scann search FILE --query Q [--gt G] [options]\n"
                "Loads the index FILE and searches it. With --gt prints the bench table "
                "(build_s =\nload time); without, QPS per grid point.\n"
                "  --query Q              vector file\n"
                "  --gt G                 ground truth: adds recall and latency\n"
                "  -k, --k K              neighbours per query (default 10)\n"
                "  --search GRID          search parameters to sweep\n"
                "  --mmap                 map FILE read-only instead of loading it\n"
                "  --out IDS.npy          first grid point's ids, int64 .npy (nq x k; -1 = "
                "none)\n"
                "  --out-dist D.npy       and their distances, float32 .npy\n"
                "  --radius R             range search instead: every vector with squared L2\n"
                "                         < R (ip / cosine: similarity > R), first grid point\n"
                "  --out-lims L.npy       with --radius: int64 offsets (nq + 1); --out and\n"
                "                         --out-dist then hold the matches, query by query\n"
                "  --csv OUT              also write rows to OUT (with --gt)\n"
                "  --latency-queries N    queries timed one at a time (default 1000)\n"
                "%s%s",
                common_help, grid_help);
        break;
    case CMD_TUNE:
        fprintf(f,
                "usage: scann tune FILE --query Q --target-recall R [--gt G | --base B] "
                "[options]\n"
                "Finds the fastest (nprobe, reorder_k) whose recall@k on the first --sample "
                "queries\nreaches R, prints the curve it measured, and saves the setting as "
                "FILE's default\nsearch parameters. With --gt, the remaining queries check "
                "the setting (held-out\nrecall). Exits 1 when no setting reaches R (nothing "
                "is saved).\n"
                "  --query Q              held-out queries (not vectors of the index)\n"
                "  --target-recall R      recall@k to reach, in (0, 1]\n"
                "  --gt G                 exact neighbours of Q (row numbers = ids)\n"
                "  --base B               or the base the index was built from (ids 0..n-1); "
                "IVF_FLAT\n"
                "                         needs neither\n"
                "  -k, --k K              neighbours per query (default 10)\n"
                "  --sample N             queries to tune on (default 1000; the rest check "
                "it)\n"
                "  --out FILE2            save the tuned index there instead of over FILE\n"
                "  --dry-run              measure and print only\n"
                "%s",
                common_help);
        break;
    case CMD_INFO:
        fprintf(f, "usage: scann info\nPrints the version, the SIMD kernels chosen for this "
                   "CPU and the core count.\n");
        break;
    }
}
