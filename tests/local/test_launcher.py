"""local/: the Docker-free launcher's options and what it renders, without starting anything."""

import argparse
import shutil
import zipfile

import pytest
import yaml

import contract
import jvm
import kafka_topics
import layout
import monitoring
import options
import processes
import rendering
import workshop


def up_options(*argv: str) -> argparse.Namespace:
    return workshop.parser().parse_args(["up", *argv])


def test_flink_settings_from_the_command_line_later_ones_winning():
    args = up_options(
        "--checkpoint-interval",
        "2s",
        "--flink-setting",
        "state.backend=hashmap",
        "--flink-setting",
        "execution.checkpointing.interval=1s",
    )
    assert options.flink_settings(args) == {"execution.checkpointing.interval": "1s", "state.backend": "hashmap"}
    assert options.flink_settings(up_options()) == {}


@pytest.mark.parametrize(
    "argv",
    [
        ["--flink-setting", "state.backend"],
        ["--flink-setting", "=hashmap"],
        ["--flink-setting", "a key=1"],
        ["--checkpoint-interval", "ten seconds"],
        ["--flink-setting", "rest.port=9999"],
        ["--worker-python", "/no/such/python"],
    ],
)
def test_a_bad_option_is_refused_with_what_is_expected(argv, capsys):
    with pytest.raises(SystemExit) as refused:
        up_options(*argv)
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert "is not" in error or "is set by the launcher" in error, error


def test_the_rendered_flink_conf_ends_with_the_command_lines_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(rendering, "CONF", tmp_path)
    rendering.render_runtime_config(
        layout.RUNTIME_SOURCES / "module.yaml", {"execution.checkpointing.interval": "2s"}, {}
    )
    conf = yaml.safe_load((tmp_path / "flink-conf.yaml").read_text())  # YAML: the last duplicate key wins
    assert conf["execution.checkpointing.interval"] == "2s"
    assert conf["jobmanager.rpc.address"] == "127.0.0.1"
    assert conf["state.checkpoints.dir"] == layout.CHECKPOINT_DIR.as_uri()
    module = [document for document in yaml.safe_load_all((tmp_path / "module.yaml").read_text()) if document]
    addresses = {document["spec"].get("address") for document in module} - {None}
    assert addresses == {"127.0.0.1:9092"}
    [endpoint] = [document["spec"]["urlPathTemplate"] for document in module if "urlPathTemplate" in document["spec"]]
    assert endpoint == "http://127.0.0.1:8000/statefun"
    assert egress_delivery(tmp_path / "module.yaml") == "exactly-once"


def egress_delivery(module_yaml) -> str:
    documents = yaml.safe_load_all(module_yaml.read_text())
    [egress] = [document["spec"] for document in documents if document and document["kind"].endswith("/egress")]
    return egress["deliverySemantic"]["type"]


def rendered_module_lines(tmp_path, monkeypatch, name: str, settings: dict[str, str]) -> list[str]:
    monkeypatch.setattr(rendering, "CONF", tmp_path / name)
    rendering.render_runtime_config(layout.RUNTIME_SOURCES / "module.yaml", {}, settings)
    return (tmp_path / name / "module.yaml").read_text().splitlines()


def changed_lines(before: list[str], after: list[str]) -> list[tuple[str, str]]:
    return [pair for pair in zip(before, after, strict=True) if pair[0] != pair[1]]


def test_alert_delivery_at_least_once_changes_the_egress_line_and_nothing_else(tmp_path, monkeypatch):
    renders = {}
    for delivery in options.ALERT_DELIVERIES:
        renders[delivery] = rendered_module_lines(tmp_path, monkeypatch, delivery, {"ALERT_DELIVERY": delivery})
        assert egress_delivery(tmp_path / delivery / "module.yaml") == delivery
    assert changed_lines(*renders.values()) == [
        ("    type: exactly-once  # ALERT_DELIVERY", "    type: at-least-once  # ALERT_DELIVERY")
    ]


