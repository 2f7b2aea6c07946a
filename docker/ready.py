#!/usr/bin/env python3
"""`make docker-ready`: a Docker engine, Compose v2 and every image docker-compose.yml needs.

    eval "$(make -s docker-ready)"     # then the README's docker compose commands, verbatim

Idempotent and quiet when everything is already there; progress goes to stderr, and stdout
carries only `export NAME=value` lines for the shell. Three steps:

1. The engine. One that answers at $DOCKER_HOST or the default socket is used as it is.
   Otherwise, as root on Linux, it starts its own from Debian's docker.io package (installed
   with apt-get if missing), with its own containerd, socket, data-root and exec-root under
   $WORKSHOP_CACHE/docker/engine, so that it never touches a system engine.
   `make docker-down-engine` stops that engine, and only that one.
2. Compose v2. If `docker compose` does not answer, the CLI plugin is built from its Go module
   (pinned below; about 2-3 minutes once) into the cache and linked into
   ${DOCKER_CONFIG:-~/.docker}/cli-plugins, Docker's documented place for a manual install.
3. The images named in docker-compose.yml and in the Dockerfiles it builds. Each missing one is
   pulled; when no registry answers, a stand-in is built under the same name and tag from
   docker/standins/<image>/ on a Debian bookworm root file system (debootstrap, imported as a
   base image). Stand-ins carry the same software (the jars from local/fetch.py's cache, with
   the same checksums) and the label org.statefun-workshop.standin; see docker/standins/*/Dockerfile
   for how each differs from the real image.

Usage: python docker/ready.py [up | down-engine | status]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def import_local(name: str):
    """local/<name>.py (stdlib only), loaded from its file: local/ is a folder of scripts, not a
    package, and none of it goes on sys.path. fetch.py: the jar cache the stand-ins are built
    from; apt.py: Debian's packages, installed with no service of theirs started."""
    if name in sys.modules:  # already imported, as the tests (local/ on their path) do
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "local" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


fetch = import_local("fetch")
apt = import_local("apt")

COMPOSE_MODULE = "github.com/docker/compose/v2"
COMPOSE_VERSION = "v2.40.3"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_IMAGE = "statefun-workshop/debian-bookworm:standin"
STANDIN_LABEL = "org.statefun-workshop.standin"
STANDINS = REPO / "docker" / "standins"
# Which stand-in replaces which image. Each is tied to one version: a version bump in the
# compose file or a Dockerfile must come with a stand-in for it (checked by `needed_images`).
STANDIN_FOR = {
    "apache/flink-statefun:3.3.0": "flink-statefun",
    "apache/kafka:3.9.2": "kafka",
    "python:3.11.16-slim-bookworm": "python",
    "eclipse-temurin:11.0.25_9-jdk": "temurin-jdk",
    "haproxy:2.6.12": "haproxy",
    "prom/prometheus:v2.42.0": "prometheus",
}
ENGINE_START_TIMEOUT = 90
PULL_TIMEOUT = 120


