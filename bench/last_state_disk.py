"""How big checkpoint-dir/ grows when every start resumes the last state (issue 35, item 4).

    .venv/bin/python bench/last_state_disk.py [--minutes 60] [--restarts 10]

Runs the Docker-free workshop with the simulator's traffic for --minutes, restarted --restarts
times at even intervals, each restart a different one of the ways an attendee restarts it
(`down` + `up`, an `up` with CALL_TIMEOUT, kill -9 of the JobManager, kill -9 of the
TaskManager). Every 15 s it notes the folder's size and how many jobs' folders it holds;
at the end it prints the largest of each and writes bench/results/last-state-disk.json.
Needs the workshop down when it starts, and leaves it down. Not part of `make test`.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "local"))
from layout import CHECKPOINT_DIR, REPO, SUPERVISORD_CONF  # noqa: E402

LAUNCHER = [sys.executable, str(REPO / "local" / "workshop.py")]
SAMPLE_SECONDS = 15


def launcher(*args: str, **environment: str) -> None:
    result = subprocess.run([*LAUNCHER, *args], env={**os.environ, **environment}, capture_output=True, text=True)
    said = [line.strip() for line in result.stdout.splitlines() if "last-state:" in line]
    print(
        f"  $ {' '.join(f'{k}={v}' for k, v in environment.items())} workshop.py {' '.join(args)}: "
        f"exit {result.returncode} {said[-1] if said else ''}",
        flush=True,
    )
    if result.returncode != 0:
        sys.exit(result.stdout[-2000:])


def kill_9(service: str) -> None:
    pid = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(SUPERVISORD_CONF), "pid", service],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    os.kill(int(pid), signal.SIGKILL)
    print(f"  kill -9 {service} ({pid}); supervisord starts it again", flush=True)


def restart(number: int) -> None:
    kind = number % 4
    if kind == 0:
        launcher("down")
        launcher("up")
    elif kind == 1:
        launcher("down")
        launcher("up", CALL_TIMEOUT="3min")
    elif kind == 2:
        kill_9("master")
    else:
        kill_9("worker")


def sample() -> dict:
    total = sum(path.stat().st_size for path in CHECKPOINT_DIR.rglob("*") if path.is_file())
    jobs = [path for path in CHECKPOINT_DIR.iterdir() if path.is_dir()]
    checkpoints = list(CHECKPOINT_DIR.glob("*/chk-*"))
    return {"bytes": total, "jobs": len(jobs), "chk_folders": len(checkpoints)}


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--minutes", type=float, default=60)
    cli.add_argument("--restarts", type=int, default=10)
    args = cli.parse_args()
    launcher("up")
    started = time.monotonic()
    period = args.minutes * 60 / (args.restarts + 1)
    samples, done = [], 0
    while (elapsed := time.monotonic() - started) < args.minutes * 60:
        if done < args.restarts and elapsed >= period * (done + 1):
            restart(done)
            done += 1
        samples.append({"seconds": round(elapsed), "restarts": done, **sample()})
        print(f"  [{elapsed / 60:5.1f} min] {samples[-1]}", flush=True)
        time.sleep(SAMPLE_SECONDS)
    launcher("down")
    summary = {
        "minutes": args.minutes,
        "restarts": done,
        "largest_bytes": max(s["bytes"] for s in samples),
        "most_jobs": max(s["jobs"] for s in samples),
        "most_chk_folders": max(s["chk_folders"] for s in samples),
        "last": samples[-1],
    }
    print(json.dumps(summary, indent=2))
    output = REPO / "bench" / "results" / "last-state-disk.json"
    output.write_text(json.dumps({"summary": summary, "samples": samples}, indent=1) + "\n")
    print(f"written to {output}")


if __name__ == "__main__":
    main()
