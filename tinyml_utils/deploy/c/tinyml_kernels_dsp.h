/*
 * tinyml_kernels_dsp.h - int8 CONV_2D / FULLY_CONNECTED / MAX_POOL_2D for Cortex-M cores with
 * the DSP extension (ARMv7E-M: Cortex-M4/M7, ARMv8-M Mainline: M33/M55), TinyML Workbook.
 *
 * Compiled only when TML_DSP is 1 (see tinyml_kernels.h); the portable kernels of
 * tinyml_kernels.c stay the reference. Same results, bit for bit: the arithmetic below is
 * TFLite's int8 reference arithmetic, rearranged with the CMSIS-NN techniques:
 *
 * 1. Input offset folded into the bias, offline. TFLite computes
 *      acc = bias + sum_k (x_k - zp_in) * w_k = (bias - zp_in * sum_k w_k) + sum_k x_k * w_k,
 *    so the generator stores bias' = bias - zp_in * sum_k w_k per output channel and the
 *    inner loop multiplies raw int8 inputs. Padding is filled with zp_in (not 0): its terms
 *    x * w = zp_in * w cancel exactly against bias'. int32 wrap-around is the same on both
 *    sides, so the accumulator is identical to TFLite's.
 * 2. Two output channels x two output positions per pass (CMSIS-NN's
 *    arm_nn_mat_mult_kernel_s8_s16 pattern): 4 accumulators share every loaded input word and
 *    every sign-extended weight word. Per 4 input values: 3 LDRD (inputs of 2 positions,
 *    weights of 2 channels), 4 SXTB16 and 8 SMLAD = 15 instructions for 16 MACs.
 * 3. Weights pre-arranged offline in the order the loop reads them (words of 4 int8 values of
 *    channel c, then channel c+1, ...). SXTB16 and SXTB16 ROR #8 split a word w0 w1 w2 w3
 *    into the int16 pairs (w0, w2) and (w1, w3); the inputs are kept int16 in the same
 *    "reordered" pairs, so no instruction is spent re-ordering anything per MAC.
 * 4. No im2col copy when the layout allows it (in_c % 4 == 0, no horizontal dilation): the
 *    padded input is widened to int16 ONCE per layer and every filter window is read in place
 *    (for a 1-D convolution the window is one contiguous run). Otherwise two im2col columns.
 * 5. Every shape is a compile-time constant: the generated code passes the geometry by value
 *    to these always-inline functions, so the compiler specialises each layer (loop bounds,
 *    strides, immediate offsets, the requantization variant) and unrolls the inner loop.
 * 6. Requantization in one rounding step (see tml_rq): gemmlowp's two roundings
 *    (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT) are one 64-bit
 *    multiply-accumulate with a precomputed nudge and one shift - exactly equal, proved in
 *    the comment - about 10 instructions per output instead of 25.
 */
#ifndef TINYML_KERNELS_DSP_H
#define TINYML_KERNELS_DSP_H

#include <stdint.h>
#include <string.h>

#include "tinyml_kernels.h"

#if TML_DSP

#if defined(__GNUC__)
#define TML_AI static inline __attribute__((always_inline))
#else
#define TML_AI static inline
#endif

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define TML_UNROLL _Pragma("GCC unroll 8")
#elif defined(__clang__)
#define TML_UNROLL _Pragma("unroll 8")
#else
#define TML_UNROLL
#endif

