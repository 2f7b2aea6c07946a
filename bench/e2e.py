"""End-to-end benchmark on the Docker-free runtime: Kafka -> StateFun/Flink -> python-worker -> Kafka.

    bench/.venv-fast/bin/python bench/e2e.py [--intervals 10s 2s 500ms] [--rates 100 250 500 1000 2000]
                                             [--step-seconds 15] [--worker fast|pinned] [--short]

For each checkpoint interval it brings the whole topology up (bench/launch.py: local/workshop.py
with that interval, FRAUD_THRESHOLD=-1 so that every transaction alerts), then steps the
offered load: `simulator.py produce --count rate*step --rate rate --seed s` (its own process),
waits until every alert of the step is read back with isolation.level=read_committed, and
records: sustained throughput (alerts / (last alert - first send)), produce->alert latency
(Alert.transaction.timestamp is set at produce time) p50/p99, duplicates and missing alerts
(exactly-once), CPU (cores) and RSS of every process. Then `down -v`.

It holds /tmp/workshop-topology.lock for the whole run (others use the same ports). Results:
bench/results/e2e-<worker>.json.
"""

import argparse
import fcntl
import json
import os
import pathlib
import statistics
import subprocess
import sys
import threading
import time

import psutil
from kafka import KafkaConsumer

BENCH = pathlib.Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "simulator"))
from entities_pb2 import Alert  # noqa: E402

PINNED = str(BENCH / ".venv-pinned" / "bin" / "python")  # protobuf 3.20.3, as the SDK pins it
FAST = str(BENCH / ".venv-fast" / "bin" / "python")
WORKSHOP = str(ROOT / ".venv" / "bin" / "python")  # make setup's: runs the launcher and supervisord
LOCK = "/tmp/workshop-topology.lock"
BOOTSTRAP = "127.0.0.1:9092"
PROGRAMS = ["kafka-broker", "master", "worker", "python-worker", "merchant-service"]


