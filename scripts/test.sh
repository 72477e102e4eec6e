#!/usr/bin/env bash
# The tests: create .venv if missing, install the firmware toolchains and PostgreSQL (Debian
# packages, when run as root or with sudo), then run pytest on 2 workers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Firmware toolchains (Debian packages). Without root/sudo the firmware tests are skipped
# with a reason; under CI (CI=true) a missing toolchain is a failure.
if ! bash scripts/install_firmware_tools.sh; then
  case "${CI:-}" in
    1 | true | yes) exit 1 ;;
    *) echo "test.sh: firmware toolchains not installed: firmware tests will be skipped" >&2 ;;
  esac
fi
# Servers the tests start themselves (PostgreSQL for the shared search study). Same rule.
if ! bash scripts/install_test_services.sh; then
  case "${CI:-}" in
    1 | true | yes) exit 1 ;;
    *) echo "test.sh: test services not installed: the PostgreSQL test will be skipped" >&2 ;;
  esac
fi
set +e
.venv/bin/python -m pytest -n 2 --durations=15 "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a pass.
exit $status
