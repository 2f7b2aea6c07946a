#!/usr/bin/env python3
"""The workshop without Docker: the same services as docker-compose, run by supervisord.

Run it with the repository's virtualenv python (it needs supervisor and kafka-python):

    .venv/bin/python local/workshop.py up [--savepoint PATH] [--no-simulator]
    .venv/bin/python local/workshop.py status
    .venv/bin/python local/workshop.py logs [SERVICE] [-f]
    .venv/bin/python local/workshop.py restart SERVICE
    .venv/bin/python local/workshop.py down

Services (the docker-compose names): kafka-broker (127.0.0.1:9092, controller :9093),
master (Flink JobManager running the StateFun job; REST + web UI on 127.0.0.1:8001),
worker (Flink TaskManager), python-worker (127.0.0.1:8000), merchant-service (127.0.0.1:8002)
and simulator.

Everything this writes lives in <repo>/.local-run/ (config, logs, Kafka data, supervisord's
socket and pid); checkpoints and savepoints go to <repo>/checkpoint-dir and <repo>/savepoint-dir,
as with Docker. The jars come from local/fetch.py's cache ($WORKSHOP_CACHE).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import http.client
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Callable

import fetch  # local/fetch.py, beside this file

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / ".local-run"
CONF = RUN / "conf"
LOGS = RUN / "logs"
KAFKA_DATA = RUN / "kafka-data"
FLINK_TMP = RUN / "flink-tmp"
SUPERVISORD_CONF = RUN / "supervisord.conf"
SUPERVISORD_SOCK = RUN / "supervisord.sock"
SUPERVISORD_PID = RUN / "supervisord.pid"
CHECKPOINT_DIR = REPO / "checkpoint-dir"
SAVEPOINT_DIR = REPO / "savepoint-dir"
FUNCTIONS = REPO / "statefun-functions"  # python-worker's main.py and the modules beside it
RUNTIME_SOURCES = REPO / "statefun-runtime"  # the one module.yaml and flink-conf.yaml (Docker's too)
INGRESS_GUARD_SOURCES = RUNTIME_SOURCES / "ingress-guard"

PYTHON = sys.executable  # the venv python this script runs with also runs the Python services
SERVICES = ["kafka-broker", "master", "worker", "python-worker", "merchant-service", "simulator"]
KAFKA_PORT, KAFKA_CONTROLLER_PORT = 9092, 9093
FLINK_REST = "http://127.0.0.1:8001"
PYTHON_WORKER_HEALTH = "http://127.0.0.1:8000/health"
MERCHANT_SERVICE_HEALTH = "http://127.0.0.1:8002/health"
SERVICE_PORTS = [KAFKA_PORT, KAFKA_CONTROLLER_PORT, 6123, 6124, 8000, 8001, 8002]
UP_TIMEOUT_SECONDS = 240

# Java 17 closes the JDK internals that Flink 1.16 (and Kryo) reach into. This is the
# default list of Flink 1.18 (env.java.default-opts.all), the first release that supports 17.
JAVA17_OPENS = [
    "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
    "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
]

# Kafka 3.9 logs through reload4j (log4j 1 syntax); also to stdout.
KAFKA_LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
"""


# --- rendering the shared runtime config for this machine -------------------------------------

def local_substitutions() -> list[tuple[str, str]]:
    """The only differences between the Docker config and the local one: names and paths.

    Docker service names become 127.0.0.1 and the containers' /checkpoint-dir and
    /savepoint-dir become the same folders in the repository.
    """
    return [
        ("kafka-broker:9092", f"127.0.0.1:{KAFKA_PORT}"),
        ("http://python-worker:8000", "http://127.0.0.1:8000"),
        ("jobmanager.rpc.address: master", "jobmanager.rpc.address: 127.0.0.1"),
        ("file:///checkpoint-dir", CHECKPOINT_DIR.as_uri()),
        ("file:///savepoint-dir", SAVEPOINT_DIR.as_uri()),
    ]


def local_only_flink_settings() -> dict[str, str]:
    """Appended to the rendered flink-conf.yaml (later keys win in Flink's parser)."""
    return {
        # Listen on loopback only.
        "rest.address": "127.0.0.1",
        "rest.bind-address": "127.0.0.1",
        "jobmanager.bind-host": "127.0.0.1",
        "taskmanager.bind-host": "127.0.0.1",
        "taskmanager.host": "127.0.0.1",
        # Docker finds module.yaml under /opt/statefun/modules/; here it is named directly.
        "statefun.remote.module-name": (CONF / "module.yaml").as_uri(),
        # RocksDB working files, spills and blobs go under .local-run, not /tmp.
        "io.tmp.dirs": str(FLINK_TMP),
        # RocksDB writes a LOG file per operator instance and restore; Flink would put them
        # beside its own log file, i.e. among the services' logs.
        "state.backend.rocksdb.log.dir": str(FLINK_TMP / "rocksdb-logs"),
        # The web UI's "Logs" tab shows the JobManager's supervisord log.
        "web.log.path": str(LOGS / "master.log"),
    }


