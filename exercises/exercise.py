"""The workshop's exercises: starting points, checks that guide you, and the reference answers.

    make exercise                          the exercises, one per line
    make exercise NAME=rolling-window      put its starting point in place
    make check-exercise NAME=...           run its checks: a hint for each one that fails
    make solution NAME=...                 show the reference answer, as a diff from the starting point
    make solution NAME=... RESTORE=1       put the reference answer back (your attempt is stashed)

Each exercise is a folder beside this file: start.patch, the starting point (this
repository's code, which is the reference answer, with the feature taken out), and
checks.py, the behaviour the checks look for. So the answer exists once: in
statefun-functions/main.py (and statefun-runtime/module.yaml).
"""

import argparse
import asyncio
import importlib.util
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def names() -> list[str]:
    return sorted(folder.name for folder in HERE.iterdir() if (folder / "start.patch").exists())


def patch_of(name: str) -> Path:
    if name not in names():
        sys.exit(f"no exercise {name!r}; the exercises are: {', '.join(names())}")
    return HERE / name / "start.patch"


def files_of(patch: Path) -> list[str]:
    return re.findall(r"^\+\+\+ b/(\S+)", patch.read_text(), flags=re.MULTILINE)


def git(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=check)


def applies(patch: Path, reverse: bool = False) -> bool:
    return git("apply", "--check", *(["-R"] if reverse else []), str(patch)).returncode == 0


def edited(files: list[str]) -> bool:
    """Uncommitted changes (staged or not) in any of `files`."""
    return git("diff", "--quiet", "HEAD", "--", *files).returncode != 0


def start(name: str) -> int:
    patch = patch_of(name)
    files = files_of(patch)
    if applies(patch, reverse=True):
        print(f"The starting point of {name} is already in place: edit {', '.join(files)}.")
        return 0
    if edited(files):
        print(
            f"{', '.join(files)} has edits of yours that the starting point would overwrite.\n"
            f"Commit them, or put them aside with `git stash`, then run this again."
        )
        return 1
    if not applies(patch):
        print(
            f"The starting point of {name} does not apply to {', '.join(files)} as committed: is another\n"
            f"exercise in place? Put its answer back first: make solution NAME=<it> RESTORE=1"
        )
        return 1
    git("apply", str(patch), check=True)
    print(
        f"The starting point of {name} is in place: edit {', '.join(files)}.\n"
        f"Check your work with: make check-exercise NAME={name}"
    )
    return 0


def show_solution(name: str) -> int:
    """The reference answer, as the change from the starting point to it."""
    print(reversed_patch(patch_of(name).read_text()), end="")
    return 0


def reversed_patch(text: str) -> str:
    """A unified diff turned around: what it adds, it removes, and the other way round."""
    swapped = {"+": "-", "-": "+"}
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("--- a/", "+++ b/")):
            out.append(line)  # the same file on both sides
        elif line.startswith("@@"):
            old, new = re.match(r"@@ -(\S+) \+(\S+) @@", line).groups()
            out.append(f"@@ -{new} +{old} @@" + line[line.index("@@", 2) + 2 :])
        elif line[:1] in swapped:
            out.append(swapped[line[0]] + line[1:])
        else:
            out.append(line)
    return "".join(out)


def restore(name: str) -> int:
    patch = patch_of(name)
    files = files_of(patch)
    if edited(files) and not exactly_the_starting_point(patch, files):
        # An attempt under way: keep it in the stash instead of throwing it away.
        git("stash", "push", "--message", f"exercise {name}: your attempt", "--", *files, check=True)
        print(f"Your attempt is kept in the stash: `git stash list` shows it as 'exercise {name}: your attempt'.")
    if edited(files):  # the untouched starting point, over the committed answer
        git("apply", "-R", str(patch), check=True)
    elif not applies(patch):  # not the committed answer: a committed starting point, perhaps
        if not applies(patch, reverse=True):
            print(
                f"{', '.join(files)} as committed is neither the starting point of {name} nor its answer:\n"
                f"restore it with `git checkout <a commit> -- {' '.join(files)}`."
            )
            return 1
        git("apply", "-R", str(patch), check=True)
    print(f"The reference answer of {name} is in place.")
    return 0


def exactly_the_starting_point(patch: Path, files: list[str]) -> bool:
    """The files are the starting point as `start` made it from the committed answer."""
    with tempfile.TemporaryDirectory() as scratch:
        for name in files:
            (Path(scratch) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(scratch) / name).write_text(git("show", f"HEAD:{name}", check=True).stdout)
        if subprocess.run(["git", "apply", str(patch)], cwd=scratch, capture_output=True).returncode != 0:
            return False
        return all((Path(scratch) / name).read_text() == (REPO / name).read_text() for name in files)


def check(name: str, upgrade: bool) -> int:
    patch_of(name)
    spec = importlib.util.spec_from_file_location(f"checks_{name.replace('-', '_')}", HERE / name / "checks.py")
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    failed = 0
    for one in checks.CHECKS:
        problem = asyncio.run(one.outcome())
        if problem is None:
            print(f"  ok    {one.behaviour}")
        else:
            failed += 1
            print(f"  FAIL  {one.behaviour}")
            print(textwrap.fill(one.hint, width=100, initial_indent="        hint: ", subsequent_indent=" " * 14))
            print(f"        (what happened: {problem})")
    if upgrade and hasattr(checks, "upgrade_on_the_real_runtime"):
        failed += checks.upgrade_on_the_real_runtime()
    total = len(checks.CHECKS)
    print(
        f"\n{name}: {total - failed} of {total} checks pass."
        if not failed
        else f"\n{name}: {failed} check(s) to go. Edit, then run `make check-exercise NAME={name}` again."
    )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the exercises, one per line")
    for command, text in (
        ("start", "put an exercise's starting point in place"),
        ("solution", "show an exercise's reference answer"),
        ("check", "run an exercise's checks"),
    ):
        sub = commands.add_parser(command, help=text)
        sub.add_argument("name")
        if command == "solution":
            sub.add_argument("--restore", action="store_true", help="put the reference answer in place")
        if command == "check":
            sub.add_argument(
                "--upgrade",
                action="store_true",
                help="also the stateful upgrade on the real runtime, where the exercise has one",
            )
    args = parser.parse_args()
    if args.command == "list":
        print("\n".join(names()))
        return 0
    if args.command == "start":
        return start(args.name)
    if args.command == "solution":
        return restore(args.name) if args.restore else show_solution(args.name)
    return check(args.name, args.upgrade)


if __name__ == "__main__":
    sys.exit(main())
