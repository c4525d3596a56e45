"""Leases, and keeping them alive: all leases of a client share one keepalive stream.

``KeepaliveSchedule`` is the I/O-free core: when each lease is due (every TTL/3),
what an answer means (no TTL or TTL <= 0: the lease is gone, once), and whether
a lease is jammed (a refresh overdue by more than a quarter of its TTL); several
keepers of one lease share its entry.  ``KeepaliveStream``
drives it over one full-duplex HTTP stream per client (a chunked body of
LeaseKeepAliveRequests) in one thread.  ``Lease`` is 0.1.6's API; its methods
are flows, so they work with the sync and the async client alike, and its
``_thread`` (a ``KeepaliveHandle``) stands for 0.1.6's keepalive thread.
"""
from __future__ import annotations

import heapq
import json
import logging
import numbers
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .._lazy import asyncio
from .. import errors
from ..core import StreamDecoder, unwrap_stream_item
from ..transport import forksafe
from ..transport.duplex import DuplexStream
from ..transport.streams import AioBackgroundStream, BackgroundStream

__all__ = ["Lease", "KeepaliveHandle", "KeepaliveSchedule", "KeepaliveStream", "AioKeepaliveStream",
           "KeepaliveConnection"]

log = logging.getLogger("etcd3.lease")


class _Kept:
    """One lease in a keepalive schedule, and who keeps it (``holders``: token ->
    (keep_cb, cancel_cb)); several keepers of one lease on one client share its refreshes."""

    __slots__ = ("ID", "ttl", "due", "refreshed", "holders")

    def __init__(self, ID: int, ttl: float, now: float, refreshed: Optional[float] = None):
        self.ID, self.ttl = ID, ttl
        # refresh right away unless we know when it was last refreshed
        self.refreshed = now if refreshed is None else refreshed
        self.due = now if refreshed is None else max(now, refreshed + refresh_period(ttl))
        self.holders: Dict[Any, Tuple[Optional[Callable], Optional[Callable]]] = {}


def refresh_period(ttl: float) -> float:
    """How often a lease of ``ttl`` seconds is refreshed."""
    return max(ttl / 3.0, 0.5)


class KeepaliveSchedule:
    """When to refresh which lease, and what the answers mean; I/O-free."""

    def __init__(self) -> None:
        self.leases: Dict[int, _Kept] = {}
        self._heap: List[Tuple[float, int]] = []

    @property
    def active(self) -> bool:
        return bool(self.leases)

    def add(self, ID: int, ttl: float, now: float, keep_cb: Optional[Callable] = None,
            cancel_cb: Optional[Callable] = None, refreshed: Optional[float] = None, holder: Any = None) -> None:
        """Keep a lease for ``holder`` (a token; a lease already kept for another
        holder keeps its timing; the same holder again replaces its callbacks)."""
        kept = self.leases.get(ID)
        if kept is None:
            kept = self.leases[ID] = _Kept(ID, ttl, now, refreshed)
            heapq.heappush(self._heap, (kept.due, ID))
        kept.holders[holder] = (keep_cb, cancel_cb)

    def remove(self, ID: int, holder: Any = None) -> Optional[float]:
        """Stop keeping a lease for ``holder`` (the lease is forgotten with its last
        holder); returns when it was last refreshed, None if it was not kept for him."""
        kept = self.leases.get(ID)
        if kept is None or kept.holders.pop(holder, _ABSENT) is _ABSENT:
            return None
        if not kept.holders:
            del self.leases[ID]
        return kept.refreshed

    def next_due(self) -> Optional[float]:
        while self._heap:
            due, ID = self._heap[0]
            kept = self.leases.get(ID)
            if kept is None or kept.due != due:
                heapq.heappop(self._heap)  # stale entry
                continue
            return due
        return None

    def due(self, now: float) -> List[int]:
        """The leases to refresh now; each is rescheduled (a retry if no answer comes)."""
        ids = []
        while True:
            due = self.next_due()
            if due is None or due > now:
                return ids
            _, ID = heapq.heappop(self._heap)
            kept = self.leases[ID]
            ids.append(ID)
            kept.due = now + refresh_period(kept.ttl)
            heapq.heappush(self._heap, (kept.due, ID))

    def all_now(self, now: float) -> List[int]:
        """Every lease, refreshed now (after a reconnect)."""
        for kept in self.leases.values():
            kept.due = now
            heapq.heappush(self._heap, (now, kept.ID))
        return self.due(now)

    def answered(self, ID: int, ttl: int, now: float) -> List[Tuple[Callable, Any]]:
        """An answer for a lease: returns the callbacks to call (outside any lock)."""
        kept = self.leases.get(ID)
        if kept is None:
            return []
        if ttl <= 0:
            return self.lost(ID)
        kept.ttl, kept.refreshed = ttl, now
        kept.due = now + refresh_period(ttl)
        heapq.heappush(self._heap, (kept.due, ID))
        return [(keep_cb, ttl) for keep_cb, _ in kept.holders.values() if keep_cb is not None]

    def lost(self, ID: int) -> List[Tuple[Callable, Any]]:
        """The lease is gone: stop refreshing it; the cancel callbacks of its holders run once."""
        kept = self.leases.pop(ID, None)
        if kept is None:
            return []
        return [(cancel_cb, None) for _, cancel_cb in kept.holders.values() if cancel_cb is not None]

    def jammed(self, ID: int, now: float) -> bool:
        """Whether a refresh of the lease is overdue by more than a quarter of its TTL
        (the allowance 0.1.6 gave; counted from the start while it was never refreshed)."""
        kept = self.leases.get(ID)
        return kept is not None and now - kept.refreshed > refresh_period(kept.ttl) + kept.ttl / 4.0


