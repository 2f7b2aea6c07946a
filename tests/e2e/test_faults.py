"""The promises of docs/guarantees.md, proven on the real runtime under faults.

Run alone with `make test-faults`. Each test prints its counts.
"""

import pathlib
import threading
import time

import pytest
import yaml
from kafka.errors import KafkaError

import kafka_topics
from entities_pb2 import ConfirmFraud, CustomThreshold, DeadLetter, Transaction
from expectations import QUIET_SECONDS, account, alerted, merchant_scoring, score, send_transaction, settle, settle_all
from load import assert_fraud_counts, exactly_once_through_a_crash_under_load, produce_load
from local_workshop import ROOT, TopicReader, transactions_lag

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("fault", ["python-worker", "worker", "kafka-broker"])
def test_alerts_and_counts_are_exactly_once_through_a_crash_under_load(workshop, producer, alerts, fault):
    exactly_once_through_a_crash_under_load(workshop, producer, alerts, fault)


def test_the_same_transaction_record_twice_alerts_once(workshop, producer, alerts):
    risky = Transaction(account=account("doubled"), merchant=merchant_scoring(95, 100), amount=4000)
    at_once, later = account("doubled-at-once"), account("doubled-later")
    for transaction_id in (at_once, later):
        send_transaction(producer, transaction_id, risky)
        send_transaction(producer, transaction_id, risky)  # a producer's retry: same key, same value
    producer.flush()
    alerts.read_until("the first alerts", lambda rs: len(set(alerted(rs, "doubled-"))) == 2, 120)
    send_transaction(producer, later, risky)  # once more, after it was scored
    producer.flush()

    got = alerted(alerts.read_for(QUIET_SECONDS), "doubled-")
    print(f"\nduplicates on input: sent 5 records of 2 transactions, alerts {len(got)}")
    assert sorted(got) == sorted([at_once, later])


POISON = {
    "malformed": b"\x0a\xff\xff\xff\x0f not protobuf",
    "wrong-type": b"",  # filled in per topic below
    "empty": b"",
    "oversized": b"\xff" * 1_000_000,  # just under Kafka's 1 MiB default
    "tombstone": None,  # no value at all: StateFun's ingress alone would fail the job on it
}


def wrong_type_for(topic: str) -> bytes:
    """A well-formed record of another topic's message type."""
    if topic == kafka_topics.CONFIRMED:
        return Transaction(account="x", merchant="y", amount=1).SerializeToString()
    return ConfirmFraud(account="x").SerializeToString()


def test_poison_records_are_dead_lettered_and_the_pipeline_keeps_flowing(workshop, producer, alerts):
    tag = account("poison")
    failures = workshop.failures()
    # State that poison must not touch: one fraud for this account, a custom threshold for that.
    counted, strict = f"poison-counted-{tag}", f"poison-strict-{tag}"
    producer.send(kafka_topics.CONFIRMED, counted, ConfirmFraud(account=counted).SerializeToString())
    producer.send(kafka_topics.THRESHOLDS, strict, CustomThreshold(account=strict, threshold=10).SerializeToString())

    expected_letters = {}
    for topic, holder in (
        (kafka_topics.TRANSACTIONS, f"poison-tx-{tag}"),
        (kafka_topics.CONFIRMED, counted),
        (kafka_topics.THRESHOLDS, strict),
    ):
        for kind, value in POISON.items():
            value = wrong_type_for(topic) if kind == "wrong-type" else value
            key = holder if topic != kafka_topics.TRANSACTIONS else f"{holder}-{kind}"
            producer.send(topic, key, value)
            expected_letters.setdefault(key, []).append(value or b"")  # a tombstone arrives empty
    producer.flush()

    refused = 0
    for topic in (kafka_topics.TRANSACTIONS, kafka_topics.CONFIRMED, kafka_topics.THRESHOLDS):
        with pytest.raises(KafkaError) as no_key:  # the topics' settings refuse keyless records
            producer.send_and_wait(topic, None, POISON["malformed"])
        refused += 1
        assert "without key" in str(no_key.value).lower() or "InvalidRecord" in type(no_key.value).__name__
        with pytest.raises(KafkaError):  # and anything over Kafka's record size limit
            producer.send_and_wait(topic, f"too-large-{tag}", b"\0" * (2 * 1024 * 1024))
        refused += 1

    dead_letters = TopicReader(kafka_topics.DEAD_LETTERS)
    total = sum(len(values) for values in expected_letters.values())

    def ours(records):
        return [r for r in records if r.key.decode(errors="replace") in expected_letters]

    records = dead_letters.read_until(f"{total} dead letters", lambda rs: len(ours(rs)) >= total, 120)
    letters = [(r.key.decode(), DeadLetter.FromString(r.value)) for r in ours(records)]
    dead_letters.close()
    print(
        f"\npoison: tried {total + refused} bad records, {refused} refused by Kafka at the producer, "
        f"{len(letters)} dead-lettered"
    )
    assert len(letters) == total
    for key, letter in letters:
        assert letter.reason and letter.payload in expected_letters[key]

    # The pipeline flows and the state is intact: the fraud still counts, the threshold still holds.
    calm = merchant_scoring(30, 40)
    counted_probe = Transaction(account=counted, merchant=calm, amount=200)
    strict_probe = Transaction(account=strict, merchant=calm, amount=0)
    settle_all(
        producer,
        alerts,
        {
            "poison-counted": (counted_probe, score(counted_probe, fraud_count=1)),
            "poison-strict": (strict_probe, score(strict_probe)),
        },
    )
    assert workshop.failures() == failures, "the job restarted: a bad record failed it"


