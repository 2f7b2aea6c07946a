"""docker-compose.yml, the Docker-free mode and the contract agree (no Docker needed).

The schema and the Dockerfile lint are tools/check_compose.py's job (make check-docker);
these tests check what a schema cannot: names, ports, topics, addresses and the one copy of
the runtime configuration.
"""

import fnmatch
import functools
import os
import pathlib
import re
import xml.etree.ElementTree as ElementTree

import pytest
import yaml

import config
import contract
import kafka_topics
import layout

ROOT = pathlib.Path(__file__).resolve().parent.parent

CONTRACT_SERVICES = {"kafka-broker", "master", "worker", "python-worker", "simulator", "merchant-service", "prometheus"}
# Docker only: HAProxy in front of python-worker's replicas, on the contract's port 8000 (the
# Docker-free mode's python-worker spreads its connections over its processes itself).
LOAD_BALANCER = "python-worker-lb"
# Both modes: the live page (simulator/dashboard.py), beside the simulator.
DASHBOARD = "dashboard"
PUBLISHED = {
    "kafka-broker": 9092,
    "master": 8001,
    LOAD_BALANCER: 8000,
    "merchant-service": 8002,
    "prometheus": 9090,
    DASHBOARD: layout.DASHBOARD_PORT,
}
HAPROXY_CFG = ROOT / "docker" / "python-worker-lb" / "haproxy.cfg"
STATEFUN_VERSION = "3.3.0"


@functools.cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def services() -> dict:
    return compose()["services"]


def one_shot_services() -> set[str]:
    """Services that others wait on to finish (topic creation, folder set-up)."""
    return {
        name
        for spec in services().values()
        for name, need in spec.get("depends_on", {}).items()
        if need["condition"] == "service_completed_successfully"
    }


def long_running_services() -> set[str]:
    return set(services()) - one_shot_services()


def flink_conf() -> dict:
    return yaml.safe_load((ROOT / "statefun-runtime" / "flink-conf.yaml").read_text())


def dockerfile(folder: str) -> str:
    return (ROOT / folder / "Dockerfile").read_text()


def runtime_config_files() -> list[str]:
    """Every module.yaml and flink-conf.yaml of the repository (not of runs, venvs or state)."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [
            name for name in subfolders if not name.startswith(".") and name not in ("checkpoint-dir", "savepoint-dir")
        ]
        found += [
            os.path.relpath(os.path.join(folder, name), ROOT)
            for name in files
            if name in ("module.yaml", "flink-conf.yaml")
        ]
    return sorted(found)


def published_ports(spec: dict) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each "ip:host:container" entry."""
    result = []
    for entry in spec.get("ports", []):
        match = re.fullmatch(r"(?:(\d+\.\d+\.\d+\.\d+):)?(\d+):(\d+)", str(entry))
        assert match, f"unexpected port syntax {entry!r}"
        result.append((match[1], int(match[2]), int(match[3])))
    return result


def default_of(value: str) -> str:
    """The default of a "${NAME:-default}" interpolation."""
    match = re.fullmatch(r"\$\{(\w+):-(.*)\}", value)
    assert match, f"{value!r} is not ${{NAME:-default}}"
    return match[2]


def http_endpoint() -> dict:
    """The spec of module.yaml's one HTTP endpoint: where and how the runtime calls the functions."""
    module = list(yaml.safe_load_all((ROOT / "statefun-runtime" / "module.yaml").read_text()))
    [endpoint] = [doc["spec"] for doc in module if doc["kind"] == "io.statefun.endpoints.v2/http"]
    return endpoint


def build_folder(spec: dict) -> str:
    build = spec["build"]
    return (build if isinstance(build, str) else build["context"]).removeprefix("./")


# --- names and ports ------------------------------------------------------------------------


def test_the_services_are_the_contracts_plus_one_shot_helpers():
    assert "version" not in compose()
    assert long_running_services() == CONTRACT_SERVICES | {LOAD_BALANCER, DASHBOARD}
    assert one_shot_services() == {"create-topics", "prepare-dirs"}


def test_the_docker_free_mode_runs_the_same_services():
    local_services = layout.SERVICES
    assert len(local_services) == len(set(local_services))
    assert set(local_services) == long_running_services() - {LOAD_BALANCER}


def test_every_published_port_binds_to_loopback_at_the_contracts_number():
    published = {}
    for name, spec in services().items():
        for host_ip, host_port, _ in published_ports(spec):
            assert host_ip == "127.0.0.1", f"{name} publishes {host_port} on all interfaces"
            published.setdefault(name, host_port)  # the first one: the service's own
    assert published == PUBLISHED


