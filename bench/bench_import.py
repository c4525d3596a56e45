#!/usr/bin/env python3
"""Start-up: import time and construct -> first get, each run in a fresh Python
process (the cost a command-line tool or a short job pays), the sides of a
comparison run in turn (interleaved), medians over the runs.

- ``import etcd3`` against ``import requests`` (target <= 0.8x), and
  ``from etcd3 import Client`` (what a first call needs) beside it;
- ``import etcd3`` then ``etcd3.AioClient`` made, against ``import aiohttp``
  (target <= 1.0x);
- constructing a client and its first get, after the imports, against a bare
  requests.Session's first POST (target <= 1.0x), and the same with the imports;
- python-etcd3 and aetcd (gRPC) beside them where installed (bench/requirements.txt).

Wall and CPU time are both shown: on a machine busy with other work the CPU time
(``time.process_time()`` of the child) leaves out the waits for a core.

Usage: bench/bench_import.py [--version sid] [--runs 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from etcd3.testing.server import EtcdServer  # noqa: E402

# wall time, and the process's CPU time (steadier on a busy machine: waits for a core are left out)
TIMED = """
import time
_start, _cpu = time.perf_counter(), time.process_time()
{code}
print(time.perf_counter() - _start, time.process_time() - _cpu)
"""

IMPORTS = {
    "import requests": "import requests",
    "import etcd3": "import etcd3",
    "from etcd3 import Client": "from etcd3 import Client",
    "import aiohttp": "import aiohttp",
    "etcd3.AioClient usable": "import etcd3\netcd3.AioClient('127.0.0.1', 1)",
    "import aetcd (gRPC)": "import aetcd",
}

FIRST_GET = {
    "bare requests: first POST": (
        "import base64, json, requests",
        "session = requests.Session()\n"
        "session.post('http://{host}:{port}/v3/kv/range', data=json.dumps("
        "{{'key': base64.b64encode(b'/k').decode()}})).json()"),
    "etcd3 Client: first get": (
        "from etcd3 import Client",
        "Client('{host}', {port}).range('/k')"),
    "bare aiohttp: first POST": (
        "import asyncio, base64, json, aiohttp",
        "async def main():\n"
        "    async with aiohttp.ClientSession() as session:\n"
        "        async with session.post('http://{host}:{port}/v3/kv/range', data=json.dumps("
        "{{'key': base64.b64encode(b'/k').decode()}})) as resp:\n"
        "            await resp.json()\n"
        "asyncio.run(main())"),
    "etcd3 AioClient: first get": (
        "import asyncio\nfrom etcd3 import AioClient",
        "async def main():\n"
        "    async with AioClient('{host}', {port}) as client:\n"
        "        await client.range('/k')\n"
        "asyncio.run(main())"),
}
# what each first get is set against: the bare client of the same kind (the asyncio
# sides both pay asyncio.run and a loop)
FIRST_GET_BASE = {"etcd3 AioClient: first get": "bare aiohttp: first POST"}


# cached bytecode, as an installed package has it: a run under PYTHONDONTWRITEBYTECODE
# would otherwise compile every module changed since its .pyc, and time that
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_once(code: str, setup: str = "") -> "tuple[float, float]":
    """(wall, CPU) seconds of ``code`` in a fresh process, after ``setup``."""
    script = setup + "\n" + TIMED.format(code=code)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    wall, cpu = out.stdout.split()[-2:]
    return float(wall), float(cpu)


def available(name: str) -> bool:
    return subprocess.run([sys.executable, "-c", "import " + name], capture_output=True).returncode == 0


def interleaved(cases: dict, runs: int) -> dict:
    """(median wall, median CPU) seconds of each case, the cases run in turn ``runs`` times."""
    times: dict = {name: [] for name in cases}
    for setup, code in cases.values():
        run_once(code, setup)  # writes the .pyc files; not timed
    for i in range(runs):
        names = list(cases) if i % 2 == 0 else list(reversed(cases))
        for name in names:
            setup, code = cases[name]
            times[name].append(run_once(code, setup))
    return {name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
            for name, t in times.items()}


def row(name: str, value: "tuple[float, float]", base: "tuple[float, float] | None", note: str = "") -> str:
    wall, cpu = value
    if base is None:
        return "%-28s %8.1f %8s %8.1f %8s" % (name, wall * 1e3, "", cpu * 1e3, "")
    return "%-28s %8.1f %7.2fx %8.1f %7.2fx%s" % (name, wall * 1e3, wall / base[0], cpu * 1e3, cpu / base[1], note)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default="sid")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    imports = {name: ("", code) for name, code in IMPORTS.items()
               if "aetcd" not in name or available("aetcd")}
    medians = interleaved(imports, args.runs)
    print("import, median of %d fresh processes (ms)" % args.runs)
    print("%-28s %8s %8s %8s %8s" % ("", "wall", "ratio", "CPU", "ratio"))
    for name, base in (("import requests", None), ("import etcd3", "import requests"),
                       ("from etcd3 import Client", "import requests"), ("import aiohttp", None),
                       ("etcd3.AioClient usable", "import aiohttp"), ("import aetcd (gRPC)", "import aiohttp")):
        if name not in medians:
            continue
        print(row(name, medians[name], medians[base] if base else None, "  (vs %s)" % base if base else ""))

    with EtcdServer(version=args.version) as server:
        cases = {name: (setup, code.format(host=server.host, port=server.port))
                 for name, (setup, code) in FIRST_GET.items()}
        medians = interleaved(cases, args.runs)
        base = medians["bare requests: first POST"]
        print("\nconstruct -> first get after the imports, etcd %s (ms)" % server.version)
        print("%-28s %8s %8s %8s %8s" % ("", "wall", "ratio", "CPU", "ratio"))
        for name, value in medians.items():
            against = FIRST_GET_BASE.get(name)
            print(row(name, value, medians[against] if against else base, "  (vs %s)" % against if against else ""))
        # what a short program waits for: the imports and the first answer together
        whole = {name: ("", setup + "\n" + code) for name, (setup, code) in cases.items()}
        medians = interleaved(whole, args.runs)
        base = medians["bare requests: first POST"]
        print("\nimport + construct + first get, etcd %s (ms)" % server.version)
        print("%-28s %8s %8s %8s %8s" % ("", "wall", "ratio", "CPU", "ratio"))
        for name, value in medians.items():
            against = FIRST_GET_BASE.get(name)
            print(row(name, value, medians[against] if against else base, "  (vs %s)" % against if against else ""))


if __name__ == "__main__":
    main()
