"""The processes of python-worker with WORKERS=n: forks n servers, ties them to this parent, and
ends them together. Knows nothing of HTTP or StateFun: server.py gives it what each one runs.

One Python process runs one invocation at a time, and the protobuf work of the SDK keeps it on
one core. So with WORKERS=n, n forked copies of the endpoint each listen on the same port
(SO_REUSEPORT, server.py), and the kernel spreads the runtime's connections over them. They
share nothing: all state travels in the requests. This parent only watches them: SIGTERM or
SIGINT stops them all, and when one dies the others are stopped too, so that supervisord (or
Docker) restarts the lot.
"""

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable

log = logging.getLogger("prefork")

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def run(serve: Callable[[], int], processes: int) -> int:
    """Fork `processes` children that each exit with serve()'s status (it must not raise);
    wait for all of them. The exit status: 0 when SIGTERM or SIGINT stopped them, 1 when one
    exited by itself (the others are stopped then)."""
    children = []
    parent = os.getpid()
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            end_with_parent(parent)
            os._exit(serve())
        children.append(pid)

    stopping = False

    def stop(signum=None, _frame=None):
        nonlocal stopping
        stopping = True
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    running = set(children)
    while running:
        child, wait_status = os.wait()
        running.discard(child)
        code = os.waitstatus_to_exitcode(wait_status)
        if not stopping:
            log.error("server process %d exited (%d): stopping the others", child, code)
            status = 1
            stop()
    return status


def end_with_parent(parent: int) -> None:
    """A server process gets SIGTERM when its parent dies, even by kill -9.

    Otherwise it would outlive it, keep the port, and make the restarted python-worker
    refuse to start ("it is taken"). Linux only; elsewhere the parent's SIGTERM suffices.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the call above
        os._exit(0)
