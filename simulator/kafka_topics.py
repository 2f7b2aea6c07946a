"""The Kafka side of the workshop, as the simulator sees it.

These names have twins in statefun-runtime/module.yaml and
statefun-functions/contract.py; tests/test_consistency.py checks that all agree.
"""

TRANSACTIONS = "transactions"  # key: transaction id, value: Transaction
CONFIRMED = "confirmed"  # key: account, value: ConfirmFraud
THRESHOLDS = "thresholds"  # key: account, value: CustomThreshold
ALERTS = "alerts"  # key: account, value: Alert
DEAD_LETTERS = "dead-letters"  # key: function id, value: DeadLetter

ALL = (TRANSACTIONS, CONFIRMED, THRESHOLDS, ALERTS, DEAD_LETTERS)

# StateFun's Kafka ingress routes each record by its key, and fails the whole job on a
# record without one (and again after every restart: the pipeline would stall). Kafka
# refuses keyless records on a topic whose cleanup policy includes "compact", so the
# producer that made the mistake gets the error instead. With the compaction lag at its
# maximum no record is ever compacted away: the topic keeps every record, as "delete" does.
_KEYS_REQUIRED = {"cleanup.policy": "compact,delete", "min.compaction.lag.ms": str(2**63 - 1)}

# A dead letter carries the bad record's key and value (together at most Kafka's default
# 1 MiB) plus a reason, so its topic, and the egress producer (module.yaml), take 4 MiB:
# a dead letter must never be too large to write, or the job would fail on it.
DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024

CONFIGS = {
    TRANSACTIONS: _KEYS_REQUIRED,
    CONFIRMED: _KEYS_REQUIRED,
    THRESHOLDS: _KEYS_REQUIRED,
    ALERTS: {},
    DEAD_LETTERS: {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)},
}

DEFAULT_BOOTSTRAP = "kafka-broker:9092"

# Every producer here: a record counts once it is on all in-sync replicas, and a retry after
# a lost acknowledgement (a busy broker on two cores) does not write it a second time. Without
# idempotence such a retry lands the same transaction twice; the transaction manager then
# dead-letters the copy as "a duplicate of a transaction", and a confirmed fraud would count twice.
PRODUCER_SETTINGS = {"acks": "all", "enable_idempotence": True}
