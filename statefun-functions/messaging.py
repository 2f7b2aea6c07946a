"""Reading and answering messages.

`parse` takes what protobuf's rules for evolving a message allow, and nothing
that contradicts the expected message:

- a field this code does not know yet (a producer upgraded first, or this code
  rolled back) is kept as an unknown field and travels on: it is a new field
  under a new number, the compatible way to grow a message (protobuf/entities.proto);
- bytes that do not parse, a known field number with another wire type than
  the message gives it (a changed or reused field), and a record that is
  exactly another of the messages that come from Kafka are refused. The last
  check exists because protobuf happily reads one message type as another: a
  Transaction produced to `confirmed` under an account key reads as a
  ConfirmFraud for that account plus three unknown fields.
"""

from google.protobuf.message import DecodeError
from statefun import Context, Message, Type, message_builder

from dead_letters import BadMessage
from entities_pb2 import ConfirmFraud, CustomThreshold, Transaction

# The messages that arrive from Kafka, one topic each (module.yaml's ingresses):
# a record produced to the wrong one of these topics is the mix-up to catch.
FROM_KAFKA = (Transaction, ConfirmFraud, CustomThreshold)

try:  # protobuf >= 4.21 (upb) moved unknown fields out of the message class
    from google.protobuf.unknown_fields import UnknownFieldSet as _unknown_fields
except ImportError:  # protobuf 3.20, the SDK's pin
    def _unknown_fields(parsed):
        return parsed.UnknownFields()


def parse(message: Message, message_type: Type):
    """The message as an instance of `message_type`, or BadMessage saying why not."""
    if not message.is_type(message_type):
        raise BadMessage(f"expected {message_type.typename}, got {message.value_typename()}")
    try:
        parsed = message.as_type(message_type)
    except DecodeError as problem:
        raise BadMessage(f"not a valid {message_type.typename}: {problem}") from None
    if parsed is None:  # StateFun carries "no value" separately from an empty one
        raise BadMessage(f"a {message_type.typename} without a value")
    unknown = {field.field_number for field in _unknown_fields(parsed)}
    if unknown:
        refuse_a_misread(parsed, unknown, message.raw_value(), message_type.typename)
    return parsed


def refuse_a_misread(parsed, unknown: set, raw: bytes, typename: str) -> None:
    """Unknown fields are welcome when they can be new fields; here they cannot."""
    contradicting = sorted(unknown & {field.number for field in parsed.DESCRIPTOR.fields})
    if contradicting:
        raise BadMessage(f"not a {typename}: field(s) {contradicting} are not of the type {typename} gives them")
    for other in FROM_KAFKA:
        if other is not type(parsed) and is_exactly(raw, other):
            raise BadMessage(f"not a {typename}: it is a {other.DESCRIPTOR.full_name} (produced to the wrong topic?)")


def is_exactly(raw: bytes, message_class) -> bool:
    """The bytes are this message and nothing else (no unknown field at any depth)."""
    try:
        candidate = message_class.FromString(raw)
    except DecodeError:
        return False
    candidate.DiscardUnknownFields()
    return candidate.SerializeToString() == raw


def send(context: Context, typename: str, instance_id: str, value, value_type: Type) -> None:
    context.send(message_builder(target_typename=typename, target_id=instance_id,
                                 value=value, value_type=value_type))


def send_after(context: Context, delay, typename: str, instance_id: str, value, value_type: Type) -> None:
    """Send a message that arrives after `delay`; StateFun keeps it durably until then."""
    context.send_after(delay, message_builder(target_typename=typename, target_id=instance_id,
                                              value=value, value_type=value_type))


def reply(context: Context, value, value_type: Type) -> None:
    """Answer the function that sent the current message."""
    caller = context.caller
    if caller is None:
        raise BadMessage("a query must come from a function, to have someone to answer")
    send(context, caller.typename, caller.id, value, value_type)
