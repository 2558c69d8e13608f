/*
 * pack.c - write and read one vector's 4-bit codes in a 32-vector FastScan block.
 *
 * Layout (fastscan.h): pair p = j / 2 starts at byte 32 * p and half h = j % 2 adds 16 * h, so
 * sub-space j of vector i lives in byte 16 * j + i % 16 - low nibble for vectors 0..15, high
 * nibble for vectors 16..31. Packing one slot only touches that slot's nibbles, so slots can be
 * written in any order and a slot can be overwritten in place (swap-with-last on delete).
 * Padding sub-spaces m..m4-1 are written as 0: the layout promises zero padding codes even
 * when a reused block held garbage there.
 */
#include "fastscan.h"

/* Byte and nibble shift of (slot i, sub-space j). */
static inline size_t code_byte(int i, int j) { return (size_t)16 * j + (i & 15); }
static inline int code_shift(int i) { return i < 16 ? 0 : 4; }

void fs_pack_one(uint8_t *block, int m, int i, const uint8_t *codes)
{
    const int sh = code_shift(i), m4 = fs_m4(m);
    const uint8_t keep = (uint8_t)(0xF0 >> sh); /* the other slot's nibble */
    for (int j = 0; j < m4; j++) {
        uint8_t c = j < m ? (uint8_t)(codes[j] & 15) : 0;
        uint8_t *b = block + code_byte(i, j);
        *b = (uint8_t)((*b & keep) | (c << sh));
    }
}

void fs_unpack_one(const uint8_t *block, int m, int i, uint8_t *codes)
{
    const int sh = code_shift(i);
    for (int j = 0; j < m; j++) codes[j] = (uint8_t)((block[code_byte(i, j)] >> sh) & 15);
}

void fs_move_one(uint8_t *dst, int to, uint8_t *src, int from, int m)
{
    for (int j = 0; j < m; j++) {
        if (dst != src || to != from) fs_set_code(dst, j, to, fs_code_at(src, j, from));
        fs_set_code(src, j, from, 0);
    }
}
