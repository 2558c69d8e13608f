/*
 * vecio_hdf5.h - ann-benchmarks' HDF5 files for vecio.c.
 *
 * A path is "file.hdf5" or "file.hdf5:dataset" (also .h5). Without a dataset, float reads take
 * "train" and int reads "neighbors", the names ann-benchmarks uses (with "test" for queries and
 * "distances"). When the library is built without HDF5 (SCANN_HAVE_HDF5 unset), every call
 * returns SCANN_ERR_UNSUPPORTED with a message saying so.
 */
#ifndef SCANN_VECIO_HDF5_H
#define SCANN_VECIO_HDF5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scann.h"

/*
 * Is path an HDF5 path? When file is non-NULL, also copies the file part into file (cap bytes)
 * and sets *dataset to the dataset name, or NULL when the path has none. False when the file
 * part does not fit in cap.
 */
bool vecio_hdf5_split(const char *path, char *file, size_t cap, const char **dataset);
/* Read a 1-d or 2-d numeric dataset: float32 rows, or int32 rows when want_int (integer
 * datasets only; values must fit). limit > 0 reads the first limit rows only. */
scann_status vecio_hdf5_read(const char *path, bool want_int, int64_t limit, void **data,
                             int64_t *n, int *dim);
/* The file's "distance" attribute as a metric. */
scann_status vecio_hdf5_metric(const char *path, scann_metric *metric);

#endif
