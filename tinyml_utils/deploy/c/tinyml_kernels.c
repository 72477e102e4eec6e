/*
 * tinyml_kernels.c - see tinyml_kernels.h. C99, no dynamic memory, no libm.
 */
#include "tinyml_kernels.h"

#include <string.h>

/* ---- reading constants: plain loads, or pgm_read_* from AVR flash ---------------------- */
#if defined(__AVR__)
#define TML_R8(p) ((int8_t)pgm_read_byte(p))
#define TML_R32(p) ((int32_t)pgm_read_dword(p))
#define TML_RF(p) pgm_read_float(p)
#define TML_LOAD(type, name, src) \
  type name##_copy;               \
  memcpy_P(&name##_copy, (src), sizeof(type)); \
  const type *name = &name##_copy
#else
#define TML_R8(p) (*(p))
#define TML_R32(p) (*(p))
#define TML_RF(p) (*(p))
#define TML_LOAD(type, name, src) const type *name = (src)
#endif

#if defined(__GNUC__)
#define TML_INLINE static inline __attribute__((always_inline))
#else
#define TML_INLINE static inline
#endif

static int32_t tml_clamp(int32_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- TFLite fixed-point arithmetic (gemmlowp semantics, double rounding) --------------- */
int32_t tml_srdhm(int32_t a, int32_t b) {
  /* gemmlowp: ab = a*b; nudge = ab >= 0 ? 2^30 : 1 - 2^30; (ab + nudge) / 2^31 truncated.
   * That is round-half-up of ab / 2^31 for both signs, i.e. floor((ab + 2^30) / 2^31),
   * which needs no division (SMULL, ADDS/ADC, two shifts on a Cortex-M4). */
  if (a == b && a == INT32_MIN) return INT32_MAX;
  return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

int32_t tml_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t tml_mbqm(int32_t x, int32_t multiplier, int shift) {
#ifdef TML_SINGLE_ROUNDING
  const int total_shift = 31 - shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  return (int32_t)(((int64_t)x * multiplier + round) >> total_shift);
#endif
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  /* x * (1 << left) as in TFLite, written with unsigned arithmetic to stay defined in C */
  const int32_t shifted = (int32_t)((uint32_t)x << left);
  return tml_rdbpot(tml_srdhm(shifted, multiplier), right);
}

int32_t tml_mul_round_exact(int32_t x, uint32_t mant_hi, uint32_t mant_lo, int exp) {
  /* |x| * mant as a 128-bit number (hi:lo), then + 2^(exp-1) and >> exp */
  const uint64_t a = x < 0 ? (uint64_t)(-(int64_t)x) : (uint64_t)x;
  const uint64_t p_lo = a * mant_lo;     /* < 2^63 */
  const uint64_t p_mid = a * mant_hi;    /* < 2^52 */
  uint64_t lo = p_lo + (p_mid << 32);
  uint64_t hi = (p_mid >> 32) + (lo < p_lo ? 1u : 0u);
  uint64_t half_lo, half_hi, r;
  if (exp - 1 >= 64) {
    half_lo = 0;
    half_hi = (uint64_t)1 << (exp - 1 - 64);
  } else {
    half_lo = (uint64_t)1 << (exp - 1);
    half_hi = 0;
  }
  lo += half_lo;
  hi += half_hi + (lo < half_lo ? 1u : 0u);
  if (exp >= 64) {
    r = hi >> (exp - 64);
  } else {
    r = (lo >> exp) | (hi << (64 - exp));
  }
  return x < 0 ? -(int32_t)r : (int32_t)r;
}

/* tml_mbqm for a positive multiplier (always the case for requantization: multipliers are
 * in [2^30, 2^31)), inlined: SRDHM cannot saturate, so its special case is skipped. */
TML_INLINE int32_t tml_mbqm_pos(int32_t x, int32_t m, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  const int32_t xs = (int32_t)((uint32_t)x << left);
  const int32_t v = (int32_t)(((int64_t)xs * (int64_t)m + ((int64_t)1 << 30)) >> 31);
  const int32_t mask = (int32_t)(((int64_t)1 << right) - 1);
  const int32_t threshold = (mask >> 1) + (v < 0 ? 1 : 0);
  return (v >> right) + ((v & mask) > threshold ? 1 : 0);
}

/* acc (with bias) -> int8 output of channel `c` */
TML_INLINE int8_t tml_requant(const tml_quant *q, int32_t acc, int c) {
  int32_t v;
  if (q->bias) acc += TML_R32(&q->bias[c]);
  v = tml_mbqm_pos(acc, TML_R32(&q->mult[c]), TML_R8(&q->shift[c])) + q->out_offset;
  if (v < q->act_min) v = q->act_min;
  if (v > q->act_max) v = q->act_max;
  return (int8_t)v;
}

/* FULLY_CONNECTED output of channel `c` (double-scale requantization when given) */
static int8_t tml_fc_out(const tml_fc_params *p, int32_t acc, int c) {
  int32_t v;
  if (p->mant_hi == NULL) return tml_requant(&p->q, acc, c);
  if (p->q.bias) acc += TML_R32(&p->q.bias[c]);
  v = tml_mul_round_exact(acc, (uint32_t)TML_R32((const int32_t *)&p->mant_hi[c]),
                          (uint32_t)TML_R32((const int32_t *)&p->mant_lo[c]),
                          (uint8_t)TML_R8((const int8_t *)&p->exp[c])) + p->q.out_offset;
  return (int8_t)tml_clamp(v, p->q.act_min, p->q.act_max);
}


/* ---- CONV_2D (NHWC input, OHWI filter, batch 1) ---------------------------------------- */
/* Output channel `oc` of the output pixel whose window starts at input row y0, column x0. */
TML_INLINE int8_t tml_conv_value(const tml_conv_params *p, const int8_t *in, int y0, int x0,
                                 int oc) {
  const int8_t *w = (const int8_t *)p->weights + (int32_t)oc * p->k_len4;
  int32_t acc = 0;
  int fy, fx, c;
  for (fy = 0; fy < p->k_h; ++fy) {
    const int iy = y0 + fy * p->dil_h;
    if (iy < 0 || iy >= p->in_h) continue;
    for (fx = 0; fx < p->k_w; ++fx) {
      const int ix = x0 + fx * p->dil_w;
      const int8_t *src;
      const int8_t *wk;
      if (ix < 0 || ix >= p->in_w) continue;
      src = in + ((int32_t)iy * p->in_w + ix) * p->in_c;
      wk = w + fy * p->row_len4 + fx * p->in_c;
      for (c = 0; c < p->in_c; ++c) {
        acc += (int32_t)TML_R8(&wk[c]) * ((int32_t)src[c] + p->q.in_offset);
      }
    }
  }
  return tml_requant(&p->q, acc, oc);
}

void tml_conv2d(const tml_conv_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_conv_params, p, params);
  int oy, ox;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      const int y0 = oy * p->stride_h - p->pad_h;
      const int x0 = ox * p->stride_w - p->pad_w;
      int8_t *dst = out + ((int32_t)oy * p->out_w + ox) * p->out_c;
      int oc;
      for (oc = 0; oc < p->out_c; ++oc) dst[oc] = tml_conv_value(p, in, y0, x0, oc);
    }
  }
}

