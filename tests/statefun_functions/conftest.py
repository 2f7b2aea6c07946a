import pytest

import merchant_service
from harness import Worker
from merchant_client import MerchantScoreClient, RetryPolicy


@pytest.fixture
def worker():
    return Worker()


@pytest.fixture
def functions(worker):
    return worker.functions


@pytest.fixture
def configure(worker):
    """Change python-worker's settings for one test, e.g. configure(fraud_threshold=-1)."""
    return worker.configure


@pytest.fixture
async def merchant_service_url(aiohttp_server, worker):
    """The simulator's merchant-score service on a free local port, fast and reliable,
    with the merchant function's client pointed at it."""
    server = await aiohttp_server(merchant_service.create_app(latency_ms=0, error_rate=0.0))
    url = str(server.make_url("")).rstrip("/")
    client = MerchantScoreClient(url, RetryPolicy(attempts=2, attempt_timeout_seconds=2.0))
    worker.use_merchant_scores(client)
    yield url
    await client.close()
