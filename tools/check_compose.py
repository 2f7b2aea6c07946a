"""The Docker checks that need no Docker engine; exits non-zero if one fails.

    .venv-checks/bin/python tools/check_compose.py      (make check-docker sets it up)

1. docker-compose.yml against the Compose Specification's JSON schema, the copy that
   check-jsonschema ships (so the check needs no network): unknown keys, wrong types,
   misspelt depends_on conditions and the like.
2. The three Dockerfiles with hadolint (pinned image tags, no root user, pip without cache...).

What the schema cannot see (names, ports, topics, the shared runtime config) is checked by
tests/test_compose.py, in the unit suite.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = "docker-compose.yml"
DOCKERFILES = ["statefun-runtime/Dockerfile", "statefun-functions/Dockerfile", "simulator/Dockerfile"]
# The tools live next to the python running this script (the .venv-checks environment).
BIN = Path(sys.executable).parent


def run(title: str, command: list[str]) -> bool:
    print(f"--- {title}", flush=True)
    try:
        passed = subprocess.run(command, cwd=ROOT).returncode == 0
    except FileNotFoundError:
        print(f"{command[0]} is missing: run this with the python of .venv-checks (make check-docker)")
        return False
    print("ok" if passed else "FAILED", flush=True)
    return passed


def main() -> int:
    results = [
        run(
            f"{COMPOSE_FILE}: Compose Specification schema",
            [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE],
        ),
        run("Dockerfiles: hadolint", [str(BIN / "hadolint"), "--no-color", *DOCKERFILES]),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
