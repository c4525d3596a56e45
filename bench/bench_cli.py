"""``etcd3 get --prefix`` of 10,000 keys against etcdctl 3.5.1's on the same server, and the start-up
time of ``etcd3 version`` (fresh processes, interleaved, medians).

    .venv/bin/python bench/bench_cli.py [--keys 10000] [--runs 7]

Issue 12's targets: the get within 1.5x of etcdctl's time; ``etcd3 version`` under 150 ms.

A third side is the floor of any gateway client: a bare Python process (http.client, json,
base64) doing the same get through the gRPC-JSON gateway, which etcdctl (gRPC) does not
pass through; the gateway's JSON encoding of the 10,000 keys is the server's work.  Two more
lines show where that floor comes from: ``curl`` fetching the same answer (the server's and the
gateway's time alone) and ``python -c pass`` (the interpreter's start-up, which any Python CLI pays
on top of it).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from etcd3 import Client
from etcd3.testing.server import EtcdServer, find_etcd


# cached bytecode, as an installed package has it: under PYTHONDONTWRITEBYTECODE each run
# would compile every module changed since its .pyc, and time that
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command, **kwargs) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, **kwargs)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("%s failed: %s" % (command, proc.stderr.decode()))
    return elapsed


# the same -w simple output from one POST to the gateway, nothing else
BARE_GET = """
import base64, binascii, http.client, json, sys
host, port = sys.argv[1], int(sys.argv[2])
connection = http.client.HTTPConnection(host, port)
body = json.dumps({"key": base64.b64encode(b"bench/").decode(), "range_end": base64.b64encode(b"bench0").decode()})
connection.request("POST", "/v3/kv/range", body, {"Content-Type": "application/json"})
kvs = json.loads(connection.getresponse().read()).get("kvs") or ()
decode = binascii.a2b_base64
sys.stdout.buffer.write(b"".join(decode(kv["key"]) + b"\\n" + decode(kv["value"]) + b"\\n" for kv in kvs))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--version", default="3.5.1", help="etcd version of the server (etcdctl is 3.5.1)")
    args = parser.parse_args()
    etcdctl = str(find_etcd("3.5.1").parent / "etcdctl")
    etcd3_cli = [str(Path(sys.executable).parent / "etcd3")]
    if not os.path.exists(etcd3_cli[0]):
        etcd3_cli = [sys.executable, "-m", "etcd3"]
    with EtcdServer(version=args.version) as server:
        client = Client(host=server.host, port=server.port)
        value = b"v" * 100
        for i in range(args.keys):
            client.put(b"bench/%08d" % i, value)
        client.close()
        get = ["--endpoints", server.endpoint, "get", "bench/", "--prefix"]
        go, py, go_json, py_json, version, bare, fetch, interpreter = [], [], [], [], [], [], [], []
        curl = shutil.which("curl")
        body = json.dumps({"key": base64.b64encode(b"bench/").decode(),
                           "range_end": base64.b64encode(b"bench0").decode()})
        for _ in range(args.runs):
            go.append(timed([etcdctl] + get))
            py.append(timed(etcd3_cli + get))
            bare.append(timed([sys.executable, "-c", BARE_GET, server.host, str(server.port)]))
            go_json.append(timed([etcdctl] + get + ["-w", "json"]))
            py_json.append(timed(etcd3_cli + get + ["-w", "json"]))
            version.append(timed(etcd3_cli + ["version"]))
            interpreter.append(timed([sys.executable, "-c", "pass"]))
            if curl:
                fetch.append(timed([curl, "-s", "-o", os.devnull, "-X", "POST", "-d", body,
                                    "%s/v3/kv/range" % server.endpoint]))
        rows = [("get --prefix (%d keys), simple" % args.keys, go, py),
                ("get --prefix (%d keys), -w json" % args.keys, go_json, py_json)]
        for name, go_times, py_times in rows:
            g, p = statistics.median(go_times), statistics.median(py_times)
            print("%-40s etcdctl %7.1f ms   etcd3 %7.1f ms   ratio %.2fx" % (name, g * 1e3, p * 1e3, p / g))
        g, b, p = statistics.median(go), statistics.median(bare), statistics.median(py)
        print("%-40s etcdctl %7.1f ms   bare  %7.1f ms   ratio %.2fx (etcd3/bare %.2fx)"
              % ("gateway floor: bare http.client get", g * 1e3, b * 1e3, b / g, p / b))
        if fetch:
            f = statistics.median(fetch)
            print("%-40s etcdctl %7.1f ms   curl  %7.1f ms   ratio %.2fx" % ("the gateway's answer alone (curl)", g * 1e3,
                                                                          f * 1e3, f / g))
        print("%-40s %7.1f ms" % ("python -c pass (interpreter start-up)", statistics.median(interpreter) * 1e3))
        print("%-40s etcd3 %7.1f ms (median of %d)" % ("etcd3 version (start-up)", statistics.median(version) * 1e3,
                                                       args.runs))


if __name__ == "__main__":
    main()
