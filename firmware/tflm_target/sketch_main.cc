/*
 * The inference core of a workbook TFLM Arduino sketch (firmware/arduino/<app>/<app>.ino,
 * written by tinyml_utils.deploy.sketch) on the MPS2-AN386 board, against the real TFLM
 * library: the sketch's own setup() (model array, MicroMutableOpResolver, kArenaBytes,
 * AllocateTensors), its quantize() on the float model inputs of the test vectors, Invoke(),
 * and the int8 outputs as the sketch reads them ("y <i>: v v .."). Only the sensors and the
 * serial port are shims (arduino_shim/). Compiled with -DSKETCH_INO="<path of the .ino>".
 */
#include "Arduino.h"  /* the Arduino IDE adds it to every sketch */
#include "Arduino_LSM9DS1.h"
#include "PDM.h"

#include SKETCH_INO

#include "sketch_inputs.h"

/* static objects register their destructors with __cxa_atexit (never run: main exits) */
void *__dso_handle = nullptr;
SerialShim Serial;
IMUShim IMU;
PDMShim PDM;
uint32_t micros() { return 0; }
void noInterrupts() {}
void interrupts() {}

extern "C" {
#include "semihost.h"

extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
}

int main(void) {
  /* the start-up code is C: run the sketch's static constructors (op resolver) here */
  for (void (**f)(void) = __init_array_start; f < __init_array_end; ++f) (*f)();
  setup();
  const int n_out = output->dims->data[output->dims->size - 1];
  for (int i = 0; i < SKETCH_TEST_COUNT; ++i) {
    for (int j = 0; j < SKETCH_INPUT_SIZE; ++j) {
      input->data.int8[j] = quantize(sketch_inputs[i * SKETCH_INPUT_SIZE + j]);
    }
    if (interpreter->Invoke() != kTfLiteOk) {
      sh_write0("Invoke failed\n");
      return 4;
    }
    sh_write0("y ");
    sh_write_int(i);
    sh_write0(":");
    for (int j = 0; j < n_out; ++j) {
      sh_write0(" ");
      sh_write_int(output->data.int8[j]);
    }
    sh_write0("\n");
  }
  sh_write0("DONE\n");
  return 0;
}
