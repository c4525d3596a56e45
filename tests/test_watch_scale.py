"""Many Watchers on one client: their callbacks run on a few dispatcher threads (sync)
or in the event loop (async), not on a thread or task per watcher; each watcher's
events still come in order, a raising or slow callback holds up no other watcher,
and stopping one leaves the others running.  Behaviour only: the timings are
bench/bench_watch.py's."""
from __future__ import annotations

import asyncio
import threading

import pytest

from etcd3 import AioClient, Client
from etcd3.testing.server import EtcdServer
from helpers import wait_for

pytestmark = pytest.mark.etcd_versions("oldest", "newest")

WATCHERS = 300
PUTS = 20
WAIT = 20.0


@pytest.fixture(scope="module")
def etcd(etcd_version):
    """A server of this module's own: hundreds of watches cancelled at once and their
    stream closed can leave etcd 3.3's watcher gauge off by one (other modules read it)."""
    server = EtcdServer(version=etcd_version)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clients(etcd):
    made = []

    def make():
        made.append(Client(host=etcd.host, port=etcd.port))
        return made[-1]

    yield make
    for c in made:
        c.close()


class Seen:
    """The values one watcher's callback got, in order."""

    def __init__(self) -> None:
        self.values: list = []

    def __call__(self, event) -> None:
        self.values.append(event.value)


def expected(prefix: str, n: int) -> list:
    return [("%s%d" % (prefix, i)).encode() for i in range(n)]


def test_many_daemon_watchers_share_a_few_threads_and_keep_each_ones_order(clients):
    client = clients()
    before = threading.active_count()
    watchers, seen = [], []
    for _ in range(WATCHERS):
        w = client.Watcher("scale/order/", prefix=True)
        got = Seen()
        w.onEvent(got)
        handle = w.runDaemon()
        assert handle is w._thread and handle.is_alive()
        watchers.append(w)
        seen.append(got)
    for i in range(PUTS):
        client.put("scale/order/k%d" % (i % 3), "v%d" % i)
    want = expected("v", PUTS)
    wait_for(lambda: all(len(got.values) >= PUTS for got in seen), WAIT)
    # the watch stream's reader and the callback dispatcher (one more thread at most)
    assert threading.active_count() - before <= 3
    for w in watchers:
        w.stop()
        assert not w._thread.is_alive()
        w._thread.join(1)
    assert all(got.values == want for got in seen)


def test_a_raising_callback_stops_no_one(clients):
    client = clients()
    failing = client.Watcher("scale/raise/", prefix=True)
    after_failing = Seen()

    def boom(event):
        raise RuntimeError("callback failure on %r" % event.key)

    failing.onEvent(boom)
    failing.onEvent(after_failing)  # the same watcher's next callback still runs
    others = [client.Watcher("scale/raise/", prefix=True) for _ in range(20)]
    seen = [Seen() for _ in others]
    failing.runDaemon()
    for w, got in zip(others, seen):
        w.onEvent(got)
        w.runDaemon()
    for i in range(5):
        client.put("scale/raise/k", "v%d" % i)
    want = expected("v", 5)
    wait_for(lambda: after_failing.values == want and all(got.values == want for got in seen), WAIT)
    assert failing._thread.is_alive()
    for w in [failing] + others:
        w.stop()


def test_stopping_one_watcher_among_many(clients):
    client = clients()
    watchers = [client.Watcher("scale/stop/", prefix=True) for _ in range(50)]
    seen = [Seen() for _ in watchers]
    for w, got in zip(watchers, seen):
        w.onEvent(got)
        w.runDaemon()
    client.put("scale/stop/k", "before")
    wait_for(lambda: all(got.values == [b"before"] for got in seen), WAIT)
    stopped = watchers[17]
    stopped.stop()
    assert not stopped.watching and not stopped._thread.is_alive()
    stopped._thread.join()  # ended: returns at once
    client.put("scale/stop/k", "after")
    rest = [got for i, got in enumerate(seen) if i != 17]
    wait_for(lambda: all(got.values == [b"before", b"after"] for got in rest), WAIT)
    # the stopped one got nothing more (the others' "after" came through the same stream)
    assert seen[17].values == [b"before"]
    assert all(w._thread.is_alive() for i, w in enumerate(watchers) if i != 17)
    for w in watchers:
        w.stop()


