"""Create the workshop's Kafka topics with their settings (kafka_topics.CONFIGS).

    python create_topics.py [--bootstrap kafka-broker:9092]

Both modes run this: docker-compose's one-shot `create-topics` service and the
Docker-free `up`. Topics that exist are left as they are, so it can run again.
"""

import argparse
import os
import sys
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

import kafka_topics

CONNECT_TIMEOUT_SECONDS = 60


def admin_client(bootstrap: str) -> KafkaAdminClient:
    # The broker's port opens a moment before it answers metadata requests.
    deadline = time.monotonic() + CONNECT_TIMEOUT_SECONDS
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="create-topics")
        except KafkaError as problem:
            if time.monotonic() > deadline:
                sys.exit(f"create-topics: no Kafka broker at {bootstrap} after {CONNECT_TIMEOUT_SECONDS} s: {problem}")
            print(f"create-topics: waiting for Kafka at {bootstrap} ...", flush=True)
            time.sleep(2)


def create_topics(bootstrap: str, partitions: int = 1) -> list[str]:
    """The topics that were missing and are now created, each with `partitions` partitions.

    The input topics' partitions bound how many of the job's source tasks read at once
    (the rest of the job is spread by key, whatever the count). A topic that exists keeps
    the count it was created with.
    """
    admin = admin_client(bootstrap)
    try:
        existing = set(admin.list_topics())
        missing = [topic for topic in kafka_topics.ALL if topic not in existing]
        for topic in missing:
            try:
                admin.create_topics(
                    [NewTopic(topic, partitions, replication_factor=1, topic_configs=kafka_topics.CONFIGS[topic])]
                )
            except TopicAlreadyExistsError:
                pass  # created meanwhile by another run
        return missing
    finally:
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the workshop's Kafka topics.")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", kafka_topics.DEFAULT_BOOTSTRAP))
    parser.add_argument(
        "--partitions",
        type=int,
        default=int(os.environ.get("PARTITIONS") or 1),
        help="partitions of each topic it creates (default: $PARTITIONS, else 1)",
    )
    args = parser.parse_args()
    if args.partitions < 1:
        parser.error(f"--partitions must be at least 1, not {args.partitions}")
    created = create_topics(args.bootstrap, args.partitions)
    print(f"create-topics: created {', '.join(created)}" if created else "create-topics: all topics exist")


if __name__ == "__main__":
    main()
