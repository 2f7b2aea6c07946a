"""messaging.py: how main.py's functions read messages, and dead_letter_on_failure.

Messages and state that evolve: a field this code does not know yet is kept, never refused. A newer
producer (or a newer version of the functions, before a rollback) adds a field under a new number;
protobuf keeps it as an unknown field. Field 15 below is defined by no message of entities.proto:
it stands for that new field. What contradicts the message is refused, and only a record that is
exactly another Kafka message is refused as one: resembling it is not enough.

A message that fails is dead-lettered and leaves no other trace, even mid-batch; a guarded function
keeps its own name and docstring.
"""

from datetime import timedelta
from functools import partial

import pytest
from statefun import StatefulFunctions, ValueSpec
from statefun.request_reply_pb2 import TypedValue

import config
import main
import messaging
import server
from contract import ALERTS_TOPIC, COUNTER, DEAD_LETTERS_TOPIC, MERCHANT, THRESHOLD, TRANSACTION_MANAGER, type_of
from entities_pb2 import (
    Alert,
    ConfirmFraud,
    CustomThreshold,
    DeadLetter,
    ExpireFraud,
    FraudScore,
    MerchantScore,
    QueryFraud,
    QueryMerchantScore,
    QueryThreshold,
    ReportedFraud,
    Transaction,
)
from harness import (
    Flow,
    Instance,
    address,
    alerts,
    assert_refused,
    dead_letters,
    egress_records,
    query_count,
    query_threshold,
    raw_typed,
    targets,
    typed,
)
from messaging import dead_letter_on_failure, send

ACCOUNT = "0x00F3CD51"
ZERO_ACCOUNT = "0x00000000"
TRANSACTION_ID = "7f3a0c"
NEW_FIELD = b"\x7a\x02v2"  # field 15, length-delimited, the string "v2": a field no message has yet
ASKER = address(TRANSACTION_MANAGER, TRANSACTION_ID)


def newer(message) -> TypedValue:
    """The message as a newer producer writes it: the same fields, plus field 15."""
    return raw_typed(type_of(type(message)).typename, message.SerializeToString() + NEW_FIELD)


def keeps_the_new_field(typed_value) -> bool:
    return typed_value is not None and typed_value.value.endswith(NEW_FIELD)


# --- messages from a newer producer ---------------------------------------------------------------


async def test_a_transaction_with_a_new_field_is_scored_and_keeps_it(functions):
    manager = Instance(functions, TRANSACTION_MANAGER, TRANSACTION_ID)
    transaction = Transaction(account=ACCOUNT, merchant="Hypergrid", amount=36)
    result = await manager.invoke(newer(transaction))

    assert not dead_letters(result)
    assert [target for target, _, _ in targets(result)] == [
        "ververica/counter",
        "ververica/merchant",
        "ververica/threshold",
    ]
    assert keeps_the_new_field(manager.state["transaction"])


async def test_a_confirmation_with_a_new_field_counts(functions):
    counter = Instance(functions, COUNTER, ACCOUNT)
    result = await counter.invoke(newer(ConfirmFraud(account=ACCOUNT)))

    assert not dead_letters(result)
    assert await query_count(counter, ASKER) == 1


async def test_a_threshold_with_a_new_field_is_kept_with_it(functions):
    threshold = Instance(functions, THRESHOLD, ACCOUNT)
    result = await threshold.invoke(newer(CustomThreshold(threshold=70, account=ACCOUNT)))

    assert not dead_letters(result)
    assert (await query_threshold(threshold, ASKER)).threshold == 70
    assert keeps_the_new_field(threshold.state["threshold"])


@pytest.mark.parametrize(
    "typename, instance_id, message",
    [
        (COUNTER, ACCOUNT, QueryFraud()),
        (THRESHOLD, ACCOUNT, QueryThreshold()),
        (MERCHANT, "Hypergrid", QueryMerchantScore()),
    ],
)
async def test_a_query_from_a_newer_function_is_answered(
    functions, merchant_service_url, typename, instance_id, message
):
    result = await Instance(functions, typename, instance_id).invoke(newer(message), callers=[ASKER])
    assert not dead_letters(result)
    assert [(target, to) for target, to, _ in targets(result)] == [(TRANSACTION_MANAGER, TRANSACTION_ID)]