def test_a_slow_callback_holds_up_no_other_watcher(clients):
    client = clients()
    release = threading.Event()
    entered = threading.Event()
    slow, fast = client.Watcher("scale/slow/", prefix=True), client.Watcher("scale/slow/", prefix=True)
    slow_seen, fast_seen = Seen(), Seen()

    def blocking(event):
        slow_seen(event)
        entered.set()
        release.wait(WAIT)

    slow.onEvent(blocking)
    fast.onEvent(fast_seen)
    slow.runDaemon()
    fast.runDaemon()
    try:
        client.put("scale/slow/k", "1")
        assert entered.wait(WAIT)
        client.put("scale/slow/k", "2")
        # the slow callback still blocks its thread: another thread runs the fast watcher's
        wait_for(lambda: fast_seen.values == [b"1", b"2"], WAIT)
        assert not release.is_set() and slow_seen.values == [b"1"]
        # stop() from outside while its callback runs: waits for it at most a second
    finally:
        release.set()
    wait_for(lambda: slow_seen.values == [b"1", b"2"], WAIT)
    slow.stop()
    fast.stop()


def test_stop_from_a_callback_among_many(clients):
    client = clients()
    watchers = [client.Watcher("scale/self/", prefix=True) for _ in range(10)]
    seen = [Seen() for _ in watchers]
    own = watchers[3]

    def stop_myself(event):
        own.stop()  # from the dispatcher thread running it: must not wait for itself

    own.onEvent(stop_myself)
    for w, got in zip(watchers, seen):
        w.onEvent(got)
        w.runDaemon()
    client.put("scale/self/k", "1")
    wait_for(lambda: not own.watching and not own._thread.is_alive(), WAIT)
    client.put("scale/self/k", "2")
    wait_for(lambda: all(got.values == [b"1", b"2"] for i, got in enumerate(seen) if i != 3), WAIT)
    assert seen[3].values == [b"1"]
    for w in watchers:
        w.stop()


def test_aio_many_daemon_watchers_need_no_thread_nor_task_each(etcd):
    async def main() -> None:
        client = AioClient(host=etcd.host, port=etcd.port)
        try:
            threads_before = threading.active_count()
            tasks_before = len(asyncio.all_tasks())
            watchers, seen, futures = [], [], []
            for i in range(WATCHERS):
                w = client.Watcher("scale/aio/", prefix=True)
                got = Seen()
                if i == 0:
                    w.onEvent(lambda event: 1 / 0)  # raising: the others (and its next callback) go on
                w.onEvent(got)
                futures.append(await w.runDaemon())
                watchers.append(w)
                seen.append(got)
            # the watch stream's task only (and the put's, if any, while it runs)
            assert len(asyncio.all_tasks()) - tasks_before <= 2
            assert threading.active_count() <= threads_before  # (earlier tests' idle threads may end)
            for i in range(PUTS):
                await client.put("scale/aio/k%d" % (i % 3), "v%d" % i)
            want = expected("v", PUTS)
            for _ in range(int(WAIT * 20)):
                if all(len(got.values) >= PUTS for got in seen):
                    break
                await asyncio.sleep(0.05)
            assert all(got.values == want for got in seen)
            assert not any(f.done() for f in futures)
            await watchers[5].stop()
            assert futures[5].done() and not watchers[5].watching
            await client.put("scale/aio/k", "last")
            for _ in range(int(WAIT * 20)):
                if all(len(got.values) > PUTS for i, got in enumerate(seen) if i != 5):
                    break
                await asyncio.sleep(0.05)
            assert seen[5].values == want
            assert all(got.values == want + [b"last"] for i, got in enumerate(seen) if i != 5)
            for w in watchers:
                await w.stop()
            assert all(f.done() for f in futures)
        finally:
            await client.delete_range("scale/aio/", prefix=True)
            await client.close()

    asyncio.run(main())


