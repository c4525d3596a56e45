"""asynchronous client (on aiohttp, an optional extra: ``pip install etcd3-py[aio]``)

The same core as the sync client: the RPC methods, helpers and flows of
``BaseClient`` return awaitables here, because this driver's ``_run`` is a
coroutine.  Nothing is sent before the first await, so an ``AioClient`` can be
made outside a running event loop; the server's version is read on first use.
"""
from __future__ import annotations

import asyncio
import collections
import importlib.util
import ssl
import threading
from typing import Any, AsyncIterator, Deque, Dict, Optional, Sequence, Tuple, Union

if importlib.util.find_spec("aiohttp") is None:  # pragma: no cover - depends on the installation
    raise ImportError("AioClient needs aiohttp: pip install 'etcd3-py[aio]'")

from . import errors
from ._lazy import LazyModule
from .apis.binding import asks_for_request_op
from .baseclient import DEFAULT_TIMEOUT, NO_TIMEOUT, BaseClient, BaseModelizedStreamResponse, Flow, step_flow
from .core import Request, Response, StreamDecoder
from .transport import forksafe
from .transport.aio_http import AioConnectionPool
from .transport.endpoints import Endpoint
from .transport.duplex import DEFAULT_MAX_RESPONSE_SIZE, check_max_response_size, ssl_context, too_large
from .stateful.lock import WaitForChange
from .stateful.watch import AioWatcher
from .spec import Operation, bundled_versions, load_bundle

# aiohttp carries only the streams and raw calls (unary calls go on transport.aio_http):
# imported on first use, as it costs more to import than the rest of the client
aiohttp: Any = LazyModule("aiohttp")

__all__ = ["AioClient", "ModelizedResponse", "ModelizedStreamResponse", "ResponseIter", "StreamCall"]

CONNECT_TIMEOUT = 10.0


class ResponseIter:
    """yield response content by every json object

    ``await it.next()`` (or ``async for``) gives the bytes of each complete JSON
    object of a gateway stream, as the sync ``iter_response`` does; objects are
    split with a JSON decoder (newline-delimited or not), never by counting braces.

    :param resp: aiohttp.ClientResponse
    """

    def __init__(self, resp: "aiohttp.ClientResponse") -> None:
        from .client import JSONObjectSplitter  # here: etcd3.client imports requests

        self.resp = resp
        self._splitter = JSONObjectSplitter()
        self._ready: Deque[bytes] = collections.deque()
        self._done = False

    def __aiter__(self) -> "ResponseIter":
        return self

    async def next(self) -> bytes:
        while not self._ready:
            if self._done:
                raise StopAsyncIteration
            chunk = await self.resp.content.readany()
            if chunk:
                self._ready.extend(self._splitter.feed(chunk))
            else:
                self._done = True
                self._ready.extend(self._splitter.flush())
        return self._ready.popleft()

    __anext__ = next


def _operation(client: Any, method: Union[None, str, Operation]) -> Optional[Operation]:
    # 0.1.6 named the RPC by its path ('/kv/range'); ours are Operations
    return client._find_operation(method) if isinstance(method, str) else method


class ModelizedResponse:
    """An awaitable of the decoded model of a unary response.

    ``resp`` is an ``aiohttp.ClientResponse`` or what gives one when awaited (the
    request context manager of ``session.post(...)``, a coroutine); awaiting the
    ModelizedResponse sends the request if needed, raises the mapped error of a
    failed call and returns the model."""

    def __init__(self, client: "AioClient", method: Union[None, str, Operation], resp: Any,
                 decode: bool = True) -> None:
        self.client = client
        self.method = _operation(client, method)
        self.resp = resp
        self.decode = decode

    async def _result(self) -> Any:
        resp = self.resp
        if not isinstance(resp, aiohttp.ClientResponse):
            resp = self.resp = await resp
        body = await resp.read()
        response = Response(resp.status, resp.headers, body, raw=resp)
        if response.status != 200:
            raise errors.error_from_response(response.status, body)
        return self.client._decode(self.method if self.decode else None, response)

    def __await__(self):
        return self._result().__await__()


