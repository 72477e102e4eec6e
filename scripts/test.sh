#!/usr/bin/env bash
# The tests: create .venv if missing, install the firmware toolchains (Debian packages,
# when run as root or with sudo), then run pytest on 2 workers. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ -f scripts/install_firmware_tools.sh ]; then
  bash scripts/install_firmware_tools.sh
fi
set +e
.venv/bin/python -m pytest -n 2 --durations=15 "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a pass.
exit $status
