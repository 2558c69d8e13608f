/*
 * sections.h - the section tags of index files (docs/FORMAT.md, "Sections"), shared by the
 * kinds that write them, the IVF list I/O and the top-level save/load (persist.c), which holds
 * the table of their names.
 */
#ifndef SCANN_SECTIONS_H
#define SCANN_SECTIONS_H

#include "container.h"

#define SEC_VECS CTR_TAG('V', 'E', 'C', 'S') /* FLAT: ntotal x dim float32 */
#define SEC_IDS CTR_TAG('I', 'D', 'S', ' ')  /* ntotal int64 external ids */
#define SEC_CENT CTR_TAG('C', 'E', 'N', 'T') /* nlist x dim float32 partition centres */
#define SEC_LSIZ CTR_TAG('L', 'S', 'I', 'Z') /* nlist uint64 list sizes */
#define SEC_CODE CTR_TAG('C', 'O', 'D', 'E') /* ntotal x code_size bytes, list order */
#define SEC_BLKS CTR_TAG('B', 'L', 'K', 'S') /* SCANN: packed 4-bit blocks, list order */
#define SEC_CDBK CTR_TAG('C', 'D', 'B', 'K') /* PQ codebooks: ksub x dim float32 */
#define SEC_RROW CTR_TAG('R', 'R', 'O', 'W') /* ntotal x row_bytes rerank rows, list order */
#define SEC_NXID CTR_TAG('N', 'X', 'I', 'D') /* u64: the next automatic id (version 2) */
#define SEC_SRCH CTR_TAG('S', 'R', 'C', 'H') /* i32: default reorder_k, when set (version 2) */

#endif
