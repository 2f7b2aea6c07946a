"""The HTTP endpoint that the StateFun runtime calls: POST /statefun.

An explicit aiohttp application: create_app() builds it from the functions,
run() serves it. Bad requests get a 4xx with a one-line reason (and a log line),
never a stack trace; the worker keeps serving.
"""

import logging
import os
import sys

from aiohttp import web
from google.protobuf.message import DecodeError
from statefun import RequestReplyHandler, StatefulFunctions
from statefun.request_reply_pb2 import ToFunction

from names import HEALTH_PATH, STATEFUN_PATH

log = logging.getLogger("server")

# The runtime batches up to maxNumBatchRequests invocations for one address,
# each with the function's state, into one request: far above aiohttp's 1 MiB
# default. Larger bodies are refused with 413 before they are read.
MAX_REQUEST_BYTES = 64 * 1024 * 1024

# In-flight requests get this long to finish on SIGTERM; the runtime retries
# any that do not, so a restart loses nothing.
SHUTDOWN_TIMEOUT_SECONDS = 5.0

HANDLER = web.AppKey("handler", RequestReplyHandler)
FUNCTIONS = web.AppKey("functions", StatefulFunctions)


def create_app(functions: StatefulFunctions, on_shutdown=()) -> web.Application:
    """The endpoint for `functions`; each coroutine in on_shutdown runs once when it stops."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[FUNCTIONS] = functions
    app[HANDLER] = RequestReplyHandler(functions)
    app.router.add_post(STATEFUN_PATH, invoke)
    app.router.add_get(HEALTH_PATH, health)
    for close in on_shutdown:
        app.on_cleanup.append(lambda _app, close=close: close())
    return app


async def invoke(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        reply = await request.app[HANDLER].handle_async(body)
    except Exception:  # noqa: BLE001 - answered below, with the reason
        return refuse(request.app[FUNCTIONS], body)
    return web.Response(body=reply, content_type="application/octet-stream")


def refuse(functions: StatefulFunctions, body: bytes) -> web.Response:
    """Why the SDK could not handle `body`, as an HTTP answer.

    Worked out only after a failure, so that good requests are parsed once.
    """
    status, reason = diagnose(functions, body)
    if status >= 500:
        log.exception("POST %s: %s", STATEFUN_PATH, reason)
    else:
        log.warning("POST %s refused (%d): %s", STATEFUN_PATH, status, reason)
    return web.Response(status=status, text=reason + "\n")


def diagnose(functions: StatefulFunctions, body: bytes) -> tuple[int, str]:
    request = ToFunction()
    try:
        request.ParseFromString(body)
    except DecodeError:
        return 400, f"the body ({len(body)} bytes) is not a serialized StateFun ToFunction message"
    target = request.invocation.target
    if not target.namespace or not target.type:
        return 400, "the ToFunction message names no target function"
    typename = f"{target.namespace}/{target.type}"
    if typename not in served(functions):
        return 404, f"no function {typename} is served here"
    return 500, f"internal error while invoking {typename}/{target.id}"


def served(functions: StatefulFunctions) -> list[str]:
    return sorted(functions._functions)  # the SDK offers no public list


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "functions": served(request.app[FUNCTIONS])})


def run(functions: StatefulFunctions, settings, on_shutdown=()) -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("serving %d functions at http://%s:%d%s", len(served(functions)),
             settings.bind_address, settings.port, STATEFUN_PATH)
    try:
        # No access log: the runtime calls this endpoint thousands of times a second.
        web.run_app(create_app(functions, on_shutdown), host=settings.bind_address, port=settings.port,
                    access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS, print=None)
    except OSError as problem:  # most often: the port is taken, by an earlier worker
        sys.exit(f"python-worker: cannot listen on {settings.bind_address}:{settings.port}: {problem.strerror}")
    log.info("stopped")
