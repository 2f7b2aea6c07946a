"""What statefun_internals.py relies on in the pinned SDK (3.3.0): if an upgrade of the SDK
moves its private attributes, these fail first, and say where."""

from datetime import timedelta

from statefun import StatefulFunctions, ValueSpec, kafka_egress_message, message_builder

from contract import KAFKA_EGRESS, type_of
from entities_pb2 import ReportedFraud
from harness import Instance, egress_records, typed
from statefun_internals import Checkpoint, declared_state, served_typenames


def test_served_typenames_are_the_bound_functions_in_order():
    functions = StatefulFunctions()
    functions.register("test/second", lambda context, message: None)
    functions.register("test/first", lambda context, message: None)

    assert served_typenames(functions) == ["test/first", "test/second"]


def test_declared_state_is_each_function_s_value_specs_by_name_and_type():
    functions = StatefulFunctions()
    functions.register(
        "test/counting",
        lambda context, message: None,
        [ValueSpec(name="count", type=type_of(ReportedFraud)), ValueSpec(name="seen", type=type_of(ReportedFraud))],
    )
    functions.register("test/stateless", lambda context, message: None)

    assert declared_state(functions) == [
        "test/counting count com.googleapis/workshop.ReportedFraud",
        "test/counting seen com.googleapis/workshop.ReportedFraud",
    ]


def changes_then_rolls_back():
    """Changes the state and uses all three outboxes, before and after a checkpoint."""
    functions = StatefulFunctions()

    def send_everything(context, count: int) -> None:
        context.storage.count = ReportedFraud(count=count)
        value, value_type = ReportedFraud(count=count), type_of(ReportedFraud)
        context.send(message_builder(target_typename="test/other", target_id="a", value=value, value_type=value_type))
        context.send_after(
            timedelta(seconds=1),
            message_builder(target_typename="test/other", target_id="a", value=value, value_type=value_type),
        )
        context.send_egress(
            kafka_egress_message(typename=KAFKA_EGRESS, topic="t", key="k", value=value, value_type=value_type)
        )

    @functions.bind(typename="test/rolls-back", specs=[ValueSpec(name="count", type=type_of(ReportedFraud))])
    def rolls_back(context, message):
        send_everything(context, count=1)
        checkpoint = Checkpoint(context)
        send_everything(context, count=2)
        checkpoint.roll_back()

    return functions


async def test_a_checkpoint_rolls_back_the_state_and_the_three_outboxes_to_where_it_was_taken():
    instance = Instance(changes_then_rolls_back(), "test/rolls-back", "x")

    result = await instance.invoke(typed(ReportedFraud()))

    assert instance.value("count", ReportedFraud).count == 1
    assert len(result.outgoing_messages) == 1
    assert len(result.delayed_invocations) == 1
    assert len(egress_records(result)) == 1
    assert ReportedFraud.FromString(result.outgoing_messages[0].argument.value).count == 1
