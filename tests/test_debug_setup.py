"""The checked-in VS Code launch configuration runs python-worker as `make up` does, in one process."""

import json
import pathlib
import re
import socket

import config
import layout
import processes

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAUNCH = ROOT / ".vscode" / "launch.json"


def launch_configuration() -> dict:
    text = re.sub(r"^\s*//.*$", "", LAUNCH.read_text(), flags=re.M)  # VS Code's JSON allows comments
    [configuration] = json.loads(text)["configurations"]
    return configuration


def resolve(path: str) -> pathlib.Path:
    return pathlib.Path(path.replace("${workspaceFolder}", str(ROOT)))


def test_it_runs_main_py_from_its_folder_with_the_venv_of_make_setup():
    configuration = launch_configuration()
    assert resolve(configuration["program"]) == layout.FUNCTIONS / "main.py"
    assert resolve(configuration["cwd"]) == layout.FUNCTIONS
    assert resolve(configuration["python"]) == ROOT / ".venv" / "bin" / "python"


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
