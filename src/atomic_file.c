/* atomic_file.c - see atomic_file.h. */
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

static scann_status io_fail(const char *path, const char *what, int e)
{
    return err_set(SCANN_ERR_IO, "%s: %s: %s", path, what, strerror(e));
}

/* The directory holding path: "." for a bare name, "/" for a file at the root. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (dir) {
        memcpy(dir, !slash ? "." : slash == path ? "/" : path, n);
        dir[n] = '\0';
    }
    return dir;
}

/*
 * Remove "<name>.tmp.<pid>.<tid>" files next to path whose process is gone: a write killed
 * between create and rename leaves one, and without this a kill loop fills the disk. A pid
 * that is alive (ours included: another thread may be writing) keeps its file. Best effort:
 * nothing here makes the write fail.
 */
static void remove_stale_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t nlen = strlen(name);
    char *dir = dir_of(path);
    DIR *dp = dir ? opendir(dir) : NULL;
    free(dir);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        const char *t = e->d_name;
        if (strncmp(t, name, nlen) != 0 || strncmp(t + nlen, ".tmp.", 5) != 0) continue;
        char *end;
        errno = 0;
        long pid = strtol(t + nlen + 5, &end, 10);
        if (errno || end == t + nlen + 5 || *end != '.' || pid <= 0 || pid == (long)getpid())
            continue;
        const char *tid = end + 1;
        if (!*tid || strspn(tid, "0123456789abcdef") != strlen(tid)) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        unlinkat(dirfd(dp), t, 0);
    }
    closedir(dp);
}

scann_status atomic_open(atomic_file *f, const char *path)
{
    /* The pid and thread make the name unique among concurrent writes to one path; a stale
     * file of that name belongs to a dead process and is replaced, never written through (it
     * could be a planted symlink). */
    unsigned long tid = 0;
    pthread_t self = pthread_self();
    memcpy(&tid, &self, sizeof tid < sizeof self ? sizeof tid : sizeof self);
    size_t n = strlen(path) + 64;
    f->path = path;
    f->fd = -1;
    if (!(f->tmp = malloc(n))) return err_nomem("a file name", n);
    snprintf(f->tmp, n, "%s.tmp.%ld.%lx", path, (long)getpid(), tid);
    remove_stale_temps(path);
    scann_status st = SCANN_OK;
    if (unlink(f->tmp) != 0 && errno != ENOENT)
        st = io_fail(path, "cannot remove a stale temporary file", errno);
    else if ((f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666)) < 0)
        st = io_fail(path, "cannot create the temporary file", errno);
    if (st) free(f->tmp), f->tmp = NULL;
    return st;
}

/* fsync the directory holding path, so the rename itself is durable. */
static scann_status sync_dir(const char *path)
{
    char *dir = dir_of(path);
    if (!dir) return err_nomem("a directory name", strlen(path) + 2);
    scann_status st = SCANN_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Some file systems cannot fsync a directory (EINVAL): nothing more can be done there. */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        st = err_set(SCANN_ERR_IO, "%s: cannot sync directory %s after the rename: %s", path, dir,
                     strerror(errno));
    if (fd >= 0) close(fd);
    free(dir);
    return st;
}

scann_status atomic_commit(atomic_file *f, scann_status st)
{
    /* fsync and close are where delayed errors (ENOSPC on some file systems, EIO) surface. */
    if (!st && fsync(f->fd) != 0) st = io_fail(f->path, "fsync failed", errno);
    if (close(f->fd) != 0 && !st) st = io_fail(f->path, "close failed", errno);
    if (!st && rename(f->tmp, f->path) != 0)
        st = io_fail(f->path, "cannot rename the temporary file into place", errno);
    if (st) unlink(f->tmp);
    if (!st) st = sync_dir(f->path);
    free(f->tmp);
    f->tmp = NULL;
    f->fd = -1;
    return st;
}
