"""config.py at its bounds: the first and last values taken, the first refused, and how CPUs are counted."""

import dataclasses
import os
import pathlib
import subprocess
import sys

import pytest

import config

FUNCTIONS_DIR = pathlib.Path(__file__).resolve().parents[2] / "statefun-functions"


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
