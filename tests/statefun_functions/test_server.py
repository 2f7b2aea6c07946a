"""The HTTP endpoint: good requests, and every kind of bad one."""

import asyncio
import os
import pathlib
import signal
import subprocess
import sys
import time

import aiohttp
import psutil
import pytest
from statefun.request_reply_pb2 import FromFunction

import server
from contract import HEALTH_PATH, MODEL, STATEFUN_PATH, TRANSACTION_MANAGER
from entities_pb2 import FeatureVector, FraudScore
from harness import address, to_function, typed

FUNCTIONS_DIR = pathlib.Path(__file__).resolve().parents[2] / "statefun-functions"


@pytest.fixture
async def client(aiohttp_client, functions):
    return await aiohttp_client(server.create_app(functions))


def model_request(batch=1) -> bytes:
    arguments = [typed(FeatureVector(fraud_count=1, merchant_score=40, amount=500))] * batch
    callers = [address(TRANSACTION_MANAGER, "t-1")] * batch
    return to_function(MODEL, "0x1", arguments, state={}, callers=callers).SerializeToString()


async def test_a_good_request_gets_the_functions_answer(client):
    response = await client.post(STATEFUN_PATH, data=model_request())

    assert response.status == 200
    assert response.content_type == "application/octet-stream"
    result = FromFunction.FromString(await response.read()).invocation_result
    assert FraudScore.FromString(result.outgoing_messages[0].argument.value).score == 55


async def test_a_batch_far_above_one_mebibyte_is_accepted(client):
    body = model_request(batch=60_000)
    assert len(body) > 4 * 1024 * 1024

    response = await client.post(STATEFUN_PATH, data=body)

    assert response.status == 200
    assert len(FromFunction.FromString(await response.read()).invocation_result.outgoing_messages) == 60_000


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b"\xff\xff\xff\xff", 400, "is not a serialized StateFun ToFunction"),
        (b"", 400, "names no target function"),
        (to_function("ververica/nobody", "1", [], {}).SerializeToString(), 404, "no function ververica/nobody"),
        (
            to_function(MODEL, "", [typed(FeatureVector())], {}).SerializeToString(),
            400,
            "names no instance of ververica/model",
        ),
        # found by the fuzzer: a string field that is not UTF-8 (the target's namespace)
        (b"\xa2\x06\x05\x0a\x03\x0a\x01\xf6", 400, "is not a serialized StateFun ToFunction"),
        # CVE-2025-4565: 200,000 start-group tags of an unknown field 99, never closed ...
        (bytes([0x9B, 0x06]) * 200_000, 400, "is not a serialized StateFun ToFunction"),
        # ... and well-formed: 20,000 groups nested and closed again, deeper than any parser goes
        (bytes([0x9B, 0x06]) * 20_000 + bytes([0x9C, 0x06]) * 20_000, 400, "is not a serialized StateFun ToFunction"),
    ],
)
async def test_a_bad_request_gets_a_4xx_with_a_one_line_reason(client, caplog, body, status, reason):
    response = await client.post(STATEFUN_PATH, data=body)
    text = await response.text()

    assert response.status == status
    assert reason in text and text.count("\n") == 1
    assert reason in caplog.text


async def test_an_oversized_body_is_refused_before_it_is_read(client):
    response = await client.post(STATEFUN_PATH, data=b"\0" * (server.MAX_REQUEST_BYTES + 1))
    assert response.status == 413


async def test_the_worker_keeps_serving_after_bad_requests(client):
    for _ in range(3):
        await client.post(STATEFUN_PATH, data=b"garbage")
    assert (await client.post(STATEFUN_PATH, data=model_request())).status == 200


async def test_health_lists_the_five_functions_and_the_state_they_declare(client):
    body = await (await client.get(HEALTH_PATH)).json()
    workshop = "com.googleapis/workshop"
    assert body == {
        "status": "ok",
        "functions": [
            "ververica/counter",
            "ververica/merchant",
            "ververica/model",
            "ververica/threshold",
            "ververica/transaction-manager",
        ],
        "state": [  # what statefun-runtime/last-state.sh compares with a checkpoint's
            f"ververica/counter fraud_count {workshop}.ReportedFraud",
            f"ververica/merchant merchant_score {workshop}.MerchantScore",
            f"ververica/threshold threshold {workshop}.CustomThreshold",
            f"ververica/transaction-manager fraud_count {workshop}.ReportedFraud",
            f"ververica/transaction-manager merchant_score {workshop}.MerchantScore",
            f"ververica/transaction-manager scored {workshop}.FraudScore",
            f"ververica/transaction-manager threshold {workshop}.CustomThreshold",
            f"ververica/transaction-manager transaction {workshop}.Transaction",
        ],
    }


def start_worker(extra_env):
    env = {**os.environ, **extra_env}
    return subprocess.Popen(
        [sys.executable, "main.py"],
        cwd=FUNCTIONS_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.parametrize(
    "variable, value",
    [("FRAUD_THRESHOLD", "high"), ("FRAUD_WINDOW", "30 days"), ("MERCHANT_SERVICE_URL", "merchant:8002")],
)
def test_an_invalid_setting_stops_the_worker_naming_the_variable(variable, value):
    worker = start_worker({variable: value})
    output, _ = worker.communicate(timeout=30)

    assert worker.returncode != 0
    assert variable in output and value in output
    assert "Traceback" not in output


@pytest.mark.parametrize("processes", [1, 2])
def test_python_main_serves_and_stops_cleanly_on_sigterm(unused_tcp_port, processes):
    worker = start_worker({"PORT": str(unused_tcp_port), "WORKERS": str(processes)})
    try:
        wait_until_healthy(worker, unused_tcp_port)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=15)
    finally:
        worker.kill()
    assert worker.returncode == 0
    assert "serving 5 functions" in output
    assert output.count("stopped") == processes, output  # each server process stopped cleanly


def test_the_worker_as_shipped_runs_protobuf_on_upb_with_uvloop_and_says_so(unused_tcp_port):
    """The pure-Python protobuf the SDK pins is slow and has CVE-2025-4565; make setup installs upb."""
    worker = start_worker({"PORT": str(unused_tcp_port), "WORKERS": "", "EVENT_LOOP": ""})
    try:
        wait_until_healthy(worker, unused_tcp_port)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=15)
    finally:
        worker.kill()
    cpus = len(os.sched_getaffinity(0))
    assert f"with {cpus} process(es) on uvloop, protobuf upb" in output, output


def test_server_processes_end_with_a_parent_killed_hard(unused_tcp_port):
    """Else they would keep the port and the restarted worker could not start."""
    worker = start_worker({"PORT": str(unused_tcp_port), "WORKERS": "2"})
    try:
        wait_until_healthy(worker, unused_tcp_port)
        children = psutil.Process(worker.pid).children()
        assert len(children) == 2
        worker.kill()
        worker.wait(timeout=10)
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert alive == [], f"server processes outlived their parent: {alive}"
    finally:
        worker.kill()


def wait_until_healthy(worker, port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            asyncio.run(_get_health(port))
            return
        except aiohttp.ClientError:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "python-worker did not answer within 30 s"
            time.sleep(0.2)


async def _get_health(port):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}{HEALTH_PATH}") as response:
            assert response.status == 200
