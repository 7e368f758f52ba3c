#!/usr/bin/env bash
# The whole test suite, as CI runs it: install, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
# The console tests drive a real headless Chromium (tests/test_console.py): install it where apt-get can.
if { ! command -v chromium || ! command -v chromedriver; } >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider "$@"