/* ---- the DSP instructions, or their exact C emulation (-DTML_DSP_EMULATE, any host) ----- */
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
#include <arm_acle.h>
#define tml_smlad(x, y, acc) ((int32_t)__smlad((x), (y), (acc)))
#define tml_sxtb16(x) __sxtb16(x)
#define tml_ssat8(x) __ssat((x), 8)
/* SXTB16 with ROR #8 is one instruction; ACLE has no intrinsic for the rotated form */
TML_AI uint32_t tml_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
/* four signed bytes: max(a, b) per byte (SSUB8 sets the GE flags, SEL picks) */
TML_AI uint32_t tml_max4(uint32_t a, uint32_t b) {
  uint32_t r;
  __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
  return r;
}
#else
TML_AI int32_t tml_lo16(uint32_t x) { return (int16_t)(uint16_t)(x & 0xFFFFu); }
TML_AI int32_t tml_hi16(uint32_t x) { return (int16_t)(uint16_t)(x >> 16); }
TML_AI uint32_t tml_pack16(int32_t lo, int32_t hi) {
  return (uint32_t)(uint16_t)lo | ((uint32_t)(uint16_t)hi << 16);
}
TML_AI int32_t tml_smlad(uint32_t x, uint32_t y, int32_t acc) {
  uint32_t r = (uint32_t)acc; /* wraps like the instruction */
  r += (uint32_t)(tml_lo16(x) * tml_lo16(y));
  r += (uint32_t)(tml_hi16(x) * tml_hi16(y));
  return (int32_t)r;
}
TML_AI uint32_t tml_sxtb16(uint32_t x) {
  return tml_pack16((int8_t)(uint8_t)(x & 0xFFu), (int8_t)(uint8_t)((x >> 16) & 0xFFu));
}
TML_AI uint32_t tml_sxtb16_ror8(uint32_t x) { return tml_sxtb16((x >> 8) | (x << 24)); }
TML_AI int32_t tml_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
TML_AI uint32_t tml_max4(uint32_t a, uint32_t b) {
  uint32_t r = 0;
  int i;
  for (i = 0; i < 32; i += 8) {
    const int8_t x = (int8_t)(uint8_t)(a >> i), y = (int8_t)(uint8_t)(b >> i);
    r |= (uint32_t)(uint8_t)(x > y ? x : y) << i;
  }
  return r;
}
#endif

