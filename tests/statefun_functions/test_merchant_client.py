"""merchant_client.py: the merchant-score client, against local test servers.

First in real time: slow, failing, then recovering services. Then the documented retry policy on
a virtual clock. merchant_client.py promises 3 attempts of 1 s each, no wait before the first, then
waits drawn with full jitter from 0 up to a ceiling that starts at 100 ms, doubles, and stops at
1 s; it retries 5xx, 429, bad answers and timeouts, and nothing else. In that second part the
client's sleeps and random draws are recorded instead of taken (the jitter draws the ceiling
itself), so the schedule is checked exactly, and no test waits for it.
"""

import asyncio
import time
import types

import aiohttp
import pytest
from aiohttp import web

import merchant_client
from merchant_client import MerchantScoreClient, MerchantScoreUnavailable, RetryPolicy

# --- in real time: slow, failing, then recovering services ----------------------------------------

FAST_RETRIES = RetryPolicy(attempts=3, attempt_timeout_seconds=0.2, first_backoff_seconds=0.01)


async def serve(aiohttp_server, answers):
    """A service that gives the answers in turn: a status, 'slow', or a score."""
    calls = []

    async def score(request):
        calls.append(request.match_info["merchant"])
        answer = answers[min(len(calls), len(answers)) - 1]
        if answer == "slow":
            await asyncio.sleep(1.0)
            return web.json_response({"score": 1})
        if isinstance(answer, int) and answer >= 400:
            return web.json_response({"error": "x"}, status=answer)
        return web.json_response(answer if isinstance(answer, dict) else {"score": answer})

    app = web.Application()
    app.router.add_get("/score/{merchant}", score)
    server = await aiohttp_server(app)
    return MerchantScoreClient(str(server.make_url("/")), FAST_RETRIES), calls


async def test_a_healthy_service_is_asked_once(aiohttp_server):
    client, calls = await serve(aiohttp_server, [17])
    assert await client.score("Hypergrid") == 17
    assert calls == ["Hypergrid"]
    await client.close()


async def test_a_merchant_name_is_one_path_segment(aiohttp_server):
    client, calls = await serve(aiohttp_server, [5])
    await client.score("Bits & Bytes/Co")
    assert calls == ["Bits & Bytes/Co"]
    await client.close()


@pytest.mark.parametrize("failure", [503, 500, 429, "slow", {"score": "high"}, {"score": 250}])
async def test_it_retries_a_failing_then_recovering_service(aiohttp_server, failure):
    client, calls = await serve(aiohttp_server, [failure, failure, 33])
    assert await client.score("Uparc") == 33
    assert len(calls) == 3
    await client.close()


async def test_it_gives_up_after_the_attempts_in_bounded_time(aiohttp_server):
    client, calls = await serve(aiohttp_server, ["slow"])
    started = time.monotonic()
    with pytest.raises(MerchantScoreUnavailable, match="after 3 attempts"):
        await client.score("Zenlo")
    # 3 attempts of at most 0.2 s, plus backoffs of at most 0.01 + 0.02 s
    assert time.monotonic() - started < 1.0
    assert len(calls) == 3
    await client.close()


async def test_a_client_error_is_not_retried(aiohttp_server):
    client, calls = await serve(aiohttp_server, [404])
    with pytest.raises(MerchantScoreUnavailable, match="HTTP 404"):
        await client.score("Nobody")
    assert len(calls) == 1
    await client.close()


async def test_an_unreachable_service_is_unavailable(unused_tcp_port):
    client = MerchantScoreClient(f"http://127.0.0.1:{unused_tcp_port}", FAST_RETRIES)
    with pytest.raises(MerchantScoreUnavailable, match="ClientConnectorError"):
        await client.score("Hypergrid")
    await client.close()


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(first_backoff_seconds=0.1, max_backoff_seconds=0.3)
    assert all(0 <= policy.backoff_before(1) <= 0.1 for _ in range(100))
    assert all(0 <= policy.backoff_before(5) <= 0.3 for _ in range(100))
    assert max(policy.backoff_before(2) for _ in range(200)) > 0.1


# --- the documented retry policy, on a virtual clock ----------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """Records what the client sleeps, and the range of each jitter draw; takes no time."""
    recorded = types.SimpleNamespace(sleeps=[], draws=[], timeouts=[])

    async def sleep(seconds):
        recorded.sleeps.append(seconds)

    def uniform(low, high):
        recorded.draws.append((low, high))
        return high

    def client_session(**options):
        recorded.timeouts.append(options["timeout"].total)
        return aiohttp.ClientSession(**options)

    monkeypatch.setattr(
        merchant_client, "asyncio", types.SimpleNamespace(sleep=sleep, TimeoutError=asyncio.TimeoutError)
    )
    monkeypatch.setattr(merchant_client, "random", types.SimpleNamespace(uniform=uniform))
    monkeypatch.setattr(
        merchant_client,
        "aiohttp",
        types.SimpleNamespace(
            ClientSession=client_session, ClientTimeout=aiohttp.ClientTimeout, ClientError=aiohttp.ClientError
        ),
    )
    return recorded


