"""The merchant-score client against local test servers: slow, failing, then recovering."""

import asyncio
import time

import pytest
from aiohttp import web

from merchant_client import MerchantScoreClient, MerchantScoreUnavailable, RetryPolicy

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
