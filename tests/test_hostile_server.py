"""Hostile and broken servers: a real socket server on loopback (tests/hostile.py)
that answers /version like etcd and everything else wrongly.  Each answer must
become a typed error of ours (Etcd3ProtocolError or Etcd3Timeout) within the
call's timeout, with the CPU idle while waiting, for both clients."""
from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
import tracemalloc
import warnings

import pytest
import urllib3

from etcd3 import AioClient, Client
from etcd3.errors import Etcd3ProtocolError, Etcd3Timeout, Etcd3TransportError
from etcd3.stateful.watch import WatchConnection
from etcd3.transport.duplex import DEFAULT_MAX_RESPONSE_SIZE
from etcd3.transport.streams import StreamPolicy
from etcd3.utils import Etcd3Warning
from helpers import wait_for
from hostile import HostileServer, answer, drip, endless_chunks, send_bytes
from hostile import hold, stream_then_silence, unaccepting_listener

JSON = "Content-Type: application/json"

MALFORMED = {
    "negative content-length": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}",
    "non-numeric content-length": b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n{}",
    "negative chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-a\r\n{}",
    "chunk without CRLF": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{XY0\r\n\r\n",
    "non-numeric status": b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\n{}",
    "negative status": b"HTTP/1.1 -200 OK\r\nContent-Length: 2\r\n\r\n{}",
    "huge status": b"HTTP/1.1 99999 OK\r\nContent-Length: 2\r\n\r\n{}",
    "not HTTP": b"SSH-2.0-OpenSSH_9.2\r\n",
    "HTML": answer("HTTP/1.1 200 OK", b"<html><body>502 Bad Gateway</body></html>", "Content-Type: text/html"),
    "JSON array": answer("HTTP/1.1 200 OK", b"[1, 2, 3]", JSON),
    "JSON number": answer("HTTP/1.1 200 OK", b"0", JSON),
    "invalid UTF-8": answer("HTTP/1.1 200 OK", b'{"kvs": "\xff\xfe"}', JSON),
    "truncated JSON": answer("HTTP/1.1 200 OK", b'{"header": {"revision": "1"', JSON),
    # valid JSON, fields of the wrong type
    "number for a message": answer("HTTP/1.1 200 OK", b'{"header": 0.0}', JSON),
    "string for a list": answer("HTTP/1.1 200 OK", b'{"kvs": "abc"}', JSON),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def call_sync(server: HostileServer, timeout: float = 2.0, **kwargs):
    client = Client(server.host, server.port, timeout=timeout, **kwargs)
    try:
        return client.range("k")
    finally:
        client.close()


def call_aio(server: HostileServer, timeout: float = 2.0, **kwargs):
    async def main():
        async with AioClient(server.host, server.port, timeout=timeout, **kwargs) as client:
            return await client.range("k")
    return asyncio.run(main())


CALLS = {"sync": call_sync, "aio": call_aio}


@pytest.mark.parametrize("kind", CALLS)
@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_answer_is_a_protocol_error_naming_the_endpoint(name, kind):
    with HostileServer(send_bytes(MALFORMED[name])) as server:
        started = time.monotonic()
        with pytest.raises(Etcd3ProtocolError) as info:
            CALLS[kind](server)
        assert time.monotonic() - started < 2.5
    error = info.value
    assert isinstance(error, Etcd3TransportError)
    assert error.endpoint == "http://127.0.0.1:%d" % server.port
    assert str(error).startswith(error.endpoint)
    assert error.seen  # the first bytes of what came, for the user to see


@pytest.mark.parametrize("kind", CALLS)
@pytest.mark.parametrize("body,message", [
    (b'{"header": 0.0}', "RangeResponse.header: expected an object (ResponseHeader), got 0.0"),
    (b'{"kvs": "abc"}', "RangeResponse.kvs: expected a list, got 'abc'"),
    (b'{"kvs": [{"key": "YQ=="}, {"key": "YQ==", "version": "three"}]}',
     "RangeResponse.kvs[1].version: expected an integer"),
    (b'{"kvs": [{"key": "abc"}]}', "RangeResponse.kvs[0].key: expected base64 text, got 'abc' (Incorrect padding)"),
    (b'{"more": {}}', "RangeResponse.more: expected true or false, got {}"),
])
def test_a_field_of_the_wrong_type_is_a_protocol_error_naming_it(body, message, kind):
    with HostileServer(send_bytes(answer("HTTP/1.1 200 OK", body, JSON))) as server:
        with pytest.raises(Etcd3ProtocolError) as info:
            CALLS[kind](server)
    assert str(info.value).startswith("http://127.0.0.1:%d: %s" % (server.port, message))
    assert info.value.seen == body


@pytest.mark.parametrize("kind", CALLS)
def test_a_server_dripping_bytes_is_cut_off_at_the_timeout(kind):
    body = b'{"header": {"revision": "1"}}'
    whole = answer("HTTP/1.1 200 OK", body, JSON)
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = drip(whole, 0.2, server.stopped)  # ~10 s for the whole answer
        cpu, started = cpu_seconds(), time.monotonic()
        with pytest.raises(Etcd3Timeout):
            CALLS[kind](server, timeout=2.0)
        elapsed = time.monotonic() - started
        used = cpu_seconds() - cpu
    assert 1.9 < elapsed < 3.0, elapsed
    assert used < 0.5 * elapsed, "the client spun while it waited (%.2fs CPU in %.2fs)" % (used, elapsed)


@pytest.mark.parametrize("kind", CALLS)
def test_an_endless_body_is_cut_off_at_the_timeout(kind):
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = endless_chunks(server.stopped)
        started = time.monotonic()
        with pytest.raises((Etcd3Timeout, Etcd3ProtocolError)):
            CALLS[kind](server, timeout=2.0)
        assert time.monotonic() - started < 3.0


def test_silence_is_a_timeout_within_the_deadline():
    with HostileServer(lambda conn, path: None) as server:
        started = time.monotonic()
        with pytest.raises(Etcd3Timeout):
            call_sync(server, timeout=1.0)
        assert 0.9 < time.monotonic() - started < 2.0


def malformed_watch_stream(conn, path: str) -> None:
    """A watch stream whose first item has a string where the events list is."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    item = b'{"result": {"header": {"revision": "1"}, "created": true, "events": "abc"}}\n'
    conn.sendall(b"%x\r\n%s\r\n" % (len(item), item))


def test_a_malformed_watch_item_is_a_broken_stream_that_is_reconnected():
    with HostileServer(malformed_watch_stream) as server:
        client = Client(server.host, server.port, timeout=2.0)
        try:
            watcher = client.Watcher("k")
            consumer = threading.Thread(target=lambda: list(watcher.events(timeout=10)), daemon=True)
            consumer.start()
            # the first stream, then reconnections, each broken by the item and recorded
            wait_for(lambda: len(watcher.errors) >= 3, timeout=5, message="three broken streams")
            assert len([p for p in server.requests if p == client.api_prefix + "/watch"]) >= 3
            for error in list(watcher.errors):
                assert isinstance(error, Etcd3ProtocolError)
                assert str(error) == "WatchResponse.events: expected a list, got 'abc'"
            watcher.stop()
            consumer.join(5)
            assert not consumer.is_alive()
        finally:
            client.close()


# the first reconnections of a stream that breaks as soon as it is opened wait at least
# this long in all (BACKOFF_FIRST doubling), where a reset backoff would wait 4 x 50 ms
FIRST_FOUR_BACKOFFS = sum(StreamPolicy.BACKOFF_FIRST * 2 ** n for n in range(4))


def test_a_stream_broken_right_after_opening_is_retried_ever_more_slowly_sync():
    # the server answers each stream's head, then breaks it: that is no working stream,
    # so the backoff keeps growing (it used to start again from 50 ms: 20 reconnections a second)
    with HostileServer(malformed_watch_stream) as server:
        client = Client(server.host, server.port, timeout=2.0)
        try:
            watcher = client.Watcher("k")
            started = time.monotonic()
            consumer = threading.Thread(target=lambda: list(watcher.events(timeout=10)), daemon=True)
            consumer.start()
            wait_for(lambda: len(watcher.errors) >= 5, timeout=10, message="five broken streams")
            elapsed = time.monotonic() - started
            watcher.stop()
            consumer.join(5)
        finally:
            client.close()
    assert elapsed >= FIRST_FOUR_BACKOFFS * 0.95, elapsed


def test_a_stream_broken_right_after_opening_is_retried_ever_more_slowly_aio():
    with HostileServer(malformed_watch_stream) as server:
        async def consume(watcher):
            async for _ in watcher.events(timeout=10):
                pass

        async def main():
            async with AioClient(server.host, server.port, timeout=2.0) as client:
                watcher = client.Watcher("k")
                started = time.monotonic()
                consumer = asyncio.ensure_future(consume(watcher))
                while len(watcher.errors) < 5 and time.monotonic() - started < 10:
                    await asyncio.sleep(0.02)
                elapsed = time.monotonic() - started
                errors = len(watcher.errors)
                await watcher.stop()
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)
                return elapsed, errors

        elapsed, errors = asyncio.run(main())
    assert errors >= 5
    assert elapsed >= FIRST_FOUR_BACKOFFS * 0.95, elapsed


def test_a_malformed_item_of_a_raw_stream_is_a_protocol_error():
    with HostileServer(malformed_watch_stream) as server:
        client = Client(server.host, server.port, timeout=2.0)
        try:
            stream = client.watch(create_request={"key": "k"})
            with pytest.raises(Etcd3ProtocolError, match="^WatchResponse.events: expected a list, got 'abc'"):
                for _ in stream:
                    pass
            stream.close()
        finally:
            client.close()


# --------------------------------------------------------------------------- one deadline per call

def timed(call):
    """(what ``call()`` raised, seconds it took, CPU seconds it used)."""
    cpu, started = cpu_seconds(), time.monotonic()
    try:
        call()
    except Exception as e:  # noqa: BLE001 - returned for the test to check
        error = e
    else:
        raise AssertionError("the call returned")
    return error, time.monotonic() - started, cpu_seconds() - cpu


@pytest.mark.parametrize("kind", CALLS)
def test_a_server_dripping_one_byte_a_second_is_cut_off_at_the_timeout(kind):
    whole = answer("HTTP/1.1 200 OK", b'{"header": {"revision": "1"}}', JSON)
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = drip(whole, 1.0, server.stopped)
        error, elapsed, used = timed(lambda: CALLS[kind](server, timeout=2.0))
    assert isinstance(error, Etcd3Timeout), error
    assert 1.9 < elapsed < 3.0, elapsed
    assert used < 0.5 * elapsed, "the client spun while it waited (%.2fs CPU in %.2fs)" % (used, elapsed)


def test_aio_silence_is_a_timeout_within_the_deadline():
    with HostileServer(lambda conn, path: None) as server:
        error, elapsed, used = timed(lambda: call_aio(server, timeout=1.0))
    assert isinstance(error, Etcd3Timeout), error
    assert 0.9 < elapsed < 2.0, elapsed
    assert used < 0.5 * elapsed


BIG_VALUE = b"v" * (24 * 1024 * 1024)  # 32 MiB of JSON: more than the socket buffers take


def put_big_sync(server, timeout):
    client = Client(server.host, server.port, timeout=timeout)
    try:
        client.put("k", BIG_VALUE)
    finally:
        client.close()


def put_big_aio(server, timeout):
    async def main():
        async with AioClient(server.host, server.port, timeout=timeout) as client:
            await client.put("k", BIG_VALUE)
    asyncio.run(main())


@pytest.mark.parametrize("put", [put_big_sync, put_big_aio], ids=["sync", "aio"])
def test_a_server_that_never_reads_cannot_hold_the_send(put):
    # it answered /version, then reads nothing more: sending the request blocks on full
    # socket buffers, and the call's one deadline covers that too
    with HostileServer(lambda conn, path: None, read_bodies=False) as server:
        server.behaviour = hold(server.stopped)
        error, elapsed, used = timed(lambda: put(server, 2.0))
    assert isinstance(error, Etcd3Timeout), error
    assert 1.9 < elapsed < 3.0, elapsed
    assert used < 0.5 * elapsed


def test_connecting_counts_against_the_call_timeout_sync():
    with unaccepting_listener() as (host, port):
        for max_retries in (0, 3, urllib3.Retry(5, backoff_factor=0.2)):
            with pytest.warns(Etcd3Warning):  # the version read fails too (and falls back)
                client = Client(host, port, timeout=2.0, max_retries=max_retries)
            try:
                error, elapsed, used = timed(lambda: client.range("k"))
            finally:
                client.close()
            assert isinstance(error, Etcd3Timeout), (max_retries, error)
            assert 1.9 < elapsed < 2.6, (max_retries, elapsed)
            assert used < 0.5 * elapsed


def test_connecting_counts_against_the_call_timeout_aio():
    with unaccepting_listener() as (host, port):
        async def main():
            client = AioClient(host, port, timeout=2.0)
            with pytest.warns(Etcd3Warning):
                await client._ensure_connected()  # the version read (its own 3 s), as Client() does
            started = time.monotonic()
            with pytest.raises(Etcd3Timeout):
                await client.range("k")
            elapsed = time.monotonic() - started
            await client.close()
            return elapsed

        elapsed = asyncio.run(main())
    assert 1.9 < elapsed < 2.6, elapsed


# --------------------------------------------------------------------------- the answer size limit

@pytest.mark.parametrize("kind", CALLS)
def test_an_endless_body_stops_at_the_size_limit_with_memory_bounded(kind):
    limit = 4 * 1024 * 1024
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = endless_chunks(server.stopped)
        tracemalloc.start()
        try:
            error, elapsed, _ = timed(lambda: CALLS[kind](server, timeout=10.0, max_response_size=limit))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(error, Etcd3ProtocolError), error
    assert "limit of 4194304 bytes" in str(error) and "max_response_size=" in str(error)
    assert error.endpoint == "http://127.0.0.1:%d" % server.port
    assert elapsed < 2.0, elapsed  # at the limit, not at the timeout
    assert peak < 4 * limit, "%d bytes held for a limit of %d" % (peak, limit)


@pytest.mark.parametrize("kind", CALLS)
def test_an_announced_length_beyond_the_limit_is_refused_before_reading(kind):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{"
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = lambda conn, path: (conn.sendall(head), hold(server.stopped)(conn, path))
        error, elapsed, _ = timed(lambda: CALLS[kind](server, timeout=10.0))  # the default limit
    assert isinstance(error, Etcd3ProtocolError), error
    assert "limit of %d bytes" % DEFAULT_MAX_RESPONSE_SIZE in str(error)
    assert elapsed < 2.0


def raw_range_sync(server, timeout, **kwargs):
    client = Client(server.host, server.port, timeout=timeout, **kwargs)
    try:
        return client.call_rpc("/kv/range", {"key": "k"}, raw=True)
    finally:
        client.close()


def raw_range_aio(server, timeout, **kwargs):
    async def main():
        async with AioClient(server.host, server.port, timeout=timeout, **kwargs) as client:
            resp = await client.call_rpc("/kv/range", {"key": "k"}, raw=True)
            return await resp.read()
    return asyncio.run(main())


RAW = {"sync": raw_range_sync, "aio": raw_range_aio}


@pytest.mark.parametrize("kind", RAW)
def test_raw_calls_have_the_deadline_and_the_limit(kind):
    whole = answer("HTTP/1.1 200 OK", b'{"header": {"revision": "1"}}', JSON)
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = drip(whole, 0.2, server.stopped)
        error, elapsed, _ = timed(lambda: RAW[kind](server, 2.0))
        assert isinstance(error, Etcd3Timeout), error
        assert 1.9 < elapsed < 3.0, elapsed
        server.behaviour = endless_chunks(server.stopped)
        error, elapsed, _ = timed(lambda: RAW[kind](server, 10.0, max_response_size=1 << 20))
        assert isinstance(error, Etcd3ProtocolError) and "limit of 1048576 bytes" in str(error), error
        assert elapsed < 2.0


def test_max_response_size_is_checked():
    with HostileServer(lambda conn, path: None) as server:
        for bad, kind in ((0, ValueError), (-1, ValueError), ("1", TypeError), (1.5, TypeError), (True, TypeError)):
            with pytest.raises(kind, match="max_response_size"):
                Client(server.host, server.port, max_response_size=bad)
            with pytest.raises(kind, match="max_response_size"):
                AioClient(server.host, server.port, max_response_size=bad)
        client = Client(server.host, server.port)
        assert client.max_response_size == DEFAULT_MAX_RESPONSE_SIZE == 3 * 1024 ** 3
        client.max_response_size = None
        assert client.max_response_size is None and client._connections().max_response_size is None
        client.close()


# --------------------------------------------------------------------------- streams: per-read idle timeouts

CREATED = b'{"result":{"header":{"revision":"5"},"created":true}}\n'


def stream_paths(server):
    return [path for path in server.requests if path != "/version"]


def test_a_user_stream_waits_for_each_piece_at_most_the_client_timeout_sync():
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = stream_then_silence(CREATED, server.stopped)
        client = Client(server.host, server.port, timeout=1.0)
        try:
            with client.watch_create("k") as stream:
                items = iter(stream)
                assert next(items).created is True
                error, elapsed, used = timed(lambda: next(items))
        finally:
            client.close()
    assert isinstance(error, Etcd3Timeout), error
    assert 0.9 < elapsed < 2.0, elapsed
    assert used < 0.5 * elapsed


def test_a_user_stream_waits_for_each_piece_at_most_the_client_timeout_aio():
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = stream_then_silence(CREATED, server.stopped)

        async def main():
            async with AioClient(server.host, server.port, timeout=1.0) as client:
                async with client.watch_create("k") as stream:
                    assert (await stream.__anext__()).created is True
                    started = time.monotonic()
                    with pytest.raises(Etcd3Timeout):
                        await stream.__anext__()
                    return time.monotonic() - started

        elapsed = asyncio.run(main())
    assert 0.9 < elapsed < 2.0, elapsed


# the background streams: a server that stops answering (without closing) is noticed, and
# the stream is opened again: after IDLE_SECONDS of silence the watch stream asks for
# progress, and the answer is due within ANSWER_TIMEOUT
WATCH_REOPENED_WITHIN = WatchConnection.IDLE_SECONDS + StreamPolicy.ANSWER_TIMEOUT + 3


@pytest.mark.parametrize("version,path", [("3.5.16", "/v3/watch"), ("3.2.32", "/v3alpha/watch")])
def test_a_silent_background_watch_stream_is_opened_again_sync(version, path):
    # 3.5: its progress requests go unanswered; 3.2's spec has none: its probes go unanswered
    with HostileServer(lambda conn, path: None, version=version) as server:
        server.behaviour = stream_then_silence(CREATED, server.stopped)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Etcd3Warning)  # etcd < 3.3 warns, as in 0.1.6
            client = Client(server.host, server.port)
        assert client._watch_stream().hub.progress_requests is (version != "3.2.32")
        watcher = client.Watcher("k")
        watcher.onEvent(lambda event: None)
        try:
            watcher.runDaemon()
            cpu, started = cpu_seconds(), time.monotonic()
            wait_for(lambda: len(stream_paths(server)) >= 2, WATCH_REOPENED_WITHIN, interval=0.2,
                     message="the watch stream to be opened again")
            elapsed, used = time.monotonic() - started, cpu_seconds() - cpu
            assert any(isinstance(e, Etcd3Timeout) for e in watcher.errors), list(watcher.errors)
        finally:
            watcher.stop()
            client.close()
    assert stream_paths(server)[:2] == [path] * 2
    # not before the server had its chance to answer
    assert elapsed > WatchConnection.IDLE_SECONDS + StreamPolicy.ANSWER_TIMEOUT - 1, elapsed
    assert used < 0.2 * elapsed


def test_a_silent_background_watch_stream_is_opened_again_aio():
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = stream_then_silence(CREATED, server.stopped)

        async def main():
            async with AioClient(server.host, server.port) as client:
                watcher = client.Watcher("k")
                watcher.onEvent(lambda event: None)
                await watcher.runDaemon()
                started = time.monotonic()
                while len(stream_paths(server)) < 2 and time.monotonic() - started < WATCH_REOPENED_WITHIN:
                    await asyncio.sleep(0.2)
                errors = list(watcher.errors)
                await watcher.stop()
                return time.monotonic() - started, errors

        elapsed, errors = asyncio.run(main())
    assert stream_paths(server)[:2] == ["/v3/watch"] * 2, (elapsed, stream_paths(server))
    assert any(isinstance(e, Etcd3Timeout) for e in errors), errors
    assert elapsed > WatchConnection.IDLE_SECONDS + StreamPolicy.ANSWER_TIMEOUT - 1, elapsed


def keepalive_server(server):
    grant = answer("HTTP/1.1 200 OK", b'{"header":{"revision":"1"},"ID":"42","TTL":"3"}', JSON)
    kept = stream_then_silence(b'{"result":{"header":{"revision":"1"},"ID":"42","TTL":"3"}}\n', server.stopped)

    def behave(conn, path):
        if path.endswith("/lease/grant"):
            conn.sendall(grant)
        elif path.endswith("/lease/keepalive"):
            kept(conn, path)
        else:  # a revoke at the end
            conn.sendall(answer("HTTP/1.1 200 OK", b'{"header":{"revision":"1"}}', JSON))
    return behave


# a keepalive goes out a second after the answered first one (TTL 3); its answer is due within ANSWER_TIMEOUT
KEEPALIVE_REOPENED_WITHIN = 1 + StreamPolicy.ANSWER_TIMEOUT + 3


def test_a_silent_keepalive_stream_is_opened_again_sync():
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = keepalive_server(server)
        client = Client(server.host, server.port)
        lease = client.Lease(ttl=3)
        try:
            lease.grant()
            lease.keepalive()
            started = time.monotonic()
            wait_for(lambda: stream_paths(server).count("/v3/lease/keepalive") >= 2, KEEPALIVE_REOPENED_WITHIN,
                     interval=0.2, message="the keepalive stream to be opened again")
            elapsed = time.monotonic() - started
        finally:
            lease.cancel_keepalive()
            client.close()
    assert elapsed > StreamPolicy.ANSWER_TIMEOUT - 1, elapsed


def test_a_silent_keepalive_stream_is_opened_again_aio():
    with HostileServer(lambda conn, path: None) as server:
        server.behaviour = keepalive_server(server)

        async def main():
            async with AioClient(server.host, server.port) as client:
                lease = client.Lease(ttl=3)
                await lease.grant()
                lease.keepalive()
                started = time.monotonic()
                while stream_paths(server).count("/v3/lease/keepalive") < 2 and \
                        time.monotonic() - started < KEEPALIVE_REOPENED_WITHIN:
                    await asyncio.sleep(0.2)
                lease.cancel_keepalive()
                return time.monotonic() - started

        elapsed = asyncio.run(main())
    assert stream_paths(server).count("/v3/lease/keepalive") >= 2, stream_paths(server)
    assert elapsed > StreamPolicy.ANSWER_TIMEOUT - 1, elapsed


def test_a_name_that_does_not_resolve_in_time_is_a_timeout_within_the_deadline(monkeypatch):
    # the resolver has no timeout of its own (a dead DNS server holds getaddrinfo for its
    # retries): stand in for one with a resolver that is silent for this name until the end
    released = threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def silent_dns(host, *args, **kwargs):
        numeric = len(args) >= 5 and args[4] & socket.AI_NUMERICHOST
        if host == "etcd.dns-is-down.test" and not numeric:
            released.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", silent_dns)
    try:
        started = time.monotonic()
        with pytest.warns(Etcd3Warning, match="resolving 'etcd.dns-is-down.test' took longer than 3s"):
            client = Client("etcd.dns-is-down.test", 2379, timeout=1.0)  # its /version read has 3 s
        assert time.monotonic() - started < 3.5
        started = time.monotonic()
        # the call's deadline: its timeout and the 50 ms it waits for the server's own answer
        with pytest.raises(Etcd3Timeout, match="resolving 'etcd.dns-is-down.test' took longer than 1.05s"):
            client.range("k")
        assert time.monotonic() - started < 1.5
        client.close()
    finally:
        released.set()
