"""python-worker's own metrics, for Prometheus: GET /metrics on the functions' port (8000).

What it counts, per function type (the runtime counts the rest, see the README's "Watch the
pipeline"):

    python_worker_invocation_seconds{function}        histogram: one invocation, one message
    python_worker_batch_size                           histogram: invocations per HTTP request
    python_worker_dead_letters_total{function,reason}  messages diverted to dead-letters
    python_worker_merchant_requests_total{outcome}     calls to the merchant-score service
    python_worker_merchant_retries_total               attempts after a failed one
    python_worker_merchant_fallbacks_total             lookups that ended on the fallback score

The invocations and dead letters are counted by messaging.dead_letter_on_failure, which every
function wears: python-worker refuses to start with one bound without it (messaging.unguarded).

Cheap to count. An invocation costs python-worker tens of microseconds, and prometheus-client's
multiprocess mode (a locked write to a memory-mapped file per number) measured 21-27 % fewer
invocations/s in the endpoint bench (BENCHMARKS.md). So each process counts in plain
Python numbers (`Counts`), and writes them to a file of its own once a second.

One number over all processes. WORKERS=n forks n servers on one port, and a scrape reaches
whichever the kernel picks. The one answering writes its own file first, then sums the files
of all of them: its own numbers are exact, the others' at most a second old. The folder is made
fresh when python-worker starts, so after a restart the counters start again from zero
(Prometheus's rate() and increase() take such a reset in their stride).
"""

import asyncio
import atexit
import bisect
import contextvars
import json
import logging
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

log = logging.getLogger("metrics")

# Around what an invocation costs here: ~0.1 ms for the model, up to the merchant service's
# retries (three 1-second attempts, merchant_client.py).
INVOCATION_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5)
# The runtime sends an address's waiting messages together, up to maxNumBatchRequests (module.yaml).
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 500, 1000)
MERCHANT_OUTCOMES = ("ok", "error", "timeout", "refused")
WRITE_EVERY_SECONDS = 1.0


class Counts:
    """What one process has counted since it started: numbers, written out as JSON."""

    def __init__(self) -> None:
        self.invocations: dict[str, list[float]] = {}  # function -> bucket counts + [+Inf, sum]
        self.batches = [0.0] * (len(BATCH_BUCKETS) + 2)
        self.dead_letters: dict[str, float] = defaultdict(float)  # "function reason" -> count
        self.merchant_requests: dict[str, float] = defaultdict(float)
        self.merchant_retries = 0.0
        self.merchant_fallbacks = 0.0

    def invoked(self, function: str, seconds: float) -> None:
        histogram = self.invocations.get(function)
        if histogram is None:
            histogram = self.invocations[function] = [0.0] * (len(INVOCATION_BUCKETS) + 2)
        observe(histogram, INVOCATION_BUCKETS, seconds)

    def batch(self, size: int) -> None:
        observe(self.batches, BATCH_BUCKETS, size)

    def as_json(self) -> dict:
        return {
            "invocations": self.invocations,
            "batches": self.batches,
            "dead_letters": self.dead_letters,
            "merchant_requests": self.merchant_requests,
            "merchant_retries": self.merchant_retries,
            "merchant_fallbacks": self.merchant_fallbacks,
        }


def observe(histogram: list[float], buckets: tuple, value: float) -> None:
    """One observation: its bucket (non-cumulative here; summed up when exposed), and the sum."""
    histogram[bisect.bisect_left(buckets, value)] += 1
    histogram[-1] += value


# --- this process's counts, and the folder all of python-worker's processes share ----------


def _fresh_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="python-worker-metrics-"))
    creator = os.getpid()

    def remove() -> None:
        if os.getpid() == creator:  # the forked servers end with os._exit; be sure anyway
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    return folder


_folder: Path | None = None
COUNTS = Counts()  # made anew in each serving process by counting()


def folder() -> Path:
    """The folder all of python-worker's processes write their counts to: made on first use,
    which server.run() makes before it forks the servers (so that they share it), not at import
    (so that `import main`, in a test or a check, leaves nothing behind)."""
    global _folder
    if _folder is None:
        _folder = _fresh_folder()
    return _folder


def expect_functions(functions: list[str]) -> None:
    """The dead-letter series of every served function exist from the start, at 0: an alert
    rule can then tell "none" from "not scraped". (Other reasons, exception classes, appear
    with their first dead letter: they cannot be known in advance.)"""
    for function in functions:
        COUNTS.dead_letters.setdefault(f"{function} bad-message", 0.0)


_write_failed = False


def write_own_counts() -> None:
    """This process's counts into its own file, replaced whole (a reader never sees half).
    A full or read-only disk costs the metrics, never the serving: said once, then retried."""
    global _write_failed
    target = folder() / f"{os.getpid()}.json"
    partial = target.with_suffix(".partial")
    try:
        partial.write_text(json.dumps(COUNTS.as_json()))
        partial.replace(target)
        _write_failed = False
    except OSError as problem:
        if not _write_failed:
            log.warning("cannot write the metrics of process %d to %s: %s", os.getpid(), folder(), problem)
        _write_failed = True


