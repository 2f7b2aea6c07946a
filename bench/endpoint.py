"""Endpoint benchmark: the python-worker alone, over HTTP, against the playground baseline.

    bench/.venv-fast/bin/python bench/endpoint.py [--duration 10] [--rounds 3] [--connections 16]

For every server variant and batch size it starts the server on its own port (18000+), warms
it up, then runs wrk (its own process, one thread, N keep-alive connections) POSTing the
requests of bench/requests.py. Variants run interleaved, round after round, so that the
baseline and the others share the same machine conditions; each cell reports the median and
the spread (min..max) of the rounds. Results: bench/results/endpoint.json.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
import urllib.request

import psutil

BENCH = pathlib.Path(__file__).resolve().parent
ROOT = BENCH.parent
PINNED = str(BENCH / ".venv-pinned" / "bin" / "python")  # protobuf 3.20.3, as the SDK pins it
FAST = str(BENCH / ".venv-fast" / "bin" / "python")  # protobuf upb via the override
SHIPPED = str(ROOT / ".venv" / "bin" / "python")  # what `make setup` installs: protobuf upb and uvloop

# name: (python, script, extra environment)
VARIANTS = {
    "naive (playground, pb 3.20.3, 1 proc)": (PINNED, "bench/naive_server.py", {}),
    "server.py, pb 3.20.3, 1 proc": (PINNED, "statefun-functions/main.py", {"WORKERS": "1"}),
    "server.py, pb 3.20.3, 2 procs": (PINNED, "statefun-functions/main.py", {"WORKERS": "2"}),
    "server.py, pb upb, 1 proc": (FAST, "statefun-functions/main.py", {"WORKERS": "1", "EVENT_LOOP": "asyncio"}),
    "server.py, pb upb, 2 procs": (FAST, "statefun-functions/main.py", {"WORKERS": "2", "EVENT_LOOP": "asyncio"}),
    "server.py, pb upb, uvloop, 1 proc": (FAST, "statefun-functions/main.py", {"WORKERS": "1", "EVENT_LOOP": "uvloop"}),
    "server.py, pb upb, uvloop, 2 procs": (
        FAST,
        "statefun-functions/main.py",
        {"WORKERS": "2", "EVENT_LOOP": "uvloop"},
    ),
    # Issue 23's probe: the same handler behind aiohttp's low-level server (no application, no router).
    "low-level server probe, pb upb, uvloop, 1 proc": (
        FAST,
        "bench/lowlevel_server.py",
        {"PYTHONPATH": str(ROOT / "statefun-functions")},
    ),
    # Issue 24's cost: the same worker before it counted each invocation for Prometheus
    # (statefun-functions/ at BEFORE_METRICS, exported into bench/out by before_metrics()).
    "before metrics, pb upb, uvloop, 1 proc": (
        FAST,
        "bench/out/before-metrics/statefun-functions/main.py",
        {"WORKERS": "1", "EVENT_LOOP": "uvloop"},
    ),
    # `python main.py` with nothing set: the defaults users get (processes sized to the machine).
    "python main.py as shipped": (SHIPPED, "statefun-functions/main.py", {}),
}
DEFAULT_VARIANTS = [
    "naive (playground, pb 3.20.3, 1 proc)",
    "server.py, pb 3.20.3, 2 procs",
    "server.py, pb upb, 1 proc",
    "server.py, pb upb, 2 procs",
    "server.py, pb upb, uvloop, 1 proc",
    "server.py, pb upb, uvloop, 2 procs",
    "python main.py as shipped",
]
SHORT_VARIANTS = ["naive (playground, pb 3.20.3, 1 proc)", "python main.py as shipped"]
BEFORE_METRICS = "717834e"  # the last commit before metrics.py


def before_metrics() -> None:
    """statefun-functions/ as it was at BEFORE_METRICS, from git, once."""
    target = BENCH / "out" / "before-metrics"
    if not (target / "statefun-functions" / "main.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BEFORE_METRICS, "statefun-functions"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)


def start(variant: str, port: int) -> subprocess.Popen:
    python, script, extra = VARIANTS[variant]
    if script.startswith("bench/out/before-metrics/"):
        before_metrics()
    environment = {
        **os.environ,
        "PORT": str(port),
        "FRAUD_THRESHOLD": "-1",
        "LOG_LEVEL": "WARNING",
        "MERCHANT_SERVICE_URL": "http://127.0.0.1:9",
        **extra,
    }
    if script == "bench/naive_server.py":
        cwd = ROOT
    elif script.endswith("/main.py"):
        cwd = (ROOT / script).parent  # the functions' own folder, as users run them
    else:
        cwd = ROOT / "statefun-functions"
    server = subprocess.Popen(
        [python, str(ROOT / script)], cwd=cwd, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    body = (BENCH / "out" / "corpus" / "b1" / "bodies.bin").read_bytes()
    first = int((BENCH / "out" / "corpus" / "b1" / "index.txt").read_text().split()[0])
    deadline = time.monotonic() + 30
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/statefun",
                data=body[:first],
                headers={"Content-Type": "application/octet-stream"},
            )
            urllib.request.urlopen(request, timeout=2).read()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{variant} did not start: {server.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.2)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def cpu_seconds(server: subprocess.Popen) -> float:
    process = psutil.Process(server.pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def wrk(port: int, batch: int, seconds: float, connections: int) -> dict:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--latency",
        "-s",
        str(BENCH / "wrk-statefun.lua"),
        f"http://127.0.0.1:{port}/statefun",
        "--",
        str(BENCH / "out" / "corpus" / f"b{batch}"),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def measure(variant: str, port: int, batch: int, seconds: float, connections: int) -> dict:
    meta = json.loads((BENCH / "out" / "corpus" / f"b{batch}" / "meta.json").read_text())
    server = start(variant, port)
    try:
        wrk(port, batch, 2, connections)  # warm-up
        cpu_before = cpu_seconds(server)
        result = wrk(port, batch, seconds, connections)
        cpu = cpu_seconds(server) - cpu_before
    finally:
        stop(server)
    duration = result["duration_us"] / 1e6
    assert result["non_200"] == 0 and result["socket_errors"] == 0, (variant, result)
    return {
        "variant": variant,
        "batch": batch,
        "connections": connections,
        "requests_per_s": result["requests"] / duration,
        "invocations_per_s": result["requests"] * meta["invocations_per_request"] / duration,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "server_cpu_cores": cpu / duration,
        "load_before": os.getloadavg()[0],
    }


def summarize(runs: list[dict]) -> list[dict]:
    cells = {}
    for run in runs:
        cells.setdefault((run["variant"], run["batch"]), []).append(run)
    table = []
    for (variant, batch), group in cells.items():
        rates = [r["invocations_per_s"] for r in group]
        baseline = [r["invocations_per_s"] for r in runs if r["batch"] == batch and r["variant"].startswith("naive")]
        table.append(
            {
                "variant": variant,
                "batch": batch,
                "rounds": len(group),
                "invocations_per_s": statistics.median(rates),
                "min": min(rates),
                "max": max(rates),
                "ratio_to_naive": statistics.median(rates) / statistics.median(baseline) if baseline else None,
                "p50_ms": statistics.median(r["p50_ms"] for r in group),
                "p99_ms": statistics.median(r["p99_ms"] for r in group),
                "server_cpu_cores": statistics.median(r["server_cpu_cores"] for r in group),
            }
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--short", action="store_true", help="baseline and best only, 1 round of 4 s")
    parser.add_argument("--variants", nargs="*", default=None)
    parser.add_argument("--out", type=pathlib.Path, default=BENCH / "results" / "endpoint.json")
    args = parser.parse_args()
    variants = args.variants or (SHORT_VARIANTS if args.short else DEFAULT_VARIANTS)
    if args.short:
        args.duration, args.rounds = 4, 1
    subprocess.run(
        [PINNED, str(BENCH / "requests.py"), str(BENCH / "out" / "corpus"), "--batch", *map(str, args.batch)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    runs = []
    for round_ in range(args.rounds):
        for batch in args.batch:
            for index, variant in enumerate(variants):
                run = measure(variant, 18000 + index, batch, args.duration, args.connections)
                run["round"] = round_
                runs.append(run)
                print(
                    f"round {round_} batch {batch:2d} {variant:40s} {run['invocations_per_s']:9.0f} inv/s "
                    f"p50 {run['p50_ms']:6.2f} ms p99 {run['p99_ms']:6.2f} ms cpu {run['server_cpu_cores']:.2f}",
                    flush=True,
                )
    table = summarize(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                "duration_s": args.duration,
                "connections": args.connections,
                "runs": runs,
                "summary": table,
            },
            indent=1,
        )
    )
    print(f"\n{'variant':40s} batch  inv/s (median, min..max)   x naive   p50 ms  p99 ms  cpu")
    for row in table:
        print(
            f"{row['variant']:40s} {row['batch']:5d}  {row['invocations_per_s']:7.0f} ({row['min']:.0f}..{row['max']:.0f})"
            f"  {row['ratio_to_naive'] or 0:6.2f}   {row['p50_ms']:6.2f}  {row['p99_ms']:6.2f}  {row['server_cpu_cores']:.2f}"
        )


if __name__ == "__main__":
    main()
