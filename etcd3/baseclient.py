"""The client core shared by ``Client`` (requests) and ``AioClient`` (aiohttp).

``BaseClient`` holds the configuration, picks the spec of the connected server,
builds the client class with one method per RPC of that spec, turns calls into
``Request`` objects and ``Response`` objects into models or exceptions.  It does
no I/O: multi-step calls (authenticate, then call; re-authenticate on an expired
token and replay) are generators that yield requests and receive responses, run
by the thin drivers of the two transports.
"""
from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import threading
import types
import warnings
from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple, Union

from . import errors
from .core import Request, Response, unwrap_stream_item
from .errors import UnsupportedOperation, error_from_response
from .apis import AuthAPI, ClusterAPI, ElectionAPI, ExtraAPI, KVAPI, LeaseAPI, LockAPI, MaintenanceAPI, WatchAPI
from .apis.binding import CALL_OPTIONS, RequestOp
from .apis.extra import EtcdVersion, parse_prometheus, version_of
from .transport.endpoints import (DEADLINE_GRACE, GRPC_TIMEOUT, Endpoint, EndpointList, EndpointSelector, FailoverFlow,
                                  deadline_passed, failover_flow, member_client_urls, parse_endpoints, server_deadline)
from .spec import (Operation, SpecBundle, bundle_for_server, bundled_versions, load_bundle, parse_version,
                   select_version)
from .utils import Etcd3Warning

__all__ = ["BaseClient", "BaseModelizedStreamResponse"]

Flow = Generator[Request, Response, Any]

_dumps = json.JSONEncoder(separators=(",", ":")).encode  # one encoder: json.dumps makes one per call
_log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
NO_TIMEOUT = float("inf")  # a request that may wait on the server for as long as it takes
VERSION_TIMEOUT = 3.0


def step_flow(flow: Flow, value: Any = None, error: Optional[BaseException] = None) -> Tuple[bool, Any]:
    """Advance a flow with the result (or the transport error) of its last request:
    ``(False, next request)`` or ``(True, the flow's result)``.  Both drivers loop on it."""
    try:
        if error is not None:
            return False, flow.throw(error)
        return False, flow.send(value)
    except StopIteration as stop:
        return True, stop.value


class BaseModelizedStreamResponse:
    """Model of a stream response"""

    def __init__(self, client: Any, method: Optional[Operation], resp: Any, decode: bool = True) -> None:
        """:param resp: the transport's response"""
        self.client = client
        self.method = method
        self.resp = resp
        self.decode = decode
        self._closed = False

    @property
    def raw(self) -> Any:
        """The transport's response object."""
        return self.resp

    def close(self) -> None:
        """close the stream"""
        raise NotImplementedError


@functools.total_ordering
class SemanticVersion:
    """A version string made comparable, for ``server_version_sem``: ordered by the
    semver rules (``3.3.0-rc.4 < 3.3.0 < 3.3.10``), compared with another version, a
    version string or anything with ``major``/``minor``/``patch`` (semantic_version's
    ``Version``, which 0.1.6 used and which is not a dependency here)."""

    __slots__ = ("major", "minor", "patch", "prerelease", "build", "_key")

    _PATTERN = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$")

    def __init__(self, version: str) -> None:
        m = self._PATTERN.match(str(version).strip())
        if m is None:
            raise ValueError("not a semantic version: %r" % (version,))
        self.major, self.minor, self.patch = (int(g or 0) for g in m.group(1, 2, 3))
        self.prerelease: Tuple[str, ...] = tuple(m.group(4).split(".")) if m.group(4) else ()
        self.build: Tuple[str, ...] = tuple(m.group(5).split(".")) if m.group(5) else ()
        self._key = _semver_key(self.major, self.minor, self.patch, self.prerelease)

    def __iter__(self):
        return iter((self.major, self.minor, self.patch, self.prerelease, self.build))

    def __str__(self) -> str:
        text = "%d.%d.%d" % (self.major, self.minor, self.patch)
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __repr__(self) -> str:
        return "Version(%r)" % str(self)

    def __hash__(self) -> int:
        return hash(self._key)

    @staticmethod
    def _other_key(other: Any) -> Any:
        if isinstance(other, SemanticVersion):
            return other._key
        if isinstance(other, str):
            try:
                return SemanticVersion(other)._key
            except ValueError:
                return NotImplemented  # not a version: unequal, and unordered
        if all(hasattr(other, name) for name in ("major", "minor", "patch")):
            return _semver_key(other.major, other.minor or 0, other.patch or 0,
                               tuple(getattr(other, "prerelease", ()) or ()))
        return NotImplemented

    def __eq__(self, other: Any) -> bool:
        key = self._other_key(other)
        if key is NotImplemented:
            return NotImplemented
        return self._key == key

    def __lt__(self, other: Any) -> bool:
        key = self._other_key(other)
        if key is NotImplemented:
            return NotImplemented
        return self._key < key


def _semver_key(major: int, minor: int, patch: int, prerelease: Tuple[str, ...]) -> tuple:
    # a release sorts after its pre-releases; numeric identifiers before alphanumeric ones
    return (major, minor, patch, not prerelease,
            tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in prerelease))


