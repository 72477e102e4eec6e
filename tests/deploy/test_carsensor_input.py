"""deploy.carsensor_input: the sketch's per-block features equal the training recipe's."""

from __future__ import annotations

import subprocess

import numpy as np

from tinyml_utils.apps import carsensor
from tinyml_utils.deploy import carsensor_input

MAIN = """
#include <math.h>
#include <stdio.h>
%s
int main(void) {
  static float b[25][3];
  float f[4];
  while (fread(b, sizeof b, 1, stdin) == 1) {
    block_features((const float (*)[3])b, 25, %.9gf, f);
    fwrite(f, sizeof f, 1, stdout);
  }
  return 0;
}
"""


def test_block_features_in_c_equal_the_recipe(tmp_path, require_tool):
    require_tool("gcc")
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    scales = [0.0, 0.01, 0.3, 3.0]  # constant, still, vehicle, walking
    x = np.concatenate(
        [(np.array([0.0, 0.0, 9.81]) + rng.normal(0, s, (4, 25, 3))) @ q.T for s in scales]
    ).astype(np.float32)
    src = tmp_path / "f.c"
    src.write_text(MAIN % (carsensor_input.FEATURES_C, carsensor.EPS))
    exe = tmp_path / "f"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Werror", str(src), "-o", str(exe), "-lm"],
                   check=True)  # fmt: skip
    out = subprocess.run([str(exe)], input=x.tobytes(), capture_output=True, check=True).stdout
    got = np.frombuffer(out, np.float32).reshape(len(x), 4)
    want = carsensor.block_features(x.reshape(1, -1, 3), len(x))[0]
    np.testing.assert_allclose(got, want, atol=5e-3)  # float32 sums vs float64
    assert got[:4].max() < -6 and got[-4:].min() > 0  # a constant block is log(eps)
