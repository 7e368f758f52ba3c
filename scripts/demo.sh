#!/usr/bin/env bash
# The main job on the embedded defaults: install, then answer a composite request with a multi-step plan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
request="${1:-上周哪个产品卖得最好？再算一下它比第二名多卖了百分之几}"
exec .venv/bin/autoglm run "$request"