def say(message: str) -> None:
    print(f"docker-ready: {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    raise SystemExit(f"docker-ready: {message}")


def cache() -> Path:
    return fetch.cache_dir() / "docker"


def engine_dir() -> Path:
    return cache() / "engine"


def own_socket() -> Path:
    return engine_dir() / "docker.sock"


# --- 1. the engine ----------------------------------------------------------------------------


def answers(docker_host: str | None) -> bool:
    env = {**os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    try:
        result = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def can_start_own_engine() -> bool:
    return platform.system() == "Linux" and os.geteuid() == 0


def apt_install(*packages: str) -> None:
    if not shutil.which("apt-get"):
        fail(f"needs {', '.join(packages)} and there is no apt-get to install it")
    say(f"installing {' '.join(packages)} from Debian's packages ...")
    if not apt.install(*packages, output=sys.stderr):  # Debian's docker.io would start the system's engine
        fail(f"apt-get could not install {', '.join(packages)} (its output is above)")


def process_alive(pid_file: Path) -> int | None:
    """The pid in pid_file if that process runs and was started by us (its command line names our folder)."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if str(engine_dir()) in cmdline else None


def start_own_engine() -> None:
    """containerd + dockerd of Debian's docker.io, every path of theirs under engine_dir()."""
    if not (shutil.which("dockerd") and shutil.which("containerd")):
        apt_install("docker.io")
    folder = engine_dir()
    folder.mkdir(parents=True, exist_ok=True)
    exec_root = folder / "exec"  # short: unix socket paths under it are limited to 108 bytes
    containerd_socket = exec_root / "containerd.sock"
    if not process_alive(folder / "containerd.pid"):
        config = folder / "containerd.toml"
        # Docker needs none of containerd's CRI (Kubernetes) plugin.
        config.write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        exec_root.mkdir(exist_ok=True)
        daemon = subprocess.Popen(
            [
                "containerd",
                "--config",
                str(config),
                "--address",
                str(containerd_socket),
                "--root",
                str(folder / "containerd-root"),
                "--state",
                str(exec_root / "containerd-state"),
            ],
            stdout=(folder / "containerd.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (folder / "containerd.pid").write_text(str(daemon.pid))
        wait_until("containerd", lambda: containerd_socket.is_socket() or daemon.poll() is not None, 30)
    subprocess.Popen(
        [
            "dockerd",
            "--host",
            f"unix://{own_socket()}",
            "--containerd",
            str(containerd_socket),
            "--data-root",
            str(folder / "data-root"),
            "--exec-root",
            str(exec_root),
            "--pidfile",
            str(folder / "docker.pid"),
        ],
        stdout=(folder / "dockerd.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    docker_host = f"unix://{own_socket()}"
    if not wait_until("the Docker engine", lambda: answers(docker_host), ENGINE_START_TIMEOUT):
        log_tail = "\n".join((folder / "dockerd.log").read_text(errors="replace").splitlines()[-15:])
        fail(
            f"the Docker engine did not start within {ENGINE_START_TIMEOUT} s; {folder / 'dockerd.log'} ends:\n{log_tail}"
        )


def wait_until(what: str, check, timeout: float) -> bool:
    started = time.monotonic()
    last_report = started
    while time.monotonic() - started < timeout:
        if check():
            return True
        if time.monotonic() - last_report >= 5:
            say(f"waiting for {what} ({time.monotonic() - started:.0f} s) ...")
            last_report = time.monotonic()
        time.sleep(0.5)
    return check()


def ensure_engine() -> str | None:
    """The DOCKER_HOST to use; None for the CLI's default (an engine that already answers there)."""
    given = os.environ.get("DOCKER_HOST")
    ours = f"unix://{own_socket()}"
    if given and given != ours:  # (ours, exported by an earlier run, is started again below)
        if not answers(given):
            fail(f"DOCKER_HOST={given} does not answer (`docker version` fails); unset it to use the default")
        return given
    if not given and answers(None):
        return None
    if answers(ours):
        return ours
    if not can_start_own_engine():
        fail(
            "no Docker engine answers. Start Docker (Docker Desktop, or `sudo systemctl start docker`), "
            "or run this as root on Linux to let it start one of its own"
        )
    say(f"starting a Docker engine of our own at {ours} (data in {engine_dir()}) ...")
    start_own_engine()
    return ours


def stop_own_engine() -> None:
    stopped = False
    for name in ("docker.pid", "containerd.pid"):
        pid = process_alive(engine_dir() / name)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        if not wait_until(name.removesuffix(".pid"), lambda pid=pid: not Path(f"/proc/{pid}").exists(), 60):
            os.kill(pid, signal.SIGKILL)
        stopped = True
    say("stopped the engine it had started" if stopped else "no engine of ours is running")


# --- 2. Compose v2 ----------------------------------------------------------------------------


def compose_answers(env: dict) -> bool:
    result = subprocess.run(["docker", "compose", "version", "--short"], env=env, capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip().lstrip("v").startswith("2.")


def ensure_compose(env: dict) -> None:
    if compose_answers(env):
        return
    plugin = cache() / "cli-plugins" / f"docker-compose-{COMPOSE_VERSION}"
    if not plugin.exists():
        build_compose_plugin(plugin)
    plugins_dir = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "cli-plugins"
    plugins_dir.mkdir(parents=True, exist_ok=True)
    link = plugins_dir / "docker-compose"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(plugin)
    if not compose_answers(env):
        fail(f"`docker compose version` still fails with {link} -> {plugin}")


def build_compose_plugin(plugin: Path) -> None:
    if not shutil.which("go"):
        fail("`docker compose` (v2) is missing and Go is not installed to build it: install the Compose plugin")
    say(f"building the Compose plugin {COMPOSE_VERSION} from the Go module proxy (2-3 minutes, once) ...")
    module = f"{COMPOSE_MODULE}@{COMPOSE_VERSION}"
    # `go install module@version` refuses this module (its go.mod has replace directives), so
    # download it and build inside its folder of the module cache.
    download = subprocess.run(["go", "mod", "download", "-json", module], capture_output=True, text=True)
    if download.returncode != 0:
        fail(f"go mod download {module} failed:\n{download.stdout}{download.stderr}")
    source = re.search(r'"Dir":\s*"([^"]+)"', download.stdout).group(1)
    plugin.parent.mkdir(parents=True, exist_ok=True)
    partial = plugin.with_suffix(".part")
    subprocess.run(
        [
            "go",
            "build",
            "-trimpath",
            "-o",
            str(partial),
            "-ldflags",
            f"-s -w -X {COMPOSE_MODULE}/internal.Version={COMPOSE_VERSION}",
            "./cmd",
        ],
        cwd=source,
        check=True,
        env={**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"},
    )
    partial.replace(plugin)


# --- 3. the images ----------------------------------------------------------------------------


def needed_images() -> list[str]:
    """Every image docker-compose.yml runs or its Dockerfiles build FROM (stage names excluded)."""
    compose = (REPO / "docker-compose.yml").read_text()
    images = re.findall(r"^\s+image:\s*(\S+)", compose, flags=re.MULTILINE)
    for folder in re.findall(r"^\s+build:\s*(\S+)", compose, flags=re.MULTILINE):
        stages: set[str] = set()
        for line in (REPO / folder / "Dockerfile").read_text().splitlines():
            match = re.match(r"FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", line.strip(), flags=re.IGNORECASE)
            if match:
                if match.group(1) not in stages:
                    images.append(match.group(1))
                if match.group(2):
                    stages.add(match.group(2))
    unique = list(dict.fromkeys(images))
    unknown = [image for image in unique if image not in STANDIN_FOR]
    if unknown:
        fail(f"no stand-in for {', '.join(unknown)}: add one to docker/standins/ and STANDIN_FOR in {__file__}")
    return unique


def docker(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env=env, text=True, **kwargs)


def image_label(env: dict, image: str) -> str | None:
    """None if the image is missing; its stand-in label ('' for a real image) otherwise."""
    result = docker(
        env,
        "image",
        "inspect",
        "--format",
        f'{{{{index .Config.Labels "{STANDIN_LABEL}"}}}}',
        image,
        capture_output=True,
    )
    if result.returncode != 0:
        return None
    label = result.stdout.strip()
    return "" if label == "<no value>" else label


def standin_digest(name: str) -> str:
    """Changes whenever the stand-in's files or the pinned jars it is built from change."""
    digest = hashlib.sha256()
    folder = STANDINS / name
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    digest.update(
        repr(
            (
                fetch.FLINK_FILES,
                fetch.FLINK_IMAGE_FILES,
                fetch.STATEFUN_JARS,
                fetch.IMAGE_JARS,
                fetch.KAFKA_JARS,
                fetch.FLINK_SCRIPTS_SDIST_SHA256,
            )
        ).encode()
    )
    return digest.hexdigest()[:16]


def try_pull(env: dict, image: str) -> bool:
    say(f"pulling {image} ...")
    try:
        result = docker(env, "pull", "--quiet", image, capture_output=True, timeout=PULL_TIMEOUT)
    except subprocess.TimeoutExpired:
        say(f"no answer from the registry for {image} within {PULL_TIMEOUT} s")
        return False
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        say(f"cannot pull {image} ({reason}); building a local stand-in instead")
        return False
    return True


def ensure_images(env: dict) -> None:
    for image in needed_images():
        label = image_label(env, image)
        standin = STANDIN_FOR[image]
        if label == "" or label == standin_digest(standin):
            continue  # the real image, or an up-to-date stand-in
        if label is None and os.environ.get("WORKSHOP_STANDINS") != "always" and try_pull(env, image):
            continue
        build_standin(env, image, standin)


def ensure_base_image(env: dict) -> None:
    if image_label(env, BASE_IMAGE) is not None:
        return
    if not can_start_own_engine():
        fail(f"building stand-ins needs root on Linux (debootstrap); pull {', '.join(STANDIN_FOR)} instead")
    if not shutil.which("debootstrap"):
        apt_install("debootstrap")
    started = time.monotonic()
    say(f"making a Debian {DEBIAN_SUITE} root file system with debootstrap (about a minute, once) ...")
    with tempfile.TemporaryDirectory(dir=cache()) as scratch:
        rootfs = Path(scratch) / "rootfs"
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            fail(f"debootstrap failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        trust_host_certificates(rootfs)
        (rootfs / "etc/apt/sources.list").write_text(
            f"deb {DEBIAN_MIRROR} {DEBIAN_SUITE} main\n"
            f"deb {DEBIAN_MIRROR} {DEBIAN_SUITE}-updates main\n"
            f"deb {DEBIAN_MIRROR.removesuffix('/debian')}/debian-security {DEBIAN_SUITE}-security main\n"
        )
        subprocess.run(
            ["rm", "-rf", str(rootfs / "var/cache/apt/archives"), str(rootfs / "var/lib/apt/lists")], check=True
        )
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        docker(
            env,
            "import",
            "--change",
            f"LABEL {STANDIN_LABEL}=base",
            "--change",
            'CMD ["bash"]',
            "-",
            BASE_IMAGE,
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tar.wait()
    say(f"{BASE_IMAGE} imported ({time.monotonic() - started:.0f} s)")


def trust_host_certificates(rootfs: Path) -> None:
    """The host's CA store, so that apt and pip in every image work behind a TLS-inspecting proxy.

    As a local certificate it survives ca-certificates' own update-ca-certificates, which
    rebuilds /etc/ssl/certs/ca-certificates.crt and appends /usr/local/share/ca-certificates/*.crt.
    pip reads that bundle through /etc/pip.conf (by default it trusts only its own copy).
    """
    host_bundle = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
    if not host_bundle.is_file():
        return
    local = rootfs / "usr/local/share/ca-certificates"
    local.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(host_bundle, local / "host-ca-certificates.crt")
    (rootfs / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(host_bundle, rootfs / "etc/ssl/certs/ca-certificates.crt")
    (rootfs / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")


def build_context(name: str, scratch: Path) -> Path:
    """The stand-in's folder, plus the jars and Flink files from local/fetch.py's cache."""
    context = scratch / name
    shutil.copytree(STANDINS / name, context)
    if name in ("flink-statefun", "kafka"):
        fetch.ensure_all()
    if name == "flink-statefun":
        flink = context / "flink"
        for path in [*fetch.flink_lib_dir().glob("*.jar"), *(fetch.flink_image_dir() / "lib").glob("*.jar")]:
            # the StateFun jars go in as root-owned files under the names the image gives them
            if path.name.startswith("statefun-"):
                target = context / "statefun-lib" / re.sub(r"-\d[\d.]*\.jar$", ".jar", path.name)
            else:
                target = flink / "lib" / path.name
            link_or_copy(path, target)
        shutil.copytree(fetch.flink_plugins_dir(), flink / "plugins")
        shutil.copytree(fetch.flink_image_dir() / "bin", flink / "bin")
        shutil.copytree(fetch.flink_image_dir() / "conf", flink / "conf")
        link_or_copy(fetch.bash_java_utils_jar(), flink / "bin" / "bash-java-utils.jar")
    if name == "kafka":
        for jar in fetch.kafka_libs_dir().glob("*.jar"):
            link_or_copy(jar, context / "libs" / jar.name)
    return context


def link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def build_standin(env: dict, image: str, name: str) -> None:
    ensure_base_image(env)
    started = time.monotonic()
    say(f"building the stand-in {image} from docker/standins/{name}/ ...")
    with tempfile.TemporaryDirectory(dir=cache()) as scratch:
        context = build_context(name, Path(scratch))
        # The classic builder: engine 20.10's BuildKit has no use here, and its output is a TTY UI.
        result = docker(
            {**env, "DOCKER_BUILDKIT": "0"},
            "build",
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            "--label",
            f"{STANDIN_LABEL}={standin_digest(name)}",
            "--tag",
            image,
            str(context),
            stdout=sys.stderr,
        )
    if result.returncode != 0:
        fail(f"building {image} failed (its output is above)")
    say(f"{image} built ({time.monotonic() - started:.0f} s)")


# --- entry points -----------------------------------------------------------------------------


def up() -> None:
    cache().mkdir(parents=True, exist_ok=True)
    docker_host = ensure_engine()
    env = {**os.environ, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    ensure_compose(env)
    ensure_images(env)
    if docker_host:
        print(f"export DOCKER_HOST={docker_host}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="up", choices=["up", "down-engine", "status"])
    command = parser.parse_args().command
    if command == "up":
        up()
    elif command == "down-engine":
        stop_own_engine()
    else:  # status: can this machine have an engine at all? (the Docker tests ask before they run)
        usable = answers(os.environ.get("DOCKER_HOST")) or answers(f"unix://{own_socket()}") or can_start_own_engine()
        print("available" if usable else "unavailable: no Docker engine answers, and this is not root on Linux")
        sys.exit(0 if usable else 1)


if __name__ == "__main__":
    main()
