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

/* The inverse: out[cols] = the values the codes stand for. */
void gf_q8_dequantize_row(const int8_t *codes, const uint16_t *scales, size_t cols, float *out);
void gf_q4_dequantize_row(const uint8_t *codes, const uint16_t *scales, size_t cols, float *out);

#endif
