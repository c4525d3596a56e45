"""What the benchmarks share."""
from __future__ import annotations

import time


def rate(fn, seconds):
    """Calls per second of ``fn``: the best of 3 rounds of ``seconds`` / 3 each."""
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            now = time.perf_counter()
            if now - start >= seconds / 3:
                break
        best = max(best, n / (now - start))
    return best