@pytest.fixture
def service(aiohttp_server):
    """service(answers, policy): a client of a local service giving the answers in turn, and its calls.

    An answer is a score (below 200), an HTTP status (200 and above, with no score), a JSON body, or raw text."""

    async def start(answers, policy=None):
        policy = policy or RetryPolicy()
        calls = []

        async def score(request):
            calls.append(request.match_info["merchant"])
            answer = answers[min(len(calls), len(answers)) - 1]
            if isinstance(answer, str):
                return web.Response(text=answer)
            if not isinstance(answer, int):
                return web.json_response(answer)
            if answer >= 200:
                return web.json_response({"error": "x"}, status=answer)
            return web.json_response({"score": answer})

        app = web.Application()
        app.router.add_get("/score/{merchant}", score)
        server = await aiohttp_server(app)
        return MerchantScoreClient(str(server.make_url("/")), policy), calls

    return start


async def test_a_healthy_service_is_asked_at_once_without_waiting(clock, service):
    client, calls = await service([17])
    assert await client.score("Hypergrid") == 17
    await client.close()

    assert calls == ["Hypergrid"]
    assert clock.sleeps == []


async def test_a_service_that_stays_down_gets_three_attempts_of_one_second(clock, service):
    client, calls = await service([503])
    with pytest.raises(MerchantScoreUnavailable, match="^no score for 'Zenlo' after 3 attempts: HTTP 503$"):
        await client.score("Zenlo")
    await client.close()

    assert calls == ["Zenlo"] * 3
    assert clock.draws == [(0, 0.1), (0, 0.2)]  # full jitter: from 0 to 100 ms, then to 200 ms
    assert clock.sleeps == [0.1, 0.2]
    assert clock.timeouts == [1.0]  # one session, for every attempt


async def test_the_ceiling_of_the_backoff_doubles_until_one_second(clock, service):
    client, calls = await service([500], RetryPolicy(attempts=7))
    with pytest.raises(MerchantScoreUnavailable, match="after 7 attempts"):
        await client.score("Uparc")
    await client.close()

    assert len(calls) == 7
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert all(low == 0 for low, _ in clock.draws)


async def test_one_failure_costs_one_wait(clock, service):
    client, calls = await service([429, 33])
    assert await client.score("Solbi") == 33
    await client.close()

    assert len(calls) == 2
    assert clock.sleeps == [0.1]


@pytest.mark.parametrize("status", [201, 400, 404, 428, 430, 499])
async def test_an_answer_other_than_200_5xx_or_429_is_not_retried(clock, service, status):
    client, calls = await service([status, 40])
    with pytest.raises(MerchantScoreUnavailable, match=f"^HTTP {status} for 'Trikonex'$"):
        await client.score("Trikonex")
    await client.close()

    assert len(calls) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "bad_answer",
    [
        {"score": -1},
        {"score": 101},
        {"score": True},
        {"score": 50.0},
        {"points": 50},
        [50],
        "not JSON",
        "",
    ],
)
async def test_an_answer_without_a_score_from_0_to_100_is_retried(clock, service, bad_answer):
    client, calls = await service([bad_answer, 61])
    assert await client.score("Zenlo") == 61
    await client.close()

    assert len(calls) == 2


@pytest.mark.parametrize("score", [0, 1, 99, 100])
async def test_scores_from_0_to_100_are_taken(clock, service, score):
    client, _ = await service([score])
    assert await client.score("Uparc") == score
    await client.close()


async def test_a_long_bad_answer_is_reported_cut_at_200_characters(clock, service):
    body = {"score": "x" * 500}
    client, _ = await service([body])
    with pytest.raises(MerchantScoreUnavailable) as raised:
        await client.score("Zenlo")
    await client.close()

    reason = f"the answer for 'Zenlo' has no score from 0 to 100: {body!r}"[:200]
    assert str(raised.value) == f"no score for 'Zenlo' after 3 attempts: {reason}"


async def test_closing_a_client_that_never_asked_opens_nothing(clock, service):
    # python-worker closes its client at shutdown, also when no lookup ever ran.
    client, calls = await service([12])

    await client.close()

    assert clock.timeouts == []  # no session was opened just to be closed
    assert calls == []
    assert await client.score("Solbi") == 12  # and the client still serves: its first use opens the session
    await client.close()
    assert clock.timeouts == [1.0]


async def test_a_closed_client_opens_a_new_session_when_asked_again(clock, service):
    client, calls = await service([12])
    assert await client.score("Solbi") == 12
    await client.close()
    assert await client.score("Solbi") == 12
    await client.close()

    assert len(clock.timeouts) == 2


def test_a_retry_policy_cannot_change_once_made():
    """The default policy is one object, shared by every client."""
    with pytest.raises(AttributeError):
        RetryPolicy().attempts = 10
