#!/usr/bin/env python3
"""Watch delivery: events/s and lag (p50/p99) seen by a Watcher callback, side by
side in one run with a bare reader of the same gateway stream.

Another PROCESS writes 1 KiB values as fast as it can (``--threads`` threads, one
etcd3.Client each, for ``--seconds``); every value starts with its send time
(``time.time()``), so a reader computes each event's lag on arrival.  The same
load is run twice on the same server, one reader at a time:

* bare:    ``requests.post(gateway + '/watch', stream=True)``, ``iter_lines``,
           ``json.loads`` and base64-decoding each value;
* Watcher: ``client.Watcher(prefix, prefix=True)`` with an ``onEvent`` callback.

events/s is the events delivered divided by the time from the first to the last
one.  The writer ends with a sentinel key that tells the reader to stop.

Then (unless ``--scale 0``) watchers at scale, for Client and AioClient:
``--scale`` (10,000) Watchers on one client, each on a key of its own with a
callback and ``runDaemon()``, and one more watcher on another prefix: the time to
create them all (until the last creation is answered; Aio: each ``await
w.runDaemon()`` in turn, and Aio-cc: 500 of them awaited together with
``asyncio.gather``), the threads (and, for AioClient, the asyncio tasks) added, the
RSS growth.  Then ``--scale-rounds`` rounds of two shapes, alternating on the same
stream with the same watchers: the writer process puts each of the watchers' keys
once (fan-out), then as many keys under the one watcher's prefix; ``--batch`` puts
per transaction (1: one revision per event, 4 writer threads).  The ratio is the
median over the rounds of the fan-out rate over the one watcher's.  The ``bare``
side is the gateway's ceiling: http.client and ``json.loads`` per line on one watch
stream with the same watches, no models and no dispatch.

Usage: bench/bench_watch.py [--version 3.5.16] [--seconds 5] [--threads 4] [--rounds 1]
                            [--scale 10000] [--batch 1] [--scale-rounds 3] [--only scale|delivery]
                            [--sides Aio]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import requests  # noqa: E402

from etcd3 import AioClient, Client  # noqa: E402
from etcd3.testing.server import EtcdServer  # noqa: E402

PREFIX = "/bench/watch/"
SENTINEL = PREFIX + "~done"
VALUE_SIZE = 1024


# --------------------------------------------------------------------------- the writer process

def writer_main(host: str, port: int, seconds: float, threads: int) -> None:
    counts = [0] * threads
    stop_at = time.time() + seconds
    padding = "x" * VALUE_SIZE

    def write(index: int) -> None:
        client = Client(host=host, port=port)
        n = 0
        while time.time() < stop_at:
            stamp = "%.6f " % time.time()
            client.put("%s%d/%d" % (PREFIX, index, n), (stamp + padding)[:VALUE_SIZE])
            n += 1
        counts[index] = n
        client.close()

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    client = Client(host=host, port=port)
    client.put(SENTINEL, "%.6f" % time.time())
    client.close()
    print(json.dumps({"written": sum(counts)}), flush=True)


SCALE_PREFIX = "/bench/scale/"
ONE_PREFIX = SCALE_PREFIX + "one/"  # the keys of the one watcher's rounds
FAN_PREFIX = SCALE_PREFIX + "fan/"  # the keys of the watchers, one each


def scale_writer_main(host: str, port: int, prefix: str, n: int, batch: int, threads: int) -> None:
    """Put prefix + i once for every i < n: ``batch`` puts per transaction."""
    chunks = [list(range(start, min(n, start + batch))) for start in range(0, n, batch)]

    def write(index: int) -> None:
        client = Client(host=host, port=port)
        for chunk in chunks[index::threads]:
            if batch == 1:
                client.put("%s%d" % (prefix, chunk[0]), "v")
            else:
                txn = client.Txn()
                for i in chunk:
                    txn.success(txn.put("%s%d" % (prefix, i), "v"))
                txn.commit()
        client.close()

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    print(json.dumps({"written": n}), flush=True)


def start_scale_writer(server: EtcdServer, prefix: str, n: int, batch: int) -> subprocess.Popen:
    threads = 4 if batch == 1 else 1  # (one transaction at a time keeps each key's events in key order)
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--scale-writer", server.host, str(server.port),
         prefix, str(n), str(batch), str(threads)], stdout=subprocess.PIPE, text=True)


def start_writer(server: EtcdServer, seconds: float, threads: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--writer", server.host, str(server.port),
         str(seconds), str(threads)], stdout=subprocess.PIPE, text=True)


def finish_writer(proc: subprocess.Popen) -> int:
    out, _ = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise SystemExit("the writer failed (exit %d)" % proc.returncode)
    return json.loads(out.strip().splitlines()[-1])["written"]


# --------------------------------------------------------------------------- readers

class Stats:
    def __init__(self) -> None:
        self.lags: list = []
        self.first = self.last = 0.0

    def event(self, value: bytes, now: float) -> None:
        if not self.lags:
            self.first = now
        self.last = now
        self.lags.append(now - float(value[:value.index(b" ")]))

    def summary(self) -> dict:
        lags = sorted(self.lags)
        n = len(lags)
        span = self.last - self.first
        return {"events": n, "rate": (n - 1) / span if span > 0 else 0.0,
                "p50": lags[n // 2] * 1000 if n else float("nan"),
                "p99": lags[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan")}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def bare_round(server: EtcdServer, prefix_end: str, seconds: float, threads: int) -> tuple:
    session = requests.Session()
    session.trust_env = False
    body = json.dumps({"create_request": {"key": b64(PREFIX), "range_end": b64(prefix_end)}})
    resp = session.post(server.endpoint + server.api_prefix + "/watch", data=body, stream=True, timeout=60)
    stats = Stats()
    lines = resp.iter_lines(chunk_size=None)
    created = json.loads(next(lines))
    assert created["result"].get("created"), created
    writer = start_writer(server, seconds, threads)
    sentinel = b64(SENTINEL)
    done = False
    for line in lines:
        if not line:
            continue
        now = time.time()
        for event in json.loads(line)["result"].get("events", ()):
            kv = event["kv"]
            if kv["key"] == sentinel:
                done = True
                break
            stats.event(base64.b64decode(kv["value"]), now)
        if done:
            break
    resp.close()
    session.close()
    return stats, finish_writer(writer)


def watcher_round(server: EtcdServer, seconds: float, threads: int) -> tuple:
    client = Client(host=server.host, port=server.port)
    stats = Stats()
    done = threading.Event()
    sentinel = SENTINEL.encode()

    def on_event(event) -> None:
        now = time.time()
        if event.key == sentinel:
            done.set()
        else:
            stats.event(event.value, now)

    watcher = client.Watcher(PREFIX, prefix=True)
    watcher.onEvent(on_event)
    watcher.runDaemon()
    writer = start_writer(server, seconds, threads)
    written = finish_writer(writer)
    if not done.wait(120):
        raise SystemExit("the Watcher never saw the writer's sentinel")
    watcher.stop()
    client.close()
    return stats, written


# --------------------------------------------------------------------------- watchers at scale

def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


TRACE_MEMORY = False  # --trace-memory


def memory_mark() -> object:
    """With --trace-memory: a tracemalloc snapshot of now (tracemalloc then runs until
    ``memory_report``; its own memory adds to the RSS figures)."""
    if not TRACE_MEMORY:
        return None
    gc.collect()
    tracemalloc.start()
    return tracemalloc.take_snapshot()


def memory_report(mark: object, n: int, top: int = 14) -> None:
    """What the Python heap gained since ``mark``, per watcher, by the line that allocated it."""
    if mark is None:
        return
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = snapshot.compare_to(mark, "lineno")
    print("  traced growth: %.0f B a watcher; by site (bytes and blocks a watcher):"
          % (sum(stat.size_diff for stat in stats) / n))
    for stat in stats[:top]:
        frame = stat.traceback[0]
        print("  %8.1f B %5.2f  %s:%d" % (stat.size_diff / n, stat.count_diff / n,
                                         os.path.relpath(frame.filename), frame.lineno))


class Arrivals:
    """Counts the events reaching the callbacks; ``done`` once ``expected`` came."""

    def __init__(self, expected: int, done: object) -> None:
        self.expected, self.done = expected, done
        self.count = 0
        self.first = self.last = 0.0
        self.lock = threading.Lock()

    def __call__(self, event) -> None:
        now = time.perf_counter()
        with self.lock:
            if not self.count:
                self.first = now
            self.count += 1
            self.last = now
            if self.count == self.expected:
                self.done.set()

    def rate(self) -> float:
        span = self.last - self.first
        return (self.count - 1) / span if span > 0 else 0.0

    def restart(self, expected: int) -> None:
        """Count a new round (``done`` cleared)."""
        with self.lock:
            self.expected, self.count = expected, 0
            self.done.clear()


def median(values: list) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def scale_result(created: float, threads: int, rss: float, pairs: list, **more) -> dict:
    """The figures of a side: ``pairs`` is (fan-out events/s, one watcher's) per round."""
    return dict(create_s=created, threads=threads, rss_mb=rss, fanout_rate=median([f for f, _ in pairs]),
                one_rate=median([o for _, o in pairs]), ratio=median([f / o for f, o in pairs]),
                ratios=[f / o for f, o in pairs], **more)


def scale_sync(server: EtcdServer, n: int, batch: int, rounds: int) -> dict:
    client = Client(host=server.host, port=server.port)
    warm = client.Watcher(SCALE_PREFIX + "warm")  # the watch stream and its threads exist before
    warm.onEvent(lambda event: None)
    warm.runDaemon()
    one_arrivals = Arrivals(n, threading.Event())
    one = client.Watcher(ONE_PREFIX, prefix=True)  # one watcher receiving n events a round
    one.onEvent(one_arrivals)
    one.runDaemon()
    gc.collect()
    threads0, rss0 = threading.active_count(), rss_mb()
    mark = memory_mark()
    arrivals = Arrivals(n, threading.Event())
    start = time.perf_counter()
    watchers = []
    for i in range(n):
        w = client.Watcher("%s%d" % (FAN_PREFIX, i))
        w.onEvent(arrivals)
        w.runDaemon()  # (returns with the creation sent, or held back to go with the next batch)
        watchers.append(w)
    watchers[-1].wait_created()  # all created: etcd answers the creations of one stream in order
    created = time.perf_counter() - start
    threads1, rss1 = threading.active_count(), rss_mb()
    memory_report(mark, n)
    pairs = []
    for _ in range(rounds):  # the two shapes alternate, on the same stream with the same watchers
        rates = []
        for counter, prefix in ((arrivals, FAN_PREFIX), (one_arrivals, ONE_PREFIX)):
            counter.restart(n)
            finish_writer(start_scale_writer(server, prefix, n, batch))
            if not counter.done.wait(120):
                raise SystemExit("%s: %d of %d events" % (prefix, counter.count, n))
            rates.append(counter.rate())
        pairs.append(tuple(rates))
    result = scale_result(created, threads1 - threads0, rss1 - rss0, pairs,
                          threads_after=threading.active_count() - threads0, rss_after_mb=rss_mb() - rss0)
    for w in watchers:
        w.stop()
    one.stop()
    warm.stop()
    clean_scale(client)
    client.close()
    return result


CONCURRENT_CREATIONS = 500  # runDaemon() calls awaited together by the concurrent aio side


def scale_aio(server: EtcdServer, n: int, batch: int, rounds: int, concurrent: bool = False) -> dict:
    async def main() -> dict:
        client = AioClient(host=server.host, port=server.port)
        warm = client.Watcher(SCALE_PREFIX + "warm")
        warm.onEvent(lambda event: None)
        await warm.runDaemon()
        loop = asyncio.get_running_loop()
        one_arrivals = Arrivals(n, asyncio.Event())
        one = client.Watcher(ONE_PREFIX, prefix=True)
        one.onEvent(one_arrivals)
        await one.runDaemon()
        gc.collect()
        threads0, tasks0, rss0 = threading.active_count(), len(asyncio.all_tasks()), rss_mb()
        mark = memory_mark()
        arrivals = Arrivals(n, asyncio.Event())
        start = time.perf_counter()
        watchers = []
        for i in range(n):
            w = client.Watcher("%s%d" % (FAN_PREFIX, i))
            w.onEvent(arrivals)
            watchers.append(w)
            if not concurrent:
                await w.runDaemon()  # each awaited in turn (returns with the creation sent, or held back)
        for first in range(0, n, CONCURRENT_CREATIONS) if concurrent else ():
            await asyncio.gather(*(w.runDaemon() for w in watchers[first:first + CONCURRENT_CREATIONS]))
        await watchers[-1].wait_created()  # all created (as Client's side): the writer is another process
        created = time.perf_counter() - start
        threads1, tasks1, rss1 = threading.active_count(), len(asyncio.all_tasks()), rss_mb()
        memory_report(mark, n)
        pairs = []
        for _ in range(rounds):
            rates = []
            for counter, prefix in ((arrivals, FAN_PREFIX), (one_arrivals, ONE_PREFIX)):
                counter.restart(n)
                await loop.run_in_executor(None, finish_writer, start_scale_writer(server, prefix, n, batch))
                await asyncio.wait_for(counter.done.wait(), 120)
                rates.append(counter.rate())
            pairs.append(tuple(rates))
        result = scale_result(created, threads1 - threads0, rss1 - rss0, pairs, tasks=tasks1 - tasks0,
                              threads_after=threading.active_count() - threads0, rss_after_mb=rss_mb() - rss0)
        for w in watchers:
            await w.stop()
        await one.stop()
        await warm.stop()
        await client.delete_range(SCALE_PREFIX, prefix=True)
        await client.close()
        return result

    return asyncio.run(main())


def scale_bare(server: EtcdServer, n: int, batch: int, rounds: int) -> dict:
    """The ceiling of the gateway's stream: a bare reader (http.client, ``json.loads``
    per line, no model, no dispatch) of one watch stream with the same watches, the
    same rounds, events counted as the watchers' callbacks count them."""
    import http.client

    prefix_end = ONE_PREFIX[:-1] + chr(ord(ONE_PREFIX[-1]) + 1)
    conn = http.client.HTTPConnection(server.host, server.port)
    conn.putrequest("POST", server.api_prefix + "/watch")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Expect", "100-continue")  # (full duplex on etcd's gateway: see transport.duplex)
    conn.endheaders()
    # every creation in the request's one chunk (a second chunk sent after getresponse()
    # got no answer in this minimal reader; one is all it needs)
    creates = [{"key": b64(ONE_PREFIX), "range_end": b64(prefix_end)}]
    creates += [{"key": b64("%s%d" % (FAN_PREFIX, i))} for i in range(n)]
    gc.collect()
    rss0 = rss_mb()
    start = time.perf_counter()
    body = b"".join(json.dumps({"create_request": c}).encode() + b"\n" for c in creates)
    conn.send(b"%x\r\n%s\r\n" % (len(body), body))
    resp = conn.getresponse()
    readline, loads = resp.readline, json.loads
    created = 0
    while created < len(creates):
        line = readline()
        if line.strip() and loads(line)["result"].get("created"):
            created += 1
    created_s = time.perf_counter() - start
    rss1 = rss_mb()
    arrivals = Arrivals(n, threading.Event())
    pairs = []
    for _ in range(rounds):
        rates = []
        for prefix in (FAN_PREFIX, ONE_PREFIX):
            arrivals.restart(n)
            writer = start_scale_writer(server, prefix, n, batch)
            while arrivals.count < n:
                line = readline()
                if not line:
                    raise SystemExit("bare reader: the stream ended after %d of %d events" % (arrivals.count, n))
                if line.strip():
                    for event in loads(line)["result"].get("events", ()):
                        arrivals(event)
            finish_writer(writer)
            rates.append(arrivals.rate())
        pairs.append(tuple(rates))
    conn.close()
    client = Client(host=server.host, port=server.port)
    clean_scale(client)
    client.close()
    return scale_result(created_s, 0, rss1 - rss0, pairs, rss_after_mb=rss_mb() - rss0)


def clean_scale(client: Client) -> None:
    client.delete_range(SCALE_PREFIX, prefix=True)


def scale_main(server: EtcdServer, n: int, batch: int, only_sides: str = "", rounds: int = 3) -> None:
    print("\n%d watchers on one client, a key and a callback each, runDaemon(); writer: %s;"
          " %d rounds of each shape, alternating (median; per round in brackets)"
          % (n, "4 threads, one put per event" if batch == 1 else "transactions of %d puts" % batch, rounds))
    print("%-7s %9s %8s %6s %9s %12s %12s %8s  %s"
          % ("client", "create s", "threads", "tasks", "RSS MB", "fan-out ev/s", "one-w ev/s", "ratio",
             "RSS end [ratios]"))
    sides = (("Client", scale_sync), ("Aio", scale_aio),
             ("Aio-cc", lambda server, n, batch, rounds: scale_aio(server, n, batch, rounds, concurrent=True)),
             ("bare", scale_bare))
    for name, run in sides:
        if only_sides and name not in only_sides.split(","):
            continue
        r = run(server, n, batch, rounds)
        print("%-7s %9.2f %8d %6s %9.1f %12.0f %12.0f %7.2fx  %.1f [%s]"
              % (name, r["create_s"], r["threads"], r.get("tasks", "-"), r["rss_mb"], r["fanout_rate"],
                 r["one_rate"], r["ratio"], r["rss_after_mb"], " ".join("%.2f" % x for x in r["ratios"])))


def clean(server: EtcdServer) -> None:
    client = Client(host=server.host, port=server.port)
    rev = client.delete_range(PREFIX, prefix=True).header.revision
    client.compact(rev)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", default=None, help="etcd version of the matrix (default: any found)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--scale", type=int, default=10000, help="watchers of the scale run (0: none)")
    parser.add_argument("--batch", type=int, default=1, help="puts per transaction of the scale run's writer")
    parser.add_argument("--only", choices=("scale", "delivery"), default=None)
    parser.add_argument("--sides", default="", help="scale sides to run, e.g. Aio (default: Client,Aio,Aio-cc,bare; "
                        "RSS growth is that of the first side run in the process; bare: http.client and "
                        "json.loads per line, the gateway's ceiling)")
    parser.add_argument("--writer", nargs=4, metavar=("HOST", "PORT", "SECONDS", "THREADS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--scale-writer", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--scale-rounds", type=int, default=3,
                        help="rounds of each shape in the scale run, the two alternating")
    parser.add_argument("--trace-memory", action="store_true",
                        help="scale: what the Python heap gains per watcher, by allocating line (tracemalloc; "
                        "it makes the RSS and creation figures larger)")
    args = parser.parse_args()
    global TRACE_MEMORY
    TRACE_MEMORY = args.trace_memory
    if args.writer:
        host, port, seconds, threads = args.writer
        writer_main(host, int(port), float(seconds), int(threads))
        return
    if args.scale_writer:
        host, port, prefix, n, batch, threads = args.scale_writer
        scale_writer_main(host, int(port), prefix, int(n), int(batch), int(threads))
        return
    if args.only == "scale":
        with EtcdServer(version=args.version) as server:
            print("etcd %s at %s" % (server.version, server.endpoint))
            scale_main(server, args.scale, args.batch, args.sides, args.scale_rounds)
        return
    prefix_end = PREFIX[:-1] + chr(ord(PREFIX[-1]) + 1)
    with EtcdServer(version=args.version) as server:
        print("etcd %s at %s; writer: 1 process, %d threads, %d B values, %.0f s per round"
              % (server.version, server.endpoint, args.threads, VALUE_SIZE, args.seconds))
        results: dict = {"bare": [], "Watcher": []}
        for _ in range(args.rounds):
            for name in ("bare", "Watcher"):
                clean(server)
                if name == "bare":
                    stats, written = bare_round(server, prefix_end, args.seconds, args.threads)
                else:
                    stats, written = watcher_round(server, args.seconds, args.threads)
                summary = stats.summary()
                if summary["events"] != written:
                    raise SystemExit("%s: %d events delivered, %d written" % (name, summary["events"], written))
                results[name].append(summary)
        print("%-8s %8s %10s %9s %9s" % ("reader", "events", "events/s", "p50 ms", "p99 ms"))
        best = {}
        for name, runs in results.items():
            # the round with the median rate (the only one with --rounds 1)
            run = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2]
            best[name] = run
            print("%-8s %8d %10.0f %9.2f %9.2f" % (name, run["events"], run["rate"], run["p50"], run["p99"]))
        bare, watcher = best["bare"], best["Watcher"]
        print("ratio Watcher/bare: events/s %.2fx, p50 lag %.2fx, p99 lag %.2fx"
              % (watcher["rate"] / bare["rate"], watcher["p50"] / bare["p50"], watcher["p99"] / bare["p99"]))
        if args.scale and args.only != "delivery":
            scale_main(server, args.scale, args.batch, args.sides, args.scale_rounds)


if __name__ == "__main__":
    main()
