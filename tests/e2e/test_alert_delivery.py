"""ALERT_DELIVERY=at-least-once on the real runtime: alerts are written outside Kafka
transactions, a crash can repeat them and never loses one, and the simulator prints each once.

The default (exactly-once) is what every other e2e test runs with.
"""

import os
import subprocess
import sys
import threading
import time

import pytest
from kafka import KafkaConsumer, TopicPartition

import kafka_topics
from entities_pb2 import Alert, Transaction
from expectations import ALERT_TIMEOUT, QUIET_SECONDS, account, alerted, merchant_scoring, send_transaction
from load import assert_fraud_counts, make_countable, produce_load
from local_workshop import BOOTSTRAP, ROOT, LocalWorkshop, wait_for

pytestmark = pytest.mark.faults

RESTART_PYTHON_WORKER_AFTER = 4  # seconds into the traffic
KILL_TASKMANAGER_AFTER = 10
RECOVERY_TIMEOUT = 300  # a lost TaskManager means a job restart from the last checkpoint


@pytest.fixture(scope="module")
def at_least_once(workshop):
    """The workshop with ALERT_DELIVERY=at-least-once on fresh topics; afterwards, as shipped again."""
    workshop.down(volumes=True)  # an empty alerts topic: its offsets then show how it was written
    local = LocalWorkshop({**workshop.environment, "ALERT_DELIVERY": "at-least-once"})
    try:
        local.up()
        yield local
    finally:
        local.down(volumes=True)
        workshop.up()


class AlertPrinter:
    """`simulator.py alerts`, as users run it, with its printed lines collected."""

    def __init__(self, group: str):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "simulator.py", "alerts", "--group", group],
            cwd=ROOT / "simulator",
            env={**os.environ, "KAFKA_BOOTSTRAP": BOOTSTRAP},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def printed(self, *texts: str) -> list[str]:
        """The lines printed so far that contain every one of `texts`."""
        return [line for line in list(self.lines) if all(text in line for text in texts)]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def wait_until_printing(printer: AlertPrinter, producer, tag: str) -> None:
    """The printer starts at the end of the topic: send alerting transactions (each a new id)
    until it prints one, so that it reads everything after."""
    risky = Transaction(account=f"ready-{tag}", merchant=merchant_scoring(95, 100), amount=4000)
    attempts = iter(range(1_000))

    def printing() -> bool:
        if printer.printed(f"ready-{tag}"):
            return True
        send_transaction(producer, f"ready-{next(attempts)}-{tag}", risky)
        producer.flush()
        return False

    wait_for("the simulator's alert printer to print an alert", printing, timeout=120, interval=2)


def test_the_running_job_writes_alerts_outside_kafka_transactions(at_least_once, producer, alerts):
    """A transactional producer leaves a commit marker after each transaction, and markers
    take offsets; written at-least-once, the alerts sit at offsets 0, 1, 2, ... with none between."""
    risky = Transaction(account=account("untransacted"), merchant=merchant_scoring(95, 100), amount=4000)
    ids = [account(f"untransacted-{n}") for n in range(5)]
    for transaction_id in ids:
        send_transaction(producer, transaction_id, risky)
    producer.flush()
    records = alerts.read_until("5 alerts", lambda rs: set(ids) <= set(alerted(rs, "untransacted-")), 120)
    ends = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    [end] = ends.end_offsets([TopicPartition(kafka_topics.ALERTS, 0)]).values()
    ends.close()
    offsets = [record.offset for record in records]
    print(f"\nat-least-once: {len(records)} alerts at offsets {offsets}, end offset {end}")
    assert offsets == list(range(len(records))) and end == len(records), "transaction markers among the alerts"
    assert "type: at-least-once  # ALERT_DELIVERY" in (ROOT / ".local-run" / "conf" / "module.yaml").read_text()


def test_a_taskmanager_crash_and_a_python_worker_restart_lose_no_alert_and_the_simulator_prints_each_once(
    at_least_once, producer, alerts
):
    tag = account("at-least-once")
    printer = AlertPrinter(group=f"printer-{tag}")
    try:
        wait_until_printing(printer, producer, tag)
        confirmations = {f"counted{n}-{tag}": 1 + n % 3 for n in range(12)}
        make_countable(producer, confirmations)
        failures = at_least_once.failures()
        result = {}
        traffic = threading.Thread(
            target=lambda: result.update(
                zip(("sent", "expected"), produce_load(producer, tag, confirmations), strict=True)
            )
        )
        traffic.start()
        time.sleep(RESTART_PYTHON_WORKER_AFTER)
        at_least_once.restart("python-worker")
        time.sleep(KILL_TASKMANAGER_AFTER - RESTART_PYTHON_WORKER_AFTER)
        at_least_once.kill_hard("worker")
        traffic.join()
        expected = set(result["expected"])

        alerts.read_until(
            f"{len(expected)} alerts after the faults",
            lambda records: expected <= set(alerted(records, f"{tag}-load-")),
            RECOVERY_TIMEOUT,
        )
        records = [r for r in alerts.read_for(QUIET_SECONDS) if r.key.decode().endswith(tag)]
        got = alerted(records, f"{tag}-load-")
        wait_for(
            "the simulator to print every alert",
            lambda: len(printer.printed(" id load", f"-{tag} at")) >= len(expected),
            timeout=60,
        )
        lines = printer.printed(" id load", f"-{tag} at")  # the load's accounts: load<n>-<tag>
        repeats = len(got) - len(set(got))
        print(
            f"\nat-least-once through a python-worker restart and a TaskManager kill: sent {len(result['sent'])}, "
            f"expected {len(expected)}, alerts {len(got)} ({repeats} repeats), simulator printed {len(lines)}"
        )
        assert expected <= set(got), f"{len(expected - set(got))} transactions without an alert"
        assert set(got) <= expected, "an alert for a transaction that must not alert"
        assert len(lines) == len(expected), "the simulator printed a repeated alert (or missed one)"
        # A repeat is the alert already written, for the same transaction: here the same
        # decision too (the load's accounts have no confirmed frauds, merchant scores never fail).
        decisions = {(alert.transaction_id, alert.score) for alert in map(Alert.FromString, (r.value for r in records))}
        assert len(decisions) == len({transaction_id for transaction_id, _ in decisions})
        assert at_least_once.failures() > failures  # the lost TaskManager restarted the job
        assert_fraud_counts(producer, alerts, confirmations, ALERT_TIMEOUT)  # state stays exactly once
    finally:
        printer.stop()
