import os
import subprocess
import sys

import pytest

import kafka_topics
from layout import DASHBOARD_PORT, FLINK_REST_PORT, PROMETHEUS_PORT, PYTHON_WORKER_PORT
from local_workshop import LAUNCHER, LocalWorkshop, Producer, TopicReader
from processes import flink_metrics_ports, port_open

# The settings the expectations in these tests are computed with.
THRESHOLD = 40
ENVIRONMENT = {
    "FRAUD_THRESHOLD": str(THRESHOLD),
    "FRAUD_WINDOW": "30d",
    "MERCHANT_ERROR_RATE": "0",  # scores must not fall back to the neutral score here
    "MERCHANT_LATENCY_MS": "5",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def workshop():
    """The whole workshop on the real components, up for the session and always brought down."""
    already = subprocess.run([sys.executable, str(LAUNCHER), "status"], capture_output=True, text=True)
    if already.returncode == 0:
        pytest.fail("a local workshop is already up: stop it with `make down` before the end-to-end tests")
    local = LocalWorkshop({**os.environ, **ENVIRONMENT})
    local.down(volumes=True)  # whatever a crashed earlier run left in Kafka
    try:
        local.up()
        yield local
    finally:
        local.down(volumes=True)
    listening = [
        port
        for port in (
            PYTHON_WORKER_PORT,
            FLINK_REST_PORT,
            DASHBOARD_PORT,
            PROMETHEUS_PORT,
            *flink_metrics_ports(1).values(),
        )
        if port_open(port)
    ]
    assert listening == [], f"`down` left something listening on 127.0.0.1:{listening}"


@pytest.fixture
def producer():
    client = Producer()
    yield client
    client.close()


@pytest.fixture
def alerts():
    reader = TopicReader(kafka_topics.ALERTS)
    yield reader
    reader.close()
