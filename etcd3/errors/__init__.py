"""The exceptions of etcd3::

    Etcd3Exception
    ├── Etcd3APIError                 the server answered with an error
    │   ├── one class per gRPC code   (InvalidArgument, NotFound, Unavailable, ...)
    │   │   ├── one class per etcd error, named as etcd's Go rpctypes names
    │   │   │   it (ErrKeyNotFound, ErrCompacted, ErrLeaseNotFound, ...)
    │   │   └── ErrUnknownError.<code>   a message none of those (also ErrUnknownError)
    │   └── Etcd3StreamError          an error inside a stream (watch, keepalive, ...)
    │       └── Etcd3WatchCanceled    the server canceled a watch (compact_revision)
    ├── Etcd3TransportError           no answer: names the endpoint
    │   ├── Etcd3ConnectionError      refused, reset, DNS
    │   ├── Etcd3Timeout              the call's deadline passed (connect, send, answer)
    │   ├── Etcd3TLSError             handshake or certificate failure
    │   └── Etcd3ProtocolError        an answer that is not what etcd sends (malformed
    │                                 HTTP, not a JSON object, a field of the wrong
    │                                 type, past max_response_size): names the endpoint
    │                                 and keeps the first bytes seen
    ├── UnsupportedServerVersion      server too old for the library
    └── UnsupportedOperation          the RPC is not in the server's version

Every ``Etcd3APIError`` carries ``code`` (gRPC code), ``code_name``,
``http_status``, ``message`` (the server's text) and ``details``, and etcd3-py
0.1.6's ``error``, ``codeText``, ``status``, ``response`` and ``as_dict()``; it is
built with 0.1.6's arguments ``(error=None, code=None, status=None, response=None)``.
``Etcd3APIError.from_response`` maps every body shape the gateway uses;
``get_client_error`` is 0.1.6's exact-message lookup.  0.1.6's submodules
(``go_etcd_rpctypes_error``, ``go_grpc_codes``, ``go_net_http_status``,
``go_grpc_gateway_errors``, ``errors``) name these same classes.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Type

from .go_grpc_codes import codeText

__all__ = [
    "Etcd3Exception", "Etcd3APIError", "Etcd3StreamError", "Etcd3WatchCanceled",
    "Etcd3TransportError", "Etcd3ConnectionError", "Etcd3Timeout", "Etcd3TLSError", "Etcd3ProtocolError",
    "UnsupportedServerVersion", "UnsupportedOperation", "GRPC_CODES", "error_from_response",
    "get_client_error", "ErrUnknownError",
]

GRPC_CODES = codeText  # code -> name: 3 -> "InvalidArgument"
# the gateway's status for each code; the reverse map is the fallback for bodies without a code
_HTTP_STATUS_TO_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 412: 9, 429: 8, 499: 1,
                        500: 13, 501: 12, 503: 14, 504: 4}


class Etcd3Exception(Exception):
    """Base class of every exception of this library."""


class UnsupportedServerVersion(Etcd3Exception):
    """The server's version is older than every version this library supports."""


class UnsupportedOperation(Etcd3Exception, AttributeError):
    """The RPC exists in etcd, but not in the connected server's version."""

    def __init__(self, name: str, server_version: str, first_version: Optional[str]) -> None:
        self.name, self.server_version, self.first_version = name, server_version, first_version
        if first_version:
            # a release that adds an RPC to its minor is named whole; else the minor
            major_minor = ".".join(first_version.split(".")[:2])
            added = first_version if first_version.split(".")[2:] not in ([], ["0"]) and \
                first_version.startswith(".".join(server_version.split(".")[:2])) else major_minor
            text = "%s() is not supported by etcd %s: it was added in etcd %s" % (name, server_version, added)
        else:
            text = "%s() is not an RPC of etcd %s" % (name, server_version)
        super().__init__(text)


