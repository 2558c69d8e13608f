/*
 * cli.c - option parsing for `scann` (see cli.h).
 *
 * Every number goes through cli_parse_ll, so "4x", "abc", "", " 4" and values that overflow are
 * refused with a message instead of silently becoming 4, 0 or a wrapped value.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    O_BASE = 256,
    O_QUERY,
    O_GT,
    O_OUT,
    O_OUT_DIST,
    O_METRIC,
    O_SEARCH,
    O_CSV,
    O_LATENCY,
    O_INDEX,
    O_PEER,
    O_MMAP,
    O_LIMIT,
    O_VERSION,
    O_TARGET,
    O_SAMPLE,
    O_DRY_RUN,
    O_RADIUS,
    O_OUT_LIMS,
};

#define ALL (CMD_GT | CMD_BENCH | CMD_BUILD | CMD_SEARCH | CMD_INFO | CMD_TUNE)
#define DATA (CMD_GT | CMD_BENCH | CMD_BUILD | CMD_SEARCH | CMD_TUNE)

/* Which subcommands take each option. */
static const struct {
    struct option o;
    unsigned cmds;
} table[] = {
    {{"base", required_argument, NULL, O_BASE}, CMD_GT | CMD_BENCH | CMD_BUILD | CMD_TUNE},
    {{"query", required_argument, NULL, O_QUERY}, CMD_GT | CMD_BENCH | CMD_SEARCH | CMD_TUNE},
    {{"gt", required_argument, NULL, O_GT}, CMD_BENCH | CMD_SEARCH | CMD_TUNE},
    {{"out", required_argument, NULL, O_OUT}, CMD_GT | CMD_BUILD | CMD_SEARCH | CMD_TUNE},
    {{"out-dist", required_argument, NULL, O_OUT_DIST}, CMD_SEARCH},
    {{"radius", required_argument, NULL, O_RADIUS}, CMD_SEARCH},
    {{"out-lims", required_argument, NULL, O_OUT_LIMS}, CMD_SEARCH},
    {{"metric", required_argument, NULL, O_METRIC}, CMD_GT | CMD_BENCH | CMD_BUILD},
    {{"k", required_argument, NULL, 'k'}, CMD_GT | CMD_BENCH | CMD_SEARCH | CMD_TUNE},
    {{"target-recall", required_argument, NULL, O_TARGET}, CMD_TUNE},
    {{"sample", required_argument, NULL, O_SAMPLE}, CMD_TUNE},
    {{"dry-run", no_argument, NULL, O_DRY_RUN}, CMD_TUNE},
    {{"threads", required_argument, NULL, 't'}, DATA},
    {{"search", required_argument, NULL, O_SEARCH}, CMD_BENCH | CMD_SEARCH},
    {{"csv", required_argument, NULL, O_CSV}, CMD_BENCH | CMD_SEARCH},
    {{"latency-queries", required_argument, NULL, O_LATENCY}, CMD_BENCH | CMD_SEARCH},
    {{"index", required_argument, NULL, O_INDEX}, CMD_BENCH | CMD_BUILD},
    {{"peer", required_argument, NULL, O_PEER}, CMD_BENCH},
    {{"mmap", no_argument, NULL, O_MMAP}, CMD_SEARCH},
    {{"limit", required_argument, NULL, O_LIMIT}, CMD_GT | CMD_BENCH | CMD_BUILD},
    {{"help", no_argument, NULL, 'h'}, ALL},
    {{"version", no_argument, NULL, O_VERSION}, ALL},
};
enum { NOPTS = sizeof table / sizeof table[0] };

cli_cmd cli_command(const char *s)
{
    static const struct {
        const char *name;
        cli_cmd cmd;
    } cmds[] = {{"gt", CMD_GT},         {"bench", CMD_BENCH}, {"build", CMD_BUILD},
                {"search", CMD_SEARCH}, {"info", CMD_INFO},   {"tune", CMD_TUNE}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(s, cmds[i].name)) return cmds[i].cmd;
    return 0;
}

bool cli_parse_ll(const char *v, long long lo, long long hi, long long *out, char *err,
                  size_t errlen)
{
    const char *why = NULL;
    char *end = NULL;
    long long x = 0;
    /* strtoll skips leading spaces and takes "+4": neither is a number a user means to type. */
    if (!v || !*v) {
        why = "an empty value is not a number";
    } else if (!(*v == '-' || (*v >= '0' && *v <= '9'))) {
        why = "not an integer";
    } else {
        errno = 0;
        x = strtoll(v, &end, 10);
        if (*end)
            why = "not an integer";
        else if (errno == ERANGE || x < lo || x > hi)
            why = "out of range";
    }
    if (!why) {
        *out = x;
        return true;
    }
    if (err)
        snprintf(err, errlen, "'%s': %s (expected an integer in [%lld, %lld])", v ? v : "", why, lo,
                 hi);
    return false;
}

/* A numeric option, or a message naming it. */
static bool num_opt(const cli_args *a, const char *flag, const char *v, long long lo, long long hi,
                    long long *out)
{
    char err[256];
    if (cli_parse_ll(v, lo, hi, out, err, sizeof err)) return true;
    fprintf(stderr, "scann %s: %s %s\n", a->name, flag, err);
    return false;
}

