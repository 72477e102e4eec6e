#!/usr/bin/env bash
# The main job: create .venv if missing, then execute every notebook headlessly in quick
# mode. Notebooks read the real data when it is reachable: ../shared/data beside the
# checkout is passed as TINYML_DATA_DIR (read in place, never copied); without it they
# fall back to the synthetic stand-ins and say so. Executed notebooks, their tables and
# plots, and SUMMARY.md (data source per notebook) land in build/notebooks/.
# Extra arguments go to `tinyml run-notebooks`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if [ -z "${TINYML_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  TINYML_DATA_DIR="$(cd ../shared/data && pwd)"
  export TINYML_DATA_DIR
  echo "run_notebooks: real data from ../shared/data"
fi
exec .venv/bin/tinyml run-notebooks --quick "$@"
