"""The services as supervisord runs them, and the checks that tell when they are up.

supervisord plays compose's part: it starts each service with its command, restarts it
when it exits, and stops it with its whole process group.
"""

import http.client
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from string import Template

import jvm
from layout import (
    CHECKPOINT_DIR,
    CONF,
    DASHBOARD_PORT,
    FLINK_METRICS_PORT,
    FLINK_PLUGINS,
    FLINK_REST,
    KAFKA_PORT,
    LAST_STATE,
    LOGS,
    MERCHANT_SERVICE,
    PROMETHEUS_DATA,
    PROMETHEUS_PORT,
    PYTHON,
    REPO,
    SUPERVISORD_CONF,
    SUPERVISORD_PID,
    SUPERVISORD_SOCK,
    TEMPLATES,
)

UP_TIMEOUT_SECONDS = 240


def programs(
    savepoint: Path | None,
    server_properties: Path,
    functions: Path,
    worker_python: str,
    taskmanagers: int = 1,
    prometheus: str | None = None,
) -> dict[str, dict]:
    """Each service: its command, and whether supervisord starts it by itself.

    master, the workers and the simulator are started by `up` once the topics exist: a Kafka
    source that starts before its topic exists would never read it. The TaskManagers are
    worker, worker-2, worker-3, ... (each with one task slot, flink-conf.yaml). prometheus
    runs when `up` found or installed the program (prometheus_program()).
    """
    metrics_ports = flink_metrics_ports(taskmanagers)
    return {
        "kafka-broker": {
            "command": jvm.kafka_java_command("kafka.Kafka", str(server_properties)),
            "autostart": True,
            "priority": 10,
        },
        "python-worker": {"command": [worker_python, str(functions / "main.py")], "autostart": True, "priority": 20},
        "merchant-service": {"command": [PYTHON, "simulator/merchant_service.py"], "autostart": True, "priority": 20},
        "master": {
            "command": jvm.master_command(savepoint, metrics_ports["master"]),
            "autostart": False,
            "priority": 30,
        },
        **{
            name: {"command": jvm.worker_command(name, metrics_ports[name]), "autostart": False, "priority": 30}
            for name in workers(taskmanagers)
        },
        "simulator": {"command": [PYTHON, "simulator/simulator.py"], "autostart": False, "priority": 40},
        # The live page: its own feeds wait for Kafka and Flink, so it starts with the rest.
        "dashboard": {
            "command": [PYTHON, "simulator/dashboard.py", "--flink", FLINK_REST, "--port", str(DASHBOARD_PORT)],
            "autostart": True,
            "priority": 40,
        },
        **(
            {"prometheus": {"command": prometheus_command(prometheus), "autostart": False, "priority": 20}}
            if prometheus
            else {}
        ),
    }


def flink_metrics_ports(taskmanagers: int) -> dict[str, int]:
    """Each Flink process's Prometheus reporter port: on one machine they cannot share one, so
    master has flink-conf.yaml's and the TaskManagers the ones after it."""
    names = ["master", *workers(taskmanagers)]
    return {name: FLINK_METRICS_PORT + index for index, name in enumerate(names)}


def prometheus_command(program: str) -> list[str]:
    """As the prom/prometheus image runs it, on loopback, with its data under .local-run."""
    return [
        program,
        f"--config.file={CONF / 'prometheus.yml'}",
        f"--storage.tsdb.path={PROMETHEUS_DATA}",
        f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
    ]


def workers(taskmanagers: int) -> list[str]:
    """The TaskManagers' service names: worker, as in compose, then worker-2, worker-3, ..."""
    return ["worker", *(f"worker-{number}" for number in range(2, taskmanagers + 1))]


def supervisord_conf(program_specs: dict[str, dict]) -> str:
    common = {"repo": REPO, "logs": LOGS, "socket": SUPERVISORD_SOCK, "pidfile": SUPERVISORD_PID}
    sections = [Template((TEMPLATES / "supervisord.conf").read_text()).substitute(common)]
    program = Template((TEMPLATES / "program.conf").read_text())
    for name, spec in program_specs.items():
        sections.append(
            program.substitute(
                common,
                name=name,
                # % is supervisord's interpolation
                command=shlex.join(spec["command"]).replace("%", "%%"),
                autostart=str(spec["autostart"]).lower(),
                # master exits 0 only when last-state.sh refuses the state it would resume, at
                # once: starting it again would say the same (compose's on-failure does not
                # either), and without startsecs supervisord would take it for a failed start.
                autorestart="unexpected" if name == "master" else "true",
                startsecs=0 if name == "master" else 3,
                priority=spec["priority"],
            )
        )
    return "\n".join(sections)


