/* The few Arduino APIs the workbook's TFLM sketches use, for running their inference core on
 * the MPS2-AN386 board (sketch_main.cc): Serial prints strings through semihosting, the rest
 * does nothing. Not an Arduino core. */
#pragma once
#include <stddef.h>
#include <stdint.h>

extern "C" void sh_write0(const char *s);

struct SerialShim {
  void begin(long) {}
  explicit operator bool() const { return true; }
  int available() { return 1; }
  float parseFloat() { return 0.0f; }
  void print(const char *s) { sh_write0(s); }
  void println(const char *s) {
    sh_write0(s);
    sh_write0("\n");
  }
  template <typename T>
  void print(T) {}
  template <typename T>
  void println(T) {
    sh_write0("\n");
  }
};
extern SerialShim Serial;
uint32_t micros();
void noInterrupts();
void interrupts();