def test_call_timeout_raises_the_call_and_read_timeouts_and_nothing_else(tmp_path, monkeypatch):
    default = rendered_module_lines(tmp_path, monkeypatch, "default", {})
    debug = rendered_module_lines(tmp_path, monkeypatch, "debug", {"CALL_TIMEOUT": "30min"})
    assert changed_lines(default, debug) == [
        ("      call: 1 min  # CALL_TIMEOUT", "      call: 30min  # CALL_TIMEOUT"),
        ("      read: 10 s  # CALL_TIMEOUT", "      read: 30min  # CALL_TIMEOUT"),
    ]
    [endpoint] = [
        d for d in yaml.safe_load_all((tmp_path / "debug" / "module.yaml").read_text()) if d and "http" in d["kind"]
    ]
    assert endpoint["spec"]["transport"]["timeouts"] == {"call": "30min", "read": "30min"}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ALERT_DELIVERY", "exactly_once", "is not a delivery: use exactly-once (the default) or at-least-once"),
        ("CALL_TIMEOUT", "2h", "is not a call timeout: use whole seconds or minutes up to an hour, e.g. 30min"),
        ("CALL_TIMEOUT", "30 min", "is not a call timeout: use whole seconds or minutes up to an hour, e.g. 30min"),
        ("CALL_TIMEOUT", "3601s", "is not a call timeout: use whole seconds or minutes up to an hour, e.g. 30min"),
    ],
)
def test_a_bad_module_setting_stops_up_before_anything_starts(monkeypatch, name, value, message):
    monkeypatch.setattr(workshop, "supervisord_pid", lambda: None)
    monkeypatch.setattr(workshop, "port_open", lambda port: pytest.fail("up went past the settings' check"))
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as refused:
        workshop.main(["up"])
    assert str(refused.value.code) == f"{name}={value} {message}"


def test_unset_module_settings_keep_module_yamls_own():
    assert rendering.module_settings({}) == {"ALERT_DELIVERY": "", "CALL_TIMEOUT": ""}
    assert rendering.module_settings({"CALL_TIMEOUT": "60min"})["CALL_TIMEOUT"] == "60min"


def test_the_docker_images_script_takes_every_delivery_the_launcher_names(tmp_path):
    """statefun-runtime/module-settings.sh is what both modes run: one list of deliveries."""
    module = tmp_path / "module.yaml"
    for delivery in options.ALERT_DELIVERIES:
        module.write_text((layout.RUNTIME_SOURCES / "module.yaml").read_text())
        assert rendering.run_module_settings_script(module, {"ALERT_DELIVERY": delivery}).returncode == 0
        assert egress_delivery(module) == delivery


def test_a_module_yaml_without_the_marks_keeps_its_settings_unless_others_are_asked_for(tmp_path):
    """An older or generated module.yaml (without comments) runs as it is by default."""
    module = tmp_path / "module.yaml"
    unmarked = (
        (layout.RUNTIME_SOURCES / "module.yaml")
        .read_text()
        .replace("  # ALERT_DELIVERY", "")
        .replace("  # CALL_TIMEOUT", "")
    )
    module.write_text(unmarked)
    assert rendering.run_module_settings_script(module, {"ALERT_DELIVERY": "exactly-once"}).returncode == 0
    assert module.read_text() == unmarked
    for name, value in (("ALERT_DELIVERY", "at-least-once"), ("CALL_TIMEOUT", "30min")):
        refused = rendering.run_module_settings_script(module, {name: value})
        assert refused.returncode == 64 and f"no line marked '# {name}'" in refused.stderr
        assert module.read_text() == unmarked


