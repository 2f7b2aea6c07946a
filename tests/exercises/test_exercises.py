"""The exercises as an attendee meets them, in a scratch repository (a copy of this one, all
committed): each starting point applies and fails its checks with a hint for each failing
one, its reference answer passes them, and switching back and forth leaves the tree clean."""

import os
import re
import subprocess
import sys

import pytest

from scratch import ROOT, scratch_repository

EXERCISES = sorted(folder.name for folder in (ROOT / "exercises").iterdir() if (folder / "start.patch").exists())


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    return scratch_repository(tmp_path_factory.mktemp("repository"))


@pytest.fixture
def attendee(repository):
    """Runs exercise.py in the scratch repository; leaves the tree as committed afterwards."""

    def run(*args: str) -> subprocess.CompletedProcess:
        folders = ("statefun-functions", "simulator", "tests", "tests/e2e")
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(str(repository / f) for f in folders)}
        return subprocess.run(
            [sys.executable, "exercises/exercise.py", *args],
            cwd=repository,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    yield run
    subprocess.run(["git", "checkout", "--", "."], cwd=repository, check=True)


def status(repository) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=repository, capture_output=True, text=True).stdout


def test_make_exercise_lists_the_exercises_one_per_line(repository):
    listed = subprocess.run(["make", "-s", "exercise"], cwd=repository, capture_output=True, text=True, check=True)
    assert listed.stdout.split("\n") == [*EXERCISES, ""]
    assert EXERCISES == ["model", "rolling-window", "thresholds"]


@pytest.mark.parametrize("name", EXERCISES)
@pytest.mark.slow
def test_a_starting_point_fails_its_checks_with_hints_and_its_answer_passes_them(attendee, repository, name):
    assert attendee("start", name).returncode == 0
    assert status(repository), "the starting point changed nothing"

    checked = attendee("check", name)
    failing = re.findall(r"^  FAIL  (.+)$", checked.stdout, flags=re.MULTILINE)
    print(f"\n{name}: {len(failing)} failing check(s) at the starting point:\n{checked.stdout}")
    assert checked.returncode == 1
    assert failing, checked.stdout + checked.stderr
    assert checked.stdout.count("\n        hint: ") == len(failing), "a failing check without its hint"
    assert "Traceback" not in checked.stdout + checked.stderr

    assert attendee("solution", name, "--restore").returncode == 0
    assert status(repository) == "", "the answer is not the committed code"
    passed = attendee("check", name)
    assert passed.returncode == 0, passed.stdout
    assert "FAIL" not in passed.stdout

    assert attendee("start", name).returncode == 0
    assert attendee("solution", name, "--restore").returncode == 0
    assert status(repository) == ""


@pytest.mark.parametrize("name", EXERCISES)
def test_the_answer_shown_turns_the_starting_point_into_the_answer(attendee, repository, name):
    attendee("start", name)
    shown = attendee("solution", name)
    subprocess.run(["git", "apply"], input=shown.stdout, cwd=repository, text=True, check=True)
    assert status(repository) == ""


def test_a_starting_point_never_overwrites_edits(attendee, repository):
    main = repository / "statefun-functions" / "main.py"
    main.write_text(main.read_text() + "# my own idea\n")

    refused = attendee("start", "model")

    assert refused.returncode == 1
    assert "git stash" in refused.stdout
    assert main.read_text().endswith("# my own idea\n")


def test_restoring_the_answer_keeps_an_attempt_in_the_stash(attendee, repository):
    attendee("start", "model")
    main = repository / "statefun-functions" / "main.py"
    main.write_text(main.read_text() + "# my attempt\n")

    assert attendee("solution", "model", "--restore").returncode == 0

    assert status(repository) == ""
    stashed = subprocess.run(["git", "stash", "list"], cwd=repository, capture_output=True, text=True).stdout
    assert "exercise model: your attempt" in stashed
