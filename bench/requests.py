"""The ToFunction requests of the endpoint benchmark: what one transaction costs the python-worker.

One transaction causes nine invocations: the transaction manager (its four states sent along,
as the runtime does) receives Transaction, ReportedFraud, MerchantScore, CustomThreshold and
FraudScore; the counter gets QueryFraud, the merchant QueryMerchantScore (its score cached in
state, so no HTTP call), the threshold QueryThreshold and the model a FeatureVector.

At batch 1 each of these is one request. At batch n (the runtime batches the messages waiting
for one busy address, up to maxNumBatchRequests) the counter, merchant, threshold and model
requests carry n invocations from n transactions, and a transaction-manager request carries
min(n, 5) consecutive messages of one lifecycle: a manager instance (one per transaction id)
never has more than five messages. So at batch 1: 9 requests of 1 invocation per transaction;
at batch 10: per 10 transactions, 10 manager requests of 5 and 4 others of 10 (6.4 on average).

    python bench/requests.py OUT_DIR [--batch 1 10] [--transactions 200]

writes OUT_DIR/b<n>/bodies.bin (the serialized requests back to back), index.txt (one length a
line) and meta.json, after checking in-process that every request is answered with an
invocation result and no dead letter (FRAUD_THRESHOLD=-1: every transaction alerts).
"""

import argparse
import asyncio
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
for folder in ("statefun-functions", "simulator", "tests"):
    sys.path.insert(len(sys.path) if folder != "statefun-functions" else 0, str(ROOT / folder))
os.environ.setdefault("FRAUD_THRESHOLD", "-1")
os.environ.setdefault("MERCHANT_SERVICE_URL", "http://127.0.0.1:9")  # nothing may call it

from statefun.request_reply_pb2 import FromFunction  # noqa: E402

import main  # noqa: E402  (the real functions)
from contract import COUNTER, MERCHANT, MODEL, THRESHOLD, TRANSACTION_MANAGER  # noqa: E402
from entities_pb2 import (  # noqa: E402
    CustomThreshold,
    FeatureVector,
    FraudScore,
    MerchantScore,
    QueryFraud,
    QueryMerchantScore,
    QueryThreshold,
    ReportedFraud,
)
from harness import address, to_function, typed  # noqa: E402
from traffic import Traffic  # noqa: E402

# Every state the manager declares (the runtime sends them all, empty ones without a value).
MANAGER_STATES = sorted(spec.name for spec in main.TRANSACTION_MANAGER_STATE)


def lifecycle(transaction):
    """The manager's five messages for one transaction, each with the state it finds."""
    tx = typed(transaction)
    fraud = ReportedFraud(count=1)
    score = MerchantScore(score=40)
    threshold = CustomThreshold(threshold=0, account=transaction.account)
    none = dict.fromkeys(MANAGER_STATES)
    return [
        (argument, {**none, **state}, sender)
        for argument, state, sender in [
            (tx, none, COUNTER),
            (typed(fraud), {**none, "transaction": tx}, COUNTER),
            (typed(score), {**none, "transaction": tx, "fraud_count": typed(fraud)}, MERCHANT),
            (
                typed(threshold),
                {"transaction": tx, "fraud_count": typed(fraud), "merchant_score": typed(score), "threshold": None},
                THRESHOLD,
            ),
            (
                typed(FraudScore(score=37)),
                {
                    "transaction": tx,
                    "fraud_count": typed(fraud),
                    "merchant_score": typed(score),
                    "threshold": typed(threshold),
                },
                MODEL,
            ),
        ]
    ]


def requests_for(transactions, batch: int) -> list[bytes]:
    """Serialized requests for `transactions` (a list of (id, Transaction)), `batch` invocations each."""
    out = []
    groups = [transactions[i : i + batch] for i in range(0, len(transactions), batch)]
    for group in groups:
        # The four queried functions: one request per function, one invocation per transaction.
        account, merchant = group[0][1].account, group[0][1].merchant
        callers = [address(TRANSACTION_MANAGER, tx_id) for tx_id, _ in group]
        queries = [
            (COUNTER, account, typed(QueryFraud()), {"fraud_count": typed(ReportedFraud(count=1))}),
            (MERCHANT, merchant, typed(QueryMerchantScore()), {"merchant_score": typed(MerchantScore(score=40))}),
            (THRESHOLD, account, typed(QueryThreshold()), {"threshold": None}),
            (MODEL, account, typed(FeatureVector(fraud_count=1, merchant_score=40, amount=group[0][1].amount)), {}),
        ]
        # The manager: its lifecycles, cut into requests of `batch` consecutive messages.
        manager = []
        for tx_id, transaction in group:
            for argument, state, sender in lifecycle(transaction):
                manager.append((tx_id, argument, state, address(sender, transaction.account)))
        per_request = min(batch, 5)  # one address, so at most its five messages
        for start in range(0, len(manager), per_request):
            chunk = manager[start : start + per_request]
            tx_id, _, state, _ = chunk[0]
            request = to_function(
                TRANSACTION_MANAGER, tx_id, [item[1] for item in chunk], state, callers=[item[3] for item in chunk]
            )
            out.append(request.SerializeToString())
        for typename, instance_id, argument, state in queries:
            request = to_function(typename, instance_id, [argument] * len(group), state, callers=callers)
            out.append(request.SerializeToString())
    return out


def build(batch: int, transactions: int, seed: int = 7) -> list[bytes]:
    traffic = Traffic(seed=seed)
    txs = [traffic.transaction(1_790_000_000.0 + i) for i in range(transactions)]
    return requests_for(txs, batch)


async def check(bodies: list[bytes]) -> int:
    """Every request answered with a result and no dead letter; returns the invocations."""
    from statefun import RequestReplyHandler, StatefulFunctions

    import config
    from merchant_client import MerchantScoreClient

    settings = config.from_environment()
    functions = main.bind_functions(StatefulFunctions(), settings, MerchantScoreClient(settings.merchant_service_url))
    handler = RequestReplyHandler(functions)
    from statefun.request_reply_pb2 import ToFunction

    invocations = 0
    for body in bodies:
        response = FromFunction.FromString(await handler.handle_async(body))
        assert response.HasField("invocation_result"), response
        for egress in response.invocation_result.outgoing_egresses:
            assert b"dead-letters" not in egress.argument.value, egress
        invocations += len(ToFunction.FromString(body).invocation.invocations)
    return invocations


def main_(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--transactions", type=int, default=200)
    args = parser.parse_args(argv)
    for batch in args.batch:
        bodies = build(batch, args.transactions)
        invocations = asyncio.run(check(bodies))
        folder = args.out / f"b{batch}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "bodies.bin").write_bytes(b"".join(bodies))
        (folder / "index.txt").write_text("".join(f"{len(body)}\n" for body in bodies))
        meta = {
            "batch": batch,
            "requests": len(bodies),
            "invocations": invocations,
            "invocations_per_request": invocations / len(bodies),
            "mean_body_bytes": sum(map(len, bodies)) / len(bodies),
        }
        (folder / "meta.json").write_text(json.dumps(meta))
        print(json.dumps(meta))


if __name__ == "__main__":
    main_()
