"""local/workshop.py, with the two knobs the end-to-end benchmark turns.

    .venv/bin/python bench/launch.py up --no-simulator     (any workshop.py command)

BENCH_CHECKPOINT_INTERVAL (e.g. 500ms) overrides execution.checkpointing.interval, and
BENCH_WORKER_PYTHON runs python-worker with another interpreter (the upb venv); WORKERS and
FRAUD_THRESHOLD reach python-worker through the environment as usual. Nothing in
local/workshop.py changes: this wraps its config and program functions. BENCHMARKS.md
proposes the same env var, read in local_only_flink_settings(), as a launcher option.
"""
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "local"))
import workshop  # noqa: E402

_settings, _programs = workshop.local_only_flink_settings, workshop.programs


def local_only_flink_settings():
    settings = _settings()
    if os.environ.get("BENCH_CHECKPOINT_INTERVAL"):
        settings["execution.checkpointing.interval"] = os.environ["BENCH_CHECKPOINT_INTERVAL"]
    return settings


def programs(*args, **kwargs):
    specs = _programs(*args, **kwargs)
    if os.environ.get("BENCH_WORKER_PYTHON"):
        command = specs["python-worker"]["command"]
        specs["python-worker"]["command"] = [os.environ["BENCH_WORKER_PYTHON"], *command[1:]]
    return specs


workshop.local_only_flink_settings = local_only_flink_settings
workshop.programs = programs
sys.argv[0] = str(pathlib.Path(workshop.__file__))
sys.exit(workshop.main())
