"""What the repository itself promises: no secrets, pinned dependencies, loopback-only ports."""

import pathlib
import re
import subprocess

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
        found += [f"{path.relative_to(ROOT)}: {what}" for what, pattern in SECRET_PATTERNS.items()
                  if pattern.search(text)]
    assert not found, found


def test_every_python_requirement_is_pinned_exactly():
    loose = []
    for requirements in [ROOT / "requirements-dev.txt", ROOT / "constraints.txt", *ROOT.glob("*/requirements*.txt"),
                         *ROOT.glob("tools/requirements*.txt")]:
        for line in requirements.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r") and not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line):
                loose.append(f"{requirements.relative_to(ROOT)}: {line}")
    assert not loose, loose


def test_the_local_mode_binds_its_services_to_loopback():
    text = (ROOT / "local" / "workshop.py").read_text()
    for setting in ("rest.bind-address", "jobmanager.bind-host", "taskmanager.bind-host"):
        assert re.search(rf'"{re.escape(setting)}": "127\.0\.0\.1"', text), setting
    assert "PLAINTEXT://127.0.0.1:" in text and "CONTROLLER://127.0.0.1:" in text
