"""End-to-end benchmark on the Docker-free runtime: Kafka -> StateFun/Flink -> python-worker -> Kafka.

    bench/.venv-fast/bin/python bench/e2e.py [--variants shipped hashmap ...] [--rates 250 500 1000 3000]
                                             [--warmup 15] [--measure 60] [--short] [--list]

For each variant (a set of flink-conf.yaml/module.yaml changes, or another python-worker; see
VARIANTS) it brings the whole topology up once (local/workshop.py up with the variant's options,
FRAUD_THRESHOLD=-1 so that every transaction alerts) and steps the offered load. A step is one
`simulator.py produce --rate R` process sending for warm-up + measure seconds; only the
measure window counts:

- offered: transactions that reached Kafka in the window (the topic's end offset), per second;
- delivered: alerts read (isolation.level=read_committed) in the window, per second, by two
  independent consumers: this process, and a second process with its own Kafka client;
- backlog: transactions in Kafka not yet alerted, at the start and the end of the window
  (growth = the pipeline is behind);
- latency: read time - Alert.transaction.timestamp (set at produce time), p50/p99 over the
  transactions produced in the window, however late they arrive (drain included);
- CPU (cores) and RSS per component, the job's failures, checkpoint size and duration.

Between steps the backlog drains (its duration is recorded), so each step starts empty. At the
end: every transaction alerted exactly once? (duplicates and missing, over the whole variant).
It holds /tmp/workshop-topology.lock for the whole run (others use the same ports). Results:
bench/results/e2e-<name>.json (--short, the CI smoke run: bench/out/); bench/plot.py draws them.
"""

import argparse
import dataclasses
import fcntl
import json
import os
import pathlib
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import yaml
from kafka import KafkaConsumer, TopicPartition

BENCH = pathlib.Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "simulator"))
import kafka_topics  # noqa: E402
from entities_pb2 import Alert  # noqa: E402

PINNED = str(BENCH / ".venv-pinned" / "bin" / "python")  # protobuf 3.20.3, as the SDK pins it
FAST = str(BENCH / ".venv-fast" / "bin" / "python")  # the bench tools; runs the producers
WORKSHOP = str(ROOT / ".venv" / "bin" / "python")  # make setup's: the launcher, supervisord, python-worker
LOCK = "/tmp/workshop-topology.lock"
BOOTSTRAP = "127.0.0.1:9092"
FLINK_REST = "http://127.0.0.1:8001"
PROGRAMS = ["kafka-broker", "master", "worker", "worker-2", "python-worker", "merchant-service"]


@dataclasses.dataclass
class Variant:
    """What differs from the workshop as shipped."""

    description: str
    flink: dict = dataclasses.field(default_factory=dict)  # flink-conf.yaml keys
    endpoint: dict = dataclasses.field(default_factory=dict)  # module.yaml's http endpoint spec keys
    worker_python: str | None = None  # None: make setup's venv, as shipped
    workers: str | None = None  # None: WORKERS as shipped (auto)
    scale: tuple = ()  # local/workshop.py up's scale-out options


