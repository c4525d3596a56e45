"""The clients' own keep-alive connections for unary calls (etcd3/transport/http_pool.py for
Client, etcd3/transport/aio_http.py for AioClient): their I/O-free parts, then their
behaviour against real etcd servers and against scripted TCP peers for the
network conditions a server cannot be asked to produce."""
from __future__ import annotations

import asyncio
import gc
import os
import select
import socket
import threading
import time
import warnings

import pytest

from conftest import make_client
from helpers import SilentServer, open_connections
from etcd3 import AioClient, Client, errors
from etcd3.utils import Etcd3Warning
from etcd3.transport import http_pool
from etcd3.transport.duplex import ResponseParser, header_lines, request_bytes


def client_of(server, kind, **kwargs):
    if kind == "aio":
        from aio_facade import make_aio_client

        return make_aio_client(server, **kwargs)
    return make_client(server, **kwargs)


# --------------------------------------------------------------------------- I/O-free parts

@pytest.mark.parametrize("raw, keep_alive", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", True),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
])
def test_keep_alive_follows_the_answer(raw, keep_alive):
    parser = ResponseParser()
    body = b"".join(parser.feed(raw[:7]) + parser.feed(raw[7:]))  # split inside the head
    assert parser.finished and body == b"ok"
    assert parser.keep_alive is keep_alive


def test_an_answer_ended_by_closing_is_not_kept():
    parser = ResponseParser()
    body = parser.feed(b"HTTP/1.1 200 OK\r\n\r\nok")
    assert not parser.finished
    parser.eof()
    assert parser.finished and body == [b"ok"] and parser.keep_alive is False


def test_request_bytes():
    block = header_lines({"Content-Type": "application/json", "Host": "ignored", "Content-Length": "99"})
    assert request_bytes("POST", "/v3/kv/range", "127.0.0.1:2379", block, b'{"k":1}') == (
        b"POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1:2379\r\nContent-Type: application/json\r\n"
        b"Content-Length: 7\r\n\r\n{\"k\":1}")
    assert request_bytes("GET", "/version", "h:1", b"", None).endswith(b"Content-Length: 0\r\n\r\n")


# --------------------------------------------------------------------------- against etcd

def test_unary_calls_share_one_connection(client, etcd):
    gc.collect()  # connections of other tests' clients that are garbage by now
    client.put("conn/k", "v")
    before = open_connections(etcd.port)
    for i in range(30):
        client.put("conn/k", str(i))
        assert client.range("conn/k").kvs[0].value == str(i).encode()
    assert open_connections(etcd.port) == before


def test_a_restarted_server_gets_new_connections(fresh_etcd, client_kind):
    client = client_of(fresh_etcd, client_kind)
    client.put("restart/k", "1")
    fresh_etcd.restart()
    # the pooled connection was closed by the old server: it is noticed before reuse,
    # so even a put (never sent twice) goes through on a new connection
    client.put("restart/k", "2")
    assert client.range("restart/k").kvs[0].value == b"2"
    client.close()


def test_threads_share_the_sync_pool(etcd):
    gc.collect()
    client = make_client(etcd, pool_size=4)
    before = open_connections(etcd.port)

    def work(n):
        for i in range(20):
            client.put("threads/%d" % n, str(i))
            assert client.range("threads/%d" % n).kvs[0].value == str(i).encode()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert client.range("threads/", prefix=True).count == 8
    # at most pool_size connections are kept once the threads are done
    assert open_connections(etcd.port) <= before + 4
    client.delete_range("threads/", prefix=True)
    client.close()
    assert open_connections(etcd.port) <= before - 1


@pytest.mark.etcd_versions("oldest", "newest")
def test_the_poll_path_of_the_sync_pool(etcd, monkeypatch):
    # where the kernel cannot bound a blocking socket's waits (not Linux), a plain
    # connection is non-blocking and each wait a poll: the same answers and deadlines
    monkeypatch.setattr(http_pool, "_KERNEL_TIMEOUTS", False)
    client = make_client(etcd)
    value = os.urandom(300_000)  # an answer of several reads
    client.put("poll/k", value)
    for _ in range(3):
        assert client.range("poll/k").kvs[0].value == value
    client.delete_range("poll/k")
    client.close()
    with SilentServer() as silent:
        with pytest.warns(Etcd3Warning):  # the version read times out too
            quiet = Client("127.0.0.1", silent.port, timeout=0.5, server_version=etcd.version)
        start = time.monotonic()
        with pytest.raises(errors.Etcd3Timeout):
            quiet.range("k")
        assert 0.4 < time.monotonic() - start < 3
        quiet.close()


