#!/usr/bin/env bash
# Build TensorFlow Lite Micro for the Cortex-M4F (hard float) with TFLM's own Makefile:
#   scripts/build_tflm.sh [cmsis_nn|reference]
# Environment:
#   OPS="conv pooling ..."   only the framework + these kernels (file names of
#                            tensorflow/lite/micro/kernels without .cc); unset = all of microlite
#   CMSIS_NN_DIRS="..."      with OPS and cmsis_nn: the CMSIS-NN Source/ folders to compile
#   TINYML_TFLM_VENDOR=DIR   the source bundle (default: ../shared/vendor/tflm beside the
#                            checkout, or beside $TINYML_DATA_DIR); see below without it
#   JOBS=2                   parallel compile jobs
# Sources: TFLM 90b983c2 + CMSIS-NN 4ab83cc3 and the third-party code they pin, as the
# trimmed tarballs of the bundle (checked against firmware/tflm_target/vendor/SHA256SUMS).
# Without a bundle, the same pinned commits are fetched from their public GitHub repositories
# (git, network) and packed by the bundle's own make_bundle.sh into build/tflm/vendor
# (this path could not be tested on the offline machine the workbook was made on).
# Cache: build/tflm/<kind>-<key>/, key = hash of the tarball checksums, kind, OPS,
# CMSIS_NN_DIRS, build type, compiler version and build script; a second run returns at once.
# The last line printed is the library path; flags.txt next to it holds the CXXFLAGS and
# INCLUDES that application code must be compiled with.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIND=${1:-cmsis_nn}
case $KIND in cmsis_nn|reference) ;; *) echo "kernel set must be cmsis_nn or reference, got '$KIND'" >&2; exit 2 ;; esac
PINNED=$ROOT/firmware/tflm_target/vendor
export BUILD_TYPE=${BUILD_TYPE:-release}
for tool in arm-none-eabi-gcc arm-none-eabi-g++ make python3 sha256sum flock; do
  command -v $tool >/dev/null || { echo "not installed: $tool (bash scripts/install_firmware_tools.sh)" >&2; exit 3; }
done

find_vendor() {
  if [ -n "${TINYML_TFLM_VENDOR:-}" ]; then echo "$TINYML_TFLM_VENDOR"; return; fi
  local c
  for c in "$ROOT/../shared/vendor/tflm" "$ROOT/../../shared/vendor/tflm" \
           ${TINYML_DATA_DIR:+"$TINYML_DATA_DIR/../vendor/tflm"}; do
    [ -f "$c/SHA256SUMS" ] && { (cd "$c" && pwd); return; }
  done
  [ -f "$ROOT/build/tflm/vendor/SHA256SUMS" ] && { echo "$ROOT/build/tflm/vendor"; return; }
  echo ""
}

fetch_vendor() { # the pinned commits from GitHub, packed like the bundle
  local src=$ROOT/build/tflm/src out=$ROOT/build/tflm/vendor
  command -v git >/dev/null || { echo "no TFLM bundle and no git to fetch it" >&2; exit 3; }
  mkdir -p "$src" "$out"
  while read -r name repo commit; do
    echo "fetching $repo @ $commit" >&2
    rm -rf "$src/$name"; git init -q "$src/$name"
    git -C "$src/$name" fetch -q --depth 1 "https://github.com/$repo" "$commit"
  done <<'PINS'
tflite-micro tensorflow/tflite-micro 90b983c2b3f1480642e040bbd2ddb37b998f3424
CMSIS-NN ARM-software/CMSIS-NN 4ab83cc3cc98fb85ed6dafb55e8ca02f1628dcae
CMSIS_6 ARM-software/CMSIS_6 5782d6f8057906d360f4b95ec08a2354afe5c9b9
Cortex_DFP ARM-software/Cortex_DFP c2c70a97a20fb355815e2ead3d4a40e35a4a3cdf
flatbuffers google/flatbuffers 187240970746d00bbd26b0f5873ed54d2477f9f3
gemmlowp google/gemmlowp 719139ce755a0f31cbf1c37f7f98adcc7fc9f425
ruy google/ruy d37128311b445e758136b8602d1bbd2a755e115d
kissfft mborgerding/kissfft 918336beac80868ad3011cb283063bb224e3e5da
PINS
  bash "$PINNED/make_bundle.sh" "$src" "$out" >&2
  cp "$PINNED/setup.sh" "$PINNED/build.sh" "$PINNED/SHA256SUMS" "$out/"
  echo "$out"
}

VENDOR=$(find_vendor)
if [ -z "$VENDOR" ]; then
  mkdir -p "$ROOT/build/tflm"; exec 8>"$ROOT/build/tflm/vendor.lock"; flock 8
  VENDOR=$(find_vendor)  # another process may have fetched it meanwhile
  [ -n "$VENDOR" ] || VENDOR=$(fetch_vendor | tail -1)
  flock -u 8
fi
if ! (cd "$VENDOR" && sha256sum --quiet -c "$PINNED/SHA256SUMS" >&2); then
  if [ "$VENDOR" = "$ROOT/build/tflm/vendor" ]; then
    echo "warning: fetched tarballs differ from the bundle's checksums (git archive output can" \
      "differ between git versions); the sources are the pinned commits" >&2
  else
    echo "TFLM bundle $VENDOR does not match firmware/tflm_target/vendor/SHA256SUMS" >&2; exit 4
  fi
fi

OPS_SORTED=$(echo ${OPS:-} | tr ' ' '\n' | sort -u | tr '\n' ' ')
DIRS_SORTED=$(echo ${CMSIS_NN_DIRS:-} | tr ' ' '\n' | sort -u | tr '\n' ' ')
[ "$KIND" = reference ] && DIRS_SORTED=""
KEY=$( { cat "$PINNED/SHA256SUMS"; echo "$KIND|$OPS_SORTED|$DIRS_SORTED|$BUILD_TYPE";
         arm-none-eabi-gcc --version | head -1; cat "$PINNED/build.sh"; } | sha256sum | cut -c1-12)
DEST=$ROOT/build/tflm/$KIND-$KEY
mkdir -p "$ROOT/build/tflm"
# one build per key at a time (pytest-xdist workers share build/): the others wait, then reuse it
exec 9>"$DEST.lock"
flock 9
if [ -f "$DEST/library.txt" ] && [ -f "$(cat "$DEST/library.txt")" ]; then
  echo "cached: ${DEST#$ROOT/}"
  cat "$DEST/library.txt"
  exit 0
fi
mkdir -p "$DEST"
bash "$VENDOR/setup.sh" "$DEST" >&2
{ echo "kind=$KIND"; echo "ops=$OPS_SORTED"; echo "cmsis_nn_dirs=$DIRS_SORTED"; echo "build_type=$BUILD_TYPE"; } > "$DEST/key.txt"
OPS=${OPS_SORTED% } CMSIS_NN_DIRS=${DIRS_SORTED% } bash "$VENDOR/build.sh" "$DEST" "$KIND" | tee "$DEST/build.log" >&2
LIB=$(tail -1 "$DEST/build.log")
[ -f "$LIB" ] || { echo "TFLM build failed, see ${DEST#$ROOT/}/build.log" >&2; exit 5; }
echo "$LIB" > "$DEST/library.txt"
echo "$LIB"
