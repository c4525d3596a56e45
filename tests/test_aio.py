"""AioClient on its own terms: asyncio tasks, real servers, every version.

(The client integration tests also run against AioClient, through
tests/aio_facade.py; these are the scenarios that only make sense as async code.)
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from aio_lock_worker import COUNTER_KEY, count_under_lock
from helpers import require_kept_writes
from etcd3 import AioClient, Client
from etcd3.errors import Etcd3ConnectionError


HERE = os.path.dirname(os.path.abspath(__file__))


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_constructed_outside_a_loop_and_nothing_sent_before_the_first_await(etcd):
    client = AioClient(host=etcd.host, port=etcd.port)  # no running loop here
    assert client._session is None and not client._connected

    async def use():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.ensure_future(ticker())
        await client.put("aio/k", "v")  # connects: /version is read without blocking the loop
        task.cancel()
        resp = await client.range("aio/k")
        await client.delete_range("aio/k")
        await client.close()
        return ticks, resp

    ticks, resp = run(use())
    assert ticks > 0  # the loop ran other tasks while the client connected and called
    assert resp.kvs[0].value == b"v"
    assert client.server_version == etcd.version


def test_64_requests_in_flight(etcd):
    async def go():
        async with AioClient(host=etcd.host, port=etcd.port) as client:
            await asyncio.gather(*(client.put("aio/many/%02d" % i, str(i)) for i in range(64)))
            got = await asyncio.gather(*(client.range("aio/many/%02d" % i) for i in range(64)))
            await client.delete_range("aio/many/", prefix=True)
            return [r.kvs[0].value for r in got]

    assert run(go()) == [str(i).encode() for i in range(64)]


def test_unreachable_server_is_a_clear_error(etcd):
    from etcd3.testing.server import free_port

    async def go():
        client = AioClient(host="127.0.0.1", port=free_port())
        try:
            with pytest.warns(Warning, match="could not read the version"):
                await client._ensure_connected()
            with pytest.raises(Etcd3ConnectionError) as info:
                await client.range("k")
            return str(info.value)
        finally:
            await client.close()

    assert "127.0.0.1" in run(go())


@pytest.mark.etcd_versions("oldest", "newest")
def test_eight_tasks_count_to_800_under_one_lock(etcd):
    async def worker(client, n, records):
        lock = client.Lock("aio-counter", lock_ttl=10)
        await count_under_lock(client, lock, n, records)
        await lock.close()

    async def go():
        async with AioClient(host=etcd.host, port=etcd.port) as client:
            await client.delete_range(COUNTER_KEY)
            records: list = []
            await asyncio.gather(*(worker(client, 100, records) for _ in range(8)))
            value = int((await client.range(COUNTER_KEY)).kvs[0].value)
            await client.delete_range(COUNTER_KEY)
            return value, records

    value, records = run(go(), timeout=300)
    assert value == 800
    assert_no_overlap(records)


def assert_no_overlap(records):
    records = sorted(records)
    tokens = [r[0] for r in records]
    assert len(set(tokens)) == len(tokens), "two holders had the same fencing token"
    for earlier, later in zip(records, records[1:]):
        assert earlier[2] <= later[1], "holders overlapped: %r and %r" % (earlier, later)


@pytest.mark.etcd_versions("oldest", "newest")
def test_sync_and_async_processes_share_one_lock(etcd):
    """Two processes, one with Client and one with AioClient, take turns on one lock."""
    with Client(host=etcd.host, port=etcd.port) as client:
        client.delete_range(COUNTER_KEY)
    commands = [
        [sys.executable, os.path.join(HERE, "lock_worker.py"), "counter", etcd.host, str(etcd.port), "mixed", "50"],
        [sys.executable, os.path.join(HERE, "aio_lock_worker.py"), etcd.host, str(etcd.port), "mixed", "50"],
    ]
    procs = [subprocess.Popen(c, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for c in commands]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        records = []
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out
            records += json.loads(out.strip().splitlines()[-1])["records"]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    with Client(host=etcd.host, port=etcd.port) as client:
        assert int(client.range(COUNTER_KEY).kvs[0].value) == 100
        client.delete_range(COUNTER_KEY)
    assert_no_overlap(records)


@pytest.mark.etcd_versions("oldest", "newest")
def test_watch_resume_after_kill9_loses_nothing(fresh_etcd):
    """A writer process puts 1,000 keys while etcd is killed with SIGKILL and restarted:
    every AioWatcher (two on one client, one on another) gets each event once, in order."""
    server = fresh_etcd

    async def go():
        clients = [AioClient(host=server.host, port=server.port) for _ in range(2)]
        seen = [[], [], []]
        enough = asyncio.Event()
        watchers = [clients[0].Watcher("resume/", prefix=True), clients[0].Watcher("resume/", prefix=True),
                    clients[1].Watcher("resume/", prefix=True)]
        for i, w in enumerate(watchers):
            def collect(event, box=seen[i]):
                box.append(event.key)
                if len(box) >= 300:
                    enough.set()
            w.onEvent(collect)
            await w.runDaemon()
        writer = await asyncio.create_subprocess_exec(
            sys.executable, os.path.join(HERE, "watch_writer.py"), server.host, str(server.port), "resume/", "1000",
            stdout=asyncio.subprocess.PIPE)
        await asyncio.wait_for(enough.wait(), 60)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, server.kill)
        await loop.run_in_executor(None, server.restart)
        out, _ = await asyncio.wait_for(writer.communicate(), 90)
        assert writer.returncode == 0, out
        stored = {kv.key for kv in (await clients[0].range("resume/", prefix=True, keys_only=True)).kvs or []}
        deadline = time.monotonic() + 30
        while stored.issuperset(expected) and any(len(box) < 1000 for box in seen) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        connections = [c._watch_stream().connections for c in clients]
        for w in watchers:
            await w.stop()
        for c in clients:
            await c.close()
        return seen, connections, stored

    expected = [b"resume/%04d" % i for i in range(1000)]
    seen, connections, stored = run(go(), timeout=200)
    require_kept_writes(server.version, expected, stored)
    for box in seen:
        assert box == expected
    assert all(n >= 2 for n in connections), "the streams did not reconnect: %r" % connections