def test_container_ports_are_the_ones_the_programs_listen_on():
    [(_, _, rest)] = published_ports(services()["master"])
    assert rest == flink_conf()["rest.port"]
    [(_, _, functions), (_, _, statistics)] = published_ports(services()[LOAD_BALANCER])
    assert haproxy_binds() == [functions, statistics]
    assert functions == contract.HTTP_PORT
    [(_, _, merchant)] = published_ports(services()["merchant-service"])
    assert services()["merchant-service"]["command"][-2:] == ["--port", str(merchant)]
    assert config.DEFAULT_MERCHANT_SERVICE_URL == f"http://merchant-service:{merchant}"


# --- Kafka --------------------------------------------------------------------------------------


def test_both_modes_create_the_topics_with_the_same_script():
    create_topics = services()["create-topics"]
    assert create_topics["build"] == "./simulator"
    assert create_topics["command"][:4] == ["python", "create_topics.py", "--bootstrap", kafka_topics.DEFAULT_BOOTSTRAP]
    assert '"simulator" / "create_topics.py"' in (ROOT / "local" / "processes.py").read_text()


def test_kafka_is_one_kraft_node_reachable_as_the_contract_says():
    environment = services()["kafka-broker"]["environment"]
    advertised = environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert f"PLAINTEXT://{kafka_topics.DEFAULT_BOOTSTRAP}" in advertised  # containers: module.yaml, simulator
    assert "HOST://127.0.0.1:9092" in advertised  # this machine, through the port published on 127.0.0.1
    [(_, _, host_listener)] = published_ports(services()["kafka-broker"])
    assert f"HOST://:{host_listener}" in environment["KAFKA_LISTENERS"].split(",")
    assert environment["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for setting in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert environment[setting] == 1
    assert services()["simulator"]["environment"]["KAFKA_BOOTSTRAP"] == kafka_topics.DEFAULT_BOOTSTRAP


def test_kafka_runs_the_version_of_the_docker_free_mode():
    pom = (ROOT / "local" / "kafka-pom.xml").read_text()
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    [broker] = [
        dependency
        for dependency in ElementTree.fromstring(pom).iterfind(".//m:dependency", namespace)
        if dependency.findtext("m:artifactId", namespaces=namespace).startswith("kafka_")
    ]
    version = broker.findtext("m:version", namespaces=namespace)
    assert services()["kafka-broker"]["image"] == f"apache/kafka:{version}"


# --- the StateFun runtime -----------------------------------------------------------------------


def test_master_and_worker_run_the_one_runtime_config():
    for name in ("master", "worker", "prepare-dirs"):
        assert build_folder(services()[name]) == "statefun-runtime"
    text = dockerfile("statefun-runtime")
    assert f"FROM apache/flink-statefun:{STATEFUN_VERSION} AS statefun\n" in text
    # The ingress guard that module.yaml configures is compiled into the image's lib/.
    assert re.search(r"^COPY --from=java-sources /ingress-guard\.jar /opt/flink/lib/", text, re.M)
    # Where the official image looks: every /opt/statefun/modules/<dir>/module.yaml, and Flink's conf dir.
    module = re.search(r"^COPY --chown=9999:9999 module\.yaml (/opt/statefun/modules/[\w-]+/module\.yaml)$", text, re.M)
    assert module and re.search(r"^USER 9999:9999$", text, re.M)  # the runtime's user may rewrite it
    assert f"LAST_STATE_MODULE={module[1]} " in text
    # The host's module.yaml (mounted at MODULE_SOURCE) replaces it, then ALERT_DELIVERY and
    # CALL_TIMEOUT are written into it, before the image's own entry point runs; master's goes
    # through last-state.sh, which picks the state it starts with.
    assert re.search(r'^ENTRYPOINT \["/bin/bash", "/opt/statefun/entry-point\.sh"\]$', text, re.M)
    assert re.search(r"^COPY entry-point\.sh module-settings\.sh last-state\.sh /opt/statefun/$", text, re.M)
    entry_point = (ROOT / "statefun-runtime" / "entry-point.sh").read_text()
    steps = [
        'cp "$MODULE_SOURCE/module.yaml" "$LAST_STATE_MODULE"',
        '/bin/bash /opt/statefun/module-settings.sh "$LAST_STATE_MODULE"',
        'exec /bin/bash /opt/statefun/last-state.sh /bin/bash /docker-entry-point.sh "$@"',
        'exec /bin/bash /docker-entry-point.sh "$@"',
    ]
    assert all(step in entry_point for step in steps)
    assert sorted(steps, key=entry_point.index) == steps  # in this order
    assert "LAST_STATE_FLINK_CONF=/opt/flink/conf/flink-conf.yaml " in text
    assert re.search(r"^COPY flink-conf\.yaml log4j-console\.properties /opt/flink/conf/$", text, re.M)
    assert runtime_config_files() == ["statefun-runtime/flink-conf.yaml", "statefun-runtime/module.yaml"]


def test_master_and_worker_find_each_other_and_share_the_state_folders():
    conf = flink_conf()
    for name, role in (("master", "master"), ("worker", "worker")):
        spec = services()[name]
        assert spec["environment"] == {
            "ROLE": role,
            "MASTER_HOST": conf["jobmanager.rpc.address"],
            "ALERT_DELIVERY": "${ALERT_DELIVERY:-exactly-once}",  # both read module.yaml: they must agree
            "CALL_TIMEOUT": "${CALL_TIMEOUT:-}",
        }
        # module.yaml from the host, read at every start (statefun-runtime/entry-point.sh):
        # both read it, so both mount it, read-only, where the image's MODULE_SOURCE says.
        module_source = re.search(r"MODULE_SOURCE=(\S+) ", dockerfile("statefun-runtime"))[1]
        assert set(spec["volumes"]) == {
            "./savepoint-dir:/savepoint-dir",
            "./checkpoint-dir:/checkpoint-dir",
            f"./statefun-runtime:{module_source}:ro",
        }
    assert conf["jobmanager.rpc.address"] == "master"
    assert conf["state.checkpoints.dir"] == "file:///checkpoint-dir"
    assert conf["state.savepoints.dir"] == "file:///savepoint-dir"
    assert set(services()["prepare-dirs"]["volumes"]) < set(services()["master"]["volumes"])


def test_savepoint_and_parallelism_reach_the_job_as_the_docker_free_mode_takes_them():
    # SAVEPOINT=savepoint-dir/savepoint-... as for `make up`: /savepoint-dir is that folder.
    assert "./savepoint-dir:/savepoint-dir" in services()["master"]["volumes"]
    assert services()["master"]["command"] == (
        "-D parallelism.default=${PARALLELISM:-1} ${SAVEPOINT:+-s /${SAVEPOINT:-} -n}"
    )  # with -n: the image's launcher ignores execution.savepoint.ignore-unclaimed-state
    # One task slot per TaskManager: as many of them as the parallelism, unless told otherwise.
    assert flink_conf()["taskmanager.numberOfTaskSlots"] == 1
    assert services()["worker"]["deploy"]["replicas"] == "${TASKMANAGERS:-${PARALLELISM:-1}}"
    assert services()["create-topics"]["command"][-2:] == ["--partitions", "${PARTITIONS:-1}"]


# --- python-worker's replicas and their load balancer ----------------------------------------


def haproxy_binds() -> list[int]:
    return [int(port) for port in re.findall(r"^\s+bind :(\d+)$", HAPROXY_CFG.read_text(), flags=re.MULTILINE)]


def test_the_name_python_worker_leads_to_the_load_balancer_and_it_to_every_replica():
    balancer, functions = services()[LOAD_BALANCER], services()["python-worker"]
    assert balancer["networks"]["default"]["aliases"] == ["python-worker"]
    assert set(functions["networks"]) == {"functions"}  # nothing else answers to python-worker
    [replicas] = functions["networks"]["functions"]["aliases"]
    assert "functions" in balancer["networks"]
    assert f" {replicas}:{contract.HTTP_PORT}\n" in HAPROXY_CFG.read_text()
    assert f"option httpchk GET {contract.HEALTH_PATH}\n" in HAPROXY_CFG.read_text()
    assert "functions" in services()["merchant-service"]["networks"]  # what the functions call
    assert f"./{HAPROXY_CFG.relative_to(ROOT)}:/usr/local/etc/haproxy/haproxy.cfg:ro" in balancer["volumes"]


def test_the_load_balancer_outwaits_the_runtimes_longest_call_timeout():
    assert http_endpoint()["transport"]["timeouts"]["call"] == "1 min"
    longest = 3600  # CALL_TIMEOUT's limit (statefun-runtime/module-settings.sh; tests/local checks it)
    assert "up to an hour" in (ROOT / "statefun-runtime" / "module-settings.sh").read_text()
    for side in ("client", "server"):
        [(number, unit)] = re.findall(rf"^\s+timeout {side} (\d+)(s|m)$", HAPROXY_CFG.read_text(), flags=re.MULTILINE)
        assert int(number) * (60 if unit == "m" else 1) > longest


# --- python-worker and the simulator -------------------------------------------------------


def test_python_worker_gets_the_settings_with_the_workers_own_defaults():
    environment = services()["python-worker"]["environment"]
    assert default_of(environment["FRAUD_THRESHOLD"]) == str(config.DEFAULT_FRAUD_THRESHOLD)
    assert default_of(environment["FRAUD_WINDOW"]) == config.DEFAULT_FRAUD_WINDOW
    assert default_of(environment["MERCHANT_SERVICE_URL"]) == config.DEFAULT_MERCHANT_SERVICE_URL
    assert environment["BIND_ADDRESS"] == "0.0.0.0"
    assert build_folder(services()["python-worker"]) == "statefun-functions"


def test_the_runtime_calls_the_functions_at_the_python_worker_service():
    assert http_endpoint()["urlPathTemplate"].startswith(f"http://python-worker:{contract.HTTP_PORT}/")


def test_simulator_and_merchant_service_share_the_simulator_image():
    assert build_folder(services()["simulator"]) == build_folder(services()["merchant-service"]) == "simulator"
    assert services()["simulator"]["command"] == ["python", "simulator.py"]
    assert services()["merchant-service"]["command"][:2] == ["python", "merchant_service.py"]


# --- start-up order and pinning -------------------------------------------------------------


def test_up_converges_every_dependency_waits_for_health_or_completion():
    for name, spec in services().items():
        for needed, need in spec.get("depends_on", {}).items():
            assert needed in services(), f"{name} depends on unknown {needed}"
            expected = "service_completed_successfully" if needed in one_shot_services() else "service_healthy"
            assert need["condition"] == expected, f"{name} -> {needed}"
            if expected == "service_healthy":
                assert "healthcheck" in services()[needed], f"{needed} has no healthcheck"


@pytest.mark.parametrize("folder", ["statefun-runtime", "statefun-functions", "simulator"])
def test_images_are_pinned_and_do_not_run_as_root(folder):
    text = dockerfile(folder)
    stages = set(re.findall(r"^FROM \S+ AS (\S+)", text, re.M))  # FROM <an earlier stage> needs no tag
    for base in re.findall(r"^FROM (\S+)", text, re.M):
        pinned = re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", base)
        assert pinned or base in stages, f"{base} is not pinned to a patch version"
    [user] = re.findall(r"^USER (\S+)", text, re.M)
    assert not user.startswith(("0", "root"))
    for spec in services().values():
        if "image" in spec:
            assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", spec["image"]), spec["image"]


def test_python_images_match_the_python_of_the_project():
    for folder in ("statefun-functions", "simulator"):
        assert re.search(r"^FROM python:3\.11\.\d+-slim", dockerfile(folder), re.M)
    requirements = (ROOT / "statefun-functions" / "requirements.txt").read_text()
    assert f"apache-flink-statefun=={STATEFUN_VERSION}" in requirements


# --- the architecture picture ---------------------------------------------------------------


def test_the_architecture_picture_shows_every_function_and_topic():
    source = (ROOT / "images" / "architecture.dot").read_text()
    for typename in (
        contract.TRANSACTION_MANAGER,
        contract.COUNTER,
        contract.MERCHANT,
        contract.THRESHOLD,
        contract.MODEL,
        contract.KAFKA_EGRESS,
    ):
        assert typename in source
    for topic in kafka_topics.ALL:
        assert re.search(rf'^\s*"?{re.escape(topic)}"?\s*->|->\s*"?{re.escape(topic)}"?\s*\[', source, re.M), topic
    assert (ROOT / "images" / "architecture.svg").exists()


def test_every_file_a_dockerfile_copies_passes_its_dockerignore():
    """A file left out of the build context fails the build only when the image is built."""
    for folder in ("statefun-runtime", "statefun-functions", "simulator"):
        rules = [
            line.strip()
            for line in (ROOT / folder / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        for line in (ROOT / folder / "Dockerfile").read_text().splitlines():
            if not line.startswith("COPY ") or "--from=" in line:
                continue
            for source in line.split()[1:-1]:
                for path in sorted((ROOT / folder).glob(source.rstrip("/"))):
                    name = path.relative_to(ROOT / folder).as_posix()
                    included = True
                    for rule in rules:  # the last rule that matches decides
                        pattern = rule.lstrip("!").rstrip("/")
                        if fnmatch.fnmatch(name, pattern):
                            included = rule.startswith("!")
                    assert included, f"{folder}/Dockerfile copies {name}, which {folder}/.dockerignore leaves out"


def test_python_worker_lb_forwards_to_the_containers_or_to_a_worker_on_the_host():
    """README "Debug a function": PYTHON_WORKER=host, one variable; anything else stops HAProxy."""
    balancer = services()[LOAD_BALANCER]
    assert balancer["environment"] == {"PYTHON_WORKER": "${PYTHON_WORKER:-containers}"}
    assert balancer["extra_hosts"] == ["host.docker.internal:host-gateway"]
    config = HAPROXY_CFG.read_text()
    branches = re.findall(r'^\.(?:if|elif) streq\("\$PYTHON_WORKER",(\w+)\)$', config, flags=re.MULTILINE)
    assert branches == ["containers", "host"]
    assert re.search(r'^\.else\n\s+\.alert "PYTHON_WORKER=\$PYTHON_WORKER: use containers', config, flags=re.MULTILINE)
