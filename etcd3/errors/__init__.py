"""The exceptions of etcd3.

    Etcd3Exception
    ├── Etcd3APIError                 the server answered with an error
    │   ├── one class per gRPC code   (InvalidArgument, NotFound, Unavailable, ...)
    │   │   └── one class per etcd error, named as etcd's Go ``rpctypes`` names
    │   │       it (ErrKeyNotFound, ErrCompacted, ErrLeaseNotFound, ...)
    │   └── Etcd3StreamError          an error inside a stream (watch, keepalive, ...)
    │       └── Etcd3WatchCanceled    the server canceled a watch (compact_revision)
    ├── Etcd3TransportError           no answer: names the endpoint
    │   ├── Etcd3ConnectionError      refused, reset, DNS
    │   ├── Etcd3Timeout              connect or read timeout
    │   └── Etcd3TLSError             handshake or certificate failure
    ├── UnsupportedServerVersion      server too old for the library
    └── UnsupportedOperation          the RPC is not in the server's version

Every ``Etcd3APIError`` carries ``code`` (gRPC code), ``code_name``,
``http_status``, ``message`` (the server's text) and ``details``.
``Etcd3APIError.from_response`` maps every body shape the gateway uses.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Type

__all__ = [
    "Etcd3Exception", "Etcd3APIError", "Etcd3StreamError", "Etcd3WatchCanceled",
    "Etcd3TransportError", "Etcd3ConnectionError", "Etcd3Timeout", "Etcd3TLSError",
    "UnsupportedServerVersion", "UnsupportedOperation", "GRPC_CODES", "error_from_response",
]

GRPC_CODES = {
    0: "OK", 1: "Canceled", 2: "Unknown", 3: "InvalidArgument", 4: "DeadlineExceeded",
    5: "NotFound", 6: "AlreadyExists", 7: "PermissionDenied", 8: "ResourceExhausted",
    9: "FailedPrecondition", 10: "Aborted", 11: "OutOfRange", 12: "Unimplemented",
    13: "Internal", 14: "Unavailable", 15: "DataLoss", 16: "Unauthenticated",
}
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
    """The server (or its gateway) answered with an error."""

    code: int = 2
    etcd_message: Optional[str] = None  # etcd's text for the per-error classes

    def __init__(self, message: str = "", code: Optional[int] = None, http_status: Optional[int] = None,
                 details: Any = None, body: Any = None) -> None:
        if code is not None:
            self.code = code
        self.message = message or self.etcd_message or ""
        self.http_status = http_status
        self.details = details
        self.body = body
        super().__init__(self.message)

    @property
    def code_name(self) -> str:
        return GRPC_CODES.get(self.code, str(self.code))

    def __str__(self) -> str:
        status = " HTTP %s" % self.http_status if self.http_status else ""
        return "%s (gRPC %s%s)" % (self.message, self.code_name, status)

    @staticmethod
    def from_response(status: Optional[int], body: Any) -> "Etcd3APIError":
        return error_from_response(status, body)


class Etcd3StreamError(Etcd3APIError):
    """An error reported inside a stream."""


class Etcd3WatchCanceled(Etcd3StreamError):
    """The server canceled a watch; ``compact_revision`` is set when the watch
    asked for a revision that has been compacted."""

    code = 1

    def __init__(self, message: str = "", compact_revision: int = 0, watch_id: Optional[int] = None,
                 **kwargs: Any) -> None:
        self.compact_revision = compact_revision
        self.watch_id = watch_id
        super().__init__(message or "watch canceled", **kwargs)


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
# longest first, so "request timed out, possibly ..." wins over "request timed out"
_MESSAGES_LONGEST_FIRST = sorted(_BY_MESSAGE, key=len, reverse=True)


def error_class(message: str, code: Optional[int]) -> Type[Etcd3APIError]:
    """The most specific class for an error message and gRPC code."""
    cls = _BY_MESSAGE.get(message)
    if cls is None and message:
        for known in _MESSAGES_LONGEST_FIRST:
            if known in message:
                cls = _BY_MESSAGE[known]
                break
    if cls is not None:
        return cls
    return _CODE_CLASSES.get(code, Etcd3APIError) if code is not None else Etcd3APIError


def error_from_response(status: Optional[int], body: Any, stream: bool = False) -> Etcd3APIError:
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
    return cls(message, code=code, http_status=status, details=data.get("details"), body=body)


_STREAM_CLASSES: Dict[type, type] = {}


def _stream_class(cls: Type[Etcd3APIError]) -> Type[Etcd3APIError]:
    """A class that is both ``cls`` and ``Etcd3StreamError`` (made once per class)."""
    made = _STREAM_CLASSES.get(cls)
    if made is None:
        made = _STREAM_CLASSES[cls] = type(cls.__name__, (cls, Etcd3StreamError), {"__module__": __name__})
    return made
