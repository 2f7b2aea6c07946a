"""python-worker's own metrics, for Prometheus: GET /metrics on the functions' port (8000).

What it counts, per function type (the runtime counts the rest, see the README's "Watch the
pipeline"):

    python_worker_invocation_seconds{function}       histogram: one invocation, one message
    python_worker_batch_size                          histogram: invocations per HTTP request
    python_worker_dead_letters_total{function,reason} messages diverted to dead-letters
    python_worker_merchant_requests_total{outcome}    calls to the merchant-score service
    python_worker_merchant_retries_total              attempts after a failed one
    python_worker_merchant_fallbacks_total            lookups that ended on the fallback score

One number over all processes. WORKERS=n forks n servers on one port, and the connection a
scrape arrives on reaches one of them. So every process writes its counts into files of one
folder (prometheus-client's multiprocess mode), and /metrics, whichever process answers it,
sums the folder. The folder is made fresh when python-worker starts, so counters start again
from zero after a restart: Prometheus's rate() and increase() take such a reset in their stride.

prometheus-client picks multiprocess mode when it is first imported, from the environment:
that is why this module sets PROMETHEUS_MULTIPROC_DIR before importing it, and why the other
modules reach prometheus-client only through this one.
"""

import atexit
import contextvars
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager


def _fresh_folder() -> str:
    folder = tempfile.mkdtemp(prefix="python-worker-metrics-")
    creator = os.getpid()

    def remove() -> None:
        if os.getpid() == creator:  # forked servers end with os._exit, but be sure
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    return folder


os.environ["PROMETHEUS_MULTIPROC_DIR"] = _fresh_folder()

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess  # noqa: E402  # noqa: E402

# Buckets around what an invocation costs here: ~0.1 ms for the model, up to the merchant
# service's retries (three 1-second attempts, merchant_client.py).
INVOCATION_SECONDS = Histogram(
    "python_worker_invocation_seconds",
    "Time python-worker spent on one invocation (one message to one function instance)",
    ["function"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5),
)
# The runtime sends an address's waiting messages together, up to maxNumBatchRequests (module.yaml).
BATCH_SIZE = Histogram(
    "python_worker_batch_size",
    "Invocations in one request from the runtime",
    buckets=(1, 2, 5, 10, 20, 50, 100, 500, 1000),
)
DEAD_LETTERS = Counter(
    "python_worker_dead_letters",
    "Messages diverted to the dead-letters topic; reason: bad-message (refused by the function) "
    "or the unexpected exception's class",
    ["function", "reason"],
)
MERCHANT_REQUESTS = Counter(
    "python_worker_merchant_requests",
    "Calls to the merchant-score service; outcome: ok, error (HTTP or connection), timeout, refused (4xx)",
    ["outcome"],
)
MERCHANT_RETRIES = Counter("python_worker_merchant_retries", "Merchant-score calls made after a failed one")
MERCHANT_FALLBACKS = Counter(
    "python_worker_merchant_fallbacks",
    "Merchant lookups that got no score within the retry policy: the merchant function used its fallback",
)

_batch: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("batch", default=None)


@contextmanager
def counting_batch() -> Iterator[None]:
    """Around one request: its invocations are observed as one batch when it ends."""
    counted = [0]
    token = _batch.set(counted)
    try:
        yield
    finally:
        _batch.reset(token)
        if counted[0]:
            BATCH_SIZE.observe(counted[0])


@contextmanager
def timing_invocation(function: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        INVOCATION_SECONDS.labels(function).observe(time.perf_counter() - started)
        counted = _batch.get()
        if counted is not None:
            counted[0] += 1


def exposition() -> tuple[bytes, str]:
    """The sum over all of python-worker's processes, in Prometheus's text format."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST
