"""The endpoints of a cluster and the rules of moving between them, without I/O.

Each member's gateway dials only its own gRPC server, so failover happens here,
across the members' URLs.  ``EndpointSelector`` keeps the endpoints and the one
in use (pinned until it fails, as Go's clientv3 keeps one); ``CallAttempts`` is
the retry state of one call, which both drivers (sync and async) run the same way:
send to ``attempts.endpoint``; on a transport failure ask ``attempts.failed()``
for the pause before the next try (None: give up and raise ``attempts.error()``);
on an answer ask ``attempts.answered()`` whether it is one to hand back.

The rules are those of etcd's Go client (clientv3/retry.go):

- a *repeatable* RPC (range, lease grant/revoke/time-to-live/leases, member list,
  alarm, status, hash, hash_kv, snapshot, move_leader, user/role get and list, ...)
  moves to the next member on a connection failure, a timeout, an Unavailable
  answer (HTTP 503, such as "etcdserver: no leader") or a stale answer;
- any other RPC (put, delete_range, txn, compact, member and auth changes) is sent
  again only when it provably never left the client (``duplex.may_send_elsewhere``):
  a write is never applied twice;
- the next member is tried at once; after each round of a quorum of members the
  call pauses ``ROUND_PAUSE`` (25 ms, 10 % jitter); one deadline, the call's timeout,
  bounds everything;
- a member whose certificate failed verification (an unknown CA, expired, another
  host's name), or that refused the client's certificate, is not tried again within
  the call (``certificate_problem``): no retry heals that.  The call moves on to the
  other members, whose certificates may be good, and when every member has failed so
  it raises ``Etcd3TLSError`` at once, naming each member and its certificate problem,
  instead of trying again until the deadline.  gRPC-Go also takes a failed handshake
  for a non-temporary error of that address (its balancer sends the calls to the
  other, ready, addresses); etcd's Go client itself waits out its deadline and
  reports "context deadline exceeded" (etcd issues 9619, 14324).

The ordering guard (Go's ``ordering`` package): an answer from another member than
the one that gave the newest revision seen, carrying an older revision, comes from
a lagging member; a repeatable call tries elsewhere instead of handing it back.

``failover_flow`` is the whole retry loop of one request, written once: a generator
that yields what to do (``(endpoint, request, seconds)``: send that request to that
member within that many seconds; a float: pause that long) and receives the answer
(or has the transport error thrown in).  The sync and async clients each drive it
with a loop of a few lines.

A call with a deadline (the call's or the client's ``timeout``) tells the member
how long it has: ``Grpc-Timeout`` (gRPC's format, ``1500m``), which the gateway
turns into the deadline of its gRPC call, so the server gives up when the client
does (a lock wait, a read waiting for a leader).  The client itself waits
``DEADLINE_GRACE`` longer, so that the server's answer comes first.  Streams never
carry it: the gateway would end the stream at that deadline.

Each member's server version is read on first use (``GET /version``, once per
member): during a rolling upgrade the members may serve different gateway
prefixes (3.3 ``/v3beta``, 3.4+ ``/v3``), and a call moving to a member of another
version is sent under that member's prefix (also a watch or keepalive stream that
reconnects there: ``BaseClient._stream_path``).  The RPC methods and their models
stay those of the spec of the member the client first connected to.
"""
from __future__ import annotations

import json
import random
import re
import ssl
import threading
import time
import warnings
from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from ..core import Request, Response
from ..errors import Etcd3ConnectionError, Etcd3Timeout, Etcd3TLSError, Etcd3TransportError
from ..utils import Etcd3Warning
from .duplex import may_send_elsewhere

__all__ = ["Endpoint", "parse_endpoint", "parse_endpoints", "EndpointSelector", "EndpointList", "CallAttempts",
           "ROUND_PAUSE", "MIN_TRY_SECONDS", "StaleAnswer", "CallTimedOut", "failover_flow", "grpc_timeout",
           "server_deadline", "member_client_urls", "GRPC_TIMEOUT", "DEADLINE_GRACE", "deadline_passed",
           "certificate_problem"]