/* CONV_2D followed by MAX_POOL_2D (VALID, no padding), the convolution's output never stored:
 * every pooled value is the max of the convolution values of its window, computed on the
 * fly. `pool` describes the pooling over the convolution's output. */
void tml_conv2d_max_pool(const tml_conv_params *params, const tml_pool_params *pool_params,
                         const int8_t *in, int8_t *out) {
  TML_LOAD(tml_conv_params, p, params);
  TML_LOAD(tml_pool_params, q, pool_params);
  int py, px, fy, fx, oc;
  int8_t *dst = out;
  for (py = 0; py < q->out_h; ++py) {
    for (px = 0; px < q->out_w; ++px, dst += p->out_c) {
      for (fy = 0; fy < q->f_h; ++fy) {
        const int y0 = (py * q->stride_h + fy) * p->stride_h - p->pad_h;
        for (fx = 0; fx < q->f_w; ++fx) {
          const int x0 = (px * q->stride_w + fx) * p->stride_w - p->pad_w;
          const int first = fy == 0 && fx == 0;
          for (oc = 0; oc < p->out_c; ++oc) {
            const int8_t v = tml_conv_value(p, in, y0, x0, oc);
            if (first || v > dst[oc]) dst[oc] = v;
          }
        }
      }
      if (q->act_min > -128 || q->act_max < 127) {
        for (oc = 0; oc < p->out_c; ++oc) {
          dst[oc] = (int8_t)tml_clamp(dst[oc], q->act_min, q->act_max);
        }
      }
    }
  }
}

