"""main.py: each function, branch by branch, through the request-reply protocol.

One section per function (the transaction manager, the fraud counter, the merchant function, the
threshold function, the model), each ending with the edges of what the function accepts: the last
value taken and the first one refused. The model's numbers are computed by hand, as README.md's
"The model" promises them. Flows through several functions are in test_flows.py.
"""

import itertools
from datetime import timedelta

import pytest
from aiohttp import web
from statefun import RequestReplyHandler
from statefun.request_reply_pb2 import Address, FromFunction

import main
from contract import (
    ALERTS_TOPIC,
    COUNTER,
    DEAD_LETTERS_TOPIC,
    MERCHANT,
    MODEL,
    THRESHOLD,
    TRANSACTION_MANAGER,
    type_of,
)
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
from harness import (
    Instance,
    address,
    alerts,
    assert_refused,
    egress_records,
    query_count,
    query_threshold,
    raw_typed,
    targets,
    to_function,
    typed,
)
from merchant_client import MerchantScoreClient, MerchantScoreUnavailable, RetryPolicy
from merchant_service import merchant_score

ACCOUNT = "0x00F3CD51"
TRANSACTION_ID = "t-1"
A_TRANSACTION = Transaction(account=ACCOUNT, merchant="Hypergrid", amount=36)
ASKER = address(TRANSACTION_MANAGER, TRANSACTION_ID)


def topic(result, name, message_class):
    return [record.parse(message_class) for record in egress_records(result) if record.topic == name]


# --- the transaction manager ----------------------------------------------------------------------


@pytest.fixture
def manager(functions):
    return Instance(functions, TRANSACTION_MANAGER, TRANSACTION_ID)


async def test_first_call_negotiates_the_managers_state(functions):
    request = to_function(TRANSACTION_MANAGER, TRANSACTION_ID, [typed(A_TRANSACTION)], state={})
    response = FromFunction.FromString(await RequestReplyHandler(functions).handle_async(request.SerializeToString()))

    missing = {value.state_name: value.type_typename for value in response.incomplete_invocation_context.missing_values}
    assert missing == {
        "transaction": "com.googleapis/workshop.Transaction",
        "fraud_count": "com.googleapis/workshop.ReportedFraud",
        "merchant_score": "com.googleapis/workshop.MerchantScore",
        "threshold": "com.googleapis/workshop.CustomThreshold",
        "scored": "com.googleapis/workshop.FraudScore",
    }


async def test_a_transaction_asks_for_its_three_features(manager):
    result = await manager.invoke(typed(A_TRANSACTION))

    assert targets(result) == [
        (COUNTER, ACCOUNT, type_of(QueryFraud).typename),
        (MERCHANT, "Hypergrid", type_of(QueryMerchantScore).typename),
        (THRESHOLD, ACCOUNT, type_of(QueryThreshold).typename),
    ]
    assert manager.value("transaction", Transaction) == A_TRANSACTION


