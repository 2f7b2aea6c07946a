"""The Docker suite's one deployment, shared by its files: the engine, Compose and images from
`make docker-ready`, and `docker compose` run in a copy of the repository (docker_workshop.py).
Each file's tests run in file order; the test that checks what `docker compose down -v` leaves
runs last of all."""

import os
import socket
import subprocess

import pytest

import kafka_topics
from docker_workshop import ENVIRONMENT, HOST_PORTS, ROOT, DockerWorkshop, docker_ready
from local_workshop import Producer, TopicReader
from scratch import scratch_repository

LAST = "test_compose_down_v_leaves_no_container_volume_or_listener"


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.name == LAST)  # stable: the file order stays otherwise


def engine_answers_without_us() -> bool:
    status = subprocess.run(["docker", "version"], capture_output=True)
    return status.returncode == 0


@pytest.fixture(scope="session")
def workshop(tmp_path_factory):
    available = subprocess.run(["python3", str(ROOT / "docker" / "ready.py"), "status"], capture_output=True, text=True)
    if available.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Docker suite, but {available.stdout.strip()}")
        pytest.skip(f"Docker suite skipped: {available.stdout.strip()}")
    for port in HOST_PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.fail(f"127.0.0.1:{port} is taken: stop the other workshop (make down / docker compose down)")
    engine_was_running = engine_answers_without_us()
    environment = {**docker_ready(), **ENVIRONMENT}
    # A git repository of its own, as a clone is: `make exercise` applies its starting point with git.
    docker = DockerWorkshop(scratch_repository(tmp_path_factory.mktemp("repository")), environment)
    # The checkout's .venv, for the make targets that need one (`make check-exercise`).
    (docker.folder / ".venv").symlink_to(ROOT / ".venv")
    # Whatever a crashed earlier run left behind, and the project's images: `up -d` must build
    # them from the files as they are now, as it does for a user the first time.
    docker.compose("down", "-v", "--remove-orphans", "--rmi", "local")
    try:
        yield docker
    finally:
        docker.compose("down", "-v", "--remove-orphans", check=False)
        if not engine_was_running:
            subprocess.run(["make", "-s", "docker-down-engine"], cwd=ROOT, check=False)


@pytest.fixture(scope="session")
def producer(workshop):
    client = Producer()
    yield client
    client.close()


@pytest.fixture(scope="session")
def alerts(workshop):
    reader = TopicReader(kafka_topics.ALERTS)
    yield reader
    reader.close()
