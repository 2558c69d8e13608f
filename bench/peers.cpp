/*
 * peers.cpp - `scann-peers`: hnswlib and faiss measured by the same harness as libscann.
 *
 *   scann-peers bench --base B --query Q --gt G --metric l2|ip|cosine --k 10 --threads N
 *                     [--search "ef=10,20,40"] [--csv OUT] [--no-header] [--latency-queries N]
 *                     --peer SPEC [--peer SPEC ...]
 *
 * SPEC is one of
 *   hnsw[:M=16,efc=200[,seed=100]]  hnswlib HierarchicalNSW (header-only, compiled here with
 *                                   -O3 -march=native). Grid key: ef.
 *   faiss:FACTORY                   a faiss index_factory string ("IVF1024,Flat",
 *                                   "IVF256,PQ196x4fs,RFlat", "HNSW32", ...). Grid keys: any
 *                                   faiss ParameterSpace parameter (nprobe, efSearch,
 *                                   k_factor_rf, ...); k_factor on an index with a refine stage
 *                                   sets IndexRefine::k_factor. Needs SCANN_HAVE_FAISS.
 *
 *   scann-peers --version           which faiss was linked (version, origin, SIMD level, file)
 *
 * Each peer is wrapped in a bench_backend (tools/bench.h) and handed to bench_run(), so build
 * time, recall, batch QPS, latency percentiles and the table/CSV rows come from the same code
 * that measures the library's own index kinds.
 *
 * Metrics: l2 -> L2; ip -> inner product; cosine -> the base is normalised (a copy, with
 * bench_normalize_rows) before it goes into the peer and every query batch is normalised (a
 * copy) inside the timed search call, then searched by inner product - the same work the
 * library does for SCANN_METRIC_COSINE.
 *
 * Threads: `threads` passed to build/search by the harness is the whole thread budget of that
 * call. hnswlib: std::threads (build: the first point serially, then parallel addPoint, as
 * hnswlib's Python binding does; search: queries split over the threads). faiss: OpenMP
 * (omp_set_num_threads(threads) in every build and search call, so the harness's one-thread
 * latency calls run on one thread). OpenBLAS, which faiss calls for k-means and batched
 * flat/coarse distances, is pinned to one thread for the whole run (as in the published peer
 * figures): Debian's OpenBLAS is the pthread variant, whose own threads fight faiss's
 * spinning OpenMP workers - measured on 2 cores, 2 BLAS threads made IVF builds 5-30x slower
 * and batch QPS about 2x lower than 1 BLAS thread.
 *
 * faiss: either Debian's libfaiss-dev 1.7.3 (a generic x86-64 build: FastScan and the distance
 * loops run their SSE/scalar code) or a full-speed static build of a current faiss
 * (../shared/peers/build-faiss.sh, AVX2 or AVX-512), chosen by cmake/peers_faiss.cmake. The
 * source compiles against both APIs (faiss_idx below). Every faiss row's label carries the
 * version from faiss's headers, the origin CMake found (SCANN_FAISS_ORIGIN) and the SIMD level
 * the linked library reports (faiss::get_compile_options), so a table says what it measured.
 *
 * Exit status: 0 success; 1 a load, build or search failed; 2 usage error, unknown peer kind,
 * bad SPEC or a grid key the peer does not have.
 */
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <hnswlib/hnswlib.h>

#ifdef SCANN_HAVE_FAISS
#include <omp.h>

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexRefine.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/utils.h>
#endif

#include "bench.h"
#include "scann.h"

