"""python-worker's GET /metrics: what it counts, and one sum over all of its processes."""

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from test_merchant_client import serve as serve_answers
from test_server import FUNCTIONS_DIR, start_worker, wait_until_healthy

import metrics
import server
from contract import METRICS_PATH, MODEL, STATEFUN_PATH, TRANSACTION_MANAGER
from entities_pb2 import FeatureVector
from harness import address, to_function, typed
from merchant_client import MerchantScoreUnavailable
from prometheus_text import samples
from statefun_internals import served_typenames


def value(text: str, name: str, **labels) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def model_request(features: FeatureVector, batch: int) -> bytes:
    callers = [address(TRANSACTION_MANAGER, f"t-{n}") for n in range(batch)]
    return to_function(MODEL, "0x1", [typed(features)] * batch, state={}, callers=callers).SerializeToString()


GOOD = FeatureVector(fraud_count=1, merchant_score=40, amount=500)
OUT_OF_RANGE = FeatureVector(fraud_count=1, merchant_score=400, amount=500)


@pytest.fixture
async def client(aiohttp_client, functions):
    return await aiohttp_client(server.create_app(functions))


async def scrape(client) -> str:
    response = await client.get(METRICS_PATH)
    assert response.status == 200
    assert response.content_type == "text/plain"
    return await response.text()


async def test_each_invocation_and_each_batch_is_counted_per_function(client):
    before = await scrape(client)
    response = await client.post(STATEFUN_PATH, data=model_request(GOOD, batch=3))
    assert response.status == 200
    after = await scrape(client)

    count = "python_worker_invocation_seconds_count"
    assert value(after, count, function=MODEL) - value(before, count, function=MODEL) == 3
    assert value(after, "python_worker_batch_size_count") - value(before, "python_worker_batch_size_count") == 1
    assert value(after, "python_worker_batch_size_sum") - value(before, "python_worker_batch_size_sum") == 3
    assert value(after, "python_worker_batch_size_bucket", le="2.0") == value(
        before, "python_worker_batch_size_bucket", le="2.0"
    )


async def test_a_dead_letter_is_counted_with_its_function_and_kind_of_reason(client):
    name = "python_worker_dead_letters_total"
    before = await scrape(client)
    await client.post(STATEFUN_PATH, data=model_request(OUT_OF_RANGE, batch=2))
    after = await scrape(client)

    assert (
        value(after, name, function=MODEL, reason="bad-message")
        - value(before, name, function=MODEL, reason="bad-message")
        == 2
    )
    # Still invocations: each one answered, with a dead letter.
    count = "python_worker_invocation_seconds_count"
    assert value(after, count, function=MODEL) - value(before, count, function=MODEL) == 2


async def test_each_served_function_has_its_dead_letter_series_from_the_start(client, functions):
    """At 0 before the first dead letter: an alert rule tells "none" from "not scraped"."""
    text = await scrape(client)
    for function in served_typenames(functions):
        assert ("python_worker_dead_letters_total", (("function", function), ("reason", "bad-message"))) in samples(
            text
        ), function
    assert value(text, "python_worker_dead_letters_total", function=MODEL, reason="bad-message") == 0


def test_importing_the_functions_makes_no_metrics_folder(tmp_path):
    """The folder is made when python-worker serves (server.run), not by `import main`."""
    environment = {**os.environ, "TMPDIR": str(tmp_path)}
    imported = subprocess.run(
        [sys.executable, "-c", "import os, main, metrics; print(os.listdir(os.environ['TMPDIR']))"],
        cwd=FUNCTIONS_DIR,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "[]"  # looked at before exit (an atexit hook removed it then)


async def merchant_counts(client) -> dict[str, float]:
    text = await scrape(client)
    counts = {
        outcome: value(text, "python_worker_merchant_requests_total", outcome=outcome)
        for outcome in ("ok", "error", "timeout", "refused")
    }
    counts["retries"] = value(text, "python_worker_merchant_retries_total")
    counts["fallbacks"] = value(text, "python_worker_merchant_fallbacks_total")
    return counts


def increase(before: dict, after: dict) -> dict:
    return {key: after[key] - before[key] for key in before if after[key] != before[key]}


@pytest.mark.parametrize(
    "answers, counted",
    [
        ([17], {"ok": 1}),
        ([503, 17], {"error": 1, "ok": 1, "retries": 1}),
        (["slow"], {"timeout": 3, "retries": 2, "fallbacks": 1}),
        ([404], {"refused": 1, "fallbacks": 1}),
    ],
    ids=["answered", "retried", "timed-out", "refused"],
)
async def test_merchant_service_calls_retries_and_fallbacks_are_counted(client, aiohttp_server, answers, counted):
    merchant_scores, _ = await serve_answers(aiohttp_server, answers)
    before = await merchant_counts(client)
    try:
        await merchant_scores.score("Uparc")
    except MerchantScoreUnavailable:
        pass
    finally:
        await merchant_scores.close()
    assert increase(before, await merchant_counts(client)) == counted


# --- the processes of WORKERS=n, and a restart --------------------------------------------------


def post_on_a_new_connection(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", STATEFUN_PATH, body=body)
        return connection.getresponse().status
    finally:
        connection.close()


def scrape_port(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{METRICS_PATH}", timeout=10) as response:
        return response.read().decode()


def model_invocations(port: int) -> float:
    return value(scrape_port(port), "python_worker_invocation_seconds_count", function=MODEL)


@pytest.mark.slow
def test_every_process_answers_with_the_sum_over_all_of_them_and_a_restart_starts_from_zero(unused_tcp_port):
    port = unused_tcp_port
    worker = start_worker({"PORT": str(port), "WORKERS": "2"})
    try:
        wait_until_healthy(worker, port)
        # 40 connections: the kernel spreads them over both processes (SO_REUSEPORT), so each
        # process has served some; any one that answered with its own count alone would say less.
        for _ in range(40):
            assert post_on_a_new_connection(port, model_request(GOOD, batch=1)) == 200
        # Each process writes its counts once a second: within a few, every answer is the sum.
        deadline = time.monotonic() + 10
        while {model_invocations(port) for _ in range(20)} != {40.0}:
            assert time.monotonic() < deadline, {model_invocations(port) for _ in range(20)}
            time.sleep(0.5)
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=15)
    finally:
        worker.kill()

    restarted = start_worker({"PORT": str(port), "WORKERS": "2"})
    try:
        wait_until_healthy(restarted, port)
        assert model_invocations(port) == 0
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.communicate(timeout=15)


async def test_without_prometheus_client_the_worker_serves_and_metrics_say_what_to_do(client, monkeypatch):
    """An image built before prometheus-client was a requirement runs today's mounted code."""

    def missing():
        raise ImportError("No module named 'prometheus_client'")

    monkeypatch.setattr(server.metrics, "exposition", missing)
    response = await client.get(METRICS_PATH)
    assert response.status == 503
    assert "docker compose up -d --build" in await response.text()
    assert (await client.post(STATEFUN_PATH, data=model_request(GOOD, batch=1))).status == 200


def test_a_metrics_file_that_cannot_be_written_costs_the_metrics_not_the_serving(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(metrics, "_folder", tmp_path / "gone")  # no such folder: every write fails
    metrics.write_own_counts()
    metrics.write_own_counts()
    warnings = [r for r in caplog.records if "cannot write the metrics" in r.getMessage()]
    assert len(warnings) == 1  # said once, not once a second
    monkeypatch.setattr(metrics, "_folder", tmp_path)
    metrics.write_own_counts()
    assert list(tmp_path.glob("*.json"))