# -- pipelined creation: runDaemon() on an open stream returns with its creation sent or
# held back; etcd answers the creations of one stream in order

KEYS = 400


def test_pipelined_creations_each_get_their_own_keys_events_once_in_order(clients, etcd):
    client, writer = clients(), clients()
    warm = client.Watcher("scale/pipe/warm")  # the stream is open: the creations below pipeline
    warm.onEvent(lambda event: None)
    warm.runDaemon()
    watchers, seen = [], []
    for i in range(KEYS):
        w = client.Watcher("scale/pipe/%d" % i)
        got = Seen()
        w.onEvent(got)
        w.runDaemon()
        watchers.append(w)
        seen.append(got)
    # this client's next request waits for the creations sent before it: its change is seen
    first = client.put("scale/pipe/0", "a0").header.revision
    # another client, told once the last creation is answered (answers come in order)
    watchers[-1].wait_created()
    for i in range(KEYS):
        writer.put("scale/pipe/%d" % i, "b%d" % i)
    writer.put("scale/pipe/0", "c0")
    want = [[b"a0", b"b0", b"c0"]] + [[("b%d" % i).encode()] for i in range(1, KEYS)]
    wait_for(lambda: all(len(got.values) >= len(w) for got, w in zip(seen, want)), WAIT)
    # a matching error (a created answer given to the wrong watcher) shows as another key's values
    assert [got.values for got in seen] == want
    ids = [w.watch_id for w in watchers]
    assert len(set(ids)) == KEYS  # each its own watch on the server
    assert all(w.start_revision is not None and w.start_revision < first for w in watchers)
    for w in watchers + [warm]:
        w.stop()
    writer.delete_range("scale/pipe/", prefix=True)


def test_pipelined_creations_read_their_created_answer_when_asked(clients):
    client = clients()
    warm = client.Watcher("scale/attr/warm")
    warm.onEvent(lambda event: None)
    warm.runDaemon()
    before = client.put("scale/attr/other", "x").header.revision
    watchers = []
    for i in range(50):
        w = client.Watcher("scale/attr/%d" % i)
        w.onEvent(lambda event: None)
        w.runDaemon()
        watchers.append(w)
    # read right after: start_revision and watch_id wait for the answer if it is due
    last = watchers[-1]
    assert last.start_revision == before and last.revision == before and isinstance(last.watch_id, int)
    for w in watchers + [warm]:
        w.stop()


def test_aio_concurrent_creations_each_get_their_own_keys_events(etcd):
    async def main() -> None:
        client = AioClient(host=etcd.host, port=etcd.port)
        try:
            watchers, seen = [], []
            for i in range(KEYS):
                w = client.Watcher("scale/aiopipe/%d" % i)
                got = Seen()
                w.onEvent(got)
                watchers.append(w)
                seen.append(got)
            await asyncio.gather(*(w.runDaemon() for w in watchers))  # their creations go out together
            for i in range(KEYS):
                await client.put("scale/aiopipe/%d" % i, "v%d" % i)
            for _ in range(int(WAIT * 20)):
                if all(got.values for got in seen):
                    break
                await asyncio.sleep(0.05)
            assert [got.values for got in seen] == [[("v%d" % i).encode()] for i in range(KEYS)]
            assert len({w.watch_id for w in watchers}) == KEYS
            for w in watchers:
                await w.stop()
        finally:
            await client.delete_range("scale/aiopipe/", prefix=True)
            await client.close()

    asyncio.run(main())