_ABSENT = object()


def _call(callback: Tuple[Callable, Any]) -> None:
    cb, arg = callback
    try:
        cb() if arg is None else cb(arg)
    except Exception:  # a failing callback must not stop the keepalives of other leases
        log.exception("lease callback %r failed", cb)


class _KeepaliveOwner:
    """What a keepalive stream does with its schedule, whichever driver runs it."""

    NAME = "keepalive"
    LINGER = 10.0  # seconds the stream stays open with nothing to keep
    _lock: Any

    def add(self, ID: int, ttl: float, keep_cb: Optional[Callable] = None,
            cancel_cb: Optional[Callable] = None, refreshed: Optional[float] = None, holder: Any = None) -> None:
        """Keep a lease alive for ``holder`` (any token: several keepers of one lease
        each get their callbacks); ``refreshed`` (time.monotonic()) when it is known
        to have been granted or refreshed lately, so the first refresh can wait."""
        with self._lock:
            now = time.monotonic()
            self.schedule.add(ID, ttl, now, keep_cb, cancel_cb, refreshed, holder)
            self._ensure_running()
            if self._stream is not None:
                # an open stream may be waiting for answers (one just opened with nothing
                # to send has no head yet and waits for one): what is due goes out now
                self._send([self._line(i) for i in self.schedule.due(now)])
            self._wakeup.set()

    def remove(self, ID: int, holder: Any = None) -> Optional[float]:
        """Stop keeping a lease alive for ``holder``; returns when it was last
        refreshed (monotonic time).  The stream stays open for LINGER seconds with
        nothing to keep, so that locks taken and released in a loop reuse it."""
        with self._lock:
            return self.schedule.remove(ID, holder)

    def jammed(self, ID: int) -> bool:
        with self._lock:
            return self.schedule.jammed(ID, time.monotonic())

    def kept(self, ID: int) -> bool:
        with self._lock:
            return ID in self.schedule.leases

    def _line(self, ID: int) -> bytes:
        return json.dumps(self.op.request.encode({"ID": ID}), separators=(",", ":")).encode() + b"\n"

    def _connection(self) -> "KeepaliveConnection":
        return KeepaliveConnection(self.schedule, self._line, self.op.response.decode_owned, self.client.baseurl,
                                   self.LINGER)

    def _active(self) -> bool:
        return self.schedule.active

    def _first_lines(self) -> List[bytes]:
        return [self._line(i) for i in self.schedule.all_now(time.monotonic())]

    def _end_all(self) -> List[Tuple[Callable, Any]]:
        """The client closes: nothing keeps its leases alive any more; returns the
        cancel callbacks to call (their keepalives end)."""
        return [callback for ID in list(self.schedule.leases) for callback in self.schedule.lost(ID)]

    def _refused(self, error: BaseException) -> None:
        # the server will not keep our leases alive (permission, ...): they are as good as lost
        for ID in list(self.schedule.leases):
            for callback in self.schedule.lost(ID):
                _call(callback)

    def _forget_parents_work(self) -> None:
        # a forked child keeps none of the parent's leases alive (and calls none of their callbacks)
        self.schedule = KeepaliveSchedule()


