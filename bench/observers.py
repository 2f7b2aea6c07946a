"""What bench/e2e.py watches while a variant runs: three threads of its own process and the
second consumer's process. They only record; stats.py computes the results from the records.

- Sampler: once a second, CPU and RSS of each program and of the load generator, and the machine's;
- Alerts: every alert read (read_committed), with its produce -> read latency;
- Monitor: once a second, transactions in Kafka, alerts read, the job's failures, its checkpoints;
- SecondConsumer: the same alerts read by another process (loadgen.py count-alerts).
"""

import pathlib
import subprocess
import sys
import threading
import time
import uuid

import psutil
import stats
from confluent_kafka import Consumer, KafkaException, TopicPartition
from loadgen import BOOTSTRAP, alerts_consumer, records_of
from topology import load_command, rest, wait_for_job

import kafka_topics
from entities_pb2 import Alert
from layout import REPO


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
            self.samples.append({"t": time.time(), **stats.cores_sample(previous, current, now - then)})
            previous, then = current, now

    def usage(self, start: float, end: float) -> dict:
        return stats.usage(self.samples, start, end)


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
    """The same alerts counted by another process with its own Kafka client: `loadgen.py count-alerts FILE`."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        path.parent.mkdir(exist_ok=True)
        path.unlink(missing_ok=True)
        self.process = subprocess.Popen(load_command("count-alerts", path), cwd=REPO)

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


class Monitor(threading.Thread):
    """Once a second: transactions in Kafka (end offset), alerts read, the job's failures."""

    def __init__(self, alerts: Alerts):
        super().__init__(daemon=True)
        self.alerts = alerts
        self.timeline = []  # (time, transactions sent, alerts read, job failures)
        self.checkpoints = {}  # id -> Flink's summary (its REST API keeps only the last 10)
        self.running = True
        self.job = wait_for_job()
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
        return stats.closest(self.timeline, moment)

    def backlog(self) -> int:
        _, sent, alerted, _ = self.timeline[-1]
        return sent - alerted