ROUND_PAUSE = 0.025
ROUND_JITTER = 0.10
# a repeatable call splits its time among the members left in a round (a member that
# hangs must leave time for the others), but gives each try at least this much
MIN_TRY_SECONDS = 1.0

NO_TIMEOUT = float("inf")  # (baseclient's): a try that may wait as long as it takes
GRPC_TIMEOUT = "Grpc-Timeout"
# a request that tells the server its deadline waits this much longer itself, so the
# server's DeadlineExceeded answer comes first (the connection stays usable) and a call
# never ends before its timeout
DEADLINE_GRACE = 0.05
_VERSION_SECONDS = 3.0  # reading a member's version before its first call

_HOST_PORT = re.compile(r"^(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})$")
_REVISION = re.compile(rb'"revision":"?(\d+)')


class Endpoint:
    """One member's gateway: protocol, host and port; ``url`` as the client's ``baseurl``."""

    __slots__ = ("protocol", "host", "port", "url")

    def __init__(self, protocol: str, host: str, port: int) -> None:
        self.protocol, self.host, self.port = protocol, host, port
        shown = "[%s]" % host if ":" in host and not host.startswith("[") else host
        self.url = "%s://%s:%d" % (protocol, shown, port)

    def __repr__(self) -> str:
        return "Endpoint(%r)" % self.url

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Endpoint) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)


