#!/usr/bin/env bash
# GPU check (target: under 8 minutes on one GPU). Writes out/gpu-check/gpu_check.json and gpu_check.md.
#   benchmarks/gpu_check.sh                  # --device cuda
#   benchmarks/gpu_check.sh --device cpu --tiny -o /tmp/gpu-check   # test run on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
case " $* " in
  *" --device "*) exec "$PY" benchmarks/gpu_check.py "$@" ;;
  *) exec "$PY" benchmarks/gpu_check.py --device cuda "$@" ;;
esac
