"""Only a record that is exactly another Kafka message is refused as one; resembling it is not enough.

Protobuf reads any bytes as any message as far as it can. The account 0x00000000, read as the
Timestamp of a Transaction, is a valid (empty) Timestamp with unknown fields: a CustomThreshold
for that account, from a producer that added a field, reads as a Transaction with a timestamp.
Re-serialized without the unknown fields it is not the record, so it is not a Transaction.
"""

from contract import DEAD_LETTERS_TOPIC, THRESHOLD, TRANSACTION_MANAGER, type_of
from entities_pb2 import CustomThreshold, DeadLetter, QueryThreshold, Transaction
from harness import Instance, address, egress_records, raw_typed, typed

ZERO_ACCOUNT = "0x00000000"
NEW_FIELD = b"\x7a\x02v2"  # field 15, length-delimited, the string "v2": a field no message has yet


async def test_a_newer_threshold_that_reads_as_a_transaction_with_a_timestamp_is_kept(functions):
    record = CustomThreshold(threshold=70, account=ZERO_ACCOUNT).SerializeToString() + NEW_FIELD
    assert Transaction.FromString(record).HasField("timestamp")  # the resemblance this test is about
    threshold = Instance(functions, THRESHOLD, ZERO_ACCOUNT)

    result = await threshold.invoke(raw_typed(type_of(CustomThreshold).typename, record))

    assert [record.parse(DeadLetter) for record in egress_records(result) if record.topic == DEAD_LETTERS_TOPIC] == []
    [answer] = (
        await threshold.invoke(typed(QueryThreshold()), callers=[address(TRANSACTION_MANAGER, "t-1")])
    ).outgoing_messages
    assert CustomThreshold.FromString(answer.argument.value).threshold == 70
