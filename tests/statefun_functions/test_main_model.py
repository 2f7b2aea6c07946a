"""The model's numbers, as README.md's "The model" promises them, computed by hand.

20 points per confirmed fraud, at most 60; half the merchant's score (50 points at most);
30 × amount / (amount + 500) for the amount; the sum rounded, and capped at 100. Each
expected score below is worked out in its comment, and the inputs are chosen so that a
change to any of these numbers (a cap of 59, a weight of 49, 499 instead of 500, a floor
instead of a division) changes at least one score: rounding hides none of them.
"""

import pytest

from contract import DEAD_LETTERS_TOPIC, MODEL, TRANSACTION_MANAGER
from entities_pb2 import DeadLetter, FeatureVector, FraudScore
from harness import Instance, address, egress_records, typed

ASKER = address(TRANSACTION_MANAGER, "t-1")


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
