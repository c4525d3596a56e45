"""``Client`` / ``AioClient`` / ``BaseClient`` as etcd3-py 0.1.6 made them (ORIGINAL_API.md
2.1, 2.2, 2.6, 2.8), on real servers: the constructors' parameters, the attributes set at
construction (detected versions, ``*_sem``, ``api_spec``, ``api_prefix``, ``baseurl``), the
sync ``_session`` / ``_url`` / ``_get`` / ``_post``, what goes on the wire (headers,
user agent, token), ``max_retries`` as an int or a ``urllib3.Retry`` (connection failures
only), an unreachable server, and the stream objects (``ModelizedStreamResponse``,
``iter_response``, aio ``ModelizedResponse`` / ``ResponseIter``)."""
from __future__ import annotations

import asyncio
import base64
import gc
import http.client
import http.server
import inspect
import json
import socket
import threading
import time
import warnings

import pytest
import requests
import urllib3

from etcd3 import AioClient, BaseClient, Client, errors
from etcd3.aio_client import ModelizedResponse, ModelizedStreamResponse as AioStream, ResponseIter
from etcd3.baseclient import SemanticVersion
from etcd3.client import ModelizedStreamResponse, iter_response
from etcd3.swagger_helper import SwaggerSpec
from etcd3.testing.server import free_port
from etcd3.utils import Etcd3Warning
from helpers import Background, SilentServer

CLIENT_PARAMS = [
    ("host", "127.0.0.1"), ("port", 2379), ("protocol", "http"), ("cert", ()), ("verify", None),
    ("timeout", None), ("headers", None), ("user_agent", None), ("pool_size", 30), ("username", None),
    ("password", None), ("token", None), ("max_retries", 0), ("server_version", "3.3.0"),
    ("cluster_version", "3.3.0")]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def quiet_client(server, **kwargs) -> Client:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning is expected from a reachable server
        return Client(host=server.host, port=server.port, **kwargs)


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# --------------------------------------------------------------------------- constructors