def parse_endpoint(text: Union[str, Tuple[str, int]], protocol: str = "http") -> Endpoint:
    """``http(s)://host:port``, ``host:port`` (with ``protocol``) or a (host, port) pair;
    anything else is a ValueError naming it."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        host, port = text
        return _checked(protocol, str(host), port, text)
    if not isinstance(text, str):
        raise ValueError("an endpoint is a URL or 'host:port', got %r" % (text,))
    value = text.strip()
    if "://" in value:
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError("not an endpoint URL: %r" % (text,)) from None
        if parts.scheme not in ("http", "https") or not parts.hostname or port is None \
                or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError("not an endpoint URL (want http(s)://host:port): %r" % (text,))
        return _checked(parts.scheme, parts.hostname, port, text)
    match = _HOST_PORT.match(value)
    if match is None:
        raise ValueError("not an endpoint (want a URL or 'host:port'): %r" % (text,))
    return _checked(protocol, match.group("ip6") or match.group("host"), match.group("port"), text)


def _checked(protocol: str, host: str, port: object, text: object) -> Endpoint:
    try:
        number = int(port)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError("bad port in endpoint %r" % (text,)) from None
    if not 0 < number < 65536:
        raise ValueError("port out of range in endpoint %r" % (text,))
    return Endpoint(protocol, host, number)


def parse_endpoints(items: Union[str, Sequence[Union[str, Tuple[str, int]]]], protocol: str = "http") -> List[Endpoint]:
    """A list of endpoints (a comma-separated string too), without repeats, in order."""
    if isinstance(items, str):
        items = [item for item in items.split(",") if item.strip()]
    endpoints: List[Endpoint] = []
    for item in items:
        endpoint = parse_endpoint(item, protocol)
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    if not endpoints:
        raise ValueError("endpoints is empty")
    return endpoints


class StaleAnswer(Etcd3TransportError):
    """A member answered with a revision older than one already handed back (it lags)."""


class CallTimedOut(Etcd3ConnectionError, Etcd3Timeout):
    """A cluster call that gave up on a timeout (its last try timed out, or its member
    gave up at the deadline it was sent): both no member answering
    (Etcd3ConnectionError) and a timeout (Etcd3Timeout), which code waiting on a lock
    or an election catches."""


class EndpointList(list):
    """``client.endpoints``: the members' URLs, a list of str; ``in_use`` is the one
    the client uses now (``baseurl``)."""

    def __init__(self, urls: Sequence[str], in_use: str) -> None:
        super().__init__(urls)
        self.in_use = in_use

    def __repr__(self) -> str:
        return "[%s]" % ", ".join("%r (in use)" % url if url == self.in_use else repr(url) for url in self)


class EndpointSelector:
    """The endpoints of one client and the one in use.  Moving is a compare-and-set on
    the endpoint that failed, so threads that saw one failure move once.  The list is
    one tuple, swapped whole (``replace``), so a reader never sees half a change."""

    def __init__(self, endpoints: Sequence[Endpoint], sync_interval: Optional[float] = None) -> None:
        self._members: Tuple[Endpoint, ...] = tuple(endpoints)
        self.index = 0
        self._lock = threading.Lock()
        # the ordering guard: the newest revision handed back and who gave it
        self.revision = 0
        self.revision_from: Optional[Endpoint] = None
        self.not_etcd: set = set()  # endpoints that answered 404 (warned once each)
        # each member's server version and gateway prefix (read on first use), and the
        # prefix of the client's spec, which the requests are made with
        self.versions: Dict[str, str] = {}
        self.prefixes: Dict[str, str] = {}
        self.prefix = ""
        self.client_version = ""
        # the Grpc-Timeout headers of the last try: (the headers they extend, 10 ms units, them)
        self.deadline_headers: Tuple[Any, int, Dict[str, str]] = (None, 0, {})
        # auto sync (``auto_sync_interval``): when the member list is due to be read again
        self.sync_interval = sync_interval
        self.sync_at: Optional[float] = None

    @property
    def endpoints(self) -> Tuple[Endpoint, ...]:
        return self._members

    @property
    def current(self) -> Endpoint:
        members = self._members
        return members[self.index % len(members)]

    @property
    def quorum(self) -> int:
        return len(self._members) // 2 + 1

    def move_from(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint failed: the next one is in use (unless someone moved already)."""
        with self._lock:
            if self.current == endpoint:
                self.index = (self.index + 1) % len(self._members)
            return self.current

    def use(self, endpoint: Endpoint) -> None:
        with self._lock:
            if endpoint in self._members:
                self.index = self._members.index(endpoint)

    def replace(self, endpoints: Sequence[Endpoint]) -> bool:
        """A new list (``auto_sync``): the endpoint in use stays in use if it is still
        there.  Whether the list changed."""
        if not endpoints:
            return False
        with self._lock:
            current, members = self.current, tuple(endpoints)
            if members == self._members:
                return False
            index = members.index(current) if current in members else 0
            self._members, self.index = members, index
            return True

    def endpoint_of(self, url: str) -> Endpoint:
        """The member a (pinned) request's URL is on."""
        for endpoint in self._members:
            if url.startswith(endpoint.url + "/"):
                return endpoint
        raise ValueError("%r is not on an endpoint of the client" % url)

    def attempts(self, repeatable: bool, timeout: Optional[float]) -> "CallAttempts":
        return CallAttempts(self, repeatable, timeout)

    # -- auto sync: the drivers ask ``sync_due()`` before a call ---------------------------------
    def schedule_sync(self) -> None:
        """Start (or go on) syncing: the next sync is one interval from now."""
        if self.sync_interval is not None:
            self.sync_at = time.monotonic() + self.sync_interval

    def sync_due(self) -> bool:
        """Whether the member list should be read now; claims the sync (the next is one
        interval later), so one call among many threads does it."""
        sync_at = self.sync_at
        if sync_at is None or time.monotonic() < sync_at:
            return False
        with self._lock:
            if self.sync_at != sync_at:
                return False  # another thread claimed it
            self.schedule_sync()
            return True

    # -- the version of each member ---------------------------------------------------------------
    def record_version(self, endpoint: Endpoint, version: str) -> None:
        self.versions[endpoint.url] = version
        self.prefixes[endpoint.url] = self.prefix if version == self.client_version else _gateway_prefix(version)

    def path_on(self, url: str, path: str) -> str:
        """``path`` (made under the client's prefix) as the member at ``url`` serves it:
        under that member's own gateway prefix, when its version is known and differs."""
        prefix = self.prefixes.get(url) or self.prefix
        if prefix != self.prefix and path.startswith(self.prefix + "/"):
            return prefix + path[len(self.prefix):]
        return path

    def check_order(self, endpoint: Endpoint, body: bytes) -> Optional[str]:
        """The ordering guard on a 200 answer's body: why it is stale, or None (then its
        revision is recorded)."""
        match = _REVISION.search(body, 0, 300)
        if match is None:
            return None
        revision = int(match.group(1))
        if revision >= self.revision:
            self.revision, self.revision_from = revision, endpoint
            return None
        if endpoint == self.revision_from:
            return None  # one member's answers to concurrent calls may cross: not a lag
        return "answered revision %d, older than revision %d already seen from %s" % (
            revision, self.revision, self.revision_from.url if self.revision_from else "?")


