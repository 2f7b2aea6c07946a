"""The README's claim: the default threshold alerts on a few percent of the simulator's traffic."""

import pytest

import config
from entities_pb2 import FeatureVector
from main import fraud_score
from merchant_service import merchant_score
from traffic import Traffic

pytestmark = pytest.mark.slow  # make check leaves it to make test-unit


def share_alerted(fraud_count: int, seeds=range(3), per_seed=10_000) -> float:
    alerted = total = 0
    for seed in seeds:
        traffic = Traffic(seed=seed)
        for _ in range(per_seed):
            _, transaction = traffic.transaction(0)
            features = FeatureVector(
                fraud_count=fraud_count, merchant_score=merchant_score(transaction.merchant), amount=transaction.amount
            )
            alerted += fraud_score(features) > config.DEFAULT_FRAUD_THRESHOLD
            total += 1
    return alerted / total


def test_clean_accounts_alert_on_a_few_percent():
    assert 0.02 < share_alerted(fraud_count=0) < 0.05


def test_confirmed_frauds_make_alerts_much_more_likely():
    assert share_alerted(fraud_count=1) > 5 * share_alerted(fraud_count=0)
