"""bench/variants.py: every variant of bench/e2e.py's catalogue is one the launcher can start.

Flink ignores a flink-conf.yaml key it does not know, and StateFun a module.yaml key: a
misspelt setting would measure the workshop as shipped under another name.
"""

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

import layout
import options
import workshop

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))  # as bench/e2e.py runs; only while importing (bench/requests.py is no requests)
try:
    import topology
    import variants
    from variants import VARIANTS
finally:
    sys.path.remove(str(BENCH))

SHIPPED_FLINK_CONF = yaml.safe_load((layout.RUNTIME_SOURCES / "flink-conf.yaml").read_text())
# Flink 1.16 options (its configuration reference) the variants set that flink-conf.yaml does not.
FLINK_OPTIONS = {
    "dstl.dfs.base-path",
    "execution.buffer-timeout",
    "execution.checkpointing.min-pause",
    "metrics.reporters",
    "pipeline.object-reuse",
    "state.backend.changelog.enabled",
    "state.backend.changelog.periodic-materialize.interval",
    "state.backend.changelog.storage",
    "state.backend.incremental",
    "state.backend.rocksdb.timer-service.factory",
    "taskmanager.memory.segment-size",
    "taskmanager.network.memory.buffer-debloat.enabled",
    "taskmanager.network.memory.buffer-debloat.target",
    "taskmanager.network.memory.floating-buffers-per-gate",
    "taskmanager.network.memory.max-buffers-per-channel",
}
# StateFun 3.3's io.statefun.endpoints.v2/http spec.
ENDPOINT_KEYS = {"functions", "urlPathTemplate", "transport", "maxNumBatchRequests"}
# Kafka's client configuration: the ingresses' consumers, the egress's producer.
CONSUMER_PROPERTIES = {"fetch.min.bytes", "fetch.max.wait.ms", "max.poll.records", "max.partition.fetch.bytes"}
PRODUCER_PROPERTIES = {"linger.ms", "batch.size", "compression.type", "max.request.size"}


def catalogue_names() -> list[str]:
    """VARIANTS' keys as written in variants.py: a repeated one would silently replace the first."""
    tree = ast.parse((BENCH / "variants.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [target.id for target in node.targets] == ["VARIANTS"]:
            return [ast.literal_eval(key) for key in node.value.keys]
    raise AssertionError("no VARIANTS = {...} in bench/variants.py")


def test_variant_names_are_unique_and_fit_the_list():
    names = catalogue_names()
    assert len(names) == len(set(names)), [name for name in names if names.count(name) > 1]
    assert names == list(VARIANTS)
    assert "shipped" in VARIANTS
    for name in names:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
        assert len(name) <= 26, f"{name}: wider than --list's column"
    descriptions = [variant.description for variant in VARIANTS.values()]
    assert all(descriptions) and len(set(descriptions)) == len(descriptions)


def test_shipped_changes_nothing():
    assert VARIANTS["shipped"] == variants.Variant(VARIANTS["shipped"].description)
    assert topology.launcher_options(VARIANTS["shipped"], None) == []
    assert topology.module_yaml_for(VARIANTS["shipped"]) is None


@pytest.mark.parametrize("name", list(VARIANTS))
def test_settings_are_known(name):
    variant = VARIANTS[name]
    for key, value in variant.flink.items():
        assert key in SHIPPED_FLINK_CONF or key in FLINK_OPTIONS, f"{key}: not a Flink option the bench knows"
        assert key not in options.OWNED_BY_THE_LAUNCHER
        assert isinstance(value, str) and value, key
    assert set(variant.endpoint) <= ENDPOINT_KEYS
    assert set(variant.ingress) <= CONSUMER_PROPERTIES
    assert set(variant.egress) <= PRODUCER_PROPERTIES
    assert variant.alert_delivery in (None, *options.ALERT_DELIVERIES)
    assert variant.workers is None or (variant.workers.isdigit() and int(variant.workers) >= 1)
    assert variant.worker_python in (None, variants.PINNED)
    assert isinstance(variant.scale, tuple)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_launcher_takes_each_variant(name, monkeypatch):
    """local/workshop.py up's own parser takes the variant's options and renders its settings."""
    variant = VARIANTS[name]
    monkeypatch.setattr(options, "executable", str)  # bench/.venv-pinned need not exist here
    module = "/elsewhere/module-variant.yaml"
    args = workshop.parser().parse_args(["up", "--no-simulator", *topology.launcher_options(variant, module)])
    scaled = {"parallelism.default": str(args.parallelism)} if args.parallelism else {}
    assert options.flink_settings(args) == {**scaled, **variant.flink}
    assert args.module == module
    assert args.worker_python == (variant.worker_python or layout.PYTHON)


def test_scale_options():
    def up(name):
        return workshop.parser().parse_args(["up", *topology.launcher_options(VARIANTS[name], None)])

    scaled = up("parallelism-2")
    assert (scaled.taskmanagers, scaled.parallelism, scaled.partitions) == (2, 2, 2)
    assert options.flink_settings(scaled) == {"parallelism.default": "2"}
    assert up("no-prometheus").no_prometheus
    assert up("before-metrics").functions == str(BENCH / "out" / "before-metrics" / "statefun-functions")


def test_every_program_sampled_is_one_the_launcher_runs():
    runs = set(layout.SERVICES) | {"worker-2"}
    assert set(topology.PROGRAMS) <= runs
    assert "simulator" not in topology.PROGRAMS  # the bench is the load
    assert {"kafka-broker", "master", "worker", "worker-2", "python-worker"} <= set(topology.PROGRAMS)


@pytest.mark.parametrize("name", [name for name, v in VARIANTS.items() if v.endpoint or v.ingress or v.egress])
def test_module_yaml_carries_the_variant(name):
    variant = VARIANTS[name]
    shipped = list(yaml.safe_load_all((layout.RUNTIME_SOURCES / "module.yaml").read_text()))
    changed = topology.module_documents(variant)
    assert len(changed) == len(shipped)
    for before, after in zip(shipped, changed, strict=True):
        kind = before["kind"]
        added = []
        if kind.startswith("io.statefun.endpoints"):
            assert after["spec"] == {**before["spec"], **variant.endpoint}
            continue
        if kind.startswith("io.statefun.kafka.v1/ingress"):
            added = [{key: value} for key, value in variant.ingress.items()]
        elif kind.startswith("io.statefun.kafka.v1/egress"):
            added = [{key: value} for key, value in variant.egress.items()]
        assert after["spec"].get("properties", []) == before["spec"].get("properties", []) + added, kind
        assert {k: v for k, v in after["spec"].items() if k != "properties"} == {
            k: v for k, v in before["spec"].items() if k != "properties"
        }
