"""State lasts: every start without a savepoint resumes the newest completed checkpoint.

Fraud counts and custom thresholds are what an attendee would miss. Each restart here happens
with transactions still on their way, and at the end every one of them has alerted exactly
once: none lost with the state, none scored a second time from an older checkpoint.
"""

import shutil

import pytest

import kafka_topics
import processes
from entities_pb2 import Transaction
from expectations import (
    ALERT_TIMEOUT,
    QUIET_SECONDS,
    RISKY,
    account,
    alerted,
    confirm,
    expect,
    send_transaction,
    set_threshold,
)
from local_workshop import ROOT, LocalWorkshop, Producer, TopicReader

pytestmark = pytest.mark.faults

CHECKPOINTS = ROOT / "checkpoint-dir"
RESUMED = "last-state: resuming the newest completed checkpoint"
EMPTY = "last-state: no completed checkpoint"
OTHER_TOPICS = "last-state: the checkpoints in"


class InFlight:
    """Transactions sent just before each restart, all of which must alert once in the end."""

    def __init__(self, producer, holder: str):
        self.producer, self.holder, self.sent = producer, holder, []

    def send(self, stage: str, count: int = 30) -> None:
        for number in range(count):
            transaction_id = f"in-flight-{stage}-{number}-{self.holder}"
            send_transaction(self.producer, transaction_id, Transaction(account=self.holder, merchant=RISKY, amount=0))
            self.sent.append(transaction_id)
        self.producer.flush()

    def assert_each_alerted_once(self, alerts) -> None:
        prefix = "in-flight-"
        alerts.read_until(
            f"{len(self.sent)} in-flight alerts",
            lambda records: set(self.sent) <= set(alerted(records, prefix)),
            ALERT_TIMEOUT,
        )
        alerts.read_for(QUIET_SECONDS)
        ids = [transaction_id for transaction_id in alerted(alerts.records, prefix) if self.holder in transaction_id]
        duplicates = len(ids) - len(set(ids))
        print(f"\nin flight across the restarts: {len(self.sent)} sent, {len(set(ids))} alerted, {duplicates} twice")
        assert sorted(set(ids)) == sorted(self.sent), "a transaction in flight was lost"
        assert duplicates == 0, "a transaction was scored again from an older checkpoint"


def job_folders() -> list[str]:
    return sorted(folder.name for folder in CHECKPOINTS.iterdir() if folder.is_dir())


def test_counts_and_thresholds_survive_down_up_a_changed_setting_and_kill_9(workshop, producer, alerts):
    counted, strict, flow = account("lasting-counted"), account("lasting-strict"), account("lasting-flow")
    confirm(producer, counted)
    confirm(producer, counted)
    confirm(producer, flow)  # every transaction of flow's alerts from now on
    set_threshold(producer, strict, 5)
    expect(producer, alerts, "lasting-before", {counted: 2, flow: 1}, [strict])
    in_flight = InFlight(producer, flow)

    # The README's debugging step: stop, start with another CALL_TIMEOUT.
    debugging = LocalWorkshop({**workshop.environment, "CALL_TIMEOUT": "3min"})
    in_flight.send("call-timeout")
    debugging.down()
    debugging.up()
    assert processes.last_state().startswith(RESUMED)
    confirm(producer, counted)
    expect(producer, alerts, "lasting-call-timeout", {counted: 3}, [strict])

    # Stop for lunch and start again (as shipped: the way back from the debugging setting).
    in_flight.send("down-up")
    workshop.down()
    workshop.up()
    assert processes.last_state().startswith(RESUMED)
    expect(producer, alerts, "lasting-down-up", {counted: 3}, [strict])

    # A crash of both Flink processes: supervisord starts them again, as `up` would.
    in_flight.send("kill-9")
    workshop.kill_hard("master")
    workshop.kill_hard("worker")
    expect(producer, alerts, "lasting-kill-9", {counted: 3}, [strict])
    assert processes.last_state().startswith(RESUMED)

    in_flight.assert_each_alerted_once(alerts)
    # The resumed job's folder and the running job's: earlier ones are gone.
    assert len(job_folders()) <= 2, job_folders()


@pytest.fixture
def kafka_clients():
    """A producer and an alerts reader, new ones for new topics (`renew()`)."""
    clients = []

    def renew():
        for client in clients:
            client.close()
        clients[:] = [Producer(), TopicReader(kafka_topics.ALERTS)]
        return clients

    yield renew
    for client in clients:
        client.close()


def test_empty_state_only_when_asked_or_when_the_topics_are_new(workshop, kafka_clients):
    holder = account("fresh")
    producer, alerts = kafka_clients()

    def counted_twice(stage: str) -> None:
        """Two frauds in the state: one more after starts_empty's, two on a new account."""
        confirm(producer, holder)
        if stage == "made":
            confirm(producer, holder)
        expect(producer, alerts, f"fresh-{stage}", {holder: 2}, [])

    def starts_empty(stage: str) -> None:
        confirm(producer, holder)  # one fraud: the two before are gone with the state
        expect(producer, alerts, f"fresh-{stage}-empty", {holder: 1}, [])

    counted_twice("made")
    refused = workshop.fresh()
    assert refused.returncode != 0 and "stop it first" in refused.stderr, refused
    assert job_folders(), "make fresh removed checkpoints while the workshop ran"

    # make fresh: the one word for empty state, Kafka's topics kept.
    workshop.down()
    forgotten = workshop.fresh()
    assert forgotten.returncode == 0, forgotten
    assert job_folders() == []
    workshop.up()
    assert processes.last_state().startswith(EMPTY)
    starts_empty("make-fresh")

    # Topics recreated under the checkpoints (what `docker compose down -v` does, since Docker
    # cannot remove the bind-mounted checkpoint-dir/): their offsets mean nothing any more.
    counted_twice("before-new-topics")
    workshop.down()
    shutil.rmtree(ROOT / ".local-run" / "kafka-data")
    workshop.up()
    producer, alerts = kafka_clients()
    line = processes.last_state()
    assert line.startswith(OTHER_TOPICS) and "starting with empty state" in line, line
    starts_empty("new-topics")

    # down -v forgets Kafka's topics and the checkpoints together.
    counted_twice("before-down-v")
    workshop.down(volumes=True)
    assert job_folders() == []
    workshop.up()
    producer, alerts = kafka_clients()
    assert processes.last_state().startswith(EMPTY)
    starts_empty("down-v")
