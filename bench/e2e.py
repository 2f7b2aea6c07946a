"""End-to-end benchmark on the Docker-free runtime: Kafka -> StateFun/Flink -> python-worker -> Kafka.

    bench/.venv-fast/bin/python bench/e2e.py [--variants shipped hashmap ...] [--rates 250 500 1000 3000]
                                             [--warmup 15] [--measure 60] [--short] [--list]

For each variant (a set of flink-conf.yaml/module.yaml changes, or another python-worker; see
VARIANTS) it brings the whole topology up once (local/workshop.py up with the variant's options,
FRAUD_THRESHOLD=-1 so that every transaction alerts) and steps the offered load. A step is one
producer process (`e2e.py --produce RATE COUNT SEED`: simulator.py produce's traffic, from
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
"""

import argparse
import dataclasses
import fcntl
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import psutil
import yaml
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

BENCH = pathlib.Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "simulator"))
import kafka_topics  # noqa: E402
from entities_pb2 import Alert  # noqa: E402
from traffic import Traffic  # noqa: E402

PINNED = str(BENCH / ".venv-pinned" / "bin" / "python")  # protobuf 3.20.3, as the SDK pins it
FAST = str(BENCH / ".venv-fast" / "bin" / "python")  # the bench tools; runs the producers
WORKSHOP = str(ROOT / ".venv" / "bin" / "python")  # make setup's: the launcher, supervisord, python-worker
LOCK = "/tmp/workshop-topology.lock"
BOOTSTRAP = "127.0.0.1:9092"
FLINK_REST = "http://127.0.0.1:8001"
PROGRAMS = [
    "kafka-broker",
    "master",
    "worker",
    "worker-2",
    "python-worker",
    "merchant-service",
    "prometheus",
    "dashboard",
]
# What the bench itself runs, sampled apart from the pipeline's PROGRAMS.
LOAD_GENERATOR = ("producer", "bench", "second-consumer")
CONFIRM_EVERY = 100  # simulator.py produce's default: one confirmed fraud per 100 transactions


@dataclasses.dataclass
class Variant:
    """What differs from the workshop as shipped."""

    description: str
    flink: dict = dataclasses.field(default_factory=dict)  # flink-conf.yaml keys
    endpoint: dict = dataclasses.field(default_factory=dict)  # module.yaml's http endpoint spec keys
    ingress: dict = dataclasses.field(default_factory=dict)  # Kafka consumer properties of every ingress
    egress: dict = dataclasses.field(default_factory=dict)  # Kafka producer properties of the egress
    alert_delivery: str | None = None  # None: ALERT_DELIVERY as shipped (exactly-once)
    worker_python: str | None = None  # None: make setup's venv, as shipped
    workers: str | None = None  # None: WORKERS as shipped (auto)
    scale: tuple = ()  # more of local/workshop.py up's options: scale-out, --no-prometheus


# Flink 1.16's changelog state backend over the heap, its changes kept beside the checkpoints.
CHANGELOG = {
    "state.backend.changelog.enabled": "true",
    "state.backend.changelog.storage": "filesystem",
    "dstl.dfs.base-path": (ROOT / "checkpoint-dir" / "changelog").as_uri(),
}

