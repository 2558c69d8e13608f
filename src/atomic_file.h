/*
 * atomic_file.h - replace a file so that readers, and a crash, see the old file or the new one,
 * never half of one: write "<path>.tmp.<pid>.<thread>", fsync it, rename it over path, fsync
 * the directory. Index saves and vector file writes share it.
 */
#ifndef SCANN_ATOMIC_FILE_H
#define SCANN_ATOMIC_FILE_H

#include "scann.h"

typedef struct atomic_file {
    const char *path; /* the final name (the caller's string) */
    char *tmp;        /* the temporary name */
    int fd;           /* the temporary file, open for writing; -1 when not open */
} atomic_file;

/* Create the temporary file. On failure nothing is left behind and f needs no commit. */
scann_status atomic_open(atomic_file *f, const char *path);
/* Finish a write whose status so far is st: on success make it durable and move it into place;
 * on any failure remove the temporary file. Returns the final status. */
scann_status atomic_commit(atomic_file *f, scann_status st);

#endif
