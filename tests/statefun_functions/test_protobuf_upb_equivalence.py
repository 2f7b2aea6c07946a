"""The SDK answers byte for byte the same on protobuf 3.20.3 (its pin) and on protobuf's upb backend.

apache-flink-statefun 3.3.0 declares protobuf<4, which on Python 3.11 means the pure-Python
protobuf 3.20.3: three quarters of the worker's time (BENCHMARKS.md), and CVE-2025-4565. The
worker as shipped lifts the pin with a resolver override (statefun-functions/protobuf-override.txt).
This test is the proof that doing so changes nothing on the wire, and it stays in CI so that a
future SDK or protobuf that answers differently is caught: the same serialized ToFunction requests, covering every function
and every branch (replies, state mutations, delayed messages, alerts, dead letters, the state
negotiation, refused requests), are handled by the real functions in two fresh processes, one per
protobuf, and the serialized FromFunction answers must be identical. The one exception is
protobuf's own error text for bytes that do not parse, which a dead letter quotes in its reason
('Truncated message.' vs 'Error parsing message ... Wire format was corrupt'): that answer must
be identical once the quoted text is cut.

The worker as shipped is this interpreter (.venv, on upb); the SDK as pinned is $PINNED_PYTHON,
or bench/.venv-pinned (made by `make bench-setup`); without one the test is skipped (failed under
CI). It takes about a second.

A file of its own: it is about the pinned SDK and protobuf, across every module, not about one of
statefun-functions/; tools/mutation/run.py leaves it out by this name.
"""

import os
import pathlib
import struct
import subprocess
import sys

import pytest
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import FromFunction

import main
from contract import COUNTER, MERCHANT, MODEL, THRESHOLD, TRANSACTION_MANAGER, type_of
from entities_pb2 import (
    ConfirmFraud,
    CustomThreshold,
    DeadLetter,
    ExpireFraud,
    FeatureVector,
    FraudScore,
    MerchantScore,
    QueryFraud,
    QueryMerchantScore,
    QueryThreshold,
    ReportedFraud,
    Transaction,
)
from harness import address, raw_typed, to_function, typed

ROOT = pathlib.Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "statefun-functions"

# Runs in each interpreter: answers every request of the corpus file with the real functions.
# The merchant-score service is replaced by a deterministic stand-in (no network, no jitter).
ANSWER = r"""
import asyncio, struct, sys
sys.path.insert(0, sys.argv[1])
from google.protobuf.internal import api_implementation
import google.protobuf
import config
import main
from merchant_client import MerchantScoreUnavailable
from statefun import RequestReplyHandler, StatefulFunctions

class Scores:
    async def score(self, merchant):
        if merchant == "Down":
            raise MerchantScoreUnavailable("down")
        return sum(merchant.encode()) % 101
    async def close(self):
        pass

functions = main.bind_functions(StatefulFunctions(), config.from_environment({}), Scores())
handler = RequestReplyHandler(functions)

def frames(data):
    at = 0
    while at < len(data):
        (n,) = struct.unpack_from(">I", data, at)
        yield data[at + 4:at + 4 + n]
        at += 4 + n

async def answer(bodies):
    out = []
    for body in bodies:
        try:
            out.append(b"R" + await handler.handle_async(body))
        except Exception as problem:
            out.append(b"E" + type(problem).__name__.encode())
    return out

answers = asyncio.run(answer(list(frames(open(sys.argv[2], "rb").read()))))
sys.stdout.buffer.write(f"{google.protobuf.__version__} {api_implementation.Type()}\n".encode())
sys.stdout.buffer.write(b"".join(struct.pack(">I", len(a)) + a for a in answers))
"""


def pinned_python():
    candidate = os.environ.get("PINNED_PYTHON") or str(ROOT / "bench" / ".venv-pinned" / "bin" / "python")
    return candidate if pathlib.Path(candidate).exists() else None


DECLARED_STATE = {
    TRANSACTION_MANAGER: main.TRANSACTION_MANAGER_STATE,
    COUNTER: main.COUNTER_STATE,
    MERCHANT: main.MERCHANT_STATE,
    THRESHOLD: main.THRESHOLD_STATE,
    MODEL: [],
}


def states(typename: str, **values) -> dict:
    """Every state the function declares (as the runtime sends them), with `values` set."""
    names = {spec.name for spec in DECLARED_STATE[typename]}
    assert set(values) <= names, (typename, values)
    return {name: values.get(name) for name in sorted(names)}


