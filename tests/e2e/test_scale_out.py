"""Scale-out on Flink itself: two TaskManagers, two partitions per topic, the job rescaled
from parallelism 1 to 2 and back through savepoints, and one TaskManager of two crashing."""

import time

import pytest

import kafka_topics
from entities_pb2 import ConfirmFraud
from expectations import ALERT_TIMEOUT, account, alerted
from load import assert_fraud_counts, exactly_once_through_a_crash_under_load, make_countable
from local_workshop import LocalWorkshop, rest, wait_for

pytestmark = pytest.mark.faults

TWO_TASKMANAGERS = ("--taskmanagers", "2", "--partitions", "2")
SCALED_OUT = (*TWO_TASKMANAGERS, "--parallelism", "2")
# Short enough to see the ExpireFraud timers of the rescaling test fire within it, long
# enough that those set before the first rescale are still pending after the second one
# (which takes about 75 s here).
WINDOW_SECONDS = 150


@pytest.fixture(scope="module")
def fresh_topics(workshop):
    """No workshop up, and no topics: they keep their partition count once created. Afterwards,
    the workshop as shipped again (fresh topics, one partition each)."""
    workshop.down(volumes=True)
    yield workshop
    workshop.down(volumes=True)
    workshop.up()


@pytest.fixture(scope="module")
def windowed(fresh_topics):
    """At parallelism 1 on two TaskManagers, with a fraud window of WINDOW_SECONDS."""
    workshop = LocalWorkshop({**fresh_topics.environment, "FRAUD_WINDOW": f"{WINDOW_SECONDS}s"})
    workshop.up(options=(*TWO_TASKMANAGERS, "--parallelism", "1"))
    return workshop


@pytest.fixture(scope="module")
def scaled_out(fresh_topics):
    fresh_topics.down()
    fresh_topics.up(options=SCALED_OUT)
    return fresh_topics


def running_at(parallelism: int) -> None:
    job = LocalWorkshop.running_job()
    vertices = rest(f"/jobs/{job}")["vertices"]
    print(f"\nparallelism {parallelism}: {[(vertex['name'][:40], vertex['parallelism']) for vertex in vertices]}")
    assert all(vertex["parallelism"] == parallelism for vertex in vertices)
    # At parallelism 1 the job can run before the second TaskManager has registered.
    wait_for("two TaskManagers", lambda: len(rest("/taskmanagers")["taskmanagers"]) == 2, timeout=60)


def rescale(workshop: LocalWorkshop, parallelism: int) -> None:
    """docs/beyond-one-machine.md's way: a savepoint, then the job again from it at another parallelism."""
    savepoint = workshop.take_savepoint().removeprefix("file:")
    workshop.down()
    log_before = len(workshop.log("master"))  # the log file outlives `down`
    workshop.up(savepoint=savepoint, options=(*TWO_TASKMANAGERS, "--parallelism", str(parallelism)))
    assert f"from savepoint {savepoint}" in workshop.log("master")[log_before:]
    running_at(parallelism)


def confirm(producer, holders) -> None:
    for holder in holders:
        producer.send(kafka_topics.CONFIRMED, holder, ConfirmFraud(account=holder).SerializeToString())
    producer.flush()


def test_rescaling_1_to_2_to_1_keeps_counts_thresholds_and_pending_timers(windowed, producer, alerts):
    running_at(1)
    # Accounts spread over both halves of the key space: a custom threshold of 1 makes every
    # probe of theirs alert, and the score tells the fraud count (load.assert_fraud_counts).
    early = [account(f"rescale-early{n}") for n in range(8)]  # confirmed at parallelism 1 and 2
    late = [account(f"rescale-late{n}") for n in range(4)]  # confirmed at parallelism 2 only
    make_countable(producer, early + late)
    confirm(producer, early)
    early_timers_due = time.monotonic() + WINDOW_SECONDS
    assert_fraud_counts(producer, alerts, {**dict.fromkeys(early, 1), **dict.fromkeys(late, 0)})

    rescale(windowed, 2)
    assert_fraud_counts(producer, alerts, {**dict.fromkeys(early, 1), **dict.fromkeys(late, 0)})
    confirm(producer, early + late)
    assert_fraud_counts(producer, alerts, {**dict.fromkeys(early, 2), **dict.fromkeys(late, 1)})

    rescale(windowed, 1)
    left = early_timers_due - time.monotonic()
    print(f"back at parallelism 1 {left:.0f} s before the first confirmations expire")
    assert left > 30, f"too late to see the first timers pending: raise WINDOW_SECONDS above {WINDOW_SECONDS}"
    # Before the first timers are due: afterwards the early counts can no longer read 2.
    assert_fraud_counts(producer, alerts, {**dict.fromkeys(early, 2), **dict.fromkeys(late, 1)}, timeout=left)
    # Then the first confirmation of each early account expires, once: a timer lost in a
    # rescale leaves 2, one fired twice 0.
    assert_fraud_counts(producer, alerts, dict.fromkeys(early, 1), timeout=left + ALERT_TIMEOUT)
    probes = alerted(alerts.records, "probe-")
    print(f"rescaled 1 -> 2 -> 1: {len(probes)} probe alerts, duplicates {len(probes) - len(set(probes))}")
    assert len(probes) == len(set(probes)), "a record was processed again after a rescale"


def test_the_job_runs_at_parallelism_2_on_two_taskmanagers(scaled_out):
    running_at(2)


def test_one_of_two_taskmanagers_crashing_under_load_loses_and_duplicates_nothing(scaled_out, producer, alerts):
    exactly_once_through_a_crash_under_load(scaled_out, producer, alerts, "worker-2")
