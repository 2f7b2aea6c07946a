"""Each exercise on the Docker path, with the commands the README gives, in the workshop copy:

    make exercise NAME=...            the starting point (main.py, and module.yaml for thresholds)
    docker compose down; docker compose up -d
                                      the runtime reads module.yaml from statefun-runtime/ at each
                                      start; thresholds: its first start refuses the full version's
                                      state with one line, then `make fresh` and up again
    (a minute of the simulator's traffic: alerts, no job restart, no dead letter)
    make check-exercise NAME=...      fails on the starting point, with hints
    make solution NAME=... RESTORE=1  the answer back: `docker compose restart python-worker`, or for
                                      thresholds the stateful upgrade from a savepoint
    make check-exercise NAME=...      passes

They run after the other Docker tests, on the same deployment (tests/docker/conftest.py).
"""

import subprocess
import time

import pytest

import kafka_topics
from docker_workshop import (
    ALERT_TIMEOUT,
    START_TIMEOUT,
    job_exceptions,
    running_job,
    take_savepoint,
)
from entities_pb2 import Alert, ConfirmFraud, DeadLetter, Transaction
from expectations import QUIET_SECONDS, account, alerted, merchant_scoring, score, settle_all
from local_workshop import ROOT, TopicReader, transactions_lag, wait_for

pytestmark = pytest.mark.docker

EXERCISES = sorted(folder.name for folder in (ROOT / "exercises").iterdir() if (folder / "start.patch").exists())
TRAFFIC_SECONDS = 60  # the starting point runs under the simulator's traffic this long


def make(workshop, *args: str) -> subprocess.CompletedProcess:
    print(f"$ make {' '.join(args)}", flush=True)
    done = subprocess.run(
        ["make", "-s", *args], cwd=workshop.folder, env=workshop.environment, capture_output=True, text=True
    )
    print(done.stdout, done.stderr, flush=True)
    return done


def last_state(workshop) -> str | None:
    said = [line for line in workshop.log("master").splitlines() if "last-state: " in line]
    return said[-1] if said else None


def restarted(workshop, name: str) -> None:
    """`docker compose down` and `up -d`, as the README says after `make exercise`."""
    workshop.compose("down")
    if name == "thresholds":
        # The full version's state holds ververica/threshold, which the starting point no
        # longer serves: master says so once and stays down (no restart loop), and `up`
        # says that master exited (the services after it wait for it).
        refusal = workshop.compose("up", "-d", timeout=START_TIMEOUT, check=False)
        assert "master" in refusal and "exited (0)" in refusal, refusal
        refused = wait_for("master's last-state line", lambda: last_state(workshop), 120)
        assert "last-state: not started:" in refused and "make fresh" in refused, refused
        stays_down = lambda: workshop.inspect("master", "{{.State.Status}}", replica=1) == "exited"  # noqa: E731
        wait_for("master to stay down", stays_down, 60)
        assert workshop.inspect("master", "{{.RestartCount}}", replica=1) == "0"
        workshop.compose("down")
        assert make(workshop, "fresh").returncode == 0
        workshop.compose("up", "-d", timeout=START_TIMEOUT)
        assert "starting with empty state" in wait_for("the fresh start", lambda: last_state(workshop), 120)
    else:
        workshop.compose("up", "-d", timeout=START_TIMEOUT)
        # The full version's state fits the starting point: it resumes (the workshop has run
        # before, in this suite, so there is a checkpoint).
        line = wait_for("master's last-state line", lambda: last_state(workshop), 120)
        assert "last-state: resuming the newest completed checkpoint" in line, line


def runs_under_traffic_without_a_restart(workshop) -> None:
    """A minute of the simulator's traffic: alert lines keep coming, the job never restarts,
    nothing is dead-lettered."""
    job = wait_for("the job to run", running_job, 180)
    dead_letters = TopicReader(kafka_topics.DEAD_LETTERS)
    earlier = len(dead_letters.read_for(1))  # the reader starts at the topic's beginning
    printed = workshop.log("simulator").count("Suspected Fraud")
    ends = time.monotonic() + TRAFFIC_SECONDS
    while time.monotonic() < ends:  # a fixed span of traffic, checked as it goes
        try:
            failed = job_exceptions()
        except OSError as silence:  # a busy JobManager, not a restart: the next look tells
            print(f"Flink's REST API did not answer: {silence}")
            failed = []
        assert failed == [], f"the job failed under the starting point: {failed}"
        time.sleep(5)
    assert wait_for("the same job to run", running_job, 30) == job, "the job was replaced under the starting point"
    more = workshop.log("simulator").count("Suspected Fraud") - printed
    reasons = [DeadLetter.FromString(record.value).reason for record in dead_letters.read_for(1)[earlier:]]
    dead_letters.close()
    print(f"\n{TRAFFIC_SECONDS} s of the simulator's traffic: {more} alert lines, dead letters: {reasons}")
    assert more > 0
    # A record the simulator's producer sent twice (a retry under load) is recognised as such
    # by design; anything else would be the starting point's doing.
    assert [reason for reason in reasons if not reason.startswith("a duplicate of a transaction")] == []


