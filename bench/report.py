"""bench/e2e.py's output: a step's line on the console and the results file."""

import json
import os
import pathlib

import folders  # noqa: F401  (puts simulator/ on sys.path)

import kafka_topics


def seconds(value) -> str:
    return f"{value:.2f}" if value is not None else "-"


def describe(result: dict) -> str:
    cores = result["cores"]
    pipeline = ", ".join(f"{name} {c:.2f}" for name, c in cores["pipeline"].items())
    load = ", ".join(f"{name} {c:.2f}" for name, c in cores["load_generator"].items())
    machine = f"{cores['machine']:.2f}" if cores["machine"] is not None else "-"
    c = result["checkpoints"]
    checkpoint = (
        f"{c['completed']} checkpoints, median {c['duration_s_median']:.2f} s, max {c['duration_s_max']:.2f} s, "
        f"{c['last_full_size_mb']:.1f} MB"
        if c.get("completed")
        else "no checkpoint completed"
    )
    produced = result.get("producer", {})
    acked = produced.get("acked", {}).get(kafka_topics.TRANSACTIONS, "?")
    return (
        f"{result['offered_rate']:5d} tx/s offered ({result['offered_achieved']:6.0f} reached Kafka, "
        f"producer acked {acked}/{result['count']}): "
        f"{result['delivered']:6.0f} alerts/s ({result['delivered_second_consumer']:.0f} by the second consumer), "
        f"backlog {result['backlog_start']} -> {result['backlog_end']}, "
        f"latency p50 {seconds(result['p50_s'])} p90 {seconds(result['p90_s'])} p99 {seconds(result['p99_s'])} "
        f"max {seconds(result['max_s'])} s, drain {result['drain_s']} s, failures {result['failures']}, {checkpoint}\n"
        f"      pipeline cores: {pipeline}\n"
        f"      load generator cores: {load}; machine busy cores {machine} of {os.cpu_count()}"
    )


def write_results(out: pathlib.Path, args, results: list) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "cpus": os.cpu_count(),
                "warmup_s": args.warmup,
                "measure_s": args.measure,
                "kafka_client": "confluent-kafka " + confluent_kafka_version(),
                "variants": results,
            },
            indent=1,
        )
    )


def confluent_kafka_version() -> str:
    import confluent_kafka

    version = confluent_kafka.version()  # a string since 2.x (it was a (string, number) pair)
    if not isinstance(version, str):
        version = version[0]
    return f"{version} (librdkafka {confluent_kafka.libversion()[0]})"
