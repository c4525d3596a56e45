#!/usr/bin/env python3
"""Failover on a real 3-member cluster on loopback.

1. Time from kill -9 of the member in use to the next successful get, p50/p99 over
   ``--kills`` kills (the killed member is restarted between kills).  Target p99 < 1 s.
2. Steady-state cost of ``endpoints=[3 members]`` against one endpoint (same member)
   on put and get, side by side (bench/common.py).  Target: within 5 %.

Usage: bench/bench_failover.py [--version sid] [--kills 20] [--seconds 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from common import side_by_side  # noqa: E402
from etcd3 import Client  # noqa: E402
from etcd3.testing.server import EtcdCluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="sid")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    with EtcdCluster(3, version=args.version) as cluster:
        first = cluster.members[0]
        one = Client(first.host, first.port, timeout=5)
        many = Client(endpoints=cluster.endpoints, timeout=5)
        one.put("bench/k", "v" * 100)
        for name, ours, theirs in (
                ("get", lambda: many.range("bench/k"), lambda: one.range("bench/k")),
                ("put", lambda: many.put("bench/p", "v" * 100), lambda: one.put("bench/p", "v" * 100))):
            rate_many, rate_one = side_by_side(ours, theirs, args.seconds)
            print("%s: endpoints=[3] %.0f/s, one endpoint %.0f/s, ratio %.3f" % (
                name, rate_many, rate_one, rate_many / rate_one))
        gaps = []
        for _ in range(args.kills):
            victim = next(m for m in cluster.members if m.endpoint == many.baseurl)
            victim.kill()
            killed = time.monotonic()
            many.range("bench/k")
            gaps.append(time.monotonic() - killed)
            victim.start()
            cluster.leader(timeout=15)
        gaps.sort()
        p99 = gaps[min(len(gaps) - 1, int(round(0.99 * (len(gaps) - 1))))]
        print("kill -9 -> next successful get over %d kills: p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
            len(gaps), statistics.median(gaps) * 1000, p99 * 1000, gaps[-1] * 1000))
        one.close()
        many.close()


if __name__ == "__main__":
    main()
