"""Fuzzing the HTTP endpoint: random and mutated request bodies never get a 5xx, never hang it.

The app runs in a thread of its own on a free port and is called over real HTTP, like the
runtime calls it. Hypothesis draws the bodies: random bytes, valid requests with bytes
flipped, cut or spliced, and well-formed requests whose every field is arbitrary.

A file of its own, not part of test_server.py: what it fuzzes is the whole worker behind
server.py's endpoint (messaging.py and every function of main.py too), it takes seconds of
Hypothesis, and it is named by tools/mutation/run.py (run last) and docs/guarantees.md.
"""

import asyncio
import http.client
import socket
import threading

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statefun.request_reply_pb2 import FromFunction, ToFunction, TypedValue

import server
from contract import COUNTER, MODEL, STATEFUN_PATH, THRESHOLD, TRANSACTION_MANAGER, type_of
from entities_pb2 import (
    ConfirmFraud,
    CustomThreshold,
    FeatureVector,
    FraudScore,
    MerchantScore,
    QueryFraud,
    QueryThreshold,
    ReportedFraud,
    Transaction,
)
from harness import Worker, address, to_function, typed

pytestmark = pytest.mark.slow  # make check leaves it to make test-unit

ASKER = address(TRANSACTION_MANAGER, "t-1")
TYPENAMES = [
    t.typename
    for t in (
        type_of(Transaction),
        type_of(ConfirmFraud),
        type_of(CustomThreshold),
        type_of(FeatureVector),
        type_of(FraudScore),
        type_of(MerchantScore),
        type_of(QueryFraud),
        type_of(QueryThreshold),
        type_of(ReportedFraud),
    )
]
FUNCTIONS = [TRANSACTION_MANAGER, COUNTER, THRESHOLD, MODEL, "ververica/merchant", "ververica/unknown", "x/y"]
STATE_NAMES = ["transaction", "fraud_count", "merchant_score", "threshold", "scored", "other"]

# Valid requests to every function (the merchant's would call the merchant service: left out).
CORPUS = [
    to_function(
        TRANSACTION_MANAGER,
        "t-1",
        [typed(Transaction(account="a", merchant="m", amount=5))],
        {name: None for name in STATE_NAMES[:5]},
    ).SerializeToString(),
    to_function(
        TRANSACTION_MANAGER,
        "t-1",
        [typed(ReportedFraud(count=1)), typed(MerchantScore(score=3))],
        {
            "transaction": typed(Transaction(account="a", merchant="m")),
            "fraud_count": None,
            "merchant_score": None,
            "threshold": None,
            "scored": None,
        },
    ).SerializeToString(),
    to_function(
        COUNTER,
        "a",
        [typed(ConfirmFraud(account="a")), typed(QueryFraud())],
        {"fraud_count": typed(ReportedFraud(count=2))},
        [None, ASKER],
    ).SerializeToString(),
    to_function(
        THRESHOLD,
        "a",
        [typed(CustomThreshold(account="a", threshold=7)), typed(QueryThreshold())],
        {"threshold": None},
        [None, ASKER],
    ).SerializeToString(),
    to_function(
        MODEL, "a", [typed(FeatureVector(fraud_count=1, merchant_score=9, amount=3))], {}, [ASKER]
    ).SerializeToString(),
    to_function(TRANSACTION_MANAGER, "t-2", [typed(FraudScore(score=3))], {}).SerializeToString(),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    """The real app on a real port, in a thread with its own event loop."""
    port, ready, loop = free_port(), threading.Event(), asyncio.new_event_loop()
    runner = web.AppRunner(server.create_app(Worker().functions))

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield port
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def post(port: int, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a hang fails the test
    try:
        connection.request("POST", STATEFUN_PATH, body=body, headers={"Content-Type": "application/octet-stream"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def assert_answered_sanely(port: int, body: bytes) -> None:
    status, reply = post(port, body)
    assert status in (200, 400, 404), (status, reply[:300], body[:200])
    if status == 200:
        FromFunction.FromString(reply)  # a real answer, not an error page


@st.composite
def mutated(draw):
    body = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "cut", "insert", "splice"]))
        at = draw(st.integers(0, max(len(body) - 1, 0)))
        if operation == "flip" and body:
            body[at] ^= draw(st.integers(1, 255))
        elif operation == "cut":
            del body[at : at + draw(st.integers(1, 16))]
        elif operation == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            other = draw(st.sampled_from(CORPUS))
            body[at:] = other[draw(st.integers(0, len(other) - 1)) :]
    return bytes(body)


@st.composite
def arbitrary_requests(draw):
    """Well-formed ToFunction messages whose contents are anything at all."""
    request = ToFunction()
    invocation = request.invocation
    namespace_type = draw(st.sampled_from(FUNCTIONS)).split("/")
    invocation.target.namespace, invocation.target.type = namespace_type
    invocation.target.id = draw(st.text(max_size=20))
    for name in draw(st.lists(st.sampled_from(STATE_NAMES), max_size=6)):
        state = invocation.state.add()
        state.state_name = name
        if draw(st.booleans()):
            state.state_value.CopyFrom(
                TypedValue(
                    typename=draw(st.sampled_from(TYPENAMES + ["x/y", ""])),
                    has_value=draw(st.booleans()),
                    value=draw(st.binary(max_size=40)),
                )
            )
    for _ in range(draw(st.integers(0, 4))):
        call = invocation.invocations.add()
        call.argument.CopyFrom(
            TypedValue(
                typename=draw(st.sampled_from(TYPENAMES + ["x/y", ""])),
                has_value=draw(st.booleans()),
                value=draw(st.binary(max_size=60)),
            )
        )
        if draw(st.booleans()):
            call.caller.CopyFrom(address(draw(st.sampled_from(FUNCTIONS)), draw(st.text(min_size=1, max_size=8))))
    return request.SerializeToString()


FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes(endpoint, body):
    assert_answered_sanely(endpoint, body)


@FUZZ
@given(body=mutated())
def test_mutated_requests(endpoint, body):
    assert_answered_sanely(endpoint, body)


@FUZZ
@given(body=arbitrary_requests())
def test_well_formed_requests_with_arbitrary_contents(endpoint, body):
    assert_answered_sanely(endpoint, body)


def test_the_endpoint_still_answers_after_the_fuzzing(endpoint):
    for body in CORPUS:
        status, _ = post(endpoint, body)
        assert status == 200
