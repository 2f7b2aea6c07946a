"""Checks of the model exercise: fraud_score turns the three features into 0-100, as the
README's "The model" table says. Each asks the model function through the protocol."""

from checking import Check, worker
from contract import MODEL, TRANSACTION_MANAGER
from entities_pb2 import FeatureVector, FraudScore
from harness import Instance, address, typed

ASKER = address(TRANSACTION_MANAGER, "t-1")


async def score(fraud_count: int = 0, merchant_score: int = 0, amount: int = 0) -> int:
    model = Instance(worker().functions, MODEL, "0x00ACC0UNT")
    features = FeatureVector(fraud_count=fraud_count, merchant_score=merchant_score, amount=amount)
    result = await model.invoke(typed(features), callers=[ASKER])
    answers = [m for m in result.outgoing_messages if m.target.id == ASKER.id]
    assert answers, f"the model sent no FraudScore back for {features}".replace("\n", " ")
    return FraudScore.FromString(answers[0].argument.value).score


def expect(expected: int, **features) -> None:
    async def probe():
        got = await score(**features)
        assert got == expected, f"features {features} score {got}, not {expected}"

    return probe


def all_of(*probes):
    async def probe():
        for one in probes:
            await one()

    return probe


CHECKS = [
    Check(
        "nothing known against a transaction scores 0",
        "No frauds, a merchant scored 0 and nothing spent add up to 0 points.",
        expect(0),
    ),
    Check(
        "each confirmed fraud in the window adds 20 points",
        "history = 20 * features.fraud_count",
        all_of(expect(20, fraud_count=1), expect(40, fraud_count=2)),
    ),
    Check(
        "the fraud history adds at most 60 points",
        "Cap the history: min(60, 20 * features.fraud_count).",
        expect(60, fraud_count=5),
    ),
    Check(
        "the merchant's score (0-100) weighs 50 points",
        "merchant risk = 50 * features.merchant_score / 100",
        all_of(expect(50, merchant_score=100), expect(20, merchant_score=40)),
    ),
    Check(
        "the amount adds up to 30 points, 15 of them at 500 USD",
        "amount risk = 30 * amount / (amount + 500): it grows fast at first, then ever slower towards 30.",
        all_of(expect(15, amount=500), expect(25, amount=2500)),
    ),
    Check(
        "the points add up, rounded to a whole number",
        "Return round(history + merchant risk + amount risk).",
        expect(round(20 + 50 * 33 / 100 + 30 * 120 / 620), fraud_count=1, merchant_score=33, amount=120),
    ),
    Check(
        "the score is capped at 100",
        "Return min(100, ...) of the sum: 60 + 50 + 30 would be 140.",
        expect(100, fraud_count=3, merchant_score=100, amount=10_000),
    ),
]
