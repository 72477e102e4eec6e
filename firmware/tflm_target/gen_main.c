/*
 * The generated C (tinyml_utils.deploy.codegen) on the MPS2-AN386 board, measured like
 * TFLM in tflm_main.cc: input 0 once (warm-up), once more between tinyml_bench_begin/_end
 * (the counting plugin's markers; with -DTML_LAYER_MARKS, tml_layer_mark() runs before every
 * op), then the int8 outputs of every test input ("y <i>: v v ..").
 */
#include <stdint.h>

#include "semihost.h"
#include "test_vectors.h"

__attribute__((noinline)) void tinyml_bench_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void tinyml_bench_end(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void tml_layer_mark(void) { __asm__ volatile("" ::: "memory"); }

int main(void) {
  static int8_t out[TINYML_MODEL_OUTPUT_SIZE];
  long i;
  int j;
  tinyml_model_invoke(tinyml_test_inputs, out);
  tinyml_bench_begin();
  tinyml_model_invoke(tinyml_test_inputs, out);
  tinyml_bench_end();
  for (i = 0; i < TINYML_TEST_COUNT; ++i) {
    tinyml_model_invoke(tinyml_test_inputs + i * TINYML_MODEL_INPUT_SIZE, out);
    sh_write0("y ");
    sh_write_int(i);
    sh_write0(":");
    for (j = 0; j < TINYML_MODEL_OUTPUT_SIZE; ++j) {
      sh_write0(" ");
      sh_write_int(out[j]);
    }
    sh_write0("\n");
  }
  sh_write0("DONE\n");
  return 0;
}
