"""docker/ready.py without an engine: which images it must provide, and from what."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("ready", ROOT / "docker" / "ready.py")
ready = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ready)


def test_every_image_the_workshop_needs_has_a_stand_in_and_no_stand_in_is_unused():
    assert sorted(ready.needed_images()) == sorted(ready.STANDIN_FOR)


def test_each_stand_in_folder_builds_on_the_debootstrapped_base():
    for folder in ready.STANDIN_FOR.values():
        dockerfile = (ready.STANDINS / folder / "Dockerfile").read_text()
        assert "ARG BASE\nFROM ${BASE}\n" in dockerfile, folder


def test_a_changed_stand_in_file_changes_its_digest(tmp_path, monkeypatch):
    folder = tmp_path / "python"
    folder.mkdir()
    (folder / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.setattr(ready, "STANDINS", tmp_path)
    before = ready.standin_digest("python")
    (folder / "Dockerfile").write_text('FROM scratch\nCMD ["python3"]\n')
    assert ready.standin_digest("python") != before


def test_no_stand_in_names_one_machine_architecture():
    """docs/platforms.md: the same Dockerfiles build on arm64 (Debian's JDK folders end in the architecture)."""
    for dockerfile in (ROOT / "docker" / "standins").glob("*/Dockerfile"):
        text = dockerfile.read_text()
        for architecture in ("amd64", "x86_64", "arm64", "aarch64"):
            assert architecture not in text, f"{dockerfile.parent.name}'s Dockerfile names {architecture}"
