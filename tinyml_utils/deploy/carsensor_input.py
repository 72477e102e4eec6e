"""CarSensor's sketch input: the recipe's per-block features computed on the board.

The C code repeats :func:`tinyml_utils.apps.carsensor.block_features` (tested against it
on the host: tests/deploy/test_carsensor_input.py): the accelerometer read every
1/rate s (sample-and-hold, as the training recordings were resampled), a sliding window of
``window`` samples every ``hop``, cut into ``blocks`` blocks, 4 log spreads per block,
normalised with the training statistics.
"""

from __future__ import annotations

#: The per-block feature function alone (also compiled on the host by the tests).
FEATURES_C = """\
static void block_features(const float (*b)[3], int n, float eps, float *f) {
  float g[3] = {0.0f, 0.0f, 0.0f}, m_mean = 0.0f, m_min = 1e30f, m_max = -1e30f;
  for (int t = 0; t < n; ++t) {
    const float m = sqrtf(b[t][0] * b[t][0] + b[t][1] * b[t][1] + b[t][2] * b[t][2]);
    for (int i = 0; i < 3; ++i) g[i] += b[t][i] / n;
    m_mean += m / n;
    m_min = m < m_min ? m : m_min;
    m_max = m > m_max ? m : m_max;
  }
  const float gn = sqrtf(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]) + 1e-9f;
  const float u[3] = {g[0] / gn, g[1] / gn, g[2] / gn};
  float v_mean = 0.0f, v_sq = 0.0f, m_sq = 0.0f, h_sum = 0.0f;
  for (int t = 0; t < n; ++t) {
    const float m = sqrtf(b[t][0] * b[t][0] + b[t][1] * b[t][1] + b[t][2] * b[t][2]);
    const float d[3] = {b[t][0] - g[0], b[t][1] - g[1], b[t][2] - g[2]};
    const float v = d[0] * u[0] + d[1] * u[1] + d[2] * u[2];
    const float h[3] = {d[0] - v * u[0], d[1] - v * u[1], d[2] - v * u[2]};
    v_mean += v / n;
    v_sq += v * v / n;
    m_sq += (m - m_mean) * (m - m_mean) / n;
    h_sum += sqrtf(h[0] * h[0] + h[1] * h[1] + h[2] * h[2]) / n;
  }
  const float v_var = v_sq - v_mean * v_mean;
  f[0] = logf(sqrtf(m_sq) + eps);
  f[1] = logf(sqrtf(v_var > 0.0f ? v_var : 0.0f) + eps);
  f[2] = logf(h_sum + eps);
  f[3] = logf(m_max - m_min + eps);
}
"""


def block_feature_code(
    app: str,
    rate: str,
    window: int,
    hop: int,
    blocks: int,
    eps: str,
    mean: str,
    std: str,
    source: str,
    gravity: float,
) -> str:
    """The sketch's input code (C++; ``rate``, ``eps``, ``mean``, ``std`` as C literals)."""
    return f"""#include <Arduino_LSM9DS1.h>
#include <math.h>

// Input: the recipe of models/{app}/preprocessing.json (apps.carsensor.block_features):
// the accelerometer (m/s^2) read every 1/kSampleHz s (sample-and-hold, as the training
// recordings were resampled), a window of kWindow samples every kHop, cut into kBlocks
// blocks; per block: log spread of |a|, of the part along gravity (the block's mean
// direction), log mean size of the part across it, log range of |a|; normalised.
constexpr float kSampleHz = {rate};
constexpr int kWindow = {window};
constexpr int kHop = {hop};
constexpr int kBlocks = {blocks};
constexpr int kBlock = kWindow / kBlocks;
constexpr int kFeatures = 4;
constexpr float kEps = {eps};  // m/s^2 floor inside the logs
// normalisation {source}
static const float kMean[kFeatures] = {{{mean}}};
static const float kStd[kFeatures] = {{{std}}};

static bool sensor_begin() {{ return IMU.begin(); }}

static float history[kWindow][3];
static int filled = 0;

{FEATURES_C}
static void fill_input() {{
  static uint32_t next_us = micros();
  int fresh = 0;
  while (fresh < kHop || filled < kWindow) {{
    float ax, ay, az;
    while ((int32_t)(micros() - next_us) < 0) {{}}
    next_us += (uint32_t)(1e6f / kSampleHz);
    while (!IMU.accelerationAvailable()) {{}}
    IMU.readAcceleration(ax, ay, az);  // g
    memmove(history[0], history[1], sizeof(float) * 3 * (kWindow - 1));
    history[kWindow - 1][0] = ax * {gravity}f;
    history[kWindow - 1][1] = ay * {gravity}f;
    history[kWindow - 1][2] = az * {gravity}f;
    if (filled < kWindow) ++filled;
    ++fresh;
  }}
  for (int k = 0; k < kBlocks; ++k) {{
    float f[kFeatures];
    block_features(history + k * kBlock, kBlock, kEps, f);
    for (int c = 0; c < kFeatures; ++c) {{
      input->data.int8[k * kFeatures + c] = quantize((f[c] - kMean[c]) / kStd[c]);
    }}
  }}
}}
"""
