"""Where the functions are and where their output goes.

One place for these names on the Python side. statefun-runtime/module.yaml
holds their twins for the runtime, and tests/test_consistency.py checks that
the two agree with each other and with the simulator.
"""

# The functions this worker serves (the runtime's endpoint covers ververica/*).
TRANSACTION_MANAGER = "ververica/transaction-manager"
COUNTER = "ververica/counter"
MERCHANT = "ververica/merchant"
THRESHOLD = "ververica/threshold"
MODEL = "ververica/model"

# The Kafka egress declared in module.yaml, and the topics written through it.
KAFKA_EGRESS = "ververica/kafka-egress"
ALERTS_TOPIC = "alerts"
DEAD_LETTERS_TOPIC = "dead-letters"

# Where the runtime calls us: http://python-worker:8000/statefun
HTTP_PORT = 8000
STATEFUN_PATH = "/statefun"
HEALTH_PATH = "/health"
