"""The runtime's and Kafka's configuration, rendered for processes on this machine.

The sources are the files Docker uses: statefun-runtime/module.yaml and flink-conf.yaml,
and the kafka-broker service of docker-compose.yml. Only names, paths and listeners change.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from layout import (
    CHECKPOINT_DIR,
    COMPOSE_FILE,
    CONF,
    FLINK_TMP,
    KAFKA_CONTROLLER_PORT,
    KAFKA_DATA,
    KAFKA_PORT,
    LOGS,
    PROMETHEUS_PORT,
    PROMETHEUS_SOURCES,
    PYTHON_WORKER_PORT,
    RUNTIME_SOURCES,
    SAVEPOINT_DIR,
    TEMPLATES,
)


def local_substitutions() -> list[tuple[str, str]]:
    """The only differences between the Docker config and the local one: names and paths.

    Docker service names become 127.0.0.1 and the containers' /checkpoint-dir and
    /savepoint-dir become the same folders in the repository.
    """
    return [
        ("kafka-broker:9092", f"127.0.0.1:{KAFKA_PORT}"),
        (f"http://python-worker:{PYTHON_WORKER_PORT}", f"http://127.0.0.1:{PYTHON_WORKER_PORT}"),
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


def render_runtime_config(module_yaml: Path, settings: dict[str, str], module_settings: dict[str, str]) -> None:
    """module.yaml and flink-conf.yaml for local mode, into .local-run/conf.

    `settings` (the launcher's --checkpoint-interval and --flink-setting) come last, so they win;
    `module_settings` (ALERT_DELIVERY, CALL_TIMEOUT) go into module.yaml by the Docker image's
    own script.
    """
    sources = {
        "module.yaml": module_yaml.read_text(),
        "flink-conf.yaml": (RUNTIME_SOURCES / "flink-conf.yaml").read_text(),
    }
    rendered = dict(sources)
    for old, new in local_substitutions():
        if not any(old in text for text in sources.values()):
            sys.exit(f"statefun-runtime/ no longer contains {old!r}: update local_substitutions()")
        rendered = {name: text.replace(old, new) for name, text in rendered.items()}
    rendered["flink-conf.yaml"] += appended(
        "added by local/workshop.py for the Docker-free mode", local_only_flink_settings()
    )
    if settings:
        rendered["flink-conf.yaml"] += appended("from local/workshop.py's command line", settings)
    CONF.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (CONF / name).write_text(text)
    write_module_settings(CONF / "module.yaml", module_settings)
    # Flink logs to stdout; supervisord appends it to .local-run/logs/<service>.log.
    shutil.copyfile(RUNTIME_SOURCES / "log4j-console.properties", CONF / "log4j-console.properties")


# The environment variables that statefun-runtime/module-settings.sh writes into module.yaml.
MODULE_SETTINGS = ("ALERT_DELIVERY", "CALL_TIMEOUT")


def module_settings(environment: dict[str, str]) -> dict[str, str]:
    """ALERT_DELIVERY and CALL_TIMEOUT from the environment, checked by the script that will
    write them (on a copy of module.yaml), so that a bad value stops `up` before anything starts
    and with the Docker image's own message."""
    settings = {name: environment.get(name, "") for name in MODULE_SETTINGS}
    with tempfile.TemporaryDirectory() as folder:
        trial = Path(folder) / "module.yaml"
        shutil.copyfile(RUNTIME_SOURCES / "module.yaml", trial)
        write_module_settings(trial, settings)
    return settings


def write_module_settings(module_yaml: Path, settings: dict[str, str]) -> None:
    """Written by statefun-runtime/module-settings.sh: the same script as the Docker image
    runs, so that both modes read ALERT_DELIVERY and CALL_TIMEOUT alike."""
    result = run_module_settings_script(module_yaml, settings)
    if result.returncode != 0:
        sys.exit(result.stderr.strip())


def run_module_settings_script(module_yaml: Path, settings: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(RUNTIME_SOURCES / "module-settings.sh"), str(module_yaml)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **settings},
        capture_output=True,
        text=True,
    )


