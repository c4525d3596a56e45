#!/usr/bin/env python3
"""client.range_iter() over a huge prefix: memory and throughput.

1. RSS: one pass of ``range_iter(prefix, page_size=1000)`` over 300,000 keys of
   100 B values, every kv's key and value read; the growth of the process's RSS
   over the pass (target: <= 50 MB).
2. Throughput: whole passes over a part of the prefix (``--pass-keys``), ours
   against a bare requests.Session pager doing the same pages (POST /kv/range with
   limit and the first page's revision, json, base64 of each key and value, the
   next page from the last key), the passes of the two sides alternating, rates
   from the median pass (target: >= 0.9x).  The async pager (AioClient) against
   the same bare pager, as a second line.

Usage: bench/bench_pager.py [--version sid] [--keys 300000] [--seconds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import requests  # noqa: E402

from common import side_by_side  # noqa: E402
from etcd3 import AioClient, Client  # noqa: E402
from etcd3.testing.server import EtcdServer  # noqa: E402

PREFIX = b"/bench/pager/"
PASS_PREFIX = b"/bench/pass/"
PAGE_SIZE = 1000
TXN_OPS = 100  # below etcd's default --max-txn-ops (128)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load(client: Client, prefix: bytes, count: int) -> None:
    value = os.urandom(75)  # 100 B once base64 encoded, as the gateway carries it
    for start in range(0, count, TXN_OPS):
        client.txn(compare=[], success=[{"request_put": {"key": prefix + b"%07d" % i, "value": value}}
                                        for i in range(start, min(count, start + TXN_OPS))], failure=[])


def make_bare_pager(session: requests.Session, url: str):
    def bare_pass(prefix: bytes) -> int:
        end = prefix[:-1] + bytes([prefix[-1] + 1])
        body = {"key": b64(prefix), "range_end": b64(end), "limit": PAGE_SIZE}
        count = 0
        while True:
            resp = session.post(url, data=json.dumps(body))
            resp.raise_for_status()
            data = resp.json()
            body["revision"] = data["header"]["revision"]
            kvs = data.get("kvs", [])
            for kv in kvs:
                key = base64.b64decode(kv["key"])
                base64.b64decode(kv.get("value", ""))
                count += 1
            if not data.get("more") or not kvs:
                return count
            body["key"] = b64(key + b"\0")
    return bare_pass


def our_pass(client: Client, prefix: bytes) -> int:
    count = 0
    for kv in client.range_iter(prefix, prefix=True, page_size=PAGE_SIZE):
        kv.key, kv.value
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="sid")
    parser.add_argument("--keys", type=int, default=300_000)
    parser.add_argument("--pass-keys", type=int, default=20_000, help="keys per pass of the throughput part")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with EtcdServer(version=args.version) as server:
        client = Client(server.host, server.port)
        started = time.perf_counter()
        load(client, PREFIX, args.keys)
        load(client, PASS_PREFIX, args.pass_keys)
        print("etcd %s: %d keys loaded in %.1f s" % (server.version, args.keys, time.perf_counter() - started))

        before = peak = rss_bytes()
        count, started = 0, time.perf_counter()
        for kv in client.range_iter(PREFIX, prefix=True, page_size=PAGE_SIZE):
            kv.key, kv.value
            count += 1
            if count % PAGE_SIZE == 0:
                peak = max(peak, rss_bytes())
        elapsed = time.perf_counter() - started
        assert count == args.keys, count
        print("RSS: one pass over %d keys (%.1f s, %.0f keys/s): growth %.1f MB (peak %.1f MB)"
              % (count, elapsed, count / elapsed, (peak - before) / 1e6, peak / 1e6))

        sub_prefix = PASS_PREFIX
        session = requests.Session()
        bare_pass = make_bare_pager(session, server.endpoint + client.api_prefix + "/kv/range")
        keys = our_pass(client, sub_prefix)
        assert keys == bare_pass(sub_prefix), (keys, bare_pass(sub_prefix))
        ours, theirs = side_by_side(lambda: our_pass(client, sub_prefix), lambda: bare_pass(sub_prefix),
                                    args.seconds * 2)
        print("%-28s %12s %12s %8s" % ("pass of %d keys" % keys, "etcd3 keys/s", "bare keys/s", "ratio"))
        print("%-28s %12.0f %12.0f %7.2fx" % ("Client.range_iter", ours * keys, theirs * keys, ours / theirs))

        async def async_side() -> None:
            async with AioClient(server.host, server.port) as aio:
                async def aio_pass() -> int:
                    n = 0
                    async for kv in aio.range_iter(sub_prefix, prefix=True, page_size=PAGE_SIZE):
                        kv.key, kv.value
                        n += 1
                    return n

                assert await aio_pass() == keys
                times: tuple = ([], [])
                deadline = time.perf_counter() + args.seconds * 2
                rounds = 0
                while rounds < 10 or time.perf_counter() < deadline:
                    for side in ((0, 1) if rounds % 2 else (1, 0)):
                        start = time.perf_counter()
                        if side == 0:
                            await aio_pass()
                        else:
                            bare_pass(sub_prefix)  # the bare pager is sync: it blocks the loop alike
                        times[side].append(time.perf_counter() - start)
                    rounds += 1
                ours_t, theirs_t = (sorted(t)[len(t) // 2] for t in times)
                print("%-28s %12.0f %12.0f %7.2fx" % ("AioClient.range_iter", keys / ours_t, keys / theirs_t,
                                                      theirs_t / ours_t))

        asyncio.run(async_side())
        client.close()


if __name__ == "__main__":
    main()
