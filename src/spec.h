/* spec.h - index parameters: defaults, checks, spec strings <-> scann_index_params; spec.c. */
#ifndef SCANN_SPEC_H
#define SCANN_SPEC_H

#include "scann.h"

/* Range checks of every field (SCANN_ERR_INVALID_ARGUMENT naming the field), as create does. */
scann_status params_check(const scann_index_params *p);
scann_status spec_describe(const scann_index_params *p, char *buf, size_t len);
const char *spec_reorder_name(scann_reorder r);

#endif
