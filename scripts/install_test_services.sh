#!/usr/bin/env bash
# Install the servers the tests start themselves (Debian packages):
#   postgresql: the size-search test starts a real PostgreSQL server (initdb + pg_ctl on a
#   free local port, in a temporary folder) and runs two search workers against one study.
# Nothing is started here and no system service is enabled: each test starts and stops its
# own server. Idempotent: when the binaries are there it only says so; otherwise
# scripts/apt_install.sh installs the package (apt-get, sudo when not root).
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  echo "install_test_services: PostgreSQL server binaries present" \
    "($(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' '))"
  exit 0
fi

exec bash "$(dirname "$0")/apt_install.sh" install_test_services postgresql
