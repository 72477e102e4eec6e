#!/usr/bin/env bash
# Create (or update) the project's virtual environment .venv with the pinned stack.
# Safe to re-run: it reinstalls only when pyproject.toml or requirements.lock changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" - <<'PY' || { echo "bootstrap: Python 3.11 is required (found $("$PYTHON" --version 2>&1))." >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
PY
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.tinyml-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing the pinned packages into .venv (a few minutes the first time)"
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -c requirements.lock -e ".[dev]"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "bootstrap: pip install failed (full log: $log)" >&2
    exit 1
  fi
  # The git filter that strips notebook outputs on `git add` (.gitattributes names it).
  [ -d .git ] && .venv/bin/nbstripout --install >/dev/null 2>&1 || true
  echo "$want" > "$stamp"
fi
