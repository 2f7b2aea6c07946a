"""The HTTP endpoint that the StateFun runtime calls: POST /statefun (and GET /health, /metrics).

An explicit aiohttp application: create_app() builds it from the functions,
run() serves it, in this process or, with WORKERS=n, in n processes that
prefork.py forks and watches. Bad requests get a 4xx with a one-line reason
(and a log line), never a stack trace; the worker keeps serving.
"""

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import web
from google.protobuf.internal import api_implementation
from statefun import RequestReplyHandler, StatefulFunctions
from statefun.request_reply_pb2 import ToFunction

import config
import messaging
import metrics
import prefork
from contract import HEALTH_PATH, METRICS_PATH, STATEFUN_PATH
from statefun_internals import declared_state, served_typenames

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
    app.router.add_get(METRICS_PATH, prometheus_metrics)
    app.cleanup_ctx.append(metrics.counting(served_typenames(functions)))
    for close in on_shutdown:
        app.on_cleanup.append(run_on_cleanup(close))
    return app


def run_on_cleanup(close: Callable[[], Awaitable[None]]) -> Callable[[web.Application], Awaitable[None]]:
    async def cleanup(_app: web.Application) -> None:
        await close()

    return cleanup


async def invoke(request: web.Request) -> web.Response:
    body = await request.read()
    batch = metrics.batch_started()
    try:
        reply = await request.app[HANDLER].handle_async(body)
    except Exception:  # noqa: BLE001 - answered below, with the reason
        return refuse(request.app[FUNCTIONS], body)
    finally:
        metrics.batch_ended(batch)
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
    # Whatever the parser raises, the body is what is wrong: DecodeError from upb, also
    # UnicodeDecodeError and RecursionError (deep nesting) from the pure-Python parser.
    except Exception as problem:  # noqa: BLE001
        return 400, (
            f"the body ({len(body)} bytes) is not a serialized StateFun ToFunction message ({type(problem).__name__})"
        )
    target = request.invocation.target
    if not target.namespace or not target.type:
        return 400, "the ToFunction message names no target function"
    typename = f"{target.namespace}/{target.type}"
    if typename not in served_typenames(functions):
        return 404, f"no function {typename} is served here"
    if not target.id:
        return 400, f"the ToFunction message names no instance of {typename}"
    return 500, f"internal error while invoking {typename}/{target.id}"


async def health(request: web.Request) -> web.Response:
    functions = request.app[FUNCTIONS]
    return web.json_response(
        {"status": "ok", "functions": served_typenames(functions), "state": declared_state(functions)}
    )


async def prometheus_metrics(_request: web.Request) -> web.Response:
    try:
        body, content_type = metrics.exposition()
    except ImportError:
        reason = "prometheus-client is not installed here: `docker compose up -d --build` (or `make setup`)"
        log.warning("GET %s: %s", METRICS_PATH, reason)
        return web.Response(status=503, text=reason + "\n")
    return web.Response(body=body, headers={"Content-Type": content_type})


def run(functions: StatefulFunctions, settings, on_shutdown=()) -> None:
    """python-worker: serves `functions` until SIGTERM or SIGINT; exits when it cannot."""
    unguarded = messaging.unguarded(functions)
    if unguarded:  # said before anything is served, without a traceback
        sys.exit(f"python-worker: {unguarded}")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    loop = use_event_loop(settings.event_loop)
    log.info(
        "serving %d functions at http://%s:%d%s with %d process(es) on %s, protobuf %s",
        len(served_typenames(functions)),
        settings.bind_address,
        settings.port,
        STATEFUN_PATH,
        settings.workers,
        loop,
        protobuf_backend(),
    )
    for warning in config.start_up_warnings(settings):
        log.warning("%s", warning)
    metrics.folder()  # before the fork: every server process writes its counts there
    if settings.workers == 1:
        serve(functions, settings, on_shutdown)
    else:
        sys.exit(serve_in_processes(functions, settings, on_shutdown))


def protobuf_backend() -> str:
    """'upb' (C, as installed with protobuf-override.txt) or 'python' (the SDK's own pin: slow)."""
    return api_implementation.Type()


def use_event_loop(choice: str) -> str:
    """Install the event loop asked for ('auto': uvloop if installed); returns its name.

    uvloop runs aiohttp's sockets and callbacks in C: with protobuf on upb, the HTTP
    side is most of what is left of an invocation's cost (BENCHMARKS.md).
    """
    if choice == "asyncio":
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            sys.exit("python-worker: invalid setting EVENT_LOOP: uvloop is not installed")
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def serve(functions: StatefulFunctions, settings, on_shutdown=(), reuse_port: bool = False) -> None:
    """One event loop serving the endpoint until SIGTERM or SIGINT."""
    try:
        # No access log: the runtime calls this endpoint thousands of times a second.
        web.run_app(
            create_app(functions, on_shutdown),
            host=settings.bind_address,
            port=settings.port,
            reuse_port=reuse_port or None,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
            print=None,
        )
    except OSError as problem:  # most often: the port is taken, by an earlier worker
        sys.exit(f"python-worker: cannot listen on {settings.bind_address}:{settings.port}: {problem.strerror}")
    log.info("stopped")


# --- several processes on one port (WORKERS=n; prefork.py forks and watches them) -----------


def serve_in_processes(functions: StatefulFunctions, settings, on_shutdown=()) -> int:
    """settings.workers servers sharing the port; the exit status (prefork.run says which)."""
    if port_answers(settings.bind_address, settings.port):
        # SO_REUSEPORT would quietly share the port with an earlier worker: refuse instead.
        raise SystemExit(f"python-worker: cannot listen on {settings.bind_address}:{settings.port}: it is taken")
    return prefork.run(partial(serve_child, functions, settings, on_shutdown), settings.workers)


def serve_child(functions: StatefulFunctions, settings, on_shutdown) -> int:
    """One of the forked servers: serve() until stopped; what it ended with, as an exit status."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # run_app installs its own handlers
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        serve(functions, settings, on_shutdown, reuse_port=True)
    except SystemExit as problem:  # serve()'s message, or aiohttp's GracefulExit
        if isinstance(problem.code, str):
            print(problem.code, file=sys.stderr, flush=True)
            return 1
        return problem.code or 0
    except BaseException:  # noqa: BLE001 - the parent reports the exit
        log.exception("server process failed")
        return 1
    return 0


def port_answers(host: str, port: int) -> bool:
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        with socket.create_connection((probe, port), timeout=0.5):
            return True
    except OSError:
        return False
