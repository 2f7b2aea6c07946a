#!/usr/bin/env python3
"""The workshop without Docker: the same services as docker-compose, run by supervisord.

Run it with the repository's virtualenv python (it needs supervisor, PyYAML and kafka-python):

    .venv/bin/python local/workshop.py up [--savepoint PATH] [--no-simulator] [options, see up --help]
    .venv/bin/python local/workshop.py status
    .venv/bin/python local/workshop.py logs [SERVICE] [-f]
    .venv/bin/python local/workshop.py restart SERVICE
    .venv/bin/python local/workshop.py down [-v]

Every `up` without --savepoint resumes the newest completed checkpoint in checkpoint-dir/
(statefun-runtime/last-state.sh); `down -v`, or `make fresh` while it is down, starts empty.

Services (the docker-compose names): kafka-broker (127.0.0.1:9092, controller :9093),
master (Flink JobManager running the StateFun job; REST + web UI on 127.0.0.1:8001),
worker (Flink TaskManager; more with --taskmanagers: worker-2, ...), python-worker
(127.0.0.1:8000), merchant-service (127.0.0.1:8002), simulator, and prometheus
(127.0.0.1:9090, when a `prometheus` program is found or can be installed: monitoring.py).

Beside this file: options.py (the command line's values), layout.py (paths, ports and the
run folder), rendering.py (the runtime's, Kafka's and Prometheus's config for this machine), jvm.py (the
Java command lines), processes.py (supervisord and health checks), fetch.py (the jars),
templates/.
"""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import fetch
import jvm
import layout
import monitoring
import options
import processes
import rendering
from layout import (
    DASHBOARD,
    FLINK_REST,
    FLINK_TMP,
    FUNCTIONS,
    KAFKA_DATA,
    KAFKA_PORT,
    LOGS,
    MERCHANT_SERVICE_HEALTH,
    PROMETHEUS,
    PROMETHEUS_DATA,
    PROMETHEUS_PORT,
    PYTHON,
    PYTHON_WORKER_HEALTH,
    RUNTIME_SOURCES,
    SERVICE_PORTS,
    SERVICES,
    SUPERVISORD_CONF,
)
from processes import http_ok, port_open, running_job, supervisorctl, supervisord_pid


