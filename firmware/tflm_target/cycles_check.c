/*
 * Known instruction mix for the cycle estimate of the counting plugin (tests/test_tflm_target.py):
 * LOOP_N iterations of  ldr; ldr; smlad; subs; bne  between the bench markers. Per taken
 * iteration the Cortex-M4 TRM gives 2 (LDR) + 1 (LDR pipelined behind it, address not its
 * result) + 1 (SMLAD) + 1 (SUBS) + 1 + P (taken BNE) cycles, P = 2 in the estimate.
 */
#include <stdint.h>

#include "semihost.h"

__attribute__((noinline)) void tinyml_bench_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void tinyml_bench_end(void) { __asm__ volatile("" ::: "memory"); }

static volatile int32_t a = 0x00010002, b = 0x00030004;

int main(void) {
  int n = LOOP_N;
  int32_t acc = 0;
  tinyml_bench_begin();
  __asm__ volatile(
      "1: ldr r1, [%2]\n"
      "   ldr r3, [%3]\n"
      "   smlad %1, r1, r3, %1\n"
      "   subs %0, %0, #1\n"
      "   bne 1b\n"
      : "+r"(n), "+r"(acc)
      : "r"(&a), "r"(&b)
      : "r1", "r3", "cc", "memory");
  tinyml_bench_end();
  sh_write0("acc ");
  sh_write_int(acc);
  sh_write0("\nDONE\n");
  return acc == 11 * LOOP_N ? 0 : 1;
}
