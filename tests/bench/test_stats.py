"""bench/stats.py: the numbers of BENCHMARKS.md's end-to-end runs, on inputs worked out by hand."""

import random
import statistics
import sys
from pathlib import Path

import pytest

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
sys.path.insert(0, BENCH)  # as bench/e2e.py runs; only while importing (bench/requests.py is no requests)
try:
    import stats
finally:
    sys.path.remove(BENCH)


def test_staircase_counts_the_reads_at_or_before_each_second():
    assert stats.staircase([0.5, 1.0, 1.0, 2.5], start=0, seconds=3) == [0, 3, 3, 4]
    assert stats.staircase([], start=0, seconds=2) == [0, 0, 0]


def test_delivered_rate_of_a_steady_stream_is_its_rate():
    # One alert at each half second mark of [100, 110]: the staircase 0, 1, ..., 10.
    reads = [100.5 + k for k in range(10)]
    assert stats.delivered_rate(reads, 100, 110) == pytest.approx(1.0)
    # Ten a second in a burst each second (a checkpoint a second): 10/s.
    assert stats.delivered_rate([100.5 + k for k in range(10) for _ in range(10)], 100, 110) == pytest.approx(10.0)


def test_delivered_rate_is_the_least_squares_slope_of_the_staircase():
    # 100 alerts at once, at 105: counts 0 (x5), then 100 (x6) over k = 0..10. Around the mean
    # k = 5: sum((k - 5) * count) = 100 * (0+1+2+3+4+5) = 1500, sum((k - 5)^2) = 110.
    assert stats.delivered_rate([105.0] * 100, 100, 110) == pytest.approx(1500 / 110)
    # Bursts of 50 at 102.5 and 107.5: 0 (x3), 50 (x5), 100 (x3): 50 * 0 + 100 * (3+4+5) = 1200.
    assert stats.delivered_rate([102.5] * 50 + [107.5] * 50, 100, 110) == pytest.approx(1200 / 110)


def test_delivered_rate_ignores_reads_outside_the_window_and_their_order():
    reads = [99.9, 110.1, *(100.5 + k for k in range(10))]
    random.Random(1).shuffle(reads)
    assert stats.delivered_rate(reads, 100, 110) == pytest.approx(1.0)
    assert stats.delivered_rate([], 100, 110) == 0.0


def test_delivered_rate_of_a_window_under_two_seconds_is_a_plain_count():
    assert stats.delivered_rate([10.1, 10.2, 11.5, 11.6], 10, 11.5) == pytest.approx(3 / 1.5)
    assert stats.delivered_rate([], 10, 10) == 0.0


def slope_as_before(read_times, start, end):
    """delivered_rate as bench/e2e.py computed it by hand until statistics.linear_regression."""
    times = sorted(t for t in read_times if start <= t <= end)
    seconds = int(end - start)
    points, index = [], 0
    for k in range(seconds + 1):
        while index < len(times) and times[index] <= start + k:
            index += 1
        points.append(index)
    mean_k, mean_n = seconds / 2, statistics.mean(points)
    return sum((k - mean_k) * (n - mean_n) for k, n in enumerate(points)) / sum(
        (k - mean_k) ** 2 for k in range(seconds + 1)
    )


@pytest.mark.parametrize("seed", range(5))
def test_linear_regression_gives_the_numbers_of_the_hand_written_slope(seed):
    rng = random.Random(seed)
    start = 1.7e9 + rng.uniform(0, 1e5)  # epoch seconds, as the observers stamp them
    checkpoints = sorted(start + rng.uniform(-2, 62) for _ in range(60))
    reads = [rng.choice(checkpoints) for _ in range(30000)]
    now, before = stats.delivered_rate(reads, start, start + 60), slope_as_before(reads, start, start + 60)
    assert now == pytest.approx(before, rel=1e-12)
    assert round(now, 1) == round(before, 1)  # as the results record it


def test_percentile_takes_the_value_at_rank_q_times_n():
    values = list(range(1, 11))
    random.Random(2).shuffle(values)
    assert stats.percentile(values, 0.0) == 1
    assert stats.percentile(values, 0.50) == 6  # rank int(5.0): the sixth smallest
    assert stats.percentile(values, 0.90) == 10
    assert stats.percentile(values, 0.99) == 10
    assert stats.percentile(values, 1.0) == 10  # never past the largest
    hundred = list(range(1, 101))
    assert [stats.percentile(hundred, q) for q in (0.50, 0.90, 0.99)] == [51, 91, 100]
    assert stats.percentile([3.2], 0.99) == 3.2
    assert stats.percentile([], 0.5) is None


def test_latencies_of_the_transactions_produced_in_the_window_however_late_read():
    records = [  # (read at, latency, produced at, transaction id)
        (19.0, 9.5, 9.5, "before"),
        (11.0, 1.0, 10.0, "first"),
        (40.0, 25.0, 15.0, "late"),
        (21.0, 1.0, 20.0, "last"),
        (21.5, 1.0, 20.5, "after"),
    ]
    assert stats.window_latencies(records, 10, 20) == [1.0, 25.0, 1.0]