TML_AI uint32_t tml_rd32(const void *p) { /* any alignment: one LDR on a Cortex-M4 */
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
TML_AI void tml_wr32(void *p, uint32_t v) { memcpy(p, &v, 4); }

/* Two words at once: one LDRD on a Cortex-M4 (p is word-aligned). */
TML_AI uint64_t tml_rd64(const uint32_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
#define TML_LO(v) ((uint32_t)(v))
#define TML_HI(v) ((uint32_t)((v) >> 32))

/* Hide a pointer's value from the optimiser: loads through it cannot be hoisted out of the
 * enclosing loop (the compiler would keep a whole input column in registers, spill it to the
 * stack and reload it: more instructions, not fewer). */
#if defined(__GNUC__)
#define TML_OPAQUE(p) __asm__("" : "+r"(p))
#else
#define TML_OPAQUE(p) ((void)0)
#endif

/* ---- requantization ---------------------------------------------------------------------- */

/* One output channel: bias' (input offset folded in) and the requantization constants. */
typedef struct {
  int32_t bias; /* bias - zp_in * sum(weights of the channel) */
  int32_t a, b, c, d; /* meaning depends on the layer's TML_RQ_* kind */
} tml_chan;

/* TML_RQ_FAST: TFLite's MultiplyByQuantizedMultiplier(acc, m, shift) for shift <= -1, i.e.
 *   t = SRDHM(acc, m) = floor((acc*m + 2^30) / 2^31);  y = RDBPOT(t, r),  r = -shift >= 1
 * where RDBPOT rounds half away from zero: floor((t + 2^(r-1) - [t<0]) / 2^r). Since
 * floor(floor(A / 2^31) / 2^r) = floor(A / 2^(31+r)) for integers,
 *   y = floor((acc*m + 2^30 + 2^(30+r) - [t<0] * 2^31) / 2^(31+r)).
 * m >= 2^30 makes t < 0 equivalent to acc < 0, except acc*m = -2^30 (t = 0), where both
 * branches give 0. So: a = m, (c:b) = 2^30 + 2^(30+r) as a 64-bit number, d = r - 1, and
 * y = high word of (nudge + acc*m - [acc<0]*2^31), shifted right by d: SMLAL + LSR + SMLAL
 * + ASR on a Cortex-M4.
 * TML_RQ_GEMMLOWP: the same for any shift (a = m, d = shift), two roundings, slower.
 * TML_RQ_DOUBLE64: round(acc * s), halves away from zero, s = (c:b) / 2^64 exactly (TFLite's
 * per-channel FULLY_CONNECTED rounds the exact double product): UMULL + UMAAL.
 * TML_RQ_DOUBLE: the same for any double s = (a:b) * 2^-c (tml_mul_round_exact). */
#define TML_RQ_FAST 0
#define TML_RQ_GEMMLOWP 1
#define TML_RQ_DOUBLE64 2
#define TML_RQ_DOUBLE 3

TML_AI int32_t tml_rq(const int kind, const tml_chan *ch, int32_t acc) {
  if (kind == TML_RQ_FAST) {
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
    /* SMLAL (nudge + acc*m), LSR, SMLAL (- [acc<0] * 2^31), ASR */
    uint32_t lo = (uint32_t)ch->b, s;
    int32_t hi = ch->c;
    __asm__("smlal %0, %1, %3, %4\n\t"
            "lsr %2, %3, #31\n\t"
            "smlal %0, %1, %2, %5"
            : "+&r"(lo), "+&r"(hi), "=&r"(s)
            : "r"(acc), "r"(ch->a), "r"(0x80000000u));
    return hi >> ch->d;
#else
    const uint64_t nudge = ((uint64_t)(uint32_t)ch->c << 32) | (uint32_t)ch->b;
    int64_t t = (int64_t)nudge + (int64_t)acc * ch->a;
    t += (int64_t)((uint32_t)acc >> 31) * (int64_t)INT32_MIN;
    return (int32_t)(t >> 32) >> ch->d;
#endif
  }
  if (kind == TML_RQ_DOUBLE64) {
    const uint32_t neg = (uint32_t)(acc >> 31); /* 0 or all ones */
    const uint32_t mag = ((uint32_t)acc ^ neg) - neg;
    const uint64_t p0 = (uint64_t)mag * (uint32_t)ch->b;
    const uint64_t p1 = (uint64_t)mag * (uint32_t)ch->c + (p0 >> 32) + 0x80000000u;
    const uint32_t r = (uint32_t)(p1 >> 32);
    return (int32_t)((r ^ neg) - neg);
  }
  if (kind == TML_RQ_DOUBLE) {
    return tml_mul_round_exact(acc, (uint32_t)ch->a, (uint32_t)ch->b, ch->c);
  }
  return tml_mbqm(acc, ch->a, ch->d);
}

TML_AI int8_t tml_out8(const int kind, const tml_chan *ch, int32_t acc, const int out_zp,
                       const int act_min, const int act_max) {
  int32_t v = tml_rq(kind, ch, acc) + out_zp;
  if (act_min == -128 && act_max == 127) return (int8_t)tml_ssat8(v);
  v = v < act_min ? act_min : v;
  return (int8_t)(v > act_max ? act_max : v);
}

/* ---- int8 -> int16, "reordered": each group of 4 values x0 x1 x2 x3 becomes the words
 * (x0, x2) and (x1, x3), the pairs SXTB16 / SXTB16 ROR #8 make of a weight word. ---------- */
TML_AI void tml_widen(const int8_t *src, uint32_t *dst, const int n4) {
  int i;
  TML_UNROLL
  for (i = 0; i < n4; i += 4) {
    const uint32_t v = tml_rd32(src + i);
    dst[0] = tml_sxtb16(v);
    dst[1] = tml_sxtb16_ror8(v);
    dst += 2;
  }
}

TML_AI void tml_fill(uint32_t *dst, const uint32_t v, const int words) {
  int i;
  for (i = 0; i < words; ++i) dst[i] = v;
}

/* element k of a reordered int16 buffer */
TML_AI void tml_put16(uint32_t *buf, const int k, const int32_t v) {
  const int16_t h = (int16_t)v;
  memcpy((char *)buf + 2 * ((k & ~3) | ((k & 1) << 1) | ((k >> 1) & 1)), &h, 2);
}

/* ---- 1 output channel x 4 output positions ------------------------------------------------ */

/* acc[p] = bias + sum_k w[k] * x_p[k] for 4 positions p over `rows` rows of `groups` groups of
 * 4 values. w: the channel's int8 weights, row after row (word-aligned); x_p = x + p *
 * pos_words: reordered int16 columns whose row r starts `row_words` words after row 0.
 * Per group: LDR + 2 SXTB16 (the weight word, shared by the 4 positions), then per position
 * 2 loads and 2 SMLAD: 15 to 19 instructions for 16 MACs, ~11 registers. When the windows of
 * neighbouring positions overlap (stride-1 1-D convolutions), the compiler loads each input
 * word once for the whole block. */
TML_AI void tml_dot_1x4(const int8_t *w8, const uint32_t *x, const int pos_words, const int rows,
                        const int groups, const int row_words, const int32_t bias,
                        int32_t acc[4]) {
  int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
  int r, j;
  for (r = 0; r < rows; ++r) {
    const int8_t *wr = w8 + 4 * r * groups;
    const uint32_t *p0 = x + r * row_words;
    const uint32_t *p1 = p0 + pos_words, *p2 = p1 + pos_words, *p3 = p2 + pos_words;
    TML_UNROLL
    for (j = 0; j < groups; ++j) {
      const uint32_t ww = tml_rd32(wr + 4 * j);
      const uint32_t e = tml_sxtb16(ww), o = tml_sxtb16_ror8(ww);
      a0 = tml_smlad(e, p0[2 * j], a0);
      a0 = tml_smlad(o, p0[2 * j + 1], a0);
      a1 = tml_smlad(e, p1[2 * j], a1);
      a1 = tml_smlad(o, p1[2 * j + 1], a1);
      a2 = tml_smlad(e, p2[2 * j], a2);
      a2 = tml_smlad(o, p2[2 * j + 1], a2);
      a3 = tml_smlad(e, p3[2 * j], a3);
      a3 = tml_smlad(o, p3[2 * j + 1], a3);
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

/* ---- CONV_2D ----------------------------------------------------------------------------- */

typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c;
  int16_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
  int16_t row_len4;            /* k_w * in_c rounded up to a multiple of 4 */
  int16_t expand;              /* 1: padded input widened once (in_c % 4 == 0, dil_w == 1) */
  int16_t pad_rows, pad_cols;  /* size of the padded input that the windows cover */
  int16_t in_zp, out_zp, act_min, act_max, rq;
} tml_conv_geom;

/* The whole padded input, widened to int16 (reordered groups), padding = zp_in. */
TML_AI void tml_conv_widen_input(const tml_conv_geom g, const int8_t *in, uint32_t *buf,
                                 const uint32_t zp2) {
  const int C = g.in_c;
  const int row_words = g.pad_cols * C / 2;
  const int x_lo = g.pad_w > 0 ? g.pad_w : 0;
  const int x_hi = g.pad_w + g.in_w < g.pad_cols ? g.pad_w + g.in_w : g.pad_cols;
  int py;
  for (py = 0; py < g.pad_rows; ++py) {
    const int iy = py - g.pad_h;
    uint32_t *dst = buf + py * row_words;
    if (iy < 0 || iy >= g.in_h) {
      tml_fill(dst, zp2, row_words);
      continue;
    }
    tml_fill(dst, zp2, x_lo * C / 2);
    tml_widen(in + (iy * g.in_w + (x_lo - g.pad_w)) * C, dst + x_lo * C / 2, (x_hi - x_lo) * C);
    tml_fill(dst + x_hi * C / 2, zp2, (g.pad_cols - x_hi) * C / 2);
  }
}

/* One im2col column (k_h rows of row_len4 reordered int16) for output pixel (oy, ox). */
TML_AI void tml_im2col(const tml_conv_geom g, const int8_t *in, const int oy, const int ox,
                       uint32_t *col, const uint32_t zp2) {
  const int C = g.in_c;
  const int x0 = ox * g.stride_w - g.pad_w;
  const int32_t in_size = (int32_t)g.in_h * g.in_w * C;
  int fy, fx, c, k;
  for (fy = 0; fy < g.k_h; ++fy) {
    const int iy = oy * g.stride_h - g.pad_h + fy * g.dil_h;
    uint32_t *dst = col + fy * (g.row_len4 / 2);
    const int32_t start = ((int32_t)iy * g.in_w + x0) * C;
    if (iy < 0 || iy >= g.in_h) {
      tml_fill(dst, zp2, g.row_len4 / 2);
    } else if (g.dil_w == 1 && x0 >= 0 && x0 + g.k_w <= g.in_w &&
               start + g.row_len4 <= in_size) {
      /* contiguous run; values past row_len meet zero weights */
      tml_widen(in + start, dst, g.row_len4);
    } else {
      for (fx = 0, k = 0; fx < g.k_w; ++fx) {
        const int ix = x0 + fx * g.dil_w;
        const int inside = ix >= 0 && ix < g.in_w;
        const int8_t *src = in + ((int32_t)iy * g.in_w + ix) * C;
        for (c = 0; c < C; ++c, ++k) tml_put16(dst, k, inside ? src[c] : g.in_zp);
      }
      for (; k < g.row_len4; ++k) tml_put16(dst, k, g.in_zp);
    }
  }
}

/* Every output channel of n (1..4) consecutive output pixels whose columns start at x,
 * x + pos_words, ... ; out: the first pixel's outputs. */
TML_AI void tml_conv_block(const tml_conv_geom g, const int8_t *weights, const tml_chan *ch,
                           const uint32_t *x, const int pos_words, const int row_words,
                           int8_t *out, const int n) {
  const int groups = g.row_len4 / 4;
  const int C = g.out_c;
  int c;
  for (c = 0; c < C; ++c) {
    const tml_chan k = ch[c]; /* in registers: the int8 stores below may alias anything */
    const uint32_t *xp = x;
    int32_t acc[4];
    TML_OPAQUE(xp);
    tml_dot_1x4(weights + c * g.k_h * g.row_len4, xp, pos_words, g.k_h, groups, row_words,
                k.bias, acc);
    out[c] = tml_out8(g.rq, &k, acc[0], g.out_zp, g.act_min, g.act_max);
    if (n > 1) out[C + c] = tml_out8(g.rq, &k, acc[1], g.out_zp, g.act_min, g.act_max);
    if (n > 2) out[2 * C + c] = tml_out8(g.rq, &k, acc[2], g.out_zp, g.act_min, g.act_max);
    if (n > 3) out[3 * C + c] = tml_out8(g.rq, &k, acc[3], g.out_zp, g.act_min, g.act_max);
  }
}

/* CONV_2D, NHWC, batch 1. `weights`: int8 [out_c][k_h][row_len4] (each filter row
 * zero-padded, word-aligned: the portable kernel's array); `ch`: one tml_chan per output
 * channel; `scratch`: the widened padded input (expand) or four im2col columns. */
TML_AI void tml_conv_dsp(const tml_conv_geom g, const int8_t *in, int8_t *out,
                         uint32_t *scratch, const int8_t *weights, const tml_chan *ch) {
  const uint32_t zp2 = (uint32_t)(uint16_t)g.in_zp * 0x00010001u;
  if (g.expand) {
    /* blocks of 4 pixels along each output row: window p + 1 = window p + stride_w * in_c */
    const int pos_words = g.stride_w * g.in_c / 2;
    const int row_words = g.dil_h * g.pad_cols * g.in_c / 2;
    int oy, ox;
    tml_conv_widen_input(g, in, scratch, zp2);
    for (oy = 0; oy < g.out_h; ++oy) {
      const uint32_t *row = scratch + oy * g.stride_h * g.pad_cols * g.in_c / 2;
      int8_t *dst = out + oy * g.out_w * g.out_c;
      for (ox = 0; ox + 4 <= g.out_w; ox += 4) {
        tml_conv_block(g, weights, ch, row + ox * pos_words, pos_words, row_words,
                       dst + ox * g.out_c, 4);
      }
      for (; ox < g.out_w; ++ox) { /* row tail: one pixel at a time, in bounds */
        tml_conv_block(g, weights, ch, row + ox * pos_words, 0, row_words, dst + ox * g.out_c,
                       1);
      }
    }
  } else {
    const int col_words = g.k_h * g.row_len4 / 2;
    const int n_pos = g.out_h * g.out_w;
    int p, i, oy = 0, ox = 0;
    for (p = 0; p < n_pos; p += 4) {
      const int n = n_pos - p < 4 ? n_pos - p : 4;
      for (i = 0; i < n; ++i) {
        tml_im2col(g, in, oy, ox, scratch + i * col_words, zp2);
        if (++ox == g.out_w) {
          ox = 0;
          ++oy;
        }
      }
      if (n == 4) {
        tml_conv_block(g, weights, ch, scratch, col_words, g.row_len4 / 2, out + p * g.out_c,
                       4);
      } else { /* columns past n hold stale (finite) values; their outputs are not stored */
        tml_conv_block(g, weights, ch, scratch, col_words, g.row_len4 / 2, out + p * g.out_c,
                       n);
      }
    }
  }
}

/* ---- FULLY_CONNECTED --------------------------------------------------------------------- */

typedef struct {
  int16_t batches, in_len, in_len4, out_len;
  int16_t in_zp, out_zp, act_min, act_max, rq;
} tml_fc_geom;

/* `weights`: words interleaving blocks of 4 rows (word (b, j, r) = values 4j..4j+3 of row
 * 4b+r, rows padded to a multiple of 4 with zeros); `ch`: one tml_chan per row (padded). */
TML_AI void tml_fc_dsp(const tml_fc_geom g, const int8_t *in, int8_t *out, uint32_t *scratch,
                       const uint32_t *weights, const tml_chan *ch) {
  const int groups = g.in_len4 / 4;
  const int n4 = g.in_len & ~3;
  int b, r, j, k;
  for (b = 0; b < g.batches; ++b) {
    const int8_t *x = in + b * g.in_len;
    int8_t *y = out + b * g.out_len;
    const uint32_t *w = weights;
    tml_widen(x, scratch, n4);
    for (k = n4; k < g.in_len4; ++k) tml_put16(scratch, k, k < g.in_len ? x[k] : 0);
    for (r = 0; r < g.out_len; r += 4, w += 4 * groups) {
      int32_t a0 = ch[r].bias, a1 = ch[r + 1].bias, a2 = ch[r + 2].bias, a3 = ch[r + 3].bias;
      const uint32_t *wp = w;
      const uint32_t *xp = scratch;
      TML_OPAQUE(xp);
      TML_UNROLL
      for (j = 0; j < groups; ++j) {
        const uint64_t x = tml_rd64(xp + 2 * j);
        uint64_t ww = tml_rd64(wp + 4 * j);
        a0 = tml_smlad(tml_sxtb16(TML_LO(ww)), TML_LO(x), a0);
        a0 = tml_smlad(tml_sxtb16_ror8(TML_LO(ww)), TML_HI(x), a0);
        a1 = tml_smlad(tml_sxtb16(TML_HI(ww)), TML_LO(x), a1);
        a1 = tml_smlad(tml_sxtb16_ror8(TML_HI(ww)), TML_HI(x), a1);
        ww = tml_rd64(wp + 4 * j + 2);
        a2 = tml_smlad(tml_sxtb16(TML_LO(ww)), TML_LO(x), a2);
        a2 = tml_smlad(tml_sxtb16_ror8(TML_LO(ww)), TML_HI(x), a2);
        a3 = tml_smlad(tml_sxtb16(TML_HI(ww)), TML_LO(x), a3);
        a3 = tml_smlad(tml_sxtb16_ror8(TML_HI(ww)), TML_HI(x), a3);
      }
      {
        const tml_chan k0 = ch[r], k1 = ch[r + 1], k2 = ch[r + 2], k3 = ch[r + 3];
        y[r] = tml_out8(g.rq, &k0, a0, g.out_zp, g.act_min, g.act_max);
        if (r + 1 < g.out_len) y[r + 1] = tml_out8(g.rq, &k1, a1, g.out_zp, g.act_min, g.act_max);
        if (r + 2 < g.out_len) y[r + 2] = tml_out8(g.rq, &k2, a2, g.out_zp, g.act_min, g.act_max);
        if (r + 3 < g.out_len) y[r + 3] = tml_out8(g.rq, &k3, a3, g.out_zp, g.act_min, g.act_max);
      }
    }
  }
}

/* ---- MAX_POOL_2D, 4 channels per instruction (in_c % 4 == 0, no fused clamp) ------------- */

TML_AI void tml_max_pool_dsp(const tml_pool_params g, const int8_t *in, int8_t *out) {
  const int C = g.c;
  int oy, ox, fy, fx, c;
  int8_t *dst = out;
  for (oy = 0; oy < g.out_h; ++oy) {
    const int y0 = oy * g.stride_h - g.pad_h;
    const int fy0 = y0 < 0 ? -y0 : 0;
    const int fy1 = g.f_h < g.in_h - y0 ? g.f_h : g.in_h - y0;
    for (ox = 0; ox < g.out_w; ++ox, dst += C) {
      const int x0 = ox * g.stride_w - g.pad_w;
      const int fx0 = x0 < 0 ? -x0 : 0;
      const int fx1 = g.f_w < g.in_w - x0 ? g.f_w : g.in_w - x0;
      const int8_t *corner = in + ((y0 + fy0) * g.in_w + x0 + fx0) * C;
      for (c = 0; c < C; c += 4) {
        uint32_t m = tml_rd32(corner + c);
        for (fy = fy0; fy < fy1; ++fy) {
          const int8_t *row = in + ((y0 + fy) * g.in_w + x0) * C + c;
          for (fx = (fy == fy0 ? fx0 + 1 : fx0); fx < fx1; ++fx) {
            m = tml_max4(m, tml_rd32(row + fx * C));
          }
        }
        tml_wr32(dst + c, m);
      }
    }
  }
}

#endif /* TML_DSP */
#endif /* TINYML_KERNELS_DSP_H */