def test_aio_pool_size_bounds_open_connections(etcd):
    gc.collect()
    before = open_connections(etcd.port)
    highest = 0

    async def main():
        nonlocal highest
        async with AioClient(etcd.host, etcd.port, pool_size=3) as client:
            async def put(i):
                nonlocal highest
                await client.put("bounded/%02d" % i, "v")
                highest = max(highest, open_connections(etcd.port) - before)

            await asyncio.gather(*(put(i) for i in range(40)))
            assert (await client.range("bounded/", prefix=True)).count == 40
            await client.delete_range("bounded/", prefix=True)
        assert open_connections(etcd.port) == before

    asyncio.run(asyncio.wait_for(main(), 60))
    assert 1 <= highest <= 3


def test_aio_client_moves_to_another_event_loop(etcd):
    gc.collect()
    before = open_connections(etcd.port)
    client = AioClient(etcd.host, etcd.port)

    async def finish():
        await client.delete_range("loops/k")
        await client.close()

    # a loop that has ended cannot close its transports: the client ends their TCP
    # connections (asserted below) and the socket objects warn when collected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        asyncio.run(client.put("loops/k", "1"))
        assert open_connections(etcd.port) == before + 1
        # the first loop is gone: its connection is ended, the second loop starts afresh
        resp = asyncio.run(client.range("loops/k"))
        assert resp.kvs[0].value == b"1"
        assert open_connections(etcd.port) == before + 1
        asyncio.run(finish())
        assert open_connections(etcd.port) == before
        gc.collect()


def test_aio_read_timeout_is_etcd3_timeout(etcd):
    with SilentServer() as silent:
        async def main():
            client = AioClient("127.0.0.1", silent.port, timeout=0.5, server_version=etcd.version)
            with pytest.warns(Etcd3Warning):
                await client._ensure_connected()  # the version read times out too: one warning
            start = time.monotonic()
            with pytest.raises(errors.Etcd3Timeout) as info:
                await client.range("k")
            assert time.monotonic() - start < 5
            assert info.value.endpoint == "http://127.0.0.1:%d" % silent.port
            # a per-call timeout, on a new connection (a timed-out one is not reused)
            start = time.monotonic()
            with pytest.raises(errors.Etcd3Timeout):
                await client.call_rpc("/kv/range", {"key": "k"}, timeout=0.3)
            assert time.monotonic() - start < 5
            await client.close()

        asyncio.run(asyncio.wait_for(main(), 30))


# --------------------------------------------------------------------------- scripted peers

