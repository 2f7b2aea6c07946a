"""`simulator.py threshold VALUE`: give an account that pays right now a custom threshold,
and see it apply.

The simulator's cards are a pool of a thousand accounts, so any one of them pays about once
every 100 s at the default rate: too rarely to watch a threshold work. This command takes the
account of the newest transaction on `transactions` (or the one given), sends its custom
threshold to `thresholds` (0 removes it), then makes that card pay a few more times, one
payment a second, and prints what the pipeline decided for each: the alerts, with the score
and the threshold that applied, read as the simulator's alert printer reads them.

    python simulator.py threshold 5                      # an account that just paid
    python simulator.py threshold 0 --account 0x00F3CD51 # back to the default threshold
"""

import logging
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import kafka_topics
from entities_pb2 import Alert, CustomThreshold, Transaction
from traffic import Traffic

log = logging.getLogger("simulator")

# One payment a second: the threshold, sent first, is in place before the first of them is
# scored (the two topics are read by separate ingresses, so a payment sent at once could
# overtake it), and the output keeps a pace one can read.
PAYMENT_INTERVAL_SECONDS = 1.0
# An alert is readable once the checkpoint after it completes (every second, with the default
# exactly-once delivery; about a second after the payment): a payment without an alert this
# long after the last one was sent did not alert.
ALERT_WAIT_SECONDS = 8.0


def newest_payer(bootstrap: str) -> Transaction | None:
    """The transaction read last from `transactions`, across its partitions; None if empty."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        partitions = [
            TopicPartition(kafka_topics.TRANSACTIONS, p)
            for p in consumer.partitions_for_topic(kafka_topics.TRANSACTIONS) or ()
        ]
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        for partition in partitions:
            consumer.seek(partition, max(0, ends[partition] - 1))
        newest = None
        for record in consumer:
            if newest is None or record.timestamp >= newest.timestamp:
                newest = record
            if all(consumer.position(p) >= ends[p] for p in partitions):
                break
    finally:
        consumer.close()
    if newest is None:
        return None
    transaction = Transaction()
    transaction.ParseFromString(newest.value)
    return transaction


def alerts_reader(bootstrap: str) -> KafkaConsumer:
    """Alerts from now on, committed ones only (as the alert printer reads them)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False)
    partitions = [
        TopicPartition(kafka_topics.ALERTS, p) for p in consumer.partitions_for_topic(kafka_topics.ALERTS) or ()
    ]
    consumer.assign(partitions)
    consumer.seek_to_end()
    for partition in partitions:
        consumer.position(partition)  # resolve "the end" now, before the payments are sent
    return consumer


def try_threshold(args, producer: KafkaProducer) -> int:
    if args.account:
        account = args.account
    else:
        payer = newest_payer(args.bootstrap)
        if payer is None:
            log.error(
                "no transaction on %s yet: start the simulator, or name an account with --account",
                kafka_topics.TRANSACTIONS,
            )
            return 1
        account = payer.account
        print(f"account {account} paid last ({payer.amount} USD at {payer.merchant})")
    producer.send(
        kafka_topics.THRESHOLDS,
        key=account.encode(),
        value=CustomThreshold(account=account, threshold=args.value).SerializeToString(),
    ).get(timeout=30)
    print(
        f"its threshold is now {args.value}" if args.value else "its custom threshold is removed: the default applies",
        flush=True,
    )
    if not args.payments:
        return 0

    alerts = alerts_reader(args.bootstrap)
    traffic = Traffic(seed=args.seed, accounts=1)
    sent: dict[str, Transaction] = {}
    for _ in range(args.payments):
        time.sleep(PAYMENT_INTERVAL_SECONDS)
        transaction_id, transaction = traffic.transaction(time.time())
        transaction.account = account
        producer.send(kafka_topics.TRANSACTIONS, key=transaction_id.encode(), value=transaction.SerializeToString())
        sent[transaction_id] = transaction
    producer.flush()

    outcome: dict[str, Alert] = {}
    deadline = time.monotonic() + ALERT_WAIT_SECONDS
    while len(outcome) < len(sent) and time.monotonic() < deadline:
        for records in alerts.poll(timeout_ms=500).values():
            for record in records:
                alert = Alert()
                alert.ParseFromString(record.value)
                if alert.transaction_id in sent:
                    outcome[alert.transaction_id] = alert
    alerts.close()

    for transaction_id, transaction in sent.items():
        verdict = "no alert"
        if transaction_id in outcome:
            verdict = (
                f"alert: score {outcome[transaction_id].score} above threshold {outcome[transaction_id].threshold}"
            )
        print(f"  paid {transaction.amount:>5} USD at {transaction.merchant:<12} {verdict}")
    print(
        f"{len(outcome)} of {len(sent)} payments alerted. Its payments in the simulator's traffic are scored "
        f"the same way: watch the alert lines for {account}."
    )
    return 0