class KeepaliveStream(_KeepaliveOwner, BackgroundStream):
    """The keepalive stream of one sync client: one thread sends the due
    keepalives and reads the answers, reconnecting after failures."""

    def __init__(self, client: Any) -> None:
        BackgroundStream.__init__(self, client, client.spec.operations["lease_keep_alive"])
        self.schedule = KeepaliveSchedule()

    def close(self) -> None:
        with self._lock:
            callbacks = self._end_all()
        BackgroundStream.close(self)
        for callback in callbacks:
            _call(callback)

    def _pump(self, stream: DuplexStream) -> None:
        connection = self._connection()
        while True:
            with self._lock:
                lines, wait = connection.tick(time.monotonic(), stream.closed)
            if wait is None:
                stream.close()
                return
            stream.send(b"".join(lines))
            data = stream.read(timeout=wait)
            with self._lock:
                callbacks = connection.received(data, time.monotonic(), stream.closed)
            for callback in callbacks:
                _call(callback)


class AioKeepaliveStream(_KeepaliveOwner, AioBackgroundStream):
    """The keepalive stream of one async client, driven by an asyncio task."""

    def __init__(self, client: Any) -> None:
        AioBackgroundStream.__init__(self, client, client.spec.operations["lease_keep_alive"])
        self.schedule = KeepaliveSchedule()

    async def close(self) -> None:
        callbacks = self._end_all()
        await AioBackgroundStream.close(self)
        for callback in callbacks:
            _call(callback)

    async def _pump(self, stream: Any) -> None:
        connection = self._connection()
        while True:
            lines, wait = connection.tick(time.monotonic(), stream.closed)
            if wait is None:
                stream.close()
                return
            stream.send(b"".join(lines))
            data = await stream.read(timeout=wait)
            for callback in connection.received(data, time.monotonic(), stream.closed):
                _call(callback)


class KeepaliveConnection:
    """One keepalive stream's traffic; I/O-free.  ``tick(now)`` gives the lines to
    send and how long to wait for answers (None: the stream has been idle for
    ``linger`` seconds, close it); ``received(data, now)`` gives the callbacks to
    call, and raises when the stream is broken."""

    def __init__(self, schedule: KeepaliveSchedule, line: Callable[[int], bytes], decode: Callable[[Any], Any],
                 endpoint: str, linger: float) -> None:
        self.schedule, self.line, self.decode, self.endpoint, self.linger = schedule, line, decode, endpoint, linger
        self.decoder = StreamDecoder()
        self.idle_since: Optional[float] = None

    def tick(self, now: float, closed: bool = False) -> Tuple[List[bytes], Optional[float]]:
        if self.schedule.active:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = now
        elif now - self.idle_since > self.linger or closed:
            return [], None
        lines = [self.line(ID) for ID in self.schedule.due(now)]
        next_due = self.schedule.next_due()
        wait = 1.0 if next_due is None else min(max(0.01, next_due - now), 1.0)
        return lines, wait

    def received(self, data: Optional[bytes], now: float, closed: bool = False) -> List[Tuple[Callable, Any]]:
        if data is None:
            return []
        if not data:
            if closed and not self.schedule.active:
                return []  # closed on purpose: tick() ends it
            raise errors.Etcd3ConnectionError("keepalive stream ended", self.endpoint)
        callbacks = []
        for item in self.decoder.feed(data):
            answer = self.decode(unwrap_stream_item(item))
            callbacks.extend(self.schedule.answered(answer.ID, answer.TTL, now))
        return callbacks


