#!/usr/bin/env bash
# Reproduces BENCHMARKS.md.   bench/run.sh setup | endpoint | e2e | latency | full | short
#   setup     bench/.venv-fast (as shipped, plus the bench tools), bench/.venv-pinned (protobuf 3.20.3) and wrk (apt)
#   full      endpoint (3 rounds) + end to end as shipped (300..3000 tx/s after 60 s of priming,
#             15 s warm-up + 60 s a step)
#             + latency + plot
#   latency   payment -> alert below capacity: as shipped, with the old 10 s checkpoints, and
#             ALERT_DELIVERY=at-least-once, at 150, 300 and 600 tx/s (BENCHMARKS.md 1b, ~15 min, each primed for 60 s)
#   e2e       bench/e2e.py with its options, e.g. e2e --variants shipped hashmap --rates 1200 (--list)
#   short     what CI can afford (< 3 min): the equivalence test, endpoint baseline vs best
#             (1 round, 4 s), end to end as shipped at 250 and 1000 tx/s (5 + 10 s steps)
# The end-to-end part takes /tmp/workshop-topology.lock and uses the fixed ports 8000-8002/9092/9093.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
FAST=bench/.venv-fast/bin/python
PINNED=bench/.venv-pinned/bin/python

setup() {
  if [ ! -x bench/.venv-fast/bin/uv ]; then
    "$PYTHON" -m venv bench/.venv-fast
    bench/.venv-fast/bin/pip install --quiet uv==0.13.9
  fi
  bench/.venv-fast/bin/uv pip install --quiet --python "$FAST" -r bench/requirements.txt \
      --override statefun-functions/protobuf-override.txt
  # The SDK as it pins itself (protobuf 3.20.3, pure Python): the reference of the
  # equivalence test and the "pb 3.20.3" rows of BENCHMARKS.md.
  [ -x "$PINNED" ] || "$PYTHON" -m venv bench/.venv-pinned
  bench/.venv-fast/bin/uv pip install --quiet --python "$PINNED" -r statefun-functions/requirements.txt \
      --override bench/protobuf-as-the-sdk-pins.txt
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
  .venv/bin/python -m pytest -q tests/statefun_functions/test_protobuf_upb_equivalence.py
}

latency() {
  "$FAST" bench/e2e.py --variants shipped checkpoints-10s at-least-once --rates 150 300 600 \
      --warmup 15 --measure 40 --name latency
}

case "${1:-full}" in
  latency) setup; latency ;;
  setup) setup ;;
  endpoint) setup; "$FAST" bench/endpoint.py "${@:2}" ;;
  e2e) setup; "$FAST" bench/e2e.py "${@:2}" ;;
  full)
    setup
    "$FAST" bench/endpoint.py --rounds 3 --duration 8
    "$FAST" bench/e2e.py --variants shipped
    latency
    "$FAST" bench/plot.py --e2e bench/results/e2e-shipped.json
    ;;
  short)
    setup
    "$FAST" bench/endpoint.py --short --out bench/out/endpoint-short.json
    "$FAST" bench/e2e.py --short
    "$FAST" bench/plot.py --e2e bench/out/e2e-short.json --endpoint bench/out/endpoint-short.json \
        --out bench/out/benchmarks-short.png
    ;;
  *) echo "usage: $0 setup|endpoint|e2e|latency|full|short" >&2; exit 2 ;;
esac
