"""The Kafka side of the workshop, as the simulator sees it.

These names have twins in statefun-runtime/module.yaml and
statefun-functions/names.py; tests/test_consistency.py checks that all agree.
"""

TRANSACTIONS = "transactions"        # key: transaction id, value: Transaction
CONFIRMED = "confirmed"              # key: account, value: ConfirmFraud
THRESHOLDS = "thresholds"            # key: account, value: CustomThreshold
ALERTS = "alerts"                    # key: account, value: Alert
DEAD_LETTERS = "dead-letters"        # key: function id, value: DeadLetter

ALL = (TRANSACTIONS, CONFIRMED, THRESHOLDS, ALERTS, DEAD_LETTERS)

DEFAULT_BOOTSTRAP = "kafka-broker:9092"
