"""Reading, sending and dead-lettering messages: what main.py's functions call.

Every message is a protobuf message of entities_pb2, and its class is its only
name here: `send(context, COUNTER, account, QueryFraud())`, `parse(message,
Transaction)`; the StateFun type follows from the class (contract.type_of).

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

Keeping one bad message from stalling the pipeline: StateFun retries a failed
invocation until it succeeds, so a function that raised on a malformed Kafka
record would be retried forever, and every message behind it would wait. The
`dead_letter_on_failure` decorator turns any exception raised while handling
one message into:

- a warning in the log, with the function's address and the reason;
- a DeadLetter record on the `dead-letters` topic, holding the message's bytes
  exactly as received, so nothing is lost and the record can be replayed;
- no effect at all otherwise: the state the function changed and the messages
  it sent while handling that one message are undone.

Functions raise `BadMessage` for input they refuse; anything else they raise
(a bug, say, in code you just edited) is caught the same way.

The decorator also times each invocation, for GET /metrics (metrics.py): it is
the one place every message to a function passes through. A function bound
without it would lose both quietly, so python-worker refuses to start with one
(`unguarded`, called by server.run), naming it.
"""

import functools
import inspect
import logging
import time
import weakref
from datetime import timedelta

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtobufMessage
from statefun import Context, Message, StatefulFunctions, kafka_egress_message, message_builder

import metrics
from contract import DEAD_LETTERS_TOPIC, KAFKA_EGRESS, type_of
from entities_pb2 import ConfirmFraud, CustomThreshold, DeadLetter, Transaction
from statefun_internals import Checkpoint, served_typenames

log = logging.getLogger("functions")

# The messages that arrive from Kafka, one topic each (module.yaml's ingresses):
# a record produced to the wrong one of these topics is the mix-up to catch.
FROM_KAFKA = (Transaction, ConfirmFraud, CustomThreshold)

try:  # protobuf >= 4.21 (upb) moved unknown fields out of the message class
    from google.protobuf.unknown_fields import UnknownFieldSet as _unknown_fields
except ImportError:  # protobuf 3.20, the SDK's pin

    def _unknown_fields(parsed):
        return parsed.UnknownFields()


class BadMessage(ValueError):
    """The message cannot be used; the text says why, in one line."""


def address_of(context: Context) -> str:
    """The function's address for a log line, e.g. ververica/counter/0x00F3CD51."""
    return f"{context.address.typename}/{context.address.id}"


# --- reading ------------------------------------------------------------------------------------


def parse(message: Message, *accepted: type[ProtobufMessage]):
    """The message as an instance of whichever of the `accepted` classes it carries,
    or BadMessage saying why it cannot be one of them."""
    for message_class in accepted:
        if message.is_type(type_of(message_class)):
            return parse_as(message, message_class)
    takes = ", ".join(type_of(message_class).typename for message_class in accepted)
    raise BadMessage(f"the function does not take {message.value_typename()}, only {takes}")


def parse_as(message: Message, message_class: type[ProtobufMessage]):
    typename = type_of(message_class).typename
    try:
        parsed = message.as_type(type_of(message_class))
    except DecodeError as problem:
        raise BadMessage(f"not a valid {typename}: {problem}") from None
    if parsed is None:  # StateFun carries "no value" separately from an empty one
        raise BadMessage(f"a {typename} without a value")
    unknown = {field.field_number for field in _unknown_fields(parsed)}
    if unknown:
        refuse_a_misread(parsed, unknown, message.raw_value(), typename)
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


# --- sending ------------------------------------------------------------------------------------


def send(context: Context, typename: str, instance_id: str, value: ProtobufMessage) -> None:
    # The SDK checks the address only after the function has returned, outside
    # dead_letter_on_failure: refused there, the whole invocation would fail, forever.
    namespace, _, name = typename.rpartition("/")
    if not (namespace and name and instance_id):
        raise BadMessage(f"cannot send to the incomplete address {typename!r} / {instance_id!r}")
    context.send(
        message_builder(target_typename=typename, target_id=instance_id, value=value, value_type=type_of(type(value)))
    )


