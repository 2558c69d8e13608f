/* error.c - per-thread last-error message; see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

scann_status err_set(scann_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

void err_clear(void) { last_error[0] = '\0'; }

scann_status err_nomem(const char *what, size_t bytes)
{
    return err_set(SCANN_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes for %s", bytes,
                   what);
}

const char *scann_last_error(void) { return last_error; }

const char *scann_status_name(scann_status s)
{
    switch (s) {
    case SCANN_OK: return "SCANN_OK";
    case SCANN_ERR_INVALID_ARGUMENT: return "SCANN_ERR_INVALID_ARGUMENT";
    case SCANN_ERR_DIMENSION: return "SCANN_ERR_DIMENSION";
    case SCANN_ERR_INVALID_DATA: return "SCANN_ERR_INVALID_DATA";
    case SCANN_ERR_NOT_TRAINED: return "SCANN_ERR_NOT_TRAINED";
    case SCANN_ERR_EMPTY: return "SCANN_ERR_EMPTY";
    case SCANN_ERR_OUT_OF_MEMORY: return "SCANN_ERR_OUT_OF_MEMORY";
    case SCANN_ERR_IO: return "SCANN_ERR_IO";
    case SCANN_ERR_FORMAT: return "SCANN_ERR_FORMAT";
    case SCANN_ERR_UNSUPPORTED: return "SCANN_ERR_UNSUPPORTED";
    case SCANN_ERR_CANCELLED: return "SCANN_ERR_CANCELLED";
    case SCANN_ERR_INTERNAL: return "SCANN_ERR_INTERNAL";
    }
    return "SCANN_ERR_UNKNOWN";
}
