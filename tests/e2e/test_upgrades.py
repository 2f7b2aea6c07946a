"""Upgrading python-worker through a savepoint, and rolling it back, while its state grows a field.

The newer release (tests/e2e/versions.py) adds `confirmed_ever` to the counter's
state and `updated_at` to the thresholds it stores. Each switch of release is the
README's savepoint exercise: savepoint, stop, start the other main.py from it.
"""

import pytest

from expectations import QUIET_SECONDS, account, alerted, confirm, expect, set_threshold
from local_workshop import transactions_lag, wait_for
from versions import newer_functions

pytestmark = pytest.mark.faults


@pytest.fixture
def switch_to(workshop):
    """switch_to(folder): restart from a savepoint with python-worker run from that folder
    (None: this checkout's statefun-functions/). Afterwards the workshop runs this checkout's."""
    running = []

    def switch(functions) -> None:
        # Every transaction read before the savepoint: none is scored again after the restore.
        wait_for("the job to have read every transaction", lambda: transactions_lag() == 0, timeout=60)
        location = workshop.take_savepoint()
        workshop.down()
        running.append(functions)
        workshop.up(savepoint=location.removeprefix("file:"), functions=functions)

    yield switch
    if running and running[-1] is not None:
        workshop.down()
        workshop.up()


def test_counts_and_thresholds_survive_an_upgrade_that_adds_state_fields_and_the_rollback(
    workshop, producer, alerts, switch_to, tmp_path
):
    newer = newer_functions(tmp_path)
    counted, strict = account("evolve-counted"), account("evolve-strict")
    counted_by_newer, strict_by_newer = account("evolve-counted-newer"), account("evolve-strict-newer")

    def logged_by_python_worker(since: int, holder: str, line: str) -> None:
        wait_for(
            f"python-worker to log {line!r} for {holder}",
            lambda: f"/{holder}: {line}" in workshop.log("python-worker")[since:],
            timeout=30,
        )

    # The release users run today writes the state.
    confirm(producer, counted)
    set_threshold(producer, strict, 12)
    expect(producer, alerts, "upgrade-old", {counted: 1}, [strict])

    # Upgrade: the newer release reads the older state, and writes its new fields.
    switch_to(newer)
    since = len(workshop.log("python-worker"))
    expect(producer, alerts, "upgrade-newer-reads", {counted: 1}, [strict])
    confirm(producer, counted)
    confirm(producer, counted_by_newer)
    confirm(producer, counted_by_newer)
    set_threshold(producer, strict_by_newer, 10)
    expect(producer, alerts, "upgrade-newer-writes", {counted: 2, counted_by_newer: 2}, [strict, strict_by_newer])
    logged_by_python_worker(since, counted, "fraud confirmed, 2 in the window, 1 ever")
    logged_by_python_worker(since, counted_by_newer, "fraud confirmed, 2 in the window, 2 ever")  # read back

    # Rollback: the older release reads state with fields it does not know, and keeps them.
    switch_to(None)
    expect(producer, alerts, "upgrade-rollback-reads", {counted: 2, counted_by_newer: 2}, [strict, strict_by_newer])
    confirm(producer, counted)  # the older release writes the counter back
    expect(producer, alerts, "upgrade-rollback-writes", {counted: 3}, [])

    # Upgrade again: the field the older release carried through is still there.
    switch_to(newer)
    since = len(workshop.log("python-worker"))
    expect(producer, alerts, "upgrade-newer-again", {counted_by_newer: 2}, [strict, strict_by_newer])
    confirm(producer, counted)
    producer.flush()
    logged_by_python_worker(since, counted, "fraud confirmed, 4 in the window, 2 ever")

    ids = alerted(alerts.read_for(QUIET_SECONDS), "probe-upgrade-")
    print(f"\nupgrade, rollback, upgrade: {len(ids)} probe alerts, duplicates {len(ids) - len(set(ids))}")
    assert len(ids) == len(set(ids)), "a transaction was scored again after a restore"