def counting(functions: list[str]):
    """aiohttp cleanup context of the serving process: its counts start at zero (a forked
    process inherits its parent's), with a dead-letter series for each of `functions`, are
    written once a second, and once more at the end."""

    async def writing(_app) -> AsyncIterator[None]:
        global COUNTS
        COUNTS = Counts()
        expect_functions(functions)
        write_own_counts()
        task = asyncio.create_task(keep_writing())
        yield
        task.cancel()
        write_own_counts()

    return writing


async def keep_writing() -> None:
    while True:
        await asyncio.sleep(WRITE_EVERY_SECONDS)
        write_own_counts()


# --- counting, from server.py, messaging.py and merchant_client.py ---------------------------

_batch: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("batch", default=None)


def batch_started() -> list[int]:
    """A request began: the invocations in it are counted here, each request's own (a context
    variable: aiohttp serves each request in a task of its own)."""
    counted = [0]
    _batch.set(counted)
    return counted


def batch_ended(counted: list[int]) -> None:
    if counted[0]:
        COUNTS.batch(counted[0])


def invoked(function: str, started: float) -> None:
    """One invocation of `function` ended; it started at time.perf_counter() `started`.
    (A plain call, not a context manager: it runs for every message.)"""
    COUNTS.invoked(function, time.perf_counter() - started)
    counted = _batch.get()
    if counted is not None:
        counted[0] += 1


def dead_lettered(function: str, reason: str) -> None:
    COUNTS.dead_letters[f"{function} {reason}"] += 1


def merchant_request(outcome: str) -> None:
    COUNTS.merchant_requests[outcome] += 1


def merchant_retry() -> None:
    COUNTS.merchant_retries += 1


def merchant_fallback() -> None:
    COUNTS.merchant_fallbacks += 1


# --- GET /metrics ---------------------------------------------------------------------------


def exposition() -> tuple[bytes, str]:
    """The sum over all of python-worker's processes, in Prometheus's text format.

    prometheus-client is imported here, not at start-up: an image built before it was in
    requirements.txt still serves the functions (the code is mounted from the host), and
    GET /metrics says what to do instead (server.py).
    """
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    write_own_counts()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SummedCounts(folder()))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class SummedCounts:
    """A prometheus-client collector over every process's file in the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        total = Counts()
        for path in self.folder.glob("*.json"):
            try:
                add(total, json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # a process that died while writing; its last whole file is gone with it
        invocations = HistogramMetricFamily(
            "python_worker_invocation_seconds",
            "Time python-worker spent on one invocation (one message to one function instance)",
            labels=["function"],
        )
        for function, histogram in sorted(total.invocations.items()):
            invocations.add_metric([function], cumulative(histogram, INVOCATION_BUCKETS), histogram[-1])
        yield invocations
        batches = HistogramMetricFamily("python_worker_batch_size", "Invocations in one request from the runtime")
        batches.add_metric([], cumulative(total.batches, BATCH_BUCKETS), total.batches[-1])
        yield batches
        dead_letters = CounterMetricFamily(
            "python_worker_dead_letters",
            "Messages diverted to the dead-letters topic; reason: bad-message (refused by the function) "
            "or the unexpected exception's class",
            labels=["function", "reason"],
        )
        for key, count in sorted(total.dead_letters.items()):
            dead_letters.add_metric(key.split(" ", 1), count)
        yield dead_letters
        requests = CounterMetricFamily(
            "python_worker_merchant_requests",
            "Calls to the merchant-score service; outcome: ok, error (5xx or 429, no connection, no valid score), "
            "timeout, refused (other 4xx)",
            labels=["outcome"],
        )
        for outcome in MERCHANT_OUTCOMES:
            requests.add_metric([outcome], total.merchant_requests.get(outcome, 0.0))
        yield requests
        yield CounterMetricFamily(
            "python_worker_merchant_retries",
            "Merchant-score calls made after a failed one",
            value=total.merchant_retries,
        )
        yield CounterMetricFamily(
            "python_worker_merchant_fallbacks",
            "Merchant lookups that got no score within the retry policy: the merchant function used its fallback",
            value=total.merchant_fallbacks,
        )


def add(total: Counts, counts: dict) -> None:
    for function, histogram in counts["invocations"].items():
        into = total.invocations.setdefault(function, [0.0] * len(histogram))
        for index, value in enumerate(histogram):
            into[index] += value
    for index, value in enumerate(counts["batches"]):
        total.batches[index] += value
    for key, value in counts["dead_letters"].items():
        total.dead_letters[key] += value
    for key, value in counts["merchant_requests"].items():
        total.merchant_requests[key] += value
    total.merchant_retries += counts["merchant_retries"]
    total.merchant_fallbacks += counts["merchant_fallbacks"]


def cumulative(histogram: list[float], buckets: tuple) -> list[tuple[str, float]]:
    """Prometheus's buckets: each counts what is at or below its bound, +Inf all of them."""
    from prometheus_client.utils import floatToGoString

    running, result = 0.0, []
    for bound, count in zip([*map(floatToGoString, buckets), "+Inf"], histogram[:-1], strict=True):
        running += count
        result.append((bound, running))
    return result
