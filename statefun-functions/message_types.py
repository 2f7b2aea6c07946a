"""The StateFun type of every protobuf message in protobuf/entities.proto.

A StateFun typename is the namespace plus the message's full protobuf name, so
`Transaction` in package `workshop` travels as com.googleapis/workshop.Transaction,
which is also what module.yaml's ingresses declare for the Kafka records.
"""

from statefun import make_protobuf_type

from entities_pb2 import (
    Alert,
    ConfirmFraud,
    CustomThreshold,
    DeadLetter,
    ExpireFraud,
    FeatureVector,
    FraudScore,
    MerchantScore,
    QueryFraud,
    QueryMerchantScore,
    QueryThreshold,
    ReportedFraud,
    Transaction,
)

NAMESPACE = "com.googleapis"


def _protobuf_type(message_class):
    return make_protobuf_type(message_class, namespace=NAMESPACE)


TRANSACTION = _protobuf_type(Transaction)
CONFIRM_FRAUD = _protobuf_type(ConfirmFraud)
EXPIRE_FRAUD = _protobuf_type(ExpireFraud)
QUERY_FRAUD = _protobuf_type(QueryFraud)
REPORTED_FRAUD = _protobuf_type(ReportedFraud)
QUERY_MERCHANT_SCORE = _protobuf_type(QueryMerchantScore)
MERCHANT_SCORE = _protobuf_type(MerchantScore)
CUSTOM_THRESHOLD = _protobuf_type(CustomThreshold)
QUERY_THRESHOLD = _protobuf_type(QueryThreshold)
FEATURE_VECTOR = _protobuf_type(FeatureVector)
FRAUD_SCORE = _protobuf_type(FraudScore)
ALERT = _protobuf_type(Alert)
DEAD_LETTER = _protobuf_type(DeadLetter)