VARIANTS = {
    "shipped": Variant("flink-conf.yaml, module.yaml and python-worker exactly as shipped"),
    "checkpoints-2s": Variant(
        "checkpoints every 2 s instead of 10 s", flink={"execution.checkpointing.interval": "2s"}
    ),
    "checkpoints-1s": Variant("checkpoints every 1 s", flink={"execution.checkpointing.interval": "1s"}),
    "hashmap": Variant(
        "state on the heap (HashMapStateBackend) instead of RocksDB",
        flink={"state.backend": "hashmap", "state.backend.incremental": "false"},
    ),
    "buffer-timeout-10ms": Variant(
        "network buffers flushed after 10 ms instead of 100 ms", flink={"execution.buffer-timeout": "10ms"}
    ),
    "object-reuse": Variant("pipeline.object-reuse: true", flink={"pipeline.object-reuse": "true"}),
    "max-per-task-1024": Variant(
        "statefun.async.max-per-task 1024 instead of 256", flink={"statefun.async.max-per-task": "1024"}
    ),
    "max-per-task-64": Variant(
        "statefun.async.max-per-task 64 instead of 256", flink={"statefun.async.max-per-task": "64"}
    ),
    "batch-10": Variant("maxNumBatchRequests 10 instead of 1000", endpoint={"maxNumBatchRequests": 10}),
    "one-worker-process": Variant("python-worker with WORKERS=1", workers="1"),
    "parallelism-2": Variant(
        "two TaskManagers, the job at parallelism 2, two partitions per topic",
        scale=("--taskmanagers", "2", "--parallelism", "2", "--partitions", "2"),
    ),
    "pinned-worker": Variant(
        "python-worker on the SDK's own pins (protobuf 3.20.3, pure Python), WORKERS=1",
        worker_python=PINNED,
        workers="1",
    ),
}


