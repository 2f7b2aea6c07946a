"""Checks of the thresholds exercise: a threshold function keeps each account's own alert
threshold, the transaction manager asks it, and module.yaml reads the thresholds topic."""

import subprocess
import sys
from pathlib import Path

import yaml

from checking import DEFAULT_THRESHOLD, Check, worker
from contract import ALERTS_TOPIC, THRESHOLD, TRANSACTION_MANAGER, type_of
from entities_pb2 import Alert, CustomThreshold, QueryThreshold, Transaction
from harness import Flow, Instance, address, typed
from statefun_internals import served_typenames

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "0x00BEEF00"
ASKER = address(TRANSACTION_MANAGER, "t-1")
# With the merchant's score at 40 and nothing spent, a transaction scores 20: above a
# custom threshold of 10, below the default of 50.
MERCHANT_SCORE, SCORE = 40, 20


async def the_threshold_function_is_served():
    typenames = served_typenames(worker().functions)
    assert THRESHOLD in typenames, f"the functions served are {', '.join(typenames)}"


def functions(merchant_score: int = MERCHANT_SCORE):
    """The functions, once the threshold function is one of them."""
    bound = worker(merchant_score=merchant_score).functions
    assert THRESHOLD in served_typenames(bound), f"{THRESHOLD} is not served yet (the first check)"
    return bound


async def ask(instance: Instance) -> CustomThreshold:
    result = await instance.invoke(typed(QueryThreshold()), callers=[ASKER])
    answers = [m for m in result.outgoing_messages if m.target.id == ASKER.id]
    assert answers, "the threshold function sent no answer to the transaction manager that asked"
    assert answers[0].argument.typename == type_of(CustomThreshold).typename, (
        f"the answer is a {answers[0].argument.typename}, not a CustomThreshold"
    )
    return CustomThreshold.FromString(answers[0].argument.value)


async def a_threshold_is_kept_and_answered():
    threshold = Instance(functions(), THRESHOLD, ACCOUNT)
    await threshold.invoke(typed(CustomThreshold(account=ACCOUNT, threshold=70)))
    answer = await ask(threshold)
    assert answer.threshold == 70, f"after a CustomThreshold of 70 the answer is {answer.threshold}"


async def an_account_without_one_gets_0():
    answer = await ask(Instance(functions(), THRESHOLD, ACCOUNT))
    assert answer.threshold == 0, f"an account that set no threshold gets {answer.threshold}, not 0 (the default)"


async def the_manager_asks_the_threshold_function():
    manager = Instance(worker().functions, TRANSACTION_MANAGER, "t-1")
    result = await manager.invoke(typed(Transaction(account=ACCOUNT, merchant="Hypergrid", amount=0)))
    asked = {(f"{m.target.namespace}/{m.target.type}", m.target.id) for m in result.outgoing_messages}
    assert (THRESHOLD, ACCOUNT) in asked, f"it asked {sorted(asked)}"


async def alerts_for(custom_threshold: int) -> list[Alert]:
    flow = Flow(functions())
    flow.ingress(THRESHOLD, ACCOUNT, typed(CustomThreshold(account=ACCOUNT, threshold=custom_threshold)))
    await flow.run()
    flow.ingress(TRANSACTION_MANAGER, "t-1", typed(Transaction(account=ACCOUNT, merchant="Hypergrid", amount=0)))
    await flow.run()
    return [record.parse(Alert) for record in flow.topic(ALERTS_TOPIC)]


async def an_alert_uses_the_accounts_own_threshold():
    alerts = await alerts_for(custom_threshold=10)
    assert alerts, f"a score of {SCORE} raised no alert for an account whose threshold is 10"
    assert alerts[0].threshold == 10, f"the alert says threshold {alerts[0].threshold}, not 10"


async def zero_means_the_default():
    alerts = await alerts_for(custom_threshold=0)
    assert not alerts, f"a score of {SCORE} alerted though the threshold is the default {DEFAULT_THRESHOLD}"


async def module_yaml_reads_the_thresholds_topic():
    documents = [d for d in yaml.safe_load_all((REPO / "statefun-runtime" / "module.yaml").read_text()) if d]
    routes = [
        (topic["valueType"], topic["targets"])
        for d in documents
        if d["kind"].endswith("/ingress")
        for topic in d["spec"]["topics"]
        if topic["topic"] == "thresholds"
    ]
    assert routes, "no ingress reads the thresholds topic"
    assert routes[0] == (type_of(CustomThreshold).typename, [THRESHOLD]), f"it routes {routes[0]}"


def upgrade_on_the_real_runtime() -> int:
    """The stateful upgrade, on the real runtime: the old version (no thresholds ingress)
    runs, a savepoint, your version from it. The end-to-end test that does it."""
    test = "tests/e2e/test_faults.py::test_the_stateful_upgrade_of_the_advanced_exercise"
    print(f"\n  the stateful upgrade on the real runtime (a few minutes): pytest {test}")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", test], cwd=REPO).returncode != 0


CHECKS = [
    Check(
        "ververica/threshold is served",
        "Write a function for accounts' thresholds and register it for THRESHOLD in bind_functions, "
        "with a state (a ValueSpec) that holds the account's CustomThreshold.",
        the_threshold_function_is_served,
    ),
    Check(
        "the threshold function keeps an account's CustomThreshold and answers QueryThreshold with it",
        "Store the CustomThreshold it receives (from the thresholds topic) in its state; on QueryThreshold, "
        "reply(context, the stored CustomThreshold).",
        a_threshold_is_kept_and_answered,
    ),
    Check(
        "an account without a threshold of its own gets 0, the default",
        "When nothing is stored, answer CustomThreshold(threshold=0, account=...): 0 stands for the default.",
        an_account_without_one_gets_0,
    ),
    Check(
        "the transaction manager asks the threshold function about the account",
        "In start_scoring, send QueryThreshold() to THRESHOLD for transaction.account, beside the two other queries.",
        the_manager_asks_the_threshold_function,
    ),
    Check(
        "an alert is raised above the account's own threshold, and says which",
        "Take the CustomThreshold answer in the transaction manager like the other two (keep it in a state, "
        "wait for it in send_features_when_complete), and in decide compare the score with it when it is "
        "above 0.",
        an_alert_uses_the_accounts_own_threshold,
    ),
    Check(
        "a threshold of 0 means the default (FRAUD_THRESHOLD)",
        "In decide, use the default threshold when the account's is 0.",
        zero_means_the_default,
    ),
    Check(
        "module.yaml routes the thresholds topic to ververica/threshold",
        "Add a Kafka ingress to statefun-runtime/module.yaml, as for the confirmed topic: topic thresholds, "
        "valueType com.googleapis/workshop.CustomThreshold, target ververica/threshold. Then deploy it "
        "statefully (README, 'A stateful restart with a savepoint'); --upgrade checks that on the real runtime.",
        module_yaml_reads_the_thresholds_topic,
    ),
]
