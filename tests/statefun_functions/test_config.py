import re
from datetime import timedelta

import pytest

import config


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