async def test_a_timer_set_by_a_newer_version_still_expires_its_fraud(functions):
    # Delayed messages outlive a deployment: a rollback meets the newer version's ExpireFraud.
    counter = Instance(functions, COUNTER, ACCOUNT)
    await counter.invoke(typed(ConfirmFraud(account=ACCOUNT)))
    result = await counter.invoke(newer(ExpireFraud()))

    assert not dead_letters(result)
    assert await query_count(counter, ASKER) == 0


# --- state written by a newer version -------------------------------------------------------------


async def test_the_counter_keeps_a_new_field_of_its_state_through_counting_up_and_down(functions):
    counter = Instance(functions, COUNTER, ACCOUNT)
    counter.state["fraud_count"] = newer(ReportedFraud(count=2))

    await counter.invoke(typed(ConfirmFraud(account=ACCOUNT)))
    assert counter.value("fraud_count", ReportedFraud).count == 3
    assert keeps_the_new_field(counter.state["fraud_count"])

    await counter.invoke(typed(ExpireFraud()))
    assert counter.value("fraud_count", ReportedFraud).count == 2
    assert keeps_the_new_field(counter.state["fraud_count"])


async def test_the_threshold_answers_from_state_with_a_new_field(functions):
    threshold = Instance(functions, THRESHOLD, ACCOUNT)
    threshold.state["threshold"] = newer(CustomThreshold(threshold=70, account=ACCOUNT))

    result = await threshold.invoke(typed(QueryThreshold()), callers=[ASKER])
    [answer] = result.outgoing_messages
    assert CustomThreshold.FromString(answer.argument.value).threshold == 70
    assert keeps_the_new_field(answer.argument)


async def test_the_merchant_answers_from_a_cached_score_with_a_new_field(functions):
    merchant = Instance(functions, MERCHANT, "Hypergrid")
    merchant.state["merchant_score"] = newer(MerchantScore(score=42))

    result = await merchant.invoke(typed(QueryMerchantScore()), callers=[ASKER])
    [answer] = result.outgoing_messages
    assert MerchantScore.FromString(answer.argument.value).score == 42


async def test_a_transaction_in_flight_with_a_new_field_alerts_with_it(functions, configure):
    configure(fraud_threshold=-1)
    manager = Instance(functions, TRANSACTION_MANAGER, TRANSACTION_ID)
    await manager.invoke(newer(Transaction(account=ACCOUNT, merchant="Hypergrid", amount=36)))
    for answer in (ReportedFraud(count=0), MerchantScore(score=10), CustomThreshold(account=ACCOUNT)):
        await manager.invoke(typed(answer))
    result = await manager.invoke(typed(FraudScore(score=30)))

    [(_, alert)] = alerts(result)
    assert alert.transaction.SerializeToString().endswith(NEW_FIELD)


# --- what is refused: bytes that contradict the message -------------------------------------------


@pytest.mark.parametrize(
    "typename, instance_id, value_type, wrong, reason",
    [
        # A Transaction produced to `confirmed` under an account key: account matches, 2-4 unknown.
        (
            COUNTER,
            ACCOUNT,
            type_of(ConfirmFraud),
            Transaction(account=ACCOUNT, merchant="Hypergrid", amount=36),
            "it is a workshop.Transaction",
        ),
        # Field 1 is a string in ConfirmFraud, a number in CustomThreshold.
        (
            THRESHOLD,
            ACCOUNT,
            type_of(CustomThreshold),
            ConfirmFraud(account=ACCOUNT),
            "field(s) [1] are not of the type",
        ),
        # Field 2 is a string in CustomThreshold, a Timestamp in Transaction: the bytes do not parse.
        (
            TRANSACTION_MANAGER,
            TRANSACTION_ID,
            type_of(Transaction),
            CustomThreshold(threshold=7, account=ACCOUNT),
            "not a valid",
        ),
    ],
)
async def test_a_record_of_another_topic_is_still_dead_lettered(
    functions, typename, instance_id, value_type, wrong, reason
):
    instance = Instance(functions, typename, instance_id)
    assert_refused(await instance.invoke(raw_typed(value_type.typename, wrong.SerializeToString())), reason)


