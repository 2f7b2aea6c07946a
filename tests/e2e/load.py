"""Steady traffic with a crash in the middle, and what must hold afterwards: the fault tests'
shared core (test_faults.py for each service, test_scale_out.py for one of two TaskManagers)."""

import threading
import time

import kafka_topics
from conftest import THRESHOLD
from entities_pb2 import ConfirmFraud, CustomThreshold, Transaction
from expectations import (
    ALERT_TIMEOUT,
    QUIET_SECONDS,
    account,
    alerted,
    merchant_scoring,
    score,
    send_transaction,
    settle_all,
)

LOAD_RATE = 200  # transactions per second
LOAD_SECONDS = 20
FAULT_AFTER_SECONDS = 7
RECOVERY_TIMEOUT = 300  # a lost TaskManager means a job restart from the last checkpoint


def produce_load(
    producer, tag: str, confirmations: dict, rate: int = LOAD_RATE, seconds: int = LOAD_SECONDS
) -> tuple[list, list]:
    """Steady traffic, with the confirmations spread over it; returns (sent, expected) ids."""
    merchants = [merchant_scoring(0, 20), merchant_scoring(40, 60), merchant_scoring(80, 100)]
    pending = [holder for holder, count in confirmations.items() for _ in range(count)]
    total = rate * seconds
    confirm_every = total // (len(pending) + 1)
    sent, expected = [], []
    started = time.monotonic()
    for number in range(total):
        ahead = started + number / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        transaction = Transaction(
            account=f"load{number % 50}-{tag}", merchant=merchants[number % 3], amount=(number * 37) % 3000
        )
        transaction_id = f"{tag}-load-{number}"
        send_transaction(producer, transaction_id, transaction)
        sent.append(transaction_id)
        if score(transaction) > THRESHOLD:
            expected.append(transaction_id)
        if pending and number % confirm_every == confirm_every - 1:
            holder = pending.pop()
            producer.send(kafka_topics.CONFIRMED, holder, ConfirmFraud(account=holder).SerializeToString())
    producer.flush()
    return sent, expected


def inflict(workshop, fault: str) -> None:
    if fault == "kafka-broker":
        workshop.restart("kafka-broker")
    else:
        workshop.kill_hard(fault)


def exactly_once_through_a_crash_under_load(workshop, producer, alerts, fault: str) -> None:
    """`fault` (a service) crashes under LOAD_RATE: every alert once, every fraud count exact."""
    tag = account(fault)
    # Accounts whose fraud count the test reads back: a custom threshold of 1 makes every
    # probe of theirs alert, and the score tells the count (20 points a fraud).
    confirmations = {f"counted{n}-{tag}": 1 + n % 3 for n in range(12)}
    make_countable(producer, confirmations)

    failures = workshop.failures()
    result = {}
    traffic = threading.Thread(
        target=lambda: result.update(zip(("sent", "expected"), produce_load(producer, tag, confirmations), strict=True))
    )
    traffic.start()
    time.sleep(FAULT_AFTER_SECONDS)
    inflict(workshop, fault)
    traffic.join()
    sent, expected = result["sent"], result["expected"]

    alerts.read_until(
        f"{len(expected)} alerts after the {fault} fault",
        lambda records: set(expected) <= set(alerted(records, f"{tag}-load-")),
        RECOVERY_TIMEOUT,
    )
    got = alerted(alerts.read_for(QUIET_SECONDS), f"{tag}-load-")
    missing, unexpected = set(expected) - set(got), set(got) - set(expected)
    print(
        f"\n{fault} crash: sent {len(sent)}, expected {len(expected)}, received {len(got)}, "
        f"duplicates {len(got) - len(set(got))}, missing {len(missing)}, unexpected {len(unexpected)}"
    )
    assert len(got) == len(set(got)) and not missing and not unexpected
    if fault.startswith("worker"):  # losing a TaskManager means a restart from the last checkpoint
        assert workshop.failures() > failures

    assert_fraud_counts(producer, alerts, confirmations)
    print(
        f"{fault} crash: fraud counts of {len(confirmations)} accounts equal the "
        f"{sum(confirmations.values())} confirmations sent"
    )


def make_countable(producer, holders) -> None:
    """A custom threshold of 1 for each account, so that assert_fraud_counts can read its count."""
    for holder in holders:
        producer.send(kafka_topics.THRESHOLDS, holder, CustomThreshold(account=holder, threshold=1).SerializeToString())


def assert_fraud_counts(producer, alerts, confirmations: dict, timeout: float = ALERT_TIMEOUT) -> None:
    """Each account's fraud count is its confirmations: the accounts' custom threshold of 1
    makes every probe alert, and the score tells the count (20 points a fraud)."""
    calm = merchant_scoring(4, 10)
    probe = {holder: Transaction(account=holder, merchant=calm, amount=0) for holder in confirmations}
    settle_all(
        producer,
        alerts,
        {holder: (probe[holder], score(probe[holder], fraud_count=count)) for holder, count in confirmations.items()},
        timeout,
    )
