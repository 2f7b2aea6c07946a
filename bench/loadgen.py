"""The bench's load processes, each a process of its own with its own Kafka client (librdkafka,
through confluent-kafka): bench/e2e.py starts them on bench/.venv-fast.

    python bench/loadgen.py produce RATE COUNT SEED    the offered load of one step
    python bench/loadgen.py count-alerts FILE          the second consumer: one line per batch of alerts read
"""

import argparse
import json
import pathlib
import signal
import sys
import time
import uuid

import folders  # noqa: F401  (puts local/ and simulator/ on sys.path)
from confluent_kafka import Consumer, Producer

import kafka_topics
from layout import KAFKA_PORT
from traffic import Traffic

BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"
CONFIRM_EVERY = 100  # simulator.py produce's default: one confirmed fraud per 100 transactions


def alerts_consumer() -> Consumer:
    """A read_committed consumer of the alerts topic from its beginning, in a group of its own."""
    consumer = Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": f"e2e-bench-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 50,
        }
    )
    consumer.subscribe([kafka_topics.ALERTS])
    return consumer


def records_of(messages) -> list:
    """The records among consume()'s messages; errors (the topic not there yet, ...) are reported, not fatal."""
    records = []
    for message in messages:
        if message.error():
            print(f"  alerts consumer: {message.error()}", file=sys.stderr, flush=True)
        else:
            records.append(message)
    return records


def stop_on_sigterm() -> None:
    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)


def count_alerts(path: pathlib.Path) -> None:
    stop_on_sigterm()
    consumer = alerts_consumer()
    try:
        with open(path, "a") as out:
            while True:
                records = records_of(consumer.consume(num_messages=10000, timeout=0.2))
                if records:
                    now = time.time()
                    out.write("".join(f"{now:.3f} {len(r.value())}\n" for r in records))
                    out.flush()
    finally:
        consumer.close()


def produce(rate: float, count: int, seed: int) -> None:
    """`loadgen.py produce RATE COUNT SEED`: simulator.py produce --threshold-every 0's traffic, on confluent-kafka.

    COUNT transactions (key: transaction id, value: Transaction stamped at produce time) at RATE
    a second, paced by the clock, and one confirmed fraud per CONFIRM_EVERY transactions, as
    simulator.py produce sends by default; no custom thresholds. Prints, as one JSON line on
    stdout, how many records Kafka acknowledged (acks=all) per topic, and any it refused.
    """
    stop_on_sigterm()
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "linger.ms": 5})
    traffic = Traffic(seed=seed, accounts=1000)
    acked = {kafka_topics.TRANSACTIONS: 0, kafka_topics.CONFIRMED: 0}
    sent = {kafka_topics.TRANSACTIONS: 0, kafka_topics.CONFIRMED: 0}
    refused: list[str] = []

    def delivered(error, message):
        if error is None:
            acked[message.topic()] += 1
        else:
            if len(refused) < 5:
                print(f"Kafka refused a record for {message.topic()}: {error}", file=sys.stderr, flush=True)
            refused.append(str(error))

    def send(topic: str, key: str, message) -> None:
        while True:
            try:
                producer.produce(topic, key=key.encode(), value=message.SerializeToString(), on_delivery=delivered)
                break
            except BufferError:  # librdkafka's queue is full: let it drain
                producer.poll(0.05)
        sent[topic] += 1

    started = time.monotonic()
    behind_max = 0.0
    for index in range(count):
        # Pace by the clock, not by sleeps between records, so the rate holds.
        ahead = started + index / rate - time.monotonic()
        if ahead > 0.001:
            time.sleep(ahead)
        else:
            behind_max = max(behind_max, -ahead)
        transaction_id, transaction = traffic.transaction(time.time())
        send(kafka_topics.TRANSACTIONS, transaction_id, transaction)
        if CONFIRM_EVERY and (index + 1) % CONFIRM_EVERY == 0:
            confirmation = traffic.confirmation()
            send(kafka_topics.CONFIRMED, confirmation.account, confirmation)
        producer.poll(0)
    sending = time.monotonic() - started
    left = producer.flush(60)
    elapsed = time.monotonic() - started
    print(
        json.dumps(
            {
                "sent": sent,
                "acked": acked,
                "refused": len(refused),
                "unflushed": left,
                "sending_s": round(sending, 2),
                "elapsed_s": round(elapsed, 2),
                "rate_achieved": round(sent[kafka_topics.TRANSACTIONS] / max(sending, 1e-9), 1),
                "behind_max_s": round(behind_max, 3),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("produce", help="COUNT transactions at RATE a second; a JSON report on stdout")
    load.add_argument("rate", type=float)
    load.add_argument("count", type=int)
    load.add_argument("seed", type=int)
    second = commands.add_parser("count-alerts", help="append '<time read> <value bytes>' per alert to FILE")
    second.add_argument("file", type=pathlib.Path)
    args = parser.parse_args()
    if args.command == "produce":
        produce(args.rate, args.count, args.seed)
    else:
        count_alerts(args.file)


if __name__ == "__main__":
    main()
