/* spec.h - spec strings <-> scann_index_params; see spec.c. */
#ifndef SCANN_SPEC_H
#define SCANN_SPEC_H

#include "scann.h"

scann_status spec_describe(const scann_index_params *p, char *buf, size_t len);
const char *spec_reorder_name(scann_reorder r);

#endif
