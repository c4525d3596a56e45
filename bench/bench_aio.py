#!/usr/bin/env python3
"""AioClient vs a bare aiohttp session posting the same JSON, side by side in one
run: 64 puts in flight, and 64 concurrent gets, with default settings (pool_size=30:
at most 30 connections, the rest wait).  Target: >= 1.3x bare aiohttp.
Batches of the two sides alternate; rates come from the median batch
(bench/common.py: side_by_side_async).

With aetcd installed (bench/requirements.txt) the same batches run against it too
(gRPC, no gateway hop); without it that part is skipped.

Usage: bench/bench_aio.py [--version 3.5.16] [--seconds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import aiohttp  # noqa: E402

from common import side_by_side_async  # noqa: E402
from etcd3 import AioClient  # noqa: E402
from etcd3.testing.server import EtcdServer  # noqa: E402

IN_FLIGHT = 64


def b64(text):
    return base64.b64encode(text.encode()).decode()


async def main(server, seconds):
    async with AioClient(server.host, server.port) as client:
        base = server.endpoint + client.api_prefix
        async with aiohttp.ClientSession() as session:
            async def bare(path, body):
                async with session.post(base + path, data=json.dumps(body)) as resp:
                    resp.raise_for_status()
                    return await resp.json()

            value = "x" * 100
            keys = ["/bench/aio/%02d" % i for i in range(IN_FLIGHT)]
            cases = [
                ("64 puts in flight",
                 lambda: asyncio.gather(*(client.put(k, value) for k in keys)),
                 lambda: asyncio.gather(*(bare("/kv/put", {"key": b64(k), "value": b64(value)}) for k in keys))),
                ("64 concurrent gets",
                 lambda: asyncio.gather(*(client.range(k) for k in keys)),
                 lambda: asyncio.gather(*(bare("/kv/range", {"key": b64(k)}) for k in keys))),
            ]
            print("etcd %s, about %s s per case, the two sides alternating" % (server.version, 2 * seconds))
            print("%-22s %12s %12s %8s" % ("case", "etcd3 req/s", "aiohttp /s", "ratio"))
            for name, ours, theirs in cases:
                await ours(), await theirs()
                a, b = await side_by_side_async(ours, theirs, seconds * 2)
                a, b = a * IN_FLIGHT, b * IN_FLIGHT
                print("%-22s %12.0f %12.0f %7.2fx" % (name, a, b, a / b))
        await grpc_side(server, client, seconds)


async def grpc_side(server, client, seconds):
    try:
        import aetcd
    except ImportError:
        return
    async with aetcd.Client(host=server.host, port=server.port) as other:
        value = b"x" * 100
        keys = [b"/bench/aio/%02d" % i for i in range(IN_FLIGHT)]
        cases = [
            ("64 puts in flight", lambda: asyncio.gather(*(client.put(k, value) for k in keys)),
             lambda: asyncio.gather(*(other.put(k, value) for k in keys))),
            ("64 concurrent gets", lambda: asyncio.gather(*(client.range(k) for k in keys)),
             lambda: asyncio.gather(*(other.get(k) for k in keys))),
        ]
        print("%-22s %12s %12s %8s" % ("case", "etcd3 req/s", "aetcd req/s", "ratio"))
        for name, ours, theirs in cases:
            await ours(), await theirs()
            a, b = await side_by_side_async(ours, theirs, seconds * 2)
            a, b = a * IN_FLIGHT, b * IN_FLIGHT
            print("%-22s %12.0f %12.0f %7.2fx" % (name, a, b, a / b))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default=None)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with EtcdServer(version=args.version) as etcd:
        asyncio.run(main(etcd, args.seconds))