FEATURE_ANSWERS = [
    typed(ReportedFraud(count=2)),
    typed(MerchantScore(score=40)),
    typed(CustomThreshold(threshold=0, account=ACCOUNT)),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
async def test_the_feature_vector_goes_out_once_all_three_answers_are_in(manager, order):
    await manager.invoke(typed(A_TRANSACTION))

    sent = []
    for index in order:
        sent.append(targets(await manager.invoke(FEATURE_ANSWERS[index])))

    assert sent[:2] == [[], []]
    assert sent[2] == [(MODEL, ACCOUNT, type_of(FeatureVector).typename)]


async def test_the_feature_vector_carries_the_answers_and_the_amount(manager):
    await manager.invoke(typed(A_TRANSACTION))
    result = None
    for answer in FEATURE_ANSWERS:
        result = await manager.invoke(answer)

    assert FeatureVector.FromString(result.outgoing_messages[0].argument.value) == FeatureVector(
        fraud_count=2, merchant_score=40, amount=36
    )


async def score(manager, fraud_score, custom_threshold=0):
    await manager.invoke(typed(A_TRANSACTION))
    await manager.invoke(typed(ReportedFraud(count=0)))
    await manager.invoke(typed(MerchantScore(score=10)))
    await manager.invoke(typed(CustomThreshold(threshold=custom_threshold, account=ACCOUNT)))
    return await manager.invoke(typed(FraudScore(score=fraud_score)))


async def test_a_score_above_the_default_threshold_raises_an_alert_keyed_by_account(manager, configure):
    configure(fraud_threshold=50)
    result = await score(manager, fraud_score=51)

    assert alerts(result) == [
        (
            ACCOUNT,
            Alert(transaction_id=TRANSACTION_ID, transaction=A_TRANSACTION, score=51, threshold=50, merchant_score=10),
        )
    ]


async def test_an_alert_says_what_its_score_came_from_and_which_threshold_applied(manager, configure):
    configure(fraud_threshold=50)
    await manager.invoke(typed(A_TRANSACTION))
    await manager.invoke(typed(ReportedFraud(count=2)))
    await manager.invoke(typed(MerchantScore(score=50, is_fallback=True)))
    await manager.invoke(typed(CustomThreshold(threshold=30, account=ACCOUNT)))
    result = await manager.invoke(typed(FraudScore(score=61)))

    [(_, alert)] = alerts(result)
    assert (alert.fraud_count, alert.merchant_score, alert.merchant_score_fallback) == (2, 50, True)
    assert (alert.threshold, alert.custom_threshold) == (30, True)


async def test_a_score_equal_to_the_threshold_raises_no_alert(manager, configure):
    configure(fraud_threshold=50)
    assert alerts(await score(manager, fraud_score=50)) == []


@pytest.mark.parametrize("fraud_score", [51, 20])
async def test_the_manager_forgets_the_transaction_either_way_but_its_score(manager, fraud_score):
    await score(manager, fraud_score)

    assert {name: value for name, value in manager.state.items() if value is not None} == {
        "scored": typed(FraudScore(score=fraud_score))
    }


async def test_the_scored_marker_expires_after_ten_minutes(functions):
    request = to_function(TRANSACTION_MANAGER, TRANSACTION_ID, [typed(A_TRANSACTION)], state={})
    response = FromFunction.FromString(await RequestReplyHandler(functions).handle_async(request.SerializeToString()))
    [marker] = [
        value for value in response.incomplete_invocation_context.missing_values if value.state_name == "scored"
    ]
    assert marker.expiration_spec.mode == FromFunction.ExpirationSpec.ExpireMode.AFTER_WRITE
    assert marker.expiration_spec.expire_after_millis == 10 * 60 * 1000


async def test_a_duplicate_of_a_scored_transaction_raises_no_second_alert(manager, configure):
    configure(fraud_threshold=-1)
    assert alerts(await score(manager, fraud_score=70))
    assert_refused(await manager.invoke(typed(A_TRANSACTION)), "scored less than 10 minutes ago")


@pytest.mark.parametrize(
    "custom, fraud_score, alerted",
    [
        (80, 70, False),  # a tolerant account: 70 is not above its 80
        (30, 40, True),  # a strict account: 40 is above its 30, though below the default
        (0, 40, False),  # no custom threshold: the default (50) applies
    ],
)
async def test_a_custom_threshold_replaces_the_default(manager, configure, custom, fraud_score, alerted):
    configure(fraud_threshold=50)
    found = alerts(await score(manager, fraud_score, custom_threshold=custom))

    assert bool(found) == alerted
    if found:
        assert found[0][1].threshold == custom


@pytest.mark.parametrize("default, fraud_score, alerted", [(-1, 0, True), (100, 100, False)])
async def test_the_default_threshold_ranges_from_alert_all_to_alert_none(
    manager, configure, default, fraud_score, alerted
):
    configure(fraud_threshold=default)
    assert bool(alerts(await score(manager, fraud_score))) == alerted


@pytest.mark.parametrize(
    "transaction, reason",
    [
        (Transaction(account=ACCOUNT, amount=3), "needs an account and a merchant"),
        (Transaction(merchant="Uparc", amount=3), "needs an account and a merchant"),
        (Transaction(account=ACCOUNT, merchant="Uparc", amount=-3), "negative amount"),
        (Transaction(account=ACCOUNT, merchant="U" * 257, amount=3), "longer than 256 characters"),
    ],
)
async def test_an_incomplete_transaction_is_dead_lettered(manager, transaction, reason):
    letter = assert_refused(await manager.invoke(typed(transaction)), reason)

    assert letter.payload == transaction.SerializeToString()
    assert (letter.function_type, letter.function_id) == (TRANSACTION_MANAGER, TRANSACTION_ID)
    assert manager.value("transaction", Transaction) is None


async def test_a_duplicate_of_a_transaction_in_flight_is_scored_once(manager):
    await manager.invoke(typed(A_TRANSACTION))
    assert_refused(await manager.invoke(typed(A_TRANSACTION)), "duplicate")
    assert manager.value("transaction", Transaction) == A_TRANSACTION


@pytest.mark.parametrize("answer", FEATURE_ANSWERS + [typed(FraudScore(score=99))])
async def test_an_answer_for_no_transaction_is_dead_lettered(manager, answer):
    assert_refused(await manager.invoke(answer), "no transaction is being scored")


async def test_garbage_on_the_transactions_topic_is_dead_lettered_with_its_bytes(manager):
    garbage = b"\xff\xfe not protobuf"
    letter = assert_refused(await manager.invoke(raw_typed(type_of(Transaction).typename, garbage)), "not a valid")

    assert letter.payload == garbage
    assert letter.message_type == type_of(Transaction).typename


async def test_a_record_of_another_type_on_the_transactions_topic_is_dead_lettered(manager):
    # A CustomThreshold's bytes: field 1 is a number where Transaction has a string.
    wrong = CustomThreshold(threshold=7, account=ACCOUNT).SerializeToString()
    assert_refused(await manager.invoke(raw_typed(type_of(Transaction).typename, wrong)), "not a")


async def test_an_unexpected_message_type_is_dead_lettered(manager):
    assert_refused(
        await manager.invoke(typed(ConfirmFraud(account=ACCOUNT))), "does not take com.googleapis/workshop.ConfirmFraud"
    )


# At the edges of what it accepts: the last value taken and the first one refused.


@pytest.mark.parametrize(
    "transaction",
    [
        Transaction(account="A" * 256, merchant="Uparc", amount=3),
        Transaction(account=ACCOUNT, merchant="M" * 256, amount=3),
        Transaction(account=ACCOUNT, merchant="Uparc", amount=0),
    ],
)
async def test_names_of_256_characters_and_an_amount_of_zero_are_scored(manager, transaction):
    result = await manager.invoke(typed(transaction))

    assert topic(result, DEAD_LETTERS_TOPIC, DeadLetter) == []
    assert [(m.target.type, m.target.id) for m in result.outgoing_messages] == [
        ("counter", transaction.account),
        ("merchant", transaction.merchant),
        ("threshold", transaction.account),
    ]


@pytest.mark.parametrize(
    "transaction, reason",
    [
        (Transaction(account="A" * 257, merchant="Uparc", amount=3), "longer than 256 characters"),
        (Transaction(account=ACCOUNT, merchant="Uparc", amount=-1), "negative amount (-1)"),
    ],
)
async def test_a_257_character_account_and_an_amount_of_minus_one_are_dead_lettered(manager, transaction, reason):
    result = await manager.invoke(typed(transaction))

    [letter] = topic(result, DEAD_LETTERS_TOPIC, DeadLetter)
    assert reason in letter.reason
    assert not result.outgoing_messages


async def decide(manager, fraud_score, custom_threshold):
    await manager.invoke(typed(Transaction(account=ACCOUNT, merchant="Uparc", amount=5)))
    await manager.invoke(typed(ReportedFraud(count=0)))
    await manager.invoke(typed(MerchantScore(score=10)))
    await manager.invoke(typed(CustomThreshold(threshold=custom_threshold, account=ACCOUNT)))
    return topic(await manager.invoke(typed(FraudScore(score=fraud_score))), ALERTS_TOPIC, Alert)


async def test_a_custom_threshold_of_100_silences_even_the_top_score(manager, configure):
    configure(fraud_threshold=-1)
    assert await decide(manager, fraud_score=100, custom_threshold=100) == []


async def test_a_custom_threshold_of_99_alerts_on_the_top_score(manager, configure):
    configure(fraud_threshold=100)
    [alert] = await decide(manager, fraud_score=100, custom_threshold=99)
    assert (alert.score, alert.threshold) == (100, 99)


async def test_a_negative_custom_threshold_is_no_threshold_of_its_own(manager, configure):
    """The threshold function never keeps one; should one arrive, the default applies."""
    configure(fraud_threshold=50)
    assert await decide(manager, fraud_score=40, custom_threshold=-1) == []


# --- the fraud counter ----------------------------------------------------------------------------


@pytest.fixture
def counter(functions):
    return Instance(functions, COUNTER, ACCOUNT)


async def test_the_count_of_an_account_without_frauds_is_zero(counter):
    assert await query_count(counter, ASKER) == 0
    assert counter.value("fraud_count", ReportedFraud) is None


async def test_each_confirmation_counts_and_schedules_its_own_expiry(counter, configure):
    configure(fraud_window=timedelta(days=30))
    for _ in range(2):
        result = await counter.invoke(typed(ConfirmFraud(account=ACCOUNT)))
        [expiry] = result.delayed_invocations
        assert (expiry.target.type, expiry.target.id) == ("counter", ACCOUNT)
        assert expiry.argument.typename == type_of(ExpireFraud).typename
        assert expiry.delay_in_ms == 30 * 24 * 3600 * 1000

    assert await query_count(counter, ASKER) == 2


async def test_the_window_follows_the_setting(counter, configure):
    configure(fraud_window=timedelta(seconds=90))
    result = await counter.invoke(typed(ConfirmFraud(account=ACCOUNT)))
    assert result.delayed_invocations[0].delay_in_ms == 90_000


async def test_expiry_counts_down_and_deletes_the_state_at_zero(counter):
    for _ in range(2):
        await counter.invoke(typed(ConfirmFraud(account=ACCOUNT)))

    await counter.invoke(typed(ExpireFraud()))
    assert counter.value("fraud_count", ReportedFraud) == ReportedFraud(count=1)
    result = await counter.invoke(typed(ExpireFraud()))
    assert [m.mutation_type for m in result.state_mutations] == [
        FromFunction.PersistedValueMutation.MutationType.Value("DELETE")
    ]
    assert counter.value("fraud_count", ReportedFraud) is None


async def test_expiry_never_counts_below_zero(counter):
    await counter.invoke(typed(ExpireFraud()))
    assert await query_count(counter, ASKER) == 0


async def test_a_confirmation_keyed_to_another_account_is_dead_lettered(counter):
    assert_refused(await counter.invoke(typed(ConfirmFraud(account="0xOTHER"))), "was keyed")


async def test_an_empty_confirmation_is_dead_lettered(counter):
    assert_refused(await counter.invoke(raw_typed(type_of(ConfirmFraud).typename, b"")), "was keyed")
    assert await query_count(counter, ASKER) == 0


async def test_a_transaction_on_the_confirmed_topic_is_dead_lettered(counter):
    as_confirmation = raw_typed(type_of(ConfirmFraud).typename, A_TRANSACTION.SerializeToString())
    assert_refused(await counter.invoke(as_confirmation), "it is a workshop.Transaction")
    assert await query_count(counter, ASKER) == 0


async def test_a_query_without_a_caller_is_dead_lettered(counter):
    assert_refused(await counter.invoke(typed(QueryFraud())), "must come from a function")


# At the edges of what it accepts: the last value taken and the first one refused.


async def test_the_count_of_three_frauds_drops_to_two_when_one_expires(functions):
    counter = Instance(functions, COUNTER, ACCOUNT)
    for _ in range(3):
        await counter.invoke(typed(ConfirmFraud(account=ACCOUNT)))

    await counter.invoke(typed(ExpireFraud()))

    assert counter.value("fraud_count", ReportedFraud) == ReportedFraud(count=2)


@pytest.mark.parametrize(
    "caller",
    [
        Address(namespace="ververica", type="", id="t-1"),
        Address(namespace="", type="transaction-manager", id="t-1"),
        Address(namespace="ververica", type="transaction-manager", id=""),
    ],
)
async def test_a_query_from_an_incomplete_address_is_dead_lettered_not_failed(functions, caller):
    """The SDK would refuse the answer's address only after the function returned: the whole
    invocation would fail, and the runtime retry it forever (found by test_endpoint_fuzz)."""
    counter = Instance(functions, COUNTER, ACCOUNT)
    result = await counter.invoke(typed(QueryFraud()), callers=[caller])
    [letter] = topic(result, DEAD_LETTERS_TOPIC, DeadLetter)
    assert "cannot send to the incomplete address" in letter.reason
    assert not result.outgoing_messages


# --- the merchant function ------------------------------------------------------------------------


async def ask_merchant(functions, name="Hypergrid", instance=None):
    instance = instance or Instance(functions, MERCHANT, name)
    result = await instance.invoke(typed(QueryMerchantScore()), callers=[ASKER])
    [reply] = result.outgoing_messages
    assert reply.target.id == TRANSACTION_ID
    return instance, MerchantScore.FromString(reply.argument.value)


async def test_the_merchant_score_comes_from_the_service(functions, merchant_service_url):
    instance, answer = await ask_merchant(functions, "Hypergrid")

    assert answer == MerchantScore(score=merchant_score("Hypergrid"))
    assert instance.value("merchant_score", MerchantScore) == answer


async def test_the_merchant_score_is_cached_for_an_hour(functions, aiohttp_server, worker):
    asked = []

    async def count_and_answer(request):
        asked.append(request.match_info["merchant"])
        return web.json_response({"score": 42})

    app = web.Application()
    app.router.add_get("/score/{merchant}", count_and_answer)
    server = await aiohttp_server(app)
    client = MerchantScoreClient(str(server.make_url("")))
    worker.use_merchant_scores(client)

    request = to_function(MERCHANT, "Uparc", [typed(QueryMerchantScore())], state={})
    negotiation = FromFunction.FromString(
        await RequestReplyHandler(functions).handle_async(request.SerializeToString())
    )
    [spec] = negotiation.incomplete_invocation_context.missing_values
    assert spec.expiration_spec.mode == FromFunction.ExpirationSpec.ExpireMode.AFTER_WRITE
    assert spec.expiration_spec.expire_after_millis == 3600 * 1000

    instance, first = await ask_merchant(functions, "Uparc")
    _, second = await ask_merchant(functions, "Uparc", instance)
    await client.close()

    assert first == second == MerchantScore(score=42)
    assert asked == ["Uparc"]


async def test_when_the_service_stays_down_the_fallback_score_answers_uncached(functions, worker, unused_tcp_port):
    nothing_listens = f"http://127.0.0.1:{unused_tcp_port}"
    client = MerchantScoreClient(nothing_listens, RetryPolicy(attempts=2, first_backoff_seconds=0.01))
    worker.use_merchant_scores(client)

    instance, answer = await ask_merchant(functions, "Zenlo")
    await client.close()

    assert answer == MerchantScore(score=main.FALLBACK_MERCHANT_SCORE, is_fallback=True)
    assert instance.value("merchant_score", MerchantScore) is None


async def test_the_merchant_function_takes_only_queries(functions):
    instance = Instance(functions, MERCHANT, "Hypergrid")
    assert_refused(
        await instance.invoke(typed(ReportedFraud(count=1)), callers=[ASKER]),
        "does not take com.googleapis/workshop.ReportedFraud, only com.googleapis/workshop.QueryMerchantScore",
    )


# When the merchant-score service cannot score a merchant.


class ServiceDown:
    """A merchant-score client whose service stays down: what the real one raises after its retries."""

    def __init__(self):
        self.asked = []

    async def score(self, merchant):
        self.asked.append(merchant)
        raise MerchantScoreUnavailable(f"no score for {merchant!r} after 3 attempts")


async def test_a_merchant_the_service_cannot_score_gets_50_and_is_asked_about_again(functions, worker, caplog):
    service = ServiceDown()
    worker.use_merchant_scores(service)
    instance = Instance(functions, MERCHANT, "Zenlo")

    answers = []
    for _ in range(2):
        result = await instance.invoke(typed(QueryMerchantScore()), callers=[ASKER])
        [reply] = result.outgoing_messages
        answers.append(MerchantScore.FromString(reply.argument.value))

    assert answers == [MerchantScore(score=50, is_fallback=True)] * 2
    assert service.asked == ["Zenlo", "Zenlo"]  # the fallback is not cached
    assert "ververica/merchant/Zenlo: using the fallback score 50" in caplog.text


# --- the threshold function -----------------------------------------------------------------------


@pytest.fixture
def threshold(functions):
    return Instance(functions, THRESHOLD, ACCOUNT)


async def test_an_account_without_a_threshold_gets_zero(threshold):
    assert await query_threshold(threshold, ASKER) == CustomThreshold(threshold=0, account=ACCOUNT)


async def test_a_custom_threshold_is_kept_and_answered(threshold):
    await threshold.invoke(typed(CustomThreshold(threshold=70, account=ACCOUNT)))
    assert await query_threshold(threshold, ASKER) == CustomThreshold(threshold=70, account=ACCOUNT)


async def test_a_threshold_of_zero_restores_the_default(threshold):
    await threshold.invoke(typed(CustomThreshold(threshold=70, account=ACCOUNT)))
    await threshold.invoke(typed(CustomThreshold(threshold=0, account=ACCOUNT)))

    assert threshold.value("threshold", CustomThreshold) is None
    assert (await query_threshold(threshold, ASKER)).threshold == 0


@pytest.mark.parametrize(
    "update, reason",
    [
        (CustomThreshold(threshold=101, account=ACCOUNT), "from 0 (the default) to 100"),
        (CustomThreshold(threshold=-5, account=ACCOUNT), "from 0 (the default) to 100"),
        (CustomThreshold(threshold=40, account="0xOTHER"), "was keyed"),
        (CustomThreshold(threshold=40), "was keyed"),
        (CustomThreshold(), "was keyed"),  # an empty record
    ],
)
async def test_an_invalid_threshold_is_dead_lettered_and_the_old_one_kept(threshold, update, reason):
    await threshold.invoke(typed(CustomThreshold(threshold=70, account=ACCOUNT)))
    assert_refused(await threshold.invoke(typed(update)), reason)
    assert (await query_threshold(threshold, ASKER)).threshold == 70


async def test_a_confirmation_on_the_thresholds_topic_is_dead_lettered(threshold):
    # The original workshop's bug: its threshold producer sent ConfirmFraud records.
    wrong = raw_typed(type_of(CustomThreshold).typename, ConfirmFraud(account=ACCOUNT).SerializeToString())
    assert_refused(await threshold.invoke(wrong), "field(s) [1] are not of the type")


# At the edges of what it accepts: the last value taken and the first one refused.


async def kept_threshold(instance):
    [reply] = (await instance.invoke(typed(QueryThreshold()), callers=[ASKER])).outgoing_messages
    return CustomThreshold.FromString(reply.argument.value).threshold


@pytest.mark.parametrize("value", [1, 100])
async def test_thresholds_from_1_to_100_are_kept(threshold, value):
    result = await threshold.invoke(typed(CustomThreshold(threshold=value, account=ACCOUNT)))

    assert topic(result, DEAD_LETTERS_TOPIC, DeadLetter) == []
    assert await kept_threshold(threshold) == value


@pytest.mark.parametrize("value", [-1, 101])
async def test_thresholds_of_minus_1_and_101_are_dead_lettered(threshold, value):
    result = await threshold.invoke(typed(CustomThreshold(threshold=value, account=ACCOUNT)))

    [letter] = topic(result, DEAD_LETTERS_TOPIC, DeadLetter)
    assert f"from 0 (the default) to 100, not {value}" in letter.reason
    assert await kept_threshold(threshold) == 0


async def test_the_log_says_which_threshold_an_account_set(threshold, caplog):
    caplog.set_level("INFO")
    await threshold.invoke(typed(CustomThreshold(threshold=70, account=ACCOUNT)))
    await threshold.invoke(typed(CustomThreshold(threshold=0, account=ACCOUNT)))

    assert f"ververica/threshold/{ACCOUNT}: threshold set to 70" in caplog.text
    assert f"ververica/threshold/{ACCOUNT}: threshold set to the default" in caplog.text


# --- the model ------------------------------------------------------------------------------------


async def model_score(functions, features):
    result = await Instance(functions, MODEL, ACCOUNT).invoke(typed(features), callers=[ASKER])
    [reply] = result.outgoing_messages
    assert reply.target.id == TRANSACTION_ID
    return FraudScore.FromString(reply.argument.value).score


@pytest.mark.parametrize(
    "features, expected",
    [
        (FeatureVector(fraud_count=0, merchant_score=0, amount=0), 0),
        (FeatureVector(fraud_count=1, merchant_score=40, amount=500), 20 + 20 + 15),
        (FeatureVector(fraud_count=9, merchant_score=100, amount=100_000), 100),
    ],
)
async def test_the_model_scores_by_its_documented_formula(functions, features, expected):
    assert await model_score(functions, features) == expected


async def test_the_model_is_deterministic(functions):
    features = FeatureVector(fraud_count=1, merchant_score=73, amount=812)
    assert len({await model_score(functions, features) for _ in range(5)}) == 1


async def test_the_model_dead_letters_features_out_of_range(functions):
    instance = Instance(functions, MODEL, ACCOUNT)
    result = await instance.invoke(typed(FeatureVector(merchant_score=250)), callers=[ASKER])
    assert_refused(result, "out of range")


# The model's numbers, as README.md's "The model" promises them, computed by hand.
#
# 20 points per confirmed fraud, at most 60; half the merchant's score (50 points at most);
# 30 × amount / (amount + 500) for the amount; the sum rounded, and capped at 100. Each
# expected score below is worked out in its comment, and the inputs are chosen so that a
# change to any of these numbers (a cap of 59, a weight of 49, 499 instead of 500, a floor
# instead of a division) changes at least one score: rounding hides none of them.


async def invoke_model(functions, fraud_count=0, merchant_score=0, amount=0):
    features = FeatureVector(fraud_count=fraud_count, merchant_score=merchant_score, amount=amount)
    return await Instance(functions, MODEL, "0x0000A11C").invoke(typed(features), callers=[ASKER])


async def score_of(functions, **features) -> int:
    [reply] = (await invoke_model(functions, **features)).outgoing_messages
    assert (reply.target.type, reply.target.id) == ("transaction-manager", "t-1")
    return FraudScore.FromString(reply.argument.value).score


@pytest.mark.parametrize(
    "fraud_count, score",
    [
        (0, 0),
        (1, 20),
        (2, 40),
        (3, 60),
        (4, 60),  # 80, capped at 60: the history alone never reaches the cap of the sum
        (50, 60),
    ],
)
async def test_each_confirmed_fraud_adds_twenty_points_up_to_sixty(functions, fraud_count, score):
    assert await score_of(functions, fraud_count=fraud_count) == score


@pytest.mark.parametrize(
    "merchant_score, score",
    [
        (0, 0),
        (40, 20),
        (98, 49),
        (100, 50),  # the merchant weighs 50 points, at most
    ],
)
async def test_the_merchant_weighs_half_of_its_score(functions, merchant_score, score):
    assert await score_of(functions, merchant_score=merchant_score) == score


@pytest.mark.parametrize(
    "amount, score",
    [
        (100, 5),  # 30 × 100 / 600 = 5
        (500, 15),  # 30 × 500 / 1000 = 15: half of the 30 points at 500 USD
        (1_499, 22),  # 30 × 1499 / 1999 = 22.496: rounded down
        (1_501, 23),  # 30 × 1501 / 2001 = 22.504: rounded up
        (2_000_000_000, 30),  # 29.99999: the 30 points are approached, never passed
    ],
)
async def test_the_amount_adds_up_to_thirty_points_half_of_them_at_500_usd(functions, amount, score):
    assert await score_of(functions, amount=amount) == score


@pytest.mark.parametrize(
    "fraud_count, merchant_score, amount, score",
    [
        (1, 40, 500, 55),  # 20 + 20 + 15
        (0, 41, 66, 24),  # 20.5 + 3.498 = 23.998: the sum is rounded, not each term (20 + 3 = 23)
        (0, 100, 468, 65),  # 50 + 14.504 = 64.504
        (2, 73, 812, 95),  # 40 + 36.5 + 18.567 = 95.067
        (3, 100, 500, 100),  # 60 + 50 + 15 = 125, capped at 100
        (2, 100, 100_000, 100),  # 40 + 50 + 29.85 = 119.85, capped at 100
    ],
)
async def test_the_sum_is_rounded_then_capped_at_one_hundred(functions, fraud_count, merchant_score, amount, score):
    assert await score_of(functions, fraud_count=fraud_count, merchant_score=merchant_score, amount=amount) == score


@pytest.mark.parametrize(
    "features, score",
    [
        (dict(fraud_count=0, merchant_score=0, amount=0), 0),
        (dict(fraud_count=2_000_000_000, merchant_score=100, amount=2_000_000_000), 100),
    ],
)
async def test_features_at_the_edges_of_their_range_are_scored(functions, features, score):
    assert await score_of(functions, **features) == score


@pytest.mark.parametrize(
    "features",
    [
        dict(fraud_count=-1),
        dict(merchant_score=-1),
        dict(merchant_score=101),
        dict(amount=-1),
    ],
)
async def test_features_just_outside_their_range_are_dead_lettered(functions, features):
    result = await invoke_model(functions, **features)

    assert not result.outgoing_messages
    [letter] = [record.parse(DeadLetter) for record in egress_records(result) if record.topic == DEAD_LETTERS_TOPIC]
    assert "features out of range" in letter.reason
    assert letter.function_type == MODEL


# --- the log --------------------------------------------------------------------------------------


async def test_the_log_names_the_function_address(counter, manager, configure, caplog):
    caplog.set_level("DEBUG")  # the alert line is DEBUG: one per transaction under load
    await counter.invoke(typed(ConfirmFraud(account=ACCOUNT)))
    await counter.invoke(typed(ExpireFraud()))
    configure(fraud_threshold=-1)
    await score(manager, fraud_score=12)
    await manager.invoke(raw_typed(type_of(Transaction).typename, b"\xff"))

    assert f"ververica/counter/{ACCOUNT}: fraud confirmed, 1 in the window" in caplog.text
    assert f"ververica/counter/{ACCOUNT}: a fraud left the window, 0 in it" in caplog.text
    assert f"ververica/transaction-manager/{TRANSACTION_ID}: ALERT score 12 > threshold -1" in caplog.text
    assert f"ververica/transaction-manager/{TRANSACTION_ID}: dead-lettered a" in caplog.text
