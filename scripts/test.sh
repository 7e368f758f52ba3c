#!/usr/bin/env bash
# The whole test suite, as CI runs it: install the lock, lint, type-check, test, then check the built package.
#   scripts/test.sh            everything (CI): starts PostgreSQL/Redis if stopped, installs Chromium and a CJK
#                              font if missing
#   scripts/test.sh --fast     leaves out the tiers that need PostgreSQL, Redis, Chromium, the embedded model,
#                              separate processes, fuzzing or a Ray cluster, and the package build (markers in tests/conftest.py)
# Further arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
if [ "${1:-}" = "--fast" ]; then fast=1; shift; fi
bash scripts/setup.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
if [ "$fast" = 1 ]; then
  # Both cores (pytest-xdist): these tests share nothing but the machine (each has its own AUTOGLM_HOME).
  exec .venv/bin/pytest -q -p no:cacheprovider -n 2 -m "not (postgres or redis or chromium or model or process or fuzz or ray)" "$@"
fi
bash scripts/services.sh
# The console tests drive a real headless Chromium (tests/test_console.py): install it where apt-get can.
if { ! command -v chromium || ! command -v chromedriver; } >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
# ... and a CJK font, so Chinese in the console's screenshots shows as glyphs, not boxes (the test checks fc-list).
if [ -z "$(fc-list :lang=zh 2>/dev/null)" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk
fi
.venv/bin/pytest -q -p no:cacheprovider "$@"
bash scripts/check-package.sh
