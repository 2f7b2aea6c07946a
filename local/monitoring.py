"""The Prometheus server of the Docker-free mode: found on PATH, else installed, else left out.

Docker runs the prom/prometheus image; here the program comes from the machine:

1. `prometheus` on PATH (any 2.x reads the workshop's configuration);
2. else, as root on Debian or Ubuntu, Debian's own package (bookworm: 2.42, the version the
   compose file pins), installed as docker/ready.py installs Docker's engine (apt.py: no
   service started), once the rest of the workshop runs (the first alert does not wait for it);
3. else one line saying how to install it, and the workshop runs without it.
"""

import shutil
import subprocess
from pathlib import Path

import apt

INSTALL_HINT = (
    "Prometheus: no `prometheus` program found, so the workshop runs without it "
    "(Debian/Ubuntu: sudo apt-get install prometheus; macOS: brew install prometheus; then `make up` again)"
)


def prometheus_program(say=print) -> str | None:
    """The path of a prometheus program on PATH; else Debian's, when `install_later()` may
    install it (the program then exists only after that); None, having said so, without one."""
    found = shutil.which("prometheus")
    if found:
        return found
    if may_install():
        return DEBIAN_PROGRAM
    say(INSTALL_HINT)
    return None


# Where Debian's package puts the program: known before it is installed, so that `up` can
# start everything else first and install Prometheus while the first alerts come.
DEBIAN_PROGRAM = "/usr/bin/prometheus"


def may_install() -> bool:
    return apt.available()


def install_later(say=print) -> bool:
    """Debian's package, installed after the workshop is up: nothing optional stands between
    `up` and the first alert. True once the program is there."""
    if Path(DEBIAN_PROGRAM).exists():
        return True
    say("Prometheus: installing Debian's package (apt-get install prometheus, about a minute, once) ...")
    if install_package("prometheus"):
        keep_the_system_service_off(say)
        return Path(DEBIAN_PROGRAM).exists()
    say("Prometheus: apt-get could not install it (its output is above)")
    say(INSTALL_HINT)
    return False


def keep_the_system_service_off(say) -> None:
    """Debian's package also enables a prometheus service for the next boot, which would then
    hold port 9090: with systemd, disable it (the workshop runs its own)."""
    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        subprocess.run(["systemctl", "disable", "--quiet", "prometheus.service"], check=False)
        say("Prometheus: the package's own service is disabled; the workshop starts its own with `make up`")


def install_package(name: str) -> bool:
    return apt.install(name, recommends=False)
