/*
 * tinyml_frontend.c - see tinyml_frontend.h.
 */
#include "tinyml_frontend.h"

#include <math.h>
#include <string.h>

int tml_frontend_bins(const tml_frontend *fe) { return fe->n_mfcc > 0 ? fe->n_mfcc : fe->n_mels; }

/* In-place radix-2 complex FFT of n = n_fft / 2 points (z[2k] real, z[2k+1] imaginary);
 * twiddle[2k], twiddle[2k+1] = cos, sin of 2 pi k / n_fft, so step 2 gives the n-point ones. */
static void fft_complex(float *z, int n, const float *twiddle) {
  int i, j, len;
  for (i = 1, j = 0; i < n; ++i) { /* bit reversal */
    int bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      float t = z[2 * i];
      z[2 * i] = z[2 * j];
      z[2 * j] = t;
      t = z[2 * i + 1];
      z[2 * i + 1] = z[2 * j + 1];
      z[2 * j + 1] = t;
    }
  }
  for (len = 2; len <= n; len <<= 1) {
    const int half = len >> 1, step = 2 * (n / len); /* twiddle index step (n_fft terms) */
    for (i = 0; i < n; i += len) {
      int k;
      for (k = 0; k < half; ++k) {
        const float wr = twiddle[2 * k * step], wi = -twiddle[2 * k * step + 1];
        float *a = z + 2 * (i + k), *b = z + 2 * (i + k + half);
        const float tr = b[0] * wr - b[1] * wi, ti = b[0] * wi + b[1] * wr;
        b[0] = a[0] - tr;
        b[1] = a[1] - ti;
        a[0] += tr;
        a[1] += ti;
      }
    }
  }
}

/* |rfft(x)|^2 of n_fft real values in buf (overwritten): the n_fft/2-point complex FFT of
 * the even/odd pairs, then the split step. power gets n_fft/2 + 1 values. */
static void power_spectrum(const tml_frontend *fe, float *buf, float *power) {
  const int n = fe->n_fft / 2;
  int k;
  fft_complex(buf, n, fe->twiddle);
  power[0] = (buf[0] + buf[1]) * (buf[0] + buf[1]);
  power[n] = (buf[0] - buf[1]) * (buf[0] - buf[1]);
  for (k = 1; k < n; ++k) {
    /* X[k] = (Z[k] + conj(Z[n-k])) / 2 - i W^k (Z[k] - conj(Z[n-k])) / 2, W = e^{-2 pi i/N} */
    const float zr = buf[2 * k], zi = buf[2 * k + 1];
    const float cr = buf[2 * (n - k)], ci = -buf[2 * (n - k) + 1];
    const float er = 0.5f * (zr + cr), ei = 0.5f * (zi + ci);
    const float dr = 0.5f * (zr - cr), di = 0.5f * (zi - ci);
    const float wr = fe->twiddle[2 * k], wi = -fe->twiddle[2 * k + 1];
    /* -i * W * d */
    const float tr = wr * dr - wi * di, ti = wr * di + wi * dr;
    const float xr = er + ti, xi = ei - tr;
    power[k] = xr * xr + xi * xi;
  }
}

void tml_frontend_features(const tml_frontend *fe, const int16_t *pcm, float *features,
                           float *work) {
  const int bins = tml_frontend_bins(fe);
  const int pad = fe->center ? fe->n_fft / 2 : 0;
  float *buf = work;                              /* n_fft values */
  float *power = work + fe->n_fft;                /* n_fft / 2 + 1 */
  float *mel = work + fe->n_fft + fe->n_fft / 2 + 1; /* n_mels */
  int t, i, m;
  for (t = 0; t < fe->n_frames; ++t) {
    const int32_t start = (int32_t)t * fe->hop_length - pad;
    const float *w = fe->mel_weights;
    float *out = features + t * bins;
    for (i = 0; i < fe->n_fft; ++i) {
      const int32_t s = start + i;
      float x = 0.0f;
      if (i < fe->frame_length && s >= 0 && s < fe->clip_samples) {
        x = ((float)pcm[s] / 32768.0f) * fe->window[i];
      }
      buf[i] = x;
    }
    power_spectrum(fe, buf, power);
    for (m = 0; m < fe->n_mels; ++m) {
      float acc = 0.0f;
      const float *p = power + fe->mel_start[m];
      for (i = 0; i < fe->mel_len[m]; ++i) acc += p[i] * w[i];
      w += fe->mel_len[m];
      mel[m] = logf(acc + fe->eps);
    }
    if (fe->n_mfcc > 0) {
      for (i = 0; i < fe->n_mfcc; ++i) {
        const float *d = fe->dct + i * fe->n_mels;
        float acc = 0.0f;
        for (m = 0; m < fe->n_mels; ++m) acc += d[m] * mel[m];
        out[i] = acc;
      }
    } else {
      for (m = 0; m < fe->n_mels; ++m) out[m] = mel[m];
    }
    for (i = 0; i < bins; ++i) out[i] = (out[i] - fe->mean[i]) / fe->std[i];
  }
}

void tml_frontend_quantize(const tml_frontend *fe, const float *features, int8_t *out, int n) {
  int i;
  for (i = 0; i < n; ++i) {
    /* as numpy: round half to even (rintf in the default rounding mode), then clamp */
    const float q = rintf(features[i] / fe->input_scale) + (float)fe->input_zero_point;
    out[i] = (int8_t)(q < -128.0f ? -128 : (q > 127.0f ? 127 : (int)q));
  }
}
