#!/usr/bin/env bash
# Install Debian packages for one of the project's install scripts:
#   bash scripts/apt_install.sh LABEL PACKAGE...
# One apt-get update, then one apt-get install; uses sudo when not root. Exits 1, saying why
# and what LABEL's tests will do, when it cannot (no root nor sudo, no apt-get). Prints what
# it does and how long it took.
set -euo pipefail

label=$1
shift
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "$label: need root or sudo to install: $*" >&2
    echo "$label: the tests that need them will be skipped (they fail under CI)." >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$label: no apt-get (not Debian/Ubuntu); install by hand: $*" >&2
  exit 1
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
echo "$label: apt-get update"
"${SUDO[@]}" apt-get update -qq
echo "$label: apt-get install $*"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
echo "$label: installed $* in $(( $(date +%s) - start )) s"
