"""pytest for one mutant in seconds: a fork of a process that has imported the libraries already.

    forkserver.py serve SOCKET           in the copy of the project that cosmic-ray mutates (run.py starts it)
    forkserver.py pytest SOCKET ARGS...  cosmic-ray's test command: `pytest ARGS` in a new fork; its exit status

Importing pytest, aiohttp, protobuf, the StateFun SDK and hypothesis takes seconds, more than the
tests that kill most mutants. The server imports those libraries once, and only them: each fork
imports the project's own modules (statefun-functions/, the tests) from the files as cosmic-ray
has just mutated them. Nothing writes bytecode, since a mutant of the same size written within
the same second would otherwise run from the stale .pyc of the previous one.

When the client goes away (cosmic-ray's timeout kills it), the server kills the fork and all that
it started (the worker processes of tests/statefun_functions/test_server.py).
"""

import importlib
import json
import os
import select
import signal
import socket
import sys

LIBRARIES = (
    "pytest",
    "_pytest.python",
    "_pytest.assertion.rewrite",
    "pytest_asyncio",
    "pytest_aiohttp",
    "hypothesis",
    "_hypothesis_pytestplugin",
    "aiohttp",
    "aiohttp.web",
    "aiohttp.test_utils",
    "google.protobuf",
    "statefun",
    "psutil",
    "uvloop",
)


def serve(path: str) -> None:
    sys.dont_write_bytecode = True
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # for the workers that the tests start, too
    for name in LIBRARIES:
        importlib.import_module(name)
    parent = os.getppid()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen()
        listener.settimeout(5)
        while os.getppid() == parent:  # ends with run.py, however run.py ends
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                request = json.loads(connection.makefile().readline())
                status = run_pytest(connection, listener, request["args"], request["output"])
                try:
                    connection.sendall(f"{status}\n".encode())
                except OSError:  # the client is gone: its timeout
                    pass


def run_pytest(connection, listener, args, output) -> int:
    pid = os.fork()
    if pid == 0:
        listener.close()
        connection.close()
        os.setsid()  # its own process group, to be killed whole
        log = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        import pytest

        status = pytest.main(args)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(status))
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            # What the test run started and left behind (a mutant of main.py that serves
            # forever, say) is in its process group: it goes with it.
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return os.waitstatus_to_exitcode(wait_status)
        readable, _, _ = select.select([connection], [], [], 0.05)
        if readable and not connection.recv(1):  # the client is gone
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL


NO_TEST_RUN = "forkserver.py: no test run"  # run.py reports such a mutant as not tested, not as killed


def client(path: str, args: list) -> int:
    output = path + ".out"
    try:
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(path)
            connection.sendall(json.dumps({"args": args, "output": output}).encode() + b"\n")
            answer = connection.makefile().read()
    except OSError as problem:
        print(f"{NO_TEST_RUN}: {problem}")
        return 1
    with open(output, errors="replace") as log:
        sys.stdout.write(log.read())
    return int(answer) if answer.strip() else 1


if __name__ == "__main__":
    command, socket_path, *rest = sys.argv[1:]
    if command == "serve":
        serve(socket_path)
    else:
        sys.exit(client(socket_path, rest))