@pytest.mark.parametrize("cls,params", [
    (Client, CLIENT_PARAMS),
    (AioClient, [p for p in CLIENT_PARAMS if p[0] != "max_retries"]),
    (BaseClient, [p for p in CLIENT_PARAMS if p[0] != "max_retries"]),
])
def test_constructor_parameters_are_0_1_6s(cls, params):
    signature = inspect.signature(cls.__init__)
    got = [(name, p.default) for name, p in signature.parameters.items()
           if name != "self" and p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert got == params
    # ours come after them, keyword-only (0.1.6's positional calls mean the same)
    ours = [name for name, p in signature.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert ours == (["endpoints", "auto_sync_interval"] if cls is BaseClient
                    else ["max_response_size", "endpoints", "auto_sync_interval"])


def test_positional_construction_as_0_1_6(etcd):
    # every parameter in 0.1.6's order, positionally
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = Client(etcd.host, etcd.port, "http", (), None, 7, {"X-A": "1"}, "agent/1", 4, None, None,
                        None, 2, "3.3.0", "3.3.0")
    try:
        assert (client.timeout, client.headers, client.user_agent, client.pool_size, client.max_retries) == (
            7, {"X-A": "1"}, "agent/1", 4, 2)
        assert client.server_version == etcd.version
    finally:
        client.close()


def test_attributes_after_construction(etcd):
    client = quiet_client(etcd, timeout=9, headers={"X-Team": "infra"}, username="u", password="p")
    try:
        assert (client.host, client.port, client.protocol) == (etcd.host, etcd.port, "http")
        assert client.cert == () and client.verify is False  # nothing to verify over http
        assert client.user_agent.startswith("etcd3-py/")
        assert (client.timeout, client.headers, client.username, client.password, client.token) == (
            9, {"X-Team": "infra"}, "u", "p", None)
        assert client.baseurl == "http://%s:%d" % (etcd.host, etcd.port)
        # detected at construction, from GET /version
        version = requests.get(client.baseurl + "/version", timeout=5).json()
        assert client.server_version == version["etcdserver"] == etcd.version
        assert client.cluster_version == version["etcdcluster"]
        assert client.server_version_sem == etcd.version
        assert str(client.cluster_version_sem) == version["etcdcluster"]
        assert client.server_version_sem >= "3.3.0"
        assert client.api_prefix == ("/v3beta" if etcd.version.startswith("3.3.") else "/v3")
        assert isinstance(client.api_spec, SwaggerSpec)
        assert all(path.startswith(client.api_prefix + "/") for path in client.api_spec.spec["paths"])
        assert client.api_prefix + "/kv/range" in client.api_spec.spec["paths"]
    finally:
        client.close()


def test_the_caller_headers_dict_is_the_clients(etcd):
    headers = {"X-One": "1"}
    client = quiet_client(etcd, headers=headers)
    assert client.headers is headers  # 0.1.6 kept the caller's dict
    client.close()


# --------------------------------------------------------------------------- versions

def test_semantic_version_order():
    ordered = ["3.2.0", "3.3.0-rc.4", "3.3.0", "3.3.9", "3.3.10", "3.4.0-alpha", "3.4.0-alpha.1", "3.4.0-beta",
               "3.4.0", "3.5.30"]
    versions = [SemanticVersion(v) for v in ordered]
    assert sorted(reversed(versions)) == versions
    assert [str(v) for v in versions] == ordered
    v = SemanticVersion("3.5.30")
    assert (v.major, v.minor, v.patch, v.prerelease) == (3, 5, 30, ())
    assert v == "3.5.30" and v != "3.5.3" and v > "3.4.99" and v < "3.6.0-rc.0"
    assert v != "not a version" and hash(v) == hash(SemanticVersion("3.5.30"))
    assert SemanticVersion("3.3.0-rc.4").prerelease == ("rc", "4")
    assert repr(v) == "Version('3.5.30')"
    with pytest.raises(ValueError, match="x.y"):
        SemanticVersion("x.y")


def test_semantic_version_compares_with_semantic_version_like_objects():
    class Foreign:  # what semantic_version.Version offers
        def __init__(self, major, minor, patch, prerelease=()):
            self.major, self.minor, self.patch, self.prerelease = major, minor, patch, prerelease

    assert SemanticVersion("3.3.0") == Foreign(3, 3, 0)
    assert SemanticVersion("3.3.0") > Foreign(3, 3, 0, ("rc", "4"))
    assert Foreign(3, 4, 0) > SemanticVersion("3.3.25")  # Foreign has no order: ours is asked, reflected
    assert SemanticVersion("3.3.25") < Foreign(3, 4, 0)


def test_sem_follows_server_version_without_a_server(etcd):
    with pytest.warns(Etcd3Warning):
        client = Client("127.0.0.1", free_port(), server_version="3.4.2")
    assert client.server_version_sem == "3.4.2" and client.api_prefix == "/v3"
    with pytest.warns(Etcd3Warning):
        old = Client("127.0.0.1", free_port(), server_version="3.3.0")
    assert old.api_prefix == "/v3beta"


def test_servers_older_than_3_2_are_refused(etcd):
    with pytest.raises(errors.UnsupportedServerVersion, match="2.3.8"):
        Client("127.0.0.1", free_port(), server_version="2.3.8")


# --------------------------------------------------------------------------- unreachable server

def test_unreachable_server_warns_naming_the_endpoint_and_gives_a_usable_client(etcd):
    port = free_port()
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = Client("127.0.0.1", port)
    assert time.monotonic() - start < 5
    ours = [str(w.message) for w in caught if issubclass(w.category, Etcd3Warning)]
    assert len(ours) == 1 and "http://127.0.0.1:%d" % port in ours[0], ours
    # 0.1.6 died here with AttributeError (server_version_sem); ours has every attribute
    assert client.server_version == "3.3.0" and client.server_version_sem == "3.3.0"
    assert client.api_prefix == "/v3beta" and isinstance(client.api_spec, SwaggerSpec)
    with pytest.raises(errors.Etcd3ConnectionError) as info:
        client.range("k")
    assert info.value.endpoint == "http://127.0.0.1:%d" % port


def test_aio_client_constructed_against_an_unreachable_server(etcd):
    port = free_port()

    async def go():
        client = AioClient("127.0.0.1", port)
        try:
            assert client.server_version_sem == "3.3.0" and client.api_prefix == "/v3beta"
            with pytest.warns(Etcd3Warning, match="127.0.0.1:%d" % port):
                with pytest.raises(errors.Etcd3ConnectionError):
                    await client.range("k")
        finally:
            await client.close()

    run(go())


# --------------------------------------------------------------------------- what goes on the wire

class RecordingProxy:
    """A loopback HTTP proxy in front of a real etcd: records each request's path and
    headers, forwards it unchanged and sends the server's answer back."""

    def __init__(self, server) -> None:
        self.requests: list = []
        target = (server.host, server.port)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.requests.append((self.command, self.path, dict(self.headers)))
                upstream = http.client.HTTPConnection(*target, timeout=10)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def headers_of(self, path_end: str) -> list:
        return [h for _, path, h in self.requests if path.endswith(path_end)]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(etcd):
    p = RecordingProxy(etcd)
    yield p
    p.close()


def lower_keys(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def test_headers_and_user_agent_on_every_request(proxy, etcd):
    client = quiet_client(proxy, headers={"X-Team": "infra"})
    try:
        client.put("hdr/k", "v")
        client.range("hdr/k")
        client.version()
        assert list(client.snapshot())  # a server stream (requests' pool), that ends
    finally:
        client.delete_range("hdr/k")
        client.close()
    version_read, *_ = proxy.headers_of("/version")
    assert lower_keys(version_read)["x-team"] == "infra"
    assert lower_keys(version_read)["user-agent"] == client.user_agent
    for path in ("/kv/put", "/kv/range", "/maintenance/snapshot", "/kv/deleterange"):
        sent = proxy.headers_of(path)
        assert sent, path
        for headers in sent:
            headers = lower_keys(headers)
            assert headers["x-team"] == "infra", path
            assert headers["user-agent"] == client.user_agent, path
            assert "authorization" not in headers, path


def enable_auth(server) -> str:
    """Turn auth on (a root user with password 'pw'); return a token of root's."""
    root = quiet_client(server)
    root.user_add("root", "pw")
    root.user_grant_role("root", "root")
    root.auth_enable()
    token = root.authenticate("root", "pw").token
    root.close()
    return token


def test_token_is_sent_as_authorization(fresh_etcd):
    token = enable_auth(fresh_etcd)
    proxy = RecordingProxy(fresh_etcd)
    try:
        client = quiet_client(proxy, token=token)
        client.put("tok/k", "v")  # refused without the token: auth is on
        assert client.range("tok/k").kvs[0].value == b"v"
        client.close()
        sent = proxy.headers_of("/kv/put") + proxy.headers_of("/kv/range")
        assert len(sent) == 2 and all(lower_keys(h)["authorization"] == token for h in sent)
        with pytest.raises(errors.Etcd3Exception):
            quiet_client(proxy).put("tok/k", "v")  # and refused without it
    finally:
        proxy.close()


def test_user_agent_default_and_given(proxy):
    from etcd3 import __version__

    client = quiet_client(proxy, user_agent="my-app/2")
    client.range("ua/none")
    client.close()
    assert lower_keys(proxy.headers_of("/kv/range")[-1])["user-agent"] == "my-app/2"
    assert quiet_client(proxy).user_agent == "etcd3-py/" + __version__


def test_aio_client_sends_headers(proxy):
    async def go():
        async with AioClient(proxy.host, proxy.port, headers={"X-Team": "aio"}) as client:
            await client.put("hdr/aio", "v")
            await client.delete_range("hdr/aio")

    run(go())
    sent = proxy.headers_of("/kv/put") + proxy.headers_of("/kv/deleterange")
    assert len(sent) == 2
    for headers in sent:
        headers = lower_keys(headers)
        assert headers["x-team"] == "aio" and headers["user-agent"].startswith("etcd3-py/")


def test_aio_client_sends_the_token(fresh_etcd):
    token = enable_auth(fresh_etcd)
    proxy = RecordingProxy(fresh_etcd)

    async def go():
        async with AioClient(proxy.host, proxy.port, token=token) as client:
            await client.put("tok/aio", "v")
            return (await client.range("tok/aio")).kvs[0].value

    try:
        assert run(go()) == b"v"
        assert [lower_keys(h)["authorization"] for h in proxy.headers_of("/kv/put")] == [token]
    finally:
        proxy.close()


# --------------------------------------------------------------------------- 0.1.6's transport hooks

def test_session_url_get_post(etcd):
    client = quiet_client(etcd, headers={"X-Team": "infra"}, timeout=5)
    try:
        assert isinstance(client._session, requests.Session) and client._session is client.session
        assert client._session.headers["X-Team"] == "infra"
        assert client._session.headers["User-Agent"] == client.user_agent
        assert client._url("/kv/range") == client.baseurl + client.api_prefix + "/kv/range"
        assert client._url("/version", prefix=False) == client.baseurl + "/version"
        version = client._get(client._url("/version", prefix=False))
        assert isinstance(version, requests.Response) and version.json()["etcdserver"] == etcd.version
        put = client._post(client._url("/kv/put"), json={"key": b64("hooks/k"), "value": b64("v")})
        assert put.status_code == 200 and int(put.json()["header"]["revision"]) > 0
        got = client._post(client._url("/kv/range"), data=json.dumps({"key": b64("hooks/k")}))
        assert base64.b64decode(got.json()["kvs"][0]["value"]) == b"v"
        assert client.range("hooks/k").kvs[0].value == b"v"
    finally:
        client.delete_range("hooks/k")
        client.close()


# --------------------------------------------------------------------------- max_retries

def test_max_retries_as_a_urllib3_retry(etcd):
    client = quiet_client(etcd, max_retries=urllib3.Retry(3))
    try:
        assert isinstance(client.max_retries, urllib3.Retry)
        client.put("mr/k", "v")
        assert client.range("mr/k").kvs[0].value == b"v"
        with client.watch_create("mr/k", start_revision=1) as stream:  # streams go through requests' pool
            first = Background(lambda: next(iter(stream))).result(timeout=10)
        assert first.created is True
    finally:
        client.delete_range("mr/k")
        client.close()


def _time_to_fail(max_retries) -> float:
    port = free_port()  # nothing listens: every connection is refused at once
    with pytest.warns(Etcd3Warning):
        client = Client("127.0.0.1", port, max_retries=max_retries)
    start = time.monotonic()
    with pytest.raises(errors.Etcd3ConnectionError):
        client.range("k")
    return time.monotonic() - start


def test_retry_object_rules_apply_to_connection_failures(etcd):
    # urllib3 sleeps backoff * 2**(n-1) before the n-th retry (n >= 2): 0 + 0.4 + 0.8 for 3
    # retries, then gives up; connect=1 allows one retry only (no sleep)
    assert _time_to_fail(urllib3.Retry(3, backoff_factor=0.2)) >= 1.2
    assert _time_to_fail(urllib3.Retry(3, connect=1, backoff_factor=0.2)) < 0.4
    assert _time_to_fail(urllib3.Retry(0)) < 0.4
    assert _time_to_fail(3) < 0.4  # an int: immediate retries, as requests' HTTPAdapter did


class AnswerlessServer(SilentServer):
    """Accepts each connection, reads the request and closes without an answer."""

    def handle(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(2)
        try:
            conn.recv(65536)
        except OSError:
            pass
        conn.close()


def test_retries_never_resend_a_request_that_went_out(etcd):
    with AnswerlessServer() as server:
        with pytest.warns(Etcd3Warning):
            client = Client("127.0.0.1", server.port, max_retries=urllib3.Retry(5), server_version=etcd.version)
        connections = len(server.accepted)  # the version read at construction
        with pytest.raises(errors.Etcd3ConnectionError):
            client.put("k", "v")
        assert len(server.accepted) - connections == 1  # the put went out once: never again


@pytest.mark.parametrize("bad,error", [("3", TypeError), (1.5, TypeError), (None, TypeError), (-1, ValueError)])
def test_bad_max_retries(bad, error):
    with pytest.raises(error, match="max_retries"):
        Client("127.0.0.1", free_port(), max_retries=bad)


# --------------------------------------------------------------------------- sync streams

def test_modelized_stream_response_of_a_watch(etcd):
    client = quiet_client(etcd)
    try:
        stream = client.watch(create_request={"key": "ms/k"})
        assert isinstance(stream, ModelizedStreamResponse)
        assert isinstance(stream.resp, requests.Response) and stream.resp.status_code == 200
        assert stream.raw is stream.resp.raw and isinstance(stream.raw, urllib3.HTTPResponse)
        assert stream.client is client and stream.decode is True
        items = iter(stream)
        created = Background(lambda: next(items)).result(timeout=10)
        assert created.created is True and created.events is None  # the result, unwrapped
        client.put("ms/k", "v")
        event_response = Background(lambda: next(items)).result(timeout=10)
        assert [e.kv.value for e in event_response.events] == [b"v"]
        with stream:
            pass
        assert stream.resp.raw.closed
        assert list(items) == []  # a closed stream ends the iteration
    finally:
        client.delete_range("ms/k")
        client.close()


def test_modelized_stream_response_around_a_requests_response(etcd):
    """0.1.6 code could wrap a response of its own: (client, method path, requests.Response)."""
    client = quiet_client(etcd)
    try:
        resp = client._post(client._url("/watch"), json={"create_request": {"key": b64("wrap/k")}}, stream=True)
        with ModelizedStreamResponse(client, "/watch", resp) as stream:
            items = iter(stream)
            assert Background(lambda: next(items)).result(timeout=10).created is True
            client.put("wrap/k", "x")
            events = Background(lambda: next(items)).result(timeout=10).events
            assert events[0].kv.key == b"wrap/k"
        raw = ModelizedStreamResponse(client, "/watch", client._post(
            client._url("/watch"), json={"create_request": {"key": b64("wrap/k")}}, stream=True), decode=False)
        with raw:
            first = Background(lambda: next(iter(raw))).result(timeout=10)
        assert isinstance(first, dict) and first["created"] is True
    finally:
        client.delete_range("wrap/k")
        client.close()


def test_iter_response_yields_each_object_as_bytes(etcd):
    client = quiet_client(etcd)
    try:
        ID = client.lease_grant(30).ID
        # a body that ends: the server answers each line, then ends the stream
        body = b'{"ID":%d}\n{"ID":%d}\n' % (ID, ID)
        resp = client._post(client._url("/lease/keepalive"), data=body, stream=True)
        pieces = list(iter_response(resp))
        assert len(pieces) == 2 and all(isinstance(p, bytes) for p in pieces)
        answers = [json.loads(p) for p in pieces]
        assert [int(a["result"]["ID"]) for a in answers] == [ID, ID]
        assert all(int(a["result"]["TTL"]) > 0 for a in answers)
        client.lease_revoke(ID)
    finally:
        client.close()


class Chunked:
    """What iter_response reads: anything with ``iter_content`` (a requests.Response)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    def iter_content(self, chunk_size=None):
        return iter(self.chunks)


def test_iter_response_splits_by_json_not_by_braces():
    value = '{"result":{"a":"}{ \\" \u00e9"}}'.encode()
    split = value.index("\u00e9".encode()) + 1  # inside the two bytes of é
    pieces = list(iter_response(Chunked(b'{"result":{"n":1}}{"result":', b'{"n":2}}\n', value[:split],
                                        value[split:], b"\n  ")))
    assert pieces == [b'{"result":{"n":1}}', b'{"result":{"n":2}}', value]
    assert json.loads(pieces[2])["result"]["a"] == '}{ " \u00e9'


def test_iter_response_leftover_is_a_stream_error():
    with pytest.raises(errors.Etcd3StreamError, match="Stream decode error"):
        list(iter_response(Chunked(b'{"result":{"n":1}}', b'{"result":{"n"')))
    with pytest.raises(errors.Etcd3StreamError):
        list(iter_response(Chunked(b'{"result":1}xx}')))


# --------------------------------------------------------------------------- aio

def test_aio_responses_and_stream_objects(etcd):
    async def go():
        async with AioClient(etcd.host, etcd.port) as client:
            assert client.server_version == etcd.version and client.server_version_sem == etcd.version
            assert isinstance(client.api_spec, SwaggerSpec)
            await client.put("aio/k", "v")
            # ModelizedResponse around the un-awaited request of the aiohttp session
            model = await ModelizedResponse(client, "/kv/range", client._post(
                client._url("/kv/range"), json={"key": b64("aio/k")}))
            assert model.kvs[0].value == b"v"
            with pytest.raises(errors.ErrLeaseNotFound):
                await ModelizedResponse(client, "/kv/lease/revoke", client._post(
                    client._url("/kv/lease/revoke"), json={"ID": 424242}))
            # ResponseIter: the bytes of each object of a keepalive stream
            ID = (await client.lease_grant(30)).ID
            async with client._post(client._url("/lease/keepalive"), data=b'{"ID":%d}\n' % ID) as resp:
                pieces = [piece async for piece in ResponseIter(resp)]
            assert [int(json.loads(p)["result"]["ID"]) for p in pieces] == [ID]
            # the async stream object: __anext__, connection, resp_iter, both context managers
            stream = await client.watch(create_request={"key": "aio/w"})
            assert isinstance(stream, AioStream) and stream.connection is not None
            assert isinstance(stream.resp_iter, ResponseIter)
            async with stream:
                assert stream.__aiter__() is stream
                created = await asyncio.wait_for(stream.__anext__(), 10)
                assert created.created is True
                await client.put("aio/w", "1")
                async for item in stream:
                    assert item.events[0].kv.value == b"1"
                    break
            with await client.watch(create_request={"key": "aio/w"}) as second:
                assert (await asyncio.wait_for(second.__anext__(), 10)).created is True
            # the helpers 0.1.6 had for the sync client only, awaited
            version = await client.version()
            assert version.etcdserver == etcd.version
            health = await client.health()
            assert health == "true" or health.health is True  # (0.1.6 gave the JSON's string)
            await client.lease_revoke(ID)
            await client.delete_range("aio/", prefix=True)

    run(go())


def test_aio_streams_used_as_0_1_6_returned_them(etcd):
    """0.1.6's AioClient returned the stream object itself: ``async with`` / ``async for``
    on the call, no ``await``; awaiting it (ours) gives the same stream."""
    async def go():
        async with AioClient(etcd.host, etcd.port) as client:
            await client.put("aio/s", "0")
            rev = (await client.range("aio/s")).header.revision
            async with client.watch_create("aio/s", start_revision=rev) as stream:
                assert isinstance(stream, AioStream)
                first = await asyncio.wait_for(stream.__anext__(), 10)
                assert first.created is True
                events = (await asyncio.wait_for(stream.__anext__(), 10)).events
                assert [e.kv.value for e in events] == [b"0"]
            seen = []
            async for item in client.watch_create("aio/s", start_revision=rev):
                seen.append(item)
                if len(seen) == 2:
                    break
            assert seen[0].created is True and seen[1].events[0].kv.value == b"0"
            ID = (await client.lease_grant(30)).ID
            async for answer in client.call_rpc("/lease/keepalive", b'{"ID":%d}\n' % ID, stream=True):
                assert answer.ID == ID and answer.TTL > 0
            async with client.call_rpc("/watch", {"create_request": {"key": "aio/s"}}, stream=True) as raw:
                assert (await asyncio.wait_for(raw.__anext__(), 10)).created is True
            await client.lease_revoke(ID)
            await client.delete_range("aio/s")

    run(go())


def test_an_unused_aio_stream_call_sends_nothing_and_does_not_warn(etcd):
    client = AioClient(etcd.host, etcd.port)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call = client.watch_create("aio/never")
        del call
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert not client._connected
