"""A copy of the repository to run commands in, so that they never touch the checkout."""

import pathlib
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent


def copy_of_the_repository(target: pathlib.Path) -> pathlib.Path:
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def scratch_repository(target: pathlib.Path) -> pathlib.Path:
    """A copy of the repository (as its files are now, edits included) that is a git
    repository of its own, with everything committed: what a fresh clone looks like."""
    copy_of_the_repository(target)
    identity = ["-c", "user.name=workshop tests", "-c", "user.email=tests@workshop.invalid"]
    for command in (["init", "--quiet"], ["add", "--all"], [*identity, "commit", "--quiet", "-m", "scratch"]):
        subprocess.run(["git", *command], cwd=target, check=True, capture_output=True)
    return target
