#!/usr/bin/env python3
"""Benchmarks of the transport-free core (no server).

1. Loading one version's spec and building its operations table, in ms (cold: a
   fresh bundle each round).
2. Decoding a RangeResponse body of 1,000 KVs with 100-byte values into models,
   side by side with json.loads of the same body, calls alternating, median call
   (target: <= 3x json.loads).
"""
from __future__ import annotations

import base64
import json
import os
import sys
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from common import side_by_side  # noqa: E402
from etcd3.spec import SpecBundle, load_bundle  # noqa: E402


def best_ms(fn, number, repeat=7):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1000


def range_body(n=1000, value_size=100):
    kvs = [{"key": base64.b64encode(b"/bench/key/%06d" % i).decode(),
            "create_revision": str(10 + i), "mod_revision": str(2000 + i), "version": "3",
            "value": base64.b64encode(os.urandom(value_size)).decode()} for i in range(n)]
    return json.dumps({"header": {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
                                  "revision": "3000", "raft_term": "2"}, "kvs": kvs, "count": str(n)}).encode()


def main():
    def cold_load():
        bundle = SpecBundle("3.5")
        return bundle.operations

    load_ms = best_ms(cold_load, number=20)
    print("spec 3.5 load + operations table (cold):   %7.2f ms" % load_ms)

    def cold_load_and_models():
        bundle = SpecBundle("3.5")
        for op in bundle.operations.values():
            op.signature, op.doc, op.response.getModel()

    print("  + signatures, docstrings, models:         %7.2f ms" % best_ms(cold_load_and_models, number=10))

    body = range_body()
    node = load_bundle("3.5").operations["range"].response
    node.decode(json.loads(body))  # build the decoder once
    # alternating, median call (bench/common.py): drift in the machine's load hits both
    model_rate, json_rate = side_by_side(lambda: node.decode_owned(json.loads(body)), lambda: json.loads(body), 4)
    json_ms, model_ms = 1000 / json_rate, 1000 / model_rate
    print("RangeResponse 1,000 KVs x 100 B (%d KiB body)" % (len(body) // 1024))
    print("  json.loads:                               %7.2f ms" % json_ms)
    print("  json.loads + decode to models:            %7.2f ms" % model_ms)
    print("  ratio (target <= 3.0x):                   %7.2fx" % (model_ms / json_ms))


if __name__ == "__main__":
    main()
