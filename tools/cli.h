/*
 * cli.h - the command line of `scann`: one option table shared by the subcommands (each option
 * says which subcommands take it), getopt_long parsing, strict numbers and per-command help.
 *
 * Conventions are GNU's: `--k=10`, `--k 10` and `-k 10` are the same; options and the one
 * positional argument (search's and tune's FILE) may come in any order, except that bench's backends and
 * their grids keep command-line order (a --search right after an --index/--peer is that
 * backend's own grid, one before any backend is the default for all).
 */
#ifndef SCANN_CLI_H
#define SCANN_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
    CLI_MAX_BACKENDS = 16,
};

typedef enum cli_cmd {
    CMD_GT = 1,
    CMD_BENCH = 2,
    CMD_BUILD = 4,
    CMD_SEARCH = 8,
    CMD_INFO = 16,
    CMD_TUNE = 32,
} cli_cmd;

typedef struct cli_args {
    cli_cmd cmd;
    const char *name; /* the subcommand as typed, for messages */
    const char *base, *query, *gt, *out, *out_dist, *grid, *csv, *metric;
    const char *file;     /* search, tune: the index file (the one positional argument) */
    int mmap;             /* search: map the file instead of loading it */
    int has_radius;       /* search: --radius given: a range search */
    double radius;        /* search: the range search's radius (finite) */
    const char *out_lims; /* search --radius: where query i's matches start, int64 .npy */
    const char *backend[CLI_MAX_BACKENDS];
    const char *backend_grid[CLI_MAX_BACKENDS]; /* NULL: the default grid */
    int backend_is_peer[CLI_MAX_BACKENDS];
    int nbackend;
    int k;                /* default 10 */
    int threads;          /* 0 = every online core (resolved by cli_parse) */
    int latency_queries;  /* 0 = the harness's default (1000) */
    int64_t limit;        /* first rows of the base to use; 0 = all */
    double target_recall; /* tune: recall@k to reach; 0 = not given */
    int sample;           /* tune: queries tuned on (the first ones); the rest check it */
    int dry_run;          /* tune: measure and print, change no file */
    bool help, version;   /* --help / --version seen: print and exit 0 */
} cli_args;

/* The subcommand named s, or 0. */
cli_cmd cli_command(const char *s);
/* Parse argv[1..] of a subcommand (argv[0] is its name). Returns 0, or 2 after printing why
 * on stderr. */
int cli_parse(int argc, char **argv, cli_cmd cmd, cli_args *a);
/*
 * Strict base-10 integer: the whole of v, no spaces, in [lo, hi]. On failure returns false
 * and, when err is non-NULL, writes "'v' is not an integer in [lo, hi]" (or why) into it.
 */
bool cli_parse_ll(const char *v, long long lo, long long hi, long long *out, char *err,
                  size_t errlen);

/* usage.c: the overview, and one subcommand's own help with its options and defaults. */
void usage_main(FILE *f);
void usage_command(FILE *f, cli_cmd cmd);

#endif
