"""k8s/ against what it must agree with: docker-compose.yml, the runtime config, the contract.

What a schema cannot see; `make check-k8s` validates the manifests against the Kubernetes
API schemas and checks that the generated files are up to date.
"""

import pathlib

import pytest
import yaml

import contract

ROOT = pathlib.Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"


def documents() -> list[dict]:
    return [
        document
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def of_kind(kind: str) -> dict[str, dict]:
    return {document["metadata"]["name"]: document for document in documents() if document["kind"] == kind}


def containers() -> dict[str, dict]:
    workloads = [*of_kind("Deployment").values(), *of_kind("Job").values()]
    return {c["name"]: c for workload in workloads for c in workload["spec"]["template"]["spec"]["containers"]}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def flink_conf() -> dict:
    return yaml.safe_load((ROOT / "statefun-runtime" / "flink-conf.yaml").read_text())


def service_ports(name: str) -> set[int]:
    return {port["port"] for port in of_kind("Service")[name]["spec"]["ports"]}


def test_the_services_have_the_names_module_yaml_and_flink_conf_use():
    assert {"master", "python-worker", "merchant-service", "kafka-broker"} <= set(of_kind("Service"))
    assert flink_conf()["jobmanager.rpc.address"] == "master"
    module = (ROOT / "statefun-runtime" / "module.yaml").read_text()
    assert f"http://python-worker:{contract.HTTP_PORT}{contract.STATEFUN_PATH}" in module
    assert "address: kafka-broker:9092" in module


def test_the_ports_are_those_of_flink_conf_compose_and_the_contract():
    conf = flink_conf()
    assert service_ports("master") == {conf["jobmanager.rpc.port"], conf["blob.server.port"], conf["rest.port"]}
    assert service_ports("python-worker") == {contract.HTTP_PORT}
    assert (
        service_ports("merchant-service") == {8002} == {int(compose()["merchant-service"]["ports"][0].split(":")[-1])}
    )
    assert service_ports("kafka-broker") == {9092}


def test_python_worker_is_ready_when_its_health_endpoint_answers():
    probe = containers()["python-worker"]["readinessProbe"]["httpGet"]
    assert probe["path"] == contract.HEALTH_PATH
    assert probe["port"] == "http"
    assert containers()["python-worker"]["ports"] == [{"name": "http", "containerPort": contract.HTTP_PORT}]


def test_python_worker_takes_the_settings_compose_passes():
    settings = {variable["name"] for variable in containers()["python-worker"]["env"]}
    assert settings <= set(compose()["python-worker"]["environment"])


@pytest.mark.parametrize("role", ["master", "worker"])
def test_the_runtime_roles_are_started_as_compose_starts_them(role):
    environment = {variable["name"]: variable["value"] for variable in containers()[role]["env"]}
    # Kubernetes mounts module.yaml read-only from the ConfigMap: its settings are set there.
    assert environment == {
        name: value
        for name, value in compose()[role]["environment"].items()
        if name not in ("ALERT_DELIVERY", "CALL_TIMEOUT")
    }


def test_the_runtime_reads_module_yaml_and_flink_conf_from_the_generated_config_map():
    [config] = of_kind("ConfigMap").values()
    assert config["data"] == {
        name: (ROOT / "statefun-runtime" / name).read_text() for name in ("flink-conf.yaml", "module.yaml")
    }
    for role in ("master", "worker"):
        mounts = {mount["mountPath"]: mount.get("subPath") for mount in containers()[role]["volumeMounts"]}
        assert mounts["/opt/flink/conf/flink-conf.yaml"] == "flink-conf.yaml"
        assert mounts["/opt/statefun/modules/fraud-detection/module.yaml"] == "module.yaml"
        assert {"/checkpoint-dir", "/savepoint-dir"} <= set(mounts)


def test_every_image_is_tagged_by_the_kustomization_from_the_pins():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    tagged = {image["name"]: image["newTag"] for image in kustomization["images"]}
    assert {container["image"] for container in containers().values()} == set(tagged)
    assert tagged["statefun-workshop/runtime"] == "statefun-3.3.0"
    assert set(kustomization["resources"]) == {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_every_container_requests_cpu_and_memory_and_caps_memory():
    for name, container in containers().items():
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name


def test_python_worker_is_scaled_by_cpu():
    [autoscaler] = of_kind("HorizontalPodAutoscaler").values()
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "python-worker",
    }
    assert autoscaler["spec"]["minReplicas"] >= 1


def test_the_max_parallelism_is_pinned_for_rescaling_through_savepoints():
    conf = flink_conf()
    assert conf["pipeline.max-parallelism"] == 128
    assert conf["parallelism.default"] <= conf["pipeline.max-parallelism"]


def test_every_metrics_endpoint_is_annotated_for_a_pod_discovering_prometheus():
    flink_port = yaml.safe_load((ROOT / "statefun-runtime" / "flink-conf.yaml").read_text())[
        "metrics.reporter.prom.port"
    ]
    expected = {"master": str(flink_port), "worker": str(flink_port), "python-worker": str(contract.HTTP_PORT)}
    deployments = of_kind("Deployment")
    for name, port in expected.items():
        annotations = deployments[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == port
    assert deployments["python-worker"]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] == (
        contract.METRICS_PATH
    )
