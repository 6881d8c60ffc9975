/* griffin's block-quantised matrix formats. A matrix [rows, cols] is cut
 * along each row into blocks of GF_QBLOCK = 32 columns (the last block of a
 * row may be short); every block has one F16 scale d, stored in a separate
 * [rows, nblocks] tensor, nblocks = ceil(cols / 32).
 *
 *   Q8: codes int8 [rows, cols]; w = d * q, q in [-127, 127].
 *   Q4: codes uint8 [rows, nblocks * 16]; block b of a row is 16 bytes, byte
 *       j holding column 32b + j in its low nibble and column 32b + 16 + j in
 *       its high nibble; w = d * (nibble - 8). Columns past the end of a
 *       short last block are coded 8 (zero).
 *
 * Both keep the row-major order of the original, so a row is contiguous and
 * a decode step streams each row once. Q8 costs 8.5 bits a weight, Q4 4.5. */
#ifndef GF_QUANT_H
#define GF_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

#define GF_QBLOCK 32

static inline size_t gf_q_nblocks(size_t cols) { return (cols + GF_QBLOCK - 1) / GF_QBLOCK; }
/* Bytes of codes in one row. */
static inline size_t gf_q8_row_bytes(size_t cols) { return cols; }
static inline size_t gf_q4_row_bytes(size_t cols) { return gf_q_nblocks(cols) * (GF_QBLOCK / 2); }

/* Quantise one row w[cols]: codes and scales [nblocks]. Q8 takes d = max|w| /
 * 127 (rounded to F16 first, and the codes made against the rounded d). Q4
 * tries a range of scales between max|w| / 8 and max|w| / 7, both signs, and
 * keeps the one with the least squared error over the block. */
void gf_q8_quantize_row(const float *w, size_t cols, int8_t *codes, uint16_t *scales);
void gf_q4_quantize_row(const float *w, size_t cols, uint8_t *codes, uint16_t *scales);

/* The packed order (gf_q_pack): the same codes and scales rearranged for the
 * integer-dot kernel (gemv_vnni.c), which computes 16 weight rows at once,
 * one per 32-bit lane. Rows are taken in groups of 16 (G = ceil(rows / 16);
 * the last group padded with rows of zeros); group g, block b is one piece of
 * GF_QPACK_BYTES(t) bytes at ((g * nblocks) + b) * GF_QPACK_BYTES(t):
 *   Q8: 8 chunks of 64 bytes; chunk c, byte 4 l + i = the code of row
 *       16 g + l, column 32 b + 4 c + i, plus 128 (so that it is unsigned,
 *       the side of vpdpbusd that is not broadcast).
 *   Q4: 4 chunks of 64 bytes; chunk c, byte 4 l + i holds row 16 g + l's
 *       nibble of column 32 b + 4 c + i in its low half and of column
 *       32 b + 16 + 4 c + i in its high half.
 * Columns past cols and rows past rows hold the zero code (128, 8). The
 * scales follow the same order: F16 [G, nblocks, 16], entry (g, b, l) the
 * scale of row 16 g + l's block b (0 for padding rows). So one 64-byte load
 * is 16 rows x 4 columns, and a block's products for 16 rows accumulate in
 * one register without a horizontal sum. */
#define GF_QPACK_ROWS 16
#define GF_QPACK_BYTES(t) ((t) == GF_W_Q8 ? 512u : 256u)
static inline size_t gf_q_groups(size_t rows) { return (rows + GF_QPACK_ROWS - 1) / GF_QPACK_ROWS; }

/* Bytes of packed codes and of packed scales of W (Q8 or Q4). */
size_t gf_q_packed_bytes(const gf_mat *W);
size_t gf_q_packed_scale_bytes(const gf_mat *W);

/* Writes W's codes and scales (row-major, as in the file) in the packed
 * order into codes and scales and points W->packed, W->packed_scale at them. */
void gf_q_pack(gf_mat *W, uint8_t *codes, uint16_t *scales);

/* The inverse: out[cols] = the values the codes stand for. */
void gf_q8_dequantize_row(const int8_t *codes, const uint16_t *scales, size_t cols, float *out);
void gf_q4_dequantize_row(const uint8_t *codes, const uint16_t *scales, size_t cols, float *out);

#endif