class _RpcMethod:
    """A class attribute standing for one RPC: the method (with the real signature and a
    docstring from the spec, both made when first read) is made on first access."""

    __slots__ = ("op", "function")

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.function: Optional[_RpcFunction] = None

    def __get__(self, obj: Any, cls: Any = None) -> Callable:
        function = self.function
        if function is None:
            function = self.function = _RpcFunction(self.op, getattr(cls, "__name__", "Client"))
        return function if obj is None else types.MethodType(function, obj)


class _RpcFunction:
    # The function of an RPC method: calls the client's operation.  Its __doc__ and
    # __signature__ (what help() and inspect.signature show) are the operation's, made when
    # first read: a program's first call needs neither (the signature's defaults are enums
    # built from every bundled spec, the docstring reads the spec's descriptions).

    __slots__ = ("op", "__name__", "__qualname__")
    __module__ = __name__

    def __init__(self, op: Operation, class_name: str) -> None:
        self.op = op
        self.__name__ = op.name
        self.__qualname__ = "%s.%s" % (class_name, op.name)

    def __call__(self, client: Any, *args: Any, **kwargs: Any) -> Any:
        return client._call_operation(self.op, args, kwargs)

    def __get__(self, obj: Any, cls: Any = None) -> Callable:
        return self if obj is None else types.MethodType(self, obj)

    @property  # type: ignore[override]
    def __doc__(self) -> str:  # type: ignore[override]
        return self.op.doc

    @property
    def __signature__(self) -> inspect.Signature:
        return self.op.signature

    def __repr__(self) -> str:
        return "<function %s>" % self.__qualname__


