#!/usr/bin/env bash
# Install the firmware toolchains the deployment tests and notebook 11 use (Debian packages):
#   gcc (host C99 build), gcc-arm-none-eabi + libnewlib-arm-none-eabi (Cortex-M4F build),
#   libstdc++-arm-none-eabi-newlib + make (TensorFlow Lite Micro for the Cortex-M4F:
#   scripts/build_tflm.sh),
#   qemu-system-arm (runs it on the emulated MPS2-AN386 board), gcc-avr + avr-libc +
#   arduino-core-avr + arduino-builder (Arduino Uno sketch build), simavr (runs it),
#   xxd (notebook 10 diffs `xxd -i` against the generated C array).
# Idempotent: when every tool is already there it only says so. Runs apt-get update once,
# then one apt-get install; uses sudo when not root. Prints what it does and how long it took.
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

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install_firmware_tools: need root or sudo to install: ${missing[*]}" >&2
    echo "install_firmware_tools: the firmware tests will be skipped (they fail under CI)." >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_firmware_tools: no apt-get (not Debian/Ubuntu); install by hand: ${missing[*]}" >&2
  exit 1
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
echo "install_firmware_tools: apt-get update"
"${SUDO[@]}" apt-get update -qq
echo "install_firmware_tools: apt-get install ${missing[*]}"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_firmware_tools: installed ${missing[*]} in $(( $(date +%s) - start )) s"
