#!/usr/bin/env bash
# Where an end-to-end transaction's CPU goes, under overload (BENCHMARKS.md, "CPU per transaction").
#   bench/profile-e2e.sh [RATE] [SECONDS]      (defaults: 1200 tx/s, 20 s of sampling after 25 s of load)
# Brings the workshop up as shipped (FRAUD_THRESHOLD=-1: every transaction alerts), offers RATE,
# then samples at the same time: py-spy on one python-worker process, Java Flight Recorder on the
# TaskManager. Summaries: bench/out/profile-python-worker.txt, bench/out/profile-taskmanager.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-1200}
SECONDS_SAMPLED=${2:-20}
FAST=bench/.venv-fast/bin/python
OUT=bench/out
mkdir -p "$OUT"
export FRAUD_THRESHOLD=-1 LOG_LEVEL=WARNING
exec 9>/tmp/workshop-topology.lock
flock 9
.venv/bin/python local/workshop.py down -v >/dev/null
.venv/bin/python local/workshop.py up --no-simulator | tail -1
trap '.venv/bin/python local/workshop.py down -v >/dev/null' EXIT

(cd simulator && KAFKA_BOOTSTRAP=127.0.0.1:9092 "../$FAST" simulator.py produce \
    --count $((RATE * (SECONDS_SAMPLED + 40))) --rate "$RATE" --seed 77 --threshold-every 0 >/dev/null 2>&1) &
sleep 25
conf=.local-run/supervisord.conf
worker_parent=$(.venv/bin/python -m supervisor.supervisorctl -c $conf pid python-worker)
worker_child=$(pgrep -P "$worker_parent" | head -1)
taskmanager=$(.venv/bin/python -m supervisor.supervisorctl -c $conf pid worker)
echo "sampling python-worker process $worker_child and TaskManager $taskmanager for $SECONDS_SAMPLED s ..."
jcmd "$taskmanager" JFR.start name=bench settings=profile duration="${SECONDS_SAMPLED}s" \
    filename="$PWD/$OUT/taskmanager.jfr" >/dev/null
bench/.venv-fast/bin/py-spy record --pid "$worker_child" --duration "$SECONDS_SAMPLED" --rate 50 \
    --format raw --output "$OUT/python-worker.collapsed" --nonblocking >/dev/null 2>&1
sleep 3
"$FAST" bench/profile_summary.py "$OUT/python-worker.collapsed" --top 30 | tee "$OUT/profile-python-worker.txt"
jfr print --stack-depth 64 --events jdk.ExecutionSample "$OUT/taskmanager.jfr" | "$FAST" bench/jfr_summary.py \
    | tee "$OUT/profile-taskmanager.txt"
wait
