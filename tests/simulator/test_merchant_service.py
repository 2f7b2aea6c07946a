import pytest

from merchant_service import create_app, merchant_score


def test_scores_are_fixed_per_merchant_and_mostly_low():
    names = [f"merchant-{n}" for n in range(2000)]
    scores = [merchant_score(name) for name in names]
    assert scores == [merchant_score(name) for name in names]
    assert all(0 <= score <= 100 for score in scores)
    assert 0.65 * len(scores) < sum(score < 50 for score in scores) < 0.75 * len(scores)


async def test_it_answers_the_score_as_json(aiohttp_client):
    client = await aiohttp_client(create_app(latency_ms=0))
    response = await client.get("/score/Hypergrid")
    assert response.status == 200
    assert await response.json() == {"merchant": "Hypergrid", "score": merchant_score("Hypergrid")}


async def test_it_fails_at_the_configured_rate(aiohttp_client):
    client = await aiohttp_client(create_app(latency_ms=0, error_rate=0.3, seed=11))
    statuses = [(await client.get("/score/Uparc")).status for _ in range(300)]
    assert set(statuses) == {200, 503}
    assert 60 <= statuses.count(503) <= 120


@pytest.mark.parametrize("latency, error_rate", [(-1, 0), (0, 1.5)])
def test_bad_settings_are_refused(latency, error_rate):
    with pytest.raises(ValueError):
        create_app(latency_ms=latency, error_rate=error_rate)
