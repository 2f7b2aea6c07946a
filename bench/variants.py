"""The catalogue of bench/e2e.py's variants: what each changes from the workshop as shipped.

Data only: topology.py turns a variant into local/workshop.py up's options, a module.yaml and
python-worker's environment. Variants that were measured and not kept stay listed, so that
BENCHMARKS.md's runs can be repeated (`bench/e2e.py --list`).
"""

import dataclasses

from folders import BENCH, OUT

from layout import CHECKPOINT_DIR

PINNED = str(BENCH / ".venv-pinned" / "bin" / "python")  # protobuf 3.20.3, as the SDK pins it


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
    "dstl.dfs.base-path": (CHECKPOINT_DIR / "changelog").as_uri(),
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
        scale=("--no-prometheus", f"--functions={OUT / 'before-metrics' / 'statefun-functions'}"),
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
