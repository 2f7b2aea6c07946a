"""Summarize a py-spy raw (collapsed stacks) profile: where the samples go.

    python bench/profile_summary.py PROFILE.txt [--top 25]
Prints the inclusive share of the frames that matter here (HTTP, SDK, protobuf, functions)
and the top self-time frames.
"""

import argparse
import collections

GROUPS = {
    "aiohttp / asyncio (HTTP + event loop)": ("aiohttp", "asyncio", "uvloop", "selectors"),
    "statefun SDK handler (incl. protobuf)": ("handle_async (statefun",),
    "protobuf": ("google/protobuf", "protobuf/"),
    "the functions (main.py)": ("main.py",),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    total = 0
    inclusive = collections.Counter()
    self_time = collections.Counter()
    for line in open(args.profile):
        stack, _, count = line.rstrip().rpartition(" ")
        count = int(count)
        total += count
        frames = stack.split(";")
        self_time[frames[-1]] += count
        for group, needles in GROUPS.items():
            if any(needle in frame for frame in frames for needle in needles):
                inclusive[group] += count
    print(f"{total} samples")
    for group in GROUPS:
        print(f"  {100 * inclusive[group] / total:5.1f}%  {group}")
    print("top self time:")
    for frame, count in self_time.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {frame[:150]}")


if __name__ == "__main__":
    main()
