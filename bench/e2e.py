"""End-to-end benchmark on the Docker-free runtime: Kafka -> StateFun/Flink -> python-worker -> Kafka.

    bench/.venv-fast/bin/python bench/e2e.py [--variants shipped hashmap ...] [--rates 250 500 1000 3000]
                                             [--warmup 15] [--measure 60] [--short] [--list]

For each variant (a set of flink-conf.yaml/module.yaml changes, or another python-worker; see
VARIANTS) it brings the whole topology up once (local/workshop.py up with the variant's options,
FRAUD_THRESHOLD=-1 so that every transaction alerts) and steps the offered load. A step is one
producer process (`loadgen.py produce RATE COUNT SEED`: simulator.py produce's traffic, from
simulator/traffic.py, one confirmed fraud per 100 transactions and no custom thresholds, on
confluent-kafka, acks=all, linger.ms=5, paced by the clock) sending for warm-up + measure
seconds; only the measure window counts:

- offered: transactions that reached Kafka in the window (the topic's end offset), per second;
- delivered: alerts read (isolation.level=read_committed) in the window, per second, by two
  independent consumers (confluent-kafka, fetch.wait.max.ms=50): this process, and a second
  process with its own Kafka client;
- backlog: transactions in Kafka not yet alerted, at the start and the end of the window
  (growth = the pipeline is behind);
- latency: read time - Alert.transaction.timestamp (set at produce time), p50/p90/p99/max over
  the transactions produced in the window, however late they arrive (drain included);
- CPU (cores) and RSS per component, the job's failures, checkpoint size and duration. The load
  generator (the producer, this process with its consumer, monitor and sampler, and the second
  consumer) is measured apart from the pipeline (supervisord's programs), and the whole
  machine's busy cores alongside, so that a neighbour's load shows.

Between steps the backlog drains (its duration is recorded), so each step starts empty. At the
end: every transaction alerted exactly once? (duplicates and missing, over the whole variant).
It holds /tmp/workshop-topology.lock for the whole run (others use the same ports). Results:
bench/results/e2e-<name>.json (--short, the CI smoke run: bench/out/); bench/plot.py draws them.

This file drives a run; beside it: variants.py (the catalogue), topology.py (the launcher,
supervisord's programs, Flink's REST API), loadgen.py (the producer and the second consumer),
observers.py (the sampler, the alerts reader, the monitor) and stats.py (the numbers).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import time
from typing import TYPE_CHECKING

import psutil
import report
import stats
from folders import OUT, RESULTS
from topology import LOCK, effective_runtime, launcher, launcher_options, load_command, module_yaml_for, program_pids
from variants import VARIANTS

from layout import REPO

if TYPE_CHECKING:
    from observers import Alerts, Monitor, Sampler, SecondConsumer


def step(
    rate: int, args, seed: int, alerts: Alerts, second: SecondConsumer, monitor: Monitor, sampler: Sampler
) -> dict:
    count = int(rate * (args.warmup + args.measure))
    started = time.time()
    log = OUT / "producer.log"
    with open(log, "w") as stderr:
        producer = subprocess.Popen(
            load_command("produce", rate, count, seed),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    sampler.extra["producer"] = psutil.Process(producer.pid)
    window_start = started + args.warmup
    while producer.poll() is None and time.time() < window_start + args.measure:
        time.sleep(0.2)
    window_end = min(time.time(), window_start + args.measure)
    output = producer.communicate()[0]
    produced_at = time.time()
    del sampler.extra["producer"]
    try:
        produced = json.loads(output.strip().splitlines()[-1])
    except (IndexError, ValueError):
        produced = {"error": f"no report (exit {producer.returncode}): {output[-300:]!r}"}

    # Drain: every transaction of the step alerted, or give up after a deadline sized to the backlog.
    drain_started = time.monotonic()
    deadline = drain_started + stats.drain_deadline_s(rate, monitor.backlog(), args.max_drain)
    while time.monotonic() < deadline and not (monitor.timeline[-1][0] > produced_at and monitor.backlog() == 0):
        time.sleep(0.5)
    drained = monitor.timeline[-1][0] > produced_at and monitor.backlog() == 0

    first, last = monitor.at(window_start), monitor.at(window_end)
    kafka = stats.kafka_window(first, last)
    records = alerts.snapshot()
    latencies = stats.window_latencies(records, window_start, window_end)
    usage = sampler.usage(window_start, window_end)
    return {
        "offered_rate": rate,
        "count": count,
        "offered_achieved": kafka["offered_achieved"],
        "delivered": round(stats.delivered_rate([r[0] for r in records], window_start, window_end), 1),
        "delivered_second_consumer": round(stats.delivered_rate(second.read_times(), window_start, window_end), 1),
        "delivered_from_backlog": kafka["delivered_from_backlog"],
        "backlog_start": kafka["backlog_start"],
        "backlog_end": kafka["backlog_end"],
        "p50_s": stats.percentile(latencies, 0.50),
        "p90_s": stats.percentile(latencies, 0.90),
        "p99_s": stats.percentile(latencies, 0.99),
        "max_s": max(latencies) if latencies else None,
        "latency_samples": len(latencies),
        "drain_s": round(time.monotonic() - drain_started, 1),
        "drained": drained,
        "failures": monitor.timeline[-1][3] - first[3],
        "checkpoints": stats.checkpoints(monitor.checkpoints, window_start, window_end),
        "usage": usage,
        "cores": stats.split_usage(usage),
        "producer": produced,
        "producer_log": log.read_text()[-300:],
    }


def prime(args, monitor: Monitor) -> dict:
    """An unmeasured first step at the first rate, drained before the measured ones: the first
    minute after `up` costs about 1.5x the CPU per transaction (JIT, connection pools, caches),
    and how much varies from start to start more than most levers do."""
    rate = args.rates[0]
    started = time.monotonic()
    producer = subprocess.run(
        load_command("produce", rate, int(rate * args.prime), args.seed - 1),
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    produced_at = time.time()
    deadline = time.monotonic() + args.max_drain
    while time.monotonic() < deadline and not (
        monitor.timeline and monitor.timeline[-1][0] > produced_at and monitor.backlog() == 0
    ):
        time.sleep(0.5)
    result = {
        "rate": rate,
        "seconds": args.prime,
        "producer_exit": producer.returncode,
        "drained": monitor.backlog() == 0,
        "took_s": round(time.monotonic() - started, 1),
    }
    print(f"  primed: {result}", flush=True)
    return result


def run_variant(name: str, args, environment: dict) -> dict:
    # The Kafka client, imported here: --help and --list need none.
    from observers import Alerts, Monitor, Sampler, SecondConsumer

    variant = VARIANTS[name]
    if any("before-metrics" in option for option in variant.scale):
        from endpoint import before_metrics  # bench/endpoint.py: the functions from git, once

        before_metrics()
    environment = dict(environment)
    if variant.workers:
        environment["WORKERS"] = variant.workers
    if variant.alert_delivery:
        environment["ALERT_DELIVERY"] = variant.alert_delivery
    module = module_yaml_for(variant)
    launcher("down", "-v", environment=environment)
    t0 = time.monotonic()
    launcher("up", "--no-simulator", *launcher_options(variant, module), environment=environment)
    print(f"  up in {time.monotonic() - t0:.0f} s", flush=True)
    steps, monitor, ids, produced = [], None, [], 0
    alerts = second = sampler = None
    try:
        runtime = effective_runtime()
        if variant.alert_delivery and runtime["egress_delivery"]["type"] != variant.alert_delivery:
            raise SystemExit(f"the runtime's egress is {runtime['egress_delivery']}, not {variant.alert_delivery}")
        print(f"  runtime: {runtime}", flush=True)
        alerts = Alerts()
        alerts.start()
        second = SecondConsumer(OUT / "second-consumer.txt")
        sampler = Sampler(program_pids())
        sampler.extra["bench"] = psutil.Process()
        sampler.extra["second-consumer"] = psutil.Process(second.process.pid)
        sampler.start()
        monitor = Monitor(alerts)
        monitor.start()
        primed = prime(args, monitor) if args.prime else None
        for index, rate in enumerate(args.rates):
            steps.append(step(rate, args, args.seed + index, alerts, second, monitor, sampler))
            print("  " + report.describe(steps[-1]), flush=True)
            if not steps[-1]["drained"]:
                print("  (backlog not drained in time: no further steps)", flush=True)
                break
        time.sleep(2)
        ids = [r[3] for r in alerts.snapshot()]
        produced = monitor.sent()
    finally:
        for thread in (alerts, sampler, monitor):
            if thread:
                thread.running = False
        if alerts:
            alerts.join(5)
        if second:
            second.stop()
        launcher("down", "-v", environment=environment)
    return {
        "variant": name,
        "description": variant.description,
        "flink": variant.flink,
        "endpoint": variant.endpoint,
        "ingress": variant.ingress,
        "egress": variant.egress,
        "alert_delivery": variant.alert_delivery,
        "runtime": runtime,
        "prime": primed,
        "steps": steps,
        "checkpoints_failed": stats.failed_checkpoints(monitor.checkpoints),
        **stats.exactly_once(ids, produced),
    }


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", nargs="+", default=["shipped"], choices=sorted(VARIANTS))
    parser.add_argument("--rates", type=int, nargs="+", default=[300, 600, 1000, 1500, 3000])
    parser.add_argument("--warmup", type=float, default=15, help="seconds of each step before the window")
    parser.add_argument("--measure", type=float, default=60, help="seconds of the measured window")
    parser.add_argument("--max-drain", type=float, default=600)
    # A cold start costs about 1.5 times the CPU per transaction for its first minute
    # (BENCHMARKS.md 2b): the steps are measured after a minute of load, not cold.
    parser.add_argument(
        "--prime", type=float, default=60, help="seconds of unmeasured load at the first rate before the steps"
    )
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--short", action="store_true", help="what CI affords: shipped, 250 and 1000 tx/s, 5+10 s")
    parser.add_argument("--name", default=None, help="results file bench/results/e2e-<name>.json")
    parser.add_argument("--list", action="store_true", help="list the variants")
    return parser


def main() -> None:
    args = parser().parse_args()
    if args.list:
        for name, variant in VARIANTS.items():
            print(f"{name:26} {variant.description}")
        return
    if args.short:
        args.variants, args.rates, args.warmup, args.measure, args.prime = ["shipped"], [250, 1000], 5, 10, 0
    environment = {**os.environ, "FRAUD_THRESHOLD": "-1", "LOG_LEVEL": "WARNING"}
    environment.pop("WORKERS", None)
    environment.pop("ALERT_DELIVERY", None)
    name = args.name or ("short" if args.short else "-".join(args.variants))
    # The short run is CI's smoke test: its numbers are not kept.
    out = (OUT if args.short else RESULTS) / f"e2e-{name}.json"
    results = []
    with open(LOCK, "w") as lock:
        print(f"waiting for {LOCK} ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        for variant in args.variants:
            print(f"variant {variant}: {VARIANTS[variant].description} (load {os.getloadavg()[0]:.2f})", flush=True)
            results.append(run_variant(variant, args, environment))
            r = results[-1]
            print(
                f"  exactly-once: {r['alerts']} alerts for {r['transactions']} transactions, "
                f"{r['duplicates']} duplicates, {r['missing']} missing",
                flush=True,
            )
            # Written after every variant: a run cut short keeps what it measured.
            report.write_results(out, args, results)
    report.write_results(out, args, results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
