"""Suite-wide settings: one torch thread per process, and the slow tests first.

The suite runs in two worker processes (`-n 2 --dist loadfile`, pytest-xdist) on two cores, so every
process, and every subprocess a test starts, computes on one thread (two threads per process on two
busy cores run many times slower). `OMP_NUM_THREADS` is set before anything imports torch; a test
that measures threads sets its own. The slow tests are collected first so that a worker starts on
them (and on the Ray tier's cluster start-ups) at once instead of finishing the run with one of them alone.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items):
    def late(item) -> bool:
        return item.get_closest_marker("slow") is None and item.get_closest_marker("ray") is None

    items.sort(key=late)  # stable: the order otherwise kept