class ModelizedStreamResponse(BaseModelizedStreamResponse):
    """Model of a stream response

    ``async for`` over it yields one model per streamed message (the ``result``
    of each item; an ``error`` item raises).  ``close()``, ``with`` or
    ``async with`` end it."""

    def __init__(self, client: "AioClient", method: Union[None, str, Operation], resp: "aiohttp.ClientResponse",
                 decode: bool = True) -> None:
        """:param resp: aiohttp.ClientResponse"""
        super().__init__(client, _operation(client, method), resp, decode)
        self._items: Optional[AsyncIterator[Any]] = None

    @property
    def connection(self) -> Any:
        return self.resp.connection

    @property
    def resp_iter(self) -> ResponseIter:
        """A new ResponseIter on the response (the bytes of each JSON object)."""
        return ResponseIter(self.resp)

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                chunk = await self.resp.content.readany()
                if not chunk:
                    return
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            if self._closed:
                return
            if isinstance(e, asyncio.TimeoutError):  # aiohttp's ServerTimeoutError is one too
                raise errors.Etcd3Timeout("stream read timed out", self.client.baseurl, e) from e
            raise errors.Etcd3ConnectionError("stream broke: %s" % e, self.client.baseurl, e) from e

    async def _iterate(self) -> AsyncIterator[Any]:
        op = self.method if self.decode else None
        decoder = StreamDecoder()
        async for chunk in self._chunks():
            for item in decoder.feed(chunk):
                yield self.client._decode_stream_item(op, item)
        for item in decoder.flush():
            yield self.client._decode_stream_item(op, item)

    def __aiter__(self) -> "ModelizedStreamResponse":
        return self

    async def __anext__(self) -> Any:
        if self._items is None:
            self._items = self._iterate()
        return await self._items.__anext__()

    async def aclose(self) -> None:
        """end the current iteration (a later one goes on with the next message);
        ``close()`` ends the stream"""
        items, self._items = self._items, None
        if items is not None:
            await items.aclose()  # type: ignore[attr-defined]

    def close(self) -> None:
        """close the stream"""
        if not self._closed:
            self._closed = True
            self.resp.close()

    def __enter__(self) -> "ModelizedStreamResponse":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()

    async def __aenter__(self) -> "ModelizedStreamResponse":
        return self

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()


class StreamCall:
    """The stream an AioClient call opens (``watch``, ``lease_keep_alive``, ``snapshot``,
    ``call_rpc(stream=True)``): ``await`` it for the ``ModelizedStreamResponse``, or use it
    as that stream right away, as 0.1.6's calls returned it: ``async with
    client.watch_create('k') as stream``, ``async for resp in client.watch_create('k')``
    (the request goes out on first use)."""

    __slots__ = ("_call", "_stream")

    def __init__(self, call: Any) -> None:
        self._call = call  # the coroutine that opens the stream
        self._stream: Optional[ModelizedStreamResponse] = None

    async def _open(self) -> ModelizedStreamResponse:
        if self._stream is None:
            self._stream = await self._call
        return self._stream

    def __await__(self):
        return self._open().__await__()

    async def __aenter__(self) -> ModelizedStreamResponse:
        return await (await self._open()).__aenter__()

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if self._stream is not None:
            await self._stream.__aexit__(exc_type, exc_val, exc_tb)

    def __aiter__(self) -> "StreamCall":
        return self

    async def __anext__(self) -> Any:
        return await (await self._open()).__anext__()

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()

    def close(self) -> None:
        """close the stream (or drop the call, if it never went out)"""
        if self._stream is not None:
            self._stream.close()
        else:
            self._call.close()

    def __del__(self) -> None:
        if self._stream is None and hasattr(self._call, "close"):
            self._call.close()  # never used: no "coroutine was never awaited" warning


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _let_go(session: "aiohttp.ClientSession", loop: Optional[asyncio.AbstractEventLoop]) -> None:
    """Give up a session of another event loop: closed in its loop if that one still runs;
    a closed loop's is detached (its connections end with the loop's transports)."""
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(session.close(), loop)
    else:
        session.detach()