def module_without_the_thresholds_ingress(folder: pathlib.Path) -> pathlib.Path:
    documents = yaml.safe_load_all((ROOT / "statefun-runtime" / "module.yaml").read_text())
    older = [doc for doc in documents if doc["spec"].get("id") != "ververica/thresholds"]
    path = folder / "module-before-thresholds.yaml"
    path.write_text(yaml.safe_dump_all(older, sort_keys=False))
    return path


def test_the_stateful_upgrade_of_the_advanced_exercise(workshop, producer, alerts, tmp_path):
    """Run without the thresholds ingress, savepoint, restart with it: state kept, thresholds honoured."""
    workshop.down(volumes=True)
    workshop.up(module=module_without_the_thresholds_ingress(tmp_path))
    fraudster, careful = account("upgrade-fraudster"), account("upgrade-careful")
    for _ in range(2):
        producer.send(kafka_topics.CONFIRMED, fraudster, ConfirmFraud(account=fraudster).SerializeToString())
    producer.send(kafka_topics.THRESHOLDS, careful, CustomThreshold(account=careful, threshold=5).SerializeToString())
    producer.flush()
    calm = merchant_scoring(24, 40)
    fraud_probe = Transaction(account=fraudster, merchant=calm, amount=0)
    settle(producer, alerts, "upgrade-fraudster", fraud_probe, score(fraud_probe, fraud_count=2))
    careful_probe = Transaction(account=careful, merchant=calm, amount=0)
    send_transaction(producer, account("careful-before"), careful_probe)
    producer.flush()
    assert not alerted(alerts.read_for(QUIET_SECONDS), "careful-before-"), "the old version has no thresholds"

    location = workshop.take_savepoint()
    workshop.down()
    workshop.up(savepoint=location.removeprefix("file:"))  # the full module.yaml

    settle_all(
        producer,
        alerts,
        {
            "upgraded-fraudster": (fraud_probe, score(fraud_probe, fraud_count=2)),
            "upgraded-careful": (careful_probe, score(careful_probe)),
        },
    )
    ids = [transaction_id for transaction_id in alerted(alerts.read_for(QUIET_SECONDS), "")]
    print(f"\nupgrade: {len(ids)} alerts in all, duplicates {len(ids) - len(set(ids))}")
    assert len(ids) == len(set(ids)), "a transaction was processed twice across the upgrade"


OVERLOAD_RATE = 1500  # transactions per second: about three times what this pipeline sustains on 2 cores
OVERLOAD_SECONDS = 30
DRAIN_TIMEOUT = 420


def test_overload_saturates_without_restarts_and_drains_exactly_once(workshop, producer, alerts):
    """Well above capacity the job slows its sources (backpressure) instead of timing out calls.

    Before statefun.async.max-per-task was bounded (flink-conf.yaml), this load made calls wait
    for the HTTP client's connections past their timeout, and the job failed and restarted.
    """
    tag = account("overload")
    confirmations = {f"overloaded{n}-{tag}": 1 + n % 2 for n in range(6)}
    for holder in confirmations:
        producer.send(kafka_topics.THRESHOLDS, holder, CustomThreshold(account=holder, threshold=1).SerializeToString())
    failures = workshop.failures()
    worker_log_before = len(workshop.log("worker"))
    lags, result = [], {}
    traffic = threading.Thread(
        target=lambda: result.update(
            zip(
                ("sent", "expected"),
                produce_load(producer, tag, confirmations, OVERLOAD_RATE, OVERLOAD_SECONDS),
                strict=True,
            )
        )
    )
    traffic.start()
    while traffic.is_alive():
        lags.append(transactions_lag())
        time.sleep(3)
    sent, expected = result["sent"], result["expected"]

    alerts.read_until(
        f"{len(expected)} alerts after the overload",
        lambda records: set(expected) <= set(alerted(records, f"{tag}-load-")),
        DRAIN_TIMEOUT,
    )
    got = alerted(alerts.read_for(QUIET_SECONDS), f"{tag}-load-")
    lags.append(transactions_lag())
    worker_log_growth = len(workshop.log("worker")) - worker_log_before
    print(
        f"\noverload: offered {len(sent)} at {OVERLOAD_RATE}/s, peak lag {max(lags)}, final lag {lags[-1]}, "
        f"expected {len(expected)}, received {len(got)}, duplicates {len(got) - len(set(got))}, "
        f"job failures {workshop.failures() - failures}, worker log +{worker_log_growth / 1e6:.1f} MB"
    )
    assert sorted(got) == sorted(expected)
    assert workshop.failures() == failures, "the job failed under overload"
    assert max(lags) > OVERLOAD_RATE, "the load never exceeded what the job took in: not an overload"
    assert lags[-1] == 0
    assert worker_log_growth < 10_000_000

    assert_fraud_counts(producer, alerts, confirmations)
