"""Fork safety: a child forked while other threads use a client gets a client of its own.

At ``os.fork()`` the child gets copies of the parent's objects but only the forking
thread: a lock another thread held at that moment would stay held for good, the
background threads of the watch and keepalive streams are gone, and every socket is
still the parent's connection too.  These tests fork for real against a real etcd;
each child does its work with a deadline and sends its result back through a pipe,
and a child that does not answer in time is killed and fails the test.
"""
from __future__ import annotations

import asyncio
import json
import os
import queue
import select
import signal
import threading
import time
import warnings
from typing import Any, Callable, Dict

import pytest

from helpers import wait_for
from etcd3 import AioClient, Client

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")

CHILD_SECONDS = 20.0


def run_in_child(work: Callable[[], Any], timeout: float = CHILD_SECONDS) -> Dict[str, Any]:
    """Fork; the child runs ``work()`` and sends back ``{"ok": result}`` or ``{"error": ...}``
    as JSON.  A child that has not answered within ``timeout`` seconds is killed:
    ``{"hung": True}``."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads: that is the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: it never returns into pytest
        try:
            os.close(read_end)
            try:
                answer: Dict[str, Any] = {"ok": work()}
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                answer = {"error": "%s: %s" % (type(e).__name__, e)}
            data = json.dumps(answer, default=repr).encode()
            while data:
                data = data[os.write(write_end, data):]
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                return {"hung": True}
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    if not chunks:
        return {"error": "the child ended without an answer"}
    return json.loads(b"".join(chunks))


def test_forks_while_threads_use_the_client_and_the_parent_goes_on(etcd):
    client = Client(host=etcd.host, port=etcd.port)
    prefix = "fork/busy/"
    stop = threading.Event()
    failures: list = []
    rounds = [0] * 9

    def hammer(i: int) -> None:
        key = "%st%d" % (prefix, i)
        n = 0
        while not stop.is_set():
            try:
                client.put(key, str(n))
                assert client.range(key).kvs[0].value == str(n).encode()
            except Exception as e:  # noqa: BLE001 - reported by the test
                failures.append(e)
                return
            n += 1
            rounds[i] = n

    def watch_and_lease() -> None:
        # keeps the watch and keepalive streams (and their locks) busy all the time
        key = prefix + "streams"
        n = 0
        while not stop.is_set():
            try:
                with client.Lease(ttl=5) as lease:
                    watcher = client.Watcher(key=key)
                    with watcher:
                        client.put(key, str(n), lease=lease.ID)
                        event = next(iter(watcher.events(timeout=10)))
                        assert event.value == str(n).encode()
            except Exception as e:  # noqa: BLE001 - reported by the test
                failures.append(e)
                return
            n += 1
            rounds[8] = n

    seen: "queue.Queue[bytes]" = queue.Queue()
    watcher = client.Watcher(key=prefix + "watched/", prefix=True)
    watcher.onEvent(lambda event: seen.put(event.value))
    watcher.runDaemon()
    lease = client.Lease(ttl=4)
    lease.grant()
    lease.keepalive()

    threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(8)]
    threads.append(threading.Thread(target=watch_and_lease, daemon=True))
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(rounds), message="every thread under way")

        def child_work() -> Dict[str, Any]:
            key = "%schild/%d" % (prefix, os.getpid())
            client.put(key, str(os.getpid()))
            return {"pid": str(os.getpid()), "value": client.range(key).kvs[0].value.decode(),
                    "keeping": lease.keeping}

        for fork in range(20):
            before = list(rounds)
            result = run_in_child(child_work)
            assert "ok" in result, "fork %d: %r" % (fork, result)
            assert result["ok"]["value"] == result["ok"]["pid"] and result["ok"]["keeping"] is False, result
            # the threads went on meanwhile, so the next fork finds them elsewhere
            wait_for(lambda: all(now > then for now, then in zip(rounds, before)), message="threads going on")
            assert not failures, failures
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert not failures, failures

    # the parent's client, watch and kept lease go on as before
    client.put(prefix + "watched/after", "after the forks")
    wait_for(lambda: seen.get(timeout=10) == b"after the forks", message="the parent's watch delivering")
    assert lease.keeping and lease.ttl() > 0
    refreshed = lease.last_keep
    wait_for(lambda: lease.last_keep != refreshed, message="a refresh of the parent's lease")
    watcher.stop()
    lease.revoke()
    client.delete_range(prefix, prefix=True)
    client.close()


def test_child_watches_on_its_own_and_leaves_the_parents_lease_alone(etcd):
    client = Client(host=etcd.host, port=etcd.port)
    parent_events: "queue.Queue[bytes]" = queue.Queue()
    watcher = client.Watcher(key="fork/parent/", prefix=True)
    watcher.onEvent(lambda event: parent_events.put(event.value))
    watcher.runDaemon()
    ended: list = []
    lease = client.Lease(ttl=4)
    lease.grant()
    lease.keepalive(cancel_cb=lambda: ended.append(os.getpid()))
    client.put("fork/parent/leased", "x", lease=lease.ID)
    assert parent_events.get(timeout=10) == b"x"
    wait_for(lambda: lease.last_keep is not None, message="the keepalive stream running")

    def child_work() -> Dict[str, Any]:
        # 0.1.6's keepalive thread, as a child sees it: not alive
        seen = {"keeping": lease.keeping, "thread_alive": lease._thread.is_alive(), "watching": watcher.watching}
        lease.cancel_keepalive()  # the keepalive is the parent's: nothing to end here
        seen["cancel_cb_ran"] = bool(ended)
        own = client.Watcher(key="fork/child/%d" % os.getpid())
        with own:
            client.put(own.key, "from the child")
            seen["event"] = next(iter(own.events(timeout=10))).value.decode()
        # the parent's watcher, run here, is a watch of the child's own
        with watcher:
            client.put("fork/parent/child", "seen by the child")
            seen["parent_watcher_here"] = next(iter(watcher.events(timeout=10))).value.decode()
        return seen

    try:
        result = run_in_child(child_work)
        assert result == {"ok": {"keeping": False, "thread_alive": False, "watching": False, "cancel_cb_ran": False,
                                 "event": "from the child", "parent_watcher_here": "seen by the child"}}

        # the parent: its watch delivers (the child's put too), its lease is still kept by it
        assert parent_events.get(timeout=10) == b"seen by the child"
        client.put("fork/parent/after", "after the fork")
        assert parent_events.get(timeout=10) == b"after the fork"
        assert watcher.watching and not watcher.errors
        assert lease.keeping and not ended
        refreshed = lease.last_keep
        wait_for(lambda: lease.last_keep != refreshed, message="a refresh of the parent's lease")
        assert lease.ttl() > 0
    finally:
        watcher.stop()
        lease.revoke()
        client.delete_range("fork/", prefix=True)
        client.close()


async def _use_aio_client(client: AioClient, tag: str) -> Dict[str, Any]:
    """Unary calls, a watch on the shared stream, a raw stream on aiohttp and a kept
    lease, all on this event loop."""
    key = "fork/aio/%s" % tag
    await client.put(key, tag)
    value = (await client.range(key)).kvs[0].value.decode()
    watcher = client.Watcher(key=key + "/watched")
    async with watcher:
        await client.put(key + "/watched", "event " + tag)
        event = (await watcher.events(timeout=10).__anext__()).value.decode()
    async with client.watch_create(key + "/raw") as stream:
        created = (await stream.__anext__()).created
    lease = client.Lease(ttl=3)
    await lease.grant()
    lease.keepalive()
    try:
        for _ in range(100):
            if lease.last_keep is not None:
                break
            await asyncio.sleep(0.05)
        kept = lease.last_keep is not None
    finally:
        lease.cancel_keepalive()
        await lease.revoke()
    return {"value": value, "event": event, "created": created, "kept": kept}


def _expected_aio(tag: str) -> Dict[str, Any]:
    return {"value": tag, "event": "event " + tag, "created": True, "kept": True}


def test_aio_client_used_in_one_event_loop_then_another(etcd):
    client = AioClient(host=etcd.host, port=etcd.port)
    assert asyncio.run(asyncio.wait_for(_use_aio_client(client, "one"), 30)) == _expected_aio("one")
    # a new loop: the connections, streams and session of the ended one are of no use here
    assert asyncio.run(asyncio.wait_for(_use_aio_client(client, "two"), 30)) == _expected_aio("two")

    async def finish() -> None:
        await client.delete_range("fork/", prefix=True)
        await client.close()

    asyncio.run(finish())


def test_aio_client_in_a_child_while_the_parents_loop_runs(etcd):
    loop = asyncio.new_event_loop()
    loop_thread = threading.Thread(target=loop.run_forever, daemon=True)
    loop_thread.start()

    def call(coro: Any, timeout: float = 20) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    client = AioClient(host=etcd.host, port=etcd.port)
    parent_events: "queue.Queue[bytes]" = queue.Queue()

    async def start() -> Any:
        watcher = client.Watcher(key="fork/aio-parent/", prefix=True)
        watcher.onEvent(lambda event: parent_events.put(event.value))
        await watcher.runDaemon()
        lease = client.Lease(ttl=4)
        await lease.grant()
        lease.keepalive()
        # several idle pooled connections, and aiohttp's session in use
        await asyncio.gather(*(client.put("fork/aio-parent/k%d" % i, "v") for i in range(4)))
        async with client.watch_create("fork/aio-parent/raw") as stream:
            assert (await stream.__anext__()).created
        return watcher, lease

    watcher, lease = call(start())
    for _ in range(4):
        assert parent_events.get(timeout=10) == b"v"
    wait_for(lambda: lease.last_keep is not None, message="the parent's keepalive running")

    def child_work() -> Dict[str, Any]:
        # the parent's loop is not running here (its thread is gone): a loop of the child's own
        result = asyncio.run(asyncio.wait_for(_use_aio_client(client, "child"), 15))
        result["keeping"] = lease.keeping
        return result

    try:
        result = run_in_child(child_work)
        assert result == {"ok": dict(_expected_aio("child"), keeping=False)}

        # the parent's connections, watch and lease are as they were
        for i in range(8):
            call(client.put("fork/aio-parent/after%d" % i, "after"), timeout=10)
        for _ in range(8):
            assert parent_events.get(timeout=10) == b"after"
        assert lease.keeping
        refreshed = lease.last_keep
        wait_for(lambda: lease.last_keep != refreshed, message="a refresh of the parent's lease")
    finally:
        async def finish() -> None:
            await watcher.stop()
            lease.cancel_keepalive()
            await lease.revoke()
            await client.delete_range("fork/", prefix=True)
            await client.close()

        call(finish())
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(10)
        loop.close()
