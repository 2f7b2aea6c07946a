"""What bench/profile_summary.py and bench/jfr_summary.py share: sampled stacks, counted.

Each stack is a list of frames with the innermost (self time) first; a group's share counts
the samples with any frame matching one of its needles (inclusive time).
"""

import collections


def print_summary(title: str, weighted_stacks, groups: dict, top: int) -> None:
    """`weighted_stacks`: (frames innermost first, samples) pairs."""
    total = 0
    inclusive: collections.Counter = collections.Counter()
    self_time: collections.Counter = collections.Counter()
    for frames, count in weighted_stacks:
        total += count
        self_time[frames[0]] += count
        for group, needles in groups.items():
            if any(needle in frame for frame in frames for needle in needles):
                inclusive[group] += count
    print(f"{total} {title}")
    for group in groups:
        print(f"  {100 * inclusive[group] / max(total, 1):5.1f}%  {group}")
    print("top self time:")
    for frame, count in self_time.most_common(top):
        print(f"  {100 * count / max(total, 1):5.1f}%  {frame[:150]}")