class OneAnswerPerConnection(SilentServer):
    """A loopback HTTP peer that answers the first request on each connection (keeping
    it open) and closes the connection, unanswered, on the second: what a server that
    closes idle connections looks like to a client that reuses one at that moment."""

    VERSION = b'{"etcdserver":"%s","etcdcluster":"3.5.0"}'
    ANSWER = b'{"header":{"revision":"7"}}'

    def __init__(self, version: str) -> None:
        self.version = version
        self.requests = []  # (connection number, request line)
        super().__init__()

    def handle(self, conn: socket.socket, number: int) -> None:
        threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _read_request(self, conn: socket.socket, buffer: bytes, number: int):
        """The head of the next request on ``conn`` and what is left of ``buffer`` after
        its body (head None: the client closed); the request line goes in ``requests``."""
        while b"\r\n\r\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                return None, b""
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        length = int(([line.split(b":")[1] for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length")] or [b"0"])[0])
        while len(buffer) < length:
            buffer += conn.recv(65536)
        self.requests.append((number, head.split(b"\r\n")[0].decode()))
        return head, buffer[length:]

    def _answer(self, conn: socket.socket, head: bytes) -> None:
        body = self.VERSION % self.version.encode() if head.startswith(b"GET") else self.ANSWER
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn:
            buffer = b""
            for answered in (False, True):
                head, buffer = self._read_request(conn, buffer, number)
                if head is None or answered:
                    return  # (the second request: closed without an answer)
                self._answer(conn, head)


@pytest.mark.parametrize("kind", ["sync", "aio"])
def test_a_reused_connection_closed_unanswered(etcd, kind):
    with OneAnswerPerConnection(etcd.version) as peer:
        if kind == "sync":
            client = Client("127.0.0.1", peer.port)
            range_once = lambda: client.range("k")  # noqa: E731
            put_once = lambda: client.put("k", "v")  # noqa: E731
        else:
            loop = asyncio.new_event_loop()
            client = AioClient("127.0.0.1", peer.port)
            range_once = lambda: loop.run_until_complete(client.range("k"))  # noqa: E731
            put_once = lambda: loop.run_until_complete(client.put("k", "v"))  # noqa: E731
        # the version read is answered on connection 1; the range reuses it, finds it
        # closed without an answer and, being idempotent, is sent again on connection 2
        assert range_once().header.revision == 7
        assert [n for n, _ in peer.requests] == [1, 1, 2]
        # a put on the reused connection 2 meets the same, and is not sent twice: it
        # may have been applied, so the caller gets the error and decides
        with pytest.raises(errors.Etcd3ConnectionError, match="connection lost"):
            put_once()
        assert [n for n, _ in peer.requests] == [1, 1, 2, 2]
        if kind == "aio":
            loop.run_until_complete(client.close())
            loop.close()
        else:
            client.close()


class AnswersEveryRequest(OneAnswerPerConnection):
    """A loopback HTTP peer that answers every request and keeps each connection open
    (``accepted`` holds them), so that a test can write to an idle one."""

    def _serve(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        try:
            while True:
                head, buffer = self._read_request(conn, buffer, number)
                if head is None:
                    return
                self._answer(conn, head)
        except OSError:
            return


def test_an_idle_connection_the_server_wrote_to_is_not_reused(etcd):
    with AnswersEveryRequest(etcd.version) as peer:
        client = Client("127.0.0.1", peer.port)
        assert client.range("k").header.revision == 7
        assert [n for n, _ in peer.requests] == [1, 1]
        # bytes that no request asked for arrive on the idle connection: it is not used
        # again (its next answer would begin with them), so even a put goes through, on a
        # new connection
        peer.accepted[0].sendall(b"HTTP/1.1 200 OK\r\n")
        idle = client._connections()._idle
        assert len(idle) == 1 and select.select(idle, [], [], 10)[0]  # the bytes are in
        assert client.put("k", "v").header.revision == 7
        assert [n for n, _ in peer.requests] == [1, 1, 2]
        client.close()


def test_an_idle_connection_is_checked_by_fionread_where_the_kernel_counts_no_bytes(etcd):
    """Where TCP_INFO's count of bytes taken in is not kept (below what was read), the
    check asks FIONREAD instead: a clean connection is reused, a written-to one is not."""
    from etcd3.transport import http_pool

    if not http_pool._KERNEL_TIMEOUTS:
        pytest.skip("the kernel-bounded sync pool (and its TCP_INFO check) is Linux's")
    with AnswersEveryRequest(etcd.version) as peer:
        client = Client("127.0.0.1", peer.port)
        assert client.range("k").header.revision == 7
        idle = client._connections()._idle
        idle[0].received += 1 << 40  # more than the kernel says it took in
        assert client.range("k").header.revision == 7
        assert [n for n, _ in peer.requests] == [1, 1, 1]  # reused
        idle[0].received += 1 << 40
        peer.accepted[0].sendall(b"HTTP/1.1 200 OK\r\n")
        assert select.select(idle, [], [], 10)[0]
        assert client.put("k", "v").header.revision == 7
        assert [n for n, _ in peer.requests] == [1, 1, 1, 2]  # not reused
        client.close()


def _use_inherited_client(client, queue):
    try:
        for _ in range(300):
            value = client.range("fork/child").kvs[0].value
            if value != b"c":
                raise AssertionError("the child got %r" % value)
        queue.put("ok")
    except BaseException as e:  # the parent reports it
        queue.put(repr(e))


def test_a_forked_child_does_not_share_the_parents_connections(etcd):
    import multiprocessing

    client = make_client(etcd)
    client.put("fork/child", "c")
    client.put("fork/parent", "p")  # the parent has a pooled connection now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_use_inherited_client, args=(client, queue))
    child.start()
    # both at once: had they shared the socket, requests and answers would cross
    for _ in range(300):
        assert client.range("fork/parent").kvs[0].value == b"p"
    assert queue.get(timeout=60) == "ok"
    child.join(30)
    client.delete_range("fork/", prefix=True)
    client.close()
