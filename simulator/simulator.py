"""The outside world of the workshop: card traffic in, fraud alerts out.

    python simulator.py                       # produce forever, print every alert
    python simulator.py produce --count 5000 --rate 500 --seed 7
    python simulator.py alerts                # only print alerts
    python simulator.py threshold 5           # a custom threshold for an account that pays now (try_threshold.py)

It produces transactions (key: a fresh transaction id), now and then a
confirmed fraud and a custom threshold for an account that transacts, and
prints each alert it reads from the `alerts` topic as

    Suspected Fraud for account id 0x00F3CD51 at Hypergrid for 36 USD

Alerts are read with isolation level read_committed. With the runtime's default
delivery (ALERT_DELIVERY=exactly-once) it writes them in Kafka transactions that
commit with each Flink checkpoint, so an alert shows up here once the checkpoint
that covers it has completed, and never twice. With ALERT_DELIVERY=at-least-once an
alert shows up as soon as it is written, and a restart of the job can write it
again: the printer drops an alert whose transaction id it has already printed
among the last RECENT_ALERTS (a repeat comes from a replay of the last checkpoint's
worth of traffic, far fewer alerts than that).
"""

import argparse
import logging
import os
import sys
import threading
import time
from collections import OrderedDict

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import NoBrokersAvailable

import kafka_topics
from entities_pb2 import Alert
from traffic import Traffic
from try_threshold import try_threshold

log = logging.getLogger("simulator")

CONNECT_TIMEOUT_SECONDS = 120
# Transaction ids remembered to drop repeated alerts: ~10 MB, and minutes of alerts at the
# workshop's rates, where a replay repeats at most the seconds since the last checkpoint.
RECENT_ALERTS = 100_000


def alert_line(alert: Alert) -> str:
    transaction = alert.transaction
    return (
        f"Suspected Fraud for account id {transaction.account} at {transaction.merchant} for {transaction.amount} USD"
    )


class RecentIds:
    """The last `limit` ids seen, oldest forgotten first: a bounded memory of what was printed."""

    def __init__(self, limit: int):
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, id_: str) -> bool:
        """True for an id not among the last `limit`; remembers it either way."""
        if id_ in self._ids:
            self._ids.move_to_end(id_)
            return False
        self._ids[id_] = None
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)
        return True


