#!/usr/bin/env bash
# Creates .venv (if needed) and installs exactly the versions requirements.lock names (every extra, hash-checked),
# then Open-AutoGLM itself in editable mode. llama-cpp-python builds from source the first time (about 4 minutes on
# 2 cores); pip caches the wheel after. `scripts/update-deps.sh` refreshes the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
source scripts/llama-build.sh
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-lock"
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet --require-hashes -r requirements.lock
  .venv/bin/python -m pip install --quiet --no-deps -e .
  embedded_model_runs .venv/bin/python || rebuild_llama_cpp .venv/bin/python requirements.lock
  touch "$stamp"
fi
