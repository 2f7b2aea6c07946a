"""Each function of main.py, branch by branch, through the request-reply protocol."""

import itertools
from datetime import timedelta

import pytest
from aiohttp import web
from statefun import RequestReplyHandler
from statefun.request_reply_pb2 import FromFunction

import main
from contract import (
    COUNTER,
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
    query_count,
    query_threshold,
    raw_typed,
    targets,
    to_function,
    typed,
)
from merchant_client import MerchantScoreClient, RetryPolicy
from merchant_service import merchant_score

ACCOUNT = "0x00F3CD51"
TRANSACTION_ID = "7f3a0c"
A_TRANSACTION = Transaction(account=ACCOUNT, merchant="Hypergrid", amount=36)


# --- the transaction manager --------------------------------------------------


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


# --- the fraud counter ---------------------------------------------------------


@pytest.fixture
def counter(functions):
    return Instance(functions, COUNTER, ACCOUNT)


ASKER = address(TRANSACTION_MANAGER, TRANSACTION_ID)


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


# --- the merchant function -------------------------------------------------------


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


# --- the threshold function ---------------------------------------------------------


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


# --- the model -------------------------------------------------------------------


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
