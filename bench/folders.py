"""Where bench/e2e.py's modules live and write, and the workshop's folders they import from.

Importing this puts local/ (layout.py and processes.py: the one source of the Docker-free
mode's paths, ports and running job) and simulator/ (the topics, the traffic, the entities)
on sys.path, as bench/'s scripts do; under pytest they are there already.
"""

import pathlib
import sys

BENCH = pathlib.Path(__file__).resolve().parent
OUT = BENCH / "out"  # scratch: logs, rendered files, the short (CI) run's results
RESULTS = BENCH / "results"  # the runs BENCHMARKS.md quotes

for folder in ("local", "simulator"):
    path = str(BENCH.parent / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
