"""Shared set-up: the code under test is imported from its own folders, as it runs."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
for folder in ("statefun-functions", "simulator"):
    path = str(ROOT / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
