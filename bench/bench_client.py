#!/usr/bin/env python3
"""Client vs a bare requests.Session posting the same JSON to the same server,
side by side in one run: put 1 KiB, get, range of 1,000 keys, txn
compare-and-swap.  Target: >= 1.0x bare requests.

The range is fully decoded to models on our side; it is measured twice on the
bare side: ``resp.json()`` alone (keys, values and revisions still base64 and
decimal text) and ``resp.json()`` plus the hand decoding that makes the same
bytes and ints (what code on bare requests must do to use them).
The calls of the two sides alternate; rates come from the median call
(bench/common.py: side_by_side).

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

from common import side_by_side  # noqa: E402
from etcd3 import Client  # noqa: E402
from etcd3.testing.server import EtcdServer  # noqa: E402


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

        def bare_decoded(path, body):
            data = bare(path, body)
            for kv in data.get("kvs", []):
                kv["key"] = base64.b64decode(kv["key"])
                kv["value"] = base64.b64decode(kv.get("value", ""))
                for name in ("create_revision", "mod_revision", "version", "lease"):
                    if name in kv:
                        kv[name] = int(kv[name])
            return data

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
            ("  both sides decoded", lambda: client.range("/bench/range/", prefix=True),
             lambda: bare_decoded("/kv/range", range_body)),
            ("txn compare-and-swap", lambda: client.txn(
                compare=[{"key": "/bench/cas", "target": "VALUE", "result": "EQUAL", "value": "0"}],
                success=[{"request_put": {"key": "/bench/cas", "value": "0"}}], failure=[]),
             lambda: bare("/kv/txn", cas_body)),
        ]
        print("etcd %s, about %s s per case, the two sides alternating" % (server.version, 2 * args.seconds))
        print("%-22s %12s %12s %8s" % ("case", "etcd3 /s", "requests /s", "ratio"))
        for name, ours, theirs in cases:
            ours(), theirs()
            a, b = side_by_side(ours, theirs, args.seconds * 2)
            print("%-22s %12.0f %12.0f %7.2fx" % (name, a, b, a / b))
        client.close()


if __name__ == "__main__":
    main()
