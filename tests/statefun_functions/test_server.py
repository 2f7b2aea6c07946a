"""server.py: the HTTP endpoint, and the processes that serve it.

The endpoint with good requests and every kind of bad one, and when a function has a bug; python
main.py as a process; serve() and its server processes when a port is taken or a process fails;
probing the port before sharing it; the choice of event loop.
"""

import asyncio
import errno
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import psutil
import pytest
from aiohttp.test_utils import TestClient, TestServer
from statefun import StatefulFunctions
from statefun.request_reply_pb2 import FromFunction

import config
import server
from contract import HEALTH_PATH, MODEL, STATEFUN_PATH, TRANSACTION_MANAGER
from entities_pb2 import FeatureVector, FraudScore
from harness import address, to_function, typed

FUNCTIONS_DIR = pathlib.Path(__file__).resolve().parents[2] / "statefun-functions"
MIB = 1024 * 1024

# --- the endpoint: good requests, and every kind of bad one ---------------------------------------


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


@pytest.mark.slow
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


# --- the endpoint: a bug in a function, what is logged, the size limit, shutdown ------------------


def a_function_with_a_bug():
    """Not guarded by dead_letter_on_failure: its exception reaches the endpoint."""
    functions = StatefulFunctions()

    @functions.bind(typename="test/buggy")
    def buggy(context, message):
        raise RuntimeError("a bug")

    return functions


async def test_an_exception_in_a_function_is_a_500_logged_with_its_traceback(aiohttp_client, caplog):
    client = await aiohttp_client(server.create_app(a_function_with_a_bug()))
    body = to_function("test/buggy", "7", [typed(FeatureVector())], {}).SerializeToString()

    response = await client.post(STATEFUN_PATH, data=body)

    assert response.status == 500
    assert await response.text() == "internal error while invoking test/buggy/7\n"
    [record] = [r for r in caplog.records if r.name == "server"]
    assert record.levelname == "ERROR"
    assert record.exc_info and isinstance(record.exc_info[1], RuntimeError)


async def test_a_bad_request_is_logged_as_a_warning_without_a_traceback(aiohttp_client, functions, caplog):
    client = await aiohttp_client(server.create_app(functions))

    response = await client.post(STATEFUN_PATH, data=b"\xff\xff")

    assert response.status == 400
    [record] = [r for r in caplog.records if r.name == "server"]
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert "refused (400)" in record.getMessage()


@pytest.mark.parametrize("namespace, function_type", [("ververica", ""), ("", "model")])
async def test_a_target_without_a_namespace_or_a_type_is_a_400(aiohttp_client, functions, namespace, function_type):
    client = await aiohttp_client(server.create_app(functions))
    request = to_function(MODEL, "1", [typed(FeatureVector())], {})
    request.invocation.target.namespace = namespace
    request.invocation.target.type = function_type

    response = await client.post(STATEFUN_PATH, data=request.SerializeToString())

    assert response.status == 400
    assert await response.text() == "the ToFunction message names no target function\n"


@pytest.mark.slow
async def test_a_body_of_64_mib_is_read_and_one_byte_more_is_refused(aiohttp_client, functions):
    client = await aiohttp_client(server.create_app(functions))

    read = await client.post(STATEFUN_PATH, data=b"\0" * (64 * MIB))
    refused = await client.post(STATEFUN_PATH, data=b"\0" * (64 * MIB + 1))

    assert read.status == 400  # for what the body is, not for its size
    assert "is not a serialized StateFun ToFunction message" in await read.text()
    assert refused.status == 413


async def test_each_shutdown_callback_runs_once_when_the_endpoint_stops(functions):
    closed = []

    async def close():
        closed.append("closed")

    async with TestClient(TestServer(server.create_app(functions, on_shutdown=[close, close]))) as client:
        assert (await client.get(HEALTH_PATH)).status == 200
        assert closed == []
    assert closed == ["closed", "closed"]


# --- python main.py as a process: a bad setting, serving, stopping --------------------------------


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


@pytest.mark.slow
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


# --- serve() and the server processes: taken ports, failing processes -----------------------------


@pytest.fixture
def run_app(monkeypatch):
    """Records how serve() calls aiohttp's run_app, instead of serving."""
    calls = []
    monkeypatch.setattr(server.web, "run_app", lambda app, **options: calls.append(options))
    return calls


def settings(**values):
    return config.from_environment({"PORT": "8123", **values})


def test_serve_listens_where_configured_without_access_log_and_gives_requests_5_s_to_finish(run_app, functions, caplog):
    caplog.set_level("INFO")
    server.serve(functions, settings(BIND_ADDRESS="0.0.0.0"))

    assert run_app == [
        dict(host="0.0.0.0", port=8123, reuse_port=None, access_log=None, shutdown_timeout=5.0, print=None)
    ]
    assert "stopped" in caplog.text


def test_server_processes_share_their_port(run_app, functions):
    server.serve(functions, settings(), reuse_port=True)
    assert run_app[0]["reuse_port"] is True


def test_a_port_that_cannot_be_had_stops_serve_with_the_reason(monkeypatch, functions):
    def taken(app, **options):
        raise OSError(errno.EADDRINUSE, "Address already in use")

    monkeypatch.setattr(server.web, "run_app", taken)
    with pytest.raises(SystemExit, match="^python-worker: cannot listen on 127.0.0.1:8123: Address already in use$"):
        server.serve(functions, settings())


def start_worker_on(port, **env):
    return start_worker({"PORT": str(port), **env})


