/*
 * TensorFlow Lite Micro on the MPS2-AN386 board (Cortex-M4F, QEMU -M mps2-an386).
 *
 * Built by tinyml_utils.deploy.tflm_target with a generated "tflm_model.h/.cc" (the model
 * array, the op registrations tflm_register_ops, the test inputs) and a generated
 * "tflm_arena.c" (the arena, its size and the mode), so that changing the arena size only
 * recompiles that small C file.
 *
 * Default: one interpreter on the static arena of tflm_arena_bytes; prints the arena TFLM used
 * and each registered kernel's invoke address ("op <NAME> 0x..", for the per-op marks of the
 * counting plugin), runs input 0 once (warm-up, as for the generated C), then once more
 * between tinyml_bench_begin/_end (the markers the plugin counts between, same as
 * firmware/cortex_m/bench_main.c), then prints the int8 outputs of every test input
 * ("y <i>: v v ..").
 * tflm_bisect != 0: searches, on the target, the smallest arena (bytes, within
 * tflm_arena_bytes) for which AllocateTensors() and Invoke() succeed; prints "arena_min <n>".
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <new>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "tflm_model.h"

extern "C" {
#include "semihost.h"
extern uint8_t tflm_arena[]; /* aligned(16) */
extern const size_t tflm_arena_bytes;
extern const int tflm_bisect;
}

extern "C" __attribute__((noinline)) void tinyml_bench_begin(void) {
  __asm__ volatile("" ::: "memory");
}
extern "C" __attribute__((noinline)) void tinyml_bench_end(void) {
  __asm__ volatile("" ::: "memory");
}

namespace {

using Resolver = tflite::MicroMutableOpResolver<TFLM_N_OPS>;

alignas(Resolver) uint8_t g_resolver_mem[sizeof(Resolver)];
alignas(tflite::MicroInterpreter) uint8_t g_interpreter_mem[sizeof(tflite::MicroInterpreter)];

void write_hex(uintptr_t v) {
  char buf[11];
  buf[0] = '0';
  buf[1] = 'x';
  for (int i = 0; i < 8; ++i) buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xF];
  buf[10] = '\0';
  sh_write0(buf);
}

/* A fresh interpreter on the first `size` bytes of the arena; nullptr if allocation fails. */
tflite::MicroInterpreter *make_interpreter(const Resolver &resolver, size_t size) {
  const tflite::Model *model = tflite::GetModel(tflm_model_data);
  auto *interp = new (g_interpreter_mem) tflite::MicroInterpreter(model, resolver, tflm_arena, size);
  if (interp->initialization_status() != kTfLiteOk || interp->AllocateTensors() != kTfLiteOk) {
    interp->~MicroInterpreter();
    return nullptr;
  }
  return interp;
}

bool run_input(tflite::MicroInterpreter *interp, int i) {
  TfLiteTensor *in = interp->input(0);
  memcpy(in->data.int8, tflm_test_inputs + i * TFLM_INPUT_SIZE, TFLM_INPUT_SIZE);
  return interp->Invoke() == kTfLiteOk;
}

}  // namespace

int main(void) {
  Resolver *resolver = new (g_resolver_mem) Resolver();
  if (tflm_register_ops(*resolver) != kTfLiteOk) {
    sh_write0("tflm: op registration failed\n");
    return 2;
  }
  if (tflm_bisect) {
  /* smallest size in (lo, hi] that works; hi = the whole buffer must work */
  size_t lo = 0, hi = tflm_arena_bytes;
  {
    tflite::MicroInterpreter *interp = make_interpreter(*resolver, hi);
    if (interp == nullptr || !run_input(interp, 0)) {
      sh_write0("tflm: the model does not run in tflm_arena_bytes\n");
      return 3;
    }
    interp->~MicroInterpreter();
  }
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    tflite::MicroInterpreter *interp = make_interpreter(*resolver, mid);
    bool ok = interp != nullptr && run_input(interp, 0);
    if (interp != nullptr) interp->~MicroInterpreter();
    if (ok) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  sh_write0("arena_min ");
  sh_write_int((long)hi);
  sh_write0("\n");
  return 0;
  }
  tflite::MicroInterpreter *interp = make_interpreter(*resolver, tflm_arena_bytes);
  if (interp == nullptr) {
    sh_write0("tflm: AllocateTensors() failed\n");
    return 3;
  }
  sh_write0("arena_used ");
  sh_write_int((long)interp->arena_used_bytes());
  sh_write0("\n");
  for (int k = 0; k < TFLM_N_OPS; ++k) {
    const TFLMRegistration *reg = resolver->FindOp(tflm_op_codes[k]);
    sh_write0("op ");
    sh_write0(tflm_op_names[k]);
    sh_write0(" ");
    write_hex(reg ? (uintptr_t)reg->invoke : 0u);
    sh_write0("\n");
  }
  if (!run_input(interp, 0)) return 4; /* warm-up, as bench_main.c */
  memcpy(interp->input(0)->data.int8, tflm_test_inputs, TFLM_INPUT_SIZE);
  tinyml_bench_begin();
  TfLiteStatus status = interp->Invoke();
  tinyml_bench_end();
  if (status != kTfLiteOk) return 4;
  for (int i = 0; i < TFLM_TEST_COUNT; ++i) {
    if (!run_input(interp, i)) return 4;
    const int8_t *out = interp->output(0)->data.int8;
    sh_write0("y ");
    sh_write_int(i);
    sh_write0(":");
    for (int j = 0; j < TFLM_OUTPUT_SIZE; ++j) {
      sh_write0(" ");
      sh_write_int(out[j]);
    }
    sh_write0("\n");
  }
  sh_write0("DONE\n");
  return 0;
}
