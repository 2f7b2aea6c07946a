"""A message that fails is dead-lettered and leaves no other trace, even mid-batch."""

from statefun import StatefulFunctions, ValueSpec

from contract import COUNTER, DEAD_LETTERS_TOPIC, type_of
from entities_pb2 import ConfirmFraud, DeadLetter, ReportedFraud
from harness import Instance, egress_records, raw_typed, typed
from messaging import dead_letter_on_failure, send

ACCOUNT = "0x00ABCDEF"


def letters(result):
    return [record.parse(DeadLetter) for record in egress_records(result) if record.topic == DEAD_LETTERS_TOPIC]


async def test_a_bad_message_in_a_batch_leaves_the_good_ones_alone(functions):
    counter = Instance(functions, COUNTER, ACCOUNT)
    good = typed(ConfirmFraud(account=ACCOUNT))
    bad = raw_typed(type_of(ConfirmFraud).typename, b"\xff\xff\xff")

    result = await counter.invoke(good, bad, good)

    assert counter.value("fraud_count", ReportedFraud).count == 2
    assert len(result.delayed_invocations) == 2
    [letter] = letters(result)
    assert letter.payload == b"\xff\xff\xff"


def a_function_that_fails_halfway():
    """Changes its state and sends a message, then raises: as a bug would."""
    functions = StatefulFunctions()

    @functions.bind(typename="test/fails-halfway", specs=[ValueSpec(name="count", type=type_of(ReportedFraud))])
    @dead_letter_on_failure
    def fails_halfway(context, message):
        count = context.storage.count or ReportedFraud()
        count.count += 1
        context.storage.count = count
        send(context, COUNTER, ACCOUNT, ReportedFraud(count=1))
        if message.as_type(type_of(ReportedFraud)).count < 0:
            raise RuntimeError("negative input\nsecond line of detail")

    return functions


async def test_a_failure_undoes_the_state_and_the_messages_of_that_message_only():
    instance = Instance(a_function_that_fails_halfway(), "test/fails-halfway", "x")
    fine, failing = typed(ReportedFraud(count=1)), typed(ReportedFraud(count=-1))

    result = await instance.invoke(fine, failing, fine)

    assert instance.value("count", ReportedFraud).count == 2
    assert len(result.outgoing_messages) == 2
    [letter] = letters(result)
    assert letter.reason == "RuntimeError: negative input"
    assert (letter.function_type, letter.function_id) == ("test/fails-halfway", "x")


async def test_async_functions_are_guarded_too():
    functions = StatefulFunctions()

    @functions.bind(typename="test/async-fails")
    @dead_letter_on_failure
    async def async_fails(context, message):
        raise KeyError("boom")

    result = await Instance(functions, "test/async-fails", "y").invoke(typed(ReportedFraud()))
    assert [letter.reason for letter in letters(result)] == ["KeyError: 'boom'"]
