"""Summarize a py-spy raw (collapsed stacks) profile: where the samples go.

    python bench/profile_summary.py PROFILE.txt [--top 25]
Prints the inclusive share of the frames that matter here (HTTP, SDK, protobuf, functions)
and the top self-time frames.
"""

import argparse

from samples import print_summary

GROUPS = {
    "aiohttp / asyncio (HTTP + event loop)": ("aiohttp", "asyncio", "uvloop", "selectors"),
    "statefun SDK handler (incl. protobuf)": ("handle_async (statefun",),
    "protobuf": ("google/protobuf", "protobuf/"),
    "the functions (main.py)": ("main.py",),
}


def collapsed_stacks(path: str):
    """py-spy's raw format: one "outer;...;inner COUNT" line per distinct stack."""
    with open(path) as lines:
        for line in lines:
            stack, _, count = line.rstrip().rpartition(" ")
            yield stack.split(";")[::-1], int(count)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    print_summary("samples", collapsed_stacks(args.profile), GROUPS, args.top)


if __name__ == "__main__":
    main()
