"""What the benchmarks share."""
from __future__ import annotations

import statistics
import time


class _Alternation:
    """The order of calls of a side-by-side run (who goes first swaps every round)
    and the time each call took."""

    def __init__(self, seconds):
        self.deadline = time.perf_counter() + seconds
        self.times = ([], [])

    def order(self):
        rounds = 0
        while rounds < 20 or time.perf_counter() < self.deadline:
            yield from ((0, 1) if rounds % 2 else (1, 0))
            rounds += 1

    def rates(self):
        return tuple(1 / statistics.median(times) for times in self.times)


def side_by_side(ours, theirs, seconds):
    """Calls per second of each side, from its median call time, with the calls of the
    two sides alternating for about ``seconds`` in all: drift in the machine's load then
    hits both alike, and the median ignores the odd stall of a shared machine.
    Returns (ours, theirs)."""
    run, sides = _Alternation(seconds), (ours, theirs)
    for side in run.order():
        start = time.perf_counter()
        sides[side]()
        run.times[side].append(time.perf_counter() - start)
    return run.rates()


async def side_by_side_async(ours, theirs, seconds):
    """``side_by_side`` for coroutine functions."""
    run, sides = _Alternation(seconds), (ours, theirs)
    for side in run.order():
        start = time.perf_counter()
        await sides[side]()
        run.times[side].append(time.perf_counter() - start)
    return run.rates()
