"""README "Debug a function": python-worker stopped under supervision and started by hand, as
the checked-in VS Code launch configuration starts it, serves the real runtime as the shipped
one does (real merchant scores, every alert exactly once); and with CALL_TIMEOUT, a worker held
still as a breakpoint holds it, past the runtime's default call timeout, costs nothing."""

import signal
import subprocess
import time
import urllib.request

import psutil
from test_debug_setup import launch_configuration, resolve

import kafka_topics
from entities_pb2 import Alert, Transaction
from expectations import ALERT_TIMEOUT, QUIET_SECONDS, RUN, account, alerted, score, send_transaction
from local_workshop import ROOT, LocalWorkshop, Producer, TopicReader, rest, wait_for
from merchant_service import merchant_score


def healthy() -> bool:
    try:
        with urllib.request.urlopen("http://127.0.0.1:8000/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def risky_merchants(count: int) -> list[str]:
    """Merchants no other test used, each scoring 90 or more at the merchant service."""
    names = (f"Debug-{RUN}-{n}" for n in range(100_000))
    return [name for name in names if merchant_score(name) >= 90][:count]


def test_a_worker_started_as_the_launch_configuration_says_serves_the_runtime(workshop, producer, alerts, tmp_path):
    configuration = {
        key: resolve(value) if key in ("python", "program", "cwd") else value
        for key, value in launch_configuration().items()
    }
    workshop.launcher("stop", "python-worker")
    log = tmp_path / "python-worker.log"
    with log.open("w") as output:  # a file, not a pipe: nobody reads it until the end
        by_hand = subprocess.Popen(
            [configuration["python"], configuration["program"]],
            cwd=configuration["cwd"],
            env={"PATH": "/usr/bin:/bin", **configuration["env"]},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for("the hand-started python-worker to answer", healthy, 30)
        probes = {}
        for n, merchant in enumerate(risky_merchants(5)):
            transaction = Transaction(account=account("debugged"), merchant=merchant, amount=2000)
            probes[account(f"debugged-{n}")] = score(transaction)
            send_transaction(producer, account(f"debugged-{n}"), transaction)
        producer.flush()
        alerts.read_until("the five alerts", lambda rs: set(probes) <= set(alerted(rs, "debugged-")), ALERT_TIMEOUT)
        records = alerts.read_for(QUIET_SECONDS)  # everything read so far, and nothing more came
        ids = [i for i in alerted(records, "debugged-") if i in probes]
        assert sorted(ids) == sorted(probes), "each transaction alerts exactly once"
        scores = {Alert.FromString(r.value).transaction_id: Alert.FromString(r.value).score for r in records}
        # The merchant service's scores, not the fallback's 50: the worker found the service.
        assert {i: scores[i] for i in probes} == probes
    finally:
        by_hand.send_signal(signal.SIGTERM)
        by_hand.wait(timeout=30)
        workshop.restart("python-worker")
    output = log.read_text()  # the supervised one again, for the tests after this
    assert "with 1 process(es)" in output
    assert "fallback" not in output, output[-2000:]


PAUSE_SECONDS = 75  # a breakpoint held past the runtime's default call timeout (1 min)


def paused(worker: psutil.Process, stop: bool) -> None:
    """SIGSTOP or SIGCONT to python-worker and every process it started (WORKERS), as a
    debugger does to the process it holds at a breakpoint."""
    for process in [worker, *worker.children(recursive=True)]:
        process.send_signal(signal.SIGSTOP if stop else signal.SIGCONT)


def test_with_call_timeout_a_worker_paused_past_the_default_timeout_fails_nothing(workshop):
    workshop.down()
    debugging = LocalWorkshop({**workshop.environment, "CALL_TIMEOUT": "3min"})
    debugging.up()
    worker = psutil.Process(debugging.pid("python-worker"))
    producer, alerts = Producer(), TopicReader(kafka_topics.ALERTS)
    try:
        assert "call: 3min  # CALL_TIMEOUT" in (ROOT / ".local-run" / "conf" / "module.yaml").read_text()
        failures = debugging.failures()
        risky = risky_merchants(1)[0]
        expected = {}
        paused(worker, stop=True)
        for n in range(20):
            transaction = Transaction(account=account(f"paused-{n}"), merchant=risky, amount=2000)
            expected[account(f"paused-{n}")] = score(transaction)
            send_transaction(producer, account(f"paused-{n}"), transaction)
        producer.flush()
        time.sleep(PAUSE_SECONDS)  # the breakpoint, held: the runtime's calls wait
        paused(worker, stop=False)

        alerts.read_until("the alerts held up", lambda rs: set(expected) <= set(alerted(rs, "paused-")), ALERT_TIMEOUT)
        records = alerts.read_for(QUIET_SECONDS)
        ids = alerted(records, "paused-")
        assert sorted(ids) == sorted(expected), "each transaction alerts exactly once"
        scores = {Alert.FromString(r.value).transaction_id: Alert.FromString(r.value).score for r in records}
        assert {i: scores[i] for i in expected} == expected
        assert debugging.failures() == failures, "the job failed and restarted meanwhile"
        checkpoints = rest(f"/jobs/{debugging.running_job()}/checkpoints")
        print(
            f"\npaused {PAUSE_SECONDS} s: longest checkpoint {checkpoints['summary']['end_to_end_duration']['max']} ms, "
            f"{checkpoints['counts']['failed']} failed"
        )
    finally:
        paused(worker, stop=False)
        producer.close()
        alerts.close()
        debugging.down()
        workshop.up()  # as the other tests expect it: without CALL_TIMEOUT
