#!/usr/bin/env python3
"""Client vs a bare requests.Session posting the same JSON to the same server,
side by side in one run: put 1 KiB, get, range of 1,000 keys, txn
compare-and-swap.  Target: >= 1.0x bare requests.

The range is fully decoded to models on our side; it is measured twice on the
bare side: ``resp.json()`` alone (keys, values and revisions still base64 and
decimal text) and ``resp.json()`` plus the hand decoding that makes the same
bytes and ints (what code on bare requests must do to use them).
Then the range against bare ``http.client`` (one kept-alive connection,
``json.loads``, base64 of each key and value, ``int()`` of each revision: the
least a user of the raw gateway must do to use the answer; target >= 1.0x).
The calls of the two sides alternate; rates come from the median call
(bench/common.py: side_by_side).

With python-etcd3 or aetcd installed (``pip install -r bench/requirements.txt``),
the same cases run against them too (gRPC, no gateway); absent, they are skipped.

Usage: bench/bench_client.py [--version 3.5.16] [--seconds 2] [--only threads,range]
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import sys
import threading

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
    parser.add_argument("--only", default=",".join(PARTS),
                        help="the parts to run, comma-separated, of: %s (default: all)" % ", ".join(PARTS))
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if not parts <= set(PARTS):
        parser.error("--only: unknown part(s) %s" % ", ".join(sorted(parts - set(PARTS))))
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
        if "requests" in parts:
            print("%-22s %12s %12s %8s" % ("case", "etcd3 /s", "requests /s", "ratio"))
            for name, ours, theirs in cases:
                ours(), theirs()
                a, b = side_by_side(ours, theirs, args.seconds * 2)
                print("%-22s %12.0f %12.0f %7.2fx" % (name, a, b, a / b))

        connection = http.client.HTTPConnection(server.host, server.port)
        range_path, range_json = client.api_prefix + "/kv/range", json.dumps(range_body).encode()

        def http_client_range():
            connection.request("POST", range_path, range_json, {"Content-Type": "application/json"})
            resp = connection.getresponse()
            data = json.loads(resp.read())
            if resp.status != 200:
                raise RuntimeError(data)
            header = data["header"]
            header["revision"] = int(header["revision"])
            for kv in data["kvs"]:
                kv["key"] = base64.b64decode(kv["key"])
                kv["value"] = base64.b64decode(kv.get("value", ""))
                for name in ("create_revision", "mod_revision", "version", "lease"):
                    if name in kv:
                        kv[name] = int(kv[name])
            return data

        def ours_range_used():
            for kv in client.range("/bench/range/", prefix=True).kvs:
                kv.key, kv.value, kv.mod_revision
        if "range" in parts:
            assert len(http_client_range()["kvs"]) == 1000
            ours_range_used()
            a, b = side_by_side(ours_range_used, http_client_range, args.seconds * 2)
            print("%-22s %12s %12s %8s" % ("case", "etcd3 /s", "http.client/s", "ratio"))
            print("%-22s %12.0f %12.0f %7.2fx" % ("range 1,000, decoded", a, b, a / b))
        connection.close()
        if "threads" in parts:
            threads_case(server, client, args.seconds)
        if "grpc" in parts:
            grpc_sides(server, value, args.seconds, cases)
        client.close()


# the parts of the run (--only): the cases against bare requests, the range against bare
# http.client, 64 threads against http.client, the gRPC clients' sides
PARTS = ("requests", "range", "threads", "grpc")


def threads_case(server, client, seconds, threads=64):
    """64 threads putting at once: all on our one Client, against bare http.client
    with a connection per thread (target >= 1.1x); both sides on the same thread pool."""
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()
    path = client.api_prefix + "/kv/put"
    keys = ["/bench/threads/%02d" % i for i in range(threads)]
    bodies = [json.dumps({"key": b64(k), "value": b64("x" * 100)}).encode() for k in keys]

    def bare_put(i):
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(server.host, server.port)
        connection.request("POST", path, bodies[i], {"Content-Type": "application/json"})
        resp = connection.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(resp.status)

    with ThreadPoolExecutor(threads) as pool:
        def ours():
            list(pool.map(lambda i: client.put(keys[i], "x" * 100), range(threads)))

        def theirs():
            list(pool.map(bare_put, range(threads)))
        ours(), theirs()
        a, b = side_by_side(ours, theirs, seconds * 2)
    print("%-22s %12s %12s %8s" % ("case", "etcd3 puts/s", "http.client/s", "ratio"))
    print("%-22s %12.0f %12.0f %7.2fx" % ("%d threads, one Client" % threads, a * threads, b * threads, a / b))


def grpc_sides(server, value, seconds, our_cases):
    """The same cases against python-etcd3 (``etcd3`` on PyPI, imported here from its
    own distribution) and aetcd, when installed: gRPC clients, no gateway hop."""
    try:
        import aetcd  # noqa: F401
    except ImportError:
        aetcd = None
    try:
        grpc_client = _python_etcd3_client(server)
    except Exception as e:  # noqa: BLE001 - an optional side: say why it is left out
        # python-etcd3 0.12's generated protobuf code wants protobuf <= 3.20, and its
        # kv.proto cannot share a process with aetcd's (one descriptor pool)
        print("python-etcd3 side skipped: %s: %s" % (type(e).__name__, str(e).splitlines()[0]))
        grpc_client = None
    if grpc_client is not None:
        theirs = [
            lambda: grpc_client.put("/bench/put", value),
            lambda: grpc_client.get("/bench/put"),
            lambda: list(grpc_client.get_prefix("/bench/range/")),
            lambda: [(m.key, v) for v, m in grpc_client.get_prefix("/bench/range/")],
            lambda: grpc_client.transaction(
                compare=[grpc_client.transactions.value("/bench/cas") == "0"],
                success=[grpc_client.transactions.put("/bench/cas", "0")], failure=[]),
        ]
        print("%-22s %12s %12s %8s" % ("case", "etcd3 /s", "python-etcd3", "ratio"))
        for (name, ours, _), other in zip(our_cases, theirs):
            ours(), other()
            a, b = side_by_side(ours, other, seconds * 2)
            print("%-22s %12.0f %12.0f %7.2fx" % (name, a, b, a / b))
    if aetcd is not None:
        import asyncio

        from common import side_by_side_async
        from etcd3 import AioClient

        async def run():
            async with AioClient(server.host, server.port) as ours, \
                    aetcd.Client(host=server.host, port=server.port) as other:
                cases = [
                    ("put 1 KiB", lambda: ours.put("/bench/put", value), lambda: other.put(b"/bench/put", value)),
                    ("get", lambda: ours.range("/bench/put"), lambda: other.get(b"/bench/put")),
                    ("range 1,000 keys", lambda: ours.range("/bench/range/", prefix=True),
                     lambda: other.get_prefix(b"/bench/range/")),
                ]
                print("%-22s %12s %12s %8s" % ("case (aio)", "AioClient/s", "aetcd /s", "ratio"))
                for name, a_call, b_call in cases:
                    await a_call(), await b_call()
                    a, b = await side_by_side_async(a_call, b_call, seconds * 2)
                    print("%-22s %12.0f %12.0f %7.2fx" % (name, a, b, a / b))

        asyncio.run(run())


def _python_etcd3_client(server):
    """python-etcd3's client, when installed.  That distribution's package is also
    named ``etcd3`` and imports itself by that name, so it is loaded from the
    directory of ``$BENCH_PYTHON_ETCD3`` (``pip install --target DIR etcd3``) with
    this package's modules set aside meanwhile, then kept under other names."""
    where = os.environ.get("BENCH_PYTHON_ETCD3")
    if not where or not os.path.exists(os.path.join(where, "etcd3", "client.py")):
        return None
    import importlib

    ours = {name: sys.modules.pop(name) for name in list(sys.modules) if name == "etcd3" or name.startswith("etcd3.")}
    sys.path.insert(0, where)
    try:
        theirs = importlib.import_module("etcd3")
        return theirs.client(host=server.host, port=server.port)
    finally:
        for name in [n for n in sys.modules if n == "etcd3" or n.startswith("etcd3.")]:
            sys.modules["python_" + name] = sys.modules.pop(name)
        sys.modules.update(ours)
        sys.path.remove(where)


if __name__ == "__main__":
    main()