def _gateway_prefix(version: str) -> str:
    """The gateway prefix a server of ``version`` serves: its spec's (``/v3beta`` for
    3.3, ``/v3`` for 3.4 and later)."""
    from ..spec import bundle_for_server

    try:
        return bundle_for_server(version, warn=False).prefix
    except Exception:  # noqa: BLE001 - an unknown version: the client's own prefix applies
        return ""


def member_client_urls(members: Any) -> List[str]:
    """The client URLs of a ``member_list`` answer's members, as Go's ``Sync`` takes
    them: learners (3.4+) and members without a name (added, never started) left out."""
    urls: List[str] = []
    for member in members or ():
        if not member.name or getattr(member, "isLearner", False):
            continue
        for url in member.clientURLs or ():
            if url not in urls:
                urls.append(url)
    return urls


class CallAttempts:
    """The retry state of one call across the members (see the module's docstring)."""

    def __init__(self, selector: EndpointSelector, repeatable: bool, timeout: Optional[float]) -> None:
        self.selector = selector
        self.repeatable = repeatable
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.endpoint = selector.current
        self.tries = 0
        self.failures: List[Tuple[Endpoint, BaseException]] = []
        # the members whose certificate failed (or that refused the client's): not tried again
        self.certificate_failed: set = set()

    def time_left(self) -> Optional[float]:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def try_timeout(self) -> Optional[float]:
        """How long this try may take: a repeatable call leaves time for the other members."""
        left = self.time_left()
        if left is None or not self.repeatable:
            return left
        members = len(self.selector.endpoints)
        if members < 2:
            return left
        in_round = members - self.tries % members
        return max(left / in_round, min(left, MIN_TRY_SECONDS))

    def failed(self, error: BaseException) -> Optional[float]:
        """A try failed with a transport ``error`` (or a stale or Unavailable answer):
        the seconds to pause before the next try on ``self.endpoint``, or None: give up."""
        self.failures.append((self.endpoint, error))
        self.tries += 1
        if certificate_problem(error) is not None:
            self.certificate_failed.add(self.endpoint)
        self.endpoint = self.selector.move_from(self.endpoint)
        if not may_send_elsewhere(error, self.repeatable):
            return None
        if self.certificate_failed and not self._skip_certificate_failures():
            return None  # every member failed on its certificate
        left = self.time_left()
        if left is not None and left <= 0:
            return None
        if self.tries % self.selector.quorum:
            return 0.0
        pause = ROUND_PAUSE * (1 + random.uniform(-ROUND_JITTER, ROUND_JITTER))
        if left is not None and pause >= left:
            return None
        return pause

    def _skip_certificate_failures(self) -> bool:
        """Move ``self.endpoint`` past the members whose certificate failed; False when
        no other member is left."""
        members = self.selector.endpoints
        left = [member for member in members if member not in self.certificate_failed]
        if not left:
            return False
        if self.endpoint in self.certificate_failed:
            start = members.index(self.endpoint) if self.endpoint in members else 0
            after = members[start + 1:] + members[:start + 1]  # the members in turn after it
            self.endpoint = next(member for member in after if member not in self.certificate_failed)
        return True

    def answered(self, status: int, body: bytes) -> Optional[BaseException]:
        """An answer of ``self.endpoint``: None to hand it back, or the reason to try
        elsewhere (pass it to ``failed``)."""
        if status == 200:
            reason = self.selector.check_order(self.endpoint, body)
            if reason is not None and self.repeatable:
                return StaleAnswer(reason, self.endpoint.url)
            return None
        if status == 503 and self.repeatable:  # gRPC Unavailable: no leader, stopping, ...
            return Etcd3ConnectionError("unavailable: %s" % body[:200].decode("utf-8", "replace"),
                                        self.endpoint.url)
        if status == 504 and deadline_passed(status, body):
            # the member gave up at the try's Grpc-Timeout (a read waiting for a leader, a
            # write for its proposal): as if the client had timed out
            return Etcd3Timeout("gave up at the deadline the client gave it (Grpc-Timeout): %s"
                                % body[:200].decode("utf-8", "replace"), self.endpoint.url)
        if status == 404 and self.repeatable and self.endpoint not in self.selector.not_etcd:
            # a member that answers but is not etcd's gateway (a proxy, a wrong port): skipped
            self.selector.not_etcd.add(self.endpoint)
            warnings.warn("%s answered 404: not an etcd gateway? trying the other endpoints" % self.endpoint.url,
                          Etcd3Warning, stacklevel=2)
            return Etcd3ConnectionError("not found (404): not an etcd gateway?", self.endpoint.url)
        return None

    def error(self) -> Etcd3ConnectionError:
        """The error of a call that gave up, naming every endpoint and what it did."""
        last: dict = {}
        for endpoint, failure in self.failures:
            last[endpoint.url] = failure
        tried = "; ".join("%s: %s" % (url, _reason(url, failure)) for url, failure in last.items())
        untried = [e.url for e in self.selector.endpoints if e.url not in last]
        if untried:
            tried += "; not tried: %s" % ", ".join(untried)
        cause = self.failures[-1][1] if self.failures else None
        kind = CallTimedOut if isinstance(cause, Etcd3Timeout) else Etcd3ConnectionError
        if self.certificate_failed and all(e in self.certificate_failed for e in self.selector.endpoints):
            what = "TLS failed on the certificate of every member, which trying again cannot heal"
            kind = Etcd3TLSError
        elif self.failures and not may_send_elsewhere(self.failures[-1][1], self.repeatable):
            what = "the request may have reached the server and is not repeatable, so it was not sent again"
        else:
            what = "no member answered within %ss" % self.timeout if self.timeout is not None else \
                "no member answered"
        error = kind("%s (%s)" % (what, tried), "", cause)
        error.endpoints = [e.url for e in self.selector.endpoints]  # type: ignore[attr-defined]
        return error


