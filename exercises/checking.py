"""What the exercises' checks are made of: a behaviour, a hint for a learner, and a probe.

The probes drive the functions of statefun-functions/main.py, as they are in your
working tree, through tests/harness.py: StateFun's request-reply protocol, in-process,
with a virtual clock for delayed messages. No runtime is needed: checks take seconds.
"""

import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness import Worker

DEFAULT_THRESHOLD = 50


class FixedMerchantScores:
    """The merchant-score service, answering one score for every merchant (no network)."""

    def __init__(self, score: int):
        self.fixed = score

    async def score(self, merchant: str) -> int:
        return self.fixed

    async def close(self) -> None:
        pass


def worker(merchant_score: int = 40, **settings) -> Worker:
    """The functions as python-worker binds them, with a fixed merchant score and `settings`."""
    bound = Worker()
    bound.use_merchant_scores(FixedMerchantScores(merchant_score))
    bound.configure(fraud_threshold=DEFAULT_THRESHOLD, **settings)
    return bound


@dataclass
class Check:
    behaviour: str  # what works once the exercise is done, e.g. "a fraud leaves the count after FRAUD_WINDOW"
    hint: str  # for a learner whose code does not do it yet: what is missing, and where to look
    probe: Callable[[], Awaitable[None]]  # raises (an AssertionError, say) while the behaviour is missing

    async def outcome(self) -> str | None:
        """None when the behaviour is there; else what went wrong, in one line."""
        try:
            await self.probe()
        except AssertionError as problem:
            return str(problem).splitlines()[0] if str(problem) else "an expectation did not hold"
        except Exception as problem:  # noqa: BLE001 - your code may fail in any way: say how, in one line
            where = traceback.extract_tb(problem.__traceback__)[-1]
            return f"{type(problem).__name__}: {problem} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        return None