/* The option struct array and short-option string getopt_long wants for one subcommand. */
static void options_for(cli_cmd cmd, struct option *longs, char *shorts)
{
    int n = 0;
    char *s = shorts;
    *s++ = ':'; /* report a missing value as ':' so that we write the message */
    for (int i = 0; i < NOPTS; i++) {
        if (!(table[i].cmds & cmd)) continue;
        longs[n++] = table[i].o;
        int c = table[i].o.val;
        if (c < 256) {
            *s++ = (char)c;
            if (table[i].o.has_arg == required_argument) *s++ = ':';
        }
    }
    *s = '\0';
    longs[n] = (struct option){0};
}

static const char *name_of(int c)
{
    for (int i = 0; i < NOPTS; i++)
        if (table[i].o.val == c) return table[i].o.name;
    return "?";
}

/* One option; returns false after printing why it is wrong. */
static bool take(cli_args *a, int c, const char *v)
{
    long long x;
    if (v && !*v) { /* "--base=" or "--k ''": never what was meant */
        fprintf(stderr, "scann %s: --%s: empty value\n", a->name, name_of(c));
        return false;
    }
    switch (c) {
    case 'h': a->help = true; return true;
    case O_VERSION: a->version = true; return true;
    case O_MMAP: a->mmap = 1; return true;
    case O_DRY_RUN: a->dry_run = 1; return true;
    case O_TARGET: {
        char *end;
        errno = 0;
        double r = strtod(v, &end);
        /* strtod takes " 0.9", "nan" and "0x1p-1": only a plain decimal in (0, 1] is meant. */
        if (*end || errno || strspn(v, "0123456789.eE+-") != strlen(v) || *v == '+' || *v == '-' ||
            !(r > 0 && r <= 1)) {
            fprintf(stderr, "scann %s: --target-recall '%s': expected a number in (0, 1]\n",
                    a->name, v);
            return false;
        }
        a->target_recall = r;
        return true;
    }
    case O_RADIUS: {
        char *end;
        errno = 0;
        double r = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(r) || strspn(v, "0123456789.eE+-") != strlen(v)) {
            fprintf(stderr, "scann %s: --radius '%s': expected a finite decimal number\n", a->name,
                    v);
            return false;
        }
        a->has_radius = 1;
        a->radius = r;
        return true;
    }
    case O_OUT_LIMS: a->out_lims = v; return true;
    case O_SAMPLE:
        if (!num_opt(a, "--sample", v, 1, INT_MAX, &x)) return false;
        a->sample = (int)x;
        return true;
    case O_BASE: a->base = v; return true;
    case O_QUERY: a->query = v; return true;
    case O_GT: a->gt = v; return true;
    case O_OUT: a->out = v; return true;
    case O_OUT_DIST: a->out_dist = v; return true;
    case O_METRIC: a->metric = v; return true;
    case O_CSV: a->csv = v; return true;
    case 'k':
        if (!num_opt(a, "--k", v, 1, 100000, &x)) return false;
        a->k = (int)x;
        return true;
    case 't':
        if (!num_opt(a, "--threads", v, 0, 4096, &x)) return false;
        a->threads = (int)x;
        return true;
    case O_LATENCY:
        if (!num_opt(a, "--latency-queries", v, 1, 1 << 30, &x)) return false;
        a->latency_queries = (int)x;
        return true;
    case O_LIMIT:
        if (!num_opt(a, "--limit", v, 1, LLONG_MAX, &x)) return false;
        a->limit = x;
        return true;
    case O_SEARCH:
        /* After a backend: that backend's own grid; before any: the default. */
        if (a->nbackend > 0)
            a->backend_grid[a->nbackend - 1] = v;
        else
            a->grid = v;
        return true;
    case O_INDEX:
    case O_PEER:
        if (a->nbackend == CLI_MAX_BACKENDS) {
            fprintf(stderr, "scann %s: more than %d --index/--peer backends\n", a->name,
                    CLI_MAX_BACKENDS);
            return false;
        }
        a->backend_is_peer[a->nbackend] = c == O_PEER;
        a->backend[a->nbackend++] = v;
        return true;
    }
    return false;
}

int cli_parse(int argc, char **argv, cli_cmd cmd, cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->name = argv[0];
    a->k = 10;
    struct option longs[NOPTS + 1];
    char shorts[2 * NOPTS + 2];
    options_for(cmd, longs, shorts);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (c == '?' || c == ':') {
            char shortname[3] = {'-', (char)optopt, '\0'};
            const char *what = optopt ? shortname : argv[optind - 1];
            if (c == ':')
                fprintf(stderr, "scann %s: %s needs a value", a->name, what);
            else
                fprintf(stderr, "scann %s: unknown option '%s'", a->name, what);
            fprintf(stderr, " (see scann %s --help)\n", a->name);
            return 2;
        }
        if (!take(a, c, optarg)) return 2;
    }
    if (a->help || a->version) return 0;
    /* search and tune take their index file as the one positional argument; nothing else
     * takes any. */
    int want = cmd == CMD_SEARCH || cmd == CMD_TUNE ? 1 : 0;
    if (argc - optind > want) {
        fprintf(stderr, "scann %s: unexpected argument '%s' (see scann %s --help)\n", a->name,
                argv[optind + want], a->name);
        return 2;
    }
    if (want && optind < argc) a->file = argv[optind];
    if (a->threads == 0) a->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    return 0;
}
