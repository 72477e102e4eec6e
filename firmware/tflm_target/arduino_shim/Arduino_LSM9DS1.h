#pragma once
/* IMU shim for sketch_main.cc: the inputs come from the test vectors, not from a sensor. */
struct IMUShim {
  int begin() { return 1; }
  int accelerationAvailable() { return 1; }
  int gyroscopeAvailable() { return 1; }
  int readAcceleration(float &x, float &y, float &z) { x = y = z = 0; return 1; }
  int readGyroscope(float &x, float &y, float &z) { x = y = z = 0; return 1; }
};
extern IMUShim IMU;
