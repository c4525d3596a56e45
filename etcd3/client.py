"""synchronous client (on requests)"""
from __future__ import annotations

import codecs
import copy
import io
import json
import socket
import ssl
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

if TYPE_CHECKING:
    import requests
    import urllib3

# requests and urllib3 (~40 ms to import, with http.client) are imported where they are
# used: server streams, call_rpc(raw=True), a urllib3.Retry max_retries and 0.1.6's
# ``session``.  Unary calls go on the client's own connections (transport.http_pool).

from . import errors
from .baseclient import DEFAULT_TIMEOUT, NO_TIMEOUT, BaseClient, BaseModelizedStreamResponse, Flow, step_flow
from .core import Request, Response, iter_stream_items
from .core import _incomplete as incomplete_json
from .transport.duplex import DEFAULT_MAX_RESPONSE_SIZE, check_max_response_size, ssl_context, too_large
from .transport import forksafe
from .transport.http_pool import ConnectionPool
from .transport.endpoints import Endpoint
from .stateful.lock import WaitForChange
from .stateful.watch import Watcher
from .spec import Operation

__all__ = ["Client", "ModelizedStreamResponse", "iter_response"]

# how long connecting may take when the client has no timeout of its own
CONNECT_TIMEOUT = 10.0


class JSONObjectSplitter:
    """Cut a gateway stream body into the bytes of its JSON objects, incrementally:
    ``feed(chunk)`` returns the objects the chunk completed, ``flush()`` checks that
    the stream did not end inside one.  Newline-delimited or not; braces inside
    strings and chunk boundaries anywhere (also inside a UTF-8 character) are fine."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._raw_decode = json.JSONDecoder().raw_decode
        self._buffer = ""

    def feed(self, chunk: bytes) -> List[bytes]:
        text = self._utf8.decode(chunk)
        self._buffer += text
        if "}" not in text:
            return []  # no object can have ended in this chunk
        buffer, pieces = self._buffer, []
        pos, end = 0, len(buffer)
        while True:
            while pos < end and buffer[pos] in " \t\r\n":
                pos += 1
            if pos >= end:
                break
            try:
                _, after = self._raw_decode(buffer, pos)
            except json.JSONDecodeError as e:
                if e.pos >= end or incomplete_json(buffer, pos):
                    break  # the object goes on in the next chunk
                raise errors.Etcd3StreamError("Stream decode error: %r" % buffer[pos:pos + 80]) from None
            pieces.append(buffer[pos:after].encode("utf-8"))
            pos = after
        self._buffer = buffer[pos:]
        return pieces

    def flush(self) -> List[bytes]:
        # every object ends with a '}', so feed() has cut each one already: only a broken
        # object can be left
        self._buffer += self._utf8.decode(b"", final=True)
        if self._buffer.strip():
            rest, self._buffer = self._buffer, ""
            raise errors.Etcd3StreamError("Stream decode error: the stream ended inside %r" % rest[:80])
        return []


def iter_response(resp: Any) -> Iterator[bytes]:
    """yield response content by every json object

    Each complete JSON object of a gateway stream, as its bytes.  The content is
    newline-delimited on recent servers and had no delimiter at all on old ones;
    objects are split with a JSON decoder, never by counting braces or by line.

    :param resp: a ``requests.Response`` of a stream (or urllib3's response)
    :raises Etcd3StreamError: the stream ended inside an object, or sent what is not JSON
    """
    chunks = resp.iter_content(chunk_size=65536) if hasattr(resp, "iter_content") else resp.stream(65536)
    splitter = JSONObjectSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.flush()


def _as_requests_response(resp: Any, url: str) -> requests.Response:
    """urllib3's response of a stream wrapped as requests would (``stream.resp``, as 0.1.6 had it)."""
    import requests

    wrapped = requests.Response()
    wrapped.raw = resp
    wrapped.status_code = resp.status
    wrapped.headers = requests.structures.CaseInsensitiveDict(resp.headers)
    wrapped.reason = resp.reason
    wrapped.url = url
    wrapped.encoding = requests.utils.get_encoding_from_headers(wrapped.headers)
    return wrapped


class ModelizedStreamResponse(BaseModelizedStreamResponse):
    """Model of a stream response

    Iterating it yields one model per streamed message (the ``result`` of each
    item; an ``error`` item raises its exception).  ``resp`` is the
    ``requests.Response``, ``raw`` its urllib3 response; ``close()`` or leaving
    the ``with`` block ends the stream, also one that another thread is reading.
    """

    def __init__(self, client: Any, method: Union[None, str, Operation], resp: Any, decode: bool = True) -> None:
        """
        :param client: the Client the stream belongs to
        :param method: the RPC (an Operation, its path like ``'/watch'`` or its name)
        :param resp: the stream's ``requests.Response`` (or urllib3's response)
        :param decode: yield models (True) or the JSON dicts of the results (False)
        """
        if isinstance(method, str):
            method = client._find_operation(method)
        import requests

        if not isinstance(resp, requests.Response):
            resp = _as_requests_response(resp, getattr(client, "baseurl", ""))
        super().__init__(client, method, resp, decode)

    @property
    def raw(self) -> Any:
        """urllib3's response (``resp.raw``)."""
        return self.resp.raw

    def _chunks(self) -> Iterator[bytes]:
        import urllib3

        raw = self.resp.raw
        try:
            while True:
                # read1: whatever has arrived (one chunk), without waiting for a full buffer
                chunk = raw.read1(65536)
                if not chunk:
                    return
                yield chunk
        except (urllib3.exceptions.HTTPError, OSError, AttributeError, ValueError) as e:
            if self._closed:
                return  # closed by close(): the end of the iteration, not an error
            if isinstance(e, urllib3.exceptions.ReadTimeoutError):
                raise errors.Etcd3Timeout("stream read timed out", self.client.baseurl, e) from e
            raise errors.Etcd3ConnectionError("stream broke: %s" % e, self.client.baseurl, e) from e

    def __iter__(self) -> Iterator[Any]:
        op = self.method if self.decode else None
        decode = op.response.decode_owned if op is not None else None
        for item in iter_stream_items(self._chunks()):
            yield decode(item) if decode is not None else item

    def close(self) -> None:
        """close the stream"""
        if self._closed:
            return
        self._closed = True
        raw = self.resp.raw
        # shut the socket down so that a reader blocked in another thread wakes up now
        sock = getattr(getattr(raw, "_connection", None) or getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raw.close()
        raw.release_conn()

    def __enter__(self) -> "ModelizedStreamResponse":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()


class Client(BaseClient):
    """The synchronous etcd v3 client, on requests.

    Every RPC of the connected server's spec is a method (``range``, ``put``,
    ``lease_grant``, ...); see ``dir(client)`` and ``help(client.put)``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 2379, protocol: str = "http",
                 cert: Union[Tuple[str, str], str, Tuple[()]] = (), verify: Union[None, bool, str] = None,
                 timeout: Optional[float] = None, headers: Optional[Dict[str, str]] = None,
                 user_agent: Optional[str] = None, pool_size: int = 30, username: Optional[str] = None,
                 password: Optional[str] = None, token: Optional[str] = None,
                 max_retries: Union[int, urllib3.Retry] = 0,
                 server_version: str = "3.3.0", cluster_version: str = "3.3.0", *,
                 max_response_size: Optional[int] = DEFAULT_MAX_RESPONSE_SIZE,
                 endpoints: Optional[Sequence[Union[str, Tuple[str, int]]]] = None,
                 auto_sync_interval: Optional[float] = None) -> None:
        """
        :param endpoints: the members of a cluster: URLs (``http://10.0.0.1:2379``) or
            ``host:port`` (with ``protocol``); then ``host``/``port`` are ignored.  Calls
            move between the members by etcd's Go client's rules (see
            ``etcd3.transport.endpoints``): a repeatable RPC (range, lease_grant, status,
            ...) goes to the next member on a failure, within ``timeout``; a write is sent
            again only if it provably never left the client.
        :param auto_sync_interval: seconds between reads of the cluster's member list
            (as Go's ``AutoSyncInterval``): the endpoints become the client URLs of its
            members (learners and members not started yet left out).  Read before the
            first call after each interval, not by a thread of its own.  None: never.
        :param timeout: seconds one call may take in all: connecting, sending and reading
            the whole answer (None: 30 s for unary calls).  For a stream (``snapshot``,
            ``watch_create``, ``call_rpc(stream=True)``) it bounds each wait for the next
            piece instead (None: a stream waits as long as it takes), as 0.1.6's did.
        :param max_retries: The maximum number of retries each connection should attempt
            (an int, or a ``urllib3.Retry`` for finer control, as requests' HTTPAdapter takes).
            Note, this applies only to failed DNS lookups, socket connections and connection
            timeouts, never to requests where data has made it to the server.
        :param max_response_size: the largest answer of a unary call (bytes of its body) the
            client reads; a larger one raises ``Etcd3ProtocolError`` (None: no limit).  The
            default, 3 GiB, is above anything etcd can send (a range answer is one gRPC
            message of at most 2 GiB, ~2.7 GiB as the gateway's JSON): it bounds what a
            broken server or proxy can make the client hold.
        """
        if isinstance(max_retries, int):
            if max_retries < 0:
                raise ValueError("max_retries must be >= 0, got %d" % max_retries)
        elif not _is_retry(max_retries):
            raise TypeError("max_retries must be an int or a urllib3.Retry, got %r" % (max_retries,))
        super().__init__(host=host, port=port, protocol=protocol, cert=cert, verify=verify, timeout=timeout,
                         headers=headers, user_agent=user_agent, pool_size=pool_size, username=username,
                         password=password, token=token, server_version=server_version,
                         cluster_version=cluster_version, endpoints=endpoints,
                         auto_sync_interval=auto_sync_interval)
        if self._selector is not None:
            self._pools: Dict[str, ConnectionPool] = {}
            self._send = self._send_failover  # type: ignore[method-assign]
        self.max_retries = max_retries
        self.max_response_size = max_response_size
        # the requests session is made on first use (see ``session``) with the settings of now
        self._session_settings = (pool_size, max_retries, dict(self.headers), self.user_agent, self.verify,
                                  self.cert)
        forksafe.register(self)
        self._connect()
        if self._spec_bundle is None:  # (_connect picks the spec of the server's version)
            self._use_spec(self.server_version, warn=False)
        self._cluster_connected()

    def _connect(self) -> None:
        try:
            response = self._send(self._version_request())
        except errors.Etcd3TransportError as e:
            if isinstance(e, errors.Etcd3TLSError):
                raise
            self._version_fallback(e)
            return
        if response.status != 200:
            self._version_fallback(errors.error_from_response(response.status, response.body))
            return
        self._apply_version(response)

    _stream_class = ModelizedStreamResponse
    _watcher_class = Watcher

    @property
    def session(self) -> "requests.Session":
        """The client's requests Session (made on first use): it carries the server streams
        and ``call_rpc(raw=True)``, and is there for code that used 0.1.6's ``session`` (or
        ``_session``, ``_get``/``_post``) itself."""
        session = self._requests_session
        if session is None:
            session = self._made_once("_requests_session", self._make_session)
        return session

    @session.setter
    def session(self, value: "requests.Session") -> None:
        self._requests_session = value

    _session = session
    _requests_session: Any = None

    def _make_session(self) -> "requests.Session":
        import requests
        import requests.adapters

        pool_size, max_retries, headers, user_agent, verify, cert = self._session_settings
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size,
                                                max_retries=max_retries)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.trust_env = False  # no proxies from the environment for a loopback/cluster API
        session.headers["User-Agent"] = user_agent
        session.headers.update(headers)
        session.verify = verify
        if cert:
            session.cert = cert
        return session

    @property
    def _retries(self) -> "urllib3.Retry":
        """How the streams' pool retries connecting (made on first use)."""
        retries = self._stream_retries
        if retries is None:
            import urllib3

            max_retries = self._session_settings[1]
            if isinstance(max_retries, urllib3.Retry):
                retries = max_retries  # the caller's own rules, as requests applied them
            else:
                # like requests' own int max_retries: connection failures only, never once data was sent
                retries = urllib3.Retry(total=max_retries, connect=max_retries, read=False, redirect=False,
                                        status=None, other=0, raise_on_status=False)
            self._stream_retries = retries
        return retries

    _stream_retries: Any = None

    def _run(self, flow: Flow) -> Any:
        if self._shared_watch_stream is not None:
            self._shared_watch_stream.settle()  # a change made after a runDaemon() returned is seen by it
        done, item = step_flow(flow)
        while not done:
            if type(item) is WaitForChange:
                done, item = step_flow(flow, self._wait_for_change(item))
                continue
            try:
                response = self._send(item)
            except errors.Etcd3TransportError as error:
                done, item = step_flow(flow, error=error)  # the flow may clean up or retry
            else:
                done, item = step_flow(flow, response)
        return item

    def _run_direct(self, op: Operation, request: Request) -> Any:
        if self._shared_watch_stream is not None:
            self._shared_watch_stream.settle()
        return self._direct_result(op, self._send(request))

    def _wait_for_change(self, wait: WaitForChange) -> None:
        watcher = Watcher(self, key=wait.key, range_end=wait.range_end, start_revision=wait.revision)
        try:
            watcher.watch_once(timeout=wait.timeout)
        except errors.Etcd3WatchTimeout:
            pass

    def _keep_alive(self, ID: int, ttl: float, refreshed: Optional[float] = None,
                    cancel_cb: Optional[Callable[[], Any]] = None, keep_cb: Optional[Callable[[int], Any]] = None,
                    holder: Any = None) -> None:
        self._keepalive_stream().add(ID, ttl, keep_cb, cancel_cb, refreshed, holder)

    def _stop_keep_alive(self, ID: int, holder: Any = None) -> Optional[float]:
        return self._keepalive_stream().remove(ID, holder)

    def _pool(self) -> Any:
        """requests' own connection pool for our endpoint, with its TLS settings.
        Requests are sent on it directly: requests.Session's per-call work (hooks,
        cookies, environment lookups, response wrapping) is not needed here."""
        pool = self._cached_pool
        if pool is None:
            import requests

            url = self.baseurl + "/"
            adapter = self.session.get_adapter(url)
            prepared = requests.Request("GET", url).prepare()
            verify = self.session.verify if self.protocol == "https" else False
            pool = self._cached_pool = adapter.get_connection_with_tls_context(prepared, verify, cert=self.session.cert)
        return pool

    _cached_pool: Any = None

    def _urlopen(self, request: Request, path: str, timeout: urllib3.Timeout, pool: Any = None) -> Any:
        return (pool or self._pool()).urlopen(
            request.method, path, body=request.body, headers=request.headers, retries=self._retries,
            timeout=timeout, redirect=False, assert_same_host=False,
            preload_content=not request.stream, decode_content=True)

    def _made_once(self, attribute: str, make: Callable[[], Any]) -> Any:
        """The object in ``attribute``, made by ``make()`` on first use (once, whatever the threads)."""
        value = getattr(self, attribute)
        if value is None:
            with self._auth_lock:
                value = getattr(self, attribute)
                if value is None:
                    value = make()
                    setattr(self, attribute, value)
        return value

    def _after_fork_in_child(self) -> None:
        # (see transport.forksafe) a parent thread may have held a lock at the fork: fresh
        # ones; requests' pools hold the parent's connections and locks: new adapters with the
        # same settings (requests' own copy of an adapter has a new pool manager) in the same
        # session, and a cookie jar of the child's own.  The client's own pool and streams
        # reset themselves.
        self._auth_lock = threading.Lock()
        self._cached_pool = None
        session = self._requests_session  # (none made yet: nothing inherited to renew)
        if session is None:
            return
        fresh: Dict[int, Any] = {}
        for prefix, adapter in list(session.adapters.items()):
            if id(adapter) not in fresh:
                fresh[id(adapter)] = copy.copy(adapter)
                _close_inherited_pools(adapter)
            session.adapters[prefix] = fresh[id(adapter)]
        session.cookies = session.cookies.copy()

    def _connections(self) -> ConnectionPool:
        pool = self._connection_pool
        if pool is not None:
            return pool
        pool = self._made_once("_connection_pool", lambda: self._make_pool(self.baseurl, self.host, self.port,
                                                                           self.protocol))
        pool.max_response_size = self._max_response_size
        return pool

    def _make_pool(self, url: str, host: str, port: int, protocol: str) -> ConnectionPool:
        context = ssl_context(self.verify, self.cert) if protocol == "https" else None
        if _is_retry(self.max_retries):
            return RetryingConnectionPool(url, host, port, context, self.pool_size, CONNECT_TIMEOUT,
                                          self.max_retries)
        return ConnectionPool(url, host, port, context, self.pool_size, CONNECT_TIMEOUT, self.max_retries)

    def _pool_of(self, endpoint: Endpoint) -> ConnectionPool:
        """The unary connections to one member of a cluster."""
        pool = self._pools.get(endpoint.url)
        if pool is None:
            with self._auth_lock:
                pool = self._pools.get(endpoint.url)
                if pool is None:
                    pool = self._pools[endpoint.url] = self._make_pool(endpoint.url, endpoint.host, endpoint.port,
                                                                       endpoint.protocol)
        pool.max_response_size = self._max_response_size
        return pool

    def _endpoint_changed(self) -> None:
        self._cached_pool = None  # requests' pool of the endpoint used before
        pools = getattr(self, "_pools", None)
        if pools is not None:
            self._connection_pool = pools.get(self._in_use.url)

    def _send_failover(self, request: Request) -> Response:
        """``_send`` of a cluster client: runs ``failover_flow`` (the retry rules, written
        once in ``transport.endpoints``) with this client's I/O: a try is sent to its
        member, a float is a pause."""
        if self._selector.sync_due():  # type: ignore[union-attr]
            self._run(self._sync_flow())
        flow = self._failover_flow(request)
        done, step = step_flow(flow)
        while not done:
            if step.__class__ is float:
                time.sleep(step)
                done, step = step_flow(flow)
                continue
            endpoint, sent, seconds = step
            try:
                response = self._send_to(sent, endpoint, seconds)
            except errors.Etcd3TransportError as error:
                done, step = step_flow(flow, error=error)
            else:
                done, step = step_flow(flow, response)
        return step

    def _send_to(self, request: Request, endpoint: Endpoint, seconds: float) -> Response:
        """One try of ``request`` on one member within ``seconds``."""
        if not request.stream:
            read = None if seconds == NO_TIMEOUT else seconds
            response = self._pool_of(endpoint).send(request, self._path_of(request), read,
                                                    min(seconds, CONNECT_TIMEOUT))
            if request.raw:
                response.raw = _urllib3_response(response)
            return response
        return Client._send(self, request, self._stream_pool(endpoint.url))

    def _stream_pool(self, url: str) -> Any:
        """requests' pool of one member (streams of a cluster client)."""
        import requests

        adapter = self.session.get_adapter(url + "/")
        prepared = requests.Request("GET", url + "/").prepare()
        verify = self.session.verify if url.startswith("https") else False
        return adapter.get_connection_with_tls_context(prepared, verify, cert=self.session.cert)

    _connection_pool: Optional[ConnectionPool] = None

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

    def _send(self, request: Request, stream_pool: Any = None) -> Response:
        seconds = request.timeout or self.timeout or DEFAULT_TIMEOUT
        if request.stream:
            # a stream waits for its answers as long as it takes, unless the call or the client
            # set a timeout (0.1.6's requests timeout): that bounds each wait for the server
            own = request.timeout or self.timeout
            read = None if own is None or own == NO_TIMEOUT else own
        else:
            read = None if seconds == NO_TIMEOUT else seconds
        connect = min(seconds, CONNECT_TIMEOUT)
        path = self._path_of(request)
        if not request.stream:
            # unary: on the client's own connections (see http_pool), one deadline for all of it
            response = self._connections().send(request, path, read, connect)
            if request.raw:
                response.raw = _urllib3_response(response)  # what requests builds its Response on
            return response
        # a stream: on requests' pool, which hands out its response object
        import urllib3

        timeout = urllib3.Timeout(connect=connect, read=read)
        try:
            if self.verify is False and self.protocol == "https":
                # verify=False already warned once (Etcd3Warning): not once per request
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    resp = self._urlopen(request, path, timeout, stream_pool)
            else:
                resp = self._urlopen(request, path, timeout, stream_pool)
        except urllib3.exceptions.MaxRetryError as e:
            raise _transport_error(e.reason or e, self.baseurl, seconds) from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise _transport_error(e, self.baseurl, seconds) from e
        if resp.status == 200:
            return Response(200, resp.headers, b"", raw=resp)
        limit = self._max_response_size
        try:
            body = resp.read(None if limit is None else limit + 1)  # a refusal's body
        finally:
            resp.release_conn()
        if limit is not None and len(body) > limit:
            raise too_large(self.baseurl, limit, body[:200])
        return Response(resp.status, resp.headers, body, raw=resp)

    # -- 0.1.6's transport hooks: plain requests calls on the client's session --------------------
    def _get(self, url: str, **kwargs: Any) -> requests.Response:
        """GET ``url`` (see ``_url``) on the client's session; the client's timeout unless given."""
        kwargs.setdefault("timeout", self.timeout)
        return self.session.get(url, **kwargs)

    def _post(self, url: str, data: Any = None, json: Any = None, **kwargs: Any) -> requests.Response:
        """POST ``data`` (a raw body) or ``json`` to ``url`` on the client's session."""
        kwargs.setdefault("timeout", self.timeout)
        return self.session.post(url, data=data, json=json, **kwargs)

    def _raw_response(self, response: Response, path: str, stream: bool) -> requests.Response:
        # a requests.Response, as the seed's call_rpc(raw=True) gave
        import requests

        prepared = requests.Request("POST", self.baseurl + path).prepare()
        resp = self.session.get_adapter(self.baseurl).build_response(prepared, response.raw)
        if not stream:
            # the body was read already (by urllib3, into response.body): hand it over
            resp._content, resp._content_consumed = response.body, True
        return resp

    def _watch_stream(self) -> Any:
        """The one watch stream all Watchers of this client share (made on first use)."""
        from .stateful.watch import WatchStream

        return self._made_once("_shared_watch_stream", lambda: WatchStream(self))

    _shared_watch_stream: Any = None

    def _keepalive_stream(self) -> Any:
        """The one keepalive stream all leases of this client share (made on first use)."""
        from .stateful.lease import KeepaliveStream

        return self._made_once("_shared_keepalive_stream", lambda: KeepaliveStream(self))

    _shared_keepalive_stream: Any = None

    def close(self) -> None:
        """close all connections in connection pool (and the watch stream)"""
        if self._shared_watch_stream is not None:
            self._shared_watch_stream.close()
            self._shared_watch_stream = None
        if self._shared_keepalive_stream is not None:
            self._shared_keepalive_stream.close()
            self._shared_keepalive_stream = None
        self._cached_pool = None
        if self._connection_pool is not None:
            self._connection_pool.close()
        for pool in getattr(self, "_pools", {}).values():
            pool.close()
        if self._requests_session is not None:
            self._requests_session.close()


class RetryingConnectionPool(ConnectionPool):
    """The unary pool for ``max_retries=urllib3.Retry(...)``: connecting is retried by the
    Retry's own rules (its connect and total counts, its backoff), as urllib3 does for
    requests.  Only connections that could not be made are retried (refused, DNS,
    connect timeouts); a TLS failure and anything after the request went out are not."""

    def __init__(self, endpoint: str, host: str, port: int, context: Optional[ssl.SSLContext],
                 maxsize: int, connect_timeout: float, retry: urllib3.Retry) -> None:
        super().__init__(endpoint, host, port, context, maxsize, connect_timeout, 0)
        self.retry = retry

    def _connect(self, connect_timeout: Optional[float], deadline: Optional[float] = None) -> socket.socket:
        import urllib3

        retry = self.retry.new()  # each request starts with the whole budget
        while True:
            try:
                return super()._connect(connect_timeout, deadline)
            except errors.Etcd3TransportError as failure:
                if isinstance(failure, errors.Etcd3TLSError):
                    raise
                if isinstance(failure, errors.Etcd3Timeout):
                    cause: Exception = urllib3.exceptions.ConnectTimeoutError(str(failure))
                else:
                    cause = urllib3.exceptions.NewConnectionError(None, str(failure))  # type: ignore[arg-type]
                try:
                    retry = retry.increment("POST", self.endpoint, error=cause)
                except (urllib3.exceptions.MaxRetryError, urllib3.exceptions.HTTPError):
                    raise failure from None
                pause = retry.get_backoff_time()
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise failure from None  # the call's time is up before the next attempt
                time.sleep(pause)


def _is_retry(value: Any) -> bool:
    """Whether ``value`` is a ``urllib3.Retry``, without importing urllib3 (whoever made
    one has imported it)."""
    urllib3 = sys.modules.get("urllib3")
    return urllib3 is not None and isinstance(value, urllib3.Retry)


def _urllib3_response(response: Response) -> urllib3.HTTPResponse:
    """A unary answer read by the client's own connections, as the urllib3 response that
    requests wraps (``call_rpc(raw=True)``); its body is already in."""
    import http.client
    import urllib3

    return urllib3.HTTPResponse(body=io.BytesIO(response.body), headers=dict(response.headers),
                                status=response.status, reason=http.client.responses.get(response.status, ""),
                                preload_content=False, decode_content=False)


def _close_inherited_pools(adapter: Any) -> None:
    """In a forked child: close the child's copies of the idle connections of an adapter's
    urllib3 pools (the parent's stay open), bypassing the pools' locks, which a parent
    thread may have held; each pool's queue is emptied and gets fresh locks, so that the
    pool's own finalizer finds nothing to close when it is collected."""
    managers = [getattr(adapter, "poolmanager", None)] + list(getattr(adapter, "proxy_manager", {}).values())
    for manager in managers:
        container = getattr(getattr(manager, "pools", None), "_container", None) or {}
        for pool in list(container.values()):
            idle = getattr(pool, "pool", None)
            if idle is None or not hasattr(idle, "queue"):
                continue
            connections = list(idle.queue)
            idle.__init__(idle.maxsize)  # queue.Queue's own reset: empty, fresh locks
            for connection in connections:
                if connection is not None:
                    try:
                        connection.close()
                    except Exception:  # noqa: BLE001 - only the child's copy of a socket goes
                        pass


def _transport_error(error: BaseException, endpoint: str, seconds: float) -> errors.Etcd3TransportError:
    import urllib3

    if isinstance(error, urllib3.exceptions.SSLError) or isinstance(error, ssl.SSLError):
        return errors.Etcd3TLSError("TLS failure: %s" % _reason(error), endpoint, error)
    if isinstance(error, urllib3.exceptions.NewConnectionError):  # (a TimeoutError subclass in urllib3 2)
        return errors.Etcd3ConnectionError("connection failed: %s" % _reason(error), endpoint, error)
    if isinstance(error, (urllib3.exceptions.TimeoutError, socket.timeout)):
        return errors.Etcd3Timeout("timed out after %ss: %s" % (seconds, _reason(error)), endpoint, error)
    return errors.Etcd3ConnectionError("connection failed: %s" % _reason(error), endpoint, error)


def _reason(error: BaseException) -> str:
    # requests nests urllib3's reason deep inside; the innermost text says most
    inner: Any = error
    while getattr(inner, "args", None) and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    if isinstance(inner, ssl.SSLError):
        return str(inner)  # (its reason is OpenSSL's code alone: CERTIFICATE_VERIFY_FAILED)
    reason = getattr(inner, "reason", None)
    return str(reason or inner)