def connect(make_client, what: str, bootstrap: str, deadline_seconds: float):
    """A Kafka client, once the broker answers; says so while it waits."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            return make_client()
        except NoBrokersAvailable:
            if time.monotonic() > deadline:
                sys.exit(f"simulator: no Kafka broker at {bootstrap} after {deadline_seconds:.0f} s")
            log.info("waiting for Kafka at %s (%s) ...", bootstrap, what)
            time.sleep(2)


def send(producer: KafkaProducer, topic: str, key: str, message) -> None:
    """Produce one record; a record Kafka refuses is logged, not silently lost."""
    future = producer.send(topic, key=key.encode(), value=message.SerializeToString())
    future.add_errback(lambda problem: log.error("Kafka refused a record for %s (key %s): %s", topic, key, problem))


def produce(args) -> None:
    producer = connect(
        lambda: KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=5, **kafka_topics.PRODUCER_SETTINGS),
        "producer",
        args.bootstrap,
        args.connect_timeout,
    )
    traffic = Traffic(seed=args.seed, accounts=args.accounts)
    counts = {kafka_topics.TRANSACTIONS: 0, kafka_topics.CONFIRMED: 0, kafka_topics.THRESHOLDS: 0}
    log.info("producing %s transactions at %g/s to %s", args.count or "endless", args.rate, args.bootstrap)
    started = time.monotonic()
    sent = 0
    while not args.count or sent < args.count:
        # Pace by the clock, not by sleeps between records, so the rate holds.
        ahead = started + sent / args.rate - time.monotonic()
        if ahead > 0.001:
            time.sleep(ahead)
        transaction_id, transaction = traffic.transaction(time.time())
        send(producer, kafka_topics.TRANSACTIONS, transaction_id, transaction)
        counts[kafka_topics.TRANSACTIONS] += 1
        sent += 1
        if args.confirm_every and sent % args.confirm_every == 0:
            confirmation = traffic.confirmation()
            send(producer, kafka_topics.CONFIRMED, confirmation.account, confirmation)
            counts[kafka_topics.CONFIRMED] += 1
        if args.threshold_every and sent % args.threshold_every == 0:
            threshold = traffic.custom_threshold()
            send(producer, kafka_topics.THRESHOLDS, threshold.account, threshold)
            counts[kafka_topics.THRESHOLDS] += 1
    producer.flush()
    elapsed = time.monotonic() - started
    log.info(
        "produced %s in %.1f s (%.0f transactions/s)",
        ", ".join(f"{n} to {topic}" for topic, n in counts.items()),
        elapsed,
        sent / max(elapsed, 1e-9),
    )


def print_alerts(args) -> None:
    consumer = connect(
        lambda: KafkaConsumer(
            kafka_topics.ALERTS,
            bootstrap_servers=args.bootstrap,
            isolation_level="read_committed",
            group_id=args.group,
            auto_offset_reset="latest",
        ),
        "alerts consumer",
        args.bootstrap,
        args.connect_timeout,
    )
    log.info("printing alerts from topic %s", kafka_topics.ALERTS)
    printed = RecentIds(RECENT_ALERTS)
    for record in consumer:
        alert = Alert()
        try:
            alert.ParseFromString(record.value)
        except Exception as problem:  # noqa: BLE001 - one bad record must not stop the printer
            log.warning("skipping an unreadable alert at offset %d: %s", record.offset, problem)
            continue
        if alert.transaction_id and not printed.first_time(alert.transaction_id):
            log.info("dropped a repeated alert for transaction %s (at-least-once delivery)", alert.transaction_id)
            continue
        print(alert_line(alert), flush=True)


def run(args) -> None:
    threading.Thread(target=print_alerts, args=(args,), name="alerts", daemon=True).start()
    produce(args)


def threshold(args) -> None:
    producer = connect(
        lambda: KafkaProducer(bootstrap_servers=args.bootstrap, **kafka_topics.PRODUCER_SETTINGS),
        "producer",
        args.bootstrap,
        args.connect_timeout,
    )
    try:
        sys.exit(try_threshold(args, producer))
    finally:
        producer.close()


def percent(text):
    """A threshold as the threshold function takes it: 0 (none) to 100."""
    value = int(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"a threshold is 0 (the default applies) to 100, got {text}")
    return value


def positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than zero, got {text}")
        return value

    return parse


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description="The workshop's traffic and alert printer.")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=("run", "produce", "alerts", "threshold"),
        help="run: produce and print alerts (default); produce: traffic only; alerts: print only; "
        "threshold VALUE: a custom threshold for an account that pays now, and its next payments",
    )
    parser.add_argument("value", nargs="?", type=percent, help="threshold: the account's new threshold (0: none)")
    parser.add_argument("--account", help="threshold: this account instead of the one that paid last")
    parser.add_argument(
        "--payments", type=int, default=5, metavar="N", help="threshold: payments of that account to send and show"
    )
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP", kafka_topics.DEFAULT_BOOTSTRAP),
        help="Kafka bootstrap servers (env KAFKA_BOOTSTRAP)",
    )
    parser.add_argument(
        "--rate",
        type=positive(float),
        default=os.environ.get("SIMULATOR_RATE", "10"),
        help="transactions per second (env SIMULATOR_RATE, default 10)",
    )
    parser.add_argument("--count", type=positive(int), default=None, help="stop after this many transactions")
    parser.add_argument("--seed", type=int, default=None, help="replay the same traffic")
    parser.add_argument("--accounts", type=positive(int), default=1000, help="size of the account pool")
    parser.add_argument(
        "--confirm-every", type=int, default=100, metavar="N", help="one confirmed fraud per N transactions (0: none)"
    )
    parser.add_argument(
        "--threshold-every",
        type=int,
        default=200,
        metavar="N",
        help="one custom threshold per N transactions (0: none)",
    )
    parser.add_argument("--group", default="simulator-alerts", help="consumer group of the alert printer")
    parser.add_argument(
        "--connect-timeout", type=positive(float), default=CONNECT_TIMEOUT_SECONDS, help="seconds to wait for Kafka"
    )
    args = parser.parse_args(argv)
    if (args.command == "threshold") != (args.value is not None):
        parser.error("a VALUE goes with the threshold command, and only with it: simulator.py threshold 5")
    return args


def main(argv=None) -> None:
    args = parse_arguments(argv)
    # The alert lines go to stdout on their own; everything else is a log line.
    logging.basicConfig(level="INFO", stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    {"run": run, "produce": produce, "alerts": print_alerts, "threshold": threshold}[args.command](args)


if __name__ == "__main__":
    main()