def test_one_worker_on_a_taken_port_stops_with_the_reason(unused_tcp_port):
    with socket.create_server(("127.0.0.1", unused_tcp_port)):
        worker = start_worker_on(unused_tcp_port, WORKERS="1", EVENT_LOOP="asyncio")
        output, _ = worker.communicate(timeout=30)

    assert worker.returncode == 1
    assert "with 1 process(es) on asyncio" in output
    assert f"python-worker: cannot listen on 127.0.0.1:{unused_tcp_port}: " in output
    assert "it is taken" not in output and "Traceback" not in output


def test_when_one_server_process_dies_the_others_are_stopped_and_the_worker_exits_1(unused_tcp_port):
    worker = start_worker_on(unused_tcp_port, WORKERS="2")
    try:
        wait_until_healthy(worker, unused_tcp_port)
        first, second = psutil.Process(worker.pid).children()
        first.kill()
        output, _ = worker.communicate(timeout=15)
    finally:
        worker.kill()

    assert worker.returncode == 1
    assert f"server process {first.pid} exited (-9): stopping the others" in output
    assert "Traceback" not in output
    assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE


@pytest.fixture
def signal_handlers():
    """serve_child() installs its own SIGTERM and SIGINT handlers: put the test process's back."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.parametrize(
    "outcome, status",
    [
        (None, 0),  # stopped by SIGTERM: serve() returns
        (SystemExit(None), 0),
        (SystemExit(3), 3),
        (SystemExit("python-worker: cannot listen on 127.0.0.1:8123: Address already in use"), 1),
        (RuntimeError("a bug"), 1),
    ],
)
def test_a_server_process_exits_with_a_status_the_parent_reports(
    signal_handlers, monkeypatch, functions, capsys, caplog, outcome, status
):
    def serve(*args, **options):
        if outcome is not None:
            raise outcome

    monkeypatch.setattr(server, "serve", serve)

    assert server.serve_child(functions, settings(), on_shutdown=()) == status
    if isinstance(outcome, SystemExit) and isinstance(outcome.code, str):
        assert capsys.readouterr().err == outcome.code + "\n"  # the reason, not a traceback
    if isinstance(outcome, RuntimeError):
        [record] = [r for r in caplog.records if r.name == "server"]
        assert record.getMessage() == "server process failed" and record.exc_info[1] is outcome


def test_a_server_process_whose_parent_died_first_exits_at_once():
    """The parent can die between fork() and end_with_parent(): its SIGTERM would never come."""
    script = (
        "import os, time, prefork\n"
        "parent = os.getpid()\n"
        "if os.fork():\n"
        "    os._exit(0)\n"
        "while os.getppid() == parent:\n"
        "    time.sleep(0.01)\n"
        "prefork.end_with_parent(parent)\n"
        "print('still running', flush=True)\n"
    )
    orphan = subprocess.run(
        [sys.executable, "-c", script], cwd=FUNCTIONS_DIR, capture_output=True, text=True, timeout=30
    )
    assert orphan.stdout == ""


# --- probing the port before sharing it -----------------------------------------------------------


@pytest.fixture
def ipv4_listener():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


@pytest.fixture
def ipv6_listener():
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with listener:
        yield listener.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "", "localhost"])
def test_a_port_taken_on_ipv4_answers_a_probe_for_any_ipv4_bind_address(ipv4_listener, host):
    assert server.port_answers(host, ipv4_listener)


def test_all_ipv6_interfaces_are_probed_on_the_ipv6_loopback(ipv6_listener):
    assert server.port_answers("::", ipv6_listener)
    assert not server.port_answers("127.0.0.1", ipv6_listener)


def test_a_free_port_does_not_answer(unused_tcp_port):
    assert not server.port_answers("0.0.0.0", unused_tcp_port)


def test_bind_address_all_ipv6_interfaces_is_probed_on_the_ipv6_loopback_for_half_a_second(monkeypatch):
    asked = []

    def create_connection(address, timeout):
        asked.append((address, timeout))
        raise TimeoutError()

    monkeypatch.setattr(server.socket, "create_connection", create_connection)
    monkeypatch.setenv("BIND_ADDRESS", "::")
    bind_address = config.from_environment().bind_address

    assert not server.port_answers(bind_address, 8123)
    assert asked == [(("::1", 8123), 0.5)]


# --- the event loop -------------------------------------------------------------------------------


@pytest.fixture
def restore_event_loop_policy():
    saved = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(saved)


@pytest.mark.parametrize("choice, loop", [("asyncio", "asyncio"), ("auto", "uvloop"), ("uvloop", "uvloop")])
def test_event_loop_from_the_environment(restore_event_loop_policy, monkeypatch, choice, loop):
    monkeypatch.setenv("EVENT_LOOP", choice)

    assert server.use_event_loop(config.from_environment().event_loop) == loop
    assert type(asyncio.get_event_loop_policy()).__module__.startswith(loop)


def test_without_uvloop_auto_is_asyncio_and_uvloop_stops_the_worker(restore_event_loop_policy, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    monkeypatch.setenv("EVENT_LOOP", "auto")
    assert server.use_event_loop(config.from_environment().event_loop) == "asyncio"

    monkeypatch.setenv("EVENT_LOOP", "uvloop")
    with pytest.raises(SystemExit, match="^python-worker: invalid setting EVENT_LOOP: uvloop is not installed$"):
        server.use_event_loop(config.from_environment().event_loop)
