"""Leases, and keeping them alive: all leases of a client share one keepalive stream.

``KeepaliveSchedule`` is the I/O-free core: when each lease is due (every TTL/3),
what an answer means (no TTL or TTL <= 0: the lease is gone, once), and whether
a lease is jammed (not refreshed for longer than its TTL).  ``KeepaliveStream``
drives it over one full-duplex HTTP stream per client (a chunked body of
LeaseKeepAliveRequests) in one thread.  ``Lease`` is the seed's API; its
methods are flows, so they work with the sync and the async client alike.
"""
from __future__ import annotations

import heapq
import json
import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import errors
from ..core import StreamDecoder, unwrap_stream_item
from ..transport.duplex import DuplexStream
from ..transport.streams import AioBackgroundStream, BackgroundStream

__all__ = ["Lease", "KeepaliveSchedule", "KeepaliveStream", "AioKeepaliveStream", "KeepaliveConnection"]

log = logging.getLogger("etcd3.lease")


class _Kept:
    """One lease in a keepalive schedule."""

    __slots__ = ("ID", "ttl", "due", "refreshed", "keep_cb", "cancel_cb", "alive")

    def __init__(self, ID: int, ttl: float, now: float, keep_cb: Optional[Callable], cancel_cb: Optional[Callable],
                 refreshed: Optional[float] = None):
        self.ID, self.ttl = ID, ttl
        # refresh right away unless we know when it was last refreshed
        self.refreshed = now if refreshed is None else refreshed
        self.due = now if refreshed is None else max(now, refreshed + ttl / 3.0)
        self.keep_cb, self.cancel_cb = keep_cb, cancel_cb
        self.alive = True


class KeepaliveSchedule:
    """When to refresh which lease, and what the answers mean; I/O-free."""

    def __init__(self) -> None:
        self.leases: Dict[int, _Kept] = {}
        self._heap: List[Tuple[float, int]] = []

    @property
    def active(self) -> bool:
        return bool(self.leases)

    def add(self, ID: int, ttl: float, now: float, keep_cb: Optional[Callable] = None,
            cancel_cb: Optional[Callable] = None, refreshed: Optional[float] = None) -> None:
        kept = self.leases[ID] = _Kept(ID, ttl, now, keep_cb, cancel_cb, refreshed)
        heapq.heappush(self._heap, (kept.due, ID))

    def remove(self, ID: int) -> Optional[float]:
        """Forget a lease; returns when it was last refreshed."""
        kept = self.leases.pop(ID, None)
        return kept.refreshed if kept is not None else None

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
            kept.due = now + max(kept.ttl / 3.0, 0.5)
            heapq.heappush(self._heap, (kept.due, ID))

    def all_now(self, now: float) -> List[int]:
        """Every lease, refreshed now (after a reconnect)."""
        for kept in self.leases.values():
            kept.due = now
            heapq.heappush(self._heap, (now, kept.ID))
        return self.due(now)

    def answered(self, ID: int, ttl: int, now: float) -> Optional[Tuple[Callable, Any]]:
        """An answer for a lease: returns the callback to call (outside any lock)."""
        kept = self.leases.get(ID)
        if kept is None:
            return None
        if ttl <= 0:
            return self.lost(ID)
        kept.ttl, kept.refreshed = ttl, now
        kept.due = now + max(ttl / 3.0, 0.5)
        heapq.heappush(self._heap, (kept.due, ID))
        return (kept.keep_cb, ttl) if kept.keep_cb else None

    def lost(self, ID: int) -> Optional[Tuple[Callable, Any]]:
        """The lease is gone: stop refreshing it; its cancel callback runs once."""
        kept = self.leases.pop(ID, None)
        if kept is None or not kept.alive:
            return None
        kept.alive = False
        return (kept.cancel_cb, None) if kept.cancel_cb else None

    def jammed(self, ID: int, now: float) -> bool:
        """Whether the lease went unrefreshed for longer than its TTL."""
        kept = self.leases.get(ID)
        return kept is not None and now - kept.refreshed > kept.ttl


def _call(callback: Optional[Tuple[Callable, Any]]) -> None:
    if callback is None:
        return
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
            cancel_cb: Optional[Callable] = None, refreshed: Optional[float] = None) -> None:
        """Keep a lease alive; ``refreshed`` (time.monotonic()) when it is known to
        have been granted or refreshed lately, so the first refresh can wait."""
        with self._lock:
            self.schedule.add(ID, ttl, time.monotonic(), keep_cb, cancel_cb, refreshed)
            self._ensure_running()
            self._wakeup.set()

    def remove(self, ID: int) -> Optional[float]:
        """Stop keeping a lease alive; returns when it was last refreshed (monotonic
        time).  The stream stays open for LINGER seconds with nothing to keep, so
        that locks taken and released in a loop reuse it."""
        with self._lock:
            return self.schedule.remove(ID)

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

    def _refused(self, error: BaseException) -> None:
        # the server will not keep our leases alive (permission, ...): they are as good as lost
        for ID in list(self.schedule.leases):
            _call(self.schedule.lost(ID))