class Etcd3APIError(Etcd3Exception):
    """The server (or its gateway) answered with an error.

    Built as etcd3-py 0.1.6 built its errors, ``(error=None, code=None, status=None,
    response=None)``, every argument optional.  Attributes: ``error`` (etcd's text for
    the per-error classes, else the server's message), ``code`` (gRPC code),
    ``codeText`` (name of the code the server sent; None when built without one, or 0),
    ``status`` (HTTP status), ``response``; and ours: ``message`` (the server's own
    text), ``code_name``, ``http_status`` (= ``status``), ``details``, ``body``."""

    code: int = 2
    etcd_message: Optional[str] = None  # etcd's text for the per-error classes

    def __init__(self, error: Any = None, code: Optional[int] = None, status: Optional[int] = None,
                 response: Any = None, *, message: Optional[str] = None, http_status: Optional[int] = None,
                 details: Any = None, body: Any = None) -> None:
        # no Exception.__init__: ``args`` stays the tuple actually passed, as in 0.1.6
        text = error if message is None else message
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        text = "" if text is None else str(text).strip()
        if code is not None and self.etcd_message is None:
            self.code = code  # a per-error class keeps its own code (its place in the hierarchy)
        self.codeText = GRPC_CODES.get(code) if code else None  # 0.1.6: None also for code 0 (OK)
        self.message = text or self.etcd_message or ""
        self.error = self.etcd_message or self.message
        self.http_status = status if status is not None else http_status
        self.response = response
        self.details = details
        self.body = body

    @property
    def status(self) -> Optional[int]:
        """The HTTP status (0.1.6's name of ``http_status``)."""
        return self.http_status

    @status.setter
    def status(self, value: Optional[int]) -> None:
        self.http_status = value

    @property
    def code_name(self) -> str:
        return GRPC_CODES.get(self.code, str(self.code))

    def as_dict(self) -> Dict[str, Any]:
        return {"error": self.error, "code": self.code, "codeText": self.codeText, "status": self.status}

    def __str__(self) -> str:
        # 0.1.6's text, which programs may print or compare: class, etcd's message, gRPC code
        return "<%s error:'%s', code:%s>" % (type(self).__name__, self.error, self.code)

    __repr__ = __str__

    @staticmethod
    def from_response(status: Optional[int], body: Any) -> "Etcd3APIError":
        return error_from_response(status, body)


class Etcd3StreamError(Etcd3APIError):
    """An error reported inside a stream, or a stream that could not be decoded.
    0.1.6's constructor ``(error, buf, resp)``: ``buf`` the undecodable bytes,
    ``resp`` the HTTP response; keywords as ``Etcd3APIError``."""

    def __init__(self, error: Any = None, buf: Any = None, resp: Any = None, **kwargs: Any) -> None:
        self.buf = buf
        self.resp = resp
        super().__init__(error, **kwargs)


class Etcd3WatchCanceled(Etcd3StreamError):
    """The server canceled a watch.  0.1.6's constructor ``(error, resp)``: ``error``
    the reason, ``resp`` the watch response; ``compact_revision`` is set when the
    watch asked for a revision that has been compacted."""

    code = 1

    def __init__(self, error: Any = None, resp: Any = None, *, compact_revision: Optional[int] = None,
                 watch_id: Optional[int] = None, **kwargs: Any) -> None:
        if compact_revision is None:
            compact_revision = getattr(resp, "compact_revision", 0) or 0
        if watch_id is None:
            watch_id = getattr(resp, "watch_id", None)
        self.compact_revision = compact_revision
        self.watch_id = watch_id
        super().__init__(error or "watch canceled", None, resp, **kwargs)
        self.error = self.message  # the reason given, as in 0.1.6 (also for Etcd3WatchCompacted)


class Etcd3TransportError(Etcd3Exception):
    """No usable answer from an endpoint (the request may not have reached it)."""

    def __init__(self, message: str, endpoint: str = "", cause: Optional[BaseException] = None) -> None:
        self.endpoint = endpoint
        self.cause = cause
        super().__init__("%s: %s" % (endpoint, message) if endpoint else message)


class Etcd3ConnectionError(Etcd3TransportError):
    """The connection was refused, reset or could not be made."""


class Etcd3Timeout(Etcd3TransportError):
    """Connecting or reading timed out."""


class Etcd3TLSError(Etcd3ConnectionError):
    """The TLS handshake or certificate verification failed."""


