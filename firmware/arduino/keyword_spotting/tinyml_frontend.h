/*
 * tinyml_frontend.h - the audio front end of the TinyML Workbook in C: the same log-mel /
 * MFCC features as tinyml_utils.features (used for training), so a microcontroller feeds its
 * model the numbers the model was trained on.
 *
 *   int16 PCM -> float in [-1, 1) (x / 32768, as soundfile reads a WAV)
 *   -> frames of frame_length samples every hop_length (center: n_fft/2 zeros each side)
 *   -> Hann window (periodic, scipy's hann(sym=False)) -> zero-padded to n_fft
 *   -> power spectrum |rfft|^2, n_fft/2 + 1 bins (float32 radix-2 FFT)
 *   -> n_mels triangular mel filters (HTK scale) -> log(mel + eps)
 *   -> [MFCC: orthonormal DCT-II, first n_mfcc]
 *   -> (x - mean) / std per feature (training split statistics)
 *   -> int8 model input: round-half-to-even(x / scale) + zero_point, clamped.
 *
 * Every constant (window, twiddle factors, mel filters, DCT matrix, normalisation,
 * quantization) comes from a generated header (<app>_frontend.h, written by
 * tinyml_utils.deploy.frontend from models/<app>/preprocessing.json and the model), never
 * typed by hand. Float32 arithmetic: fine on a Cortex-M4F (FPU), slow but correct elsewhere.
 * C99, no dynamic memory; needs <math.h> (logf, rintf).
 */
#ifndef TINYML_FRONTEND_H
#define TINYML_FRONTEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int32_t sample_rate, clip_samples;
  int16_t frame_length, hop_length, n_fft, n_mels, n_mfcc; /* n_mfcc 0: log-mel features */
  int16_t center, n_frames;
  float eps;
  const float *window;          /* [frame_length] */
  const float *twiddle;         /* [n_fft / 2][2]: cos, sin of 2 pi k / n_fft */
  const int16_t *mel_start;     /* [n_mels]: first FFT bin of each filter */
  const int16_t *mel_len;       /* [n_mels]: number of bins */
  const float *mel_weights;     /* the filters' non-zero weights, one after the other */
  const float *dct;             /* [n_mfcc][n_mels] or NULL */
  const float *mean, *std;      /* [features per frame] */
  float input_scale;            /* the model input's quantization */
  int32_t input_zero_point;
} tml_frontend;

/* Features per frame: n_mfcc, or n_mels for log-mel. */
int tml_frontend_bins(const tml_frontend *fe);

/* Floats of scratch tml_frontend_features needs: frame, power spectrum, mel energies. */
#define TML_FRONTEND_WORK(n_fft, n_mels) ((n_fft) + (n_fft) / 2 + 1 + (n_mels))

/* Normalised features [n_frames][bins] of clip_samples PCM samples. */
void tml_frontend_features(const tml_frontend *fe, const int16_t *pcm, float *features,
                           float *work);

/* Features -> int8 model input (n values). */
void tml_frontend_quantize(const tml_frontend *fe, const float *features, int8_t *out, int n);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_FRONTEND_H */
