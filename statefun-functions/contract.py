"""The names python-worker shares with the runtime, the simulator and the proto.

One place for them on the Python side: statefun-runtime/module.yaml holds their
twins for the runtime, simulator/kafka_topics.py the simulator's, and
tests/test_consistency.py checks that all of them agree.
"""

from google.protobuf.message import Message as ProtobufMessage
from statefun import Type, make_protobuf_type

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
METRICS_PATH = "/metrics"  # Prometheus's text format, summed over python-worker's processes

# Every message of protobuf/entities.proto travels as this namespace plus its full
# protobuf name: Transaction (package workshop) is com.googleapis/workshop.Transaction,
# which is also what module.yaml's ingresses declare for the Kafka records.
TYPENAME_NAMESPACE = "com.googleapis"


_TYPES: dict[type[ProtobufMessage], Type] = {}


def type_of(message_class: type[ProtobufMessage]) -> Type:
    """The StateFun type of a message class of entities_pb2: the class is the one name to use."""
    if message_class not in _TYPES:
        _TYPES[message_class] = make_protobuf_type(message_class, namespace=TYPENAME_NAMESPACE)
    return _TYPES[message_class]
