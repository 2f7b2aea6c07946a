"""Test tools for the end-to-end tests: drive the Docker-free workshop and read Kafka.

`LocalWorkshop` runs local/workshop.py, the same launcher users run with
`make up`, so the tests start the real Kafka, Flink + StateFun runtime,
python-worker and merchant-score service as local processes.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

import kafka_topics
import processes
from layout import FLINK_REST, KAFKA_PORT, LOGS, PROMETHEUS, SUPERVISORD_CONF
from layout import REPO as ROOT

LAUNCHER = ROOT / "local" / "workshop.py"
BOOTSTRAP = f"127.0.0.1:{KAFKA_PORT}"

# The job's Kafka consumer group, as module.yaml names it (for the lag of its input).
CONSUMER_GROUP = next(
    document["spec"]["consumerGroupId"]
    for document in yaml.safe_load_all((ROOT / "statefun-runtime" / "module.yaml").read_text())
    if document and document["kind"] == "io.statefun.kafka.v1/ingress"
)


def wait_for(what: str, check, timeout: float, interval: float = 0.5):
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def rest(path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        FLINK_REST + path, data=data, method="POST" if data else "GET", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def prometheus(path: str, **query):
    """The data of a Prometheus HTTP API answer, e.g. prometheus("/api/v1/query", query="up")."""
    url = f"{PROMETHEUS}{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]


class LocalWorkshop:
    def __init__(self, environment: dict):
        self.environment = environment

    def launcher(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        print(f"$ local/workshop.py {' '.join(args)}", file=sys.stderr, flush=True)
        result = subprocess.run(
            [sys.executable, str(LAUNCHER), *args],
            env=self.environment,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        print(result.stdout, file=sys.stderr, flush=True)
        if check:
            assert result.returncode == 0, f"local/workshop.py {' '.join(args)} failed:\n{result.stdout[-3000:]}"
        return result

    def up(
        self,
        savepoint: str | None = None,
        module: pathlib.Path | None = None,
        functions: pathlib.Path | None = None,
        options: tuple[str, ...] = (),
    ) -> None:
        """local/workshop.py up, without the simulator; `options` are more of its options."""
        self.launcher(
            "up",
            "--no-simulator",
            *(["--savepoint", savepoint] if savepoint else []),
            *(["--module", str(module)] if module else []),
            *(["--functions", str(functions)] if functions else []),
            *options,
        )

    def down(self, volumes: bool = False) -> None:
        self.launcher("down", *(["-v"] if volumes else []))

    @staticmethod
    def fresh() -> subprocess.CompletedProcess:
        """`make fresh`, as the README has it: the checkpoints forgotten, Kafka kept."""
        return subprocess.run(["make", "-s", "fresh"], cwd=ROOT, capture_output=True, text=True)

    def restart(self, service: str) -> None:
        self.launcher("restart", service)

    def pid(self, service: str) -> int:
        """The process id supervisord has for `service`."""
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "supervisor.supervisorctl",
                "-c",
                str(SUPERVISORD_CONF),
                "pid",
                service,
            ],
            capture_output=True,
            text=True,
        )
        assert result.stdout.strip().isdigit(), f"no pid for {service}: {result.stdout}{result.stderr}"
        return int(result.stdout)

    def kill_hard(self, service: str) -> int:
        """kill -9 the service; supervisord starts it again, as a container's restart policy would."""
        pid = self.pid(service)
        os.kill(pid, signal.SIGKILL)
        wait_for(f"{service} to be started again", lambda: self._restarted(service, pid), timeout=60)
        return pid

    def _restarted(self, service: str, old_pid: int) -> bool:
        try:
            return self.pid(service) != old_pid
        except AssertionError:
            return False

    def log(self, service: str) -> str:
        path = LOGS / f"{service}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @staticmethod
    def running_job() -> str:
        """The job's id, once it and all of its tasks run (after a failure Flink restarts them)."""
        return wait_for("the job to run", processes.running_job, 120)

    def failures(self) -> int:
        """How often the running job failed (and was restarted): its exception history.

        (Flink's numRestarts metric stays 0 here even after a lost TaskManager.)
        """
        return len(rest(f"/jobs/{self.running_job()}/exceptions")["exceptionHistory"]["entries"])

    def take_savepoint(self) -> str:
        """The workshop's curl, as a test: POST /jobs/<id>/savepoints, then wait for its path."""
        job = self.running_job()
        trigger = rest(f"/jobs/{job}/savepoints", {"cancel-job": False})["request-id"]

        def completed():
            status = rest(f"/jobs/{job}/savepoints/{trigger}")
            if status["status"]["id"] != "COMPLETED":
                return None
            operation = status["operation"]
            assert "location" in operation, f"savepoint failed: {operation}"
            return operation["location"]

        return wait_for("the savepoint to complete", completed, timeout=120)


class Producer:
    def __init__(self):
        self._producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, **kafka_topics.PRODUCER_SETTINGS)

    def send(self, topic: str, key: str | None, value: bytes | None) -> None:
        self._producer.send(topic, key=None if key is None else key.encode(), value=value)

    def send_and_wait(self, topic: str, key: str | None, value: bytes) -> None:
        """Send one record and wait for the broker's answer; raises the KafkaError it refused with."""
        self._producer.send(topic, key=None if key is None else key.encode(), value=value).get(timeout=30)

    def flush(self) -> None:
        self._producer.flush(timeout=30)

    def close(self) -> None:
        self._producer.close(timeout=10)


class TopicReader:
    """Everything committed to a topic, from the beginning, read as a read_committed consumer."""

    def __init__(self, topic: str):
        self.topic = topic
        self.records = []
        self._consumer = KafkaConsumer(
            topic,
            bootstrap_servers=BOOTSTRAP,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )

    def read_until(self, what: str, predicate, timeout: float):
        """Keep reading until predicate(records) holds; the exactly-once egress makes records
        visible only when the Flink checkpoint covering them completes (every second)."""

        def satisfied():
            for batch in self._consumer.poll(timeout_ms=500).values():
                self.records.extend(batch)
            return predicate(self.records)

        wait_for(what, satisfied, timeout, interval=0)
        return self.records

    def read_for(self, seconds: float):
        """Read whatever arrives within `seconds` (to show that nothing more comes)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for batch in self._consumer.poll(timeout_ms=500).values():
                self.records.extend(batch)
        return self.records

    def read_until_quiet(self, seconds: float, timeout: float):
        """Read until nothing new has arrived for `seconds` (the traffic has drained)."""
        last = {"count": -1, "since": time.monotonic()}

        def quiet():
            for batch in self._consumer.poll(timeout_ms=500).values():
                self.records.extend(batch)
            if len(self.records) != last["count"]:
                last.update(count=len(self.records), since=time.monotonic())
            return time.monotonic() - last["since"] >= seconds

        wait_for(f"no new record for {seconds} s", quiet, timeout, interval=0)
        return self.records

    def close(self) -> None:
        self._consumer.close()


def transactions_lag() -> int:
    """Records of `transactions` not yet read by the job (its consumer group's committed offsets)."""
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    ends = KafkaConsumer(bootstrap_servers=BOOTSTRAP)
    try:
        committed = admin.list_consumer_group_offsets(CONSUMER_GROUP)
        partitions = [p for p in committed if p.topic == kafka_topics.TRANSACTIONS]
        return sum(ends.end_offsets(partitions)[p] - committed[p].offset for p in partitions)
    finally:
        admin.close()
        ends.close()