def up(args: argparse.Namespace) -> int:
    if supervisord_pid():
        print("Already up (run `down` first to change options). Status:")
        return status(args)
    args.taskmanagers = options.taskmanagers(args)
    if (args.parallelism or 1) > args.taskmanagers:
        sys.exit(f"--parallelism {args.parallelism} needs as many task slots: --taskmanagers {args.parallelism}")
    module_settings = rendering.module_settings(dict(os.environ))  # a bad value stops here
    metrics_ports = processes.flink_metrics_ports(args.taskmanagers)
    ports = [port for port in SERVICE_PORTS if port != PROMETHEUS_PORT] + list(metrics_ports.values())
    busy = [port for port in ports if port_open(port)]
    if busy:
        sys.exit(f"Port(s) {', '.join(map(str, busy))} on 127.0.0.1 are taken (docker compose still up?)")
    started = time.monotonic()
    savepoint = layout.resolve_savepoint(args.savepoint) if args.savepoint else None
    functions = Path(args.functions).resolve()
    if not (functions / "main.py").is_file():
        sys.exit(f"--functions {args.functions}: no main.py in that folder")
    fetch.ensure_all()
    prometheus = None if args.no_prometheus else monitoring.prometheus_program()
    if prometheus and port_open(PROMETHEUS_PORT):
        sys.exit(
            f"Port {PROMETHEUS_PORT} on 127.0.0.1 is taken (another Prometheus?); `up --no-prometheus` runs without ours"
        )
    layout.prepare_run_folder()
    rendering.render_runtime_config(Path(args.module), options.flink_settings(args), module_settings)
    rendering.render_prometheus_config(metrics_ports)
    server_properties = rendering.write_kafka_config()
    jvm.format_kafka_storage_once(server_properties)
    specs = processes.programs(
        savepoint, server_properties, functions, args.worker_python, args.taskmanagers, prometheus
    )
    SUPERVISORD_CONF.write_text(processes.supervisord_conf(specs))
    processes.start_supervisord()
    print(f"supervisord started; services log to {LOGS}/<service>.log")

    if not processes.wait_until({f"kafka-broker :{KAFKA_PORT}": lambda: port_open(KAFKA_PORT)}, started):
        return 1
    processes.create_topics(args.partitions)
    flink = supervisorctl("start", "master", *processes.workers(args.taskmanagers))
    print(flink.stdout.rstrip())
    if flink.returncode != 0:
        print(flink.stderr.rstrip())
        print(f"  {processes.last_state()}")
        return 1
    if not args.no_simulator:
        # The simulator is not needed for the runtime to be healthy: report, do not stop.
        print(supervisorctl("start", "simulator").stdout.rstrip())
    if savepoint:
        print(f"  master restores the job from {savepoint}")
    if functions != FUNCTIONS:
        print(f"  python-worker runs {functions / 'main.py'}")
    if module_settings["ALERT_DELIVERY"] not in ("", options.ALERT_DELIVERIES[0]):
        delivery = module_settings["ALERT_DELIVERY"]
        print(f"  alerts are delivered {delivery} (ALERT_DELIVERY): readers drop repeats by transaction id")
    if module_settings["CALL_TIMEOUT"]:
        timeout = module_settings["CALL_TIMEOUT"]
        print(f"  calls to python-worker may take {timeout} (CALL_TIMEOUT): a debug setting, unset it to measure")

    ready = processes.wait_until(
        {
            "python-worker /health": lambda: http_ok(PYTHON_WORKER_HEALTH),
            "merchant-service /health": lambda: http_ok(MERCHANT_SERVICE_HEALTH),
            "master: StateFun job RUNNING": lambda: running_job() is not None,
            "dashboard /health": lambda: http_ok(f"{DASHBOARD}/health"),
        },
        started,
    )
    if ready and prometheus:
        ready = start_prometheus(started)
        prometheus = prometheus if ready else None
        ready = True  # the workshop runs without it: the line above said why
    print(supervisorctl("status").stdout.rstrip())
    if not ready:
        print("Look at the logs: local/workshop.py logs <service>; stop with: local/workshop.py down")
        return 1
    job = running_job()
    print(f"  {processes.last_state()}")
    print(f"""
Up in {time.monotonic() - started:.0f} s. Job {job} is RUNNING.
  the live page     {DASHBOARD}
  Flink web UI      {FLINK_REST}
  Prometheus        {PROMETHEUS if prometheus else "not running (see above)"}
  logs              {sys.argv[0]} logs [service] [-f]   (files in {LOGS})
  savepoint         curl -X POST {FLINK_REST}/jobs/{job}/savepoints -d '{{"cancel-job": false}}'
  stop              {sys.argv[0]} down""")
    return 0


def start_prometheus(started: float) -> bool:
    """Prometheus last: Debian's package is installed now if it must be, while the job already
    runs and the simulator's first alerts come."""
    if not monitoring.install_later():
        return False
    supervisorctl("start", "prometheus")
    return processes.wait_until({"prometheus /-/ready": lambda: http_ok(f"{PROMETHEUS}/-/ready")}, started)


def down(args: argparse.Namespace) -> int:
    pid = supervisord_pid()
    if pid:
        # supervisord stops the programs in reverse priority order (simulator first, Kafka last).
        supervisorctl("shutdown")
        deadline = time.monotonic() + 90
        while supervisord_pid() and time.monotonic() < deadline:
            time.sleep(0.5)
        if supervisord_pid():
            print(f"supervisord (pid {pid}) is still stopping; check with `status`")
            return 1
    print("Stopped." if pid else "Not running.")
    if args.volumes:
        # Like `docker compose down -v`: forget Kafka's topics, Flink's scratch files and the
        # checkpoints, which only make sense with those topics (`make fresh` forgets only them).
        # savepoint-dir/ stays: savepoints are kept until you delete them, in both modes.
        for folder in (KAFKA_DATA, FLINK_TMP, PROMETHEUS_DATA):
            shutil.rmtree(folder, ignore_errors=True)
        print(f"Removed {KAFKA_DATA}, {FLINK_TMP} and {PROMETHEUS_DATA}")
        return processes.forget_checkpoints()
    return 0


