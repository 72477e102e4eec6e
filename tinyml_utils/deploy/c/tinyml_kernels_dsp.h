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
 * 2. One output channel x four output positions per pass: the weight word (4 int8 values)
 *    is loaded and sign-extended once (LDR + SXTB16 + SXTB16 ROR #8) and used for 4
 *    positions (2 loads + 2 SMLAD each): 19 instructions for 16 MACs at most, ~11 registers
 *    (a 2 x 2 block needs 14 and makes the compiler spill). Overlapping windows of
 *    neighbouring positions share their loads.
 * 3. Weights pre-arranged offline in the order the loop reads them: in every group of four
 *    the bytes are stored w0 w2 w1 w3, so SXTB16 gives the int16 pair (w0, w1) and SXTB16
 *    ROR #8 gives (w2, w3), matching the inputs' natural int16 pairs (x0, x1), (x2, x3).
 * 4. No im2col copy: the padded input is widened to int16 ONCE per layer (padding = zp_in)
 *    and every filter window is read in place, one run per filter row, at any halfword
 *    offset (the Cortex-M4 LDR handles unaligned addresses). Only horizontally dilated
 *    convolutions, or inputs too large to widen, build im2col columns.
 * 5. Every shape is a compile-time constant: the generated code passes the geometry by value
 *    to these always-inline functions, so the compiler specialises each layer (loop bounds,
 *    strides, immediate offsets, the requantization variant) and unrolls the inner loop.
 * 6. Requantization in one rounding step (see tml_rq): gemmlowp's two roundings
 *    (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT) are one 64-bit
 *    multiply-accumulate with a precomputed nudge and one shift - exactly equal, proved in
 *    the comment - about 10 instructions per output instead of 25.
 * 7. A convolution whose output only feeds a max pool (VALID, stride = window) is pooled on
 *    the fly (tml_conv_pool_dsp, TinyEngine style): the convolution values of f_h rows x a
 *    chunk of columns go to a small band in the scratch, which is pooled 4 channels per
 *    SSUB8 + SEL; the convolution's output tensor never exists, and rows and columns no
 *    pooling window covers are neither widened nor computed. With several bands of rows,
 *    only the padded input rows of the current band are kept widened.
 * 8. FULLY_CONNECTED keeps its weights widened to int16 in flash (tml_fc16_dsp, while they
 *    fit the generator's FC_WIDE_LIMIT_BYTES): one LDR per SMLAD, no sign extension, loads
 *    back to back; its per-channel double requantization is 3 instructions (TML_RQ_DOUBLE_S)
 *    when the generator proved that no accumulator of the layer hits an exact half.
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
/* four int8 x0 x1 x2 x3 -> the int16 pairs (x0, x1) and (x2, x3) */
TML_AI void tml_widen4(uint32_t v, uint32_t *lo, uint32_t *hi) {
  const uint32_t a = __sxtb16(v), b = tml_sxtb16_ror8(v); /* (x0, x2), (x1, x3) */
  uint32_t l, h;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(l) : "r"(a), "r"(b));
  __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(h) : "r"(b), "r"(a));
  *lo = l;
  *hi = h;
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
TML_AI void tml_widen4(uint32_t v, uint32_t *lo, uint32_t *hi) {
  *lo = tml_pack16((int8_t)(uint8_t)v, (int8_t)(uint8_t)(v >> 8));
  *hi = tml_pack16((int8_t)(uint8_t)(v >> 16), (int8_t)(uint8_t)(v >> 24));
}
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

/* The assembly micro-kernels need their shapes as assembler constants: true after inlining
 * with optimisation; without it (-O0, -Og) the kernels fall back to their C loops. */
#if defined(__GNUC__)
#define TML_CONST(x) __builtin_constant_p(x)
#else
#define TML_CONST(x) 0
#endif

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
 * TML_RQ_DOUBLE: the same for any double s = (a:b) * 2^-c (tml_mul_round_exact).
 * TML_RQ_FAST32: TML_RQ_FAST with the output zero point, when the generator proved
 * |acc| < 2^30 for every input (|bias| + 255 * sum |w| < 2^30): doubling numerator and
 * denominator, y + zp = floor((2acc*m + 2^31 + (K - [acc<0]) * 2^32) / 2^(32+r)) with
 * K = 2^(r-1) + zp * 2^r, and SMMLAR computes floor((Ra * 2^32 + Rn*Rm + 2^31) / 2^32):
 * LSL, ADD (acc ASR #31), SMMLAR, ASR = 4 instructions. a = m, b = K, d = r.
 * TML_RQ_DOUBLE_S: TML_RQ_DOUBLE64 without the sign juggling, when the generator proved that
 * no accumulator of the layer gives an exact tie (acc * S = 2^63 mod 2^64, S = s * 2^64;
 * only then do round-half-away-from-zero and round-half-up differ for acc < 0) and S < 2^63.
 * floor((acc * S + 2^63) / 2^64) with S split into signed digits S = Sh * 2^32 + Sl,
 * Sl in [-2^31, 2^31): P = acc * Sl (SMULL), and since P's low word cannot carry into
 * the result, y = high word of (acc * Sh + (P_hi + 2^31)), P_hi + 2^31 = P_hi EOR 2^31 being
 * non-negative: SMULL, EOR, SMLAL (3 instructions; the output zero point is the SMLAL's
 * initial high word). a = Sl, b = Sh. */
#define TML_RQ_FAST 0
#define TML_RQ_GEMMLOWP 1
#define TML_RQ_DOUBLE64 2
#define TML_RQ_DOUBLE 3
#define TML_RQ_FAST32 4
#define TML_RQ_DOUBLE_S 5

/* TML_RQ_DOUBLE_S plus the output zero point `zp` */
TML_AI int32_t tml_rq_ds(const tml_chan *ch, int32_t acc, int32_t zp) {
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
  uint32_t pl, ph;
  int32_t hi = zp;
  __asm__("smull %[pl], %[ph], %[acc], %[sl]\n\t"
          "eor %[ph], %[ph], #0x80000000\n\t"
          "smlal %[ph], %[hi], %[acc], %[sh]"
          : [pl] "=&r"(pl), [ph] "=&r"(ph), [hi] "+&r"(hi)
          : [acc] "r"(acc), [sl] "r"(ch->a), [sh] "r"(ch->b));
  (void)pl;
  return hi;
#else
  const int64_t p = (int64_t)acc * ch->a;
  const int64_t q = (int64_t)acc * ch->b + ((p >> 32) + 2147483648LL);
  return (int32_t)(q >> 32) + zp;
#endif
}

TML_AI int32_t tml_rq(const int kind, const tml_chan *ch, int32_t acc) {
  if (kind == TML_RQ_FAST32) {
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
    int32_t a2, ra, v;
    __asm__("lsl %[a2], %[acc], #1\n\t"
            "add %[ra], %[k], %[acc], asr #31\n\t"
            "smmlar %[v], %[a2], %[m], %[ra]"
            : [a2] "=&r"(a2), [ra] "=&r"(ra), [v] "=r"(v)
            : [acc] "r"(acc), [k] "r"(ch->b), [m] "r"(ch->a));
    return v >> ch->d;
#else
    const int64_t t = (int64_t)(ch->b + (acc >> 31)) * 4294967296LL +
                      (int64_t)(acc * 2) * ch->a + 2147483648LL;
    return (int32_t)(t >> 32) >> ch->d;
#endif
  }
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
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
    /* |acc| * s64 + 2^63: UMULL (low product), UMAAL (high product + carry + 2^31) */
    uint32_t sgn, mag, lo, hi, top;
    __asm__("asr %[sgn], %[acc], #31\n\t"
            "eor %[mag], %[acc], %[sgn]\n\t"
            "sub %[mag], %[mag], %[sgn]\n\t"
            "umull %[lo], %[hi], %[mag], %[b]\n\t"
            "mov %[top], #0x80000000\n\t"
            "umaal %[hi], %[top], %[mag], %[c]\n\t"
            "eor %[top], %[top], %[sgn]\n\t"
            "sub %[top], %[top], %[sgn]"
            : [sgn] "=&r"(sgn), [mag] "=&r"(mag), [lo] "=&r"(lo), [hi] "=&r"(hi),
              [top] "=&r"(top)
            : [acc] "r"(acc), [b] "r"(ch->b), [c] "r"(ch->c));
    (void)lo;
    return (int32_t)top;
#else
    const uint32_t neg = (uint32_t)(acc >> 31); /* 0 or all ones */
    const uint32_t mag = ((uint32_t)acc ^ neg) - neg;
    const uint64_t p0 = (uint64_t)mag * (uint32_t)ch->b;
    const uint64_t p1 = (uint64_t)mag * (uint32_t)ch->c + (p0 >> 32) + 0x80000000u;
    const uint32_t r = (uint32_t)(p1 >> 32);
    return (int32_t)((r ^ neg) - neg);
#endif
  }
  if (kind == TML_RQ_DOUBLE_S) {
    return tml_rq_ds(ch, acc, 0);
  }
  if (kind == TML_RQ_DOUBLE) {
    return tml_mul_round_exact(acc, (uint32_t)ch->a, (uint32_t)ch->b, ch->c);
  }
  return tml_mbqm(acc, ch->a, ch->d);
}

TML_AI int8_t tml_out8(const int kind, const tml_chan *ch, int32_t acc, const int out_zp,
                       const int act_min, const int act_max) {
  int32_t v = kind == TML_RQ_DOUBLE_S ? tml_rq_ds(ch, acc, out_zp) : tml_rq(kind, ch, acc) + out_zp;
  if (act_min == -128 && act_max == 127) return (int8_t)tml_ssat8(v);
  v = v < act_min ? act_min : v;
  return (int8_t)(v > act_max ? act_max : v);
}

/* ---- int8 -> int16 ---------------------------------------------------------------------- */

/* n int8 values -> n int16 at dst (any alignment of both; 4 values per LDR + STR + STR). */
TML_AI void tml_widen(const int8_t *src, int16_t *dst, const int n) {
  int i;
  for (i = 0; i + 4 <= n; i += 4) {
    uint32_t lo, hi;
    tml_widen4(tml_rd32(src + i), &lo, &hi);
    tml_wr32(dst + i, lo);
    tml_wr32(dst + i + 2, hi);
  }
  for (; i < n; ++i) dst[i] = src[i];
}

TML_AI void tml_fill16(int16_t *dst, const int16_t v, const int n) {
  int i;
  for (i = 0; i < n; ++i) dst[i] = v;
}

/* ---- 1 output channel x 4 output positions ------------------------------------------------ */

/* One filter row of the 1 x 4 block: acc[p] += sum_k w[k] * x_p[k], p < 4, over `groups`
 * groups of 4 values; w: permuted int8 weights (word-aligned); x_0 = x and x_p = x + o_p
 * int16 values (constants). Returns the weights pointer advanced past the row.
 *
 * Cortex-M4 path: a micro-kernel in assembly (the compiler, left alone, shares the loads of
 * overlapping windows, keeps them alive and spills). Per group of 4 values, for 16 MACs:
 *   LDR w (post-increment), SXTB16, SXTB16 ROR #8, then per position one LDRD (x_p word
 *   aligned: even in_c) or two LDR, and two SMLAD: 15 (LDRD) or 19 (LDR) instructions.
 * The assembler unrolls the loop (.rept): completely up to 8 groups, else 4 groups per
 * iteration (+2 loop instructions). `ld` selects the loads (TML_LD_*, chosen by the
 * generator from the alignment and the offsets' range); TML_LD_C is the portable C loop
 * (the host emulation, and offsets beyond the instructions' immediate range). */
#define TML_LD_C 0
#define TML_LD_LDRD 1
#define TML_LD_LDR 2

#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
#define TML_STEP_LDRD                      \
  "ldr %[w], [%[pw]], #4\n\t"              \
  "sxtb16 %[e], %[w]\n\t"                  \
  "sxtb16 %[w], %[w], ror #8\n\t"          \
  ".if %c[np] > 1\n\t"                     \
  "ldrd %[t], %[u], [%[px], #%c[o1]]\n\t"  \
  "smlad %[a1], %[e], %[t], %[a1]\n\t"     \
  "smlad %[a1], %[w], %[u], %[a1]\n\t"     \
  "ldrd %[t], %[u], [%[px], #%c[o2]]\n\t"  \
  "smlad %[a2], %[e], %[t], %[a2]\n\t"     \
  "smlad %[a2], %[w], %[u], %[a2]\n\t"     \
  "ldrd %[t], %[u], [%[px], #%c[o3]]\n\t"  \
  "smlad %[a3], %[e], %[t], %[a3]\n\t"     \
  "smlad %[a3], %[w], %[u], %[a3]\n\t"     \
  ".endif\n\t"                             \
  "ldrd %[t], %[u], [%[px]], #8\n\t"       \
  "smlad %[a0], %[e], %[t], %[a0]\n\t"     \
  "smlad %[a0], %[w], %[u], %[a0]\n\t"
#define TML_STEP_LDR                       \
  "ldr %[w], [%[pw]], #4\n\t"              \
  "sxtb16 %[e], %[w]\n\t"                  \
  "sxtb16 %[w], %[w], ror #8\n\t"          \
  ".if %c[np] > 1\n\t"                     \
  "ldr %[t], [%[px], #%c[o1]]\n\t"         \
  "ldr %[u], [%[px], #%c[o1] + 4]\n\t"     \
  "smlad %[a1], %[e], %[t], %[a1]\n\t"     \
  "smlad %[a1], %[w], %[u], %[a1]\n\t"     \
  "ldr %[t], [%[px], #%c[o2]]\n\t"         \
  "ldr %[u], [%[px], #%c[o2] + 4]\n\t"     \
  "smlad %[a2], %[e], %[t], %[a2]\n\t"     \
  "smlad %[a2], %[w], %[u], %[a2]\n\t"     \
  "ldr %[t], [%[px], #%c[o3]]\n\t"         \
  "ldr %[u], [%[px], #%c[o3] + 4]\n\t"     \
  "smlad %[a3], %[e], %[t], %[a3]\n\t"     \
  "smlad %[a3], %[w], %[u], %[a3]\n\t"     \
  ".endif\n\t"                             \
  "ldr %[u], [%[px], #4]\n\t"              \
  "ldr %[t], [%[px]], #8\n\t"              \
  "smlad %[a0], %[e], %[t], %[a0]\n\t"     \
  "smlad %[a0], %[w], %[u], %[a0]\n\t"
#define TML_DOT_ROW_ASM(STEP)                                                              \
  __asm__ volatile(                                                                        \
      ".if %c[g] <= 8\n\t"                                                                 \
      ".rept %c[g]\n\t" STEP ".endr\n\t"                                                   \
      ".else\n\t"                                                                          \
      "mov %[n], #%c[g] / 4\n"                                                             \
      "1:\n\t"                                                                             \
      ".rept 4\n\t" STEP ".endr\n\t"                                                       \
      "subs %[n], %[n], #1\n\t"                                                            \
      "bne 1b\n\t"                                                                         \
      ".rept %c[g] %% 4\n\t" STEP ".endr\n\t"                                               \
      ".endif"                                                                             \
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [pw] "+r"(wp),         \
        [px] "+r"(xp), [w] "=&r"(w), [e] "=&r"(e), [t] "=&r"(t), [u] "=&r"(u), [n] "=&r"(n) \
      : [g] "i"(groups), [np] "i"(np), [o1] "i"(2 * o1), [o2] "i"(2 * o2), [o3] "i"(2 * o3)   \
      : "cc", "memory")
#endif

TML_AI const int8_t *tml_dot_row(const int ld, const int8_t *w8, const int16_t *x,
                                 const int o1, const int o2, const int o3, const int groups,
                                 const int np, int32_t acc[4]) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
  if (ld != TML_LD_C && TML_CONST(groups) && TML_CONST(np) && TML_CONST(o1) &&
      TML_CONST(o2) && TML_CONST(o3)) {
    const int8_t *wp = w8;
    const int16_t *xp = x;
    uint32_t w, e, t, u, n;
    if (ld == TML_LD_LDRD) {
      TML_DOT_ROW_ASM(TML_STEP_LDRD);
    } else {
      TML_DOT_ROW_ASM(TML_STEP_LDR);
    }
    (void)n;
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return wp;
  }
#endif
  {
    const int16_t *p1 = x + o1, *p2 = x + o2, *p3 = x + o3;
    int j;
    (void)ld;
    TML_UNROLL
    for (j = 0; j < groups; ++j) {
      const uint32_t ww = tml_rd32(w8 + 4 * j);
      const uint32_t e = tml_sxtb16(ww), o = tml_sxtb16_ror8(ww); /* (w0, w1), (w2, w3) */
      a0 = tml_smlad(e, tml_rd32(x + 4 * j), a0);
      a0 = tml_smlad(o, tml_rd32(x + 4 * j + 2), a0);
      if (np > 1) {
        a1 = tml_smlad(e, tml_rd32(p1 + 4 * j), a1);
        a1 = tml_smlad(o, tml_rd32(p1 + 4 * j + 2), a1);
        a2 = tml_smlad(e, tml_rd32(p2 + 4 * j), a2);
        a2 = tml_smlad(o, tml_rd32(p2 + 4 * j + 2), a2);
        a3 = tml_smlad(e, tml_rd32(p3 + 4 * j), a3);
        a3 = tml_smlad(o, tml_rd32(p3 + 4 * j + 2), a3);
      }
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  return w8 + 4 * groups;
}

/* ---- CONV_2D ----------------------------------------------------------------------------- */

typedef struct {
  int16_t in_h, in_w, in_c, out_h, out_w, out_c;
  int16_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
  int16_t row_len4;   /* k_w * in_c rounded up to a multiple of 4 */
  int16_t expand;     /* 1: padded input widened once (dil_w == 1), 0: im2col */
  int16_t pad_rows, pad_cols; /* size of the padded input that the windows cover */
  int16_t row_elems;  /* int16 values per widened row: pad_cols * in_c (+1 to stay even) */
  int16_t twin;       /* 1: every widened row is followed by a copy shifted by one value */
  int16_t in_zp, out_zp, act_min, act_max, rq;
  int16_t ld;         /* TML_LD_*: how the micro-kernel loads inputs */
} tml_conv_geom;

/* The padded input rows py0 <= py < py1, widened to int16 (padding = zp_in), at buf. With `twin` (odd in_c * stride_w,
 * so every other window starts at an odd int16 offset) each row A is followed by the row
 * B[i] = A[i + 1]: the odd windows start at even offsets in B, so all four windows of a
 * block are word-aligned for LDRD. Slack at the end: values past a window's last filter row
 * are read times zero weights. */
TML_AI void tml_conv_widen_rows(const tml_conv_geom g, const int8_t *in, int16_t *buf,
                                const int py0, const int py1) {
  const int C = g.in_c;
  const int row = g.pad_cols * C;
  const int step = g.twin ? 2 * g.row_elems : g.row_elems;
  const int x_lo = g.pad_w > 0 ? g.pad_w : 0;
  const int x_hi = g.pad_w + g.in_w < g.pad_cols ? g.pad_w + g.in_w : g.pad_cols;
  int py;
  for (py = py0; py < py1; ++py) {
    const int iy = py - g.pad_h;
    int16_t *dst = buf + (py - py0) * step;
    if (iy < 0 || iy >= g.in_h) {
      tml_fill16(dst, g.in_zp, row);
    } else {
      tml_fill16(dst, g.in_zp, x_lo * C);
      tml_widen(in + (iy * g.in_w + (x_lo - g.pad_w)) * C, dst + x_lo * C, (x_hi - x_lo) * C);
      tml_fill16(dst + x_hi * C, g.in_zp, (g.pad_cols - x_hi) * C);
    }
    tml_fill16(dst + row, g.in_zp, g.row_elems - row);
    if (g.twin) {
      memcpy(dst + g.row_elems, dst + 1, (size_t)(g.row_elems - 1) * 2);
      dst[2 * g.row_elems - 1] = g.in_zp;
    }
  }
}

TML_AI void tml_conv_widen_input(const tml_conv_geom g, const int8_t *in, int16_t *buf) {
  const int step = g.twin ? 2 * g.row_elems : g.row_elems;
  tml_conv_widen_rows(g, in, buf, 0, g.pad_rows);
  tml_fill16(buf + g.pad_rows * step, 0, g.row_len4);
}

/* One im2col column (k_h rows of row_len4 int16) for output pixel (oy, ox). */
TML_AI void tml_im2col(const tml_conv_geom g, const int8_t *in, const int oy, const int ox,
                       int16_t *col) {
  const int C = g.in_c;
  const int x0 = ox * g.stride_w - g.pad_w;
  int fy, fx, c, k;
  for (fy = 0; fy < g.k_h; ++fy) {
    const int iy = oy * g.stride_h - g.pad_h + fy * g.dil_h;
    int16_t *dst = col + fy * g.row_len4;
    if (iy < 0 || iy >= g.in_h) {
      tml_fill16(dst, g.in_zp, g.row_len4);
    } else if (g.dil_w == 1 && x0 >= 0 && x0 + g.k_w <= g.in_w) {
      tml_widen(in + ((int32_t)iy * g.in_w + x0) * C, dst, g.k_w * C);
      tml_fill16(dst + g.k_w * C, 0, g.row_len4 - g.k_w * C);
    } else {
      for (fx = 0, k = 0; fx < g.k_w; ++fx) {
        const int ix = x0 + fx * g.dil_w;
        const int inside = ix >= 0 && ix < g.in_w;
        const int8_t *src = in + ((int32_t)iy * g.in_w + ix) * C;
        for (c = 0; c < C; ++c, ++k) dst[k] = inside ? src[c] : g.in_zp;
      }
      tml_fill16(dst + k, 0, g.row_len4 - k);
    }
  }
}

/* Every output channel of n (1..4) consecutive output pixels whose inputs start at x,
 * x + o1, x + o2, x + o3 (np = 1: one pixel); out: the first pixel's outputs. */
TML_AI void tml_conv_block(const tml_conv_geom g, const int8_t *weights, const tml_chan *ch,
                           const int16_t *x, const int o1, const int o2, const int o3,
                           const int row_stride, int8_t *out, const int n, const int np) {
  const int groups = g.row_len4 / 4;
  const int C = g.out_c;
  const int8_t *w = weights;
  int c, r;
  for (c = 0; c < C; ++c) {
    const tml_chan *kp = ch + c;
    int32_t acc[4];
    tml_chan k;
    acc[0] = acc[1] = acc[2] = acc[3] = kp->bias;
    TML_UNROLL
    for (r = 0; r < g.k_h; ++r) {
      w = tml_dot_row(g.ld, w, x + r * row_stride, o1, o2, o3, groups, np, acc);
    }
    /* the constants are kept in registers: the int8 stores below may alias anything */
    TML_OPAQUE(kp);
    k = *kp;
    out[c] = tml_out8(g.rq, &k, acc[0], g.out_zp, g.act_min, g.act_max);
    if (n > 1) out[C + c] = tml_out8(g.rq, &k, acc[1], g.out_zp, g.act_min, g.act_max);
    if (n > 2) out[2 * C + c] = tml_out8(g.rq, &k, acc[2], g.out_zp, g.act_min, g.act_max);
    if (n > 3) out[3 * C + c] = tml_out8(g.rq, &k, acc[3], g.out_zp, g.act_min, g.act_max);
  }
}

/* CONV_2D, NHWC, batch 1. `weights`: int8 [out_c][k_h][row_len4], each filter row
 * zero-padded, each group of 4 stored w0 w2 w1 w3, word-aligned; `ch`: one tml_chan per
 * output channel; `scratch`: the widened padded input (expand) or four im2col columns. */
TML_AI void tml_conv_dsp(const tml_conv_geom g, const int8_t *in, int8_t *out,
                         uint32_t *scratch, const int8_t *weights, const tml_chan *ch) {
  int16_t *buf = (int16_t *)(void *)scratch;
  if (g.expand) {
    /* blocks of 4 pixels along each output row; window p + 1 = window p + stride_w * in_c
     * (twin: odd pixels read the shifted copy, one row further, one value earlier) */
    const int pos = g.stride_w * g.in_c;
    const int step = g.twin ? 2 * g.row_elems : g.row_elems;
    const int shift = g.twin ? g.row_elems - 1 : 0;
    const int row_stride = g.dil_h * step;
    int oy, ox;
    tml_conv_widen_input(g, in, buf);
    for (oy = 0; oy < g.out_h; ++oy) {
      const int16_t *row = buf + oy * g.stride_h * step;
      int8_t *dst = out + oy * g.out_w * g.out_c;
      for (ox = 0; ox + 4 <= g.out_w; ox += 4) {
        tml_conv_block(g, weights, ch, row + ox * pos, shift + pos, 2 * pos, shift + 3 * pos,
                       row_stride, dst + ox * g.out_c, 4, 4);
      }
      for (; ox < g.out_w; ++ox) { /* row tail: one pixel at a time */
        tml_conv_block(g, weights, ch, row + ox * pos + ((ox & 1) ? shift : 0), 0, 0, 0,
                       row_stride, dst + ox * g.out_c, 1, 1);
      }
    }
  } else {
    const int col = g.k_h * g.row_len4;
    const int n_pos = g.out_h * g.out_w;
    int p, i, oy = 0, ox = 0;
    for (p = 0; p < n_pos; p += 4) {
      const int n = n_pos - p < 4 ? n_pos - p : 4;
      for (i = 0; i < n; ++i) {
        tml_im2col(g, in, oy, ox, buf + i * col);
        if (++ox == g.out_w) {
          ox = 0;
          ++oy;
        }
      }
      if (n == 4) {
        tml_conv_block(g, weights, ch, buf, col, 2 * col, 3 * col, g.row_len4,
                       out + p * g.out_c, 4, 4);
      } else { /* columns past n hold stale (finite) values; their outputs are not stored */
        tml_conv_block(g, weights, ch, buf, col, 2 * col, 3 * col, g.row_len4,
                       out + p * g.out_c, n, 4);
      }
    }
  }
}

/* ---- CONV_2D + MAX_POOL_2D, the convolution's output never stored ---------------------- */

/* The pooling over the convolution's output grid (in the geometry of tml_conv_geom: a
 * convolution "as 1-D along H" pools along its W), VALID, stride = window. The convolution
 * values of `chunk` output columns (a multiple of f_w, of 4 when it is shorter than a row)
 * times f_h rows go to a band of f_h * chunk * out_c bytes at byte `band` of the scratch,
 * after the widened input; the band is pooled and overwritten by the next chunk. */
typedef struct {
  int16_t f_h, f_w, out_h, out_w, chunk, band;
  int16_t rows; /* > 0: only the padded input rows of one band are widened (shared rows
                 * moved, the others widened); 0: the whole padded input, once */
} tml_fuse_geom;

/* Output row oy, the n columns from x0 (a multiple of 4: the same 4-pixel blocks, hence the
 * same aligned loads, as tml_conv_dsp), every channel, into dst (pixel after pixel). */
TML_AI void tml_conv_cols(const tml_conv_geom g, const int8_t *in, int16_t *buf, const int oy,
                          const int x0, const int n, int8_t *dst, const int8_t *weights,
                          const tml_chan *ch) {
  int i;
  if (g.expand) {
    const int pos = g.stride_w * g.in_c;
    const int step = g.twin ? 2 * g.row_elems : g.row_elems;
    const int shift = g.twin ? g.row_elems - 1 : 0;
    const int16_t *row = buf + oy * g.stride_h * step + x0 * pos;
    const int16_t *x = row;
    int8_t *d = dst;
    for (i = 0; i + 4 <= n; i += 4, x += 4 * pos, d += 4 * g.out_c) {
      tml_conv_block(g, weights, ch, x, shift + pos, 2 * pos, shift + 3 * pos, g.dil_h * step,
                     d, 4, 4);
    }
    for (; i < n; ++i, x += pos, d += g.out_c) { /* x0 is even: pixel i is odd when i is */
      tml_conv_block(g, weights, ch, x + ((i & 1) ? shift : 0), 0, 0, 0, g.dil_h * step, d, 1,
                     1);
    }
  } else {
    const int col = g.k_h * g.row_len4;
    int j, m;
    for (i = 0; i < n; i += 4) {
      m = n - i < 4 ? n - i : 4;
      for (j = 0; j < m; ++j) tml_im2col(g, in, oy, x0 + i + j, buf + j * col);
      if (m == 4) {
        tml_conv_block(g, weights, ch, buf, col, 2 * col, 3 * col, g.row_len4,
                       dst + i * g.out_c, 4, 4);
      } else { /* columns past m hold stale (finite) values; their outputs are not stored */
        tml_conv_block(g, weights, ch, buf, col, 2 * col, 3 * col, g.row_len4,
                       dst + i * g.out_c, m, 4);
      }
    }
  }
}

/* `cols` / f_w pooled pixels from a band of f_h rows of `cols` pixels (C % 4 == 0). */
TML_AI void tml_band_max(const int8_t *band, int8_t *dst, const int cols, const int C,
                         const int f_h, const int f_w) {
  int p, c, fy, fx;
  for (p = 0; p < cols / f_w; ++p, dst += C) {
    const int8_t *corner = band + p * f_w * C;
    for (c = 0; c < C; c += 4) {
      uint32_t m = tml_rd32(corner + c);
      TML_UNROLL
      for (fy = 0; fy < f_h; ++fy) {
        TML_UNROLL
        for (fx = (fy == 0 ? 1 : 0); fx < f_w; ++fx) {
          m = tml_max4(m, tml_rd32(corner + (fy * cols + fx) * C + c));
        }
      }
      tml_wr32(dst + c, m);
    }
  }
}

/* CONV_2D whose output only feeds a MAX_POOL_2D: out receives the pooled values. Convolution
 * rows and columns that no pooling window covers are not computed. */
TML_AI void tml_conv_pool_dsp(const tml_conv_geom g, const tml_fuse_geom f, const int8_t *in,
                              int8_t *out, uint32_t *scratch, const int8_t *weights,
                              const tml_chan *ch) {
  int16_t *buf = (int16_t *)(void *)scratch;
  int8_t *band = (int8_t *)(void *)scratch + f.band;
  const int used = f.out_w * f.f_w;
  const int step = g.twin ? 2 * g.row_elems : g.row_elems;
  const int adv = f.f_h * g.stride_h;             /* padded rows from one band to the next */
  const int keep = f.rows > adv ? f.rows - adv : 0; /* rows two bands share */
  int py, x0, r;
  if (g.expand && f.rows) {
    tml_fill16(buf + f.rows * step, 0, g.row_len4);
  } else if (g.expand) {
    tml_conv_widen_input(g, in, buf);
  }
  for (py = 0; py < f.out_h; ++py) {
    if (g.expand && f.rows) { /* the padded rows of this band only */
      if (py == 0 || keep == 0) {
        tml_conv_widen_rows(g, in, buf, py * adv, py * adv + f.rows);
      } else {
        memmove(buf, buf + adv * step, (size_t)keep * step * 2);
        tml_conv_widen_rows(g, in, buf + keep * step, py * adv + keep, py * adv + f.rows);
      }
    }
    for (x0 = 0; x0 < used; x0 += f.chunk) {
      const int n = used - x0 < f.chunk ? used - x0 : f.chunk;
      for (r = 0; r < f.f_h; ++r) {
        const int oy = f.rows ? r : py * f.f_h + r; /* banded: row r of the band */
        tml_conv_cols(g, in, buf, oy, x0, n, band + r * n * g.out_c, weights, ch);
      }
      tml_band_max(band, out + (py * f.out_w + x0 / f.f_w) * g.out_c, n, g.out_c, f.f_h, f.f_w);
    }
  }
}

/* ---- FULLY_CONNECTED --------------------------------------------------------------------- */

typedef struct {
  int16_t batches, in_len, in_len4, out_len;
  int16_t in_zp, out_zp, act_min, act_max, rq;
} tml_fc_geom;

/* 4 rows: acc[r] += sum_k w_r[k] * x[k] over `groups` groups of 4 values. w: words
 * interleaving the 4 rows (row 0's word of group j, row 1's, row 2's, row 3's), each stored
 * w0 w2 w1 w3; x: int16 (word-aligned). Cortex-M4: per group LDRD x, 2 LDRD w, 8 SXTB16,
 * 8 SMLAD = 19 instructions for 16 MACs (every weight is used once: its sign extension
 * cannot be shared). Returns w advanced past the block. */
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
#define TML_FC_STEP                    \
  "ldrd %[x0], %[x1], [%[px]], #8\n\t" \
  "ldrd %[w0], %[w1], [%[pw]], #8\n\t" \
  "sxtb16 %[e], %[w0]\n\t"             \
  "sxtb16 %[w0], %[w0], ror #8\n\t"    \
  "smlad %[a0], %[e], %[x0], %[a0]\n\t" \
  "smlad %[a0], %[w0], %[x1], %[a0]\n\t" \
  "sxtb16 %[e], %[w1]\n\t"             \
  "sxtb16 %[w1], %[w1], ror #8\n\t"    \
  "smlad %[a1], %[e], %[x0], %[a1]\n\t" \
  "smlad %[a1], %[w1], %[x1], %[a1]\n\t" \
  "ldrd %[w0], %[w1], [%[pw]], #8\n\t" \
  "sxtb16 %[e], %[w0]\n\t"             \
  "sxtb16 %[w0], %[w0], ror #8\n\t"    \
  "smlad %[a2], %[e], %[x0], %[a2]\n\t" \
  "smlad %[a2], %[w0], %[x1], %[a2]\n\t" \
  "sxtb16 %[e], %[w1]\n\t"             \
  "sxtb16 %[w1], %[w1], ror #8\n\t"    \
  "smlad %[a3], %[e], %[x0], %[a3]\n\t" \
  "smlad %[a3], %[w1], %[x1], %[a3]\n\t"
#endif

TML_AI const uint32_t *tml_fc_rows4(const uint32_t *w, const int16_t *x, const int groups,
                                   int32_t acc[4]) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
  if (TML_CONST(groups)) {
    const uint32_t *pw = w;
    const int16_t *px = x;
    uint32_t x0, x1, w0, w1, e, n;
    __asm__ volatile(
        ".if %c[g] <= 8\n\t"
        ".rept %c[g]\n\t" TML_FC_STEP ".endr\n\t"
        ".else\n\t"
        "mov %[n], #%c[g] / 4\n"
        "1:\n\t"
        ".rept 4\n\t" TML_FC_STEP ".endr\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        ".rept %c[g] %% 4\n\t" TML_FC_STEP ".endr\n\t"
        ".endif"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [pw] "+r"(pw),
          [px] "+r"(px), [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1),
          [e] "=&r"(e), [n] "=&r"(n)
        : [g] "i"(groups)
        : "cc", "memory");
    (void)n;
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return pw;
  }
#endif
  {
    int j;
    for (j = 0; j < groups; ++j) {
      const uint32_t x0 = tml_rd32(x + 4 * j), x1 = tml_rd32(x + 4 * j + 2);
      const uint32_t *wj = w + 4 * j;
      a0 = tml_smlad(tml_sxtb16_ror8(wj[0]), x1, tml_smlad(tml_sxtb16(wj[0]), x0, a0));
      a1 = tml_smlad(tml_sxtb16_ror8(wj[1]), x1, tml_smlad(tml_sxtb16(wj[1]), x0, a1));
      a2 = tml_smlad(tml_sxtb16_ror8(wj[2]), x1, tml_smlad(tml_sxtb16(wj[2]), x0, a2));
      a3 = tml_smlad(tml_sxtb16_ror8(wj[3]), x1, tml_smlad(tml_sxtb16(wj[3]), x0, a3));
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return w + 4 * groups;
  }
}

/* `weights`: words interleaving blocks of 4 rows (word (b, j, r) = values 4j..4j+3 of row
 * 4b+r stored w0 w2 w1 w3, rows padded to a multiple of 4 with zeros); `ch`: one tml_chan
 * per row (padded to a multiple of 4). */
TML_AI void tml_fc_dsp(const tml_fc_geom g, const int8_t *in, int8_t *out, uint32_t *scratch,
                       const uint32_t *weights, const tml_chan *ch) {
  int16_t *x16 = (int16_t *)(void *)scratch;
  int b, r;
  for (b = 0; b < g.batches; ++b) {
    const int8_t *x = in + b * g.in_len;
    int8_t *y = out + b * g.out_len;
    const uint32_t *w = weights;
    tml_widen(x, x16, g.in_len);
    tml_fill16(x16 + g.in_len, 0, g.in_len4 - g.in_len);
    for (r = 0; r < g.out_len; r += 4) {
      const tml_chan *kp = ch + r;
      int32_t acc[4];
      tml_chan k;
      acc[0] = kp[0].bias;
      acc[1] = kp[1].bias;
      acc[2] = kp[2].bias;
      acc[3] = kp[3].bias;
      w = tml_fc_rows4(w, x16, g.in_len4 / 4, acc);
      TML_OPAQUE(kp); /* constants loaded here, kept in registers across the int8 stores */
      k = kp[0];
      y[r] = tml_out8(g.rq, &k, acc[0], g.out_zp, g.act_min, g.act_max);
      k = kp[1];
      if (r + 1 < g.out_len) y[r + 1] = tml_out8(g.rq, &k, acc[1], g.out_zp, g.act_min, g.act_max);
      k = kp[2];
      if (r + 2 < g.out_len) y[r + 2] = tml_out8(g.rq, &k, acc[2], g.out_zp, g.act_min, g.act_max);
      k = kp[3];
      if (r + 3 < g.out_len) y[r + 3] = tml_out8(g.rq, &k, acc[3], g.out_zp, g.act_min, g.act_max);
    }
  }
}

/* FULLY_CONNECTED with int16 weights (widened offline, 2 bytes of flash per weight; the
 * generator uses it while the widened weights of the layer fit FC_WIDE_LIMIT_BYTES). The
 * input is widened once per inference into SXTB16 order: per group of 4 values the int16
 * pairs (x0, x2) and (x1, x3); the weights are stored as the same pairs, so each weight word
 * meets its input word in one SMLAD, with no sign extension in the inner loop. Up to 4 rows
 * per pass; per group of 4 inputs and 4 rows: LDR x0, x1, 4 LDR w, 4 SMLAD, 4 LDR w,
 * 4 SMLAD = 18 instructions for 16 MACs, the loads back to back (a Cortex-M4 pipelines
 * neighbouring loads: N + 1 cycles for N), ~20 cycles instead of the ~25 of the int8 form
 * (3 LDRD, 8 SXTB16, 8 SMLAD). Weights of a block of `rows` rows: for each group, row 0's
 * two words, row 1's, ...; then, when the input length is 1 modulo 4, one word (w, 0) per
 * row for the last value. Returns w advanced past the block. */
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
#define TML_FC16_STEP                        \
  "ldr %[x0], [%[px]], #4\n\t"               \
  "ldr %[x1], [%[px]], #4\n\t"               \
  "ldr %[w0], [%[pw]], #4\n\t"               \
  "ldr %[w1], [%[pw]], #4\n\t"               \
  ".if %c[r] > 1\n\t"                        \
  "ldr %[w2], [%[pw]], #4\n\t"               \
  "ldr %[w3], [%[pw]], #4\n\t"               \
  ".endif\n\t"                               \
  "smlad %[a0], %[w0], %[x0], %[a0]\n\t"     \
  "smlad %[a0], %[w1], %[x1], %[a0]\n\t"     \
  ".if %c[r] > 1\n\t"                        \
  "smlad %[a1], %[w2], %[x0], %[a1]\n\t"     \
  "smlad %[a1], %[w3], %[x1], %[a1]\n\t"     \
  ".endif\n\t"                               \
  ".if %c[r] > 2\n\t"                        \
  "ldr %[w0], [%[pw]], #4\n\t"               \
  "ldr %[w1], [%[pw]], #4\n\t"               \
  ".if %c[r] > 3\n\t"                        \
  "ldr %[w2], [%[pw]], #4\n\t"               \
  "ldr %[w3], [%[pw]], #4\n\t"               \
  ".endif\n\t"                               \
  "smlad %[a2], %[w0], %[x0], %[a2]\n\t"     \
  "smlad %[a2], %[w1], %[x1], %[a2]\n\t"     \
  ".if %c[r] > 3\n\t"                        \
  "smlad %[a3], %[w2], %[x0], %[a3]\n\t"     \
  "smlad %[a3], %[w3], %[x1], %[a3]\n\t"     \
  ".endif\n\t"                               \
  ".endif\n\t"
#define TML_FC16_HALF                        \
  "ldr %[x0], [%[px]], #4\n\t"               \
  "ldr %[w0], [%[pw]], #4\n\t"               \
  ".if %c[r] > 1\n\tldr %[w1], [%[pw]], #4\n\t.endif\n\t" \
  ".if %c[r] > 2\n\tldr %[w2], [%[pw]], #4\n\t.endif\n\t" \
  ".if %c[r] > 3\n\tldr %[w3], [%[pw]], #4\n\t.endif\n\t" \
  "smlad %[a0], %[w0], %[x0], %[a0]\n\t"     \
  ".if %c[r] > 1\n\tsmlad %[a1], %[w1], %[x0], %[a1]\n\t.endif\n\t" \
  ".if %c[r] > 2\n\tsmlad %[a2], %[w2], %[x0], %[a2]\n\t.endif\n\t" \
  ".if %c[r] > 3\n\tsmlad %[a3], %[w3], %[x0], %[a3]\n\t.endif\n\t"
#endif

TML_AI const uint32_t *tml_fc16_rows(const uint32_t *w, const uint32_t *x, const int groups,
                                    const int half, const int rows, int32_t acc[4]) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if defined(__ARM_FEATURE_DSP) && !defined(TML_DSP_EMULATE)
  if (TML_CONST(groups) && TML_CONST(half) && TML_CONST(rows)) {
    const uint32_t *pw = w, *px = x;
    uint32_t x0, x1, w0, w1, w2, w3, n;
    __asm__ volatile(
        ".if %c[g] <= 16\n\t"
        ".rept %c[g]\n\t" TML_FC16_STEP ".endr\n\t"
        ".else\n\t"
        "mov %[n], #%c[g] / 4\n"
        "1:\n\t"
        ".rept 4\n\t" TML_FC16_STEP ".endr\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        ".rept %c[g] %% 4\n\t" TML_FC16_STEP ".endr\n\t"
        ".endif\n\t"
        ".if %c[h]\n\t" TML_FC16_HALF ".endif"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [pw] "+r"(pw),
          [px] "+r"(px), [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1),
          [w2] "=&r"(w2), [w3] "=&r"(w3), [n] "=&r"(n)
        : [g] "i"(groups), [h] "i"(half), [r] "i"(rows)
        : "cc", "memory");
    (void)n;
    (void)px;
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    return pw;
  }
#endif
  {
    int32_t a[4];
    int j, k;
    a[0] = a0;
    a[1] = a1;
    a[2] = a2;
    a[3] = a3;
    for (j = 0; j < groups; ++j) {
      for (k = 0; k < rows; ++k, w += 2) {
        a[k] = tml_smlad(w[1], x[2 * j + 1], tml_smlad(w[0], x[2 * j], a[k]));
      }
    }
    if (half) {
      for (k = 0; k < rows; ++k) a[k] = tml_smlad(*w++, x[2 * groups], a[k]);
    }
    for (k = 0; k < 4; ++k) acc[k] = a[k];
    return w;
  }
}

/* n int8 values -> int16 pairs in SXTB16 order, (x0, x2) and (x1, x3) per group of 4, the
 * last group zero-padded; `words` words written in all (2 per group, 1 for a last group of
 * one value). Any alignment of src; dst word-aligned. */
TML_AI void tml_widen_sx(const int8_t *src, uint32_t *dst, const int n, const int words) {
  int i;
  TML_UNROLL
  for (i = 0; i + 4 <= n; i += 4) {
    const uint32_t v = tml_rd32(src + i);
    dst[i / 2] = tml_sxtb16(v);
    dst[i / 2 + 1] = tml_sxtb16_ror8(v);
  }
  if (i < n) {
    uint32_t v = (uint8_t)src[i];
    if (i + 1 < n) v |= (uint32_t)(uint8_t)src[i + 1] << 8;
    if (i + 2 < n) v |= (uint32_t)(uint8_t)src[i + 2] << 16;
    dst[i / 2] = tml_sxtb16(v);
    if (i / 2 + 1 < words) dst[i / 2 + 1] = tml_sxtb16_ror8(v);
  }
}

/* One block of `rows` (1..4) output rows of tml_fc16_dsp. */
TML_AI const uint32_t *tml_fc16_block(const tml_fc_geom g, const uint32_t *x, int8_t *y,
                                      const uint32_t *w, const tml_chan *kp, const int rows) {
  int32_t acc[4];
  tml_chan k;
  acc[0] = kp[0].bias;
  acc[1] = rows > 1 ? kp[1].bias : 0;
  acc[2] = rows > 2 ? kp[2].bias : 0;
  acc[3] = rows > 3 ? kp[3].bias : 0;
  w = tml_fc16_rows(w, x, g.in_len4 / 4, (g.in_len4 % 4) / 2, rows, acc);
  TML_OPAQUE(kp); /* constants loaded here, kept in registers across the int8 stores */
  k = kp[0];
  y[0] = tml_out8(g.rq, &k, acc[0], g.out_zp, g.act_min, g.act_max);
  if (rows > 1) {
    k = kp[1];
    y[1] = tml_out8(g.rq, &k, acc[1], g.out_zp, g.act_min, g.act_max);
  }
  if (rows > 2) {
    k = kp[2];
    y[2] = tml_out8(g.rq, &k, acc[2], g.out_zp, g.act_min, g.act_max);
  }
  if (rows > 3) {
    k = kp[3];
    y[3] = tml_out8(g.rq, &k, acc[3], g.out_zp, g.act_min, g.act_max);
  }
  return w;
}

/* tml_fc_dsp with int16 weights: blocks of 4 rows, then one block of out_len % 4 rows;
 * g.in_len4 is the number of int16 input values the blocks read (4 per group, 2 for a last
 * group of one value). */
TML_AI void tml_fc16_dsp(const tml_fc_geom g, const int8_t *in, int8_t *out, uint32_t *scratch,
                         const uint32_t *weights, const tml_chan *ch) {
  int b, r;
  for (b = 0; b < g.batches; ++b) {
    int8_t *y = out + b * g.out_len;
    const uint32_t *w = weights;
    tml_widen_sx(in + b * g.in_len, scratch, g.in_len, g.in_len4 / 2);
    for (r = 0; r + 4 <= g.out_len; r += 4) {
      w = tml_fc16_block(g, scratch, y + r, w, ch + r, 4);
    }
    if (g.out_len % 4) tml_fc16_block(g, scratch, y + r, w, ch + r, g.out_len % 4);
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
      if (fy0 == 0 && fx0 == 0 && fy1 == g.f_h && fx1 == g.f_w) {
        /* the whole window is inside: constant, unrolled loops */
        for (c = 0; c < C; c += 4) {
          uint32_t m = tml_rd32(corner + c);
          TML_UNROLL
          for (fy = 0; fy < g.f_h; ++fy) {
            TML_UNROLL
            for (fx = (fy == 0 ? 1 : 0); fx < g.f_w; ++fx) {
              m = tml_max4(m, tml_rd32(corner + (fy * g.in_w + fx) * C + c));
            }
          }
          tml_wr32(dst + c, m);
        }
        continue;
      }
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
