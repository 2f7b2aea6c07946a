"""The launcher's command-line values: checked as they are parsed, with what is expected."""

import argparse
import os
import re
import shutil

from layout import SERVICES

# ALERT_DELIVERY's values: module.yaml's Kafka egress delivery (statefun-runtime/module-settings.sh
# writes it there and refuses any other; a test checks that the two lists agree).
ALERT_DELIVERIES = ("exactly-once", "at-least-once")


def flink_settings(args: argparse.Namespace) -> dict[str, str]:
    """What the command line adds to flink-conf.yaml; --flink-setting comes last and wins."""
    settings = {}
    if args.parallelism:
        settings["parallelism.default"] = str(args.parallelism)
    if args.checkpoint_interval:
        settings["execution.checkpointing.interval"] = args.checkpoint_interval
    settings.update(args.flink_setting)
    return settings


# What the launcher itself decides, and polls: ports and addresses (layout.py, rendering.py).
OWNED_BY_THE_LAUNCHER = {
    "rest.port",
    "rest.address",
    "rest.bind-address",
    "jobmanager.rpc.port",
    "jobmanager.rpc.address",
    "jobmanager.bind-host",
    "blob.server.port",
    "taskmanager.bind-host",
    "taskmanager.host",
    "statefun.remote.module-name",
    "state.checkpoints.dir",
    "state.savepoints.dir",
}


def flink_setting(text: str) -> tuple[str, str]:
    """KEY=VALUE, as flink-conf.yaml would have it: 'key: value'."""
    key, equals, value = (part.strip() for part in text.partition("="))
    if not equals or not re.fullmatch(r"[a-zA-Z0-9._-]+", key) or not value:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE, e.g. state.backend=hashmap")
    if key in OWNED_BY_THE_LAUNCHER:
        raise argparse.ArgumentTypeError(f"{key} is set by the launcher itself (ports, addresses, folders)")
    return key, value


def executable(path: str) -> str:
    if not (shutil.which(path) or (os.path.isfile(path) and os.access(path, os.X_OK))):
        raise argparse.ArgumentTypeError(f"{path!r} is not an executable program")
    return path


def at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def duration(text: str) -> str:
    if not re.fullmatch(r"\d+\s*(ms|s|min|m|h|d)", text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 10s, 500ms or 2min")
    return text.strip()


def service(name: str) -> str:
    """A service of compose's, or one of the extra TaskManagers (worker-2, ...)."""
    if name not in SERVICES and not re.fullmatch(r"worker-[2-9]\d*", name):
        raise argparse.ArgumentTypeError(f"{name!r} is not one of {', '.join(SERVICES)} (or worker-2, ...)")
    return name


def taskmanagers(args: argparse.Namespace) -> int:
    """--taskmanagers, else one per unit of --parallelism: each has one task slot
    (flink-conf.yaml), as docker-compose.yml's worker replicas do."""
    return args.taskmanagers or args.parallelism or 1
