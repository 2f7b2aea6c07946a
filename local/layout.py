"""Where the Docker-free mode keeps things, and the ports its services listen on.

Everything it writes lives in <repo>/.local-run/ (config, logs, Kafka data, supervisord's
socket and pid); checkpoints and savepoints go to <repo>/checkpoint-dir and
<repo>/savepoint-dir, as with Docker.
"""

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
RUN = REPO / ".local-run"
CONF = RUN / "conf"
LOGS = RUN / "logs"
KAFKA_DATA = RUN / "kafka-data"
FLINK_TMP = RUN / "flink-tmp"
FLINK_PLUGINS = RUN / "plugins"  # FLINK_PLUGINS_DIR (jvm.build_flink_plugins)
PROMETHEUS_DATA = RUN / "prometheus-data"
SUPERVISORD_CONF = RUN / "supervisord.conf"
SUPERVISORD_SOCK = RUN / "supervisord.sock"
SUPERVISORD_PID = RUN / "supervisord.pid"
CHECKPOINT_DIR = REPO / "checkpoint-dir"
SAVEPOINT_DIR = REPO / "savepoint-dir"
FUNCTIONS = REPO / "statefun-functions"  # python-worker's main.py and the modules beside it
RUNTIME_SOURCES = REPO / "statefun-runtime"  # the one module.yaml and flink-conf.yaml (Docker's too)
INGRESS_GUARD_SOURCES = RUNTIME_SOURCES / "ingress-guard"
TOPIC_IDS_SOURCES = RUNTIME_SOURCES / "topic-ids"  # KafkaTopicIds, for last-state.sh
LAST_STATE = RUNTIME_SOURCES / "last-state.sh"  # the state master starts with (Docker's too)
PROMETHEUS_SOURCES = REPO / "prometheus"  # the scrape configuration and rules (Docker's too)
TEMPLATES = Path(__file__).resolve().parent / "templates"
LOOPBACK_REPORTER_SOURCES = Path(__file__).resolve().parent / "loopback-reporter"  # Flink's reporter on 127.0.0.1
COMPOSE_FILE = REPO / "docker-compose.yml"

PYTHON = sys.executable  # the venv python the launcher runs with also runs the Python services
SERVICES = [
    "kafka-broker",
    "master",
    "worker",
    "python-worker",
    "merchant-service",
    "simulator",
    "dashboard",
    "prometheus",
]


def flink_conf() -> dict:
    """statefun-runtime/flink-conf.yaml, the runtime's settings in both modes."""
    return yaml.safe_load((RUNTIME_SOURCES / "flink-conf.yaml").read_text())


# Flink's ports are flink-conf.yaml's; the others are those of docker-compose.yml and the
# contract (tests/local checks that they agree).
KAFKA_PORT, KAFKA_CONTROLLER_PORT = 9092, 9093
PYTHON_WORKER_PORT, MERCHANT_SERVICE_PORT = 8000, 8002
FLINK_RPC_PORT, FLINK_BLOB_PORT, FLINK_REST_PORT, FLINK_METRICS_PORT = (
    int(flink_conf()[key])
    for key in ("jobmanager.rpc.port", "blob.server.port", "rest.port", "metrics.reporter.prom.port")
)
PROMETHEUS_PORT = 9090
DASHBOARD_PORT = 8088  # the live page (simulator/dashboard.py)
SERVICE_PORTS = [
    KAFKA_PORT,
    KAFKA_CONTROLLER_PORT,
    FLINK_RPC_PORT,
    FLINK_BLOB_PORT,
    PYTHON_WORKER_PORT,
    FLINK_REST_PORT,
    MERCHANT_SERVICE_PORT,
    PROMETHEUS_PORT,
    DASHBOARD_PORT,
]
FLINK_REST = f"http://127.0.0.1:{FLINK_REST_PORT}"
PYTHON_WORKER_HEALTH = f"http://127.0.0.1:{PYTHON_WORKER_PORT}/health"
MERCHANT_SERVICE = f"http://127.0.0.1:{MERCHANT_SERVICE_PORT}"
MERCHANT_SERVICE_HEALTH = f"{MERCHANT_SERVICE}/health"
PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"
DASHBOARD = f"http://127.0.0.1:{DASHBOARD_PORT}"


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