VARIANTS = {
    "shipped": Variant("flink-conf.yaml, module.yaml and python-worker exactly as shipped"),
    # Shipped since 2026-12-03: checkpoints every 1 s (before: 10 s, the checkpoints-10s variant).
    "checkpoints-10s": Variant(
        "checkpoints every 10 s, as shipped until 2026-12-03", flink={"execution.checkpointing.interval": "10s"}
    ),
    "checkpoints-2s": Variant("checkpoints every 2 s", flink={"execution.checkpointing.interval": "2s"}),
    "checkpoints-1s": Variant("checkpoints every 1 s", flink={"execution.checkpointing.interval": "1s"}),
    "checkpoints-5s": Variant("checkpoints every 5 s", flink={"execution.checkpointing.interval": "5s"}),
    "checkpoints-500ms": Variant("checkpoints every 500 ms", flink={"execution.checkpointing.interval": "500ms"}),
    "checkpoints-1s-debloat": Variant(
        "checkpoints every 1 s, network buffer debloating on",
        flink={
            "execution.checkpointing.interval": "1s",
            "taskmanager.network.memory.buffer-debloat.enabled": "true",
        },
    ),
    "checkpoints-500ms-debloat": Variant(
        "checkpoints every 500 ms, network buffer debloating on",
        flink={
            "execution.checkpointing.interval": "500ms",
            "taskmanager.network.memory.buffer-debloat.enabled": "true",
        },
    ),
    # Less data in flight ahead of a checkpoint barrier (issue 23): above capacity the input
    # buffers are full, and a barrier waits behind every record in them.
    "segment-8kb": Variant(
        "network buffers of 8 KiB instead of 32 KiB", flink={"taskmanager.memory.segment-size": "8kb"}
    ),
    "fewer-buffers": Variant(
        "2 floating buffers per gate (8) and at most 2 per output channel (10)",
        flink={
            "taskmanager.network.memory.floating-buffers-per-gate": "2",
            "taskmanager.network.memory.max-buffers-per-channel": "2",
        },
    ),
    "debloat-200ms": Variant(
        "network buffer debloating on, aiming at 200 ms of data in flight (default 1 s)",
        flink={
            "taskmanager.network.memory.buffer-debloat.enabled": "true",
            "taskmanager.network.memory.buffer-debloat.target": "200ms",
        },
    ),
    "min-pause-500ms": Variant(
        "at least 500 ms between the end of a checkpoint and the start of the next",
        flink={"execution.checkpointing.min-pause": "500ms"},
    ),
    # Prometheus scraping every process every 5 s, and python-worker counting each invocation
    # (metrics.py) are shipped since 2026-12-03: this variant runs without the server.
    "no-prometheus": Variant("no Prometheus server (python-worker still counts)", scale=("--no-prometheus",)),
    # The workshop as it was before issue 24: no Prometheus server, Flink's reporter not started
    # (metrics.reporters names none of the configured ones) and python-worker's code from just
    # before metrics.py (bench/endpoint.py exports it).
    "before-metrics": Variant(
        "no metrics at all: no Prometheus, no Flink reporter, python-worker from before metrics.py",
        flink={"metrics.reporters": "none"},
        scale=("--no-prometheus", f"--functions={BENCH / 'out' / 'before-metrics' / 'statefun-functions'}"),
    ),
    "at-least-once": Variant(
        "the Kafka egress at-least-once (no Kafka transactions; alerts readable once written)",
        alert_delivery="at-least-once",
    ),
    # Shipped until 2026-12-03 (since then: the heap).
    "rocksdb": Variant(
        "state in RocksDB (incremental checkpoints, 40 % managed memory), as shipped until 2026-12-03",
        flink={
            "state.backend": "rocksdb",
            "state.backend.incremental": "true",
            "state.backend.rocksdb.timer-service.factory": "ROCKSDB",
            "taskmanager.memory.managed.fraction": "0.4",
        },
    ),
    # The runtime as issue 23 measured it "as shipped" (its 923/s at 900 offered): RocksDB,
    # checkpoints every 10 s, 256 calls in flight. Its capacity here is what the rate
    # targets are read against (the same fraction of this machine's capacity as of its).
    "as-filed": Variant(
        "the runtime settings issue 23 was filed against: RocksDB, 10 s checkpoints, 256 calls in flight",
        flink={
            "state.backend": "rocksdb",
            "state.backend.incremental": "true",
            "state.backend.rocksdb.timer-service.factory": "ROCKSDB",
            "taskmanager.memory.managed.fraction": "0.4",
            "execution.checkpointing.interval": "10s",
            "statefun.async.max-per-task": "256",
        },
    ),
    # Flink 1.16's changelog state backend over the heap: each checkpoint uploads the state
    # changes since the last one instead of a full copy of the heap (materialized every 10 min).
    "changelog": Variant(
        "the changelog state backend over the heap (incremental checkpoints of the heap's changes)",
        flink=CHANGELOG,
    ),
    # The changelog's checkpoints carry every change since the last materialization (every
    # 10 minutes by default), so they grew to 122 MB over 2d's 120 s run: materializing
    # every minute bounds them. Measured in five pairs against shipped (BENCHMARKS.md 2f): no
    # gain beyond the machine's spread between runs, so not kept.
    "changelog-materialize-1min": Variant(
        "the changelog state backend, the heap materialized every minute",
        flink={**CHANGELOG, "state.backend.changelog.periodic-materialize.interval": "1min"},
    ),
    "hashmap": Variant(
        "state on the heap (HashMapStateBackend) instead of RocksDB",
        flink={"state.backend": "hashmap", "state.backend.incremental": "false"},
    ),
    # The heap backend leaves Flink's managed memory (40 % of the TaskManager's, sized for
    # RocksDB) unused: this one gives it to the heap, where its state then lives.
    "hashmap-heap-memory": Variant(
        "state on the heap, managed memory (RocksDB's) given to the heap",
        flink={
            "state.backend": "hashmap",
            "state.backend.incremental": "false",
            "taskmanager.memory.managed.fraction": "0",
        },
    ),
    # Kafka batching. The egress's records become readable only when the checkpoint commits
    # its transaction, so waiting a few milliseconds to send them in larger batches costs a
    # reader nothing under exactly-once; the ingress's consumers fetch as soon as one byte is
    # there (Kafka's default), this one waits for a batch, at most 50 ms.
    "egress-linger-10ms": Variant(
        "the egress's producer batches for up to 10 ms (linger.ms 10 instead of 0)",
        egress={"linger.ms": "10"},
    ),
    "ingress-fetch-50ms": Variant(
        "the ingresses' consumers fetch 16 KiB or 50 ms at a time (fetch.min.bytes 16384, fetch.max.wait.ms 50)",
        ingress={"fetch.min.bytes": "16384", "fetch.max.wait.ms": "50"},
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
    "max-per-task-32": Variant(
        "statefun.async.max-per-task 32 instead of 256", flink={"statefun.async.max-per-task": "32"}
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


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class Sampler(threading.Thread):
    """Once a second: CPU (cores) and RSS (MB) of each program with its children.

    `processes` are the pipeline's programs (with their children); `extra` the load
    generator's processes (without children: this process's children are the producer and
    the second consumer, sampled on their own). "machine" is every core's busy time.
    """

    def __init__(self, pids: dict):
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.extra = {}
        self.samples = []
        self.running = True

    def totals(self):
        out = {}
        trees = {name: (process, True) for name, process in self.processes.items()}
        trees.update({name: (process, False) for name, process in dict(self.extra).items()})
        for name, (process, children) in trees.items():
            cpu = rss = 0.0
            try:
                tree = [process, *process.children(recursive=True)] if children else [process]
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
        out["machine"] = (machine_busy(), (psutil.virtual_memory().total - psutil.virtual_memory().available) / 2**20)
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
                        # A process first seen in this sample has no CPU delta yet.
                        if name in previous
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


def split_usage(usage: dict) -> dict:
    """Cores of the load generator's processes and of the pipeline's programs, apart and summed."""
    load = {name: u["cores"] for name, u in usage.items() if name in LOAD_GENERATOR}
    pipeline = {name: u["cores"] for name, u in usage.items() if name not in LOAD_GENERATOR and name != "machine"}
    return {
        "load_generator": {**load, "total": round(sum(load.values()), 3)},
        "pipeline": {**pipeline, "total": round(sum(pipeline.values()), 3)},
        "machine": usage.get("machine", {}).get("cores"),
    }


def alerts_consumer() -> Consumer:
    """A read_committed consumer of the alerts topic from its beginning, in a group of its own."""
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"e2e-bench-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
        }
    )
    consumer.subscribe([kafka_topics.ALERTS])
    return consumer


def records_of(messages) -> list:
    """The records among consume()'s messages; errors (the topic not there yet, ...) are reported, not fatal."""
    records = []
    for message in messages:
        if message.error():
            print(f"  alerts consumer: {message.error()}", file=sys.stderr, flush=True)
        else:
            records.append(message)
    return records


class Alerts(threading.Thread):
    """Every alert: (time read, produce->read latency in s, produce time, transaction id)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.records = []
        self.lock = threading.Lock()
        self.running = True
        self.consumer = alerts_consumer()

    def run(self):
        while self.running:
            records = records_of(self.consumer.consume(num_messages=10000, timeout=0.2))
            now = time.time()
            parsed = []
            for record in records:
                alert = Alert.FromString(record.value())
                produced = alert.transaction.timestamp.ToNanoseconds() / 1e9
                parsed.append((now, now - produced, produced, alert.transaction_id))
            if parsed:
                with self.lock:
                    self.records.extend(parsed)
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
        path.parent.mkdir(exist_ok=True)
        path.unlink(missing_ok=True)
        self.process = subprocess.Popen([FAST, __file__, "--count-alerts", str(path)], cwd=ROOT)

    def read_times(self) -> list[float]:
        if not self.path.exists():
            return []
        return [float(line.split()[0]) for line in self.path.read_text().splitlines() if line.strip()]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def stop_on_sigterm() -> None:
    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def count_alerts(path: pathlib.Path) -> None:
    stop_on_sigterm()
    consumer = alerts_consumer()
    try:
        with open(path, "a") as out:
            while True:
                records = records_of(consumer.consume(num_messages=10000, timeout=0.2))
                if records:
                    now = time.time()
                    out.write("".join(f"{now:.3f} {len(r.value())}\n" for r in records))
                    out.flush()
    finally:
        consumer.close()


def produce(rate: float, count: int, seed: int) -> None:
    """`e2e.py --produce RATE COUNT SEED`: simulator.py produce --threshold-every 0's traffic, on confluent-kafka.

    COUNT transactions (key: transaction id, value: Transaction stamped at produce time) at RATE
    a second, paced by the clock, and one confirmed fraud per CONFIRM_EVERY transactions, as
    simulator.py produce sends by default; no custom thresholds. Prints, as one JSON line on
    stdout, how many records Kafka acknowledged (acks=all) per topic, and any it refused.
    """
    stop_on_sigterm()
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5})
    traffic = Traffic(seed=seed, accounts=1000)
    acked = {kafka_topics.TRANSACTIONS: 0, kafka_topics.CONFIRMED: 0}
    sent = {kafka_topics.TRANSACTIONS: 0, kafka_topics.CONFIRMED: 0}
    refused: list[str] = []

    def delivered(error, message):
        if error is None:
            acked[message.topic()] += 1
        else:
            if len(refused) < 5:
                print(f"Kafka refused a record for {message.topic()}: {error}", file=sys.stderr, flush=True)
            refused.append(str(error))

    def send(topic: str, key: str, message) -> None:
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=message.SerializeToString(), on_delivery=delivered)
                break
            except BufferError:  # librdkafka's queue is full: let it drain
                producer.poll(0.05)
        sent[topic] += 1

    started = time.monotonic()
    behind_max = 0.0
    for index in range(count):
        # Pace by the clock, not by sleeps between records, so the rate holds.
        ahead = started + index / rate - time.monotonic()
        if ahead > 0.001:
            time.sleep(ahead)
        else:
            behind_max = max(behind_max, -ahead)
        transaction_id, transaction = traffic.transaction(time.time())
        send(kafka_topics.TRANSACTIONS, transaction_id, transaction)
        if CONFIRM_EVERY and (index + 1) % CONFIRM_EVERY == 0:
            confirmation = traffic.confirmation()
            send(kafka_topics.CONFIRMED, confirmation.account, confirmation)
        producer.poll(0)
    sending = time.monotonic() - started
    left = producer.flush(60)
    elapsed = time.monotonic() - started
    print(
        json.dumps(
            {
                "sent": sent,
                "acked": acked,
                "refused": len(refused),
                "unflushed": left,
                "sending_s": round(sending, 2),
                "elapsed_s": round(elapsed, 2),
                "rate_achieved": round(sent[kafka_topics.TRANSACTIONS] / max(sending, 1e-9), 1),
                "behind_max_s": round(behind_max, 3),
            }
        ),
        flush=True,
    )


class Monitor(threading.Thread):
    """Once a second: transactions in Kafka (end offset), alerts read, the job's failures."""

    def __init__(self, alerts: Alerts):
        super().__init__(daemon=True)
        self.alerts = alerts
        self.timeline = []  # (time, transactions sent, alerts read, job failures)
        self.checkpoints = {}  # id -> Flink's summary (its REST API keeps only the last 10)
        self.running = True
        self.job = running_job()
        self.ends = Consumer(
            {"bootstrap.servers": BOOTSTRAP, "group.id": f"e2e-bench-ends-{uuid.uuid4()}", "enable.auto.commit": False}
        )
        topic = self.ends.list_topics(kafka_topics.TRANSACTIONS, timeout=10).topics[kafka_topics.TRANSACTIONS]
        self.partitions = [TopicPartition(kafka_topics.TRANSACTIONS, p) for p in sorted(topic.partitions)]

    def sent(self) -> int:
        return sum(self.ends.get_watermark_offsets(p, timeout=5, cached=False)[1] for p in self.partitions)

    def failures(self) -> int:
        return len(rest(f"/jobs/{self.job}/exceptions")["exceptionHistory"]["entries"])

    def run(self):
        while self.running:
            try:
                self.timeline.append((time.time(), self.sent(), self.alerts.count(), self.failures()))
                for checkpoint in rest(f"/jobs/{self.job}/checkpoints").get("history", []):
                    self.checkpoints[checkpoint["id"]] = checkpoint
            except (KafkaException, OSError, ValueError) as problem:  # one missed sample, not a dead monitor
                print(f"  monitor: {problem!r}", file=sys.stderr, flush=True)
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
    log = BENCH / "out" / "producer.log"
    with open(log, "w") as stderr:
        producer = subprocess.Popen(
            [FAST, __file__, "--produce", str(rate), str(count), str(seed)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    sampler.extra["producer"] = psutil.Process(producer.pid)
    window_start = started + args.warmup
    while producer.poll() is None and time.time() < window_start + args.measure:
        time.sleep(0.2)
    window_end = min(time.time(), window_start + args.measure)
    report = producer.communicate()[0]
    produced_at = time.time()
    del sampler.extra["producer"]
    try:
        produced = json.loads(report.strip().splitlines()[-1])
    except (IndexError, ValueError):
        produced = {"error": f"no report (exit {producer.returncode}): {report[-300:]!r}"}

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
    usage = sampler.usage(window_start, window_end)
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
        "p90_s": percentile(latencies, 0.90),
        "p99_s": percentile(latencies, 0.99),
        "max_s": max(latencies) if latencies else None,
        "latency_samples": len(latencies),
        "drain_s": round(time.monotonic() - drain_started, 1),
        "drained": drained,
        "failures": monitor.timeline[-1][3] - failures0,
        "checkpoints": checkpoints(monitor.checkpoints, window_start, window_end),
        "usage": usage,
        "cores": split_usage(usage),
        "producer": produced,
        "producer_log": log.read_text()[-300:],
    }
    return result


def prime(args, monitor: "Monitor") -> dict:
    """An unmeasured first step at the first rate, drained before the measured ones: the first
    minute after `up` costs about 1.5x the CPU per transaction (JIT, connection pools, caches),
    and how much varies from start to start more than most levers do."""
    rate = args.rates[0]
    started = time.monotonic()
    producer = subprocess.run(
        [FAST, __file__, "--produce", str(rate), str(int(rate * args.prime)), str(args.seed - 1)],
        cwd=ROOT,
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


def seconds(value) -> str:
    return f"{value:.2f}" if value is not None else "-"


def describe(result: dict) -> str:
    cores = result["cores"]
    pipeline = ", ".join(f"{name} {c:.2f}" for name, c in cores["pipeline"].items())
    load = ", ".join(f"{name} {c:.2f}" for name, c in cores["load_generator"].items())
    machine = f"{cores['machine']:.2f}" if cores["machine"] is not None else "-"
    c = result["checkpoints"]
    checkpoint = (
        f"{c['completed']} checkpoints, median {c['duration_s_median']:.2f} s, max {c['duration_s_max']:.2f} s, "
        f"{c['last_full_size_mb']:.1f} MB"
        if c.get("completed")
        else "no checkpoint completed"
    )
    produced = result.get("producer", {})
    acked = produced.get("acked", {}).get(kafka_topics.TRANSACTIONS, "?")
    return (
        f"{result['offered_rate']:5d} tx/s offered ({result['offered_achieved']:6.0f} reached Kafka, "
        f"producer acked {acked}/{result['count']}): "
        f"{result['delivered']:6.0f} alerts/s ({result['delivered_second_consumer']:.0f} by the second consumer), "
        f"backlog {result['backlog_start']} -> {result['backlog_end']}, "
        f"latency p50 {seconds(result['p50_s'])} p90 {seconds(result['p90_s'])} p99 {seconds(result['p99_s'])} "
        f"max {seconds(result['max_s'])} s, drain {result['drain_s']} s, failures {result['failures']}, {checkpoint}\n"
        f"      pipeline cores: {pipeline}\n"
        f"      load generator cores: {load}; machine busy cores {machine} of {os.cpu_count()}"
    )


def module_yaml_for(variant: Variant) -> pathlib.Path | None:
    """module.yaml with the variant's endpoint keys and Kafka properties, or None when it has none."""
    if not (variant.endpoint or variant.ingress or variant.egress):
        return None
    documents = list(yaml.safe_load_all((ROOT / "statefun-runtime" / "module.yaml").read_text()))
    for document in documents:
        if not document:
            continue
        kind = document["kind"]
        if kind.startswith("io.statefun.endpoints"):
            document["spec"].update(variant.endpoint)
        elif kind.startswith("io.statefun.kafka.v1/ingress"):
            add_properties(document["spec"], variant.ingress)
        elif kind.startswith("io.statefun.kafka.v1/egress"):
            add_properties(document["spec"], variant.egress)
    path = BENCH / "out" / "module-variant.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def add_properties(spec: dict, properties: dict) -> None:
    """Kafka client properties, as module.yaml lists them: one mapping per property."""
    spec.setdefault("properties", []).extend({key: value} for key, value in properties.items())


def effective_runtime() -> dict:
    """What the runtime was started with: the rendered flink-conf.yaml (YAML: the launcher's
    appended keys win, as in Flink's parser) and module.yaml's egress delivery. "shipped"
    follows the working tree's files."""
    conf = ROOT / ".local-run" / "conf"
    flink = yaml.load((conf / "flink-conf.yaml").read_text(), Loader=yaml.BaseLoader)  # every value a string
    delivery = None
    for document in yaml.safe_load_all((conf / "module.yaml").read_text()):
        if document and document["kind"].startswith("io.statefun.kafka.v1/egress"):
            delivery = document["spec"].get("deliverySemantic")
    keys = (
        "execution.checkpointing.interval",
        "execution.checkpointing.min-pause",
        "execution.buffer-timeout",
        "taskmanager.memory.segment-size",
        "taskmanager.network.memory.floating-buffers-per-gate",
        "taskmanager.network.memory.max-buffers-per-channel",
        "taskmanager.network.memory.buffer-debloat.enabled",
        "state.backend",
        "taskmanager.memory.managed.fraction",
        "statefun.async.max-per-task",
        "parallelism.default",
        "pipeline.object-reuse",
    )
    return {"flink": {key: flink[key] for key in keys if key in flink}, "egress_delivery": delivery}


def run_variant(name: str, args, environment: dict) -> dict:
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
        second = SecondConsumer(BENCH / "out" / "second-consumer.txt")
        sampler = Sampler(program_pids())
        sampler.extra["bench"] = psutil.Process()
        sampler.extra["second-consumer"] = psutil.Process(second.process.pid)
        sampler.start()
        monitor = Monitor(alerts)
        monitor.start()
        primed = prime(args, monitor) if args.prime else None
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
        "checkpoints_failed": sum(c["status"] == "FAILED" for c in monitor.checkpoints.values()),
        "transactions": produced,
        "alerts": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "missing": produced - len(set(ids)),
    }


def main() -> None:
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
    parser.add_argument("--count-alerts", type=pathlib.Path, help=argparse.SUPPRESS)
    parser.add_argument("--produce", nargs=3, metavar=("RATE", "COUNT", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_alerts:
        return count_alerts(args.count_alerts)
    if args.produce:
        rate, count, seed = args.produce
        return produce(float(rate), int(count), int(seed))
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
            # Written after every variant: a run cut short keeps what it measured.
            write_results(out, args, results)
    write_results(out, args, results)
    print(f"wrote {out}")


def write_results(out: pathlib.Path, args, results: list) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "cpus": os.cpu_count(),
                "warmup_s": args.warmup,
                "measure_s": args.measure,
                "kafka_client": "confluent-kafka " + confluent_kafka_version(),
                "variants": results,
            },
            indent=1,
        )
    )


def confluent_kafka_version() -> str:
    import confluent_kafka

    return f"{confluent_kafka.version()[0]} (librdkafka {confluent_kafka.libversion()[0]})"


if __name__ == "__main__":
    main()
