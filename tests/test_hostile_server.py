"""Hostile and broken servers: a real socket server on loopback (tests/hostile.py)
that answers /version like etcd and everything else wrongly.  Each answer must
become a typed error of ours (Etcd3ProtocolError or Etcd3Timeout) within the
call's timeout, with the CPU idle while waiting, for both clients."""
from __future__ import annotations

import asyncio
import resource
import threading
import time

import pytest

from etcd3 import AioClient, Client
from etcd3.errors import Etcd3ProtocolError, Etcd3Timeout, Etcd3TransportError
from helpers import wait_for
from hostile import HostileServer, answer, drip, endless_chunks, send_bytes

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
