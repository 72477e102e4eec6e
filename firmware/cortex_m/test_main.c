/*
 * On-target check: run the generated model on every embedded test input and compare each
 * output byte with the expected one (TFLite's reference kernels, computed on the host).
 * Exit code 0 = all equal; otherwise the number of failing inputs (capped at 98).
 * TINYML_TOLERANCE (0 or 1): SOFTMAX/LOGISTIC outputs may differ by 1 but must keep the top-1.
 */
#include <stdint.h>

#include "semihost.h"
#include "test_vectors.h"

static int argmax(const int8_t *v, int n) {
  int i, best = 0;
  for (i = 1; i < n; ++i) {
    if (v[i] > v[best]) best = i;
  }
  return best;
}

int main(void) {
  static int8_t out[TINYML_MODEL_OUTPUT_SIZE];
  long i;
  int j, failures = 0, off_by_one = 0;
  sh_write0("model " TINYML_MODEL_NAME ": ");
  sh_write_int(TINYML_TEST_COUNT);
  sh_write0(" test inputs\n");
  for (i = 0; i < TINYML_TEST_COUNT; ++i) {
    const int8_t *want = tinyml_test_outputs + i * TINYML_MODEL_OUTPUT_SIZE;
    int bad = 0;
    tinyml_model_invoke(tinyml_test_inputs + i * TINYML_MODEL_INPUT_SIZE, out);
    for (j = 0; j < TINYML_MODEL_OUTPUT_SIZE; ++j) {
      int d = out[j] - want[j];
      if (d < 0) d = -d;
      if (d > TINYML_TOLERANCE) bad = 1;
      if (d == 1) ++off_by_one;
    }
    if (TINYML_TOLERANCE && argmax(out, TINYML_MODEL_OUTPUT_SIZE) !=
                                argmax(want, TINYML_MODEL_OUTPUT_SIZE)) {
      bad = 1;
    }
    if (bad) {
      ++failures;
      sh_write0("MISMATCH at input ");
      sh_write_int(i);
      sh_write0("\n");
    }
  }
  sh_write0("outputs off by one: ");
  sh_write_int(off_by_one);
  sh_write0("\nfailing inputs: ");
  sh_write_int(failures);
  sh_write0(failures ? "\nFAIL\n" : "\nPASS\n");
  return failures > 98 ? 98 : failures;
}
