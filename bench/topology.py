"""The workshop under bench/e2e.py: brought up and down by local/workshop.py, one variant at a time.

The launcher and supervisord run on make setup's venv (WORKSHOP); the bench's own processes on
bench/.venv-fast (FAST), which has no supervisor. Paths, ports and the running job are
local/layout.py's and local/processes.py's.
"""

import json
import pathlib
import subprocess
import time
import urllib.request

import yaml
from folders import BENCH, OUT
from variants import Variant

from layout import CONF, FLINK_REST, REPO, RUNTIME_SOURCES, SERVICES, SUPERVISORD_CONF
from processes import running_job, workers

FAST = str(BENCH / ".venv-fast" / "bin" / "python")  # the bench tools; runs the producers
WORKSHOP = str(REPO / ".venv" / "bin" / "python")  # make setup's: the launcher, supervisord, python-worker
LOCK = "/tmp/workshop-topology.lock"  # held by whatever runs the workshop on its fixed ports
# supervisord's programs sampled as the pipeline: every service but the simulator (the bench
# offers the load itself), and the second TaskManager of the scale-out variant.
PROGRAMS = [name for name in SERVICES if name != "simulator"] + [w for w in workers(2) if w not in SERVICES]


def launcher(*args, environment, timeout=600) -> None:
    result = subprocess.run(
        [WORKSHOP, str(REPO / "local" / "workshop.py"), *args],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise SystemExit(f"workshop.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def launcher_options(variant: Variant, module) -> list[str]:
    """The variant, as local/workshop.py up's options."""
    options = [f"--flink-setting={key}={value}" for key, value in variant.flink.items()]
    options += variant.scale
    if variant.worker_python:
        options.append(f"--worker-python={variant.worker_python}")
    if module:
        options.append(f"--module={module}")
    return options


def module_documents(variant: Variant) -> list:
    """module.yaml's documents with the variant's endpoint keys and Kafka properties."""
    documents = list(yaml.safe_load_all((RUNTIME_SOURCES / "module.yaml").read_text()))
    for document in documents:
        if not document:
            continue
        kind = document["kind"]
        if kind.startswith("io.statefun.endpoints"):
            document["spec"].update(variant.endpoint)
        elif kind.startswith("io.statefun.kafka.v1/ingress"):
            add_properties(document["spec"], variant.ingress)
        elif kind.startswith("io.statefun.kafka.v1/egress"):
            add_properties(document["spec"], variant.egress)
    return documents


def module_yaml_for(variant: Variant) -> pathlib.Path | None:
    """module.yaml with the variant's endpoint keys and Kafka properties, or None when it has none."""
    if not (variant.endpoint or variant.ingress or variant.egress):
        return None
    path = OUT / "module-variant.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump_all(module_documents(variant), sort_keys=False))
    return path


def add_properties(spec: dict, properties: dict) -> None:
    """Kafka client properties, as module.yaml lists them: one mapping per property."""
    spec.setdefault("properties", []).extend({key: value} for key, value in properties.items())


def rest(path: str):
    with urllib.request.urlopen(FLINK_REST + path, timeout=10) as response:
        return json.load(response)


def wait_for_job(timeout: float = 60) -> str:
    """The StateFun job's id once it and all of its tasks run: at once after `up`, which waits for that."""
    deadline = time.monotonic() + timeout
    while (job := running_job()) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"no running StateFun job at {FLINK_REST} after {timeout:.0f} s")
        time.sleep(1)
    return job


def program_pids() -> dict:
    """The pid of each of supervisord's PROGRAMS that runs."""
    pids = {}
    for name in PROGRAMS:
        out = subprocess.run(
            [WORKSHOP, "-m", "supervisor.supervisorctl", "-c", str(SUPERVISORD_CONF), "pid", name],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if out.isdigit() and out != "0":
            pids[name] = int(out)
    return pids


# The rendered flink-conf.yaml's keys that results record (those the variants change).
RUNTIME_KEYS = (
    "execution.checkpointing.interval",
    "execution.checkpointing.min-pause",
    "execution.buffer-timeout",
    "taskmanager.memory.segment-size",
    "taskmanager.network.memory.floating-buffers-per-gate",
    "taskmanager.network.memory.max-buffers-per-channel",
    "taskmanager.network.memory.buffer-debloat.enabled",
    "state.backend",
    "taskmanager.memory.managed.fraction",
    "statefun.async.max-per-task",
    "parallelism.default",
    "pipeline.object-reuse",
)


def effective_runtime() -> dict:
    """What the runtime was started with: the rendered flink-conf.yaml (YAML: the launcher's
    appended keys win, as in Flink's parser) and module.yaml's egress delivery. "shipped"
    follows the working tree's files."""
    flink = yaml.load((CONF / "flink-conf.yaml").read_text(), Loader=yaml.BaseLoader)  # every value a string
    delivery = None
    for document in yaml.safe_load_all((CONF / "module.yaml").read_text()):
        if document and document["kind"].startswith("io.statefun.kafka.v1/egress"):
            delivery = document["spec"].get("deliverySemantic")
    return {"flink": {key: flink[key] for key in RUNTIME_KEYS if key in flink}, "egress_delivery": delivery}


def load_command(*args) -> list[str]:
    """A load process of loadgen.py (`produce RATE COUNT SEED`, `count-alerts FILE`), on FAST."""
    return [FAST, str(BENCH / "loadgen.py"), *(str(arg) for arg in args)]