def test_closest_sample():
    timeline = [(0.0, "a"), (1.0, "b"), (2.0, "c")]
    assert stats.closest(timeline, 1.4) == (1.0, "b")
    assert stats.closest(timeline, 9.0) == (2.0, "c")
    assert stats.closest(timeline, 0.5) == (0.0, "a")  # a tie: the earlier


def test_kafka_window():
    # 60 s; 18,000 transactions reached Kafka (300/s); alerts read 900 -> 18,100 (17,200: 286.7/s).
    first, last = (100.0, 1000, 900, 0), (160.0, 19000, 18100, 2)
    assert stats.kafka_window(first, last) == {
        "offered_achieved": 300.0,
        "delivered_from_backlog": 286.7,
        "backlog_start": 100,
        "backlog_end": 900,
    }


def test_drain_deadline():
    assert stats.drain_deadline_s(rate=1000, backlog=5000, max_drain=600) == 60 + 3 * 5000 / 250
    assert stats.drain_deadline_s(rate=100, backlog=500, max_drain=600) == 60 + 3 * 500 / 50  # at least 50/s
    assert stats.drain_deadline_s(rate=300, backlog=10**6, max_drain=600) == 600


def checkpoint(number, status, acked_ms, duration_ms, **sizes):
    return {
        "id": number,
        "status": status,
        "latest_ack_timestamp": acked_ms,
        "end_to_end_duration": duration_ms,
        **sizes,
    }


def test_checkpoints_completed_in_the_window():
    mb = 2**20
    history = {
        1: checkpoint(1, "COMPLETED", 100_000, 300, state_size=3 * mb, checkpointed_size=mb),  # at the start: in
        2: checkpoint(2, "COMPLETED", 105_000, 500, state_size=4 * mb),
        3: checkpoint(3, "FAILED", 106_000, 9000, state_size=9 * mb),
        4: checkpoint(4, "COMPLETED", 109_000, 200, state_size=5 * mb, checkpointed_size=int(1.5 * mb)),
        5: checkpoint(5, "COMPLETED", 110_001, 100, state_size=6 * mb),  # after the end
        6: checkpoint(6, "COMPLETED", 99_999, 100, state_size=6 * mb),  # before the start
    }
    assert stats.checkpoints(history, 100, 110) == {
        "completed": 3,
        "duration_s_max": 0.5,
        "duration_s_median": 0.3,
        "last_size_mb": 1.5,
        "last_full_size_mb": 5.0,
    }
    # The last one without checkpointed_size (a full checkpoint): its state size.
    assert stats.checkpoints(history, 100, 106)["last_size_mb"] == 4.0
    assert stats.checkpoints(history, 100, 106)["duration_s_median"] == 0.4
    assert stats.checkpoints(history, 200, 300) == {"completed": 0}
    assert stats.failed_checkpoints(history) == 1


def test_cores_sample_leaves_out_a_process_first_seen():
    previous = {"kafka-broker": (10.0, 100.0), "bench": (5.0, 50.0)}
    current = {"kafka-broker": (12.0, 120.0), "bench": (5.5, 60.0), "producer": (1.0, 10.0)}
    assert stats.cores_sample(previous, current, elapsed=2.0) == {
        "kafka-broker": {"cores": 1.0, "rss_mb": 120.0},
        "bench": {"cores": 0.25, "rss_mb": 60.0},
    }


def test_usage_over_the_window():
    samples = [
        {"t": 0.0, "master": {"cores": 9.0, "rss_mb": 999.0}},
        {"t": 1.0, "master": {"cores": 1.0, "rss_mb": 100.0}, "producer": {"cores": 0.1, "rss_mb": 40.4}},
        {"t": 2.0, "master": {"cores": 0.5, "rss_mb": 300.0}},
        {"t": 2.5, "master": {"cores": 0.5, "rss_mb": 200.0}},
        {"t": 3.0, "master": {"cores": 9.0, "rss_mb": 999.0}},
    ]
    assert stats.usage(samples, 1.0, 2.5) == {
        "master": {"cores": 0.667, "rss_mb_max": 300},  # (1 + 0.5 + 0.5) / 3
        "producer": {"cores": 0.1, "rss_mb_max": 40},
    }
    assert stats.usage(samples, 10, 20) == {}


def test_split_usage_apart_and_summed():
    usage = {
        "bench": {"cores": 0.05},
        "producer": {"cores": 0.1},
        "kafka-broker": {"cores": 0.3},
        "master": {"cores": 0.2},
        "machine": {"cores": 1.9},
    }
    assert stats.split_usage(usage) == {
        "load_generator": {"bench": 0.05, "producer": 0.1, "total": 0.15},
        "pipeline": {"kafka-broker": 0.3, "master": 0.2, "total": 0.5},
        "machine": 1.9,
    }
    assert stats.split_usage({})["machine"] is None
    assert stats.split_usage({}) == {"load_generator": {"total": 0}, "pipeline": {"total": 0}, "machine": None}


def test_exactly_once():
    assert stats.exactly_once(["a", "b", "b", "c"], transactions=4) == {
        "transactions": 4,
        "alerts": 4,
        "duplicates": 1,
        "missing": 1,
    }
    assert stats.exactly_once([], transactions=0) == {"transactions": 0, "alerts": 0, "duplicates": 0, "missing": 0}
