"""Measurement probe (issue 23): the same SDK handler behind aiohttp's low-level server.

    PYTHONPATH=statefun-functions PORT=18100 bench/.venv-fast/bin/python bench/lowlevel_server.py

One process, uvloop, no router or application: web.Server calls one coroutine per request.
It answers POST /statefun (contract.STATEFUN_PATH) only, to compare the cost of the HTTP path with server.py's
(bench/endpoint.py's "low-level server probe" variant; BENCHMARKS.md 2a: within the noise).
"""

import asyncio
import os

import uvloop
from aiohttp import web
from statefun import RequestReplyHandler, StatefulFunctions

import config
import main
from contract import STATEFUN_PATH
from merchant_client import MerchantScoreClient


async def serve(port: int) -> None:
    settings = config.load()
    functions = main.bind_functions(StatefulFunctions(), settings, MerchantScoreClient(settings.merchant_service_url))
    handler = RequestReplyHandler(functions)

    async def invoke(request: web.BaseRequest) -> web.StreamResponse:
        if request.method != "POST" or request.path != STATEFUN_PATH:
            return web.Response(status=404)
        reply = await handler.handle_async(await request.read())
        return web.Response(body=reply, content_type="application/octet-stream")

    server = web.Server(invoke, access_log=None)
    loop = asyncio.get_running_loop()
    await loop.create_server(server, "127.0.0.1", port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(serve(int(os.environ.get("PORT", "18100"))))