# the alerts of a server that refused the client's certificate (or wanted one): OpenSSL's
# reasons, as TLS 1.2 and 1.3 name them
_REFUSED_CERTIFICATE = re.compile(r"ALERT_(BAD_CERTIFICATE|CERTIFICATE_\w+|UNSUPPORTED_CERTIFICATE|UNKNOWN_CA)")


def certificate_problem(error: BaseException) -> Optional[str]:
    """The certificate problem behind a TLS failure, which trying again cannot heal: the
    member's certificate failed verification (an unknown CA, expired, another host's
    name) or the member refused the client's certificate.  None for any other failure
    (a handshake cut short may be a member restarting).  The ssl error is looked for
    in the causes the transports chain (requests, urllib3 and aiohttp wrap it)."""
    if not isinstance(error, Etcd3TLSError):
        return None
    seen: set = set()
    pending: List[Any] = [error]
    while pending:
        inner = pending.pop()
        if not isinstance(inner, BaseException) or id(inner) in seen:
            continue
        seen.add(id(inner))
        if isinstance(inner, ssl.SSLCertVerificationError):
            return str(inner.verify_message or inner)
        if isinstance(inner, ssl.SSLError):
            reason = str(getattr(inner, "reason", None) or inner)  # (made in Python: no reason)
            if _REFUSED_CERTIFICATE.search(reason):
                return "the member refused the client's certificate (%s)" % reason
        pending.extend(getattr(inner, name, None) for name in
                       ("cause", "reason", "certificate_error", "os_error", "__cause__", "__context__"))
        pending.extend(inner.args)
    return None