class Etcd3ProtocolError(Etcd3TransportError):
    """The endpoint answered, but not as an etcd gateway does: a malformed HTTP
    response, a body that is not the JSON object of the RPC, an answer larger than
    the client accepts.  ``seen`` holds the first bytes of what came."""

    def __init__(self, message: str, endpoint: str = "", cause: Optional[BaseException] = None,
                 seen: bytes = b"") -> None:
        self.seen = bytes(seen[:200])
        if self.seen:
            message = "%s; it began %r" % (message, self.seen[:80])
        super().__init__(message, endpoint, cause)


# -- one class per gRPC code -----------------------------------------------------
_CODE_CLASSES: Dict[int, Type[Etcd3APIError]] = {}
for _code, _name in GRPC_CODES.items():
    if _code == 0:
        continue
    _CODE_CLASSES[_code] = type(_name, (Etcd3APIError,), {
        "code": _code, "__module__": __name__,
        "__doc__": "gRPC status %s (%d)." % (_name, _code)})
    globals()[_name] = _CODE_CLASSES[_code]
    __all__.append(_name)

# -- one class per etcd error: (name, gRPC code, etcd's message) -----------------------
_ETCD_ERRORS = [
    ("ErrEmptyKey", 3, "etcdserver: key is not provided"),
    ("ErrKeyNotFound", 3, "etcdserver: key not found"),
    ("ErrValueProvided", 3, "etcdserver: value is provided"),
    ("ErrLeaseProvided", 3, "etcdserver: lease is provided"),
    ("ErrTooManyOps", 3, "etcdserver: too many operations in txn request"),
    ("ErrDuplicateKey", 3, "etcdserver: duplicate key given in txn request"),
    ("ErrInvalidSortOption", 3, "etcdserver: invalid sort option"),
    ("ErrCompacted", 11, "etcdserver: mvcc: required revision has been compacted"),
    ("ErrFutureRev", 11, "etcdserver: mvcc: required revision is a future revision"),
    ("ErrNoSpace", 8, "etcdserver: mvcc: database space exceeded"),
    ("ErrLeaseNotFound", 5, "etcdserver: requested lease not found"),
    ("ErrLeaseExist", 9, "etcdserver: lease already exists"),
    ("ErrLeaseTTLTooLarge", 11, "etcdserver: too large lease TTL"),
    ("ErrWatchCanceled", 1, "etcdserver: watch canceled"),
    ("ErrMemberExist", 9, "etcdserver: member ID already exist"),
    ("ErrPeerURLExist", 9, "etcdserver: Peer URLs already exists"),
    ("ErrMemberNotEnoughStarted", 9, "etcdserver: re-configuration failed due to not enough started members"),
    ("ErrMemberBadURLs", 3, "etcdserver: given member URLs are invalid"),
    ("ErrMemberNotFound", 5, "etcdserver: member not found"),
    ("ErrMemberNotLearner", 9, "etcdserver: can only promote a learner member"),
    ("ErrLearnerNotReady", 9, "etcdserver: can only promote a learner member which is in sync with leader"),
    ("ErrTooManyLearners", 9, "etcdserver: too many learner members in cluster"),
    ("ErrClusterIdMismatch", 9, "etcdserver: cluster ID mismatch"),
    ("ErrRequestTooLarge", 3, "etcdserver: request is too large"),
    ("ErrTooManyRequests", 8, "etcdserver: too many requests"),
    ("ErrRootUserNotExist", 9, "etcdserver: root user does not exist"),
    ("ErrRootRoleNotExist", 9, "etcdserver: root user does not have root role"),
    ("ErrUserAlreadyExist", 9, "etcdserver: user name already exists"),
    ("ErrUserEmpty", 3, "etcdserver: user name is empty"),
    ("ErrUserNotFound", 9, "etcdserver: user name not found"),
    ("ErrRoleAlreadyExist", 9, "etcdserver: role name already exists"),
    ("ErrRoleNotFound", 9, "etcdserver: role name not found"),
    ("ErrRoleEmpty", 3, "etcdserver: role name is empty"),
    ("ErrAuthFailed", 3, "etcdserver: authentication failed, invalid user ID or password"),
    ("ErrPermissionNotGiven", 3, "etcdserver: permission not given"),
    ("ErrPermissionDenied", 7, "etcdserver: permission denied"),
    ("ErrRoleNotGranted", 9, "etcdserver: role is not granted to the user"),
    ("ErrPermissionNotGranted", 9, "etcdserver: permission is not granted to the role"),
    ("ErrAuthNotEnabled", 9, "etcdserver: authentication is not enabled"),
    ("ErrInvalidAuthToken", 16, "etcdserver: invalid auth token"),
    ("ErrInvalidAuthMgmt", 3, "etcdserver: invalid auth management"),
    ("ErrAuthOldRevision", 3, "etcdserver: revision of auth store is old"),
    ("ErrNoLeader", 14, "etcdserver: no leader"),
    ("ErrNotLeader", 9, "etcdserver: not leader"),
    ("ErrLeaderChanged", 14, "etcdserver: leader changed"),
    ("ErrNotCapable", 14, "etcdserver: not capable"),
    ("ErrStopped", 14, "etcdserver: server stopped"),
    ("ErrTimeoutDueToLeaderFail", 14, "etcdserver: request timed out, possibly due to previous leader failure"),
    ("ErrTimeoutDueToConnectionLost", 14, "etcdserver: request timed out, possibly due to connection lost"),
    ("ErrTimeoutWaitAppliedIndex", 14, "etcdserver: request timed out, waiting for the applied index took too long"),
    ("ErrTimeout", 14, "etcdserver: request timed out"),
    ("ErrUnhealthy", 14, "etcdserver: unhealthy cluster"),
    ("ErrCorrupt", 15, "etcdserver: corrupt cluster"),
    ("ErrNotSupportedForLearner", 14, "etcdserver: rpc not supported for learner"),
    ("ErrBadLeaderTransferee", 9, "etcdserver: bad leader transferee"),
    ("ErrWrongDowngradeVersionFormat", 3, "etcdserver: wrong downgrade target version format"),
    ("ErrInvalidDowngradeTargetVersion", 3, "etcdserver: invalid downgrade target version"),
    ("ErrClusterVersionUnavailable", 9, "etcdserver: cluster version not found during downgrade"),
    ("ErrDowngradeInProcess", 9, "etcdserver: cluster has a downgrade job in progress"),
    ("ErrNoInflightDowngrade", 9, "etcdserver: no inflight downgrade job"),
    ("ErrCanceled", 1, "etcdserver: request canceled"),
    ("ErrDeadlineExceeded", 4, "etcdserver: context deadline exceeded"),
    ("ErrElectionNotLeader", 9, "election: not leader"),
    ("ErrElectionNoLeader", 5, "election: no leader"),
    ("ErrSessionExpired", 9, "election: session expired"),
]
_BY_MESSAGE: Dict[str, Type[Etcd3APIError]] = {}
for _name, _code, _message in _ETCD_ERRORS:
    _cls = type(_name, (_CODE_CLASSES[_code],), {
        "etcd_message": _message, "__module__": __name__, "__doc__": "%r (gRPC %s)." % (_message, GRPC_CODES[_code])})
    globals()[_name] = _cls
    _BY_MESSAGE[_message] = _cls
    __all__.append(_name)


