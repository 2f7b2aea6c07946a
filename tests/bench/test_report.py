"""bench/report.py: a step's console line and the results file, as BENCHMARKS.md quotes them."""

import json
import os
import sys
import types
from argparse import Namespace
from pathlib import Path

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
sys.path.insert(0, BENCH)  # as bench/e2e.py runs; only while importing (bench/requests.py is no requests)
try:
    import report
    import stats
finally:
    sys.path.remove(BENCH)

USAGE = {
    "bench": {"cores": 0.05, "rss_mb_max": 80},
    "kafka-broker": {"cores": 0.31, "rss_mb_max": 700},
    "machine": {"cores": 1.93, "rss_mb_max": 6000},
    "producer": {"cores": 0.04, "rss_mb_max": 50},
}
STEP = {
    "offered_rate": 300,
    "count": 22500,
    "offered_achieved": 299.7,
    "delivered": 298.2,
    "delivered_second_consumer": 297.9,
    "backlog_start": 224,
    "backlog_end": 166,
    "p50_s": 0.912,
    "p90_s": 1.2,
    "p99_s": 1.45,
    "max_s": 3.2,
    "drain_s": 0.9,
    "failures": 0,
    "checkpoints": {"completed": 59, "duration_s_median": 0.2, "duration_s_max": 0.31, "last_full_size_mb": 3.24},
    "cores": stats.split_usage(USAGE),
    "producer": {"acked": {"transactions": 22500}},
}


def test_a_step_line():
    assert report.describe(STEP) == (
        "  300 tx/s offered (   300 reached Kafka, producer acked 22500/22500):    298 alerts/s "
        "(298 by the second consumer), backlog 224 -> 166, latency p50 0.91 p90 1.20 p99 1.45 max 3.20 s, "
        "drain 0.9 s, failures 0, 59 checkpoints, median 0.20 s, max 0.31 s, 3.2 MB\n"
        "      pipeline cores: kafka-broker 0.31, total 0.31\n"
        f"      load generator cores: bench 0.05, producer 0.04, total 0.09; machine busy cores 1.93 of {os.cpu_count()}"
    )


def test_a_step_without_latencies_checkpoints_or_producer_report():
    step = {
        **STEP,
        "p50_s": None,
        "p90_s": None,
        "p99_s": None,
        "max_s": None,
        "checkpoints": {"completed": 0},
        "producer": {"error": "no report (exit 1): ''"},
        "cores": {**STEP["cores"], "machine": None},
    }
    line = report.describe(step)
    assert "producer acked ?/22500" in line
    assert "latency p50 - p90 - p99 - max - s" in line
    assert "failures 0, no checkpoint completed\n" in line
    assert line.endswith(f"machine busy cores - of {os.cpu_count()}")


def test_the_results_file(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "confluent_kafka_version", lambda: "2.16.1 (librdkafka 2.16.1)")
    out = tmp_path / "results" / "e2e-x.json"
    report.write_results(out, Namespace(warmup=15, measure=60), [{"variant": "shipped"}])
    assert json.loads(out.read_text()) == {
        "cpus": os.cpu_count(),
        "warmup_s": 15,
        "measure_s": 60,
        "kafka_client": "confluent-kafka 2.16.1 (librdkafka 2.16.1)",
        "variants": [{"variant": "shipped"}],
    }
    assert out.read_text().startswith('{\n "cpus": ')  # indent=1, as bench/results/ has them


def test_the_kafka_client_version_whichever_shape_it_has(monkeypatch):
    for version in ("2.16.1", ("2.16.1", 0x2100100)):  # 2.x: a string; before: a (string, number) pair
        fake = types.SimpleNamespace(version=lambda v=version: v, libversion=lambda: ("2.16.0", 0x2100000))
        monkeypatch.setitem(sys.modules, "confluent_kafka", fake)
        assert report.confluent_kafka_version() == "2.16.1 (librdkafka 2.16.0)"