def _reason(url: str, failure: BaseException) -> str:
    text = str(failure)
    prefix = url + ": "
    return text[len(prefix):] if text.startswith(prefix) else text


def server_deadline(seconds: float) -> str:
    """The ``Grpc-Timeout`` of a request the client waits ``seconds`` for: a little less
    (``DEADLINE_GRACE``; half of a shorter wait), so that the server's DeadlineExceeded
    answer arrives before the client's own timeout would cut the connection."""
    return grpc_timeout(seconds - min(DEADLINE_GRACE, seconds / 2))


def grpc_timeout(seconds: float) -> str:
    """``seconds`` as a ``Grpc-Timeout`` value: whole milliseconds (``1500m``), at least
    one ("0m" would mean no deadline to the gateway), in gRPC's at most 8 digits."""
    millis = int(seconds * 1000)
    if millis < 1:
        return "1m"
    if millis < 100000000:
        return "%dm" % millis
    return "%dS" % min(int(seconds), 99999999)


def deadline_passed(status: int, body: bytes) -> bool:
    """Whether an answer is the gateway's DeadlineExceeded (HTTP 504, gRPC code 4): the
    deadline of the call's ``Grpc-Timeout`` passed.  Its message varies: "context
    deadline exceeded", or "stream terminated by RST_STREAM with error code: CANCEL"
    (3.5, a proposal cut off at the deadline)."""
    if status != 504:
        return False
    try:
        data = json.loads(body.decode("utf-8", "replace")) if body else {}
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("code") == 4


# what failover_flow yields: a try (the member, the request for it, seconds it may
# take; inf: no limit) or a pause (seconds)
Try = Tuple[Endpoint, Request, float]
FailoverFlow = Generator[Union[Try, float], Response, Response]


def failover_flow(selector: EndpointSelector, request: Request, seconds: float,
                  follow: Callable[[Endpoint], None], deadline_header: bool) -> FailoverFlow:
    """The retry loop of one request of a cluster client, without I/O (see the module's
    docstring).  ``seconds``: the call's whole time (inf: none); ``follow(endpoint)``
    makes an endpoint the client's one in use; ``deadline_header``: the call has a
    deadline of its own (the caller's or the client's timeout), told to each member
    as ``Grpc-Timeout``.  Returns the answer to hand back; raises the transport error
    (naming every endpoint) of a call that gave up."""
    path = _path_of(request.url)
    rpc_prefix = selector.prefix + "/" if selector.prefix else None  # (None: not connected yet)
    if request.pinned:  # for that member only (endpoint_status)
        endpoint = selector.endpoint_of(request.url)
        if rpc_prefix is not None and endpoint.url not in selector.prefixes and path.startswith(rpc_prefix):
            yield from _read_version(selector, endpoint, request, seconds)
        response = yield endpoint, _request_for(selector, request, endpoint, path, None, False), seconds
        if path == "/version" and response.status == 200:
            _record_version(selector, endpoint, response)
        return response
    attempts = CallAttempts(selector, request.idempotent, None if seconds == NO_TIMEOUT else seconds)
    while True:
        endpoint = attempts.endpoint
        follow(endpoint)
        try:
            if rpc_prefix is not None and endpoint.url not in selector.prefixes and path.startswith(rpc_prefix):
                yield from _read_version(selector, endpoint, request, attempts.try_timeout())
            budget = attempts.try_timeout()
            if budget is not None and budget <= 0:
                raise Etcd3Timeout("no time left", endpoint.url)
            response = yield endpoint, _request_for(selector, request, endpoint, path, budget, deadline_header), \
                NO_TIMEOUT if budget is None else budget
        except Etcd3TransportError as error:
            pause = attempts.failed(error)
            if pause is None:
                follow(attempts.endpoint)
                raise attempts.error() from error
        else:
            if path == "/version" and response.status == 200:
                _record_version(selector, endpoint, response)
            reason = None if request.stream else attempts.answered(response.status, response.body)
            if reason is None:
                return response
            pause = attempts.failed(reason)
            if pause is None:
                follow(attempts.endpoint)
                if isinstance(reason, (StaleAnswer, Etcd3Timeout)):
                    raise attempts.error() from reason
                return response  # Unavailable as the member said it (ErrNoLeader, ...)
        if pause:
            yield pause