def render_runtime_config(module_yaml: Path) -> None:
    """Write module.yaml and flink-conf.yaml for local mode into .local-run/conf."""
    sources = {"module.yaml": module_yaml.read_text(),
               "flink-conf.yaml": (RUNTIME_SOURCES / "flink-conf.yaml").read_text()}
    rendered = dict(sources)
    for old, new in local_substitutions():
        if not any(old in text for text in sources.values()):
            sys.exit(f"statefun-runtime/ no longer contains {old!r}: update local_substitutions()")
        rendered = {name: text.replace(old, new) for name, text in rendered.items()}
    extra = "\n".join(f"{key}: {value}" for key, value in local_only_flink_settings().items())
    rendered["flink-conf.yaml"] += f"\n# --- added by local/workshop.py for the Docker-free mode ---\n{extra}\n"
    CONF.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (CONF / name).write_text(text)
    # Flink logs to stdout; supervisord appends it to .local-run/logs/<service>.log.
    (CONF / "log4j-console.properties").write_text((RUNTIME_SOURCES / "log4j-console.properties").read_text())


def write_kafka_config() -> Path:
    """A single KRaft node that is both broker and controller."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{KAFKA_CONTROLLER_PORT}",
        "listeners": f"PLAINTEXT://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{KAFKA_CONTROLLER_PORT}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{KAFKA_PORT}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(KAFKA_DATA),
        "num.partitions": "1",
        # One broker: the internal topics cannot have more replicas than that.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Default, spelled out: the egress's transactionTimeout (module.yaml) must not exceed it.
        "transaction.max.timeout.ms": "900000",
    }
    path = CONF / "kafka-server.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    (CONF / "kafka-log4j.properties").write_text(KAFKA_LOG4J)
    return path


# --- JVM command lines --------------------------------------------------------------------------

def java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home, "bin", "java") if java_home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        sys.exit("java not found: install a JDK 11 or 17 (e.g. apt-get install openjdk-17-jdk-headless)")
    return str(candidate)


def flink_classpath() -> str:
    """lib/*.jar with flink-dist last, the order of Flink's own constructFlinkClassPath."""
    jars = sorted(fetch.flink_lib_dir().glob("*.jar"), key=lambda jar: (jar.name.startswith("flink-dist"), jar.name))
    return os.pathsep.join(str(jar) for jar in [ingress_guard_jar(), *jars])


@functools.cache  # every JVM command line asks; compile and hash once per run of this script
def ingress_guard_jar() -> Path:
    """statefun-runtime/ingress-guard/ compiled into a jar, once per version of its source.

    The Docker image compiles the same source (statefun-runtime/Dockerfile); here the
    JDK's javac does it, against the runtime's own jars.
    """
    sources = sorted(INGRESS_GUARD_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(b"".join(source.read_bytes() for source in sources)).hexdigest()[:12]
    jar = RUN / "lib" / f"ingress-guard-{digest}.jar"
    if jar.exists():
        return jar
    jar.parent.mkdir(parents=True, exist_ok=True)
    javac = Path(java()).with_name("javac")
    if not javac.exists():
        sys.exit(f"{javac} not found: the Docker-free mode needs a JDK, not only a Java runtime")
    classes = RUN / "lib" / "ingress-guard-classes"
    shutil.rmtree(classes, ignore_errors=True)
    runtime_jars = os.pathsep.join(str(jar) for jar in sorted(fetch.flink_lib_dir().glob("*.jar")))
    subprocess.run([str(javac), "--release", "11", "-cp", runtime_jars, "-d", str(classes), *map(str, sources)],
                   check=True)
    with zipfile.ZipFile(jar, "w") as archive:  # a jar is a zip: no need for the jar tool
        for class_file in sorted(classes.rglob("*.class")):
            archive.write(class_file, class_file.relative_to(classes).as_posix())
    shutil.rmtree(classes)
    return jar


def bash_java_utils(command: str) -> tuple[list[str], list[str]]:
    """JVM flags and -D settings for the memory in flink-conf.yaml, as Flink's start scripts get them.

    BashJavaUtils prints two lines prefixed BASH_JAVA_UTILS_EXEC_RESULT: the JVM memory flags
    (-Xmx, -Xms, ...) and the derived memory settings as "-D key=value" dynamic properties.
    """
    classpath = os.pathsep.join([str(fetch.bash_java_utils_jar()), flink_classpath()])
    result = subprocess.run(
        [java(), "-cp", classpath, "org.apache.flink.runtime.util.bash.BashJavaUtils", command,
         "--configDir", str(CONF)],
        capture_output=True, text=True, check=False)
    prefix = "BASH_JAVA_UTILS_EXEC_RESULT:"
    lines = [line[len(prefix):] for line in result.stdout.splitlines() if line.startswith(prefix)]
    if result.returncode != 0 or len(lines) != 2:
        sys.exit(f"BashJavaUtils {command} failed:\n{result.stdout}\n{result.stderr}")
    return lines[0].split(), lines[1].split()


def flink_jvm_options(service: str) -> list[str]:
    return [
        *JAVA17_OPENS,
        f"-Dlog4j.configurationFile={(CONF / 'log4j-console.properties').as_uri()}",
        f"-Dlog.file={LOGS / (service + '.log')}",  # only read by the web UI's log tabs
    ]


def master_command(savepoint: Path | None) -> list[str]:
    """The JobManager, which also runs the StateFun job (application mode).

    The StateFun image starts StatefulFunctionsClusterEntryPoint, but that class insists on
    /opt/flink/lib/statefun-flink-core.jar and /opt/statefun/modules. Flink's own
    StandaloneApplicationClusterEntryPoint runs the same job class from the classpath.
    """
    memory_flags, dynamic_settings = bash_java_utils("GET_JM_RESOURCE_PARAMS")
    command = [
        java(), *memory_flags, *flink_jvm_options("master"), "-cp", flink_classpath(),
        "org.apache.flink.container.entrypoint.StandaloneApplicationClusterEntryPoint",
        "--configDir", str(CONF),
        "--job-classname", "org.apache.flink.statefun.flink.core.StatefulFunctionsJob",
        *dynamic_settings,
    ]
    if savepoint:
        command += ["--fromSavepoint", str(savepoint), "--allowNonRestoredState"]
    return command


def worker_command() -> list[str]:
    memory_flags, dynamic_settings = bash_java_utils("GET_TM_RESOURCE_PARAMS")
    return [
        java(), *memory_flags, *flink_jvm_options("worker"), "-cp", flink_classpath(),
        "org.apache.flink.runtime.taskexecutor.TaskManagerRunner", "--configDir", str(CONF),
        *dynamic_settings,
    ]


def kafka_java_command(main_class: str, *args: str) -> list[str]:
    return [
        java(), "-Xms256m", "-Xmx512m",
        # GC settings from Kafka's kafka-run-class.sh.
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
        f"-Dlog4j.configuration={(CONF / 'kafka-log4j.properties').as_uri()}",
        "-cp", str(fetch.kafka_libs_dir() / "*"),  # java expands the wildcard itself
        main_class, *args,
    ]


def format_kafka_storage_once(server_properties: Path) -> None:
    """KRaft needs its log directory formatted with a cluster id before the first start."""
    if (KAFKA_DATA / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    print(f"Formatting Kafka storage in {KAFKA_DATA} (cluster id {cluster_id})")
    # "--cluster-id=": an id may start with "-", which the tool would take for an option.
    subprocess.run(kafka_java_command("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                                      "-c", str(server_properties)),
                   check=True, stdout=subprocess.DEVNULL)


# --- supervisord -------------------------------------------------------------------------------

def programs(savepoint: Path | None, server_properties: Path, functions: Path) -> dict[str, dict]:
    """Each service: its command, and whether supervisord starts it by itself.

    master, worker and the simulator are started by `up` once the topics exist: a Kafka
    source that starts before its topic exists would never read it.
    """
    return {
        "kafka-broker": {"command": kafka_java_command("kafka.Kafka", str(server_properties)),
                         "autostart": True, "priority": 10},
        "python-worker": {"command": [PYTHON, str(functions / "main.py")], "autostart": True, "priority": 20},
        "merchant-service": {"command": [PYTHON, "simulator/merchant_service.py"], "autostart": True, "priority": 20},
        "master": {"command": master_command(savepoint), "autostart": False, "priority": 30},
        "worker": {"command": worker_command(), "autostart": False, "priority": 30},
        "simulator": {"command": [PYTHON, "simulator/simulator.py"], "autostart": False, "priority": 40},
    }


def supervisord_conf(program_specs: dict[str, dict]) -> str:
    sections = [f"""\
[unix_http_server]
file={SUPERVISORD_SOCK}
chmod=0700

[supervisord]
pidfile={SUPERVISORD_PID}
logfile={LOGS / 'supervisord.log'}
directory={REPO}
childlogdir={LOGS}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{SUPERVISORD_SOCK}
"""]
    for name, spec in program_specs.items():
        command = shlex.join(spec["command"]).replace("%", "%%")  # % is supervisord's interpolation
        sections.append(f"""\
[program:{name}]
command={command}
directory={REPO}
autostart={str(spec['autostart']).lower()}
autorestart=true
startsecs=3
startretries=5
priority={spec['priority']}
stopasgroup=true
killasgroup=true
stopwaitsecs=20
redirect_stderr=true
stdout_logfile={LOGS / (name + '.log')}
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=2
""")
    return "\n".join(sections)


def services_environment() -> dict[str, str]:
    """supervisord's environment, which every service inherits.

    FRAUD_THRESHOLD, FRAUD_WINDOW and MERCHANT_SERVICE_URL pass through from the caller;
    the addresses default to this machine's.
    """
    environment = dict(os.environ)
    environment.setdefault("MERCHANT_SERVICE_URL", "http://127.0.0.1:8002")
    environment["KAFKA_BOOTSTRAP"] = f"127.0.0.1:{KAFKA_PORT}"
    environment["PYTHONUNBUFFERED"] = "1"  # so the logs show prints as they happen
    return environment


def supervisorctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, "-m", "supervisor.supervisorctl", "-c", str(SUPERVISORD_CONF), *args],
                          cwd=REPO, text=True, capture_output=True)


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
    subprocess.run([PYTHON, "-m", "supervisor.supervisord", "-c", str(SUPERVISORD_CONF)],
                   cwd=REPO, env=services_environment(), check=True)  # it daemonizes itself


# --- health checks -----------------------------------------------------------------------------

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


def create_topics() -> None:
    """The same script as docker-compose's create-topics service, with the topics' settings."""
    result = subprocess.run([PYTHON, str(REPO / "simulator" / "create_topics.py"),
                             "--bootstrap", f"127.0.0.1:{KAFKA_PORT}"], capture_output=True, text=True)
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
        fatal = [name for name, state in program_states().items() if state == "FATAL" and name != "simulator"]
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


# --- commands ----------------------------------------------------------------------------------

def resolve_savepoint(path: str) -> Path:
    """A savepoint folder, relative to the current directory or the repository."""
    for candidate in (Path(path).expanduser(), REPO / path):
        if (candidate / "_metadata").is_file():
            return candidate.resolve()
    sys.exit(f"{path} is not a savepoint (no _metadata in it); savepoints are in {SAVEPOINT_DIR}")


def prepare_run_folder() -> None:
    for folder in (CONF, LOGS, KAFKA_DATA, FLINK_TMP, CHECKPOINT_DIR, SAVEPOINT_DIR):
        folder.mkdir(parents=True, exist_ok=True)
    (RUN / ".gitignore").write_text("*\n")  # keeps .local-run/ out of git without touching the repo's


def up(args: argparse.Namespace) -> int:
    if supervisord_pid():
        print("Already up (run `down` first to change options). Status:")
        return status(args)
    busy = [port for port in SERVICE_PORTS if port_open(port)]
    if busy:
        sys.exit(f"Port(s) {', '.join(map(str, busy))} on 127.0.0.1 are taken (docker compose still up?)")
    started = time.monotonic()
    savepoint = resolve_savepoint(args.savepoint) if args.savepoint else None
    functions = Path(args.functions).resolve()
    if not (functions / "main.py").is_file():
        sys.exit(f"--functions {args.functions}: no main.py in that folder")
    fetch.ensure_all()
    prepare_run_folder()
    render_runtime_config(Path(args.module))
    server_properties = write_kafka_config()
    format_kafka_storage_once(server_properties)
    SUPERVISORD_CONF.write_text(supervisord_conf(programs(savepoint, server_properties, functions)))
    start_supervisord()
    print(f"supervisord started; services log to {LOGS}/<service>.log")

    if not wait_until({"kafka-broker :9092": lambda: port_open(KAFKA_PORT)}, started):
        return 1
    create_topics()
    flink = supervisorctl("start", "master", "worker")
    print(flink.stdout.rstrip())
    if flink.returncode != 0:
        print(flink.stderr.rstrip())
        return 1
    if not args.no_simulator:
        # The simulator is not needed for the runtime to be healthy: report, do not stop.
        print(supervisorctl("start", "simulator").stdout.rstrip())
    if savepoint:
        print(f"  master restores the job from {savepoint}")
    if functions != FUNCTIONS:
        print(f"  python-worker runs {functions / 'main.py'}")

    ready = wait_until({
        "python-worker /health": lambda: http_ok(PYTHON_WORKER_HEALTH),
        "merchant-service /health": lambda: http_ok(MERCHANT_SERVICE_HEALTH),
        "master: StateFun job RUNNING": lambda: running_job() is not None,
    }, started)
    print(supervisorctl("status").stdout.rstrip())
    if not ready:
        print("Look at the logs: local/workshop.py logs <service>; stop with: local/workshop.py down")
        return 1
    job = running_job()
    print(f"""
Up in {time.monotonic() - started:.0f} s. Job {job} is RUNNING.
  Flink web UI      {FLINK_REST}
  logs              {sys.argv[0]} logs [service] [-f]   (files in {LOGS})
  savepoint         curl -X POST {FLINK_REST}/jobs/{job}/savepoints -d '{{"cancel-job": false}}'
  stop              {sys.argv[0]} down""")
    return 0


def down(args: argparse.Namespace) -> int:
    pid = supervisord_pid()
    if not pid:
        print("Not running.")
        if args.volumes:
            remove_volumes()
        return 0
    # supervisord stops the programs in reverse priority order (simulator first, Kafka last).
    supervisorctl("shutdown")
    deadline = time.monotonic() + 90
    while supervisord_pid() and time.monotonic() < deadline:
        time.sleep(0.5)
    if supervisord_pid():
        print(f"supervisord (pid {pid}) is still stopping; check with `status`")
        return 1
    print("Stopped.")
    if args.volumes:
        remove_volumes()
    return 0


def remove_volumes() -> None:
    """Like `docker compose down -v`: forget Kafka's topics and Flink's scratch files.

    checkpoint-dir/ and savepoint-dir/ stay: they are the repository's folders in both modes.
    """
    for folder in (KAFKA_DATA, FLINK_TMP):
        shutil.rmtree(folder, ignore_errors=True)
    print(f"Removed {KAFKA_DATA} and {FLINK_TMP}")


def status(args: argparse.Namespace) -> int:
    if not supervisord_pid():
        print("Not running.")
        return 3
    print(supervisorctl("status").stdout.rstrip())
    job = running_job()
    print(f"StateFun job: {job + ' RUNNING' if job else 'not running'}   (web UI {FLINK_REST})")
    return 0


def logs(args: argparse.Namespace) -> int:
    names = [args.service] if args.service else SERVICES
    files = [str(LOGS / f"{name}.log") for name in names if (LOGS / f"{name}.log").exists()]
    if not files:
        print(f"No logs yet in {LOGS}")
        return 1
    lines = "200" if args.service else "20"
    tail = ["tail", "-n", lines] + (["-F"] if args.follow else []) + files
    os.execvp("tail", tail)


def restart(args: argparse.Namespace) -> int:
    if not supervisord_pid():
        sys.exit("Not running: use `up`.")
    result = supervisorctl("restart", args.service)
    print((result.stdout + result.stderr).rstrip())
    return result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start everything and wait until it is healthy")
    up_parser.add_argument("--savepoint", metavar="PATH", help="start the job from this savepoint folder")
    up_parser.add_argument("--no-simulator", action="store_true", help="do not start the simulator")
    up_parser.add_argument("--module", metavar="YAML", default=str(RUNTIME_SOURCES / "module.yaml"),
                           help="another module.yaml, e.g. an older version for an upgrade (default: %(default)s)")
    up_parser.add_argument("--functions", metavar="FOLDER", default=str(FUNCTIONS),
                           help="run python-worker from this folder's main.py, e.g. another version of the "
                                "functions to upgrade to or roll back to (default: %(default)s)")
    up_parser.set_defaults(run=up)
    down_parser = commands.add_parser("down", help="stop everything")
    down_parser.add_argument("-v", "--volumes", action="store_true",
                             help="also delete Kafka's data (topics, offsets) and Flink's scratch files")
    down_parser.set_defaults(run=down)
    commands.add_parser("status", help="show what runs").set_defaults(run=status)
    logs_parser = commands.add_parser("logs", help="show a service's log (all services without one)")
    logs_parser.add_argument("service", nargs="?", choices=SERVICES)
    logs_parser.add_argument("-f", "--follow", action="store_true")
    logs_parser.set_defaults(run=logs)
    restart_parser = commands.add_parser("restart", help="restart one service")
    restart_parser.add_argument("service", choices=SERVICES)
    restart_parser.set_defaults(run=restart)
    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