def appended(title: str, settings: dict[str, str]) -> str:
    return f"\n# --- {title} ---\n" + "".join(f"{key}: {value}\n" for key, value in settings.items())


def render_prometheus_config(flink_metrics_ports: dict[str, int]) -> None:
    """prometheus/prometheus.yml for this machine, into .local-run/conf with its rules.

    Docker's file finds the TaskManagers and python-worker's replicas by DNS, as many as run;
    here every target is a port on 127.0.0.1: one per Flink process (processes.flink_metrics_ports)
    and python-worker's own. There is no load balancer to scrape.
    """
    config = yaml.safe_load((PROMETHEUS_SOURCES / "prometheus.yml").read_text())
    flink_workers = [port for name, port in flink_metrics_ports.items() if name != "master"]
    local_targets = {
        "flink-master": [flink_metrics_ports["master"]],
        "flink-worker": flink_workers,
        "python-worker": [PYTHON_WORKER_PORT],
        "prometheus": [PROMETHEUS_PORT],
        "python-worker-lb": None,
    }
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] not in local_targets:
            sys.exit(f"prometheus/prometheus.yml has a job {job['job_name']!r}: add it to render_prometheus_config()")
        ports = local_targets[job["job_name"]]
        if ports is None:
            continue
        jobs.append(
            {
                "job_name": job["job_name"],
                **{
                    key: value
                    for key, value in job.items()
                    if key not in ("job_name", "static_configs", "dns_sd_configs")
                },
                "static_configs": [{"targets": [f"127.0.0.1:{port}" for port in ports]}],
            }
        )
    config["scrape_configs"] = jobs
    CONF.mkdir(parents=True, exist_ok=True)
    header = "# Rendered by local/workshop.py from prometheus/prometheus.yml for the Docker-free mode.\n"
    (CONF / "prometheus.yml").write_text(header + yaml.safe_dump(config, sort_keys=False))
    for rules in config.get("rule_files", []):
        shutil.copyfile(PROMETHEUS_SOURCES / rules, CONF / rules)


# The broker's settings that differ here: one listener pair on loopback instead of
# compose's three (containers, host, controller), its data under .local-run, and the heap,
# which the JVM command line sets (jvm.py, from the same KAFKA_HEAP_OPTS).
KAFKA_LOCAL = {
    "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{KAFKA_PORT},CONTROLLER://127.0.0.1:{KAFKA_CONTROLLER_PORT}",
    "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{KAFKA_PORT}",
    "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@127.0.0.1:{KAFKA_CONTROLLER_PORT}",
    "KAFKA_LOG_DIRS": str(KAFKA_DATA),
    "KAFKA_HEAP_OPTS": None,
}


def kafka_environment() -> dict[str, str]:
    environment = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["kafka-broker"]["environment"]
    return {name: str(value) for name, value in environment.items()}


def kafka_heap_options() -> list[str]:
    """The broker's heap, as compose gives the container (KAFKA_HEAP_OPTS)."""
    return kafka_environment()["KAFKA_HEAP_OPTS"].split()


def kafka_settings() -> dict[str, str]:
    """server.properties from docker-compose.yml's kafka-broker environment, as the apache/kafka
    image maps it (KAFKA_NUM_PARTITIONS -> num.partitions), with KAFKA_LOCAL in place."""
    merged = {**kafka_environment(), **KAFKA_LOCAL}
    return {
        name.removeprefix("KAFKA_").lower().replace("_", "."): value
        for name, value in merged.items()
        if name.startswith("KAFKA_") and value is not None
    }


def write_kafka_config() -> Path:
    """A single KRaft node that is both broker and controller."""
    path = CONF / "kafka-server.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in kafka_settings().items()))
    shutil.copyfile(TEMPLATES / "kafka-log4j.properties", CONF / "kafka-log4j.properties")
    return path
