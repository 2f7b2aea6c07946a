"""Keeping one bad message from stalling the pipeline.

StateFun retries a failed invocation until it succeeds. A function that raises
on a malformed Kafka record would therefore be retried forever, and every
message behind it would wait. The `dead_letter_on_failure` decorator turns any
exception raised while handling one message into:

- a warning in the log, with the function's address and the reason;
- a DeadLetter record on the `dead-letters` topic, holding the message's bytes
  exactly as received, so nothing is lost and the record can be replayed;
- no effect at all otherwise: the state the function changed and the messages
  it sent while handling that one message are undone.

Functions raise `BadMessage` for input they refuse; anything else they raise
(a bug, say, in code you just edited) is caught the same way.
"""

import functools
import inspect
import logging

from statefun import Context, Message, kafka_egress_message

from entities_pb2 import DeadLetter
from message_types import DEAD_LETTER
from names import DEAD_LETTERS_TOPIC, KAFKA_EGRESS

log = logging.getLogger(__name__)


class BadMessage(ValueError):
    """The message cannot be used; the text says why, in one line."""


def address_of(context: Context) -> str:
    return f"{context.address.typename}/{context.address.id}"


def dead_letter_on_failure(function):
    """Wraps a StateFun function (plain or async) as described in the module doc."""
    if inspect.iscoroutinefunction(function):
        @functools.wraps(function)
        async def guarded(context: Context, message: Message):
            checkpoint = _Checkpoint(context)
            try:
                await function(context, message)
            except Exception as problem:  # noqa: BLE001 - that is the point
                _divert(context, message, problem, checkpoint)
    else:
        @functools.wraps(function)
        def guarded(context: Context, message: Message):
            checkpoint = _Checkpoint(context)
            try:
                function(context, message)
            except Exception as problem:  # noqa: BLE001 - that is the point
                _divert(context, message, problem, checkpoint)
    return guarded


def send_dead_letter(context: Context, message: Message, reason: str) -> None:
    log.warning("%s: dead-lettered a %s message: %s", address_of(context), message.value_typename(), reason)
    letter = DeadLetter(
        function_type=context.address.typename,
        function_id=context.address.id,
        reason=reason,
        message_type=message.value_typename(),
        payload=message.raw_value() or b"",
    )
    context.send_egress(kafka_egress_message(
        typename=KAFKA_EGRESS, topic=DEAD_LETTERS_TOPIC, key=context.address.id,
        value=letter, value_type=DEAD_LETTER))


def _divert(context: Context, message: Message, problem: Exception, checkpoint: "_Checkpoint") -> None:
    checkpoint.roll_back()
    if isinstance(problem, BadMessage):
        reason = str(problem)
    else:
        reason = f"{type(problem).__name__}: {problem}"
        log.exception("%s: unexpected error", address_of(context))
    send_dead_letter(context, message, reason.splitlines()[0] if reason else type(problem).__name__)


class _Checkpoint:
    """What one invocation may change, remembered so that it can be undone.

    The SDK (3.3.0, pinned) batches several messages for one address into one
    context, so undoing means returning to the state and outbox as they were
    before this message, not before the batch. It reaches into the SDK's
    context; tests/statefun_functions/test_dead_letters.py pins that behaviour.
    """

    def __init__(self, context):
        self._context = context
        self._outbox_sizes = [len(outbox) for outbox in self._outboxes()]
        self._cells = {name: (cell.typed_value, cell.dirty) for name, cell in context.storage._cells.items()}

    def _outboxes(self):
        context = self._context
        return (context._outgoing_messages, context._outgoing_delayed_messages, context._outgoing_egress_messages)

    def roll_back(self) -> None:
        for outbox, size in zip(self._outboxes(), self._outbox_sizes):
            del outbox[size:]
        for name, cell in self._context.storage._cells.items():
            cell.typed_value, cell.dirty = self._cells[name]
