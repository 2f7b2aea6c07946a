"""bench/results/*.json -> bench/benchmarks.png (and a Markdown table on stdout).

bench/.venv-fast/bin/python bench/plot.py [--e2e results/e2e-shipped.json ...] [--endpoint results/endpoint.json]
"""

import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BENCH = pathlib.Path(__file__).resolve().parent


def markdown_table(variant: dict) -> str:
    """The rows of BENCHMARKS.md's end-to-end table for one variant."""
    rows = [
        f"{variant['variant']}: {variant['description']}",
        "",
        "| offered tx/s (reached Kafka) | delivered alerts/s: consumer 1 / 2 / from the backlog | backlog start → end "
        "| p50 / p99 s | drain s | job failures | checkpoint median / max s, size MB "
        "| CPU cores: TaskManager / python-worker / Kafka |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in variant["steps"]:
        c, u = s["checkpoints"], s["usage"]
        checkpoint = (
            f"{c['duration_s_median']:.1f} / {c['duration_s_max']:.1f}, {c['last_full_size_mb']:.1f}"
            if c.get("completed")
            else "-"
        )
        rows.append(
            f"| {s['offered_rate']} ({s['offered_achieved']:.0f}) | {s['delivered']:.0f} / "
            f"{s['delivered_second_consumer']:.0f} / {s.get('delivered_from_backlog', float('nan')):.0f} "
            f"| {s['backlog_start']:,} → {s['backlog_end']:,} | {s['p50_s']:.1f} / {s['p99_s']:.1f} "
            f"| {s['drain_s']:.0f} | {s['failures']} | {checkpoint} "
            f"| {u['worker']['cores']:.2f} / {u['python-worker']['cores']:.2f} / {u['kafka-broker']['cores']:.2f} |"
        )
    rows.append(
        f"\nExactly-once over the run: {variant['alerts']:,} alerts for {variant['transactions']:,} "
        f"transactions, {variant['duplicates']} duplicates, {variant['missing']} missing."
    )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--e2e", type=pathlib.Path, nargs="*", default=None)
    parser.add_argument("--endpoint", type=pathlib.Path, default=BENCH / "results" / "endpoint.json")
    parser.add_argument("--out", type=pathlib.Path, default=BENCH / "benchmarks.png")
    args = parser.parse_args()
    e2e_files = args.e2e if args.e2e is not None else sorted((BENCH / "results").glob("e2e-*.json"))
    figure, (throughput, latency, endpoint) = plt.subplots(1, 3, figsize=(17, 5))

    for path in e2e_files:
        for variant in json.loads(path.read_text())["variants"]:
            steps = variant["steps"]
            offered = [s["offered_achieved"] for s in steps]
            label = variant["variant"]
            (line,) = throughput.plot(offered, [s["delivered"] for s in steps], "o-", label=label)
            latency.plot(offered, [s["p99_s"] for s in steps], "o-", color=line.get_color(), label=f"p99, {label}")
            latency.plot(
                offered, [s["p50_s"] for s in steps], "x--", color=line.get_color(), alpha=0.6, label=f"p50, {label}"
            )
            print(markdown_table(variant))
    if e2e_files:
        top = max(
            s["offered_achieved"] for p in e2e_files for v in json.loads(p.read_text())["variants"] for s in v["steps"]
        )
        throughput.plot([0, top], [0, top], ":", color="grey", label="delivered = offered")
    throughput.set(
        title="End to end: delivered alerts/s (steady window)",
        xlabel="offered load (transactions/s)",
        ylabel="alerts/s (every transaction alerts)",
    )
    throughput.legend(fontsize=7)
    latency.set(
        title="End to end: produce -> alert latency (read_committed)",
        xlabel="offered load (transactions/s)",
        ylabel="seconds",
        yscale="log",
    )
    latency.legend(fontsize=6)

    if args.endpoint.exists():
        data = json.loads(args.endpoint.read_text())
        rows = data["summary"]
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        batches = sorted({r["batch"] for r in rows})
        width = 0.8 / len(batches)
        for offset, batch in enumerate(batches):
            values = [
                next((r["invocations_per_s"] for r in rows if r["variant"] == v and r["batch"] == batch), 0)
                for v in variants
            ]
            errors = [
                [
                    v - next((r["min"] for r in rows if r["variant"] == name and r["batch"] == batch), v)
                    for v, name in zip(values, variants, strict=True)
                ],
                [
                    next((r["max"] for r in rows if r["variant"] == name and r["batch"] == batch), v) - v
                    for v, name in zip(values, variants, strict=True)
                ],
            ]
            endpoint.barh(
                [i + offset * width for i in range(len(variants))],
                values,
                height=width,
                xerr=errors,
                label=f"batch {batch}",
            )
        endpoint.set_yticks([i + width / 2 for i in range(len(variants))], variants, fontsize=7)
        endpoint.invert_yaxis()
        endpoint.set(
            title=f"Endpoint alone: invocations/s ({data['connections']} connections, wrk)",
            xlabel="invocations/s (median of rounds, bars: min..max)",
        )
        endpoint.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