class AioClient(BaseClient):
    """The asyncio etcd v3 client, on aiohttp.

    >>> async with AioClient('127.0.0.1', 2379) as client:
    ...     await client.put('foo', 'bar')
    ...     resp = await client.range('foo')
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 2379, protocol: str = "http",
                 cert: Union[Tuple[str, str], str, Tuple[()]] = (), verify: Union[None, bool, str] = None,
                 timeout: Optional[float] = None, headers: Optional[Dict[str, str]] = None,
                 user_agent: Optional[str] = None, pool_size: int = 30, username: Optional[str] = None,
                 password: Optional[str] = None, token: Optional[str] = None,
                 server_version: str = "3.3.0", cluster_version: str = "3.3.0", *,
                 max_response_size: Optional[int] = DEFAULT_MAX_RESPONSE_SIZE,
                 endpoints: Optional[Sequence[Union[str, Tuple[str, int]]]] = None,
                 auto_sync_interval: Optional[float] = None) -> None:
        """
        :param endpoints: the members of a cluster (see ``Client``): calls move between
            them by etcd's Go client's rules, the same as the sync client's.
        :param auto_sync_interval: seconds between reads of the member list (see ``Client``).
        :param timeout: seconds one call may take in all: waiting for a free connection,
            connecting, sending and reading the whole answer (None: 30 s for unary calls).
            For a stream it bounds each wait for the next piece instead (None: a stream
            waits as long as it takes).
        :param max_response_size: the largest answer of a unary call (bytes of its body) the
            client reads; a larger one raises ``Etcd3ProtocolError`` (None: no limit).
            Default 3 GiB, above anything etcd can send (see ``Client``).
        """
        super().__init__(host=host, port=port, protocol=protocol, cert=cert, verify=verify, timeout=timeout,
                         headers=headers, user_agent=user_agent, pool_size=pool_size, username=username,
                         password=password, token=token, server_version=server_version,
                         cluster_version=cluster_version, endpoints=endpoints,
                         auto_sync_interval=auto_sync_interval)
        if self._selector is not None:
            self._pools: Dict[str, AioConnectionPool] = {}
            self._send = self._send_failover  # type: ignore[method-assign]
        self.max_response_size = max_response_size
        self._session: Optional["aiohttp.ClientSession"] = None
        self._connected = False
        self._connecting: Optional["asyncio.Lock"] = None
        self._ssl: Union[bool, ssl.SSLContext] = (ssl_context(self.verify, self.cert)
                                                  if self.protocol == "https" else False)
        forksafe.register(self)

    def _after_fork_in_child(self) -> None:
        # (see transport.forksafe) the session and the pool are of the parent's event loop:
        # left untouched, the child makes its own on first use, in its own loop
        forksafe.keep_untouched(self._session, self._connection_pool)
        self._session = self._connection_pool = None
        pools = getattr(self, "_pools", None)
        if pools:
            forksafe.keep_untouched(*pools.values())
            self._pools = {}
        self._session_loop = None
        self._connecting = None
        self._auth_lock = threading.Lock()

    @property
    def session(self) -> "aiohttp.ClientSession":
        """The aiohttp session (made on first use, inside the running loop).  After
        ``close()`` it is the closed one, as in 0.1.6 (reading it opens nothing), until the
        client needs a session again (a stream, a raw call, ``_get``/``_post``)."""
        session = self._session
        if session is not None and session.closed:
            return session
        return self._open_session()

    def _open_session(self) -> "aiohttp.ClientSession":
        """The session, made anew when there is none open in the running loop."""
        session, loop = self._session, _running_loop()
        if session is None or session.closed or (loop is not None and loop is not self._session_loop):
            if session is not None and not session.closed:
                _let_go(session, self._session_loop)  # of another event loop: no use in this one
            connector = aiohttp.TCPConnector(limit=self.pool_size, ssl=self._ssl)
            # etcd sets no cookies
            session = self._session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                                            cookie_jar=aiohttp.DummyCookieJar(),
                                                            headers=self._base_headers())
            self._session_loop = loop
        return session

    _session_loop: Optional[asyncio.AbstractEventLoop] = None  # the loop the session was made in

    _stream_class = ModelizedStreamResponse
    _watcher_class = AioWatcher

    # -- 0.1.6's transport hooks: plain aiohttp calls on the client's session (await them,
    # or ``async with``)
    def _get(self, url: str, **kwargs: Any) -> Any:
        """GET ``url`` (see ``_url``) on the client's aiohttp session."""
        return self._open_session().get(url, **kwargs)

    def _post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> Any:
        """POST ``data`` (a raw body) or ``json`` to ``url`` on the client's aiohttp session."""
        return self._open_session().post(url, data=data, json=json, **kwargs)

    # -- connecting: read the server's version without blocking the loop ------------------------
    async def _ensure_connected(self) -> None:
        if self._connected:
            return
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._connected:
                return
            try:
                response = await self._send(self._version_request())
            except errors.Etcd3TLSError:
                raise
            except errors.Etcd3TransportError as e:
                self._version_fallback(e)
            else:
                if response.status == 200:
                    self._apply_version(response)
                else:
                    self._version_fallback(errors.error_from_response(response.status, response.body))
            self._connected = True
            self._cluster_connected()

    def _call_operation(self, op: Operation, args: tuple, kwargs: Dict[str, Any]) -> Any:
        # (by the name, not the binding: before the first call op is the assumed version's)
        if asks_for_request_op(op.name, args, kwargs):
            return self._bind(op, args, kwargs)  # txn_obj=True: the request op itself, not an awaitable
        call = self._call_after_connect(op.name, args, kwargs)
        return StreamCall(call) if op.streaming else call

    def call_rpc(self, method: str, data: Any = None, stream: bool = False, encode: bool = True,
                 raw: bool = False, **kwargs: Any) -> Any:
        call = super().call_rpc(method, data, stream, encode, raw, **kwargs)
        return StreamCall(call) if stream and not raw else call

    async def _call_after_connect(self, name: str, args: tuple, kwargs: Dict[str, Any]) -> Any:
        if not self._connected:
            await self._ensure_connected()
        op = self.spec.operations.get(name)
        if op is None:
            raise errors.UnsupportedOperation(name, self.server_version, self.spec.first_version_with(name))
        return await BaseClient._call_operation(self, op, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        if self._spec_bundle is None and not name.startswith("_"):
            # not connected yet: the class of the version given, which ``spec`` makes when
            # first needed (``async with`` connects first: the class is the server's at once)
            self.spec  # noqa: B018
            return getattr(self, name)
        # before the first call the server's version is unknown: any RPC of any bundled
        # spec is reachable, and resolved against the server's spec once connected
        if not self._connected and not name.startswith("_"):
            for version in reversed(bundled_versions()):
                op = load_bundle(version).operations.get(name)
                if op is not None:
                    def rpc(*args: Any, **kwargs: Any) -> Any:
                        call = self._call_after_connect(name, args, kwargs)
                        return StreamCall(call) if op.streaming else call

                    rpc.__name__, rpc.__doc__ = name, op.doc
                    return rpc
        return super().__getattr__(name)

    def __dir__(self) -> Any:
        self.spec  # noqa: B018 - makes the class of the version given, before connecting (see __getattr__)
        return super().__dir__()

    # -- the driver -------------------------------------------------------------------------------
    async def _run(self, flow: Flow) -> Any:
        if not self._connected:
            await self._ensure_connected()
        if self._shared_watch_stream is not None:
            creations = self._shared_watch_stream.settle()  # a change made after runDaemon() is seen by it
            if creations is not None:
                await creations
        done, item = step_flow(flow)
        while not done:
            if type(item) is WaitForChange:
                done, item = step_flow(flow, await self._wait_for_change(item))
                continue
            try:
                response = await self._send(item)
            except errors.Etcd3TransportError as error:
                done, item = step_flow(flow, error=error)
            else:
                done, item = step_flow(flow, response)
        return item

    async def _run_direct(self, op: Operation, request: Request) -> Any:
        if self._shared_watch_stream is not None:
            creations = self._shared_watch_stream.settle()
            if creations is not None:
                await creations
        return self._direct_result(op, await self._send(request))

    def _connections(self) -> AioConnectionPool:
        pool = self._connection_pool
        if pool is None:
            pool = self._connection_pool = AioConnectionPool(
                self.baseurl, self.host, self.port, self._ssl or None, self.pool_size, CONNECT_TIMEOUT)
            pool.max_response_size = self._max_response_size
        return pool

    _connection_pool: Optional[AioConnectionPool] = None

    def _pool_of(self, endpoint: Endpoint) -> AioConnectionPool:
        """The unary connections to one member of a cluster."""
        pool = self._pools.get(endpoint.url)
        if pool is None:
            context = (self._ssl or None) if endpoint.protocol == "https" else None
            pool = self._pools[endpoint.url] = AioConnectionPool(
                endpoint.url, endpoint.host, endpoint.port, context, self.pool_size, CONNECT_TIMEOUT)
        pool.max_response_size = self._max_response_size
        return pool

    async def _send_failover(self, request: Request) -> Response:
        """``_send`` of a cluster client: runs ``failover_flow`` as Client does, awaiting."""
        if self._selector.sync_due():  # type: ignore[union-attr]
            await self._run(self._sync_flow())
        flow = self._failover_flow(request)
        done, step = step_flow(flow)
        while not done:
            if step.__class__ is float:
                await asyncio.sleep(step)
                done, step = step_flow(flow)
                continue
            endpoint, sent, seconds = step
            try:
                response = await self._send_to(sent, endpoint, seconds)
            except errors.Etcd3TransportError as error:
                done, step = step_flow(flow, error=error)
            else:
                done, step = step_flow(flow, response)
        return step

    async def _send_to(self, request: Request, endpoint: Endpoint, seconds: float) -> Response:
        """One try of ``request`` on one member within ``seconds``."""
        if not (request.stream or request.raw):
            total = None if seconds == NO_TIMEOUT else seconds
            return await self._pool_of(endpoint).send(request, self._path_of(request), total)
        url = endpoint.url + self._path_of(request)
        if url != request.url:
            request = Request(request.method, url, request.headers, request.body, stream=request.stream,
                              timeout=request.timeout, idempotent=request.idempotent, raw=request.raw)
        return await AioClient._send(self, request)

    @property
    def max_response_size(self) -> Optional[int]:
        """The largest unary answer (bytes) the client reads; None: no limit."""
        return self._max_response_size

    @max_response_size.setter
    def max_response_size(self, value: Optional[int]) -> None:
        self._max_response_size = check_max_response_size(value)
        if self._connection_pool is not None:
            self._connection_pool.max_response_size = self._max_response_size

    _max_response_size: Optional[int] = DEFAULT_MAX_RESPONSE_SIZE

    async def _send(self, request: Request) -> Response:
        seconds = request.timeout or self.timeout or DEFAULT_TIMEOUT
        if not (request.stream or request.raw):
            # unary: on the client's own connections (see aio_http)
            total = None if seconds == NO_TIMEOUT else seconds
            return await self._connections().send(request, self._path_of(request), total)
        # raw unary calls are bounded as a whole; streams bound connecting, and each wait for
        # the server when the call or the client set a timeout (0.1.6's timeout)
        own = (request.timeout or self.timeout) if request.stream else None
        stream_read = None if own is None or own == NO_TIMEOUT else own
        timeout = aiohttp.ClientTimeout(total=None if request.stream or seconds == NO_TIMEOUT else seconds,
                                        connect=min(seconds, CONNECT_TIMEOUT), sock_read=stream_read)
        session = self._open_session()
        headers = request.headers
        try:
            try:
                resp = await session.request(request.method, request.url, data=request.body,
                                             headers=headers, timeout=timeout)
            except aiohttp.ServerDisconnectedError:
                if not request.idempotent:
                    raise
                # most likely a pooled connection the server had closed: once more on a new one
                resp = await session.request(request.method, request.url, data=request.body,
                                             headers=headers, timeout=timeout)
            if request.stream and resp.status == 200:
                return Response(200, resp.headers, b"", raw=resp)
            body = await self._read_body(resp)
        except aiohttp.ClientSSLError as e:
            raise errors.Etcd3TLSError("TLS failure: %s" % e, self.baseurl, e) from e
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as e:
            raise errors.Etcd3Timeout("timed out after %ss" % seconds, self.baseurl, e) from e
        except (aiohttp.ClientError, OSError) as e:
            raise errors.Etcd3ConnectionError("connection failed: %s" % e, self.baseurl, e) from e
        return Response(resp.status, resp.headers, body, raw=resp)

    async def _read_body(self, resp: "aiohttp.ClientResponse") -> bytes:
        """The body of an answer aiohttp carries (raw calls, refused streams), within
        ``max_response_size``; ``resp.read()`` gives it again afterwards."""
        limit = self._max_response_size
        if limit is None:
            return await resp.read()
        if resp.content_length is not None and resp.content_length > limit:
            resp.close()
            raise too_large(self.baseurl, limit)
        pieces, size = [], 0
        async for piece in resp.content.iter_any():
            size += len(piece)
            if size > limit:
                resp.close()
                raise too_large(self.baseurl, limit, b"".join(pieces)[:200])
            pieces.append(piece)
        body = resp._body = b"".join(pieces)  # what aiohttp's read() returns from now on
        return body

    async def _wait_for_change(self, wait: WaitForChange) -> None:
        watcher = AioWatcher(self, key=wait.key, range_end=wait.range_end, start_revision=wait.revision)
        try:
            await watcher.watch_once(timeout=wait.timeout)
        except errors.Etcd3WatchTimeout:
            pass

    # -- background streams (watch, keepalive) ---------------------------------------------------------
    def _watch_stream(self) -> Any:
        stream = self._shared_watch_stream
        if stream is None:
            from .stateful.watch import AioWatchStream

            stream = self._shared_watch_stream = AioWatchStream(self)
        return stream

    def _keepalive_stream(self) -> Any:
        stream = self._shared_keepalive_stream
        if stream is None:
            from .stateful.lease import AioKeepaliveStream

            stream = self._shared_keepalive_stream = AioKeepaliveStream(self)
        return stream

    _shared_watch_stream: Any = None
    _shared_keepalive_stream: Any = None

    def _keep_alive(self, ID: int, ttl: float, refreshed: Optional[float] = None, cancel_cb: Any = None,
                    keep_cb: Any = None, holder: Any = None) -> None:
        self._keepalive_stream().add(ID, ttl, keep_cb, cancel_cb, refreshed, holder)

    def _stop_keep_alive(self, ID: int, holder: Any = None) -> Optional[float]:
        return self._keepalive_stream().remove(ID, holder)

    # -- closing ------------------------------------------------------------------------------------
    async def close(self) -> None:  # type: ignore[override]
        """close all connections in connection pool (and the background streams)"""
        for stream in (self._shared_watch_stream, self._shared_keepalive_stream):
            if stream is not None:
                await stream.close()
        self._shared_watch_stream = self._shared_keepalive_stream = None
        if self._connection_pool is not None:
            await self._connection_pool.close()
            self._connection_pool = None
        for pool in list(getattr(self, "_pools", {}).values()):
            await pool.close()
        if self._session is not None:
            loop = self._session_loop
            if loop is not None and loop is not asyncio.get_running_loop():
                _let_go(self._session, loop)  # another loop's: it cannot be closed from this one
                self._session = None
            else:
                await self._session.close()  # (kept: ``session`` is the closed one, as in 0.1.6)

    async def __aenter__(self) -> "AioClient":
        await self._ensure_connected()
        return self

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        await self.close()