def launcher(*args, environment, timeout=600) -> None:
    result = subprocess.run([WORKSHOP, str(BENCH / "launch.py"), *args], env=environment, cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"launch.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def program_pids() -> dict:
    pids = {}
    conf = ROOT / ".local-run" / "supervisord.conf"
    for name in PROGRAMS:
        out = subprocess.run([WORKSHOP, "-m", "supervisor.supervisorctl", "-c", str(conf), "pid", name],
                             capture_output=True, text=True).stdout.strip()
        if out.isdigit() and out != "0":
            pids[name] = int(out)
    return pids


class Sampler(threading.Thread):
    """CPU (cores) and RSS (MB) of each program (with its children), every second."""

    def __init__(self, pids: dict):
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.extra = {}
        self.samples = []
        self.running = True

    def tree(self, process):
        try:
            return [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def totals(self):
        out = {}
        for name, process in {**self.processes, **self.extra}.items():
            cpu = rss = 0.0
            for p in self.tree(process):
                try:
                    times = p.cpu_times()
                    cpu += times.user + times.system + getattr(times, "children_user", 0) * 0
                    rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            out[name] = (cpu, rss / 2 ** 20)
        return out

    def run(self):
        previous, then = self.totals(), time.monotonic()
        while self.running:
            time.sleep(1)
            now, current = time.monotonic(), self.totals()
            self.samples.append({"t": time.time(), **{name: {"cores": (current[name][0] - previous.get(name, (current[name][0],))[0]) / (now - then),
                                                             "rss_mb": current[name][1]} for name in current}})
            previous, then = current, now


class Alerts(threading.Thread):
    """Every alert: (time read, produce->read latency in s, transaction id)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.records = []
        self.lock = threading.Lock()
        self.running = True
        self.consumer = KafkaConsumer("alerts", bootstrap_servers=BOOTSTRAP, isolation_level="read_committed",
                                      auto_offset_reset="earliest", group_id=None, fetch_max_wait_ms=50)

    def run(self):
        while self.running:
            for records in self.consumer.poll(timeout_ms=200).values():
                now = time.time()
                for record in records:
                    alert = Alert.FromString(record.value)
                    produced = alert.transaction.timestamp.ToNanoseconds() / 1e9
                    with self.lock:
                        self.records.append((now, now - produced, alert.transaction_id))
        self.consumer.close()

    def count(self):
        with self.lock:
            return len(self.records)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


def step(rate: int, seconds: float, seed: int, alerts: Alerts, sampler: Sampler, expected_before: int,
         drain_timeout: float) -> dict:
    count = int(rate * seconds)
    first_alert = alerts.count()
    samples_from = len(sampler.samples)
    started = time.time()
    producer = subprocess.Popen([FAST, str(ROOT / "simulator" / "simulator.py"), "produce", "--count", str(count),
                                 "--rate", str(rate), "--seed", str(seed), "--threshold-every", "0"],
                                cwd=ROOT / "simulator", env={**os.environ, "KAFKA_BOOTSTRAP": BOOTSTRAP},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler.extra["simulator (producer)"] = psutil.Process(producer.pid)
    producer.wait()
    produced_at = time.time()
    del sampler.extra["simulator (producer)"]
    deadline = time.monotonic() + drain_timeout
    while alerts.count() < expected_before + count and time.monotonic() < deadline:
        time.sleep(0.2)
    with alerts.lock:
        mine = alerts.records[first_alert:]
    received = len(mine)
    last = max((r[0] for r in mine), default=produced_at)
    latencies = [r[1] for r in mine]
    window = sampler.samples[samples_from:]
    usage = {}
    for name in window[0] if window else {}:
        if name == "t":
            continue
        usage[name] = {"cores": statistics.mean(s[name]["cores"] for s in window if name in s),
                       "rss_mb_max": max(s[name]["rss_mb"] for s in window if name in s)}
    return {"offered_rate": rate, "count": count, "produce_seconds": produced_at - started,
            "achieved_offered_rate": count / (produced_at - started),
            "alerts": received, "missing": expected_before + count - alerts.count(),
            "throughput": received / max(last - started, 1e-9),
            "p50_s": percentile(latencies, 0.50), "p99_s": percentile(latencies, 0.99),
            "max_s": max(latencies, default=None), "usage": usage,
            "producer_log": producer.stderr.read()[-300:]}


def run_interval(interval: str, args, environment) -> dict:
    environment = {**environment, "BENCH_CHECKPOINT_INTERVAL": interval}
    launcher("down", "-v", environment=environment)
    t0 = time.monotonic()
    launcher("up", "--no-simulator", environment=environment)
    up_seconds = time.monotonic() - t0
    alerts = Alerts()
    alerts.start()
    sampler = Sampler(program_pids())
    sampler.start()
    steps = []
    try:
        time.sleep(3)
        for index, rate in enumerate(args.rates):
            result = step(rate, args.step_seconds, args.seed + index, alerts, sampler,
                          expected_before=alerts.count(), drain_timeout=args.drain_seconds)
            steps.append(result)
            print(f"  {interval:>6} {rate:5d} tx/s offered ({result['achieved_offered_rate']:6.0f} sent): "
                  f"{result['throughput']:6.0f} alerts/s, p50 {result['p50_s']} s, p99 {result['p99_s']} s, "
                  f"missing {result['missing']}, cpu "
                  + ", ".join(f"{n} {u['cores']:.2f}" for n, u in result["usage"].items()), flush=True)
            if result["missing"] > 0:
                print("  (not drained: stopping the steps of this interval)", flush=True)
                break
        time.sleep(1)
        with alerts.lock:
            ids = [r[2] for r in alerts.records]
    finally:
        alerts.running = sampler.running = False
        alerts.join(5)
        launcher("down", "-v", environment=environment)
    return {"interval": interval, "up_seconds": up_seconds, "steps": steps,
            "alerts_total": len(ids), "duplicates": len(ids) - len(set(ids)),
            "produced_total": sum(s["count"] for s in steps)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intervals", nargs="+", default=["10s", "2s", "500ms"])
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 250, 500, 1000, 2000])
    parser.add_argument("--step-seconds", type=float, default=15)
    parser.add_argument("--drain-seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--worker", choices=["fast", "pinned"], default="fast",
                        help="fast: protobuf upb, WORKERS=2; pinned: the SDK as pinned, WORKERS=1")
    parser.add_argument("--workers", default=None, help="override WORKERS")
    parser.add_argument("--short", action="store_true", help="one interval (2s), 250 and 1000 tx/s, 5 s steps")
    parser.add_argument("--out", type=pathlib.Path, default=None)
    args = parser.parse_args()
    if args.short:
        args.intervals, args.rates, args.step_seconds = ["2s"], [250, 1000], 5
    environment = {**os.environ, "FRAUD_THRESHOLD": "-1", "LOG_LEVEL": "WARNING",
                   "WORKERS": args.workers or ("2" if args.worker == "fast" else "1")}
    environment["BENCH_WORKER_PYTHON"] = FAST if args.worker == "fast" else PINNED
    out = args.out or BENCH / "results" / f"e2e-{args.worker}{'-short' if args.short else ''}.json"
    results = []
    with open(LOCK, "w") as lock:
        print(f"waiting for {LOCK} ...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        for interval in args.intervals:
            print(f"checkpoint interval {interval}, worker {args.worker} (WORKERS={environment['WORKERS']}), "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
            results.append(run_interval(interval, args, environment))
            print(f"  exactly-once: {results[-1]['alerts_total']} alerts for {results[-1]['produced_total']} "
                  f"transactions, {results[-1]['duplicates']} duplicates", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"worker": args.worker, "workers": environment["WORKERS"], "cpus": os.cpu_count(),
                               "step_seconds": args.step_seconds, "intervals": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
