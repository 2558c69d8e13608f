/* persist.h - index files above the container (persist.c); the public calls are in scann.h. */
#ifndef SCANN_PERSIST_H
#define SCANN_PERSIST_H

#include <stddef.h>

#include "scann.h"

/* scann_index_load_buffer without the checksum comparisons, for the fuzzer (tests/fuzz_load.c):
 * random mutations then reach the checks behind the checksums. Never use it for real files. */
scann_status persist_load_unverified(const void *buf, size_t len, scann_index **out);

#endif
