"""local/workshop.py, with the knobs the end-to-end benchmark turns.

    .venv/bin/python bench/launch.py up --no-simulator     (any workshop.py command)

BENCH_FLINK_SETTINGS (a JSON object, e.g. '{"execution.checkpointing.interval": "2s"}') is
appended to the rendered flink-conf.yaml (later keys win), and BENCH_WORKER_PYTHON runs
python-worker with another interpreter (the pinned venv); WORKERS and FRAUD_THRESHOLD reach
python-worker through the environment as usual. A changed module.yaml goes through
workshop.py's own `up --module`. Nothing in local/workshop.py changes: this wraps its config
and program functions.
"""
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "local"))
import workshop  # noqa: E402

_settings, _programs = workshop.local_only_flink_settings, workshop.programs


def local_only_flink_settings():
    return {**_settings(), **json.loads(os.environ.get("BENCH_FLINK_SETTINGS") or "{}")}


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