async def test_a_confirmation_with_a_new_field_is_not_mistaken_for_a_transaction(functions):
    # Read as a Transaction it has the account and an unknown field 15: not exactly a Transaction.
    counter = Instance(functions, COUNTER, ACCOUNT)
    assert not dead_letters(await counter.invoke(newer(ConfirmFraud(account=ACCOUNT))))
    assert await query_count(counter, ASKER) == 1


# --- a record that only resembles another message is not refused as one ---------------------------
#
# Protobuf reads any bytes as any message as far as it can. The account 0x00000000, read as the
# Timestamp of a Transaction, is a valid (empty) Timestamp with unknown fields: a CustomThreshold
# for that account, from a producer that added a field, reads as a Transaction with a timestamp.
# Re-serialized without the unknown fields it is not the record, so it is not a Transaction.


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


# --- the whole flow, from a newer producer --------------------------------------------------------


async def test_a_newer_producers_transactions_flow_to_alerts_exactly_once(functions, merchant_service_url, configure):
    configure(fraud_threshold=-1)
    flow = Flow(functions)
    for n in range(3):
        flow.ingress(
            TRANSACTION_MANAGER, f"t-{n}", newer(Transaction(account=ACCOUNT, merchant="Hypergrid", amount=10 * n))
        )
    await flow.run()

    records = flow.topic(ALERTS_TOPIC)
    assert sorted(record.parse(Alert).transaction_id for record in records) == ["t-0", "t-1", "t-2"]
    assert all(record.parse(Alert).transaction.SerializeToString().endswith(NEW_FIELD) for record in records)
    assert not flow.topic(DEAD_LETTERS_TOPIC)


# --- dead_letter_on_failure: a message that fails leaves no trace but its dead letter -------------


async def test_a_bad_message_in_a_batch_leaves_the_good_ones_alone(functions):
    counter = Instance(functions, COUNTER, ACCOUNT)
    good = typed(ConfirmFraud(account=ACCOUNT))
    bad = raw_typed(type_of(ConfirmFraud).typename, b"\xff\xff\xff")

    result = await counter.invoke(good, bad, good)

    assert counter.value("fraud_count", ReportedFraud).count == 2
    assert len(result.delayed_invocations) == 2
    [letter] = dead_letters(result)
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
    [letter] = dead_letters(result)
    assert letter.reason == "RuntimeError: negative input"
    assert (letter.function_type, letter.function_id) == ("test/fails-halfway", "x")


async def test_async_functions_are_guarded_too():
    functions = StatefulFunctions()

    @functions.bind(typename="test/async-fails")
    @dead_letter_on_failure
    async def async_fails(context, message):
        raise KeyError("boom")

    result = await Instance(functions, "test/async-fails", "y").invoke(typed(ReportedFraud()))
    assert [letter.reason for letter in dead_letters(result)] == ["KeyError: 'boom'"]


# --- dead_letter_on_failure leaves a function recognisable ----------------------------------------


def test_a_guarded_function_keeps_its_name_and_docstring():
    def counter(context, message):
        """Counts confirmed frauds."""

    guarded = dead_letter_on_failure(counter)

    assert (guarded.__name__, guarded.__doc__, guarded.__wrapped__) == ("counter", "Counts confirmed frauds.", counter)


def test_a_guarded_async_function_keeps_its_name_and_docstring():
    async def merchant(context, message):
        """Asks the merchant-score service."""

    guarded = dead_letter_on_failure(merchant)

    assert (guarded.__name__, guarded.__doc__, guarded.__wrapped__) == (
        "merchant",
        "Asks the merchant-score service.",
        merchant,
    )


def test_a_function_bound_without_the_decorator_is_named(functions):
    assert messaging.unguarded(functions) is None  # main.py's five all wear it
    functions.register("test/plain", main.threshold.__wrapped__)
    functions.register("test/partial", partial(main.fraud_count.__wrapped__, window=timedelta(days=1)))
    said = messaging.unguarded(functions)
    assert "test/partial (fraud_count), test/plain (threshold)" in said
    assert "ververica/" not in said  # the guarded ones are not named


def test_python_worker_does_not_start_with_such_a_function(functions):
    functions.register("test/plain", lambda context, message: None)
    expected = r"^python-worker: function\(s\) bound without @dead_letter_on_failure: test/plain \("
    with pytest.raises(SystemExit, match=expected):
        server.run(functions, config.from_environment({}))
