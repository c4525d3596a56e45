"""AioWatcher.runDaemon() as Watcher.runDaemon(): on the client's open watch stream it
returns with the creation sent (or held back for the next batch), not after the
server's answer, so thousands of ``await w.runDaemon()`` in a row go out in a few
writes; the AioClient's next request waits for the creations sent before it (etcd
answers the creations of one stream in order), so a change it makes right after is
seen; ``await wait_created()`` is the fence for a change made elsewhere; a creation
the server refuses ends its watcher as on the sync client.  Behaviour only, against
real servers (the timings are bench/bench_watch.py's)."""
from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from typing import List, Optional

import pytest

from etcd3 import AioClient, Client, errors

pytestmark = pytest.mark.etcd_versions("oldest", "newest")

WAIT = 20.0


class Seen:
    """What one watcher's callbacks got, in order."""

    def __init__(self) -> None:
        self.values: list = []
        self.errors: list = []

    def __call__(self, event) -> None:
        self.values.append(event.value)

    def on_error(self, error: BaseException) -> None:
        self.errors.append(error)


async def eventually(predicate, timeout: float = WAIT) -> None:
    for _ in range(int(timeout * 20)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    assert predicate()


async def warm_stream(client: AioClient, key: str):
    """The client's watch stream opened (its first watcher waits for its answer)."""
    warm = client.Watcher(key)
    warm.onEvent(lambda event: None)
    await warm.runDaemon()
    return warm


async def start_watchers(client: AioClient, prefix: str, n: int, refused_at: Optional[int] = None,
                         refused_from: int = 0):
    """``n`` watchers on a key each, every ``await runDaemon()`` in turn (the one at
    ``refused_at`` from the compacted revision ``refused_from``)."""
    watchers, seen, futures = [], [], []
    for i in range(n):
        start = refused_from if i == refused_at else None
        w = client.Watcher("%s%d" % (prefix, i), start_revision=start)
        got = Seen()
        w.onEvent(got)
        w.onError(got.on_error)
        futures.append(await w.runDaemon())
        watchers.append(w)
        seen.append(got)
    return watchers, seen, futures


async def stop_all(client: AioClient, prefix: str, watchers) -> None:
    for w in watchers:
        await w.stop()
    await client.delete_range(prefix, prefix=True)


def test_a_put_right_after_the_last_of_many_run_daemons_is_seen(etcd):
    async def main() -> None:
        async with AioClient(host=etcd.host, port=etcd.port) as client:
            warm = await warm_stream(client, "aiocreate/put/warm")
            watchers, seen, _ = await start_watchers(client, "aiocreate/put/", 300)
            # through the same client right after the last: it waits for the 300 creations
            last = (await client.put("aiocreate/put/299", "first")).header.revision
            for i in range(299):
                await client.put("aiocreate/put/%d" % i, "v%d" % i)
            want = [[("v%d" % i).encode()] for i in range(299)] + [[b"first"]]
            await eventually(lambda: all(got.values for got in seen))
            # a created answer matched to the wrong watcher shows as another key's values
            assert [got.values for got in seen] == want
            assert len({w.watch_id for w in watchers}) == 300
            assert all(w.start_revision < last for w in watchers)
            # each runDaemon() followed by a put through the same client, ten times over
            more, more_seen = [], []
            for i in range(10):
                w = client.Watcher("aiocreate/put/b%d" % i)
                got = Seen()
                w.onEvent(got)
                await w.runDaemon()
                await client.put("aiocreate/put/b%d" % i, "b%d" % i)
                more.append(w)
                more_seen.append(got)
            await eventually(lambda: all(got.values for got in more_seen))
            assert [got.values for got in more_seen] == [[("b%d" % i).encode()] for i in range(10)]
            await stop_all(client, "aiocreate/put/", watchers + more + [warm])

    asyncio.run(main())


def test_wait_created_then_a_change_from_another_client_is_seen(etcd):
    async def main() -> None:
        async with AioClient(host=etcd.host, port=etcd.port) as client, \
                AioClient(host=etcd.host, port=etcd.port) as writer:
            before = (await writer.put("aiocreate/other/x", "x")).header.revision
            warm = await warm_stream(client, "aiocreate/other/warm")
            watchers, seen, _ = await start_watchers(client, "aiocreate/other/", 200)
            await watchers[-1].wait_created()  # the last is enough: the answers come in order
            # its created answer's attributes (an AioWatcher's never block the loop)
            assert isinstance(watchers[-1].watch_id, int) and watchers[-1].start_revision >= before
            for i in range(200):
                await writer.put("aiocreate/other/%d" % i, "w%d" % i)
            await eventually(lambda: all(got.values for got in seen))
            assert [got.values for got in seen] == [[("w%d" % i).encode()] for i in range(200)]
            await stop_all(client, "aiocreate/other/", watchers + [warm])

    asyncio.run(main())


async def compacted_revision(client) -> tuple:
    """A revision compacted away, and the compaction's revision."""
    old = (await client.put("aiocreate/cmp/k", "old")).header.revision
    now = (await client.put("aiocreate/cmp/k", "new")).header.revision
    await client.compact(now)
    return old, now


def test_a_refused_creation_among_many_ends_only_its_watcher(etcd):
    async def main() -> None:
        async with AioClient(host=etcd.host, port=etcd.port) as client:
            old, now = await compacted_revision(client)
            warm = await warm_stream(client, "aiocreate/ref/warm")
            watchers, seen, futures = await start_watchers(client, "aiocreate/ref/", 200, refused_at=100,
                                                           refused_from=old)
            assert await asyncio.wait_for(futures[100], WAIT) is None  # it ended
            refused = watchers[100]
            assert isinstance(refused.error, errors.Etcd3WatchCompacted) and refused.error.compact_revision == now
            assert seen[100].errors == [refused.error] and not refused.watching
            for i in range(200):
                await client.put("aiocreate/ref/%d" % i, "v%d" % i)
            others = [got for i, got in enumerate(seen) if i != 100]
            await eventually(lambda: all(got.values for got in others))
            # the neighbours' creations matched their own answers: each got its own key's value
            assert [got.values for got in seen] == [[("v%d" % i).encode()] if i != 100 else [] for i in range(200)]
            assert not any(f.done() for i, f in enumerate(futures) if i != 100)
            await stop_all(client, "aiocreate/ref/", watchers + [warm])

    asyncio.run(main())


@pytest.mark.parametrize("stream", ["open", "to open"])
def test_a_refused_creation_surfaces_as_on_the_sync_client(etcd, stream):
    async def refused_aio(old: int) -> BaseException:
        async with AioClient(host=etcd.host, port=etcd.port) as client:
            warm = await warm_stream(client, "aiocreate/cmp/warm") if stream == "open" else None
            w = client.Watcher("aiocreate/cmp/k", start_revision=old)
            got = Seen()
            w.onEvent(got)
            w.onError(got.on_error)
            future = await w.runDaemon()  # no Etcd3Timeout: the refusal is an answer
            await asyncio.wait_for(future, WAIT)
            assert got.errors == [w.error] and not got.values and not w.watching
            await w.wait_created()  # settled: returns at once
            if warm is not None:
                await warm.stop()
            return w.error

    async def compact() -> tuple:
        async with AioClient(host=etcd.host, port=etcd.port) as client:
            return await compacted_revision(client)

    sync = Client(host=etcd.host, port=etcd.port)
    try:
        old, now = asyncio.run(compact())
        aio_error = asyncio.run(refused_aio(old))
        if stream == "open":
            warm = sync.Watcher("aiocreate/cmp/warm")
            warm.onEvent(lambda event: None)
            warm.runDaemon()
        w = sync.Watcher("aiocreate/cmp/k", start_revision=old)
        got = Seen()
        ended = threading.Event()
        w.onEvent(got)
        w.onError(lambda error: (got.on_error(error), ended.set()))
        w.runDaemon()
        assert ended.wait(WAIT)
        assert type(aio_error) is type(w.error) is errors.Etcd3WatchCompacted
        assert aio_error.compact_revision == w.error.compact_revision == now
        assert got.errors == [w.error]
    finally:
        sync.close()


class WatchWriteCounter:
    """A real TCP proxy in front of etcd that reads the chunked request body of each
    watch stream going through it: one chunk is one write of the client, so
    ``creations`` tells how many of the test's create requests each write carried."""

    def __init__(self, host: str, port: int, key_prefix: bytes) -> None:
        self.target = (host, port)
        self.key_prefix = key_prefix
        self.creations: List[int] = []  # per chunk carrying any: the test's creations in it
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._sockets: List[socket.socket] = [self._listener]
        self._lock = threading.Lock()
        self.answers = threading.Event()  # cleared: the watch streams' answers are held back
        self.answers.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [conn, upstream]
            body = _BodyReader(self)
            threading.Thread(target=self._copy, args=(upstream, conn, body, False), daemon=True).start()
            threading.Thread(target=self._copy, args=(conn, upstream, body, True), daemon=True).start()

    def _copy(self, source: socket.socket, sink: socket.socket, body: "_BodyReader", request: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if request:
                    body.feed(data)  # (counted before it goes on: counted once answered)
                elif body.state == "chunks":
                    self.answers.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def chunk(self, data: bytes) -> None:
        count = 0
        for line in data.splitlines():
            create = json.loads(line).get("create_request")
            if create is not None and base64.b64decode(create.get("key", "")).startswith(self.key_prefix):
                count += 1
        if count:
            with self._lock:
                self.creations.append(count)

    def close(self) -> None:
        for s in self._sockets:
            s.close()


class _BodyReader:
    """The chunks of one connection's request body, when it is a watch stream's."""

    def __init__(self, proxy: WatchWriteCounter) -> None:
        self.proxy = proxy
        self.buffer = b""
        self.state = "head"  # then "chunks" (a watch stream) or "other" (left alone)

    def feed(self, data: bytes) -> None:
        if self.state == "other":
            return
        self.buffer += data
        if self.state == "head":
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            watch = b"/watch " in head.split(b"\r\n", 1)[0] and b"transfer-encoding: chunked" in head.lower()
            self.state, self.buffer = ("chunks", rest) if watch else ("other", b"")
        while self.state == "chunks":
            size_line, sep, rest = self.buffer.partition(b"\r\n")
            if not sep:
                return
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self.proxy.chunk(rest[:size])
            self.buffer = rest[size + 2:]


def test_thousands_of_sequential_run_daemons_go_out_in_a_few_writes(etcd):
    n = 3000

    async def main(proxy: WatchWriteCounter) -> None:
        async with AioClient(host=proxy.host, port=proxy.port) as client:
            warm = await warm_stream(client, "aiocreate/manywarm")
            watchers, seen, _ = await start_watchers(client, "aiocreate/many/", n)
            # each returned with its creation sent or held back, none waited for its answer
            # (an AioWatcher's attributes never block: the last one's answer is not taken yet)
            assert watchers[-1].watch_id is None
            sampled = list(range(0, n, 100)) + [n - 1]
            for i in sampled:  # the client's next request sends what is held back, and waits
                await client.put("aiocreate/many/%d" % i, "v%d" % i)
            assert sum(proxy.creations) == n
            # thousands of creations in a few writes (one each would be 3000)
            assert len(proxy.creations) <= n // 100, proxy.creations
            assert max(proxy.creations) >= 100, proxy.creations
            await eventually(lambda: all(seen[i].values for i in sampled))
            assert [seen[i].values for i in sampled] == [[("v%d" % i).encode()] for i in sampled]
            assert len({w.watch_id for w in watchers}) == n
            await stop_all(client, "aiocreate/many/", watchers + [warm])

    proxy = WatchWriteCounter(etcd.host, etcd.port, b"aiocreate/many/")
    try:
        asyncio.run(main(proxy))
    finally:
        proxy.close()


def test_a_request_does_not_wait_for_the_creation_of_a_watch_from_a_given_revision(etcd, monkeypatch):
    """The fence is for watches from now: one from a given revision (a lock's wait, a
    watch resumed after a reconnection) sees a change whenever it is created."""
    from etcd3.stateful.watch import Watcher

    monkeypatch.setattr(Watcher, "CREATION_TIMEOUT", 120.0)  # (a wait for it would outlast the test's bound)

    async def main(proxy: WatchWriteCounter) -> None:
        async with AioClient(host=proxy.host, port=proxy.port) as client:
            warm = await warm_stream(client, "aiocreate/rev/warm")
            before = (await client.put("aiocreate/rev/k", "before")).header.revision
            proxy.answers.clear()  # the watch stream's answers are held back from now
            w = client.Watcher("aiocreate/rev/k", start_revision=before + 1)
            got = Seen()
            w.onEvent(got)
            await w.runDaemon()
            # not held up by its unanswered creation (a wait would last CREATION_TIMEOUT)
            put = await asyncio.wait_for(client.put("aiocreate/rev/k", "after"), WAIT)
            assert put.header.revision == before + 1 and w.watch_id is None
            proxy.answers.set()
            await w.wait_created()
            await eventually(lambda: got.values)
            assert got.values == [b"after"]
            await stop_all(client, "aiocreate/rev/", [w, warm])

    proxy = WatchWriteCounter(etcd.host, etcd.port, b"aiocreate/rev/")
    try:
        asyncio.run(main(proxy))
    finally:
        proxy.answers.set()
        proxy.close()
