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
  bounds everything.

The ordering guard (Go's ``ordering`` package): an answer from another member than
the one that gave the newest revision seen, carrying an older revision, comes from
a lagging member; a repeatable call tries elsewhere instead of handing it back.
"""
from __future__ import annotations

import random
import re
import threading
import time
import warnings
from typing import List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from ..errors import Etcd3ConnectionError, Etcd3TransportError
from ..utils import Etcd3Warning
from .duplex import may_send_elsewhere

__all__ = ["Endpoint", "parse_endpoint", "parse_endpoints", "EndpointSelector", "CallAttempts",
           "ROUND_PAUSE", "MIN_TRY_SECONDS", "StaleAnswer"]

ROUND_PAUSE = 0.025
ROUND_JITTER = 0.10
# a repeatable call splits its time among the members left in a round (a member that
# hangs must leave time for the others), but gives each try at least this much
MIN_TRY_SECONDS = 1.0

_HOST_PORT = re.compile(r"^(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})$")
_REVISION = re.compile(rb'"revision":"?(\d+)')


class Endpoint:
    """One member's gateway: protocol, host and port; ``url`` as the client's ``baseurl``."""

    __slots__ = ("protocol", "host", "port", "url")

    def __init__(self, protocol: str, host: str, port: int) -> None:
        self.protocol, self.host, self.port = protocol, host, port
        shown = "[%s]" % host if ":" in host else host
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


class EndpointSelector:
    """The endpoints of one client and the one in use.  Moving is a compare-and-set on
    the endpoint that failed, so threads that saw one failure move once."""

    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints: List[Endpoint] = list(endpoints)
        self.index = 0
        self._lock = threading.Lock()
        # the ordering guard: the newest revision handed back and who gave it
        self.revision = 0
        self.revision_from: Optional[Endpoint] = None
        self.not_etcd: set = set()  # endpoints that answered 404 (warned once each)

    @property
    def current(self) -> Endpoint:
        return self.endpoints[self.index % len(self.endpoints)]

    @property
    def quorum(self) -> int:
        return len(self.endpoints) // 2 + 1

    def move_from(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint failed: the next one is in use (unless someone moved already)."""
        with self._lock:
            if self.current == endpoint:
                self.index = (self.index + 1) % len(self.endpoints)
            return self.current

    def use(self, endpoint: Endpoint) -> None:
        with self._lock:
            if endpoint in self.endpoints:
                self.index = self.endpoints.index(endpoint)

    def replace(self, endpoints: Sequence[Endpoint]) -> None:
        """A new list (``auto_sync``): the endpoint in use stays in use if it is still there."""
        if not endpoints:
            return
        with self._lock:
            current = self.current
            self.endpoints = list(endpoints)
            self.index = self.endpoints.index(current) if current in self.endpoints else 0

    def attempts(self, repeatable: bool, timeout: Optional[float]) -> "CallAttempts":
        return CallAttempts(self, repeatable, timeout)

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
        self.endpoint = self.selector.move_from(self.endpoint)
        if not may_send_elsewhere(error, self.repeatable):
            return None
        left = self.time_left()
        if left is not None and left <= 0:
            return None
        if self.tries % self.selector.quorum:
            return 0.0
        pause = ROUND_PAUSE * (1 + random.uniform(-ROUND_JITTER, ROUND_JITTER))
        if left is not None and pause >= left:
            return None
        return pause

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
        if self.failures and not may_send_elsewhere(self.failures[-1][1], self.repeatable):
            what = "the request may have reached the server and is not repeatable, so it was not sent again"
        else:
            what = "no member answered within %ss" % self.timeout if self.timeout is not None else \
                "no member answered"
        error = Etcd3ConnectionError("%s (%s)" % (what, tried), "", cause)
        error.endpoints = [e.url for e in self.selector.endpoints]  # type: ignore[attr-defined]
        return error


def _reason(url: str, failure: BaseException) -> str:
    text = str(failure)
    prefix = url + ": "
    return text[len(prefix):] if text.startswith(prefix) else text