def _request_for(selector: EndpointSelector, request: Request, endpoint: Endpoint, path: str,
                 budget: Optional[float], deadline_header: bool) -> Request:
    """The request as sent to ``endpoint``: its URL there (under that member's gateway
    prefix), and the try's own deadline as ``Grpc-Timeout``."""
    url = endpoint.url + selector.path_on(endpoint.url, path)
    headers = request.headers
    if deadline_header and budget is not None and not request.stream:
        headers = _with_deadline(selector, headers, budget)
    elif url == request.url:
        return request  # the steady path: nothing to change
    return Request(request.method, url, headers, request.body, stream=request.stream, timeout=request.timeout,
                   idempotent=request.idempotent, raw=request.raw, pinned=True)


def _with_deadline(selector: EndpointSelector, headers: Dict[str, str], budget: float) -> Dict[str, str]:
    """``headers`` and the try's ``Grpc-Timeout``, to 10 ms: the last one the client made
    is used again when it fits (calls in a row share the client's headers and budget)."""
    tens = int(budget * 100)
    made_for, made_tens, made = selector.deadline_headers
    if made_for is headers and made_tens == tens:
        return made
    made = dict(headers)
    made[GRPC_TIMEOUT] = server_deadline(tens / 100.0)
    selector.deadline_headers = (headers, tens, made)  # (one tuple: threads see all or none)
    return made


def _read_version(selector: EndpointSelector, endpoint: Endpoint, request: Request,
                  budget: Optional[float]) -> Generator[Try, Response, None]:
    """Read a member's version before its first call.  A failure here is the try's
    (the call itself was not sent: a write may still go elsewhere)."""
    headers = {k: v for k, v in request.headers.items() if k in ("User-Agent", "Authorization")}
    seconds = _VERSION_SECONDS if budget is None else min(budget, _VERSION_SECONDS)
    probe = Request("GET", endpoint.url + "/version", headers, timeout=seconds, idempotent=True, pinned=True)
    try:
        response = yield endpoint, probe, seconds
    except Etcd3TransportError as error:
        error.unsent = True  # type: ignore[attr-defined]  # (may_send_elsewhere)
        raise
    if response.status == 200:
        _record_version(selector, endpoint, response)
    else:
        selector.prefixes[endpoint.url] = ""  # not known: the client's prefix; not asked again


def _record_version(selector: EndpointSelector, endpoint: Endpoint, response: Response) -> None:
    try:
        version = response.json().get("etcdserver")
    except Etcd3TransportError:
        version = None
    if isinstance(version, str) and version:
        selector.record_version(endpoint, version)


def _path_of(url: str) -> str:
    scheme = url.find("://")
    slash = url.find("/", scheme + 3) if scheme >= 0 else 0
    return url[slash:] if slash >= 0 else "/"