class KeepaliveStream(_KeepaliveOwner, BackgroundStream):
    """The keepalive stream of one sync client: one thread sends the due
    keepalives and reads the answers, reconnecting after failures."""

    def __init__(self, client: Any) -> None:
        BackgroundStream.__init__(self, client, client.spec.operations["lease_keep_alive"])
        self.schedule = KeepaliveSchedule()

    def close(self) -> None:
        with self._lock:
            self.schedule.leases.clear()
        BackgroundStream.close(self)

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
        self.schedule.leases.clear()
        await AioBackgroundStream.close(self)

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
            callback = self.schedule.answered(answer.ID, answer.TTL, now)
            if callback is not None:
                callbacks.append(callback)
        return callbacks


class Lease:
    """A lease: grant, refresh, revoke, and keep it alive in the background.

    >>> with client.Lease(ttl=10) as lease:    # granted, kept alive, revoked at the end
    ...     client.put('/session', 'alive', lease=lease.ID)
    """

    def __init__(self, client: Any, ttl: int, ID: int = 0, new: bool = True) -> None:
        """
        :param ttl: the TTL to ask for, in seconds
        :param ID: the ID to ask for (0: the server chooses), or an existing lease's
        :param new: whether to grant a new lease or maintain an existing one by its ID
        """
        self.client = client
        self._ttl = ttl
        self.ID = ID
        self.new = new
        self.granted_ttl: Optional[int] = None
        self._keeping = False

    def __repr__(self) -> str:
        return "<Lease ID=%d ttl=%s>" % (self.ID, self.granted_ttl or self._ttl)

    def _op(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.client._run(self.client._op_flow(name, *args, **kwargs))

    def grant(self) -> Any:
        """Grant the lease (with the requested ID, if any); returns the LeaseGrantResponse."""
        return self.client._run(self._grant_flow())

    def _grant_flow(self) -> Any:
        response = yield from self.client._op_flow("lease_grant", self._ttl, self.ID or None)
        self.ID, self.granted_ttl = response.ID, response.TTL
        return response

    def revoke(self) -> Any:
        """Revoke the lease (its keys are deleted); stops keeping it alive."""
        self.cancel_keepalive()
        return self._op("lease_revoke", self.ID)

    def time_to_live(self, keys: bool = False) -> Any:
        """The LeaseTimeToLiveResponse (``TTL`` -1: the lease does not exist)."""
        return self._op("lease_time_to_live", self.ID, keys or None)

    def ttl(self) -> Any:
        """Seconds left (-1 when the lease is gone)."""
        return self.client._run(self._ttl_flow())

    def _ttl_flow(self) -> Any:
        response = yield from self.client._op_flow("lease_time_to_live", self.ID)
        return response.TTL

    def alive(self) -> Any:
        """Whether the lease still exists."""
        return self.client._run(self._alive_flow())

    def _alive_flow(self) -> Any:
        ttl = yield from self._ttl_flow()
        return ttl >= 0  # -1: gone; 0: in its last second, still there

    def keepalive_once(self) -> Any:
        """Refresh the lease once; returns the LeaseKeepAliveResponse."""
        return self.client.lease_keep_alive_once(self.ID)

    def keepalive(self, keep_cb: Optional[Callable[[int], Any]] = None,
                  cancel_cb: Optional[Callable[[], Any]] = None) -> None:
        """Keep the lease alive in the background (every TTL/3, on the client's shared
        keepalive stream). ``keep_cb(ttl)`` after each refresh; ``cancel_cb()`` once
        when the lease is found gone."""
        if not self.ID:
            raise ValueError("the lease has no ID yet: grant() it first")
        self.client._keepalive_stream().add(self.ID, self.granted_ttl or self._ttl, keep_cb, cancel_cb)
        self._keeping = True

    def cancel_keepalive(self) -> None:
        """Stop keeping the lease alive (it then expires after its TTL)."""
        if self._keeping:
            self.client._keepalive_stream().remove(self.ID)
            self._keeping = False

    def jammed(self) -> bool:
        """Whether the background keepalive has not refreshed the lease for longer
        than its TTL (it may have expired already)."""
        return self._keeping and self.client._keepalive_stream().jammed(self.ID)

    def __enter__(self) -> "Lease":
        if self.new:
            self.grant()
        self.keepalive()
        return self

    def _release_flow(self) -> Any:
        """Revoke on leaving a ``with`` block: a lease already gone needs nothing more."""
        self.cancel_keepalive()
        try:
            yield from self.client._op_flow("lease_revoke", self.ID)
        except errors.ErrLeaseNotFound:
            pass

    def __exit__(self, *args: Any) -> None:
        self.client._run(self._release_flow())

    async def __aenter__(self) -> "Lease":
        if self.new:
            await self.grant()
        self.keepalive()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.client._run(self._release_flow())
