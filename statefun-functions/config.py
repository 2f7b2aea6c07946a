"""python-worker's settings, read once from the environment at start-up.

An invalid value stops the worker before it serves anything, with a message
that names the variable: a typo in FRAUD_WINDOW should fail loudly, not turn
into a silent 30-day default.
"""

import os
import re
import socket
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping
from urllib.parse import urlparse

from contract import HTTP_PORT

# Scores run from 0 to 100; this default alerts on a few percent of the
# simulator's traffic (see the README's "The model").
DEFAULT_FRAUD_THRESHOLD = 50
DEFAULT_FRAUD_WINDOW = "30d"
DEFAULT_MERCHANT_SERVICE_URL = "http://merchant-service:8002"
# Inside a container the worker must listen on all interfaces; the host side
# of the port mapping is what binds to 127.0.0.1. Run directly, it stays local.
DEFAULT_BIND_ADDRESS = "127.0.0.1"
# Processes serving the port together (SO_REUSEPORT); see server.py and BENCHMARKS.md.
# "auto": one per CPU this process may run on, since one process keeps one core busy; one
# process off Linux, where the kernel would not spread the connections over them.
DEFAULT_WORKERS = "auto"
MAX_WORKERS = 64
# auto: uvloop's event loop when it is installed (the fast worker's requirements), else asyncio's.
DEFAULT_EVENT_LOOP = "auto"
EVENT_LOOPS = ("auto", "asyncio", "uvloop")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class SettingsError(ValueError):
    """A setting has a value the worker cannot run with."""


@dataclass(frozen=True)
class Settings:
    fraud_threshold: int
    fraud_window: timedelta
    merchant_service_url: str
    bind_address: str
    port: int
    workers: int = 1
    event_loop: str = DEFAULT_EVENT_LOOP
    log_level: str = "INFO"


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '15m', '90s' or '500ms' as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h, 15m, 90s or 500ms")
    amount, unit = match.groups()
    duration = timedelta(**{_UNITS[unit]: int(amount)})
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    return duration


def parse_threshold(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an integer (-1 alerts on everything, 100 on nothing)") from None


def parse_url(text: str) -> str:
    url = urlparse(text.strip())
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"{text!r} is not an http(s) URL like http://merchant-service:8002")
    return text.strip().rstrip("/")


def parse_port(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{text!r} is not a TCP port number")
    return int(text)


def parse_workers(text: str) -> int:
    if text.strip() == "auto":
        return min(MAX_WORKERS, usable_cpus()) if spreads_connections_over_processes() else 1
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise ValueError(f"{text!r} is not auto or a number of processes from 1 to {MAX_WORKERS}")
    return int(text)


def spreads_connections_over_processes() -> bool:
    """Linux hands each new connection to one of the processes listening on a port with
    SO_REUSEPORT; macOS and the BSDs give them all to one, so more processes would sit idle."""
    return sys.platform.startswith("linux")


def usable_cpus() -> int:
    """The CPUs this process may run on (a container's cpuset, taskset), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_event_loop(text: str) -> str:
    if text.strip() not in EVENT_LOOPS:
        raise ValueError(f"{text!r} is not one of {', '.join(EVENT_LOOPS)}")
    return text.strip()


def parse_log_level(text: str) -> str:
    if text.strip().upper() not in LOG_LEVELS:
        raise ValueError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return text.strip().upper()


def _read(environ: Mapping[str, str], name: str, default: str, parse):
    raw = environ.get(name, "") or default
    try:
        return parse(raw)
    except ValueError as problem:
        raise SettingsError(f"{name}: {problem}") from None


def from_environment(environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings in `environ`; raises SettingsError naming the first bad variable."""
    return Settings(
        fraud_threshold=_read(environ, "FRAUD_THRESHOLD", str(DEFAULT_FRAUD_THRESHOLD), parse_threshold),
        fraud_window=_read(environ, "FRAUD_WINDOW", DEFAULT_FRAUD_WINDOW, parse_duration),
        merchant_service_url=_read(environ, "MERCHANT_SERVICE_URL", DEFAULT_MERCHANT_SERVICE_URL, parse_url),
        bind_address=_read(environ, "BIND_ADDRESS", DEFAULT_BIND_ADDRESS, str.strip),
        port=_read(environ, "PORT", str(HTTP_PORT), parse_port),
        workers=_read(environ, "WORKERS", str(DEFAULT_WORKERS), parse_workers),
        event_loop=_read(environ, "EVENT_LOOP", DEFAULT_EVENT_LOOP, parse_event_loop),
        log_level=_read(environ, "LOG_LEVEL", "INFO", parse_log_level),
    )


# What python-worker's own merchant-score service is at when `make up` runs it on this machine
# (local/layout.py's MERCHANT_SERVICE; tests/test_consistency.py checks that they agree).
LOCAL_MERCHANT_SERVICE_URL = "http://127.0.0.1:8002"


def start_up_warnings(settings: Settings) -> list[str]:
    """What is valid but will not work as meant, said once at start-up.

    The default MERCHANT_SERVICE_URL names the Docker service; a worker started by hand on
    the host (to debug it, README "Debug a function") cannot resolve that name, and every
    merchant lookup would quietly end on the fallback score.
    """
    host = urlparse(settings.merchant_service_url).hostname or ""
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return [
            f"MERCHANT_SERVICE_URL={settings.merchant_service_url}: the host {host!r} is not known here, "
            f"so every merchant lookup will end on the fallback score (main.py's FALLBACK_MERCHANT_SCORE). "
            f"Next to `make up`, "
            f"set MERCHANT_SERVICE_URL={LOCAL_MERCHANT_SERVICE_URL}"
        ]
    return []


def load() -> Settings:
    """The settings of this process; exits with the reason if one is invalid."""
    try:
        return from_environment()
    except SettingsError as problem:
        sys.exit(f"python-worker: invalid setting {problem}")
