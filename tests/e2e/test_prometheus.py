"""Metrics in the Docker-free workshop: Prometheus scrapes every process, and what python-worker
counts agrees with what the runtime counts (README, "Watch the pipeline")."""

import pathlib
import time
import urllib.parse
import urllib.request

import yaml

import kafka_topics
from entities_pb2 import Transaction
from expectations import ALERT_TIMEOUT, account, merchant_scoring, send_transaction
from local_workshop import ROOT, prometheus, rest, wait_for
from prometheus_text import samples

PYTHON_WORKER_METRICS = "http://127.0.0.1:8000/metrics"
FUNCTIONS = ("transaction-manager", "counter", "merchant", "threshold", "model")
# What one transaction costs in invocations, per function: the Transaction, the three answers
# and the FraudScore to its manager, one query each to counter, merchant and threshold, and
# the FeatureVector to the model. All but the Transaction are sent by functions.
INVOCATIONS_PER_TRANSACTION = {"transaction-manager": 5, "counter": 1, "merchant": 1, "threshold": 1, "model": 1}
SENT_BY_FUNCTIONS_PER_TRANSACTION = 8
METRICS_REFRESH_SECONDS = 10  # Flink's metrics.fetcher.update-interval, its default


def python_worker_samples() -> dict[tuple, float]:
    with urllib.request.urlopen(PYTHON_WORKER_METRICS, timeout=10) as response:
        return samples(response.read().decode())


def python_worker_invocations() -> dict[str, float]:
    """Per function, summed over python-worker's processes by its /metrics."""
    counts = python_worker_samples()
    name = "python_worker_invocation_seconds_count"
    return {f: counts.get((name, (("function", f"ververica/{f}"),)), 0.0) for f in FUNCTIONS}


def messages_sent_by_functions() -> float:
    """StateFun's own count of the messages the functions sent each other (Flink's REST API,
    outLocal per function type); a function's counters appear with its first message."""
    [job] = [job["id"] for job in rest("/jobs")["jobs"] if job["status"] == "RUNNING"]
    [functions] = [vertex["id"] for vertex in rest(f"/jobs/{job}")["vertices"] if "functions" in vertex["name"]]
    names = ",".join(f"0.functions.functions.ververica.{name}.outLocal" for name in FUNCTIONS)
    return sum(float(metric["value"]) for metric in rest(f"/jobs/{job}/vertices/{functions}/metrics?get={names}"))


def both_counts() -> tuple[dict[str, float], float]:
    return python_worker_invocations(), messages_sent_by_functions()


def steady(read, seconds: float = 3):
    """The value once it stopped changing for `seconds` (the runtime's metrics refresh every few)."""
    last = {"value": None, "since": 0.0}

    def unchanged():
        value = read()
        if value != last["value"]:
            last.update(value=value, since=time.monotonic())
            return None
        return [value] if time.monotonic() - last["since"] >= seconds else None  # [0] is truthy, 0 is not

    [settled] = wait_for("the counts to settle", unchanged, ALERT_TIMEOUT, interval=1)
    return settled


def test_python_worker_counts_every_invocation_the_runtime_made_over_all_its_processes(workshop, producer):
    # Flink's REST API refreshes a job's metrics every 10 s (metrics.fetcher.update-interval):
    # steady for longer than that, or a probe an earlier test left in flight counts twice.
    python_before, runtime_before = steady(both_counts, seconds=METRICS_REFRESH_SECONDS + 2)
    transactions = 40
    for n in range(transactions):
        transaction = Transaction(account=account("metrics"), merchant=merchant_scoring(0, 100), amount=10 + n)
        send_transaction(producer, account(f"metrics-{n}"), transaction)
    producer.flush()
    expected = {f: count * transactions for f, count in INVOCATIONS_PER_TRANSACTION.items()}
    seen = {}

    def counted():
        python, runtime = both_counts()
        seen.update(python={f: python[f] - python_before[f] for f in FUNCTIONS}, runtime=runtime - runtime_before)
        return seen == {"python": expected, "runtime": SENT_BY_FUNCTIONS_PER_TRANSACTION * transactions}

    try:
        wait_for("python-worker to count the invocations and the runtime their messages", counted, ALERT_TIMEOUT)
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; expected {expected}, last seen {seen}") from None


def test_a_poison_record_raises_the_dead_letter_counter_with_its_reason(workshop, producer):
    key = (
        "python_worker_dead_letters_total",
        (("function", "ververica/transaction-manager"), ("reason", "bad-message")),
    )
    before = steady(lambda: python_worker_samples().get(key, 0))  # other processes write once a second
    producer.send(kafka_topics.TRANSACTIONS, account("poison-metrics"), b"\x0a\xff\xff poison")
    producer.flush()
    wait_for("the dead letter counted", lambda: python_worker_samples().get(key, 0) == before + 1, ALERT_TIMEOUT)


def test_prometheus_scrapes_every_process_and_records_the_numbers_people_watch(workshop, producer):
    for n in range(20):  # something to count
        send_transaction(
            producer, account(f"watched-{n}"), Transaction(account=account("watched"), merchant="Uparc", amount=n)
        )
    producer.flush()

    def all_up():
        targets = prometheus("/api/v1/targets")["activeTargets"]
        return {(t["labels"]["job"], t["health"]) for t in targets} == {
            ("flink-master", "up"),
            ("flink-worker", "up"),
            ("python-worker", "up"),
            ("prometheus", "up"),
        }

    wait_for("every scrape target up", all_up, 60)
    rules = yaml.safe_load((ROOT / "prometheus" / "rules.yml").read_text())
    recorded = [rule["record"] for group in rules["groups"] for rule in group["rules"]]
    for name in recorded:
        wait_for(f"a value for {name}", lambda name=name: prometheus("/api/v1/query", query=name)["result"], 60)
    functions = {
        result["metric"]["function"]
        for result in prometheus("/api/v1/query", query="workshop:invocation_latency_ms:p99")["result"]
    }
    assert functions == {f"ververica/{name.replace('-', '_')}" for name in FUNCTIONS}
    assert (
        pathlib.Path(ROOT / ".local-run" / "conf" / "rules.yml").read_text()
        == (ROOT / "prometheus" / "rules.yml").read_text()
    )