/* OpenBLAS's own thread count (it does not follow OpenMP in Debian's pthread variant). Weak, so
 * the program still links against another BLAS; then the call is skipped. */
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace {

const char *g_prog = "scann-peers";

void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Strict decimal parsers: the whole string must be a number in range. */
bool parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end = nullptr;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

[[maybe_unused]] bool parse_double(const char *s, double *out) { /* faiss only */
    if (!s || !*s) return false;
    errno = 0;
    char *end = nullptr;
    double v = strtod(s, &end);
    if (errno || *end || v != v) return false;
    *out = v;
    return true;
}

/* Copy of n rows of dim floats, each scaled to unit L2 norm. */
std::vector<float> normalized_copy(const float *x, int64_t n, int dim) {
    std::vector<float> v(x, x + (size_t)n * (size_t)dim);
    bench_normalize_rows(v.data(), n, dim);
    return v;
}

/* ==== hnswlib ========================================================================== */

struct HnswPeer {
    /* spec */
    int M = 16;
    int efc = 200;
    size_t seed = 100;
    /* state */
    scann_metric metric = SCANN_METRIC_L2;
    int dim = 0;
    std::unique_ptr<hnswlib::SpaceInterface<float>> space;
    std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
    size_t ef = 10; /* hnswlib's own default until the grid sets one */
    int max_threads_seen = 1;
};

/* "M=16,efc=200" (may be empty). */
bool hnsw_parse_spec(HnswPeer *p, const char *spec, std::string *why) {
    std::string s(spec ? spec : "");
    size_t pos = 0;
    while (pos < s.size()) {
        size_t comma = s.find(',', pos);
        if (comma == std::string::npos) comma = s.size();
        std::string item = s.substr(pos, comma - pos);
        pos = comma + 1;
        if (item.empty()) continue;
        size_t eq = item.find('=');
        if (eq == std::string::npos) {
            *why = "expected key=value, got '" + item + "'";
            return false;
        }
        std::string key = item.substr(0, eq), val = item.substr(eq + 1);
        long v;
        if (key == "M" || key == "m") {
            if (!parse_long(val.c_str(), 2, 2048, &v)) {
                *why = "M must be an integer in [2, 2048], got '" + val + "'";
                return false;
            }
            p->M = (int)v;
        } else if (key == "efc" || key == "efC" || key == "ef_construction") {
            if (!parse_long(val.c_str(), 1, 1 << 20, &v)) {
                *why = "efc must be a positive integer, got '" + val + "'";
                return false;
            }
            p->efc = (int)v;
        } else if (key == "seed") {
            if (!parse_long(val.c_str(), 0, LONG_MAX, &v)) {
                *why = "seed must be a non-negative integer, got '" + val + "'";
                return false;
            }
            p->seed = (size_t)v;
        } else {
            *why = "unknown hnsw key '" + key + "' (known: M, efc, seed)";
            return false;
        }
    }
    return true;
}

/* Run fn(i) for i in [begin, end) on `threads` threads (the calling thread is one of them),
 * handing out indices one chunk at a time. Returns the first exception's message, or "". */
template <class Fn>
std::string parallel_for(int64_t begin, int64_t end, int threads, int64_t chunk, Fn fn) {
    if (end <= begin) return "";
    int64_t count = end - begin;
    int nt = std::max(1, threads);
    if ((int64_t)nt > (count + chunk - 1) / chunk) nt = (int)((count + chunk - 1) / chunk);
    std::atomic<int64_t> next(begin);
    std::atomic<bool> failed(false);
    std::mutex err_mu;
    std::string first_err;
    auto worker = [&]() {
        try {
            for (;;) {
                if (failed.load(std::memory_order_relaxed)) return;
                int64_t i0 = next.fetch_add(chunk);
                if (i0 >= end) return;
                int64_t i1 = std::min(end, i0 + chunk);
                for (int64_t i = i0; i < i1; i++) fn(i);
            }
        } catch (const std::exception &e) {
            std::lock_guard<std::mutex> g(err_mu);
            if (!failed.exchange(true)) first_err = e.what();
        } catch (...) {
            std::lock_guard<std::mutex> g(err_mu);
            if (!failed.exchange(true)) first_err = "unknown exception";
        }
    };
    if (nt == 1) {
        worker();
        return first_err;
    }
    std::vector<std::thread> pool;
    pool.reserve(nt - 1);
    try {
        for (int t = 1; t < nt; t++) pool.emplace_back(worker);
    } catch (const std::exception &e) {
        /* Could not start all threads: the started ones and this one finish the work. */
    }
    worker();
    for (auto &th : pool) th.join();
    return first_err;
}

int hnsw_build(void *self, const bench_data *d, int threads, char *err, size_t errlen) {
    HnswPeer *p = static_cast<HnswPeer *>(self);
    if (d->n < 1) {
        set_err(err, errlen, "hnsw: empty base");
        return 1;
    }
    p->metric = d->metric;
    p->dim = d->dim;
    p->max_threads_seen = std::max(p->max_threads_seen, std::max(1, threads));
    try {
        if (d->metric == SCANN_METRIC_L2)
            p->space.reset(new hnswlib::L2Space((size_t)d->dim));
        else
            p->space.reset(new hnswlib::InnerProductSpace((size_t)d->dim));
        p->index.reset(new hnswlib::HierarchicalNSW<float>(p->space.get(), (size_t)d->n,
                                                            (size_t)p->M, (size_t)p->efc,
                                                            p->seed));
        std::vector<float> normed;
        const float *x = d->base;
        if (d->metric == SCANN_METRIC_COSINE) {
            normed = normalized_copy(d->base, d->n, d->dim);
            x = normed.data();
        }
        const size_t dim = (size_t)d->dim;
        hnswlib::HierarchicalNSW<float> *ix = p->index.get();
        ix->addPoint(x, (hnswlib::labeltype)0);
        std::string e = parallel_for(1, d->n, threads, 1, [&](int64_t i) {
            ix->addPoint(x + (size_t)i * dim, (hnswlib::labeltype)i);
        });
        if (!e.empty()) {
            set_err(err, errlen, "hnsw: addPoint failed: %s", e.c_str());
            return 1;
        }
        ix->setEf(p->ef);
    } catch (const std::bad_alloc &) {
        set_err(err, errlen, "hnsw: out of memory building for %lld vectors of dim %d",
                (long long)d->n, d->dim);
        return 1;
    } catch (const std::exception &e) {
        set_err(err, errlen, "hnsw: build failed: %s", e.what());
        return 1;
    }
    return 0;
}

int hnsw_set_params(void *self, const bench_point *pt, char *err, size_t errlen) {
    HnswPeer *p = static_cast<HnswPeer *>(self);
    if (!pt) return 0;
    for (int i = 0; i < pt->nkv; i++) {
        const char *key = pt->kv[i].key, *val = pt->kv[i].value;
        long v;
        if (strcmp(key, "ef") == 0 || strcmp(key, "efSearch") == 0 ||
            strcmp(key, "ef_search") == 0) {
            if (!parse_long(val, 1, 1 << 24, &v)) {
                set_err(err, errlen, "hnsw: ef must be a positive integer, got '%s'", val);
                return 1;
            }
            p->ef = (size_t)v;
        } else {
            set_err(err, errlen, "hnsw: unknown search parameter '%s' (known: ef)", key);
            return 1;
        }
    }
    if (p->index) p->index->setEf(p->ef);
    return 0;
}

int hnsw_search(void *self, const float *q, int64_t nq, int k, int threads, int64_t *ids,
                char *err, size_t errlen) {
    HnswPeer *p = static_cast<HnswPeer *>(self);
    if (!p->index) {
        set_err(err, errlen, "hnsw: search before build");
        return 1;
    }
    if (k < 1) {
        set_err(err, errlen, "hnsw: k must be >= 1, got %d", k);
        return 1;
    }
    p->max_threads_seen = std::max(p->max_threads_seen, std::max(1, threads));
    const size_t dim = (size_t)p->dim;
    std::vector<float> normed;
    if (p->metric == SCANN_METRIC_COSINE) {
        normed = normalized_copy(q, nq, p->dim);
        q = normed.data();
    }
    const hnswlib::HierarchicalNSW<float> *ix = p->index.get();
    auto one = [&](int64_t i) {
        auto res = ix->searchKnn(q + (size_t)i * dim, (size_t)k);
        /* res is a max-heap on distance: pop from the worst, fill from the back. */
        int64_t *row = ids + i * (int64_t)k;
        size_t got = res.size();
        for (size_t j = got; j < (size_t)k; j++) row[j] = -1;
        for (size_t j = got; j-- > 0;) {
            row[j] = (int64_t)res.top().second;
            res.pop();
        }
    };
    std::string e;
    try {
        if (threads <= 1 || nq == 1) {
            for (int64_t i = 0; i < nq; i++) one(i);
        } else {
            e = parallel_for(0, nq, threads, 16, one);
        }
    } catch (const std::exception &ex) {
        e = ex.what();
    }
    if (!e.empty()) {
        set_err(err, errlen, "hnsw: search failed: %s", e.c_str());
        return 1;
    }
    return 0;
}

/*
 * Heap bytes hnswlib 0.6.2 holds for the index, from its public fields (hnswalg.h):
 *   level 0:      max_elements_ * size_data_per_element_
 *                 (size_data_per_element_ = size_links_level0_ [4 + 4*maxM0_, maxM0_ = 2M]
 *                  + data_size_ [4*dim] + sizeof(labeltype) [8])
 *   upper levels: sum over elements with level l > 0 of size_links_per_element_ * l + 1
 *                 (size_links_per_element_ = 4 + 4*maxM_, maxM_ = M; the malloc in addPoint)
 *   per element:  max_elements_ * (sizeof(char*) [linkLists_] + sizeof(int) [element_levels_]
 *                 + sizeof(std::mutex) [link_list_locks_])
 *   fixed:        max_update_element_locks (65536) * sizeof(std::mutex)
 *   label map:    label_lookup_ (unordered_map): bucket_count * 8 + size * 32 (one node each:
 *                 next pointer, key, value, rounded to a 32-byte malloc chunk) - an estimate
 *   visited:      one VisitedList (max_elements_ * sizeof(vl_type) = 2 bytes) per thread that
 *                 ever searched at once; estimated as the most threads this peer was given.
 * Malloc slack and the space object are not counted, matching scann_index_memory.
 */
size_t hnsw_memory(void *self) {
    HnswPeer *p = static_cast<HnswPeer *>(self);
    const hnswlib::HierarchicalNSW<float> *ix = p->index.get();
    if (!ix) return 0;
    size_t n = ix->max_elements_;
    size_t bytes = n * ix->size_data_per_element_;
    for (size_t i = 0; i < ix->cur_element_count; i++) {
        int l = ix->element_levels_[i];
        if (l > 0) bytes += ix->size_links_per_element_ * (size_t)l + 1;
    }
    bytes += n * (sizeof(char *) + sizeof(int) + sizeof(std::mutex));
    bytes += (size_t)hnswlib::HierarchicalNSW<float>::max_update_element_locks * sizeof(std::mutex);
    bytes += ix->label_lookup_.bucket_count() * sizeof(void *) + ix->label_lookup_.size() * 32;
    bytes += (size_t)p->max_threads_seen * (n * sizeof(hnswlib::vl_type) + sizeof(hnswlib::VisitedList));
    return bytes;
}

void hnsw_destroy(void *self) {
    HnswPeer *p = static_cast<HnswPeer *>(self);
    /* The index refers to the space: drop it first. */
    p->index.reset();
    p->space.reset();
    delete p;
}

/* ==== faiss ============================================================================ */

#ifdef SCANN_HAVE_FAISS

/* faiss's index type: faiss::Index::idx_t up to 1.7.3, faiss::idx_t (only) from 1.7.4 on;
 * Index::ntotal has it in both. */
using faiss_idx = decltype(faiss::Index::ntotal);
static_assert(sizeof(faiss_idx) == sizeof(int64_t), "faiss idx_t is 64-bit");

/* "1.15.0 02dbb4e, AVX512" or "1.7.3 Debian, GENERIC": the version of the headers compiled
 * against, where CMake found the library, and the SIMD level the linked library was built for
 * (get_compile_options() without its "OPTIMIZE" flag; "AVX2"/"AVX512", "GENERIC" in 1.7.x). */
std::string faiss_build_name() {
    std::string simd;
    try {
        std::string opts = faiss::get_compile_options();
        size_t pos = 0;
        while (pos < opts.size()) {
            size_t sp = opts.find(' ', pos);
            if (sp == std::string::npos) sp = opts.size();
            std::string w = opts.substr(pos, sp - pos);
            pos = sp + 1;
            if (w.empty() || w == "OPTIMIZE") continue;
            simd += (simd.empty() ? "" : " ") + w;
        }
    } catch (const std::exception &) {
    }
    char buf[128];
    snprintf(buf, sizeof buf, "%d.%d.%d %s, %s", FAISS_VERSION_MAJOR, FAISS_VERSION_MINOR,
             FAISS_VERSION_PATCH, SCANN_FAISS_ORIGIN, simd.empty() ? "unknown SIMD" : simd.c_str());
    return buf;
}

void set_omp_threads(int threads) { omp_set_num_threads(std::max(1, threads)); }

faiss::MetricType faiss_metric(scann_metric m) {
    return m == SCANN_METRIC_L2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

/* The IndexRefine under any IndexPreTransform wrappers, or NULL. */
faiss::IndexRefine *find_refine(faiss::Index *ix) {
    while (ix) {
        if (auto *r = dynamic_cast<faiss::IndexRefine *>(ix)) return r;
        if (auto *pt = dynamic_cast<faiss::IndexPreTransform *>(ix)) {
            ix = pt->index;
            continue;
        }
        return nullptr;
    }
    return nullptr;
}

/* Apply one grid parameter; throws faiss::FaissException (or std::exception) when the index
 * has no such parameter. */
void faiss_apply(faiss::Index *ix, const char *key, double v) {
    if (strcmp(key, "k_factor") == 0) {
        /* faiss 1.7.3's ParameterSpace calls the refine factor "k_factor_rf" and keeps
         * "k_factor" for IndexIVFPQR; accept the common name for the RFlat/Refine stage too. */
        if (faiss::IndexRefine *r = find_refine(ix)) {
            r->k_factor = (float)v;
            return;
        }
    }
    faiss::ParameterSpace().set_index_parameter(ix, key, v);
}

struct FaissPeer {
    std::string factory;
    scann_metric metric = SCANN_METRIC_L2;
    int dim = 0;
    std::unique_ptr<faiss::Index> index;
    std::vector<std::pair<std::string, double>> pending; /* params set before build */
};

int faiss_build(void *self, const bench_data *d, int threads, char *err, size_t errlen) {
    FaissPeer *p = static_cast<FaissPeer *>(self);
    p->metric = d->metric;
    p->dim = d->dim;
    try {
        set_omp_threads(threads);
        p->index.reset(faiss::index_factory(d->dim, p->factory.c_str(), faiss_metric(d->metric)));
        std::vector<float> normed;
        const float *x = d->base;
        if (d->metric == SCANN_METRIC_COSINE) {
            normed = normalized_copy(d->base, d->n, d->dim);
            x = normed.data();
        }
        /* faiss samples its own training subset (max_points_per_centroid) where it needs one. */
        if (!p->index->is_trained) p->index->train((faiss_idx)d->n, x);
        p->index->add((faiss_idx)d->n, x);
        for (auto &kv : p->pending) faiss_apply(p->index.get(), kv.first.c_str(), kv.second);
    } catch (const std::bad_alloc &) {
        set_err(err, errlen, "faiss %s: out of memory", p->factory.c_str());
        return 1;
    } catch (const std::exception &e) {
        set_err(err, errlen, "faiss %s: build failed: %s", p->factory.c_str(), e.what());
        return 1;
    }
    return 0;
}

int faiss_set_params(void *self, const bench_point *pt, char *err, size_t errlen) {
    FaissPeer *p = static_cast<FaissPeer *>(self);
    if (!pt) return 0;
    for (int i = 0; i < pt->nkv; i++) {
        const char *key = pt->kv[i].key, *val = pt->kv[i].value;
        double v;
        if (!parse_double(val, &v)) {
            set_err(err, errlen, "faiss: parameter %s: '%s' is not a number", key, val);
            return 1;
        }
        if (!p->index) {
            p->pending.emplace_back(key, v);
            continue;
        }
        try {
            faiss_apply(p->index.get(), key, v);
        } catch (const std::exception &e) {
            set_err(err, errlen, "faiss %s: cannot set %s=%s: %s", p->factory.c_str(), key, val,
                    e.what());
            return 1;
        }
    }
    return 0;
}

int faiss_search(void *self, const float *q, int64_t nq, int k, int threads, int64_t *ids,
                 char *err, size_t errlen) {
    FaissPeer *p = static_cast<FaissPeer *>(self);
    if (!p->index) {
        set_err(err, errlen, "faiss: search before build");
        return 1;
    }
    try {
        set_omp_threads(threads);
        std::vector<float> normed;
        if (p->metric == SCANN_METRIC_COSINE) {
            normed = normalized_copy(q, nq, p->dim);
            q = normed.data();
        }
        std::vector<float> dist((size_t)nq * (size_t)k);
        p->index->search((faiss_idx)nq, q, (faiss_idx)k, dist.data(),
                         reinterpret_cast<faiss_idx *>(ids));
    } catch (const std::exception &e) {
        set_err(err, errlen, "faiss %s: search failed: %s", p->factory.c_str(), e.what());
        return 1;
    }
    return 0;
}

/* faiss's own serialised size (write_index into memory): what the index would occupy on disk,
 * which for these index kinds is its payload (codes, vectors, ids, centroids, tables). */
size_t faiss_memory(void *self) {
    FaissPeer *p = static_cast<FaissPeer *>(self);
    if (!p->index) return 0;
    try {
        faiss::VectorIOWriter w;
        faiss::write_index(p->index.get(), &w);
        return w.data.size();
    } catch (const std::exception &) {
        return 0;
    }
}

void faiss_destroy(void *self) { delete static_cast<FaissPeer *>(self); }

#endif /* SCANN_HAVE_FAISS */

/* ==== peers ============================================================================ */

struct PeerDef {
    std::string spec;
    enum { HNSW, FAISS } kind;
    HnswPeer hnsw; /* parsed hnsw options (copied into the backend) */
    std::string factory;
};

/* Parse "--peer" SPEC syntactically; returns false with a message for exit status 2. */
bool parse_peer(const char *spec, PeerDef *out, std::string *why) {
    out->spec = spec;
    std::string s(spec);
    size_t colon = s.find(':');
    std::string kind = s.substr(0, colon);
    std::string rest = colon == std::string::npos ? "" : s.substr(colon + 1);
    if (kind == "hnsw" || kind == "hnswlib") {
        out->kind = PeerDef::HNSW;
        return hnsw_parse_spec(&out->hnsw, rest.c_str(), why);
    }
    if (kind == "faiss") {
        out->kind = PeerDef::FAISS;
#ifndef SCANN_HAVE_FAISS
        *why = "this scann-peers was built without faiss (libfaiss was not found at configure "
               "time)";
        return false;
#else
        if (rest.empty()) {
            *why = "faiss needs an index_factory string, e.g. faiss:IVF1024,Flat";
            return false;
        }
        out->factory = rest;
        return true;
#endif
    }
    *why = "unknown peer kind '" + kind + "' (known: hnsw, faiss)";
    return false;
}

/*
 * Check, before anything slow happens, that the peer can be created for this data and accepts
 * every key of the grid. Returns false with a message (exit status 2).
 */
bool validate_peer(const PeerDef &def, const bench_data &d, const bench_point *pts, int npts,
                   std::string *why) {
    if (def.kind == PeerDef::HNSW) {
        HnswPeer tmp;
        char err[256] = "";
        for (int i = 0; i < npts; i++)
            if (hnsw_set_params(&tmp, &pts[i], err, sizeof err)) {
                *why = err;
                return false;
            }
        return true;
    }
#ifdef SCANN_HAVE_FAISS
    try {
        std::unique_ptr<faiss::Index> ix(
            faiss::index_factory(d.dim, def.factory.c_str(), faiss_metric(d.metric)));
        for (int i = 0; i < npts; i++)
            for (int j = 0; j < pts[i].nkv; j++) {
                double v;
                if (!parse_double(pts[i].kv[j].value, &v)) {
                    *why = std::string("search parameter ") + pts[i].kv[j].key + ": '" +
                           pts[i].kv[j].value + "' is not a number";
                    return false;
                }
                faiss_apply(ix.get(), pts[i].kv[j].key, v);
            }
    } catch (const std::exception &e) {
        *why = std::string("faiss rejected '") + def.factory + "' or its search parameters: " +
               e.what();
        return false;
    }
    return true;
#else
    (void)d;
    *why = "built without faiss";
    return false;
#endif
}

bool make_backend(const PeerDef &def, bench_backend *b) {
    memset(b, 0, sizeof *b);
    if (def.kind == PeerDef::HNSW) {
        HnswPeer *p = new HnswPeer;
        p->M = def.hnsw.M;
        p->efc = def.hnsw.efc;
        p->seed = def.hnsw.seed;
        snprintf(b->label, sizeof b->label, "hnswlib M=%d,efC=%d", p->M, p->efc);
        b->self = p;
        b->build = hnsw_build;
        b->set_params = hnsw_set_params;
        b->search = hnsw_search;
        b->memory = hnsw_memory;
        b->destroy = hnsw_destroy;
        return true;
    }
#ifdef SCANN_HAVE_FAISS
    FaissPeer *p = new FaissPeer;
    p->factory = def.factory;
    snprintf(b->label, sizeof b->label, "faiss %s [%s]", p->factory.c_str(),
             faiss_build_name().c_str());
    b->self = p;
    b->build = faiss_build;
    b->set_params = faiss_set_params;
    b->search = faiss_search;
    b->memory = faiss_memory;
    b->destroy = faiss_destroy;
    return true;
#else
    return false;
#endif
}

void usage(FILE *f) {
    fprintf(f,
            "usage: %s bench --base B --query Q --gt G [--metric l2|ip|cosine] [--k 10]\n"
            "                   [--threads N] [--search GRID] [--csv OUT] [--no-header]\n"
            "                   [--latency-queries N] [--limit N] --peer SPEC [--peer SPEC ...]\n"
            "\n"
            "SPEC:\n"
            "  hnsw:M=16,efc=200        hnswlib HierarchicalNSW; grid key: ef\n"
            "  faiss:FACTORY            faiss index_factory string, e.g. faiss:IVF1024,Flat,\n"
            "                           'faiss:IVF256,PQ196x4fs,RFlat'; grid keys: faiss\n"
            "                           ParameterSpace names (nprobe, efSearch, k_factor, ...)%s\n"
            "GRID: \"key=v1,v2;key2=w1,w2\" (cartesian product), e.g. \"ef=10,20,40\".\n"
            "%s --version names the faiss it was built with.\n",
            g_prog,
#ifdef SCANN_HAVE_FAISS
            ""
#else
            "\n                           (not available: built without faiss)"
#endif
            ,
            g_prog);
}

/* `--version`: one line per peer library, the faiss line as the bench header quotes it. */
void print_version(void) {
    printf("hnswlib (header-only, compiled -O3 -march=native)\n");
#ifdef SCANN_HAVE_FAISS
    printf("faiss %s (%s)\n", faiss_build_name().c_str(), SCANN_FAISS_LIBRARY);
#else
    printf("faiss: none (built without faiss)\n");
#endif
}

} // namespace

int main(int argc, char **argv) {
    if (argc >= 1 && argv[0] && *argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        g_prog = slash ? slash + 1 : argv[0];
    }
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        print_version();
        return 0;
    }
    if (strcmp(argv[1], "bench") != 0) {
        fprintf(stderr, "%s: unknown command '%s' (only 'bench')\n", g_prog, argv[1]);
        usage(stderr);
        return 2;
    }

    /* One OpenBLAS thread: see the note on threads at the top of this file. */
    if (openblas_set_num_threads) openblas_set_num_threads(1);

    bench_opts o;
    memset(&o, 0, sizeof o);
    o.metric = SCANN_METRIC_L2;
    o.k = 10;
    unsigned hc = std::thread::hardware_concurrency();
    o.threads = hc ? (int)hc : 1;
    o.latency_queries = 1000;
    bool no_header = false;
    std::vector<PeerDef> peers;

    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        auto need = [&](const char *name) -> const char * {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: %s needs a value\n", g_prog, name);
                exit(2);
            }
            return argv[++i];
        };
        long v;
        if (strcmp(a, "--base") == 0) {
            o.base_path = need(a);
        } else if (strcmp(a, "--query") == 0) {
            o.query_path = need(a);
        } else if (strcmp(a, "--gt") == 0) {
            o.gt_path = need(a);
        } else if (strcmp(a, "--metric") == 0) {
            const char *m = need(a);
            if (scann_metric_parse(m, &o.metric) != SCANN_OK) {
                fprintf(stderr, "%s: --metric: '%s' is not l2, ip or cosine\n", g_prog, m);
                return 2;
            }
        } else if (strcmp(a, "--k") == 0) {
            const char *s = need(a);
            if (!parse_long(s, 1, 100000, &v)) {
                fprintf(stderr, "%s: --k: '%s' is not an integer in [1, 100000]\n", g_prog, s);
                return 2;
            }
            o.k = (int)v;
        } else if (strcmp(a, "--threads") == 0) {
            const char *s = need(a);
            if (!parse_long(s, 1, 4096, &v)) {
                fprintf(stderr, "%s: --threads: '%s' is not an integer in [1, 4096]\n", g_prog, s);
                return 2;
            }
            o.threads = (int)v;
        } else if (strcmp(a, "--search") == 0) {
            o.grid = need(a);
        } else if (strcmp(a, "--csv") == 0) {
            o.csv_path = need(a);
        } else if (strcmp(a, "--no-header") == 0) {
            no_header = true;
        } else if (strcmp(a, "--latency-queries") == 0) {
            const char *s = need(a);
            if (!parse_long(s, 0, INT_MAX, &v)) {
                fprintf(stderr, "%s: --latency-queries: '%s' is not a non-negative integer\n",
                        g_prog, s);
                return 2;
            }
            o.latency_queries = (int)v;
        } else if (strcmp(a, "--limit") == 0) {
            const char *s = need(a);
            if (!parse_long(s, 1, LONG_MAX, &v)) {
                fprintf(stderr, "%s: --limit: '%s' is not an integer >= 1\n", g_prog, s);
                return 2;
            }
            o.limit = v;
        } else if (strcmp(a, "--peer") == 0) {
            const char *spec = need(a);
            PeerDef def;
            std::string why;
            if (!parse_peer(spec, &def, &why)) {
                fprintf(stderr, "%s: --peer '%s': %s\n", g_prog, spec, why.c_str());
                return 2;
            }
            peers.push_back(std::move(def));
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", g_prog, a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.base_path || !o.query_path || !o.gt_path) {
        fprintf(stderr, "%s: --base, --query and --gt are required\n", g_prog);
        return 2;
    }
    if (peers.empty()) {
        fprintf(stderr, "%s: at least one --peer SPEC is required\n", g_prog);
        return 2;
    }

    char err[512] = "";
    bench_point *pts = nullptr;
    int npts = 0;
    if (o.grid && bench_grid_parse(o.grid, &pts, &npts, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --search: %s\n", g_prog, err);
        return 2;
    }

    bench_data d;
    memset(&d, 0, sizeof d);
    if (bench_data_load(&o, &d, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", g_prog, err);
        free(pts);
        return 1;
    }

    /* Fail fast on bad specs and grid keys before any peer spends minutes building. */
    for (const PeerDef &def : peers) {
        std::string why;
        if (!validate_peer(def, d, pts, npts, &why)) {
            fprintf(stderr, "%s: --peer '%s': %s\n", g_prog, def.spec.c_str(), why.c_str());
            bench_data_free(&d);
            free(pts);
            return 2;
        }
    }
    free(pts);

    int status = 0;
    bool first = true;
    for (const PeerDef &def : peers) {
        bench_backend b;
        if (!make_backend(def, &b)) {
            fprintf(stderr, "%s: --peer '%s': cannot create this peer\n", g_prog,
                    def.spec.c_str());
            status = 2;
            break;
        }
        o.print_header = (first && !no_header) ? 1 : 0;
        first = false;
        int rc = bench_run(&b, &d, &o);
        if (b.destroy) b.destroy(b.self);
        if (rc != 0) status = 1; /* bench_run has printed the reason */
        fflush(stdout);
    }
    bench_data_free(&d);
    return status;
}
