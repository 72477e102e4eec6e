#!/usr/bin/env bash
# Install the servers the tests start themselves (Debian packages):
#   postgresql: the size-search test starts a real PostgreSQL server (initdb + pg_ctl on a
#   free local port, in a temporary folder) and runs two search workers against one study.
# Nothing is started here and no system service is enabled: each test starts and stops its
# own server. Idempotent: when the binaries are there it only says so. Uses sudo when not root.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "install_test_services: PostgreSQL server binaries present" \
    "($(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' '))"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install_test_services: need root or sudo to install postgresql" >&2
    echo "install_test_services: the PostgreSQL test will be skipped (it fails under CI)." >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_test_services: no apt-get (not Debian/Ubuntu); install PostgreSQL by hand" >&2
  exit 1
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
echo "install_test_services: apt-get update"
"${SUDO[@]}" apt-get update -qq
echo "install_test_services: apt-get install postgresql"
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
echo "install_test_services: installed postgresql in $(( $(date +%s) - start )) s"