def status(args: argparse.Namespace) -> int:
    if not supervisord_pid():
        print("Not running.")
        return 3
    print(supervisorctl("status").stdout.rstrip())
    job = running_job()
    print(f"StateFun job: {job + ' RUNNING' if job else 'not running'}   (web UI {FLINK_REST})")
    print(processes.last_state())
    return 0


def logs(args: argparse.Namespace) -> int:
    names = [args.service] if args.service else SERVICES + sorted(p.stem for p in LOGS.glob("worker-*.log"))
    files = [str(LOGS / f"{name}.log") for name in names if (LOGS / f"{name}.log").exists()]
    if not files:
        print(f"No logs yet in {LOGS}")
        return 1
    lines = "200" if args.service else "20"
    os.execvp("tail", ["tail", "-n", lines] + (["-F"] if args.follow else []) + files)


def restart(args: argparse.Namespace) -> int:
    return control("restart", args.service)


def stop_service(args: argparse.Namespace) -> int:
    return control("stop", args.service)


def control(action: str, service: str) -> int:
    """supervisorctl's restart or stop of one service, as `docker compose restart|stop`."""
    if not supervisord_pid():
        sys.exit("Not running: use `up`.")
    result = supervisorctl(action, service)
    print((result.stdout + result.stderr).rstrip())
    return result.returncode


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = cli.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start everything and wait until it is healthy")
    start.add_argument("--savepoint", metavar="PATH", help="start the job from this savepoint folder")
    start.add_argument("--no-simulator", action="store_true", help="do not start the simulator")
    start.add_argument(
        "--no-prometheus", action="store_true", help="do not start Prometheus (nor install it when it is missing)"
    )
    start.add_argument(
        "--module",
        metavar="YAML",
        default=str(RUNTIME_SOURCES / "module.yaml"),
        help="another module.yaml, e.g. an older version for an upgrade (default: %(default)s)",
    )
    start.add_argument(
        "--functions",
        metavar="FOLDER",
        default=str(FUNCTIONS),
        help="run python-worker from this folder's main.py, e.g. another version of the "
        "functions to upgrade to or roll back to (default: %(default)s)",
    )
    start.add_argument(
        "--checkpoint-interval",
        metavar="DURATION",
        type=options.duration,
        help=f"checkpoint this often, e.g. 10s (default: flink-conf.yaml's, "
        f"{layout.flink_conf()['execution.checkpointing.interval']})",
    )
    start.add_argument(
        "--flink-setting",
        metavar="KEY=VALUE",
        type=options.flink_setting,
        action="append",
        default=[],
        help="a flink-conf.yaml setting over the shipped file's (repeatable; the last one wins)",
    )
    start.add_argument(
        "--taskmanagers",
        metavar="N",
        type=options.at_least_one,
        help="TaskManagers to run: worker, worker-2, ... (one task slot each; default: the parallelism)",
    )
    start.add_argument(
        "--parallelism",
        metavar="P",
        type=options.at_least_one,
        help="the job's parallelism, at most --taskmanagers (default: flink-conf.yaml's, 1)",
    )
    start.add_argument(
        "--partitions",
        metavar="K",
        type=options.at_least_one,
        default=1,
        help="partitions of each topic, when it is created (default 1; `down -v` forgets topics)",
    )
    start.add_argument(
        "--worker-python",
        metavar="PATH",
        type=options.executable,
        default=PYTHON,
        help="the interpreter python-worker runs with (default: this one, %(default)s)",
    )
    start.set_defaults(run=up)
    stop = commands.add_parser("down", help="stop everything")
    stop.add_argument(
        "-v",
        "--volumes",
        action="store_true",
        help="also delete Kafka's data (topics, offsets), the checkpoints (the next up starts with empty "
        "state), Flink's scratch files and Prometheus's data",
    )
    stop.set_defaults(run=down)
    commands.add_parser("status", help="show what runs").set_defaults(run=status)
    show = commands.add_parser("logs", help="show a service's log (all services without one)")
    show.add_argument("service", nargs="?", type=options.service)
    show.add_argument("-f", "--follow", action="store_true")
    show.set_defaults(run=logs)
    again = commands.add_parser("restart", help="restart one service")
    again.add_argument("service", type=options.service)
    again.set_defaults(run=restart)
    halt = commands.add_parser("stop", help="stop one service (`up` again, or `restart`, starts it)")
    halt.add_argument("service", type=options.service)
    halt.set_defaults(run=stop_service)
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
