"""bench/results/*.json -> bench/benchmarks.png (and a Markdown table on stdout).

    bench/.venv-fast/bin/python bench/plot.py [--e2e results/e2e-fast.json ...] [--endpoint results/endpoint.json]
"""

import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BENCH = pathlib.Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--e2e", type=pathlib.Path, nargs="*", default=None)
    parser.add_argument("--endpoint", type=pathlib.Path, default=BENCH / "results" / "endpoint.json")
    parser.add_argument("--out", type=pathlib.Path, default=BENCH / "benchmarks.png")
    args = parser.parse_args()
    e2e_files = args.e2e if args.e2e is not None else sorted((BENCH / "results").glob("e2e-*.json"))
    figure, (throughput, latency, endpoint) = plt.subplots(1, 3, figsize=(17, 5))

    for path in e2e_files:
        data = json.loads(path.read_text())
        label_worker = f"{data['worker']} worker x{data['workers']}"
        for interval in data["intervals"]:
            steps = interval["steps"]
            offered = [s["offered_rate"] for s in steps]
            label = f"checkpoint {interval['interval']}, {label_worker}"
            line, = throughput.plot(offered, [s["throughput"] for s in steps], "o-", label=label)
            latency.plot(offered, [s["p99_s"] for s in steps], "o-", color=line.get_color(), label=f"p99, {label}")
            latency.plot(offered, [s["p50_s"] for s in steps], "x--", color=line.get_color(), alpha=0.6,
                         label=f"p50, {label}")
            print(f"| {label} | " + " | ".join(
                f"{s['offered_rate']}: {s['throughput']:.0f}/s p50 {s['p50_s']:.2f} s p99 {s['p99_s']:.2f} s"
                for s in steps) + " |")
    if e2e_files:
        top = max(max(s["offered_rate"] for i in json.loads(p.read_text())["intervals"] for s in i["steps"])
                  for p in e2e_files)
        throughput.plot([0, top], [0, top], ":", color="grey", label="offered = sustained")
    throughput.set(title="End to end: sustained alerts/s", xlabel="offered load (transactions/s)",
                   ylabel="alerts/s (every transaction alerts)")
    throughput.legend(fontsize=7)
    latency.set(title="End to end: produce -> alert latency (read_committed)", xlabel="offered load (transactions/s)",
                ylabel="seconds", yscale="log")
    latency.legend(fontsize=6)

    if args.endpoint.exists():
        data = json.loads(args.endpoint.read_text())
        rows = data["summary"]
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        batches = sorted({r["batch"] for r in rows})
        width = 0.8 / len(batches)
        for offset, batch in enumerate(batches):
            values = [next((r["invocations_per_s"] for r in rows if r["variant"] == v and r["batch"] == batch), 0)
                      for v in variants]
            errors = [[v - next((r["min"] for r in rows if r["variant"] == name and r["batch"] == batch), v)
                       for v, name in zip(values, variants)],
                      [next((r["max"] for r in rows if r["variant"] == name and r["batch"] == batch), v) - v
                       for v, name in zip(values, variants)]]
            endpoint.barh([i + offset * width for i in range(len(variants))], values, height=width, xerr=errors,
                          label=f"batch {batch}")
        endpoint.set_yticks([i + width / 2 for i in range(len(variants))], variants, fontsize=7)
        endpoint.invert_yaxis()
        endpoint.set(title=f"Endpoint alone: invocations/s ({data['connections']} connections, wrk)",
                     xlabel="invocations/s (median of rounds, bars: min..max)")
        endpoint.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
