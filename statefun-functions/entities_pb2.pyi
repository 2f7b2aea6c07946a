from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Transaction(_message.Message):
    __slots__ = ("account", "timestamp", "merchant", "amount")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    account: str
    timestamp: _timestamp_pb2.Timestamp
    merchant: str
    amount: int
    def __init__(self, account: _Optional[str] = ..., timestamp: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., merchant: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class ConfirmFraud(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: str
    def __init__(self, account: _Optional[str] = ...) -> None: ...

class ExpireFraud(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueryFraud(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReportedFraud(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class QueryMerchantScore(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MerchantScore(_message.Message):
    __slots__ = ("score", "is_fallback")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    IS_FALLBACK_FIELD_NUMBER: _ClassVar[int]
    score: int
    is_fallback: bool
    def __init__(self, score: _Optional[int] = ..., is_fallback: bool = ...) -> None: ...

class ExpireMerchantScore(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CustomThreshold(_message.Message):
    __slots__ = ("threshold", "account")
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    threshold: int
    account: str
    def __init__(self, threshold: _Optional[int] = ..., account: _Optional[str] = ...) -> None: ...

class QueryThreshold(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FeatureVector(_message.Message):
    __slots__ = ("fraud_count", "merchant_score", "amount")
    FRAUD_COUNT_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_SCORE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    fraud_count: int
    merchant_score: int
    amount: int
    def __init__(self, fraud_count: _Optional[int] = ..., merchant_score: _Optional[int] = ..., amount: _Optional[int] = ...) -> None: ...

class FraudScore(_message.Message):
    __slots__ = ("score",)
    SCORE_FIELD_NUMBER: _ClassVar[int]
    score: int
    def __init__(self, score: _Optional[int] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("transaction_id", "transaction", "score", "threshold", "fraud_count", "merchant_score", "merchant_score_fallback", "custom_threshold")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FRAUD_COUNT_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_SCORE_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_SCORE_FALLBACK_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    transaction: Transaction
    score: int
    threshold: int
    fraud_count: int
    merchant_score: int
    merchant_score_fallback: bool
    custom_threshold: bool
    def __init__(self, transaction_id: _Optional[str] = ..., transaction: _Optional[_Union[Transaction, _Mapping]] = ..., score: _Optional[int] = ..., threshold: _Optional[int] = ..., fraud_count: _Optional[int] = ..., merchant_score: _Optional[int] = ..., merchant_score_fallback: bool = ..., custom_threshold: bool = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("function_type", "function_id", "reason", "message_type", "payload")
    FUNCTION_TYPE_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    function_type: str
    function_id: str
    reason: str
    message_type: str
    payload: bytes
    def __init__(self, function_type: _Optional[str] = ..., function_id: _Optional[str] = ..., reason: _Optional[str] = ..., message_type: _Optional[str] = ..., payload: _Optional[bytes] = ...) -> None: ...