class BaseClient(AuthAPI, ClusterAPI, KVAPI, LeaseAPI, MaintenanceAPI, WatchAPI, ExtraAPI, LockAPI, ElectionAPI):
    """The transport-free part of the etcd v3 clients.

    The API groups (``etcd3.apis``) are its bases, in 0.1.6's order; the RPC methods
    come from the connected server's spec: ``_use_spec`` makes a class per spec
    version, with one method per operation (0.1.6's signature where it had one)."""

    # the transport driver of a subclass adds its own I/O
    _spec_bundle: Optional[SpecBundle] = None
    _watcher_class: Any = None  # Watcher or AioWatcher
    _auth_not_enabled = False

    def __init__(self, host: str = "127.0.0.1", port: int = 2379, protocol: str = "http",
                 cert: Union[Tuple[str, str], str, Tuple[()]] = (), verify: Union[None, bool, str] = None,
                 timeout: Optional[float] = None, headers: Optional[Dict[str, str]] = None,
                 user_agent: Optional[str] = None, pool_size: int = 30, username: Optional[str] = None,
                 password: Optional[str] = None, token: Optional[str] = None,
                 server_version: str = "3.3.0", cluster_version: str = "3.3.0", *,
                 endpoints: Optional[Sequence[Any]] = None, auto_sync_interval: Optional[float] = None) -> None:
        if cert and protocol == "http":
            protocol = "https"  # a client certificate only makes sense over TLS
        if protocol not in ("http", "https"):
            raise ValueError("protocol must be 'http' or 'https', got %r" % (protocol,))
        # a cluster: the members' gateway URLs (see transport.endpoints); host/port are the
        # one in use.  One endpoint is the plain client (no failover machinery at all).
        if auto_sync_interval is not None and not (
                isinstance(auto_sync_interval, (int, float)) and auto_sync_interval > 0):
            raise ValueError("auto_sync_interval must be a number of seconds > 0, got %r" % (auto_sync_interval,))
        self._selector: Optional[EndpointSelector] = None
        self._in_use = Endpoint(protocol, host, int(port))
        if endpoints is not None:
            parsed = parse_endpoints(endpoints, protocol)
            self._in_use = parsed[0]
            if len(parsed) > 1 or auto_sync_interval is not None:
                self._selector = EndpointSelector(parsed, auto_sync_interval)
        elif auto_sync_interval is not None:
            self._selector = EndpointSelector([self._in_use], auto_sync_interval)
        protocol = self.protocol
        self.cert = tuple(cert) if isinstance(cert, (tuple, list)) and cert else (cert or ())
        if protocol == "https":
            if verify is None:
                verify = True  # (0.1.6 verified nothing unless told to)
            elif verify is False:
                warnings.warn("TLS certificate verification is off for %s: anyone on the path can "
                              "impersonate the server" % self.baseurl, Etcd3Warning, stacklevel=3)
        elif verify is None:
            verify = False  # nothing to verify over plain http (0.1.6's value)
        self.verify = verify
        self.timeout = timeout
        self.headers = headers if headers is not None else {}  # the caller's dict, as 0.1.6 kept it
        self.user_agent = user_agent or "etcd3-py/%s" % _version()
        self.pool_size = pool_size
        self.username = username
        self._password = password
        self.token = token
        self.server_version = server_version
        self.cluster_version = cluster_version
        self._auth_lock = threading.Lock()
        # the driver reads the server's version and picks the spec by it (Client here, in
        # __init__; AioClient when it connects): the version given is only checked here (the
        # same refusals), no class is built for a spec the server may not have
        select_version(server_version, warn=False)

    # -- configuration -------------------------------------------------------------------
    @property
    def password(self) -> Optional[str]:
        return self._password

    @password.setter
    def password(self, value: Optional[str]) -> None:
        self._password = value

    # the endpoint in use: one object, swapped whole when the client moves to another
    # member, so a reader never sees the host of one and the port of another
    _in_use = Endpoint("http", "127.0.0.1", 2379)

    @property
    def host(self) -> str:
        return self._in_use.host

    @host.setter
    def host(self, value: str) -> None:
        self._in_use = Endpoint(self._in_use.protocol, value, self._in_use.port)

    @property
    def port(self) -> int:
        return self._in_use.port

    @port.setter
    def port(self, value: int) -> None:
        self._in_use = Endpoint(self._in_use.protocol, self._in_use.host, int(value))

    @property
    def protocol(self) -> str:
        return self._in_use.protocol

    @protocol.setter
    def protocol(self, value: str) -> None:
        self._in_use = Endpoint(value, self._in_use.host, self._in_use.port)

    @property
    def baseurl(self) -> str:
        """baseurl from protocol, host and port"""
        return self._in_use.url

    endpoint = baseurl

    @property
    def endpoints(self) -> EndpointList:
        """The URLs of the cluster's members the client uses (a list of str); its
        ``in_use`` is the one in use now (``baseurl``).  With ``auto_sync_interval`` the
        list follows the cluster's members."""
        in_use = self._in_use.url
        if self._selector is None:
            return EndpointList([in_use], in_use)
        return EndpointList([e.url for e in self._selector.endpoints], in_use)

    def _follow(self, endpoint: Endpoint) -> None:
        """Make ``endpoint`` the one in use: ``baseurl`` (and the streams) go there."""
        in_use = self._in_use
        if endpoint is not in_use and endpoint.url != in_use.url:
            self._in_use = endpoint
            self._endpoint_changed()

    def _failover_flow(self, request: Request) -> FailoverFlow:
        """The retry loop of one request of a cluster client (``failover_flow``), which
        the driver's ``_send`` runs."""
        assert self._selector is not None
        return failover_flow(self._selector, request, request.timeout or self.timeout or DEFAULT_TIMEOUT,
                             self._follow, GRPC_TIMEOUT in request.headers)

    def _cluster_connected(self) -> None:
        """The drivers call it once connected: requests are made under the spec's prefix
        from now on, and auto sync starts."""
        selector = self._selector
        if selector is not None:
            selector.prefix, selector.client_version = self.spec.prefix, self.server_version
            selector.schedule_sync()

    def _stream_path(self, path: str) -> Any:
        """The path of a background stream on the member in use: under that member's
        gateway prefix (its version read first, once, when not known yet).  A value
        (the sync driver) or an awaitable (the async one)."""
        return self._run(self._stream_path_flow(path))

    def _stream_path_flow(self, path: str) -> Flow:
        selector = self._selector
        if selector is None or not selector.prefix:
            return path
        url = self._in_use.url
        if url not in selector.prefixes:
            try:  # (a pinned /version: failover_flow records the member's version)
                yield Request("GET", url + "/version", self._base_headers(), timeout=VERSION_TIMEOUT,
                              idempotent=True, pinned=True)
            except errors.Etcd3TransportError:
                return path  # the stream's own connecting fails next, and moves on
        return selector.path_on(url, path)

    def _sync_flow(self) -> Flow:
        """``auto_sync_interval``: the endpoints from ``member_list`` (Go's ``Sync``: client
        URLs of named members that are not learners).  A failed sync keeps the list."""
        selector = self._selector
        assert selector is not None
        try:
            answer = yield from self._op_flow("member_list")
            endpoints = parse_endpoints(member_client_urls(answer.members), self.protocol)
        except (errors.Etcd3Exception, ValueError) as error:
            _log.info("auto sync of %s failed, the endpoints stay: %s", self.baseurl, error)
            return False
        return selector.replace(endpoints)

    def _endpoint_changed(self) -> None:
        """The driver drops what it holds for the endpoint it used before."""

    def _stream_broke(self, url: str) -> None:
        """A background stream to ``url`` broke: the next one opens on the next member."""
        selector = self._selector
        if selector is not None:
            for endpoint in selector.endpoints:
                if endpoint.url == url:
                    self._follow(selector.move_from(endpoint))
                    return

    def _stream_headers(self) -> Dict[str, str]:
        """Extra headers of background streams: a cluster client asks for require-leader
        semantics (gRPC metadata ``hasleader: true``), so a member cut off from the leader
        ends the stream and the client moves on."""
        return {"Grpc-Metadata-hasleader": "true"} if self._selector is not None else {}

    @property
    def api_prefix(self) -> str:
        """The gateway prefix of the connected server (``/v3beta``, ``/v3``, ...)."""
        return self.spec.prefix

    @property
    def server_version_sem(self) -> "SemanticVersion":
        """``server_version`` as a comparable version (0.1.6: a ``semantic_version.Version``)."""
        return SemanticVersion(self.server_version)

    @property
    def cluster_version_sem(self) -> "SemanticVersion":
        """``cluster_version`` as a comparable version."""
        return SemanticVersion(self.cluster_version)

    @property
    def api_spec(self) -> Any:
        """The ``SwaggerSpec`` of the connected server's rpc API."""
        return self.spec.rpc

    def _url(self, method: str, prefix: bool = True) -> str:
        """The URL of a gateway path: ``_url('/kv/range')`` -> ``<baseurl><api_prefix>/kv/range``;
        ``prefix=False`` leaves the API prefix out (``/version``, ``/health``)."""
        return self.baseurl + (self.api_prefix if prefix else "") + "/" + method.lstrip("/")

    @property
    def spec(self) -> SpecBundle:
        """The spec bundle of the connected server (before an AioClient's first call, the
        one of the version it was given)."""
        bundle = self._spec_bundle
        if bundle is None:
            self._use_spec(self.server_version, warn=False)
            bundle = self._spec_bundle
            assert bundle is not None
        return bundle

    @property
    def operations(self) -> Dict[str, Operation]:
        return self.spec.operations

    def __repr__(self) -> str:
        return "<%s %s etcd %s (spec %s)%s>" % (
            type(self).__name__, self.baseurl, self.server_version, self.spec.version,
            " user=%r" % self.username if self.username else "")

    def __enter__(self):
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def close(self) -> None:
        """close all connections in connection pool"""

    # -- spec selection and the per-version class ---------------------------------------
    def _use_spec(self, server_version: str, warn: bool = True) -> None:
        bundle = bundle_for_server(server_version, warn=warn)
        base = getattr(type(self), "_dispatch_base", type(self))
        cls = bundle.client_classes.get(base)
        if cls is None:
            # what hasattr(base, name) tells, for every name at once (a failed hasattr raises
            # and catches an AttributeError: ~50 of them were a good part of this)
            taken = set().union(*(vars(k) for k in base.__mro__ + type(base).__mro__))
            namespace: Dict[str, Any] = {
                name: _RpcMethod(op) for name, op in bundle.operations.items() if name not in taken}
            namespace.update(_spec_bundle=bundle, _dispatch_base=base, __module__=base.__module__,
                             __doc__="%s\n\nConnected to a server using the etcd %s API (spec %s)."
                             % (base.__doc__ or base.__name__, bundle.etcd_version, bundle.version))
            cls = bundle.client_classes.setdefault(base, type(base.__name__, (base,), namespace))
            cls.__qualname__ = base.__qualname__
        self.__class__ = cls

    def _version_request(self) -> Request:
        return Request("GET", self.baseurl + "/version", self._base_headers(), timeout=VERSION_TIMEOUT,
                       idempotent=True)

    def _apply_version(self, response: Response) -> EtcdVersion:
        if response.status != 200:
            raise error_from_response(response.status, response.body)
        info = self._version_info(response)
        self.server_version = info.etcdserver or self.server_version
        self.cluster_version = info.etcdcluster or self.cluster_version
        self._use_spec(self.server_version)
        # the warnings 0.1.6 gave for old servers (older than 3.2 is refused above)
        if parse_version(self.server_version) < (3, 2, 2):
            warnings.warn("etcd %s: the gRPC-JSON gateway of etcd before 3.2.2 has known bugs"
                          % self.server_version, Etcd3Warning, stacklevel=4)
        elif parse_version(self.server_version) < (3, 3, 0):
            warnings.warn("etcd %s: authentication through the gRPC-JSON gateway needs etcd 3.3 or newer"
                          % self.server_version, Etcd3Warning, stacklevel=4)
        return info

    def _version_fallback(self, error: Exception) -> None:
        warnings.warn("could not read the version of %s (%s); assuming etcd %s"
                      % (self.baseurl, error, self.server_version), Etcd3Warning, stacklevel=4)
        self._use_spec(self.server_version)

    @staticmethod
    def _version_info(response: Response) -> EtcdVersion:
        return version_of(response)

    def __getattr__(self, name: str) -> Any:
        # reached only for names the class lacks: say when an RPC is from a newer etcd
        if not name.startswith("_") and self._spec_bundle is not None:
            for version in reversed(bundled_versions()):
                if name in load_bundle(version).operations:
                    raise UnsupportedOperation(name, self.server_version, self.spec.first_version_with(name))
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))

    # -- requests ------------------------------------------------------------------------
    def _base_headers(self) -> Dict[str, str]:
        headers = {"User-Agent": self.user_agent}
        headers.update(self.headers)
        return headers

    def _rpc_headers(self) -> Dict[str, str]:
        """The headers of an RPC, made once per token; shared by the requests: read only.
        With a client timeout they tell the server the deadline (``Grpc-Timeout``), so it
        gives up when the client does."""
        key = (self.token, self.user_agent, tuple(self.headers.items()), self.timeout)
        if key != self._rpc_headers_key:
            headers = self._base_headers()
            headers["Content-Type"] = "application/json"
            if self.token:
                headers["Authorization"] = self.token
            read_timeout = None
            if self.timeout and self.timeout != NO_TIMEOUT:
                read_timeout = self.timeout + DEADLINE_GRACE  # (the server's answer comes first)
                headers[GRPC_TIMEOUT] = server_deadline(read_timeout)
            self._rpc_headers_cache, self._rpc_headers_key = headers, key
            self._rpc_read_timeout = read_timeout
        return self._rpc_headers_cache

    _rpc_headers_key: Any = None
    _rpc_headers_cache: Dict[str, str] = {}
    _rpc_read_timeout: Optional[float] = None  # a unary call's wait when the client has a timeout

    def _rpc_request(self, path: str, body: Any, stream: bool = False, idempotent: bool = False,
                     headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = None,
                     raw: bool = False) -> Request:
        all_headers = self._rpc_headers()
        if headers or timeout or stream:
            all_headers = {**all_headers, **headers} if headers else dict(all_headers)
            deadline = timeout or self.timeout
            if stream or not deadline or deadline == NO_TIMEOUT:
                all_headers.pop(GRPC_TIMEOUT, None)  # (the gateway would end a stream at it)
            else:
                timeout = deadline + DEADLINE_GRACE  # the server's answer comes first
                all_headers[GRPC_TIMEOUT] = server_deadline(timeout)
        else:
            timeout = self._rpc_read_timeout
        if not isinstance(body, (bytes, bytearray)):
            body = _dumps(body if body is not None else {}).encode("utf-8")
        return Request("POST", self.baseurl + path, all_headers, body, stream=stream,
                       timeout=timeout, idempotent=idempotent, raw=raw)

    def _bind(self, op: Operation, args: tuple, kwargs: Dict[str, Any]) -> Any:
        """Positional and keyword arguments of an RPC method -> the encoded request body
        (or, for ``txn_obj=True``, the ``RequestOp`` to return instead of calling)."""
        if op.min_version_tuple is not None and parse_version(self.server_version) < op.min_version_tuple:
            raise UnsupportedOperation(op.name, self.server_version, op.min_version)
        return op.binding.bind(args, kwargs)

    def _decode(self, op: Optional[Operation], response: Response) -> Any:
        data = response.json()
        if op is None:
            return data
        try:
            return op.response.decode_owned(data)
        except errors.Etcd3ProtocolError as e:  # a field of the wrong type: say who sent it
            raise errors.Etcd3ProtocolError(str(e), response.endpoint or self.baseurl, e.cause,
                                            seen=response.body) from None

    def _decode_stream_item(self, op: Optional[Operation], item: Any) -> Any:
        result = unwrap_stream_item(item)
        if op is None:
            return result
        try:
            return op.response.decode_owned(result)
        except errors.Etcd3ProtocolError as e:
            raise errors.Etcd3ProtocolError(str(e), self.baseurl, e.cause) from None

    def _find_operation(self, method: str) -> Optional[Operation]:
        """The operation of a path (with or without the gateway prefix) or a method name."""
        ops = self.spec.operations
        if method in ops:
            return ops[method]
        path = method if method.startswith(self.api_prefix + "/") else self.api_prefix + "/" + method.lstrip("/")
        for op in ops.values():
            if op.path == path or path in op.extra_paths:
                return op
        return None

    # -- flows: generators yielding Requests and receiving Responses -------------------------
    def _authenticate_flow(self, username: Optional[str] = None, password: Optional[str] = None) -> Flow:
        op = self.spec.operations["authenticate"]
        body = op.request.encode({"name": username or self.username, "password": password or self.password})
        request = self._rpc_request(op.path, body)
        request.headers = {k: v for k, v in request.headers.items() if k != "Authorization"}
        response = yield request
        if response.status != 200:
            raise error_from_response(response.status, response.body)
        self.token = self._decode(op, response).token
        return self.token

    def _may_authenticate(self, op: Optional[Operation]) -> bool:
        """Whether a call may have to authenticate (and replay): credentials are set."""
        return bool(self.username and self.password) and not (op is not None and op.name == "authenticate")

    def _path_of(self, request: Request) -> str:
        """The path of a request on this client's endpoint."""
        url = request.url
        if url.startswith(self.baseurl):
            return url[len(self.baseurl):]
        if "://" in url:  # made for another member of the cluster
            slash = url.find("/", url.index("://") + 3)
            return url[slash:] if slash >= 0 else "/"
        return url

    def _token_flow(self) -> Flow:
        """Authenticate if no token is held (credentials are set)."""
        if not self.token and not self._auth_not_enabled:
            try:
                yield from self._authenticate_flow()
            except errors.ErrAuthNotEnabled:
                # credentials for a server without auth: go on without a token, and
                # authenticate when the server starts asking for one
                self._auth_not_enabled = True

    def _call_flow(self, op: Optional[Operation], path: str, body: Any, stream: bool = False,
                   headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = None,
                   raw: bool = False) -> Flow:
        """Send one RPC; authenticate first when credentials are set and no token is
        held, and once more (then replay) when the server says the token is invalid."""
        can_auth = self._may_authenticate(op)
        if can_auth and not self.token:
            yield from self._token_flow()
        idempotent = _idempotent(op)
        response = yield self._rpc_request(path, body, stream, idempotent, headers, timeout, raw)
        if response.status != 200:
            error = _answer_error(response)
            # a simple token is valid only on the member that issued it: a call that moved
            # to another member authenticates there (JWT tokens are valid on every member);
            # an auth store changed since the token was issued wants a new one too (Go's rule)
            if can_auth and isinstance(error, (errors.ErrInvalidAuthToken, errors.ErrUserEmpty,
                                               errors.ErrAuthOldRevision)):
                self._auth_not_enabled = False
                self.token = None
                yield from self._authenticate_flow()
                response = yield self._rpc_request(path, body, stream, idempotent, headers, timeout, raw)
                if response.status != 200:
                    raise _answer_error(response)
            else:
                raise error
        return response

    def _unary_flow(self, op: Optional[Operation], path: str, body: Any, **options: Any) -> Flow:
        response = yield from self._call_flow(op, path, body, **options)
        if op is not None and op.binding.clears_token:
            self.token = None  # auth_disable: no token is needed any more
        return self._decode(op, response)

    def _stream_flow(self, op: Optional[Operation], path: str, body: Any, **options: Any) -> Flow:
        response = yield from self._call_flow(op, path, body, stream=True, **options)
        return self._stream_class(self, op, response.raw)

    def _raw_flow(self, op: Optional[Operation], path: str, body: Any, **options: Any) -> Flow:
        response = yield from self._call_flow(op, path, body, raw=True, **options)
        return self._raw_response(response, path, options.get("stream", False))

    def _raw_response(self, response: Response, path: str, stream: bool) -> Any:
        """The transport's own response object, for ``call_rpc(raw=True)``; its body
        can still be read (a stream's is not read yet)."""
        return response.raw

    def _get_flow(self, path: str, parse: Callable[[Response], Any]) -> Flow:
        response = yield Request("GET", self.baseurl + path, self._base_headers(), idempotent=True)
        if response.status != 200:
            raise error_from_response(response.status, response.body)
        return parse(response)

    def _op_flow(self, name: str, *args: Any, **kwargs: Any) -> Flow:
        """Call the RPC ``name`` inside a flow: ``resp = yield from client._op_flow('range', key)``."""
        op = self.spec.operations.get(name)
        if op is None:
            raise UnsupportedOperation(name, self.server_version, self.spec.first_version_with(name))
        response = yield from self._unary_flow(op, op.path, self._bind(op, args, kwargs))
        return response

    def _op_flow_with_timeout(self, name: str, timeout: Optional[float], *args: Any, **kwargs: Any) -> Flow:
        """``_op_flow`` with a timeout of its own for a call that may block on the
        server (lock, campaign); None waits for as long as it takes."""
        op = self.spec.operations.get(name)
        if op is None:
            raise UnsupportedOperation(name, self.server_version, self.spec.first_version_with(name))
        response = yield from self._unary_flow(op, op.path, self._bind(op, args, kwargs),
                                               timeout=NO_TIMEOUT if timeout is None else timeout)
        return response

    # background keepalive of leases that helpers hold (the drivers implement it); ``holder``
    # tells apart several keepers of one lease, ``keep_cb(ttl)`` runs after each refresh
    def _keep_alive(self, ID: int, ttl: float, refreshed: Optional[float] = None,
                    cancel_cb: Optional[Callable[[], Any]] = None, keep_cb: Optional[Callable[[int], Any]] = None,
                    holder: Any = None) -> None:
        raise NotImplementedError

    def _stop_keep_alive(self, ID: int, holder: Any = None) -> Optional[float]:
        """Stop the background keepalive; returns when the lease was last refreshed."""
        raise NotImplementedError

    def _call_operation(self, op: Operation, args: tuple, kwargs: Dict[str, Any]) -> Any:
        if op.streaming:
            return self._call_stream_operation(op, args, kwargs)
        body = self._bind(op, args, kwargs)
        if body.__class__ is RequestOp:
            return body  # txn_obj=True: the request op for txn(), nothing is sent
        request = self._direct_request(op, body)
        if request is None:
            return self._run(self._unary_flow(op, op.path, body))
        # no flow to step: one request, one answer (most calls: the hot path)
        return self._run_direct(op, request)

    def _call_stream_operation(self, op: Operation, args: tuple, kwargs: Dict[str, Any]) -> Any:
        options: Dict[str, Any] = {}
        if kwargs and op.binding.call_options:
            # watch(..., timeout=, headers=): options of the call, as 0.1.6 passed them on
            options = {k: v for k, v in kwargs.items() if k in CALL_OPTIONS}
            kwargs = {k: v for k, v in kwargs.items() if k not in CALL_OPTIONS}
        return self._run(self._stream_flow(op, op.path, self._bind(op, args, kwargs), **options))

    # -- unary calls without a flow: what _unary_flow does when there is nothing to authenticate
    def _direct_request(self, op: Operation, body: Any) -> Optional[Request]:
        """The one request of a unary call, or None when the call needs the flow
        (credentials are set, so it may have to authenticate and replay)."""
        if self._may_authenticate(op):
            return None
        return self._rpc_request(op.path, body, idempotent=_idempotent(op))

    def _direct_result(self, op: Operation, response: Response) -> Any:
        if response.status != 200:
            raise _answer_error(response)
        if op.binding.clears_token:
            self.token = None  # auth_disable: no token is needed any more
        return self._decode(op, response)

    # -- the transport drivers implement these two ---------------------------------------------
    _stream_class: Callable[..., Any]

    def _run(self, flow: Flow) -> Any:
        """Run a flow: send each request it yields, send back the response; return
        its result (the sync driver) or an awaitable of it (the async driver)."""
        raise NotImplementedError

    def _run_direct(self, op: Operation, request: Request) -> Any:
        """Send the one request of a ``_direct_request`` call; return ``_direct_result``
        of its answer (the sync driver) or an awaitable of it (the async driver)."""
        raise NotImplementedError

    # -- public API written once for both drivers (values or awaitables) -------------------------
    def call_rpc(self, method: str, data: Any = None, stream: bool = False, encode: bool = True,
                 raw: bool = False, **kwargs: Any) -> Any:
        """call ETCDv3 RPC and return response object

        :param method: the rpc method, which is a path of RESTful API (``/kv/range``,
            with or without the gateway prefix) or an RPC name (``range``)
        :param data: request payload to be post to ETCD's gRPC-JSON-Gateway default: {}
        :param stream: whether return a stream response object, default: False
        :param encode: whether encode the data before post, default: True
        :param raw: return the transport's own response object, undecoded
        :param kwargs: additional params to pass to the http request, like headers, timeout etc.
        :return: a model, or a stream response for stream=True
        """
        op, path, body = self._call_rpc_args(method, data, encode)
        options = {k: kwargs.pop(k) for k in ("headers", "timeout") if k in kwargs}
        if kwargs:
            raise TypeError("call_rpc() got unexpected keyword argument(s) %s" % ", ".join(kwargs))
        if raw:
            return self._run(self._raw_flow(op, path, body, stream=stream, **options))
        if stream:
            return self._run(self._stream_flow(op, path, body, **options))
        return self._run(self._unary_flow(op, path, body, **options))

    def auth(self, username: Optional[str] = None, password: Optional[str] = None) -> Any:
        """call auth.authenticate and save the token

        :param username: username (default: the client's)
        :param password: password (default: the client's)
        """
        if username is not None:
            self.username = username
        if password is not None:
            self.password = password
        return self._run(self._authenticate_flow())

    # -- the cluster's members, one by one ---------------------------------------------------------
    def endpoint_status(self) -> Any:
        """The status of every endpoint (``endpoints``), asked of each member itself: a
        list of dicts with ``endpoint``, ``version``, ``member_id``, ``leader`` (the
        leader's id), ``is_leader``, ``raft_index``, ``raft_term``, ``db_size``, ``errors``
        (the member's alarms/errors) and ``error`` (why it did not answer; None)."""
        return self._run(self._endpoint_status_flow())

    def endpoint_health(self) -> Any:
        """Whether every endpoint is healthy (its ``/health``): a list of dicts with
        ``endpoint``, ``healthy``, ``took`` (seconds) and ``error`` (None when healthy)."""
        return self._run(self._endpoint_health_flow())

    def _endpoint_status_flow(self) -> Flow:
        op = self.spec.operations["status"]
        if self._may_authenticate(op) and not self.token:
            yield from self._token_flow()  # (with auth on, etcd 3.5 refuses a Status without a token)
        results = []
        for url in self.endpoints:
            request = self._rpc_request(op.path, {}, idempotent=True, timeout=self.timeout or VERSION_TIMEOUT)
            request.url, request.pinned = url + op.path, True
            entry: Dict[str, Any] = {"endpoint": url, "version": None, "member_id": None, "leader": None,
                                     "is_leader": False, "raft_index": None, "raft_term": None, "db_size": None,
                                     "errors": [], "error": None}
            try:
                response = yield request
                if response.status != 200:
                    raise error_from_response(response.status, response.body)
                status = self._decode(op, response)
            except errors.Etcd3Exception as e:
                entry["error"] = str(e)
            else:
                header = status.header
                member_id = header.member_id if header is not None else None
                entry.update(version=status.version, member_id=member_id, leader=status.leader,
                             is_leader=bool(member_id) and member_id == status.leader,
                             raft_index=status.raftIndex, raft_term=status.raftTerm, db_size=status.dbSize,
                             errors=list(getattr(status, "errors", None) or ()))
            results.append(entry)
        return results

    def _endpoint_health_flow(self) -> Flow:
        import time

        results = []
        for url in self.endpoints:
            request = Request("GET", url + "/health", self._base_headers(), timeout=self.timeout or VERSION_TIMEOUT,
                              idempotent=True, pinned=True)
            started = time.monotonic()
            entry: Dict[str, Any] = {"endpoint": url, "healthy": False, "took": None, "error": None}
            try:
                response = yield request
                entry["took"] = time.monotonic() - started
                if response.status != 200:
                    raise error_from_response(response.status, response.body)
                health = response.json().get("health")
                entry["healthy"] = health in (True, "true")
                if not entry["healthy"]:
                    entry["error"] = "unhealthy: %s" % response.body[:200].decode("utf-8", "replace")
            except errors.Etcd3Exception as e:
                entry["error"] = str(e)
            results.append(entry)
        return results

    # -- stateful helpers --------------------------------------------------------------------------
    def Txn(self) -> Any:
        """Initialize a Transaction"""
        from .stateful.transaction import Txn

        return Txn(self)

    def Lease(self, ttl: int, ID: int = 0, new: bool = True) -> Any:
        """Initialize a Lease

        :param ttl: the TTL to ask for, in seconds
        :param ID: ID is the requested ID for the lease. If ID is set to 0, the lessor chooses an ID.
        :param new: whether grant a new lease or maintain a exist lease by its id [default: True]
        """
        from .stateful.lease import Lease

        return Lease(self, ttl=ttl, ID=ID, new=new)

    def Lock(self, lock_name: str, lock_ttl: int = 60, reentrant: Optional[str] = None,
             lock_prefix: str = "_locks") -> Any:
        """Initialize a Lock (etcd3-py 0.1.6's: its processes and ours exclude each other)

        :param lock_name: the lock's name
        :param lock_ttl: seconds after which the lock of a crashed holder is freed
        :param reentrant: None, Lock.HOST, Lock.PROCESS or Lock.THREAD: holders that share
            that identity acquire a lock they hold at once, and count their holders
        :param lock_prefix: the key prefix of locks
        """
        from .stateful.lock import Lock

        return Lock(self, lock_name, lock_ttl=lock_ttl, reentrant=reentrant, lock_prefix=lock_prefix)

    def FairLock(self, lock_name: str, lock_ttl: int = 60, reentrant: Optional[str] = None,
                 lock_prefix: str = "_fair_locks") -> Any:
        """Initialize a FairLock: FIFO on etcd's lock service, with fencing tokens; it
        does not exclude Lock or etcd3-py 0.1.6's lock (see etcd3.FairLock)"""
        from .stateful.lock import FairLock

        return FairLock(self, lock_name, lock_ttl=lock_ttl, reentrant=reentrant, lock_prefix=lock_prefix)

    def Election(self, name: str, lease_ttl: int = 60) -> Any:
        """Initialize an Election (campaign, proclaim, leader, observe, resign)"""
        from .stateful.election import Election

        return Election(self, name, lease_ttl=lease_ttl)

    def Watcher(self, key: Any = None, range_end: Any = None, max_retries: int = -1,
                start_revision: Optional[int] = None, progress_notify: Optional[bool] = None,
                prev_kv: Optional[bool] = None, prefix: Optional[bool] = None, all: Optional[bool] = None,
                no_put: bool = False, no_delete: bool = False) -> Any:
        """Initialize a Watcher

        :param key: key is the key to register for watching.
        :param range_end: the end of the range [key, range_end) to watch; ``b'\\0'`` watches every key >= key
        :param max_retries: max retries when watch failed due to network problem, -1 means no limit
        :param start_revision: an optional revision to watch from (inclusive); none is "now"
        :param progress_notify: ask the server for periodic progress notifications
        :param prev_kv: the events carry the previous key-value pair
        :param prefix: watch every key with the prefix ``key``
        :param all: watch every key
        :param no_put: filter out the put events at server side
        :param no_delete: filter out the delete events at server side
        :return: Watcher
        """
        return self._watcher_class(self, key=key, range_end=range_end, max_retries=max_retries, start_revision=start_revision,
                       progress_notify=progress_notify, prev_kv=prev_kv, prefix=prefix, all=all, no_put=no_put,
                       no_delete=no_delete)

    def _call_rpc_args(self, method: str, data: Any, encode: bool) -> Tuple[Optional[Operation], str, Any]:
        op = self._find_operation(method)
        if op is not None:
            path = op.path
        else:
            path = method if method.startswith(self.api_prefix + "/") else self.api_prefix + "/" + method.lstrip("/")
        if data is None:
            data = {}
        elif isinstance(data, str):
            data = data.encode("utf-8")  # a raw body, posted as it is (as bytes are)
        if encode and op is not None and op.request is not None and isinstance(data, dict):
            data = op.request.encode(data)
        return op, path, data

    @staticmethod
    def _parse_metrics(text: str) -> Dict[str, List[Tuple[Dict[str, str], float]]]:
        return parse_prometheus(text)


# RPCs that read or are otherwise safe to send again (etcd's Go client retry rules)
IDEMPOTENT_RPCS = frozenset({
    "range", "lease_grant", "lease_revoke", "lease_time_to_live", "lease_leases", "lease_keep_alive",
    "member_list", "status", "alarm", "hash", "hash_kv", "snapshot", "move_leader", "auth_status",
    "user_get", "user_list", "role_get", "role_list", "authenticate", "leader", "observe", "watch",
})


def _answer_error(response: Response) -> errors.Etcd3Exception:
    """The exception of an RPC's error answer.  The gateway's "context deadline exceeded"
    is the call's own deadline (``Grpc-Timeout``) passing on the server: an Etcd3Timeout,
    as when the client gives up first."""
    if response.status == 504 and deadline_passed(response.status, response.body):
        return errors.Etcd3Timeout("the server gave up at the call's deadline (Grpc-Timeout)",
                                   response.endpoint, error_from_response(response.status, response.body))
    return error_from_response(response.status, response.body)


def _idempotent(op: Optional[Operation]) -> bool:
    """Whether a request of ``op`` may be sent again after it may have reached the server."""
    return op is not None and op.name in IDEMPOTENT_RPCS

def _version() -> str:
    from . import __version__

    return __version__