def send_after(context: Context, delay: timedelta, typename: str, instance_id: str, value: ProtobufMessage) -> None:
    """Send a message that arrives after `delay`; StateFun keeps it durably until then."""
    context.send_after(
        delay,
        message_builder(target_typename=typename, target_id=instance_id, value=value, value_type=type_of(type(value))),
    )


def reply(context: Context, value: ProtobufMessage) -> None:
    """Answer the function that sent the current message."""
    caller = context.caller
    if caller is None:
        raise BadMessage("a query must come from a function, to have someone to answer")
    send(context, caller.typename, caller.id, value)


def send_to_kafka(context: Context, topic: str, key: str, value: ProtobufMessage) -> None:
    """A record on `topic` through module.yaml's exactly-once egress: it becomes visible
    to read_committed consumers when the checkpoint after it completes."""
    context.send_egress(
        kafka_egress_message(typename=KAFKA_EGRESS, topic=topic, key=key, value=value, value_type=type_of(type(value)))
    )


# --- dead letters -------------------------------------------------------------------------------


_GUARDED: weakref.WeakSet = weakref.WeakSet()  # what dead_letter_on_failure returned, for unguarded()


def dead_letter_on_failure(function):
    """Wraps a StateFun function (plain or async) as described in the module doc: dead letters
    instead of failures, and the time of each invocation for python_worker_invocation_seconds.

    Keyword arguments (what main.bind_functions gives a function) pass through.
    """
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def guarded(context: Context, message: Message, **given):
            started, checkpoint = time.perf_counter(), Checkpoint(context)
            try:
                await function(context, message, **given)
            except Exception as problem:  # noqa: BLE001 - that is the point
                divert(context, message, problem, checkpoint)
            finally:
                metrics.invoked(context.address.typename, started)
    else:

        @functools.wraps(function)
        def guarded(context: Context, message: Message, **given):
            started, checkpoint = time.perf_counter(), Checkpoint(context)
            try:
                function(context, message, **given)
            except Exception as problem:  # noqa: BLE001 - that is the point
                divert(context, message, problem, checkpoint)
            finally:
                metrics.invoked(context.address.typename, started)

    _GUARDED.add(guarded)
    return guarded


def unguarded(functions: StatefulFunctions) -> str | None:
    """Why `functions` must not be served, naming each function bound without
    dead_letter_on_failure; None when every one has it (partial(function, ...) counts as it)."""
    missing = []
    for typename in served_typenames(functions):
        code = functions.for_typename(typename).fun
        while isinstance(code, functools.partial):
            code = code.func
        if code not in _GUARDED:
            missing.append(f"{typename} ({getattr(code, '__qualname__', repr(code))})")
    if not missing:
        return None
    return (
        f"function(s) bound without @dead_letter_on_failure: {', '.join(missing)}. Put the decorator "
        "(from messaging.py) on the line above each one's def: without it, a message it fails on "
        "would stall the pipeline, and its invocations would be missing from GET /metrics"
    )


def divert(context: Context, message: Message, problem: Exception, checkpoint: Checkpoint) -> None:
    checkpoint.roll_back()
    # The metric's reason is a class, not the text: a label value per distinct message would grow without end.
    metrics.dead_lettered(
        context.address.typename, "bad-message" if isinstance(problem, BadMessage) else type(problem).__name__
    )
    if isinstance(problem, BadMessage):
        reason = str(problem)
    else:
        reason = f"{type(problem).__name__}: {problem}"
        log.exception("%s: unexpected error", address_of(context))
    send_dead_letter(context, message, reason.splitlines()[0] if reason else type(problem).__name__)


def send_dead_letter(context: Context, message: Message, reason: str) -> None:
    log.warning("%s: dead-lettered a %s message: %s", address_of(context), message.value_typename(), reason)
    letter = DeadLetter(
        function_type=context.address.typename,
        function_id=context.address.id,
        reason=reason,
        message_type=message.value_typename(),
        payload=message.raw_value() or b"",
    )
    send_to_kafka(context, DEAD_LETTERS_TOPIC, key=context.address.id, value=letter)
