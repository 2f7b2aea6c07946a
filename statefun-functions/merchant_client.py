"""The client of the third-party merchant-score service.

The merchant function awaits this client inside a StateFun invocation, and the
runtime holds back further messages for that merchant until the invocation
returns. So the client must give up in bounded time: a few seconds at most,
well inside the runtime's one-minute call timeout, after which the merchant
function answers with a neutral fallback score (see main.py).

The retry policy, and why:
- 3 attempts: one slow or failed call is common with third-party services,
  three in a row mostly means the service is down, and retrying longer only
  delays the transaction that waits for the answer.
- 1 s per attempt: the simulated service answers in tens of milliseconds.
- exponential backoff from 100 ms, with full jitter, so that many merchant
  instances retrying at once do not hit a recovering service in lockstep.
- 5xx, 429, timeouts and connection errors are retried; other 4xx are not,
  since asking again will not change the answer.
"""

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote

import aiohttp

import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    attempt_timeout_seconds: float = 1.0
    first_backoff_seconds: float = 0.1
    max_backoff_seconds: float = 1.0

    def backoff_before(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        ceiling = min(self.max_backoff_seconds, self.first_backoff_seconds * 2 ** (retry - 1))
        return random.uniform(0, ceiling)


class MerchantScoreUnavailable(Exception):
    """The service gave no usable score within the retry policy."""


class _RetryableFailure(Exception):
    pass


class MerchantScoreClient:
    """Asks GET <base_url>/score/<merchant> for {"score": 0..100}.

    One aiohttp session is shared by all calls (it pools connections); it is
    opened on first use, inside the running event loop, and closed by close().
    """

    def __init__(self, base_url: str, policy: RetryPolicy = RetryPolicy()):
        self.base_url = base_url.rstrip("/")
        self.policy = policy
        self._session: Optional[aiohttp.ClientSession] = None

    async def score(self, merchant: str) -> int:
        try:
            return await self._score_with_retries(merchant)
        except MerchantScoreUnavailable:
            metrics.merchant_fallback()
            raise

    async def _score_with_retries(self, merchant: str) -> int:
        last_problem = "no attempt made"
        for attempt in range(1, self.policy.attempts + 1):
            if attempt > 1:
                metrics.merchant_retry()
                await asyncio.sleep(self.policy.backoff_before(attempt - 1))
            try:
                return await self._ask_once(merchant)
            except _RetryableFailure as problem:
                last_problem = str(problem)
                log.warning(
                    "merchant-score service, attempt %d/%d for %r: %s",
                    attempt,
                    self.policy.attempts,
                    merchant,
                    last_problem,
                )
        raise MerchantScoreUnavailable(
            f"no score for {merchant!r} after {self.policy.attempts} attempts: {last_problem}"
        )

    async def _ask_once(self, merchant: str) -> int:
        try:
            score = await self._request(merchant)
        except asyncio.TimeoutError:
            metrics.merchant_request("timeout")
            raise _RetryableFailure(f"no answer within {self.policy.attempt_timeout_seconds} s") from None
        except _RetryableFailure:
            metrics.merchant_request("error")
            raise
        except MerchantScoreUnavailable:
            metrics.merchant_request("refused")
            raise
        metrics.merchant_request("ok")
        return score

    async def _request(self, merchant: str) -> int:
        url = f"{self.base_url}/score/{quote(merchant, safe='')}"
        try:
            async with self._open_session().get(url) as response:
                if response.status >= 500 or response.status == 429:
                    raise _RetryableFailure(f"HTTP {response.status}")
                if response.status != 200:
                    raise MerchantScoreUnavailable(f"HTTP {response.status} for {merchant!r}")
                body = await response.json(content_type=None)
        except asyncio.TimeoutError:
            raise  # aiohttp's time-outs are ClientErrors too: _ask_once tells them apart
        except aiohttp.ClientError as problem:
            raise _RetryableFailure(f"{type(problem).__name__}: {problem}") from None
        except ValueError:
            raise _RetryableFailure("the answer is not JSON") from None
        return _valid_score(body, merchant)

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self.policy.attempt_timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _valid_score(body, merchant: str) -> int:
    score = body.get("score") if isinstance(body, dict) else None
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
        raise _RetryableFailure(f"the answer for {merchant!r} has no score from 0 to 100: {body!r}"[:200])
    return score
