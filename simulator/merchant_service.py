"""The simulated third-party merchant-score service.

    GET /score/<merchant>  ->  {"merchant": "Hypergrid", "score": 12}
    GET /health            ->  {"status": "ok"}

A merchant's score (0 = trusted, 100 = risky) is a fixed function of its name,
so runs are reproducible. Like a real third party it is slow now and then and
fails now and then: --latency-ms and --error-rate (or MERCHANT_LATENCY_MS and
MERCHANT_ERROR_RATE) say how much, so you can watch the merchant function's
timeouts and retries at work.

    python merchant_service.py --port 8002 --latency-ms 20 --error-rate 0.05
"""

import argparse
import asyncio
import hashlib
import logging
import os
import random

from aiohttp import web

log = logging.getLogger("merchant-service")

DEFAULT_PORT = 8002

LATENCY = web.AppKey("latency_seconds", float)
ERROR_RATE = web.AppKey("error_rate", float)
RANDOM = web.AppKey("random", random.Random)


def merchant_score(merchant: str) -> int:
    """Most merchants are trusted, a few are risky: the square of a uniform draw."""
    digest = hashlib.sha256(merchant.encode("utf-8")).digest()
    uniform = int.from_bytes(digest[:8], "big") / 2**64
    return round(100 * uniform**2)


def create_app(latency_ms: float = 20.0, error_rate: float = 0.0, seed=None) -> web.Application:
    if latency_ms < 0:
        raise ValueError(f"latency must not be negative, got {latency_ms} ms")
    if not 0.0 <= error_rate <= 1.0:
        raise ValueError(f"the error rate is a share from 0 to 1, got {error_rate}")
    app = web.Application()
    app[LATENCY] = latency_ms / 1000.0
    app[ERROR_RATE] = error_rate
    app[RANDOM] = random.Random(seed)
    app.router.add_get("/score/{merchant}", score)
    app.router.add_get("/health", health)
    return app


async def score(request: web.Request) -> web.Response:
    app = request.app
    draw = app[RANDOM]
    # Latency varies around the configured mean, as a remote service's does.
    await asyncio.sleep(draw.uniform(0.5, 1.5) * app[LATENCY])
    if draw.random() < app[ERROR_RATE]:
        return web.json_response({"error": "simulated outage"}, status=503)
    merchant = request.match_info["merchant"]
    return web.json_response({"merchant": merchant, "score": merchant_score(merchant)})


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("MERCHANT_BIND_ADDRESS", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=os.environ.get("MERCHANT_PORT", str(DEFAULT_PORT)))
    parser.add_argument("--latency-ms", type=float, default=os.environ.get("MERCHANT_LATENCY_MS", "20"))
    parser.add_argument("--error-rate", type=float, default=os.environ.get("MERCHANT_ERROR_RATE", "0.02"))
    args = parser.parse_args()  # argparse also checks the environment's values (string defaults)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(args.latency_ms, args.error_rate)
    except ValueError as problem:
        parser.error(str(problem))
    log.info(
        "merchant scores at http://%s:%d/score/<merchant> (latency ~%g ms, error rate %g)",
        args.host,
        args.port,
        args.latency_ms,
        args.error_rate,
    )
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
