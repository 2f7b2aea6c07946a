"""config.py: python-worker's settings from the environment.

What each variable takes and how a bad value is reported (naming its variable), and the bounds:
the first and last values taken, the first refused, and how CPUs are counted for WORKERS=auto.
"""

import dataclasses
import os
import pathlib
import re
import subprocess
import sys
from datetime import timedelta

import pytest

import config

FUNCTIONS_DIR = pathlib.Path(__file__).resolve().parents[2] / "statefun-functions"


# --- what each variable takes; a bad value names its variable -------------------------------------


def test_defaults():
    settings = config.from_environment({})
    assert settings.fraud_threshold == config.DEFAULT_FRAUD_THRESHOLD == 50
    assert settings.fraud_window == timedelta(days=30)
    assert settings.merchant_service_url == "http://merchant-service:8002"
    assert (settings.bind_address, settings.port) == ("127.0.0.1", 8000)


@pytest.mark.parametrize(
    "text, window",
    [
        ("30d", timedelta(days=30)),
        ("90s", timedelta(seconds=90)),
        ("2h", timedelta(hours=2)),
        ("15m", timedelta(minutes=15)),
        ("500ms", timedelta(milliseconds=500)),
    ],
)
def test_fraud_window_durations(text, window):
    assert config.from_environment({"FRAUD_WINDOW": text}).fraud_window == window


@pytest.mark.parametrize("threshold", ["-1", "0", "100", " 42 "])
def test_any_integer_threshold(threshold):
    assert config.from_environment({"FRAUD_THRESHOLD": threshold}).fraud_threshold == int(threshold)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("FRAUD_THRESHOLD", "5.5"),
        ("FRAUD_THRESHOLD", "high"),
        ("FRAUD_WINDOW", "30"),
        ("FRAUD_WINDOW", "0s"),
        ("FRAUD_WINDOW", "-1d"),
        ("MERCHANT_SERVICE_URL", "ftp://x"),
        ("MERCHANT_SERVICE_URL", "merchant:8002"),
        ("PORT", "80000"),
        ("PORT", "http"),
        ("WORKERS", "0"),
        ("WORKERS", "many"),
        ("EVENT_LOOP", "fast"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_an_invalid_value_names_its_variable(variable, value):
    with pytest.raises(config.SettingsError, match=rf"^{variable}: .*{re.escape(value)}"):
        config.from_environment({variable: value})


def test_load_exits_with_the_message(monkeypatch):
    monkeypatch.setenv("FRAUD_WINDOW", "soon")
    with pytest.raises(SystemExit, match="FRAUD_WINDOW"):
        config.load()


def test_workers_default_to_one_process_per_usable_cpu(monkeypatch):
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert config.from_environment({}).workers == 3
    assert config.from_environment({"WORKERS": "auto"}).workers == 3


@pytest.mark.parametrize("platform", ["darwin", "freebsd14"])
def test_workers_auto_is_one_process_where_the_kernel_would_not_spread_connections(monkeypatch, platform):
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(config.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(config.sys, "platform", platform)
    assert config.from_environment({}).workers == 1
    assert config.from_environment({"WORKERS": "3"}).workers == 3  # asked for: served as asked


def test_workers_auto_never_exceeds_the_maximum(monkeypatch):
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda pid: set(range(200)))
    assert config.from_environment({}).workers == config.MAX_WORKERS == 64


@pytest.mark.parametrize("text, workers", [("1", 1), ("64", 64), (" 2 ", 2)])
def test_workers_from_one_to_sixty_four(text, workers):
    assert config.from_environment({"WORKERS": text}).workers == workers


def test_sixty_five_workers_are_refused():
    with pytest.raises(config.SettingsError, match=r"^WORKERS: '65' is not auto or a number of processes from 1 to 64"):
        config.from_environment({"WORKERS": "65"})


# --- the bounds: the first and last values taken, the first refused; how CPUs are counted ---------


@pytest.fixture
def three_cpus(monkeypatch):
    """WORKERS=auto means 3 here, so that no value below is what auto would give on this machine."""
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda pid: {0, 1, 2})


@pytest.mark.parametrize("text, port", [("1", 1), ("8000", 8000), ("65535", 65535)])
def test_ports_from_1_to_65535_are_taken(text, port):
    assert config.from_environment({"PORT": text}).port == port


@pytest.mark.parametrize("text", ["0", "65536", "-1", "8000.0"])
def test_port_0_and_port_65536_are_refused(text):
    with pytest.raises(config.SettingsError, match=rf"^PORT: '{text}' is not a TCP port number$"):
        config.from_environment({"PORT": text})


@pytest.mark.parametrize("text, workers", [("1", 1), ("2", 2), ("63", 63), ("64", 64), (" auto ", 3)])
def test_workers_from_1_to_64_or_auto_are_taken(three_cpus, text, workers):
    assert config.from_environment({"WORKERS": text}).workers == workers


def test_workers_auto_from_the_environment_counts_the_cpus(three_cpus, monkeypatch):
    monkeypatch.setenv("WORKERS", "auto")
    assert config.from_environment().workers == 3


@pytest.mark.parametrize("text", ["0", "65", "many", "-1", "1.5"])
def test_workers_0_and_65_are_refused_with_the_range(three_cpus, text):
    with pytest.raises(
        config.SettingsError, match=rf"^WORKERS: '{text}' is not auto or a number of processes from 1 to 64$"
    ):
        config.from_environment({"WORKERS": text})


@pytest.mark.parametrize("text", ["high", "5.5"])
def test_a_threshold_that_is_no_integer_is_refused_with_the_range(text):
    with pytest.raises(
        config.SettingsError,
        match=rf"^FRAUD_THRESHOLD: '{text}' is not an integer \(-1 alerts on everything, 100 on nothing\)$",
    ):
        config.from_environment({"FRAUD_THRESHOLD": text})


@pytest.mark.parametrize("text", ["0s", "0ms", "0d"])
def test_a_window_of_zero_is_refused(text):
    with pytest.raises(config.SettingsError, match=rf"^FRAUD_WINDOW: '{text}' must be longer than zero$"):
        config.from_environment({"FRAUD_WINDOW": text})


def test_a_window_of_one_millisecond_is_taken():
    assert config.from_environment({"FRAUD_WINDOW": "1ms"}).fraud_window.total_seconds() == 0.001


def test_settings_cannot_change_once_read():
    settings = config.from_environment({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.fraud_threshold = 100


def test_without_sched_getaffinity_every_cpu_counts(monkeypatch):
    """macOS has no sched_getaffinity."""
    monkeypatch.delattr(config.os, "sched_getaffinity")
    monkeypatch.setattr(config.os, "cpu_count", lambda: 5)
    assert config.usable_cpus() == 5


def test_when_the_cpus_cannot_be_counted_one_worker_serves(monkeypatch):
    monkeypatch.delattr(config.os, "sched_getaffinity")
    monkeypatch.setattr(config.os, "cpu_count", lambda: None)
    assert config.from_environment({}).workers == 1


def test_auto_counts_the_cpus_this_process_may_run_on_not_the_machines():
    """As under `taskset -c 0` or a container's cpuset: one CPU allowed, one worker."""
    counted = subprocess.run(
        [sys.executable, "-c", "import config; print(config.from_environment({}).workers)"],
        cwd=FUNCTIONS_DIR,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )
    assert counted.stdout.strip() == "1"
