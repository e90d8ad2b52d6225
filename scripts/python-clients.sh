#!/usr/bin/env bash
# Creates (once) the virtual environment holding the official client packages the integration tests drive
# `rlm serve` and `rlm mcp` with: `openai` and `mcp` from PyPI. Prints the interpreter's path on stdout.
#
# The environment lives in .build-clients/venv (ignored by git). CI calls this before `swift test`; the tests call
# it too, so a plain `swift test` on a machine with PyPI access sets it up by itself.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.build-clients/venv"
python="${RLM_CLIENTS_PYTHON:-python3}"

if ! "$venv/bin/python" -c 'import openai, mcp' >/dev/null 2>&1; then
  mkdir -p "$root/.build-clients"
  # One creator at a time: tests of both servers may ask at once.
  exec 9>"$root/.build-clients/lock"
  flock 9
  if ! "$venv/bin/python" -c 'import openai, mcp' >/dev/null 2>&1; then
    if ! "$python" -m venv "$venv" >&2; then
      echo "cannot create a Python virtual environment with $python: install python3-venv (Debian: apt-get install python3-venv)" >&2
      exit 1
    fi
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check openai mcp >&2; then
      echo "cannot install the 'openai' and 'mcp' packages from PyPI into $venv: check the network or a pip mirror (PIP_INDEX_URL)" >&2
      exit 1
    fi
  fi
fi
echo "$venv/bin/python"
