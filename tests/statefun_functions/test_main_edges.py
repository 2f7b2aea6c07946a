"""main.py at the edges of what it accepts: the last value taken and the first one refused."""

import pytest
from statefun.request_reply_pb2 import Address

from contract import ALERTS_TOPIC, COUNTER, DEAD_LETTERS_TOPIC, MERCHANT, THRESHOLD, TRANSACTION_MANAGER
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
from harness import Instance, address, egress_records, typed
from merchant_client import MerchantScoreUnavailable

ACCOUNT = "0x00E5D6E5"
ASKER = address(TRANSACTION_MANAGER, "t-1")


def topic(result, name, message_class):
    return [record.parse(message_class) for record in egress_records(result) if record.topic == name]


# --- the transaction manager ----------------------------------------------------


@pytest.fixture
def manager(functions):
    return Instance(functions, TRANSACTION_MANAGER, "t-1")


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


# --- the threshold function --------------------------------------------------------


@pytest.fixture
def threshold(functions):
    return Instance(functions, THRESHOLD, ACCOUNT)


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


# --- the merchant function ------------------------------------------------------------


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


# --- the fraud counter -------------------------------------------------------------------


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
