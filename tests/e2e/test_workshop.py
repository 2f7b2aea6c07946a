"""The workshop end to end, on real Kafka, the real Flink + StateFun runtime and python-worker.

Each test uses accounts and transaction ids of its own (with this run's prefix),
so the expectations are exact: the alerts that must appear, and no other.
"""

import threading
import time

import psutil

import kafka_topics
import processes
from conftest import THRESHOLD
from entities_pb2 import Alert, ConfirmFraud, CustomThreshold, DeadLetter, Transaction
from expectations import (
    ALERT_TIMEOUT,
    QUIET_SECONDS,
    account,
    alerted,
    merchant_scoring,
    score,
    send_transaction,
    settle,
)
from local_workshop import ROOT, TopicReader


def test_exactly_the_expected_alerts(workshop, producer, alerts):
    twice_confirmed, tolerant, strict, plain = (account(n) for n in ("twice", "tolerant", "strict", "plain"))
    for _ in range(2):
        producer.send(
            kafka_topics.CONFIRMED, twice_confirmed, ConfirmFraud(account=twice_confirmed).SerializeToString()
        )
    producer.send(
        kafka_topics.THRESHOLDS, tolerant, CustomThreshold(account=tolerant, threshold=90).SerializeToString()
    )
    producer.send(kafka_topics.THRESHOLDS, strict, CustomThreshold(account=strict, threshold=10).SerializeToString())
    producer.flush()

    # Alerts only with two frauds counted (2 x 20 + score/2 > 40), or a threshold below 40.
    twice_probe = Transaction(account=twice_confirmed, merchant=merchant_scoring(2, 40), amount=0)
    settle(producer, alerts, "twice", twice_probe, expected_score=score(twice_probe, fraud_count=2))
    strict_probe = Transaction(account=strict, merchant=merchant_scoring(24, 60), amount=0)
    settle(producer, alerts, "strict", strict_probe, expected_score=score(strict_probe))

    frauds = {twice_confirmed: 2}
    thresholds = {tolerant: 90, strict: 10}
    merchants = [merchant_scoring(0, 10), merchant_scoring(30, 50), merchant_scoring(60, 80), merchant_scoring(90, 100)]
    expected = []
    for number in range(160):
        holder = (twice_confirmed, tolerant, strict, plain)[number % 4]
        transaction = Transaction(account=holder, merchant=merchants[number // 4 % 4], amount=(number * 53) % 3000)
        transaction_id = account(f"main-{number}")
        send_transaction(producer, transaction_id, transaction)
        if score(transaction, frauds.get(holder, 0)) > thresholds.get(holder, THRESHOLD):
            expected.append(transaction_id)
    producer.flush()
    assert 20 < len(expected) < 140  # the set is a real mix of alerts and none

    alerts.read_until(
        f"{len(expected)} alerts", lambda records: set(expected) <= set(alerted(records, "main-")), ALERT_TIMEOUT
    )
    records = alerts.read_for(QUIET_SECONDS)

    got = alerted(records, "main-")
    print(
        f"sent 160 transactions, expected {len(expected)} alerts, received {len(got)}, "
        f"duplicates {len(got) - len(set(got))}"
    )
    assert sorted(got) == sorted(expected)
    first = next(record for record in records if Alert.FromString(record.value).transaction_id == expected[0])
    alert = Alert.FromString(first.value)
    assert first.key.decode() == alert.transaction.account
    assert alert.threshold == thresholds.get(alert.transaction.account, THRESHOLD)


def test_a_malformed_record_is_dead_lettered_and_the_stream_keeps_flowing(workshop, producer, alerts):
    dead_letters = TopicReader(kafka_topics.DEAD_LETTERS)
    bad_key = account("malformed")
    producer.send(kafka_topics.TRANSACTIONS, bad_key, b"\x0a\xff\xff not a transaction")
    good = account("after-malformed")
    send_transaction(
        producer, good, Transaction(account=account("plain"), merchant=merchant_scoring(95, 100), amount=5000)
    )
    producer.flush()

    letters = dead_letters.read_until(
        "the dead letter", lambda rs: any(r.key == bad_key.encode() for r in rs), ALERT_TIMEOUT
    )
    letter = DeadLetter.FromString(next(r for r in letters if r.key == bad_key.encode()).value)
    dead_letters.close()
    assert letter.payload == b"\x0a\xff\xff not a transaction"
    assert letter.function_type == "ververica/transaction-manager" and "not a valid" in letter.reason
    alerts.read_until("the alert after the malformed record", lambda rs: good in alerted(rs, good), ALERT_TIMEOUT)


# Field 15 is defined by no message of entities.proto: the field a newer producer added.
NEW_FIELD = b"\x7a\x02v2"


def test_a_newer_producers_transactions_alert_exactly_once_and_keep_their_new_field(workshop, producer, alerts):
    """The producer is upgraded before python-worker: every record carries a field it does not know."""
    dead_letters = TopicReader(kafka_topics.DEAD_LETTERS)
    expected = [account(f"newer-{number}") for number in range(40)]
    for transaction_id in expected:
        transaction = Transaction(account=account("newer"), merchant=merchant_scoring(95, 100), amount=5000)
        producer.send(kafka_topics.TRANSACTIONS, transaction_id, transaction.SerializeToString() + NEW_FIELD)
    producer.flush()

    alerts.read_until(
        f"{len(expected)} alerts", lambda records: set(expected) <= set(alerted(records, "newer-")), ALERT_TIMEOUT
    )
    records = alerts.read_for(QUIET_SECONDS)
    got = alerted(records, "newer-")
    letters = [r for r in dead_letters.read_for(1) if r.key.decode().startswith("newer-")]
    dead_letters.close()
    print(f"\nnewer producer: {len(expected)} transactions, {len(got)} alerts, {len(letters)} dead letters")
    assert sorted(got) == sorted(expected)
    assert not letters
    for record in records:
        alert = Alert.FromString(record.value)
        if alert.transaction_id in expected:
            assert alert.transaction.SerializeToString().endswith(NEW_FIELD), "the new field was dropped"


def test_restarting_python_worker_mid_stream_loses_and_duplicates_nothing(workshop, producer, alerts):
    failures = workshop.failures()
    expected, sent = [], []
    merchants = [merchant_scoring(0, 20), merchant_scoring(70, 100)]

    def produce_steadily():
        for number in range(400):  # 8 s at 50 per second
            transaction = Transaction(
                account=account(f"steady{number % 9}"), merchant=merchants[number % 2], amount=(number * 71) % 2500
            )
            transaction_id = account(f"restart-{number}")
            send_transaction(producer, transaction_id, transaction)
            sent.append(transaction_id)
            if score(transaction) > THRESHOLD:
                expected.append(transaction_id)
            time.sleep(0.02)
        producer.flush()

    log_before = len(workshop.log("worker"))
    traffic = threading.Thread(target=produce_steadily)
    traffic.start()
    time.sleep(2)
    workshop.restart("python-worker")
    traffic.join()

    alerts.read_until(
        f"{len(expected)} alerts", lambda rs: set(expected) <= set(alerted(rs, "restart-")), ALERT_TIMEOUT
    )
    got = alerted(alerts.read_for(QUIET_SECONDS), "restart-")
    print(
        f"sent {len(sent)} transactions across a python-worker restart, expected {len(expected)} alerts, "
        f"received {len(got)}, duplicates {len(got) - len(set(got))}"
    )
    assert sorted(got) == sorted(expected)
    # The runtime retried the calls that failed, and the job carried on: same job, no restart.
    assert workshop.failures() == failures
    assert "Exception caught while trying to deliver a message" in workshop.log("worker")[log_before:]


def test_a_savepoint_restores_counts_and_thresholds_without_reprocessing(workshop, producer, alerts):
    confirmed, custom = account("saved-fraud"), account("saved-threshold")
    producer.send(kafka_topics.CONFIRMED, confirmed, ConfirmFraud(account=confirmed).SerializeToString())
    producer.send(kafka_topics.THRESHOLDS, custom, CustomThreshold(account=custom, threshold=12).SerializeToString())
    producer.flush()
    # One fraud: 20 + score/2 + amount points; above 40 only with the fraud counted.
    merchant = merchant_scoring(30, 40)
    fraud_probe = Transaction(account=confirmed, merchant=merchant, amount=200)
    settle(producer, alerts, "saved-fraud", fraud_probe, expected_score=score(fraud_probe, fraud_count=1))
    threshold_probe = Transaction(account=custom, merchant=merchant, amount=0)
    settle(producer, alerts, "saved-threshold", threshold_probe, expected_score=score(threshold_probe))

    location = workshop.take_savepoint()
    assert location.startswith(f"file:{ROOT / 'savepoint-dir'}")
    before = [Alert.FromString(r.value).transaction_id for r in alerts.records]
    workshop.down()
    workshop.up(savepoint=location.removeprefix("file:"))
    assert "from savepoint" in workshop.log("master").lower()

    after_restore = account("after-restore")
    send_transaction(producer, after_restore, fraud_probe)
    strict_after = account("strict-after-restore")
    send_transaction(producer, strict_after, threshold_probe)
    producer.flush()
    records = alerts.read_until(
        "the alerts after the restore", lambda rs: {after_restore, strict_after} <= set(alerted(rs, "")), ALERT_TIMEOUT
    )
    records = alerts.read_for(QUIET_SECONDS)

    ids = [Alert.FromString(r.value).transaction_id for r in records]
    print(
        f"{len(before)} alerts before the savepoint, {len(ids) - len(before)} after the restore, "
        f"duplicates {len(ids) - len(set(ids))}"
    )
    assert len(ids) == len(set(ids)), "a transaction was processed again after the restore"
    scores = {Alert.FromString(r.value).transaction_id: Alert.FromString(r.value).score for r in records}
    assert scores[after_restore] == score(fraud_probe, fraud_count=1)
    assert scores[strict_after] == score(threshold_probe)


def test_every_listening_port_of_the_local_mode_is_on_loopback(workshop):
    supervisord = psutil.Process(int((ROOT / ".local-run" / "supervisord.pid").read_text()))
    listening = []
    for process in [supervisord, *supervisord.children(recursive=True)]:
        for connection in process.net_connections(kind="inet"):
            if connection.status == psutil.CONN_LISTEN:
                listening.append(connection.laddr)
    ports = {address.port for address in listening}
    print(f"\n{len(listening)} listening sockets, ports {sorted(ports)}")
    # Flink's Prometheus reporters too: the loopback reporter (local/loopback-reporter/)
    assert {8000, 8001, 8002, 9090, 9092, *processes.flink_metrics_ports(1).values()} <= ports
    beyond_loopback = [address for address in listening if address.ip not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")]
    assert beyond_loopback == []


def test_a_fresh_start_reads_no_record_twice(workshop, producer, alerts):
    """With the checkpoints forgotten (`make fresh`), the ingresses resume from the offsets
    committed to Kafka with each checkpoint (module.yaml): empty state, nothing read again."""
    before = len(alerts.read_for(QUIET_SECONDS))
    workshop.down()  # Kafka keeps its data
    forgotten = workshop.fresh()
    assert forgotten.returncode == 0, forgotten
    workshop.up()  # a new job, with empty state
    fresh = account("after-plain-restart")
    send_transaction(
        producer, fresh, Transaction(account=account("plain"), merchant=merchant_scoring(95, 100), amount=5000)
    )
    producer.flush()
    records = alerts.read_until("the alert after the restart", lambda rs: fresh in alerted(rs, fresh), ALERT_TIMEOUT)
    records = alerts.read_for(QUIET_SECONDS)

    ids = alerted(records, "")
    print(f"\nplain restart: {before} alerts before, {len(ids) - before} after, duplicates {len(ids) - len(set(ids))}")
    assert len(ids) == len(set(ids)), "old transactions were scored again"