/* ---- DEPTHWISE_CONV_2D (filter [1][k_h][k_w][out_c], out_c = in_c * depth_mult) -------- */
void tml_depthwise_conv2d(const tml_dwconv_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_dwconv_params, p, params);
  int oy, ox, ic, m, fy, fx;
  for (oy = 0; oy < p->out_h; ++oy) {
    for (ox = 0; ox < p->out_w; ++ox) {
      const int y0 = oy * p->stride_h - p->pad_h;
      const int x0 = ox * p->stride_w - p->pad_w;
      int8_t *dst = out + ((int32_t)oy * p->out_w + ox) * p->out_c;
      for (ic = 0; ic < p->in_c; ++ic) {
        for (m = 0; m < p->depth_mult; ++m) {
          const int oc = ic * p->depth_mult + m;
          int32_t acc = 0;
          for (fy = 0; fy < p->k_h; ++fy) {
            const int iy = y0 + fy * p->dil_h;
            if (iy < 0 || iy >= p->in_h) continue;
            for (fx = 0; fx < p->k_w; ++fx) {
              const int ix = x0 + fx * p->dil_w;
              if (ix < 0 || ix >= p->in_w) continue;
              acc += (int32_t)TML_R8(&p->weights[(fy * p->k_w + fx) * p->out_c + oc]) *
                     ((int32_t)in[((int32_t)iy * p->in_w + ix) * p->in_c + ic] + p->q.in_offset);
            }
          }
          dst[oc] = tml_requant(&p->q, acc, oc);
        }
      }
    }
  }
}

/* ---- FULLY_CONNECTED (weights [out_len][in_len4]) -------------------------------------- */
void tml_fully_connected(const tml_fc_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_fc_params, p, params);
  int b, o, k;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + (int32_t)b * p->in_len;
    int8_t *y = out + (int32_t)b * p->out_len;
    for (o = 0; o < p->out_len; ++o) {
      const int8_t *w = (const int8_t *)p->weights + (int32_t)o * p->in_len4;
      int32_t acc = 0;
      for (k = 0; k < p->in_len; ++k) {
        acc += (int32_t)TML_R8(&w[k]) * ((int32_t)x[k] + p->q.in_offset);
      }
      y[o] = tml_fc_out(p, acc, o);
    }
  }
}

/* ---- MAX_POOL_2D / AVERAGE_POOL_2D ----------------------------------------------------- */
void tml_max_pool2d(const tml_pool_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_pool_params, p, params);
  const int c = p->c;
  int oy, ox, fy, fx, ch;
  int8_t *dst = out;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_h;
    const int fy0 = y0 < 0 ? -y0 : 0;
    const int fy1 = p->f_h < p->in_h - y0 ? p->f_h : p->in_h - y0;
    for (ox = 0; ox < p->out_w; ++ox, dst += c) {
      const int x0 = ox * p->stride_w - p->pad_w;
      const int fx0 = x0 < 0 ? -x0 : 0;
      const int fx1 = p->f_w < p->in_w - x0 ? p->f_w : p->in_w - x0;
      int first = 1;
      for (fy = fy0; fy < fy1; ++fy) {
        const int8_t *row = in + ((int32_t)(y0 + fy) * p->in_w + x0) * c;
        for (fx = fx0; fx < fx1; ++fx) {
          const int8_t *src = row + fx * c;
          if (first) {
            memcpy(dst, src, (size_t)c);
            first = 0;
          } else {
            for (ch = 0; ch < c; ++ch) {
              if (src[ch] > dst[ch]) dst[ch] = src[ch];
            }
          }
        }
      }
      if (first) memset(dst, -128, (size_t)c); /* empty window (cannot happen with SAME) */
      if (p->act_min > -128 || p->act_max < 127) {
        for (ch = 0; ch < c; ++ch) dst[ch] = (int8_t)tml_clamp(dst[ch], p->act_min, p->act_max);
      }
    }
  }
}

void tml_avg_pool2d(const tml_pool_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_pool_params, p, params);
  const int c = p->c;
  int oy, ox, fy, fx, ch;
  int8_t *dst = out;
  for (oy = 0; oy < p->out_h; ++oy) {
    const int y0 = oy * p->stride_h - p->pad_h;
    const int fy0 = y0 < 0 ? -y0 : 0;
    const int fy1 = p->f_h < p->in_h - y0 ? p->f_h : p->in_h - y0;
    for (ox = 0; ox < p->out_w; ++ox, dst += c) {
      const int x0 = ox * p->stride_w - p->pad_w;
      const int fx0 = x0 < 0 ? -x0 : 0;
      const int fx1 = p->f_w < p->in_w - x0 ? p->f_w : p->in_w - x0;
      const int32_t count = (int32_t)(fy1 - fy0) * (fx1 - fx0);
      for (ch = 0; ch < c; ++ch) {
        int32_t acc = 0;
        for (fy = fy0; fy < fy1; ++fy) {
          const int8_t *src = in + ((int32_t)(y0 + fy) * p->in_w + x0 + fx0) * c + ch;
          for (fx = fx0; fx < fx1; ++fx, src += c) acc += *src;
        }
        if (count > 0) {
          /* round half away from zero, as TFLite's reference AveragePool */
          acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        }
        dst[ch] = (int8_t)tml_clamp(acc, p->act_min, p->act_max);
      }
    }
  }
}

