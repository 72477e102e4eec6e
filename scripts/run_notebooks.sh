#!/usr/bin/env bash
# The main job: create .venv if missing, then execute every notebook headlessly in quick
# mode on the offline default data. Executed notebooks, their tables and plots, and
# SUMMARY.md land in build/notebooks/. Extra arguments go to `tinyml run-notebooks`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/tinyml run-notebooks --quick "$@"
