"""Debian packages the workshop installs for itself, as root: Prometheus for `make up`
(monitoring.py), Docker's engine and debootstrap for docker/ready.py.

apt's packages start their service when installed. The workshop runs its own Prometheus on
9090 and its own Docker engine, so the system's must not start: Debian's documented switch
is an invoke-rc.d policy that refuses (exit 101), which systemd's deb-systemd-invoke honours
too. It is in place for the one apt-get run, and only if the machine has none of its own.
"""

import os
import shutil
import subprocess
from pathlib import Path

POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
REFUSE_STARTS = "#!/bin/sh\n# Written by the workshop's local/apt.py for one apt-get run.\nexit 101\n"


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def install(*packages: str, recommends: bool = True, output=subprocess.DEVNULL) -> bool:
    """`apt-get update` and `apt-get install` of `packages`, no service started; True if both worked."""
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    ours = not POLICY_RC_D.exists()
    if ours:
        POLICY_RC_D.write_text(REFUSE_STARTS)
        POLICY_RC_D.chmod(0o755)
    try:
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", *([] if recommends else ["--no-install-recommends"]), *packages],
        ):
            if subprocess.run(command, env=environment, stdout=output).returncode != 0:
                return False
    finally:
        if ours:
            POLICY_RC_D.unlink()
    return True
