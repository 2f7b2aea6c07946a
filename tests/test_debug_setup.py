"""The checked-in VS Code launch configuration runs python-worker as `make up` does, in one process."""

import ipaddress
import json
import pathlib
import re
import socket

import pytest

import config
import layout
import processes

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAUNCH = ROOT / ".vscode" / "launch.json"


DOCKER_FREE, DOCKER = "python-worker (main.py)", "python-worker for Docker (main.py on port 8010)"


def launch_configuration(name: str = DOCKER_FREE) -> dict:
    text = re.sub(r"^\s*//.*$", "", LAUNCH.read_text(), flags=re.M)  # VS Code's JSON allows comments
    [configuration] = [c for c in json.loads(text)["configurations"] if c["name"] == name]
    return configuration


def resolve(path: str) -> pathlib.Path:
    return pathlib.Path(path.replace("${workspaceFolder}", str(ROOT)))


@pytest.mark.parametrize("name", [DOCKER_FREE, DOCKER])
def test_it_runs_main_py_from_its_folder_with_the_venv_of_make_setup(name):
    configuration = launch_configuration(name)
    assert resolve(configuration["program"]) == layout.FUNCTIONS / "main.py"
    assert resolve(configuration["cwd"]) == layout.FUNCTIONS
    assert resolve(configuration["python"]) == ROOT / ".venv" / "bin" / "python"


def test_the_docker_one_serves_where_python_worker_lb_forwards_with_the_same_settings_otherwise():
    docker, local = launch_configuration(DOCKER)["env"], launch_configuration(DOCKER_FREE)["env"]
    settings = config.from_environment(docker)
    assert settings.workers == 1
    assert (
        f"server host host.docker.internal:{settings.port}\n"
        in (ROOT / "docker/python-worker-lb/haproxy.cfg").read_text()
    )
    assert settings.port != layout.PYTHON_WORKER_PORT  # python-worker-lb holds 127.0.0.1:8000
    assert ipaddress.ip_address(settings.bind_address).is_private  # Docker's bridge, not every interface
    assert {k: v for k, v in docker.items() if k not in ("BIND_ADDRESS", "PORT")} == local


def test_its_settings_are_valid_and_those_make_up_gives_python_worker_in_one_process(monkeypatch):
    environment = launch_configuration()["env"]
    settings = config.from_environment(environment)
    assert settings.workers == 1  # the process the debugger holds is the one the runtime calls
    monkeypatch.delenv("MERCHANT_SERVICE_URL", raising=False)
    assert environment["MERCHANT_SERVICE_URL"] == processes.services_environment()["MERCHANT_SERVICE_URL"]
    assert settings.merchant_service_url == config.LOCAL_MERCHANT_SERVICE_URL
    assert config.start_up_warnings(settings) == []  # 127.0.0.1 needs no resolver


def test_a_worker_started_by_hand_with_the_docker_default_says_what_to_set(monkeypatch):
    def unknown(host, port):
        assert host == "merchant-service"
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(config.socket, "getaddrinfo", unknown)  # as on a host without Docker's DNS
    settings = config.from_environment({})  # MERCHANT_SERVICE_URL: http://merchant-service:8002
    [warning] = config.start_up_warnings(settings)
    assert "'merchant-service' is not known here" in warning
    assert f"set MERCHANT_SERVICE_URL={config.LOCAL_MERCHANT_SERVICE_URL}" in warning