def services_environment() -> dict[str, str]:
    """supervisord's environment, which every service inherits.

    FRAUD_THRESHOLD, FRAUD_WINDOW and MERCHANT_SERVICE_URL pass through from the caller;
    the addresses default to this machine's.
    """
    environment = dict(os.environ)
    environment.setdefault("MERCHANT_SERVICE_URL", MERCHANT_SERVICE)
    environment["KAFKA_BOOTSTRAP"] = f"127.0.0.1:{KAFKA_PORT}"
    environment["PYTHONUNBUFFERED"] = "1"  # so the logs show prints as they happen
    # Where Flink finds its Prometheus reporter (Flink's scripts set this to <flink>/plugins).
    environment["FLINK_PLUGINS_DIR"] = str(FLINK_PLUGINS)
    return environment


def supervisorctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "-m", "supervisor.supervisorctl", "-c", str(SUPERVISORD_CONF), *args],
        cwd=REPO,
        text=True,
        capture_output=True,
    )


def program_states() -> dict[str, str]:
    """supervisord's state of each program (RUNNING, BACKOFF, FATAL, ...), over its socket."""
    import xmlrpc.client

    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{SUPERVISORD_SOCK}")
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
    return {info["name"]: info["statename"] for info in proxy.supervisor.getAllProcessInfo()}


def supervisord_pid() -> int | None:
    """The pid of our supervisord if it is alive, else None."""
    try:
        pid = int(SUPERVISORD_PID.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start_supervisord() -> None:
    subprocess.run(
        [PYTHON, "-m", "supervisor.supervisord", "-c", str(SUPERVISORD_CONF)],
        cwd=REPO,
        env=services_environment(),
        check=True,
    )  # it daemonizes itself


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


def http_json(url: str):
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def running_job() -> str | None:
    """The id of the StateFun job once it and all of its tasks are RUNNING."""
    try:
        for job in http_json(f"{FLINK_REST}/jobs")["jobs"]:
            if job["status"] == "RUNNING":
                vertices = http_json(f"{FLINK_REST}/jobs/{job['id']}")["vertices"]
                if all(vertex["status"] == "RUNNING" for vertex in vertices):
                    return job["id"]
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        pass
    return None


def last_state() -> str:
    """What master's last start began with: the last line statefun-runtime/last-state.sh
    wrote into its log (a checkpoint resumed, a savepoint, or empty state and why)."""
    log = LOGS / "master.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    said = [line for line in lines if line.startswith("last-state: ")]
    return said[-1] if said else "last-state: master has not started yet"


def forget_checkpoints() -> int:
    """The checkpoints removed (`make fresh`, `down -v`), by the script that owns the folder."""
    result = subprocess.run(["bash", str(LAST_STATE), "--forget", str(CHECKPOINT_DIR)], capture_output=True, text=True)
    print((result.stdout + result.stderr).rstrip())
    return result.returncode


def create_topics(partitions: int = 1) -> None:
    """The same script as docker-compose's create-topics service, with the topics' settings."""
    script = str(REPO / "simulator" / "create_topics.py")
    result = subprocess.run(
        [PYTHON, script, "--bootstrap", f"127.0.0.1:{KAFKA_PORT}", "--partitions", str(partitions)],
        capture_output=True,
        text=True,
    )
    print("  " + (result.stdout + result.stderr).strip().replace("\n", "\n  "))
    if result.returncode != 0:
        sys.exit("could not create the topics")


def wait_until(checks: dict[str, Callable[[], bool]], started: float) -> bool:
    """Poll every check until all pass; print each as it passes and, every 10 s, what is left.

    Gives up early when supervisord has given up on a service (FATAL: it kept exiting).
    """
    pending = dict(checks)
    last_report = time.monotonic()
    while pending:
        states = program_states()
        if states.get("master") == "EXITED":
            print(f"master did not start the job: {last_state()}")
            return False
        fatal = [name for name, state in states.items() if state == "FATAL" and name != "simulator"]
        if fatal:
            for name in fatal:
                print(f"{name} keeps exiting; the end of {LOGS / (name + '.log')}:")
                print("".join((LOGS / f"{name}.log").read_text(errors="replace").splitlines(True)[-15:]))
            return False
        for name, check in list(pending.items()):
            if check():
                print(f"  [{time.monotonic() - started:5.1f} s] {name}: ok")
                del pending[name]
        if not pending:
            break
        if time.monotonic() - started > UP_TIMEOUT_SECONDS:
            print(f"Not ready after {UP_TIMEOUT_SECONDS} s: {', '.join(pending)}")
            return False
        if time.monotonic() - last_report >= 10:
            print(f"  [{time.monotonic() - started:5.1f} s] waiting for: {', '.join(pending)}")
            last_report = time.monotonic()
        time.sleep(1)
    return True
