"""Test tool for the Docker suite: the README's docker compose commands, run in a copy of the repository.

The copy (every file git knows, as it is in the working tree) lets the tests edit
`statefun-functions/main.py` exactly as the README tells a user to, without touching the
checkout. The compose project name is fixed in docker-compose.yml, so the copy runs the very
services a user gets.
"""

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROJECT = "statefun-workshop"
# The end-to-end suite's tools (Kafka reader and producer, expectations; tests/e2e is on
# pytest's pythonpath, pyproject.toml) serve this suite too.


def docker_ready() -> dict:
    """`eval "$(make -s docker-ready)"`: the environment the README's commands then run in."""
    result = subprocess.run(["make", "-s", "docker-ready"], cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=1800)
    assert result.returncode == 0, "make docker-ready failed (its messages are above)"
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", result.stdout, flags=re.MULTILINE))
    return {**os.environ, **exports}


class DockerWorkshop:
    def __init__(self, folder: pathlib.Path, environment: dict):
        self.folder = folder
        self.environment = environment

    def compose(
        self, *args: str, timeout: float = 900, check: bool = True, quiet: bool = False, settings: dict | None = None
    ) -> str:
        """`docker compose ARGS`, with `settings` as NAME=value before it on the command line."""
        settings = settings or {}
        if not quiet:
            before = "".join(f"{name}={value} " for name, value in settings.items())
            print(f"$ {before}docker compose {' '.join(args)}", file=sys.stderr, flush=True)
        result = subprocess.run(
            ["docker", "compose", *args],
            cwd=self.folder,
            env={**self.environment, **settings},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, f"docker compose {' '.join(args)} failed:\n{result.stdout[-4000:]}"
        return result.stdout

    def docker(self, *args: str) -> str:
        result = subprocess.run(["docker", *args], env=self.environment, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"docker {' '.join(args)} failed: {result.stderr}"
        return result.stdout.strip()

    def log(self, service: str) -> str:
        return self.compose("logs", "--no-color", service, timeout=120, quiet=True)

    def container(self, service: str, replica: int | None = None) -> str:
        if replica is not None:  # Compose names a service's containers PROJECT-SERVICE-N
            return f"{PROJECT}-{service}-{replica}"
        return self.compose("ps", "-q", service, quiet=True).strip()

    def inspect(self, service: str, template: str, replica: int | None = None) -> str:
        return self.docker("inspect", "-f", template, self.container(service, replica))

    def crash(self, service: str, replica: int | None = None) -> None:
        """kill -9 of the service's main process from the host, as a crash would end it.

        Not `docker compose kill`: the engine cancels the restart policy of a container it
        kills itself (moby daemon/kill.go), so that would test nothing of the policy.
        """
        os.kill(int(self.inspect(service, "{{.State.Pid}}", replica)), signal.SIGKILL)

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={PROJECT}"
        return [
            *self.docker("ps", "-aq", "--filter", label).split(),
            *self.docker("volume", "ls", "-q", "--filter", label).split(),
        ]


def edit(path: pathlib.Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


def stopwatch() -> callable:
    started = time.monotonic()
    return lambda: time.monotonic() - started