def test_kafka_runs_with_composes_settings_but_its_listeners_and_folders():
    settings = rendering.kafka_settings()
    assert settings["transaction.max.timeout.ms"] == "900000"
    assert settings["num.partitions"] == "1"
    assert settings["offsets.topic.replication.factor"] == "1"
    assert settings["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert settings["log.dirs"] == str(layout.KAFKA_DATA)
    assert "heap.opts" not in settings
    assert rendering.kafka_heap_options() == ["-Xms256m", "-Xmx512m"]


def test_the_ports_are_those_of_the_contract_compose_and_flink_conf():
    assert layout.PYTHON_WORKER_PORT == contract.HTTP_PORT
    assert f"127.0.0.1:{layout.KAFKA_PORT}" == kafka_topics.DEFAULT_BOOTSTRAP.replace("kafka-broker", "127.0.0.1")
    services = yaml.safe_load(layout.COMPOSE_FILE.read_text())["services"]
    published = {
        int(port.split(":")[1])
        for service in services.values()
        for port in service.get("ports", [])[:1]  # python-worker-lb's statistics page is Docker's own
    }
    assert published == {
        layout.KAFKA_PORT,
        layout.FLINK_REST_PORT,
        layout.PYTHON_WORKER_PORT,
        layout.MERCHANT_SERVICE_PORT,
        layout.PROMETHEUS_PORT,
        layout.DASHBOARD_PORT,
    }


def test_supervisord_runs_python_worker_with_the_interpreter_and_main_asked_for(tmp_path, monkeypatch):
    monkeypatch.setattr(processes.jvm, "kafka_java_command", lambda *args: ["java", *args])
    monkeypatch.setattr(processes.jvm, "master_command", lambda savepoint, port: ["java", "master", str(port)])
    monkeypatch.setattr(processes.jvm, "worker_command", lambda name, port: ["java", name, str(port)])
    specs = processes.programs(None, tmp_path / "server.properties", tmp_path / "functions", "/opt/py/bin/python")
    assert specs["python-worker"]["command"] == ["/opt/py/bin/python", str(tmp_path / "functions" / "main.py")]
    conf = processes.supervisord_conf(specs)
    assert f"command=/opt/py/bin/python {tmp_path / 'functions' / 'main.py'}" in conf
    assert [line for line in conf.splitlines() if line.startswith("[program:")] == [
        f"[program:{name}]" for name in specs
    ]
    assert "$" not in conf  # every template name filled in


def test_more_taskmanagers_are_more_worker_services(tmp_path, monkeypatch):
    monkeypatch.setattr(processes.jvm, "kafka_java_command", lambda *args: ["java", *args])
    monkeypatch.setattr(processes.jvm, "master_command", lambda savepoint, port: ["java", "master", str(port)])
    monkeypatch.setattr(processes.jvm, "worker_command", lambda name, port: ["java", name, str(port)])
    specs = processes.programs(None, tmp_path / "server.properties", tmp_path, "python", taskmanagers=3)
    assert [name for name in specs if name.startswith("worker")] == ["worker", "worker-2", "worker-3"]
    # Each Flink process has its own Prometheus reporter port, in the order prometheus.yml is rendered with.
    assert specs["master"]["command"] == ["java", "master", "9249"]
    assert specs["worker-3"]["command"] == ["java", "worker-3", "9252"]
    assert processes.flink_metrics_ports(3) == {"master": 9249, "worker": 9250, "worker-2": 9251, "worker-3": 9252}
    assert options.service("worker-3") == "worker-3"
    with pytest.raises(argparse.ArgumentTypeError):
        options.service("worker-1")


def test_a_parallelism_above_the_task_slots_is_refused_before_anything_starts(monkeypatch):
    monkeypatch.setattr(workshop, "supervisord_pid", lambda: None)  # whether or not a workshop is up
    with pytest.raises(SystemExit) as refused:
        workshop.main(["up", "--taskmanagers", "1", "--parallelism", "2"])
    assert "--taskmanagers 2" in str(refused.value.code)
    assert options.taskmanagers(up_options("--parallelism", "3")) == 3  # by default, one per unit
    assert options.taskmanagers(up_options()) == 1
    assert options.taskmanagers(up_options("--taskmanagers", "3", "--parallelism", "2")) == 3
    assert options.flink_settings(up_options("--taskmanagers", "2", "--parallelism", "2")) == {
        "parallelism.default": "2"
    }


def test_one_service_can_be_stopped_as_with_docker_compose_stop():
    assert workshop.parser().parse_args(["stop", "simulator"]).run is workshop.stop_service
    with pytest.raises(SystemExit):
        workshop.parser().parse_args(["stop", "no-such-service"])


def test_prometheus_scrapes_every_local_process_on_loopback(tmp_path, monkeypatch):
    monkeypatch.setattr(rendering, "CONF", tmp_path)
    rendering.render_prometheus_config(processes.flink_metrics_ports(2))
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {
        "flink-master": ["127.0.0.1:9249"],
        "flink-worker": ["127.0.0.1:9250", "127.0.0.1:9251"],
        "python-worker": ["127.0.0.1:8000"],
        "prometheus": ["127.0.0.1:9090"],
    }  # no python-worker-lb: this mode has no balancer
    assert all("dns_sd_configs" not in job for job in config["scrape_configs"])
    assert (tmp_path / "rules.yml").read_text() == (layout.PROMETHEUS_SOURCES / "rules.yml").read_text()


def test_prometheus_runs_only_when_a_program_was_found(tmp_path, monkeypatch):
    monkeypatch.setattr(processes.jvm, "kafka_java_command", lambda *args: ["java", *args])
    monkeypatch.setattr(processes.jvm, "master_command", lambda savepoint, port: ["java", "master"])
    monkeypatch.setattr(processes.jvm, "worker_command", lambda name, port: ["java", name])
    without = processes.programs(None, tmp_path / "server.properties", tmp_path, "python")
    assert "prometheus" not in without
    specs = processes.programs(
        None, tmp_path / "server.properties", tmp_path, "python", prometheus="/usr/bin/prometheus"
    )
    command = specs["prometheus"]["command"]
    assert command[0] == "/usr/bin/prometheus"
    assert specs["prometheus"]["autostart"] is False  # `up` starts it last, after the job runs
    assert "--web.listen-address=127.0.0.1:9090" in command


def test_without_a_prometheus_program_up_says_how_to_install_it_and_goes_on(monkeypatch):
    said = []
    monkeypatch.setattr(monitoring.shutil, "which", lambda name: None)
    monkeypatch.setattr(monitoring.apt.os, "geteuid", lambda: 1000)  # not root: nothing is installed
    assert monitoring.prometheus_program(say=said.append) is None
    assert said == [monitoring.INSTALL_HINT]
    assert "apt-get install prometheus" in said[0] and "brew install prometheus" in said[0]


def test_prometheus_to_install_waits_until_the_rest_runs(monkeypatch):
    """Nothing optional before the first alert: `up` only learns where Debian's program will be,
    installs nothing yet (supervisord starts Prometheus when `up` says so, after the job: above)."""
    which = shutil.which
    monkeypatch.setattr(monitoring.shutil, "which", lambda name: None if name == "prometheus" else which(name))
    monkeypatch.setattr(monitoring.apt.os, "geteuid", lambda: 0)
    monkeypatch.setattr(monitoring, "install_package", lambda name: pytest.fail("installed during the start"))
    said = []
    assert monitoring.prometheus_program(say=said.append) == monitoring.DEBIAN_PROGRAM and said == []


@pytest.mark.slow
def test_a_compiled_jar_carries_its_service_files_and_is_built_once_per_source(tmp_path, monkeypatch):
    """As the loopback reporter needs: Flink finds a reporter factory through META-INF/services."""
    monkeypatch.setattr(jvm, "RUN", tmp_path / "run")
    sources = tmp_path / "src"
    (sources / "example").mkdir(parents=True)
    (sources / "example" / "Hello.java").write_text("package example; public final class Hello {}\n")
    (sources / "META-INF" / "services").mkdir(parents=True)
    (sources / "META-INF" / "services" / "java.lang.Runnable").write_text("example.Hello\n")

    jar = jvm.compiled_jar("hello", sources, [])
    with zipfile.ZipFile(jar) as archive:
        assert sorted(archive.namelist()) == ["META-INF/services/java.lang.Runnable", "example/Hello.class"]
    assert jvm.compiled_jar("hello", sources, []) == jar  # unchanged source: the same build
    (sources / "example" / "Hello.java").write_text("package example; public final class Hello { int x; }\n")
    assert jvm.compiled_jar("hello", sources, []) != jar


def test_the_docker_free_flink_processes_name_the_loopback_reporter_on_127_0_0_1(monkeypatch):
    monkeypatch.setattr(jvm, "build_flink_plugins", lambda: None)
    flags = jvm.metrics_settings(9250)
    settings = dict(value.split("=", 1) for flag, value in zip(flags[::2], flags[1::2], strict=True) if flag == "-D")
    assert settings["metrics.reporter.prom.host"] == "127.0.0.1"
    assert settings["metrics.reporter.prom.port"] == "9250"
    factory = settings["metrics.reporter.prom.factory.class"]
    services = (
        layout.LOOPBACK_REPORTER_SOURCES / "META-INF/services/org.apache.flink.metrics.reporter.MetricReporterFactory"
    )
    assert services.read_text().split() == [factory]  # Flink finds the factory through this file
    assert (layout.LOOPBACK_REPORTER_SOURCES / (factory.replace(".", "/") + ".java")).is_file()