class KeepaliveHandle:
    """``Lease._thread``: one ``keepalive()`` of a lease, as 0.1.6's keepalive thread
    was seen from outside.  The refreshes travel on the client's shared keepalive
    stream; this says whether this lease's keepalive is still running
    (``is_alive()``) and waits for its end (``join()``), which comes after its
    ``cancel_cb`` ran."""

    daemon = True

    def __init__(self, ID: int, cancel_cb: Optional[Callable[[], Any]] = None,
                 loop: Optional[asyncio.AbstractEventLoop] = None) -> None:
        self.ID = ID
        self._cancel_cb = cancel_cb
        self.name = "etcd3-keepalive-%x" % ID
        self._loop = loop  # the event loop that runs an AioClient's keepalive
        self._ended = threading.Event()
        self._finishing = False
        # held while a callback runs, so keep_cb never runs once cancel_cb began;
        # reentrant: a callback may call cancel_keepalive()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return "<KeepaliveHandle %s %s>" % (self.name, "alive" if self.is_alive() else "ended")

    def is_alive(self) -> bool:
        return not self._ended.is_set()

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait until the keepalive has ended (at most ``timeout`` seconds)."""
        if self._ended.is_set():
            return
        if self._loop is not None and _running_loop() is self._loop:
            raise RuntimeError("join() in the event loop that runs the keepalive would block it for good; "
                               "call cancel_keepalive() first")
        self._ended.wait(timeout)


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _check_callback(name: str, cb: Any) -> None:
    if cb is not None and not callable(cb):
        raise TypeError("%s should be a callable taking no arguments, got %r" % (name, cb))


class Lease:
    """A lease: grant, refresh, revoke, and keep it alive in the background.

    >>> with client.Lease(ttl=10) as lease:    # granted, kept alive, revoked at the end
    ...     client.put('/session', 'alive', lease=lease.ID)

    The background keepalive of every lease of a client travels on the client's
    one keepalive stream (refreshes every TTL/3); ``_thread`` stands for it.
    """

    MIN_TTL = 2  # etcd grants no less (its minimum follows the election timeout)

    def __init__(self, client: Any, ttl: int, ID: int = 0, new: bool = True) -> None:
        """
        :param ttl: the TTL to ask for, in seconds (at least 2)
        :param ID: the ID to ask for (0: the server chooses), or an existing lease's
        :param new: whether to grant a new lease or maintain an existing one by its ID
        """
        if isinstance(ttl, bool) or not isinstance(ttl, numbers.Real):
            raise TypeError("ttl should be a number of seconds, got %r" % (ttl,))
        if isinstance(ID, bool) or not isinstance(ID, int):
            raise TypeError("ID should be an int (0: the server chooses), got %r" % (ID,))
        if not new and not ID:
            raise TypeError("should provide the lease ID if new=False")
        self.client = client
        self.grantedTTL = max(ttl, self.MIN_TTL)
        self._ID = ID
        self.new = new
        self.last_grant: Optional[float] = None  # time.time() of the grant
        self.keeping = False
        self.last_keep: Optional[float] = None  # time.time() of the last background refresh
        self._thread: Optional[KeepaliveHandle] = None
        self._lock = threading.Lock()

    @property
    def ID(self) -> int:
        """The lease's ID (0 until granted, unless one was asked for)."""
        return self._ID

    def __repr__(self) -> str:
        return "<Lease ID=%d ttl=%s>" % (self._ID, self.grantedTTL)

    def __index__(self) -> int:
        """A Lease stands for its ID wherever a lease ID goes: ``put(k, v, lease=lease)``
        (as python-etcd3 and aetcd take it); before it is granted that is an error."""
        if not self._ID:
            raise TypeError("%r is not granted yet: it has no ID to pass as a lease" % self)
        return self._ID

    def _op(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.client._run(self.client._op_flow(name, *args, **kwargs))

    def grant(self) -> Any:
        """``new=True``: grant the lease (with the requested ID, if any); returns the
        LeaseGrantResponse.  ``new=False``: adopt the existing lease; returns its
        LeaseTimeToLiveResponse, or raises ErrLeaseNotFound when it is gone."""
        return self.client._run(self._grant_flow())

    def _grant_flow(self) -> Any:
        if not self.new:
            response = yield from self.client._op_flow("lease_time_to_live", self._ID)
            if response.TTL < 0:  # -1: expired or revoked
                raise errors.ErrLeaseNotFound()
            self.last_grant = time.time() - response.TTL  # 0.1.6's estimate, kept as it was
            return response
        response = yield from self.client._op_flow("lease_grant", self.grantedTTL, self._ID or None)
        self.last_grant = time.time()
        self._ID = response.ID
        return response

    def revoke(self) -> Any:
        """Stop keeping the lease alive, then revoke it (its keys are deleted);
        returns the LeaseRevokeResponse."""
        self.cancel_keepalive(False)
        return self._op("lease_revoke", self._ID)

    def time_to_live(self, keys: bool = False) -> Any:
        """The LeaseTimeToLiveResponse (``TTL`` -1: the lease does not exist; ``keys``
        the attached keys when asked for, None when there are none)."""
        return self._op("lease_time_to_live", self._ID, keys or None)

    def ttl(self) -> Any:
        """Whole seconds left (-1 when the lease is gone, 0 in its last second)."""
        return self.client._run(self._ttl_flow())

    def _ttl_flow(self) -> Any:
        response = yield from self.client._op_flow("lease_time_to_live", self._ID)
        return response.TTL

    def alive(self) -> Any:
        """Whether the lease has time left (``ttl() > 0``)."""
        return self.client._run(self._alive_flow())

    def _alive_flow(self) -> Any:
        ttl = yield from self._ttl_flow()
        return ttl > 0

    def keepalive_once(self) -> Any:
        """Refresh the lease once; returns the LeaseKeepAliveResponse (no ``TTL``: gone)."""
        return self.client.lease_keep_alive_once(self._ID)

    refresh = keepalive_once

    def keepalive(self, keep_cb: Optional[Callable[[], Any]] = None,
                  cancel_cb: Optional[Callable[[], Any]] = None) -> None:
        """Keep the lease alive in the background until ``cancel_keepalive()``,
        ``revoke()`` or the lease is found gone.  ``keep_cb()`` runs after each refresh,
        ``cancel_cb()`` once when the keepalive ends (both without arguments, in the
        keepalive's thread or task or in the caller of ``cancel_keepalive``; their
        exceptions are logged).  With an AioClient call it in the event loop."""
        _check_callback("keep_cb", keep_cb)
        _check_callback("cancel_cb", cancel_cb)
        forksafe.register(self)
        with self._lock:
            if self.keeping:
                raise RuntimeError("already keeping")
            if not self._ID:
                raise ValueError("the lease has no ID yet: grant() it first")
            loop = _running_loop() if asyncio.iscoroutinefunction(self.client._run) else None
            handle = KeepaliveHandle(self._ID, cancel_cb, loop)
            self._thread, self.keeping, self.last_keep = handle, True, None

        def refreshed(ttl: int) -> None:
            with handle._lock:
                if handle._finishing:
                    return
                self.last_keep = time.time()
                if keep_cb is not None:
                    try:
                        keep_cb()
                    except Exception:  # the keepalive goes on
                        log.exception("keep_cb of lease %x failed", handle.ID)

        try:
            self.client._keep_alive(handle.ID, self.grantedTTL, keep_cb=refreshed,
                                    cancel_cb=lambda: self._end_keepalive(handle), holder=handle)
        except BaseException:
            with self._lock:
                self._thread, self.keeping = None, False
            raise

    def _after_fork_in_child(self) -> None:
        # the keepalive runs in the parent and goes on there; in a forked child the lease
        # is not kept alive (keepalive() here would start the child's own).  ``_thread`` reads
        # as 0.1.6's keepalive thread did in a child: not alive, and its callbacks never run
        self._lock = threading.Lock()
        self.keeping = False
        handle = self._thread
        if handle is not None:
            handle._lock, handle._finishing = threading.RLock(), True
            handle._ended = threading.Event()
            handle._ended.set()

    def _end_keepalive(self, handle: KeepaliveHandle) -> None:
        """The keepalive of ``handle`` ends (cancelled, or the lease is gone): once.
        A second caller in another thread waits until ``cancel_cb`` has run."""
        with handle._lock:
            if handle._finishing:
                return
            handle._finishing = True
            with self._lock:
                if self._thread is handle:
                    self.keeping = False
            try:
                if handle._cancel_cb is not None:
                    try:
                        handle._cancel_cb()
                    except Exception:
                        log.exception("cancel_cb of lease %x failed", handle.ID)
            finally:
                handle._ended.set()

    def cancel_keepalive(self, join: bool = True) -> None:
        """Stop keeping the lease alive (it then expires after its TTL); ``cancel_cb``
        has run when this returns.  ``join`` is 0.1.6's: the shared stream leaves
        nothing to wait for."""
        with self._lock:
            handle = self._thread
            self.keeping = False
        if handle is None or handle._ended.is_set():
            return
        self.client._stop_keep_alive(handle.ID, holder=handle)
        self._end_keepalive(handle)

    def jammed(self) -> bool:
        """Whether the background keepalive is late: the last refresh (or, before the
        first, the start) is older than the refresh period plus a quarter of the TTL."""
        handle = self._thread
        if not self.keeping or handle is None:
            return False
        return self.client._keepalive_stream().jammed(handle.ID)

    def __enter__(self) -> "Lease":
        self.grant()
        self.keepalive()
        return self

    def _release_flow(self) -> Any:
        """Revoke on leaving a ``with`` block: a lease already gone needs nothing more."""
        self.cancel_keepalive()
        try:
            yield from self.client._op_flow("lease_revoke", self._ID)
        except errors.ErrLeaseNotFound:
            pass

    def __exit__(self, *args: Any) -> None:
        self.client._run(self._release_flow())

    async def __aenter__(self) -> "Lease":
        await self.grant()
        self.keepalive()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.client._run(self._release_flow())