@pytest.mark.parametrize("name", EXERCISES)
def test_the_exercise_with_docker_as_the_readme_tells_it(workshop, producer, alerts, name):
    # An earlier Docker test edited main.py: put it aside, as `make exercise` asks.
    subprocess.run(["git", "stash", "--quiet"], cwd=workshop.folder, check=True)
    started = make(workshop, "exercise", f"NAME={name}")
    assert started.returncode == 0 and f"The starting point of {name} is in place" in started.stdout
    restarted(workshop, name)
    runs_under_traffic_without_a_restart(workshop)
    checked = make(workshop, "check-exercise", f"NAME={name}")
    assert checked.returncode != 0 and "check(s) to go" in checked.stdout  # make exits 2

    if name == "thresholds":
        the_stateful_upgrade(workshop, producer, alerts)
    else:
        restored = make(workshop, "solution", f"NAME={name}", "RESTORE=1")
        assert f"The reference answer of {name} is in place." in restored.stdout
        workshop.compose("restart", "python-worker")
        calm = Transaction(account=account(f"answer-{name}"), merchant=merchant_scoring(30, 40), amount=300)
        settle_all(producer, alerts, {f"answer-{name}": (calm, score(calm))})  # the answer scores
    checked = make(workshop, "check-exercise", f"NAME={name}")
    assert checked.returncode == 0 and "checks pass" in checked.stdout


def the_stateful_upgrade(workshop, producer, alerts) -> None:
    """README "Exercise (advanced)", step 4: a savepoint of the starting point, `down`, the
    answer's main.py and module.yaml, `up -d` from the savepoint: the fraud count kept, no
    transaction scored twice, the new ingress live (`simulator.py threshold`)."""
    counted = account("upgrade-counted")
    producer.send(kafka_topics.CONFIRMED, counted, ConfirmFraud(account=counted).SerializeToString())
    producer.flush()
    calm = Transaction(account=counted, merchant=merchant_scoring(4, 10), amount=0)
    settle_all(producer, alerts, {"upgrade-before": (calm, score(calm, fraud_count=1))})

    workshop.compose("stop", "simulator")
    wait_for("the job to have read every transaction", lambda: transactions_lag() == 0, 60)
    alerts.read_until_quiet(QUIET_SECONDS / 3, ALERT_TIMEOUT)
    scored_before = set(alerted(alerts.records, ""))
    upgraded_from = len(alerts.records)
    savepoint = take_savepoint(workshop)
    workshop.compose("down")
    restored = make(workshop, "solution", "NAME=thresholds", "RESTORE=1")
    assert "The reference answer of thresholds is in place." in restored.stdout
    workshop.compose("up", "-d", settings={"SAVEPOINT": f"savepoint-dir/{savepoint}"}, timeout=START_TIMEOUT)
    wait_for("the job to run again", running_job, 180)
    assert f"from savepoint /savepoint-dir/{savepoint}" in workshop.log("master")

    settle_all(producer, alerts, {"upgrade-after": (calm, score(calm, fraud_count=1))})  # the count kept
    tried = workshop.compose("run", "--rm", "simulator", "python", "simulator.py", "threshold", "5")
    print(tried)
    verdicts = [line for line in tried.splitlines() if line.startswith("  paid ")]
    assert len(verdicts) == 5 and any("above threshold 5" in line for line in verdicts), tried
    assert not any("alert: score" in line and "above threshold 5" not in line for line in verdicts), tried
    after = alerted(alerts.read_for(QUIET_SECONDS)[upgraded_from:], "")
    twice = sorted({id for id in after if after.count(id) > 1 or id in scored_before})
    assert twice == [], f"scored again after the upgrade: {twice}"
    print_repeats(alerts.records)


def print_repeats(records) -> None:
    """Every alert of the whole suite that repeats an earlier one's transaction, with where it
    sits in the topic: a record to read, not a failure (`make fresh` drops the state that
    exactly-once rests on, and the suite restarts the runtime in every way the README shows)."""
    seen: dict[str, object] = {}
    for record in records:
        transaction = Alert.FromString(record.value).transaction_id
        if transaction in seen:
            first = seen[transaction]
            print(
                f"alerted twice: {transaction} at offsets {first.offset} and {record.offset}, "
                f"{(record.timestamp - first.timestamp) / 1000:.1f} s apart"
            )
        else:
            seen[transaction] = record
