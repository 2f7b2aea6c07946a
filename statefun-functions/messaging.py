"""Reading and answering messages, strictly.

`parse` refuses anything that is not exactly the expected protobuf message:
bytes that do not parse, and fields the message does not have. The second
check matters because protobuf happily reads one message type as another
(a ConfirmFraud's bytes parse as a Transaction with only an account), so a
record produced to the wrong topic would otherwise pass as a half-empty one.
The flip side: a producer that adds fields to a message must wait until the
functions are regenerated from the same entities.proto.
"""

from google.protobuf.message import DecodeError
from statefun import Context, Message, Type, message_builder

from dead_letters import BadMessage

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
    unknown = sorted({field.field_number for field in _unknown_fields(parsed)})
    if unknown:
        raise BadMessage(f"not a {message_type.typename}: it has fields {unknown} that message does not define")
    return parsed


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
