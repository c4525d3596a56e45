#!/usr/bin/env python3
"""Lock acquire+release cycles/s and lease grant+revoke/s: etcd3's FairLock and Lease
helpers vs the same RPCs posted with a bare requests.Session, side by side in
one run on one server (calls alternating; rates from the median call).
Target: >= 0.9x bare requests on the lock RPCs.

Usage: bench/bench_lock.py [--version 3.5.16] [--seconds 3]
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default=None)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with EtcdServer(version=args.version) as server:
        client = Client(server.host, server.port)
        session = requests.Session()
        base = server.endpoint + client.api_prefix

        def post(path, body):
            resp = session.post(base + path, data=json.dumps(body))
            resp.raise_for_status()
            return resp.json()

        bare_lease = int(post("/lease/grant", {"TTL": "60"})["ID"])
        name = base64.b64encode(b"bench-bare").decode()

        def bare_cycle():
            key = post("/lock/lock", {"name": name, "lease": str(bare_lease)})["key"]
            post("/lock/unlock", {"key": key})

        lock = client.FairLock("bench-lock", lock_ttl=60)

        def lock_cycle():
            lock.acquire()
            lock.release()

        def bare_lease_cycle():
            lease_id = post("/lease/grant", {"TTL": "60"})["ID"]
            post("/kv/lease/revoke" if client.api_prefix == "/v3beta" else "/lease/revoke", {"ID": lease_id})

        def lease_cycle():
            lease = client.Lease(60)
            lease.grant()
            lease.revoke()

        print("etcd %s, about %s s per case, the two sides alternating" % (server.version, 2 * args.seconds))
        print("%-26s %12s %12s %8s" % ("case", "etcd3 /s", "requests /s", "ratio"))
        for name_, ours, theirs in [("lock acquire+release", lock_cycle, bare_cycle),
                                    ("lease grant+revoke", lease_cycle, bare_lease_cycle)]:
            ours(), theirs()
            a, b = side_by_side(ours, theirs, args.seconds * 2)
            print("%-26s %12.0f %12.0f %7.2fx" % (name_, a, b, a / b))
        lock.close()
        client.close()


if __name__ == "__main__":
    main()