/* ---- ADD (with broadcasting over up to 4 dims) ----------------------------------------- */
void tml_add(const tml_add_params *params, const int8_t *in1, const int8_t *in2, int8_t *out) {
  TML_LOAD(tml_add_params, p, params);
  int32_t i0, i1, i2, i3;
  int32_t n = 0;
  for (i0 = 0; i0 < p->out_dims[0]; ++i0) {
    for (i1 = 0; i1 < p->out_dims[1]; ++i1) {
      for (i2 = 0; i2 < p->out_dims[2]; ++i2) {
        for (i3 = 0; i3 < p->out_dims[3]; ++i3, ++n) {
          const int32_t a = i0 * p->in1_strides[0] + i1 * p->in1_strides[1] +
                            i2 * p->in1_strides[2] + i3 * p->in1_strides[3];
          const int32_t b = i0 * p->in2_strides[0] + i1 * p->in2_strides[1] +
                            i2 * p->in2_strides[2] + i3 * p->in2_strides[3];
          const int32_t v1 = (int32_t)((uint32_t)(p->in1_offset + in1[a]) << p->left_shift);
          const int32_t v2 = (int32_t)((uint32_t)(p->in2_offset + in2[b]) << p->left_shift);
          const int32_t s1 = tml_mbqm(v1, p->in1_mult, p->in1_shift);
          const int32_t s2 = tml_mbqm(v2, p->in2_mult, p->in2_shift);
          const int32_t r = tml_mbqm(s1 + s2, p->out_mult, p->out_shift) + p->out_offset;
          out[n] = (int8_t)tml_clamp(r, p->act_min, p->act_max);
        }
      }
    }
  }
}

/* ---- MEAN / REDUCE_MAX over the middle axis of [outer][reduce][inner] ------------------ */
void tml_mean(const tml_reduce_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_reduce_params, p, params);
  int32_t o, r, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->inner; ++i) {
      const int8_t *src = in + o * p->reduce * p->inner + i;
      int32_t sum = 0, v;
      for (r = 0; r < p->reduce; ++r) sum += src[r * p->inner];
      v = tml_mbqm(sum - p->in_zp * p->reduce, p->mult, p->shift) + p->out_zp;
      out[o * p->inner + i] = (int8_t)tml_clamp(v, -128, 127);
    }
  }
}

void tml_reduce_max(const tml_reduce_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_reduce_params, p, params);
  int32_t o, r, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->inner; ++i) {
      const int8_t *src = in + o * p->reduce * p->inner + i;
      int8_t m = -128;
      for (r = 0; r < p->reduce; ++r) {
        if (src[r * p->inner] > m) m = src[r * p->inner];
      }
      out[o * p->inner + i] = m;
    }
  }
}

/* ---- SOFTMAX over the last axis: float arithmetic on a generator-made exp table -------- */
void tml_softmax(const tml_softmax_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_softmax_params, p, params);
  int32_t r;
  int j;
  for (r = 0; r < p->rows; ++r) {
    const int8_t *x = in + r * p->depth;
    int8_t *y = out + r * p->depth;
    int32_t mx = -128;
    float sum = 0.0f, inv;
    for (j = 0; j < p->depth; ++j) {
      if (x[j] > mx) mx = x[j];
    }
    for (j = 0; j < p->depth; ++j) sum += TML_RF(&p->exp_table[mx - x[j]]);
    inv = p->inv_out_scale / sum;
    for (j = 0; j < p->depth; ++j) {
      const float scaled = TML_RF(&p->exp_table[mx - x[j]]) * inv; /* >= 0 */
      const int32_t v = (int32_t)(scaled + 0.5f) + p->out_zp;
      y[j] = (int8_t)tml_clamp(v, -128, 127);
    }
  }
}

/* ---- LOGISTIC (and any int8 -> int8 elementwise function): 256-entry table ------------- */
void tml_lookup(const tml_lut_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_lut_params, p, params);
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = TML_R8(&p->table[(uint8_t)in[i]]);
}

/* ---- RELU / RELU6 / RELU_N1_TO_1 as separate ops (rescale + clamp) --------------------- */
void tml_relu(const tml_relu_params *params, const int8_t *in, int8_t *out) {
  TML_LOAD(tml_relu_params, p, params);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t v = p->out_zp + tml_mbqm((int32_t)in[i] - p->in_zp, p->mult, p->shift);
    out[i] = (int8_t)tml_clamp(v, p->act_min, p->act_max);
  }
}

void tml_copy(const int8_t *in, int8_t *out, int32_t size) {
  if (in != out) memmove(out, in, (size_t)size);
}