def corpus() -> list[bytes]:
    tm, account, merchant = TRANSACTION_MANAGER, "0x00F3CD51", "Hypergrid"
    caller = address(tm, "tx-1")
    transaction = Transaction(account=account, merchant=merchant, amount=36)
    transaction.timestamp.FromNanoseconds(1_790_000_000_123_456_789)
    tx = typed(transaction)
    fraud, score = typed(ReportedFraud(count=2)), typed(MerchantScore(score=70))
    default, custom = (typed(CustomThreshold(threshold=t, account=account)) for t in (0, 90))
    complete = dict(transaction=tx, fraud_count=fraud, merchant_score=score, threshold=default)

    def request(typename, instance_id, arguments, state, callers=None):
        return to_function(typename, instance_id, arguments, state, callers).SerializeToString()

    cases = [
        # the transaction manager
        request(tm, "tx-1", [tx], states(tm)),
        request(tm, "tx-1", [typed(Transaction(merchant=merchant))], states(tm)),
        request(tm, "tx-1", [typed(Transaction(account=account, merchant=merchant, amount=-5))], states(tm)),
        request(tm, "tx-1", [typed(Transaction(account="x" * 300, merchant=merchant))], states(tm)),
        request(tm, "tx-1", [tx], states(tm, transaction=tx)),
        request(tm, "tx-1", [fraud], states(tm, transaction=tx)),
        request(tm, "tx-1", [fraud], states(tm)),
        request(tm, "tx-1", [score], states(tm, transaction=tx, fraud_count=fraud)),
        request(tm, "tx-1", [default], states(tm, transaction=tx, fraud_count=fraud, merchant_score=score)),
        request(tm, "tx-1", [typed(FraudScore(score=80))], states(tm, **complete)),
        request(tm, "tx-1", [typed(FraudScore(score=37))], states(tm, **complete)),
        request(tm, "tx-1", [typed(FraudScore(score=95))], states(tm, **{**complete, "threshold": custom})),
        request(tm, "tx-1", [typed(FraudScore(score=80))], states(tm)),
        request(tm, "tx-1", [typed(QueryFraud())], states(tm)),
        request(tm, "tx-1", [raw_typed(type_of(Transaction).typename, b"\xff\xff\xff")], states(tm)),
        request(
            tm,
            "tx-1",
            [raw_typed(type_of(Transaction).typename, ConfirmFraud(account=account).SerializeToString() + b"\x28\x01")],
            states(tm),
        ),
        request(tm, "tx-1", [tx], {}),  # states not yet known to the runtime: negotiation
        request(
            tm,
            "tx-2",
            [tx, fraud, score, default, typed(FraudScore(score=80))],
            states(tm),
            callers=[
                None,
                address(COUNTER, account),
                address(MERCHANT, merchant),
                address(THRESHOLD, account),
                address(MODEL, account),
            ],
        ),
        # the counter
        request(COUNTER, account, [typed(ConfirmFraud(account=account))], states(COUNTER)),
        request(COUNTER, account, [typed(ConfirmFraud(account=account))], states(COUNTER, fraud_count=fraud)),
        request(COUNTER, account, [typed(ConfirmFraud(account="0xOTHER"))], states(COUNTER)),
        request(COUNTER, account, [typed(QueryFraud())], states(COUNTER), [caller]),
        request(COUNTER, account, [typed(QueryFraud())], states(COUNTER, fraud_count=fraud), [caller]),
        request(COUNTER, account, [typed(QueryFraud())], states(COUNTER)),  # no caller
        request(COUNTER, account, [typed(ExpireFraud())], states(COUNTER)),
        request(COUNTER, account, [typed(ExpireFraud())], states(COUNTER, fraud_count=fraud)),
        request(COUNTER, account, [typed(ExpireFraud())], states(COUNTER, fraud_count=typed(ReportedFraud(count=1)))),
        request(COUNTER, account, [typed(FeatureVector())], states(COUNTER)),
        # the merchant: cached, looked up, fallback
        request(MERCHANT, merchant, [typed(QueryMerchantScore())], states(MERCHANT, merchant_score=score), [caller]),
        request(
            MERCHANT,
            merchant,
            [typed(QueryMerchantScore())] * 3,
            states(MERCHANT),
            [caller, address(tm, "tx-2"), address(tm, "tx-3")],
        ),
        request(MERCHANT, "Down", [typed(QueryMerchantScore())], states(MERCHANT), [caller]),
        request(MERCHANT, merchant, [typed(QueryThreshold())], states(MERCHANT), [caller]),
        # the threshold
        request(THRESHOLD, account, [typed(CustomThreshold(threshold=40, account=account))], states(THRESHOLD)),
        request(
            THRESHOLD,
            account,
            [typed(CustomThreshold(threshold=0, account=account))],
            states(THRESHOLD, threshold=custom),
        ),
        request(THRESHOLD, account, [typed(CustomThreshold(threshold=150, account=account))], states(THRESHOLD)),
        request(THRESHOLD, account, [typed(CustomThreshold(threshold=40, account="0xOTHER"))], states(THRESHOLD)),
        request(THRESHOLD, account, [typed(QueryThreshold())], states(THRESHOLD), [caller]),
        request(
            THRESHOLD,
            account,
            [typed(QueryThreshold())] * 2,
            states(THRESHOLD, threshold=custom),
            [caller, address(tm, "tx-2")],
        ),
        # the model
        request(MODEL, account, [typed(FeatureVector(fraud_count=2, merchant_score=70, amount=36))], {}, [caller]),
        request(MODEL, account, [typed(FeatureVector(fraud_count=9, merchant_score=100, amount=5000))], {}, [caller]),
        request(MODEL, account, [typed(FeatureVector(fraud_count=-1))], {}, [caller]),
        request(MODEL, account, [typed(FeatureVector())], {}),
        # requests the SDK itself refuses
        b"\x0a\x03abc",
        request("ververica/nobody", "1", [tx], {}),
    ]
    return cases


