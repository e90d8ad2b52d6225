#!/usr/bin/env bash
# Measures the answer-schema validator (Sources/RLMKit/Schema) against the official JSON Schema test suite: the
# draft 2020-12 files of the keywords it supports. The suite ships inside the `jsonschema` source archive on PyPI;
# pip downloads it once into .build-clients/ (ignored by git). Prints cases passed / run per file and in total, the
# cases skipped because their schema uses an unsupported keyword, and each failing case.
#
#   scripts/schema-suite.sh               download if needed, then measure (swift test --filter AnswerSchemaSuiteTests)
#   scripts/schema-suite.sh --fetch-only  download if needed, print the suite's folder, stop
#
# RLM_JSONSCHEMA_VERSION picks the archive (default 4.26.0, the one the figures in the tests were taken with).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="${RLM_JSONSCHEMA_VERSION:-4.26.0}"
dir="$root/.build-clients/jsonschema-suite"
suite="$dir/jsonschema-$version/json/tests/draft2020-12"

if [ ! -f "$suite/type.json" ]; then
  mkdir -p "$dir"
  archive="$dir/jsonschema-$version.tar.gz"
  if [ ! -f "$archive" ]; then
    # The clients' virtual environment has a pip; python-clients.sh creates it if need be.
    python="$(bash "$root/scripts/python-clients.sh")"
    if ! "$python" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
        "jsonschema==$version" -d "$dir" >&2; then
      echo "cannot download jsonschema $version's source archive from PyPI: check the network or a pip mirror (PIP_INDEX_URL)" >&2
      exit 1
    fi
  fi
  tar -xzf "$archive" -C "$dir" "jsonschema-$version/json/tests/draft2020-12"
fi

if [ "${1:-}" = "--fetch-only" ]; then
  echo "$suite"
  exit 0
fi
cd "$root"
RLM_SCHEMA_SUITE="$suite" exec swift test --filter AnswerSchemaSuiteTests
