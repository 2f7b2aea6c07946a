"""Test tool for the Docker suite: the README's docker compose commands, run in a copy of the repository.

The copy (every file git knows, as it is in the working tree) lets the tests edit
`statefun-functions/main.py` exactly as the README tells a user to, without touching the
checkout. The compose project name is fixed in docker-compose.yml, so the copy runs the very
services a user gets.
"""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

from entities_pb2 import Alert, Transaction
from expectations import QUIET_SECONDS, account, alerted, merchant_scoring, send_transaction
from local_workshop import rest, wait_for
from processes import running_job

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROJECT = "statefun-workshop"
ENVIRONMENT = {"FRAUD_THRESHOLD": "-1"}  # every transaction alerts
HOST_PORTS = (8000, 8001, 8002, 8088, 8404, 9090, 9092)
START_TIMEOUT = 600  # a cold first build of the project's images included
ALERT_TIMEOUT = 180
RATE = 50  # transactions per second of the steady traffic
# The end-to-end suite's tools (Kafka reader and producer, expectations; tests/e2e is on
# pytest's pythonpath, pyproject.toml) serve this suite too.


def docker_ready() -> dict:
    """`eval "$(make -s docker-ready)"`: the environment the README's commands then run in."""
    result = subprocess.run(["make", "-s", "docker-ready"], cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=1800)
    assert result.returncode == 0, "make docker-ready failed (its messages are above)"
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", result.stdout, flags=re.MULTILINE))
    return {**os.environ, **exports}


class DockerWorkshop:
    def __init__(self, folder: pathlib.Path, environment: dict):
        self.folder = folder
        self.environment = environment

    def compose(
        self, *args: str, timeout: float = 900, check: bool = True, quiet: bool = False, settings: dict | None = None
    ) -> str:
        """`docker compose ARGS`, with `settings` as NAME=value before it on the command line."""
        settings = settings or {}
        if not quiet:
            before = "".join(f"{name}={value} " for name, value in settings.items())
            print(f"$ {before}docker compose {' '.join(args)}", file=sys.stderr, flush=True)
        result = subprocess.run(
            ["docker", "compose", *args],
            cwd=self.folder,
            env={**self.environment, **settings},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, f"docker compose {' '.join(args)} failed:\n{result.stdout[-4000:]}"
        return result.stdout

    def docker(self, *args: str) -> str:
        result = subprocess.run(["docker", *args], env=self.environment, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"docker {' '.join(args)} failed: {result.stderr}"
        return result.stdout.strip()

    def log(self, service: str) -> str:
        return self.compose("logs", "--no-color", service, timeout=120, quiet=True)

    def container(self, service: str, replica: int | None = None) -> str:
        if replica is not None:  # Compose names a service's containers PROJECT-SERVICE-N
            return f"{PROJECT}-{service}-{replica}"
        return self.compose("ps", "-q", service, quiet=True).strip()

    def inspect(self, service: str, template: str, replica: int | None = None) -> str:
        return self.docker("inspect", "-f", template, self.container(service, replica))

    def crash(self, service: str, replica: int | None = None) -> None:
        """kill -9 of the service's main process from the host, as a crash would end it.

        Not `docker compose kill`: the engine cancels the restart policy of a container it
        kills itself (moby daemon/kill.go), so that would test nothing of the policy.
        """
        os.kill(int(self.inspect(service, "{{.State.Pid}}", replica)), signal.SIGKILL)

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={PROJECT}"
        return [
            *self.docker("ps", "-aq", "--filter", label).split(),
            *self.docker("volume", "ls", "-q", "--filter", label).split(),
        ]


def edit(path: pathlib.Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


def stopwatch() -> callable:
    started = time.monotonic()
    return lambda: time.monotonic() - started


# --- the job, through Flink's REST API, and traffic whose every transaction must alert --------


def job_exceptions() -> list[str]:
    """Why the job failed, each time it did (a restart keeps the job's id), as Flink's REST API says."""
    job = rest("/jobs")["jobs"][0]["id"]
    entries = rest(f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]
    return [f"{entry.get('taskName')}: {entry['exceptionName']}" for entry in entries]


def job_failures() -> int:
    return len(job_exceptions())


def running_at(parallelism: int) -> str | None:
    job = running_job()
    if job and all(vertex["parallelism"] == parallelism for vertex in rest(f"/jobs/{job}")["vertices"]):
        return job
    return None


def savepoint_location(job: str, request_id: str) -> str | None:
    status = rest(f"/jobs/{job}/savepoints/{request_id}")
    if status["status"]["id"] != "COMPLETED":
        return None
    assert "location" in status["operation"], f"the savepoint failed: {status['operation']}"
    return status["operation"]["location"]


def take_savepoint(workshop) -> str:
    """The README's curl call; the name of the savepoint's folder in savepoint-dir/."""
    job = wait_for("the job to run", running_job, 120)
    answer = subprocess.run(
        ["curl", "-sS", "-X", "POST", f"localhost:8001/jobs/{job}/savepoints", "-d", '{"cancel-job": false}'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    request_id = json.loads(answer)["request-id"]
    location = wait_for("the savepoint", lambda: savepoint_location(job, request_id), 120)
    name = location.rsplit("/", 1)[-1]
    assert (workshop.folder / "savepoint-dir" / name).is_dir(), f"{name} is not in savepoint-dir/"
    return name


def steady_traffic(producer, tag: str, count: int) -> tuple[threading.Thread, list[str]]:
    """`count` transactions at RATE per second, in the background; every one must alert."""
    sent: list[str] = []
    merchants = [merchant_scoring(0, 20), merchant_scoring(40, 60), merchant_scoring(80, 100)]

    def produce():
        started = time.monotonic()
        for number in range(count):
            ahead = started + number / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            transaction = Transaction(
                account=account(f"{tag}{number % 20}"), merchant=merchants[number % 3], amount=(number * 37) % 3000
            )
            transaction_id = account(f"{tag}-{number}")
            send_transaction(producer, transaction_id, transaction)
            sent.append(transaction_id)
        producer.flush()

    thread = threading.Thread(target=produce)
    thread.start()
    return thread, sent


def assert_each_alerted_once(alerts, tag: str, sent: list[str], timeout: float) -> None:
    prefix = f"{tag}-"
    alerts.read_until(f"{len(sent)} alerts ({tag})", lambda rs: set(sent) <= set(alerted(rs, prefix)), timeout)
    got = [
        transaction_id
        for transaction_id in alerted(alerts.read_for(QUIET_SECONDS), prefix)
        if transaction_id in set(sent)
    ]
    print(f"\n{tag}: sent {len(sent)} transactions, alerts {len(got)}, duplicates {len(got) - len(set(got))}")
    assert sorted(got) == sorted(sent)


def probe_threshold(producer, alerts, holder: str, threshold: int, timeout: float = ALERT_TIMEOUT) -> None:
    """Send probes for `holder` until one alerts with `threshold` as the threshold applied."""
    probes: list[str] = []

    def applied(records):
        if any(
            Alert.FromString(r.value).threshold == threshold
            for r in records
            if Alert.FromString(r.value).transaction_id in probes
        ):
            return True
        if len(probes) * 5 < time.monotonic() - started:
            probes.append(account(f"threshold-probe-{len(probes)}"))
            risky = Transaction(account=holder, merchant=merchant_scoring(95, 100), amount=4000)
            send_transaction(producer, probes[-1], risky)
            producer.flush()
        return False

    started = time.monotonic()
    alerts.read_until(f"{holder}'s threshold {threshold} to apply", applied, timeout)
