"""statefun-runtime/last-state.sh's rule, run for real on a checkpoint folder of its own.

Two test tools stand in for what the script asks at start: a `java` that prints the topic ids
KafkaTopicIds would (tests/e2e/test_last_state.py asks the real Kafka), and python-worker's
GET /health served by http.server. The JobManager's command is `echo`, so the arguments the
script hands it are what the test reads.
"""

import http.server
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from layout import FLINK_REST_PORT, LAST_STATE

TOPICS = "transactions id-t\nconfirmed id-c\nthresholds id-h\n"
FUNCTIONS = ["ververica/counter", "ververica/model", "ververica/threshold"]
STATE = [
    "ververica/counter fraud_count com.googleapis/workshop.ReportedFraud",
    "ververica/threshold threshold com.googleapis/workshop.CustomThreshold",
]


class Health(http.server.BaseHTTPRequestHandler):
    """python-worker's GET /health, as server.py answers it."""

    functions: list[str] = FUNCTIONS
    state: list[str] = STATE

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps({"status": "ok", "functions": self.functions, "state": self.state}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def python_worker():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


class Runtime:
    """A flink-conf.yaml, a module.yaml and a checkpoint folder, as the script reads them."""

    def __init__(self, folder: Path, worker_port: int):
        self.checkpoints = folder / "checkpoint-dir"
        self.checkpoints.mkdir()
        self.conf = folder / "flink-conf.yaml"
        self.conf.write_text(f"state.checkpoints.dir: file://{self.checkpoints}\n")
        self.module = folder / "module.yaml"
        self.module.write_text(
            f"spec:\n  urlPathTemplate: http://127.0.0.1:{worker_port}/statefun\n---\n"
            "spec:\n  address: 127.0.0.1:9092\n  topics:\n    - topic: transactions\n"
            "---\nspec:\n  address: 127.0.0.1:9092\n  topics:\n    - topic: confirmed\n"
        )
        self.java = folder / "java"
        self.topic_ids(TOPICS)

    def topic_ids(self, text: str, exit_code: int = 0) -> None:
        """What the stand-in java prints for KafkaTopicIds (the ids of the topics asked for)."""
        ids = self.java.with_suffix(".ids")
        ids.write_text(text)
        self.java.write_text(
            "#!/bin/bash\n"  # java -cp CLASSPATH workshop.statefun.KafkaTopicIds BOOTSTRAP TOPIC...
            f"[ {exit_code} = 0 ] || {{ echo 'no broker' >&2; exit {exit_code}; }}\n"
            f'for topic in "${{@:5}}"; do grep "^$topic " {ids} || true; done\n'
        )
        self.java.chmod(0o755)

    def checkpoint(self, job: str, number: int, age: float = 0) -> Path:
        chk = self.checkpoints / job / f"chk-{number}"
        chk.mkdir(parents=True)
        (chk / "_metadata").write_text("metadata")
        stamp = time.time() - age
        os.utime(chk / "_metadata", (stamp, stamp))
        return chk

    def start(self, *args: str) -> subprocess.CompletedProcess:
        """last-state.sh echo START ARGS: the JobManager's arguments, printed."""
        environment = {
            "PATH": os.environ["PATH"],
            "LAST_STATE_FLINK_CONF": str(self.conf),
            "LAST_STATE_MODULE": str(self.module),
            "LAST_STATE_CLASSPATH": "unused",
            "LAST_STATE_JAVA": str(self.java),
        }
        return subprocess.run(
            ["bash", str(LAST_STATE), "echo", "START", *args], env=environment, capture_output=True, text=True
        )

    def jobs(self) -> list[str]:
        return sorted(path.name for path in self.checkpoints.iterdir() if path.is_dir())


@pytest.fixture
def runtime(tmp_path, python_worker):
    Health.functions, Health.state = FUNCTIONS, STATE
    return Runtime(tmp_path, python_worker.server_address[1])


def started_with(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if line.startswith("START"))


def said(result: subprocess.CompletedProcess) -> str:
    return [line for line in result.stdout.splitlines() if line.startswith("last-state: ")][-1]


def test_the_first_start_is_empty_and_records_the_topics_and_functions(runtime):
    result = runtime.start("-D", "parallelism.default=1")
    assert started_with(result) == "START -D parallelism.default=1"
    assert said(result).startswith("last-state: no completed checkpoint")
    assert (runtime.checkpoints / "kafka-topics").read_text() == "transactions id-t\nconfirmed id-c\n"
    assert (runtime.checkpoints / "functions").read_text().split() == FUNCTIONS
    assert (runtime.checkpoints / "state").read_text().splitlines() == STATE


def test_a_start_resumes_the_newest_completed_checkpoint_and_drops_earlier_jobs(runtime):
    runtime.start()
    runtime.checkpoint("job-old", 7, age=60)
    newest = runtime.checkpoint("job-new", 3, age=5)
    (runtime.checkpoints / "job-new" / "chk-4").mkdir()  # in progress when the job stopped: no _metadata
    result = runtime.start("-D", "parallelism.default=1")
    assert started_with(result) == f"START -D parallelism.default=1 -s {newest} -n"
    assert said(result).startswith(f"last-state: resuming the newest completed checkpoint {newest} (taken ")
    assert runtime.jobs() == ["job-new"]


def test_a_savepoint_given_wins_and_no_checkpoint_is_added(runtime):
    runtime.start()
    runtime.checkpoint("job-a", 2, age=30)
    runtime.checkpoint("job-b", 9, age=3)
    result = runtime.start("-s", "/savepoint-dir/savepoint-1", "-n")
    assert started_with(result) == "START -s /savepoint-dir/savepoint-1 -n"
    assert said(result) == "last-state: starting from the savepoint given (-s), not from a checkpoint"
    assert runtime.jobs() == ["job-b"]  # the newest stays until a newer job holds the state


def test_topics_created_again_since_mean_empty_state_and_the_checkpoints_go(runtime):
    runtime.start()
    runtime.checkpoint("job-a", 5)
    runtime.topic_ids("transactions id-t2\nconfirmed id-c\n")  # transactions deleted and created again
    result = runtime.start()
    assert started_with(result) == "START"
    assert "read other Kafka topics than these" in said(result)
    assert "starting with empty state" in said(result)
    assert runtime.jobs() == []
    assert "transactions id-t2" in (runtime.checkpoints / "kafka-topics").read_text()


def test_checkpoints_without_a_record_of_their_topics_are_not_trusted(runtime):
    runtime.checkpoint("job-a", 5)
    result = runtime.start()
    assert started_with(result) == "START"
    assert "have no record of the Kafka topics they read" in said(result)
    assert runtime.jobs() == []


def test_an_ingress_added_or_taken_out_since_is_no_obstacle(runtime):
    runtime.start()
    chk = runtime.checkpoint("job-a", 5)
    # confirmed was not read then; thresholds was, and no longer is
    (runtime.checkpoints / "kafka-topics").write_text("transactions id-t\nthresholds id-gone\n")
    assert started_with(runtime.start()).endswith(f"-s {chk} -n")


def test_a_function_taken_out_since_stops_the_start_once_with_the_choice(runtime):
    runtime.start()
    chk = runtime.checkpoint("job-a", 5)
    Health.functions, Health.state = FUNCTIONS[:2], STATE[:1]  # ververica/threshold taken out
    result = runtime.start()
    assert result.returncode == 0  # not a failure: no restart policy starts it again
    assert "START" not in result.stdout
    line = said(result)
    assert line.startswith(f"last-state: not started: the newest checkpoint ({chk}) holds state of ververica/threshold")
    assert "make fresh" in line and "SAVEPOINT=" in line
    assert runtime.jobs() == ["job-a"]  # nothing lost: the version that fits resumes it
    Health.functions, Health.state = FUNCTIONS, STATE
    assert started_with(runtime.start()).endswith(f"-s {chk} -n")


def test_a_state_value_declared_with_another_type_since_stops_the_start_too(runtime):
    runtime.start()
    chk = runtime.checkpoint("job-a", 5)
    Health.state = ["ververica/counter fraud_count io.statefun.types/int", STATE[1]]
    result = runtime.start()
    assert result.returncode == 0 and "START" not in result.stdout
    assert said(result).startswith(
        f"last-state: not started: the newest checkpoint ({chk}) holds state whose type main.py changed since "
        "(ververica/counter fraud_count was com.googleapis/workshop.ReportedFraud, now io.statefun.types/int)"
    )
    # A state value added or taken out is no obstacle: the runtime sends what the function asks for.
    Health.state = [*STATE, "ververica/model last_score io.statefun.types/int"][1:]
    assert started_with(runtime.start()).endswith(f"-s {chk} -n")


def test_without_kafka_master_fails_and_is_started_again(runtime):
    runtime.topic_ids("", exit_code=1)
    result = runtime.start()
    assert result.returncode == 1 and "START" not in result.stdout
    assert "cannot read the topics' ids from Kafka at 127.0.0.1:9092" in result.stderr


def forget(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(LAST_STATE), "--forget", str(folder)], capture_output=True, text=True)


def test_forget_removes_the_checkpoints_and_their_records_only_while_nothing_runs(runtime):
    runtime.start()
    runtime.checkpoint("job-a", 5)
    with socket.socket() as rest:
        rest.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections of a workshop just stopped
        try:
            rest.bind(("127.0.0.1", FLINK_REST_PORT))  # as a running JobManager would
        except OSError:
            pytest.fail(f"127.0.0.1:{FLINK_REST_PORT} is taken: stop the workshop (make down) to run this test")
        rest.listen()
        refused = forget(runtime.checkpoints)
    assert refused.returncode == 1 and "stop it first" in refused.stderr
    assert runtime.jobs() == ["job-a"]
    forgotten = forget(runtime.checkpoints)
    assert forgotten.returncode == 0, forgotten.stderr
    assert list(runtime.checkpoints.iterdir()) == []
    assert said(runtime.start()).startswith("last-state: no completed checkpoint")