class Etcd3WatchCompacted(Etcd3WatchCanceled, globals()["ErrCompacted"]):  # type: ignore[misc]
    """A watch could not go on from its revision: it has been compacted.
    ``compact_revision`` is the oldest revision still available; the events
    between the watch's revision and it are lost and are never skipped silently."""

    code = 11
    etcd_message = "etcdserver: mvcc: required revision has been compacted"


class Etcd3WatchTimeout(Etcd3Exception, TimeoutError):
    """No matching event arrived within the time given to ``watch_once``."""


__all__ += ["Etcd3WatchCompacted", "Etcd3WatchTimeout"]


class ErrUnknownError(Etcd3APIError):
    """An error whose message is none of etcd's known ones (0.1.6's name).  Every
    instance is also of the class of its gRPC code: ``ErrUnknownError(msg, 5, 404)``
    gives an ``ErrUnknownError.NotFound``, which ``except NotFound`` catches too.
    Without a code, the HTTP status decides it, as for bodies that are not JSON."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "ErrUnknownError":
        if cls is ErrUnknownError:
            code = args[1] if len(args) > 1 else kwargs.get("code")
            if code is None:
                status = args[2] if len(args) > 2 else kwargs.get("status", kwargs.get("http_status"))
                code = _HTTP_STATUS_TO_CODE.get(status, 2) if isinstance(status, int) else 2
            cls = _UNKNOWN_CLASSES.get(code, cls)
        return super().__new__(cls, *args, **kwargs)


# ErrUnknownError.NotFound, ErrUnknownError.Unavailable, ... (an unknown message, by gRPC code)
_UNKNOWN_CLASSES: Dict[int, Type[ErrUnknownError]] = {}
for _code, _code_class in _CODE_CLASSES.items():
    _unknown = type("ErrUnknownError", (ErrUnknownError, _code_class), {
        "code": _code, "__module__": __name__, "__qualname__": "ErrUnknownError." + _code_class.__name__,
        "__doc__": "An unknown error message with gRPC code %s (%d)." % (_code_class.__name__, _code)})
    setattr(ErrUnknownError, _code_class.__name__, _unknown)
    _UNKNOWN_CLASSES[_code] = _unknown

# longest first, so "request timed out, possibly ..." wins over "request timed out"
_MESSAGES_LONGEST_FIRST = sorted(_BY_MESSAGE, key=len, reverse=True)


def error_class(message: str, code: Optional[int]) -> Type[Etcd3APIError]:
    """The most specific class for an error message and gRPC code: etcd's error
    whose text the message is (or contains), else ``ErrUnknownError`` of the code."""
    cls = _BY_MESSAGE.get(message)
    if cls is None and message:
        for known in _MESSAGES_LONGEST_FIRST:
            if known in message:
                cls = _BY_MESSAGE[known]
                break
    if cls is not None:
        return cls
    return _UNKNOWN_CLASSES.get(code, ErrUnknownError) if code is not None else ErrUnknownError


def get_client_error(error: Any, code: Optional[int] = None, status: Optional[int] = None,
                     response: Any = None) -> Etcd3APIError:
    """The error (returned, not raised) for etcd's message ``error`` (bytes are
    UTF-8 decoded) as 0.1.6 made it: the class whose text is exactly the message,
    else ``ErrUnknownError`` keeping ``code``."""
    if isinstance(error, (bytes, bytearray)):
        error = bytes(error).decode("utf-8", "replace")
    cls = _BY_MESSAGE.get(error) if isinstance(error, str) else None
    return (cls or ErrUnknownError)(error, code, status, response)


def error_from_response(status: Optional[int], body: Any, stream: bool = False,
                        response: Any = None) -> Etcd3APIError:
    """Map an error answer to an exception.  Accepts the body as bytes, text or
    decoded JSON, in every shape the gateway uses: ``{"error": str, "code"}``
    (3.2-3.3), ``{"error", "code", "message", "details"}`` (3.4-3.5),
    ``{"code", "message", "details"}`` (3.6), and inside streams
    ``{"error": {"grpc_code", "http_code", "message", "http_status"}}`` or
    ``{"error": {"code", "message", "details"}}``."""
    data = body
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            data = json.loads(data) if data.strip() else {}
        except ValueError:
            data = {"message": data.strip()}
    if not isinstance(data, dict):
        data = {"message": str(data)}
    if isinstance(data.get("error"), dict):  # stream error envelope
        stream = True
        data = data["error"]
    code = data.get("code", data.get("grpc_code"))
    message = data.get("message") or (data.get("error") if isinstance(data.get("error"), str) else "") or ""
    status = status or data.get("http_code")
    if not isinstance(code, int):
        code = _HTTP_STATUS_TO_CODE.get(status or 0, 2)
    if not message:
        message = "HTTP %s with no error message" % status if status else "unknown error"
    cls = error_class(message, code)
    if stream and not issubclass(cls, Etcd3StreamError):
        cls = _stream_class(cls)
    if stream:  # a stream class is built as (error, buf, resp)
        return cls(message, code=code, status=status, response=response, details=data.get("details"), body=body)
    return cls(message, code, status, response, details=data.get("details"), body=body)


_STREAM_CLASSES: Dict[type, type] = {}


def _stream_class(cls: Type[Etcd3APIError]) -> Type[Etcd3APIError]:
    """A class that is both ``cls`` and ``Etcd3StreamError`` (made once per class)."""
    made = _STREAM_CLASSES.get(cls)
    if made is None:
        made = _STREAM_CLASSES[cls] = type(cls.__name__, (cls, Etcd3StreamError), {"__module__": __name__})
    return made