CORRUPT_BYTES_CASE = 14  # corpus()[14]: a Transaction whose bytes do not parse


def without_decode_error_text(answer: bytes) -> bytes:
    """The answer with each dead letter's reason cut after 'not a valid <type>'."""
    response = FromFunction.FromString(answer[1:])
    for egress in response.invocation_result.outgoing_egresses:
        record = KafkaProducerRecord.FromString(egress.argument.value)
        if record.topic != "dead-letters":
            continue
        letter = DeadLetter.FromString(record.value_bytes)
        letter.reason = letter.reason.split(": ")[0]
        record.value_bytes = letter.SerializeToString()
        egress.argument.value = record.SerializeToString()
    return response.SerializeToString()


def answer(python: str, bodies: list[bytes], tmp_path) -> tuple[str, list[bytes]]:
    corpus_file = tmp_path / "corpus.bin"
    corpus_file.write_bytes(b"".join(struct.pack(">I", len(b)) + b for b in bodies))
    environment = {
        **os.environ,
        "FRAUD_THRESHOLD": "50",
        "LOG_LEVEL": "CRITICAL",
        "MERCHANT_SERVICE_URL": "http://127.0.0.1:9",
        "PYTHONHASHSEED": "0",
    }
    result = subprocess.run(
        [python, "-c", ANSWER, str(FUNCTIONS_DIR), str(corpus_file)],
        cwd=FUNCTIONS_DIR,
        env=environment,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    header, _, data = result.stdout.partition(b"\n")
    answers, at = [], 0
    while at < len(data):
        (n,) = struct.unpack_from(">I", data, at)
        answers.append(data[at + 4 : at + 4 + n])
        at += 4 + n
    return header.decode(), answers


@pytest.mark.slow
def test_responses_are_byte_identical_on_upb(tmp_path):
    reference = pinned_python()
    if reference is None:
        # CI makes the interpreter first (`make test` runs bench-setup): there, a missing one fails.
        missing = (
            "no interpreter with the SDK as pinned: set PINNED_PYTHON or run `make bench-setup` (bench/.venv-pinned)"
        )
        pytest.fail(missing) if os.environ.get("CI") else pytest.skip(missing)
    bodies = corpus()
    pinned_version, pinned = answer(reference, bodies, tmp_path)
    upb_version, fast = answer(sys.executable, bodies, tmp_path)
    assert pinned_version.endswith("python") and upb_version.endswith("upb"), (pinned_version, upb_version)
    assert len(pinned) == len(fast) == len(bodies)
    differing = []
    for index, (expected, actual) in enumerate(zip(pinned, fast, strict=True)):
        if expected != actual:
            differing.append(index)
            # The one documented difference: protobuf's own DecodeError text, quoted in the
            # reason of the dead letter for a value that does not parse.
            assert without_decode_error_text(expected) == without_decode_error_text(actual), (
                f"request {index}: {pinned_version} and {upb_version} answer differently"
            )
    assert differing == [CORRUPT_BYTES_CASE], differing

    # The corpus reaches every kind of answer (else it proves less than it claims).
    kinds = set()
    for item in pinned:
        if item.startswith(b"E"):
            kinds.add("refused")
            continue
        response = FromFunction.FromString(item[1:])
        if response.HasField("incomplete_invocation_context"):
            kinds.add("state negotiation")
            continue
        result = response.invocation_result
        kinds.update(
            kind
            for kind, present in [
                ("message", result.outgoing_messages),
                ("mutation", result.state_mutations),
                ("delayed", result.delayed_invocations),
                ("alert", [e for e in result.outgoing_egresses if b"alerts" in e.argument.value]),
                ("dead letter", [e for e in result.outgoing_egresses if b"dead-letters" in e.argument.value]),
            ]
            if present
        )
    assert kinds == {"refused", "state negotiation", "message", "mutation", "delayed", "alert", "dead letter"}
