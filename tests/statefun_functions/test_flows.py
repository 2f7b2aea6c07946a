"""Whole flows through all five functions, with the in-process Flow harness.

The harness routes the real functions' messages to each other and fires the
counter's delayed messages on a virtual clock: 30 days in milliseconds.

A file of its own, not part of test_main.py: each test here is about what the five
functions of main.py do together (and with the merchant service), replaying the
request-reply protocol from ingress to egress, not about one function's branches.
"""

from datetime import timedelta

import pytest

from contract import ALERTS_TOPIC, COUNTER, DEAD_LETTERS_TOPIC, THRESHOLD, TRANSACTION_MANAGER, type_of
from entities_pb2 import Alert, ConfirmFraud, CustomThreshold, FeatureVector, ReportedFraud, Transaction
from harness import Flow, raw_typed, typed
from main import fraud_score
from merchant_service import merchant_score

ACCOUNT = "0x009D999B"
RISKY = "Uparc"


@pytest.fixture
async def flow(functions, merchant_service_url):
    return Flow(functions)


def transact(flow, transaction_id, amount=900, merchant=RISKY, account=ACCOUNT):
    transaction = Transaction(account=account, merchant=merchant, amount=amount)
    flow.ingress(TRANSACTION_MANAGER, transaction_id, typed(transaction))
    return transaction


def confirm(flow, account=ACCOUNT):
    flow.ingress(COUNTER, account, typed(ConfirmFraud(account=account)))


def alerted_ids(flow):
    return [record.parse(Alert).transaction_id for record in flow.topic(ALERTS_TOPIC)]


def expected_score(fraud_count, merchant, amount):
    """The model's score (tested on its own in test_main.py), from the merchant service's score."""
    return fraud_score(FeatureVector(fraud_count=fraud_count, merchant_score=merchant_score(merchant), amount=amount))


async def test_a_transaction_above_the_threshold_ends_as_one_alert(flow, configure):
    configure(fraud_threshold=-1)
    transaction = transact(flow, "t-1")
    await flow.run()

    [record] = flow.topic(ALERTS_TOPIC)
    assert record.key == ACCOUNT
    assert record.parse(Alert) == Alert(
        transaction_id="t-1",
        transaction=transaction,
        threshold=-1,
        score=expected_score(0, RISKY, 900),
        merchant_score=merchant_score(RISKY),  # what the score came from travels with it
    )
    # one transaction: itself, three queries, three answers, the model, its score
    assert flow.delivered == 9


async def test_the_manager_keeps_only_the_score_after_a_transaction(flow):
    transact(flow, "t-1")
    await flow.run()
    state = flow.instance(TRANSACTION_MANAGER, "t-1").state
    assert [name for name, value in state.items() if value is not None] == ["scored"]


async def test_the_same_record_twice_alerts_once(flow, configure):
    configure(fraud_threshold=-1)
    transact(flow, "twice")
    transact(flow, "twice")
    await flow.run()
    transact(flow, "twice")
    await flow.run()

    assert alerted_ids(flow) == ["twice"]
    assert len(flow.topic(DEAD_LETTERS_TOPIC)) == 2


async def test_confirmed_frauds_raise_the_score_until_an_alert(flow, configure):
    base = expected_score(0, RISKY, 900)
    configure(fraud_threshold=base + 30)  # needs two confirmed frauds (+40) to alert
    transact(flow, "before")
    await flow.run()
    confirm(flow)
    confirm(flow)
    await flow.run()
    transact(flow, "after")
    await flow.run()

    assert alerted_ids(flow) == ["after"]


async def test_a_custom_threshold_applies_to_its_account_only(flow, configure):
    configure(fraud_threshold=100)
    flow.ingress(THRESHOLD, ACCOUNT, typed(CustomThreshold(threshold=1, account=ACCOUNT)))
    await flow.run()
    transact(flow, "strict-account")
    transact(flow, "other-account", account="0x0000BEEF")
    await flow.run()

    assert alerted_ids(flow) == ["strict-account"]


async def test_confirmations_leave_the_window_after_thirty_days(flow, configure):
    configure(fraud_window=timedelta(days=30))
    counter = flow.instance(COUNTER, ACCOUNT)
    for _day in range(3):
        confirm(flow)
        await flow.advance(timedelta(days=1))
    assert counter.value("fraud_count", ReportedFraud).count == 3

    await flow.advance(timedelta(days=27, hours=12))  # day 30.5: the first has expired
    assert counter.value("fraud_count", ReportedFraud).count == 2
    await flow.advance(timedelta(days=2))
    assert counter.value("fraud_count", ReportedFraud) is None
    assert not flow.timers


async def test_many_transactions_alert_exactly_on_the_scores_above_the_threshold(flow, configure):
    configure(fraud_threshold=30)
    merchants = ["Hypergrid", "Uparc", "Zenlo", "Trikonex", "Solbi"]
    expected = []
    for number in range(200):
        merchant, amount = merchants[number % 5], (number * 37) % 2000
        transact(flow, f"t-{number}", amount=amount, merchant=merchant, account=f"0x{number % 7:08X}")
        if expected_score(0, merchant, amount) > 30:
            expected.append(f"t-{number}")
    await flow.run()

    assert sorted(alerted_ids(flow)) == sorted(expected)
    assert 0 < len(expected) < 200
    assert flow.topic(DEAD_LETTERS_TOPIC) == []


async def test_a_poison_record_does_not_stop_the_next_one(flow, configure):
    configure(fraud_threshold=-1)
    flow.ingress(TRANSACTION_MANAGER, "poison", raw_typed(type_of(Transaction).typename, b"\x0a\xff"))
    transact(flow, "good")
    await flow.run()

    assert alerted_ids(flow) == ["good"]
    assert [record.key for record in flow.topic(DEAD_LETTERS_TOPIC)] == ["poison"]
