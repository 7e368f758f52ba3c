#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh all,dev
bash scripts/services.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider "$@"
