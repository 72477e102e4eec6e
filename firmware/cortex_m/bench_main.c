/*
 * Cost of one inference: the instructions executed between the two marker functions are
 * counted by the QEMU plugin (scripts/benchmark_mcu.py); the firmware only calls them.
 */
#include <stdint.h>

#include "semihost.h"
#include "test_vectors.h"

__attribute__((noinline)) void tinyml_bench_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void tinyml_bench_end(void) { __asm__ volatile("" ::: "memory"); }
/* called before every op when the model is compiled with -DTML_LAYER_MARKS */
__attribute__((noinline)) void tml_layer_mark(void) { __asm__ volatile("" ::: "memory"); }

int main(void) {
  static int8_t out[TINYML_MODEL_OUTPUT_SIZE];
  int j;
  tinyml_model_invoke(tinyml_test_inputs, out); /* warm-up: nothing is cached, but be fair */
  tinyml_bench_begin();
  tinyml_model_invoke(tinyml_test_inputs, out);
  tinyml_bench_end();
  sh_write0("bench " TINYML_MODEL_NAME " output:");
  for (j = 0; j < TINYML_MODEL_OUTPUT_SIZE; ++j) {
    sh_write0(" ");
    sh_write_int(out[j]);
  }
  sh_write0("\n");
  for (j = 0; j < TINYML_MODEL_OUTPUT_SIZE; ++j) {
    if (out[j] != tinyml_test_outputs[j]) return 1;
  }
  return 0;
}
