"""What the end-to-end tests expect, and how they wait for it.

The model is deterministic and the merchant-score service's scores are a fixed
function of the merchant's name, so each test knows exactly which of its
transactions must alert, and with which score.
"""

import itertools
import secrets
import time

import kafka_topics
from entities_pb2 import Alert, ConfirmFraud, CustomThreshold, FeatureVector, Transaction
from main import fraud_score
from merchant_service import merchant_score

RUN = secrets.token_hex(3)  # in every id and account, so that runs never mix
PROBE_NUMBERS = itertools.count()  # a probe's id is never used twice, even for the same account
ALERT_TIMEOUT = 120  # alerts appear when the checkpoint after them completes (every second), or a restart's later
QUIET_SECONDS = 15  # long enough for one more checkpoint: nothing else may appear


def merchant_scoring(low: int, high: int) -> str:
    """A merchant name whose merchant-service score is within [low, high]."""
    return next(name for name in (f"Shop{n}" for n in range(10_000)) if low <= merchant_score(name) <= high)


def account(name: str) -> str:
    return f"{name}-{RUN}"


def score(transaction: Transaction, fraud_count: int = 0) -> int:
    return fraud_score(
        FeatureVector(
            fraud_count=fraud_count, merchant_score=merchant_score(transaction.merchant), amount=transaction.amount
        )
    )


def alerted(records, prefix: str) -> list[str]:
    """The transaction ids of the alerts among `records` whose id starts with `prefix`."""
    ids = (Alert.FromString(record.value).transaction_id for record in records)
    return [transaction_id for transaction_id in ids if transaction_id.startswith(prefix)]


def send_transaction(producer, transaction_id: str, transaction: Transaction) -> None:
    producer.send(kafka_topics.TRANSACTIONS, transaction_id, transaction.SerializeToString())


def settle(producer, alerts, name: str, transaction: Transaction, expected_score: int) -> None:
    settle_all(producer, alerts, {name: (transaction, expected_score)})


def settle_all(producer, alerts, probes: dict, timeout: float = ALERT_TIMEOUT) -> None:
    """Wait until the runtime applied earlier confirmations or thresholds, by probing.

    `probes` maps a name to a transaction and the score it gets once its account's state
    is what the test set up; each is sent again every few seconds until an alert with
    that score appears. At the deadline the failure names the scores seen instead.
    """
    sent: dict[str, str] = {}  # probe transaction id -> name
    last_sent: dict[str, float] = {}
    settled: set[str] = set()

    def all_settled(records):
        for record in records:
            alert = Alert.FromString(record.value)
            name = sent.get(alert.transaction_id)
            if name is not None and alert.score == probes[name][1]:
                settled.add(name)
        for name, (transaction, _) in probes.items():
            if name not in settled and time.monotonic() - last_sent.get(name, 0) > 5:
                probe_id = f"probe-{name}-{next(PROBE_NUMBERS)}-{RUN}"
                sent[probe_id] = name
                last_sent[name] = time.monotonic()
                send_transaction(producer, probe_id, transaction)
        producer.flush()
        return settled == set(probes)

    try:
        alerts.read_until(f"{len(probes)} probes to alert with their expected scores", all_settled, timeout)
    except AssertionError:
        seen = {}
        for record in alerts.records:
            alert = Alert.FromString(record.value)
            if alert.transaction_id in sent:
                seen.setdefault(sent[alert.transaction_id], []).append(alert.score)
        unsettled = {
            name: f"expected {probes[name][1]}, saw {seen.get(name, 'no alert')}"
            for name in probes
            if name not in settled
        }
        raise AssertionError(f"probes never got their expected scores: {unsettled}") from None


# Alerts from the first confirmed fraud on (20 points each, plus 30-40 for the merchant).
RISKY = merchant_scoring(60, 80)
# 15-20 points: alerts only under a custom threshold below that.
CALM = merchant_scoring(30, 40)


def confirm(producer, holder: str) -> None:
    producer.send(kafka_topics.CONFIRMED, holder, ConfirmFraud(account=holder).SerializeToString())


def set_threshold(producer, holder: str, threshold: int) -> None:
    producer.send(
        kafka_topics.THRESHOLDS, holder, CustomThreshold(account=holder, threshold=threshold).SerializeToString()
    )


def expect(producer, alerts, stage: str, frauds: dict[str, int], custom_thresholds: list[str]) -> None:
    """Probe each account until it scores as its fraud count, or its custom threshold, says.

    `stage` keeps each stage's probe transaction ids apart from the others': they begin
    with probe-<stage>-.
    """
    probes = {}
    for holder, count in frauds.items():
        probe = Transaction(account=holder, merchant=RISKY, amount=0)
        probes[f"{stage}-{holder}-{count}"] = (probe, score(probe, fraud_count=count))
    for holder in custom_thresholds:
        probe = Transaction(account=holder, merchant=CALM, amount=0)
        probes[f"{stage}-{holder}-threshold"] = (probe, score(probe))
    producer.flush()
    settle_all(producer, alerts, probes)