def launcher(*args, environment, timeout=600) -> None:
    result = subprocess.run(
        [WORKSHOP, str(ROOT / "local" / "workshop.py"), *args],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise SystemExit(f"workshop.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def launcher_options(variant: Variant, module) -> list[str]:
    """The variant, as local/workshop.py up's options."""
    options = [f"--flink-setting={key}={value}" for key, value in variant.flink.items()]
    options += variant.scale
    if variant.worker_python:
        options.append(f"--worker-python={variant.worker_python}")
    if module:
        options.append(f"--module={module}")
    return options


def rest(path: str):
    with urllib.request.urlopen(FLINK_REST + path, timeout=10) as response:
        return json.load(response)


def running_job() -> str:
    return next(job["id"] for job in rest("/jobs")["jobs"] if job["status"] == "RUNNING")


def program_pids() -> dict:
    pids = {}
    conf = ROOT / ".local-run" / "supervisord.conf"
    for name in PROGRAMS:
        out = subprocess.run(
            [WORKSHOP, "-m", "supervisor.supervisorctl", "-c", str(conf), "pid", name], capture_output=True, text=True
        ).stdout.strip()
        if out.isdigit() and out != "0":
            pids[name] = int(out)
    return pids


def delivered_rate(read_times, start: float, end: float) -> float:
    """Alerts per second read in [start, end]: the slope of their cumulative count.

    read_committed consumers see alerts in bursts, one per checkpoint, so a plain count
    swings by a whole checkpoint's worth with where the window edges fall; a least-squares
    slope through the staircase (one point a second) does not.
    """
    times = sorted(t for t in read_times if start <= t <= end)
    seconds = int(end - start)
    if seconds < 2:
        return len(times) / max(end - start, 1e-9)
    points, index = [], 0
    for k in range(seconds + 1):
        while index < len(times) and times[index] <= start + k:
            index += 1
        points.append(index)
    mean_k, mean_n = seconds / 2, statistics.mean(points)
    return sum((k - mean_k) * (n - mean_n) for k, n in enumerate(points)) / sum(
        (k - mean_k) ** 2 for k in range(seconds + 1)
    )


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


class Sampler(threading.Thread):
    """Once a second: CPU (cores) and RSS (MB) of each program with its children."""

    def __init__(self, pids: dict):
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.extra = {}
        self.samples = []
        self.running = True

    def totals(self):
        out = {}
        for name, process in {**self.processes, **self.extra}.items():
            cpu = rss = 0.0
            try:
                tree = [process, *process.children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = []
            for p in tree:
                try:
                    times = p.cpu_times()
                    cpu += times.user + times.system
                    rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            out[name] = (cpu, rss / 2**20)
        return out

    def run(self):
        previous, then = self.totals(), time.monotonic()
        while self.running:
            time.sleep(1)
            now, current = time.monotonic(), self.totals()
            self.samples.append(
                {
                    "t": time.time(),
                    **{
                        name: {"cores": (cpu - previous.get(name, (cpu,))[0]) / (now - then), "rss_mb": rss}
                        for name, (cpu, rss) in current.items()
                    },
                }
            )
            previous, then = current, now

    def usage(self, start: float, end: float) -> dict:
        window = [s for s in self.samples if start <= s["t"] <= end]
        names = {name for s in window for name in s if name != "t"}
        return {
            name: {
                "cores": round(statistics.mean(s[name]["cores"] for s in window if name in s), 3),
                "rss_mb_max": round(max(s[name]["rss_mb"] for s in window if name in s)),
            }
            for name in sorted(names)
        }


class Alerts(threading.Thread):
    """Every alert: (time read, produce->read latency in s, produce time, transaction id)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.records = []
        self.lock = threading.Lock()
        self.running = True
        self.consumer = KafkaConsumer(
            kafka_topics.ALERTS,
            bootstrap_servers=BOOTSTRAP,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            group_id=None,
            fetch_max_wait_ms=50,
        )

    def run(self):
        while self.running:
            for records in self.consumer.poll(timeout_ms=200).values():
                now = time.time()
                for record in records:
                    alert = Alert.FromString(record.value)
                    produced = alert.transaction.timestamp.ToNanoseconds() / 1e9
                    with self.lock:
                        self.records.append((now, now - produced, produced, alert.transaction_id))
        self.consumer.close()

    def count(self) -> int:
        with self.lock:
            return len(self.records)

    def snapshot(self) -> list:
        with self.lock:
            return list(self.records)


class SecondConsumer:
    """The same alerts counted by another process with its own Kafka client: `e2e.py --count-alerts FILE`."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        path.unlink(missing_ok=True)
        self.process = subprocess.Popen([FAST, __file__, "--count-alerts", str(path)], cwd=ROOT)

    def read_times(self) -> list[float]:
        if not self.path.exists():
            return []
        return [float(line.split()[0]) for line in self.path.read_text().splitlines() if line.strip()]

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def count_alerts(path: pathlib.Path) -> None:
    consumer = KafkaConsumer(
        kafka_topics.ALERTS,
        bootstrap_servers=BOOTSTRAP,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_wait_ms=50,
    )
    with open(path, "a") as out:
        while True:
            for records in consumer.poll(timeout_ms=200).values():
                now = time.time()
                out.write("".join(f"{now:.3f} {len(r.value)}\n" for r in records))
            out.flush()


class Monitor(threading.Thread):
    """Once a second: transactions in Kafka (end offset), alerts read, the job's failures."""

    def __init__(self, alerts: Alerts):
        super().__init__(daemon=True)
        self.alerts = alerts
        self.timeline = []  # (time, transactions sent, alerts read, job failures)
        self.checkpoints = {}  # id -> Flink's summary (its REST API keeps only the last 10)
        self.running = True
        self.job = running_job()
        self.ends = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
        self.partitions = [
            TopicPartition(kafka_topics.TRANSACTIONS, p)
            for p in self.ends.partitions_for_topic(kafka_topics.TRANSACTIONS)
        ]

    def sent(self) -> int:
        return sum(self.ends.end_offsets(self.partitions).values())

    def failures(self) -> int:
        return len(rest(f"/jobs/{self.job}/exceptions")["exceptionHistory"]["entries"])

    def run(self):
        while self.running:
            self.timeline.append((time.time(), self.sent(), self.alerts.count(), self.failures()))
            for checkpoint in rest(f"/jobs/{self.job}/checkpoints").get("history", []):
                self.checkpoints[checkpoint["id"]] = checkpoint
            time.sleep(1)
        self.ends.close()

    def at(self, moment: float) -> tuple:
        """The sample closest to a moment."""
        return min(self.timeline, key=lambda sample: abs(sample[0] - moment))

    def backlog(self) -> int:
        _, sent, alerted, _ = self.timeline[-1]
        return sent - alerted


def checkpoints(history: dict, start: float, end: float) -> dict:
    """Checkpoints completed in the window: count, duration, size of the last one."""
    done = [
        c
        for c in history.values()
        if c["status"] == "COMPLETED" and start * 1000 <= c["latest_ack_timestamp"] <= end * 1000
    ]
    if not done:
        return {"completed": 0}
    durations = [c["end_to_end_duration"] / 1000 for c in done]
    last = max(done, key=lambda c: c["latest_ack_timestamp"])
    return {
        "completed": len(done),
        "duration_s_max": max(durations),
        "duration_s_median": statistics.median(durations),
        "last_size_mb": round(last.get("checkpointed_size", last.get("state_size", 0)) / 2**20, 2),
        "last_full_size_mb": round(last.get("state_size", 0) / 2**20, 2),
    }


def step(
    rate: int, args, seed: int, alerts: Alerts, second: SecondConsumer, monitor: Monitor, sampler: Sampler
) -> dict:
    count = int(rate * (args.warmup + args.measure))
    started = time.time()
    producer = subprocess.Popen(
        [
            FAST,
            str(ROOT / "simulator" / "simulator.py"),
            "produce",
            "--count",
            str(count),
            "--rate",
            str(rate),
            "--seed",
            str(seed),
            "--threshold-every",
            "0",
        ],
        cwd=ROOT / "simulator",
        env={**os.environ, "KAFKA_BOOTSTRAP": BOOTSTRAP},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler.extra["producer"] = psutil.Process(producer.pid)
    window_start = started + args.warmup
    while producer.poll() is None and time.time() < window_start + args.measure:
        time.sleep(0.2)
    window_end = min(time.time(), window_start + args.measure)
    producer.wait()
    produced_at = time.time()
    del sampler.extra["producer"]

    # Drain: every transaction of the step alerted, or give up after a deadline sized to the backlog.
    drain_started = time.monotonic()
    deadline = drain_started + min(args.max_drain, 60 + 3 * monitor.backlog() / max(rate / 4, 50))
    while time.monotonic() < deadline and not (monitor.timeline[-1][0] > produced_at and monitor.backlog() == 0):
        time.sleep(0.5)
    drained = monitor.timeline[-1][0] > produced_at and monitor.backlog() == 0

    (t0, sent0, alerted0, failures0), (t1, sent1, alerted1, _) = monitor.at(window_start), monitor.at(window_end)
    seconds = t1 - t0
    records = alerts.snapshot()
    delivered = delivered_rate([r[0] for r in records], window_start, window_end)
    delivered_second = delivered_rate(second.read_times(), window_start, window_end)
    latencies = [r[1] for r in records if window_start <= r[2] <= window_end]
    result = {
        "offered_rate": rate,
        "count": count,
        "offered_achieved": round((sent1 - sent0) / seconds, 1),
        "delivered": round(delivered, 1),
        "delivered_second_consumer": round(delivered_second, 1),
        "delivered_from_backlog": round((sent1 - sent0 - (sent1 - alerted1) + (sent0 - alerted0)) / seconds, 1),
        "backlog_start": sent0 - alerted0,
        "backlog_end": sent1 - alerted1,
        "p50_s": percentile(latencies, 0.50),
        "p99_s": percentile(latencies, 0.99),
        "drain_s": round(time.monotonic() - drain_started, 1),
        "drained": drained,
        "failures": monitor.timeline[-1][3] - failures0,
        "checkpoints": checkpoints(monitor.checkpoints, window_start, window_end),
        "usage": sampler.usage(window_start, window_end),
        "producer_log": producer.stderr.read()[-300:],
    }
    return result


def describe(result: dict) -> str:
    usage = ", ".join(f"{name} {u['cores']:.2f}" for name, u in result["usage"].items())
    p50, p99 = (f"{result[k]:.2f}" if result[k] is not None else "-" for k in ("p50_s", "p99_s"))
    return (
        f"{result['offered_rate']:5d} tx/s offered ({result['offered_achieved']:6.0f} reached Kafka): "
        f"{result['delivered']:6.0f} alerts/s ({result['delivered_second_consumer']:.0f} by the second consumer), "
        f"backlog {result['backlog_start']} -> {result['backlog_end']}, p50 {p50} s, p99 {p99} s, "
        f"drain {result['drain_s']} s, failures {result['failures']}, checkpoints {result['checkpoints']}; "
        f"cores: {usage}"
    )


def module_yaml_for(variant: Variant) -> pathlib.Path | None:
    if not variant.endpoint:
        return None
    documents = list(yaml.safe_load_all((ROOT / "statefun-runtime" / "module.yaml").read_text()))
    for document in documents:
        if document and document["kind"].startswith("io.statefun.endpoints"):
            document["spec"].update(variant.endpoint)
    path = BENCH / "out" / "module-variant.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def run_variant(name: str, args, environment: dict) -> dict:
    variant = VARIANTS[name]
    environment = dict(environment)
    if variant.workers:
        environment["WORKERS"] = variant.workers
    module = module_yaml_for(variant)
    launcher("down", "-v", environment=environment)
    t0 = time.monotonic()
    launcher("up", "--no-simulator", *launcher_options(variant, module), environment=environment)
    print(f"  up in {time.monotonic() - t0:.0f} s", flush=True)
    alerts = Alerts()
    alerts.start()
    second = SecondConsumer(BENCH / "out" / "second-consumer.txt")
    sampler = Sampler(program_pids())
    sampler.start()
    monitor = Monitor(alerts)
    monitor.start()
    steps = []
    try:
        for index, rate in enumerate(args.rates):
            steps.append(step(rate, args, args.seed + index, alerts, second, monitor, sampler))
            print("  " + describe(steps[-1]), flush=True)
            if not steps[-1]["drained"]:
                print("  (backlog not drained in time: no further steps)", flush=True)
                break
        time.sleep(2)
        ids = [r[3] for r in alerts.snapshot()]
        produced = monitor.sent()
    finally:
        alerts.running = sampler.running = monitor.running = False
        alerts.join(5)
        second.stop()
        launcher("down", "-v", environment=environment)
    return {
        "variant": name,
        "description": variant.description,
        "flink": variant.flink,
        "endpoint": variant.endpoint,
        "steps": steps,
        "checkpoints_failed": sum(c["status"] == "FAILED" for c in monitor.checkpoints.values()),
        "transactions": produced,
        "alerts": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "missing": produced - len(set(ids)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", nargs="+", default=["shipped"], choices=sorted(VARIANTS))
    parser.add_argument("--rates", type=int, nargs="+", default=[250, 500, 750, 1000, 1500, 3000])
    parser.add_argument("--warmup", type=float, default=15, help="seconds of each step before the window")
    parser.add_argument("--measure", type=float, default=60, help="seconds of the measured window")
    parser.add_argument("--max-drain", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--short", action="store_true", help="what CI affords: shipped, 250 and 1000 tx/s, 5+10 s")
    parser.add_argument("--name", default=None, help="results file bench/results/e2e-<name>.json")
    parser.add_argument("--list", action="store_true", help="list the variants")
    parser.add_argument("--count-alerts", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_alerts:
        return count_alerts(args.count_alerts)
    if args.list:
        for name, variant in VARIANTS.items():
            print(f"{name:22} {variant.description}")
        return
    if args.short:
        args.variants, args.rates, args.warmup, args.measure = ["shipped"], [250, 1000], 5, 10
    environment = {**os.environ, "FRAUD_THRESHOLD": "-1", "LOG_LEVEL": "WARNING"}
    environment.pop("WORKERS", None)
    name = args.name or ("short" if args.short else "-".join(args.variants))
    # The short run is CI's smoke test: its numbers are not kept.
    out = BENCH / ("out" if args.short else "results") / f"e2e-{name}.json"
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
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"cpus": os.cpu_count(), "warmup_s": args.warmup, "measure_s": args.measure, "variants": results}, indent=1
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
