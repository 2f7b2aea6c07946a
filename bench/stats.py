"""The numbers of bench/e2e.py's results, as pure functions of what its observers recorded.

The observers (observers.py) record; e2e.py picks each step's window; these compute. Times are
seconds since the epoch (time.time()), as every observer stamps them; Flink's checkpoint
timestamps are milliseconds.
"""

import statistics

# What the bench itself runs (sampled apart from the pipeline's programs): the producer, the
# bench's own process (its consumer, monitor and sampler) and the second consumer.
LOAD_GENERATOR = ("producer", "bench", "second-consumer")


def staircase(times, start: float, seconds: int) -> list[int]:
    """How many of the sorted `times` are at or before start + k, for k = 0 .. seconds."""
    counts, index = [], 0
    for k in range(seconds + 1):
        while index < len(times) and times[index] <= start + k:
            index += 1
        counts.append(index)
    return counts


def delivered_rate(read_times, start: float, end: float) -> float:
    """Alerts per second read in [start, end]: the slope of their cumulative count.

    read_committed consumers see alerts in bursts, one per checkpoint, so a plain count
    swings by a whole checkpoint's worth with where the window edges fall; a least-squares
    slope through the staircase (one point a second) does not.
    """
    times = sorted(t for t in read_times if start <= t <= end)
    seconds = int(end - start)
    if seconds < 2:
        return len(times) / max(end - start, 1e-9)
    return statistics.linear_regression(range(seconds + 1), staircase(times, start, seconds)).slope


def percentile(values, q):
    """The value at rank int(q * n) of the sorted values (the largest at most), None when there are none."""
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


def window_latencies(records, start: float, end: float) -> list[float]:
    """Produce -> read latencies of the transactions produced in [start, end], however late they were read.

    `records`: the alerts as observers.Alerts keeps them, (read at, latency, produced at, id).
    """
    return [latency for _, latency, produced, _ in records if start <= produced <= end]


def closest(timeline, moment: float) -> tuple:
    """The sample (time first) of a timeline closest to a moment."""
    return min(timeline, key=lambda sample: abs(sample[0] - moment))


def kafka_window(first: tuple, last: tuple) -> dict:
    """Transactions and alerts between two of the monitor's samples (time, sent, alerted, ...).

    offered_achieved: transactions that reached Kafka, per second; delivered_from_backlog: the
    offered rate minus the backlog's growth (the alerts the monitor counted, per second); the
    backlog (transactions in Kafka not yet alerted) at either end.
    """
    (t0, sent0, alerted0, *_), (t1, sent1, alerted1, *_) = first, last
    seconds = t1 - t0
    return {
        "offered_achieved": round((sent1 - sent0) / seconds, 1),
        "delivered_from_backlog": round((sent1 - sent0 - (sent1 - alerted1) + (sent0 - alerted0)) / seconds, 1),
        "backlog_start": sent0 - alerted0,
        "backlog_end": sent1 - alerted1,
    }


def drain_deadline_s(rate: float, backlog: int, max_drain: float) -> float:
    """How long a step's backlog may take to drain: a minute plus three times what it would
    take at a quarter of the offered rate (at least 50/s), at most max_drain."""
    return min(max_drain, 60 + 3 * backlog / max(rate / 4, 50))


def checkpoints(history: dict, start: float, end: float) -> dict:
    """Checkpoints completed in the window: count, duration, size of the last one."""
    done = [
        c
        for c in history.values()
        if c["status"] == "COMPLETED" and start * 1000 <= c["latest_ack_timestamp"] <= end * 1000
    ]
    if not done:
        return {"completed": 0}
    durations = [c["end_to_end_duration"] / 1000 for c in done]
    last = max(done, key=lambda c: c["latest_ack_timestamp"])
    return {
        "completed": len(done),
        "duration_s_max": max(durations),
        "duration_s_median": statistics.median(durations),
        "last_size_mb": round(last.get("checkpointed_size", last.get("state_size", 0)) / 2**20, 2),
        "last_full_size_mb": round(last.get("state_size", 0) / 2**20, 2),
    }


def failed_checkpoints(history: dict) -> int:
    return sum(c["status"] == "FAILED" for c in history.values())


def cores_sample(previous: dict, current: dict, elapsed: float) -> dict:
    """One sample of each process: cores used since the previous totals and RSS now.

    Totals are name -> (CPU seconds, RSS MB); a process first seen in `current` has no CPU
    delta yet and is left out.
    """
    return {
        name: {"cores": (cpu - previous[name][0]) / elapsed, "rss_mb": rss}
        for name, (cpu, rss) in current.items()
        if name in previous
    }


def usage(samples: list, start: float, end: float) -> dict:
    """Each process's mean cores and largest RSS over the samples taken in [start, end]."""
    window = [s for s in samples if start <= s["t"] <= end]
    names = {name for s in window for name in s if name != "t"}
    return {
        name: {
            "cores": round(statistics.mean(s[name]["cores"] for s in window if name in s), 3),
            "rss_mb_max": round(max(s[name]["rss_mb"] for s in window if name in s)),
        }
        for name in sorted(names)
    }


def split_usage(usage: dict) -> dict:
    """Cores of the load generator's processes and of the pipeline's programs, apart and summed."""
    load = {name: u["cores"] for name, u in usage.items() if name in LOAD_GENERATOR}
    pipeline = {name: u["cores"] for name, u in usage.items() if name not in LOAD_GENERATOR and name != "machine"}
    return {
        "load_generator": {**load, "total": round(sum(load.values()), 3)},
        "pipeline": {**pipeline, "total": round(sum(pipeline.values()), 3)},
        "machine": usage.get("machine", {}).get("cores"),
    }


def exactly_once(ids: list, transactions: int) -> dict:
    """Every transaction alerted exactly once? `ids`: the transaction id of every alert read."""
    return {
        "transactions": transactions,
        "alerts": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "missing": transactions - len(set(ids)),
    }
