"""Summarize `jfr print --events jdk.ExecutionSample` (stdin): where the TaskManager's samples go.

    jfr print --stack-depth 64 --events jdk.ExecutionSample taskmanager.jfr | python bench/jfr_summary.py [--top 25]
Prints the inclusive share of the parts that matter here and the top self-time frames.
"""

import argparse
import re
import sys

from samples import print_summary

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
    print_summary(
        "TaskManager samples (Java threads only: RocksDB's own threads and JIT/GC are not sampled)",
        ((stack, 1) for stack in stacks(sys.stdin)),  # jfr prints the top frame first
        GROUPS,
        args.top,
    )


if __name__ == "__main__":
    main()
