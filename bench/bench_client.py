#!/usr/bin/env python3
"""Client vs a bare requests.Session posting the same JSON to the same server,
side by side in one run: put 1 KiB, get, range of 1,000 keys (full decode to
models vs resp.json()), txn compare-and-swap.  Target: >= 1.0x bare requests.

Usage: bench/bench_client.py [--version 3.5.16] [--seconds 2]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import requests  # noqa: E402

from common import rate  # noqa: E402
from etcd3 import Client  # noqa: E402
from etcd3.server import EtcdServer  # noqa: E402


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default=None, help="etcd version of the matrix (default: any found)")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with EtcdServer(version=args.version) as server:
        client = Client(server.host, server.port)
        session = requests.Session()
        base = server.endpoint + client.api_prefix
        value = os.urandom(768)  # 1 KiB once base64 encoded
        for i in range(1000):
            client.put("/bench/range/%04d" % i, os.urandom(100))
        client.put("/bench/cas", "0")

        def bare(path, body):
            resp = session.post(base + path, data=json.dumps(body))
            resp.raise_for_status()
            return resp.json()

        put_body = {"key": b64("/bench/put"), "value": b64(value)}
        get_body = {"key": b64("/bench/put")}
        range_body = {"key": b64("/bench/range/"), "range_end": b64("/bench/range0")}
        cas_body = {"compare": [{"key": b64("/bench/cas"), "target": "VALUE", "result": "EQUAL", "value": b64("0")}],
                    "success": [{"request_put": {"key": b64("/bench/cas"), "value": b64("0")}}]}
        assert len(client.range("/bench/range/", prefix=True).kvs) == 1000
        assert len(bare("/kv/range", range_body)["kvs"]) == 1000

        cases = [
            ("put 1 KiB", lambda: client.put("/bench/put", value), lambda: bare("/kv/put", put_body)),
            ("get", lambda: client.range("/bench/put"), lambda: bare("/kv/range", get_body)),
            ("range 1,000 keys", lambda: client.range("/bench/range/", prefix=True),
             lambda: bare("/kv/range", range_body)),
            ("txn compare-and-swap", lambda: client.txn(
                compare=[{"key": "/bench/cas", "target": "VALUE", "result": "EQUAL", "value": "0"}],
                success=[{"request_put": {"key": "/bench/cas", "value": "0"}}]),
             lambda: bare("/kv/txn", cas_body)),
        ]
        print("etcd %s, %s s per side per case" % (server.version, args.seconds))
        print("%-22s %12s %12s %8s" % ("case", "etcd3 /s", "requests /s", "ratio"))
        for name, ours, theirs in cases:
            ours(), theirs()
            # interleave the sides so drift in the machine's load hits both
            a1 = rate(ours, args.seconds / 2)
            b1 = rate(theirs, args.seconds / 2)
            a2 = rate(ours, args.seconds / 2)
            b2 = rate(theirs, args.seconds / 2)
            a, b = max(a1, a2), max(b1, b2)
            print("%-22s %12.0f %12.0f %7.2fx" % (name, a, b, a / b))
        client.close()


if __name__ == "__main__":
    main()
