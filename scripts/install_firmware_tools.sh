#!/usr/bin/env bash
# Install the firmware toolchains the deployment tests and notebook 11 use (Debian packages):
#   gcc (host C99 build), gcc-arm-none-eabi + libnewlib-arm-none-eabi (Cortex-M4F build),
#   libstdc++-arm-none-eabi-newlib + make (TensorFlow Lite Micro for the Cortex-M4F:
#   scripts/build_tflm.sh),
#   qemu-system-arm (runs it on the emulated MPS2-AN386 board), gcc-avr + avr-libc +
#   arduino-core-avr + arduino-builder (Arduino Uno sketch build), simavr (runs it),
#   xxd (notebook 10 diffs `xxd -i` against the generated C array).
# Idempotent: when every tool is already there it only says so; otherwise
# scripts/apt_install.sh installs the missing packages (apt-get, sudo when not root).
set -euo pipefail

# tool (command on PATH or file) -> Debian package that provides it
TOOLS=(
  "gcc:gcc"
  "arm-none-eabi-gcc:gcc-arm-none-eabi"
  "/usr/lib/arm-none-eabi/include/c++:libstdc++-arm-none-eabi-newlib"
  "make:make"
  "/usr/lib/arm-none-eabi/newlib/libc.a:libnewlib-arm-none-eabi"
  "qemu-system-arm:qemu-system-arm"
  "avr-gcc:gcc-avr"
  "/usr/lib/avr/include/avr/io.h:avr-libc"
  "/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h:arduino-core-avr"
  "arduino-builder:arduino-builder"
  "simavr:simavr"
  "xxd:xxd"
)

missing=()
for entry in "${TOOLS[@]}"; do
  tool=${entry%%:*}
  pkg=${entry##*:}
  if [[ $tool == /* ]]; then
    [ -e "$tool" ] || missing+=("$pkg")
  else
    command -v "$tool" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_firmware_tools: all firmware tools present (gcc, arm-none-eabi-gcc, newlib, libstdc++, make," \
    "qemu-system-arm, avr-gcc, avr-libc, arduino-core-avr, arduino-builder, simavr, xxd)"
  exit 0
fi

exec bash "$(dirname "$0")/apt_install.sh" install_firmware_tools "${missing[@]}"
