"""What the repository itself promises: no secrets, pinned dependencies, loopback-only ports."""

import pathlib
import re
import subprocess

import rendering

ROOT = pathlib.Path(__file__).resolve().parent.parent

SECRET_PATTERNS = {
    "a private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "an AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "a password assignment": re.compile(r"(?i)\b(?:password|passwd|secret)\s*[:=]\s*['\"][^'\"]{4,}['\"]"),
}


def tracked_files():
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.splitlines() if (ROOT / name).is_file()]


def test_no_secrets_are_committed():
    found = []
    for path in tracked_files():
        if path.suffix in (".svg", ".png", ".jar"):
            continue
        text = path.read_text(errors="ignore")
        found += [
            f"{path.relative_to(ROOT)}: {what}" for what, pattern in SECRET_PATTERNS.items() if pattern.search(text)
        ]
    assert not found, found


def test_every_python_requirement_is_pinned_exactly():
    loose = []
    for requirements in [
        ROOT / "requirements-dev.txt",
        ROOT / "constraints.txt",
        *ROOT.glob("*/requirements*.txt"),
        *ROOT.glob("tools/requirements*.txt"),
    ]:
        for line in requirements.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r") and not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line):
                loose.append(f"{requirements.relative_to(ROOT)}: {line}")
    assert not loose, loose


def test_the_local_mode_binds_its_services_to_loopback():
    flink = rendering.local_only_flink_settings()
    for setting in ("rest.bind-address", "jobmanager.bind-host", "taskmanager.bind-host"):
        assert flink[setting] == "127.0.0.1", setting
    listeners = rendering.kafka_settings()["listeners"].split(",")
    assert listeners == ["PLAINTEXT://127.0.0.1:9092", "CONTROLLER://127.0.0.1:9093"]


def test_one_uv_and_one_protobuf_override_wherever_python_worker_is_installed():
    """make setup, the python-worker image and the benchmarks resolve python-worker alike."""
    installers = {
        path: (ROOT / path).read_text() for path in ("Makefile", "statefun-functions/Dockerfile", "bench/run.sh")
    }
    uv_versions = {
        path: set(re.findall(r"uv==([\d.]+)|UV_VERSION := ([\d.]+)", text)) for path, text in installers.items()
    }
    flat = {path: {v for pair in found for v in pair if v} for path, found in uv_versions.items()}
    assert len(set().union(*flat.values())) == 1 and all(flat.values()), flat
    for path, text in installers.items():
        assert "protobuf-override.txt" in text, f"{path} installs python-worker without the protobuf override"
    override = (ROOT / "statefun-functions" / "protobuf-override.txt").read_text()
    pinned = (ROOT / "statefun-functions" / "requirements.txt").read_text()
    assert re.search(r"^protobuf==[\d.]+$", override, re.M).group() in pinned
