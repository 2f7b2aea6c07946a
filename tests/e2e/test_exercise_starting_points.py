"""An exercise's starting point runs on the real runtime without Docker: the pipeline lacks the
feature, nothing else. Every transaction still reaches an alert, and nothing is dead-lettered.

The Docker suite runs every starting point under the simulator's traffic, with the README's
commands (tests/docker/test_exercises_with_docker.py). Here, the one whose start differs by
mode: thresholds, whose first start the launcher must refuse through supervisord (the full
version's state does not fit it) before `make fresh` lets it start."""

import shutil
import subprocess

import pytest

import kafka_topics
from entities_pb2 import Transaction
from expectations import ALERT_TIMEOUT, QUIET_SECONDS, account, alerted, merchant_scoring, send_transaction
from local_workshop import ROOT, TopicReader

EXERCISES = ["thresholds"]


def starting_point(folder, name: str):
    """statefun-functions/ and module.yaml as `make exercise NAME=name` leaves them, in `folder`."""
    shutil.copytree(
        ROOT / "statefun-functions", folder / "statefun-functions", ignore=shutil.ignore_patterns("__pycache__")
    )
    (folder / "statefun-runtime").mkdir()
    shutil.copy2(ROOT / "statefun-runtime" / "module.yaml", folder / "statefun-runtime" / "module.yaml")
    subprocess.run(["git", "apply", str(ROOT / "exercises" / name / "start.patch")], cwd=folder, check=True)
    return folder / "statefun-functions", folder / "statefun-runtime" / "module.yaml"


@pytest.fixture
def restarted(workshop):
    """The workshop restarted as a test says; afterwards, as shipped again."""
    environment = dict(workshop.environment)

    def restart(functions, module, takes_a_function_out: bool, **settings) -> None:
        workshop.down()
        workshop.environment = {**environment, **settings}
        if takes_a_function_out:
            # The state of the full version does not fit: as the README says, the first start
            # stops with one line and the choice (statefun-runtime/last-state.sh), without a
            # restart loop, and `make fresh` lets the starting point start empty.
            log_before = len(workshop.log("master"))
            refused = workshop.launcher(
                "up", "--no-simulator", "--functions", str(functions), "--module", str(module), check=False
            )
            started = workshop.log("master")[log_before:]
            line = [line for line in started.splitlines() if line.startswith("last-state: ")][-1]
            assert refused.returncode != 0 and line in refused.stdout, refused.stdout
            assert line.startswith("last-state: not started:") and "make fresh" in line and "SAVEPOINT=" in line
            assert started.count("last-state: not started:") == 1, "master was started again"
            workshop.down()
            forgotten = workshop.fresh()
            assert forgotten.returncode == 0, forgotten
        # The others resume the full version's state: it fits them.
        workshop.up(functions=functions, module=module)

    yield restart
    workshop.environment = environment
    workshop.down()
    workshop.up()


@pytest.mark.parametrize("name", EXERCISES)
def test_the_starting_point_runs_on_the_real_runtime(restarted, producer, alerts, tmp_path, name):
    functions, module = starting_point(tmp_path, name)
    takes_a_function_out = "\n-    functions.register(" in (ROOT / "exercises" / name / "start.patch").read_text()
    # The model's starting point scores everything 0: a threshold of -1 still alerts on each.
    restarted(functions, module, takes_a_function_out, FRAUD_THRESHOLD="-1")
    dead_letters = TopicReader(kafka_topics.DEAD_LETTERS)
    expected = [account(f"start-{name}-{number}") for number in range(10)]
    for transaction_id in expected:
        transaction = Transaction(account=account(f"start-{name}"), merchant=merchant_scoring(60, 80), amount=700)
        send_transaction(producer, transaction_id, transaction)
    producer.flush()

    prefix = f"start-{name}-"
    alerts.read_until(
        f"{len(expected)} alerts", lambda records: set(expected) <= set(alerted(records, prefix)), ALERT_TIMEOUT
    )
    got = alerted(alerts.read_for(QUIET_SECONDS), prefix)
    letters = [r for r in dead_letters.read_for(1) if r.key.decode().startswith(prefix)]
    dead_letters.close()
    print(f"\nstarting point of {name}: {len(expected)} transactions, {len(got)} alerts, {len(letters)} dead letters")
    assert sorted(got) == sorted(expected)
    assert not letters
