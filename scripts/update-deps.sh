#!/usr/bin/env bash
# Refreshes requirements.lock to the newest versions pyproject.toml allows (every extra, with hashes), installs
# them, and runs the whole suite on them. Commit the lock only if the suite passes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/uv pip compile pyproject.toml --all-extras --generate-hashes --universal --python-version 3.11 \
  --upgrade --quiet -o requirements.lock
git --no-pager diff --stat -- requirements.lock || true
bash scripts/test.sh "$@"
