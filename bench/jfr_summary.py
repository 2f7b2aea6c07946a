"""Summarize `jfr print --events jdk.ExecutionSample` (stdin): where the TaskManager's samples go.

    jfr print --stack-depth 64 --events jdk.ExecutionSample taskmanager.jfr | python bench/jfr_summary.py [--top 25]
Prints the inclusive share of the parts that matter here and the top self-time frames.
"""

import argparse
import collections
import re
import sys

GROUPS = {
    "StateFun remote invocation (HTTP client, protocol)": (
        "statefun.flink.core.reqreply",
        "statefun.flink.core.nettyclient",
        "statefun.flink.core.httpfn",
    ),
    "StateFun feedback loop": ("statefun.flink.core.feedback",),
    "RocksDB state (JNI + serializers)": ("org.rocksdb", "contrib.streaming.state"),
    "Kafka clients (ingress, egress transactions)": ("org.apache.kafka",),
    "Netty (network)": ("io.netty", "shaded.netty4"),
    "protobuf": ("com.google.protobuf",),
    "checkpointing": ("runtime.checkpoint", "runtime.state.Snapshot", "AsyncCheckpointRunnable"),
}
FRAME = re.compile(r"^\s+([\w$.<>]+)\(")


def stacks(lines):
    stack = []
    for line in lines:
        if line.startswith("jdk.ExecutionSample"):
            if stack:
                yield stack
            stack = []
        else:
            match = FRAME.match(line)
            if match:
                stack.append(match.group(1))
    if stack:
        yield stack


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    total = 0
    inclusive = collections.Counter()
    self_time = collections.Counter()
    for stack in stacks(sys.stdin):
        total += 1
        self_time[stack[0]] += 1  # jfr prints the top frame first
        for group, needles in GROUPS.items():
            if any(needle in frame for frame in stack for needle in needles):
                inclusive[group] += 1
    print(f"{total} TaskManager samples (Java threads only: RocksDB's own threads and JIT/GC are not sampled)")
    for group in GROUPS:
        print(f"  {100 * inclusive[group] / max(total, 1):5.1f}%  {group}")
    print("top self time:")
    for frame, count in self_time.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
