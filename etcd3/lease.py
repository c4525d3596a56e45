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

from . import errors
from .core import StreamDecoder, unwrap_stream_item
from .duplex import DuplexStream
from .streams import BackgroundStream

__all__ = ["Lease", "KeepaliveSchedule", "KeepaliveStream"]

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

    def remove(self, ID: int) -> None:
        self.leases.pop(ID, None)

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


class KeepaliveStream(BackgroundStream):
    """The keepalive stream of one sync client: one thread sends the due
    keepalives and reads the answers, reconnecting after failures."""

    NAME = "keepalive"
    LINGER = 10.0  # seconds the stream stays open with nothing to keep

    def __init__(self, client: Any) -> None:
        super().__init__(client, client.spec.operations["lease_keep_alive"])
        self.schedule = KeepaliveSchedule()

    def add(self, ID: int, ttl: float, keep_cb: Optional[Callable] = None,
            cancel_cb: Optional[Callable] = None, refreshed: Optional[float] = None) -> None:
        """Keep a lease alive; ``refreshed`` (time.monotonic()) when it is known to
        have been granted or refreshed lately, so the first refresh can wait."""
        with self._lock:
            self.schedule.add(ID, ttl, time.monotonic(), keep_cb, cancel_cb, refreshed)
            self._ensure_thread()
            self._wakeup.set()

    def remove(self, ID: int) -> None:
        """Stop keeping a lease alive.  The stream stays open for LINGER seconds with
        nothing to keep, so that locks taken and released in a loop reuse it."""
        with self._lock:
            self.schedule.remove(ID)

    def jammed(self, ID: int) -> bool:
        with self._lock:
            return self.schedule.jammed(ID, time.monotonic())

    def kept(self, ID: int) -> bool:
        with self._lock:
            return ID in self.schedule.leases

    def close(self) -> None:
        with self._lock:
            self.schedule.leases.clear()
        super().close()

    def _line(self, ID: int) -> bytes:
        return json.dumps(self.op.request.encode({"ID": ID}), separators=(",", ":")).encode() + b"\n"

    def _active(self) -> bool:
        return self.schedule.active

    def _first_lines(self) -> List[bytes]:
        return [self._line(i) for i in self.schedule.all_now(time.monotonic())]

    def _refused(self, error: BaseException) -> None:
        # the server will not keep our leases alive (permission, ...): they are as good as lost
        for ID in list(self.schedule.leases):
            _call(self.schedule.lost(ID))

    def _pump(self, stream: DuplexStream) -> None:
        decoder = StreamDecoder()
        decode = self.op.response.decode
        idle_since = None
        while True:
            with self._lock:
                now = time.monotonic()
                if self.schedule.active:
                    idle_since = None
                elif idle_since is None:
                    idle_since = now
                elif now - idle_since > self.LINGER or stream.closed:
                    stream.close()
                    return
                due_ids = self.schedule.due(now)
                next_due = self.schedule.next_due()
            if due_ids:
                stream.send(b"".join(self._line(i) for i in due_ids))
            wait = None if next_due is None else max(0.0, next_due - time.monotonic())
            data = stream.read(timeout=min(wait, 1.0) if wait is not None else 1.0)
            if data is None:
                continue
            if not data:
                if stream.closed and not self.schedule.active:
                    return
                raise errors.Etcd3ConnectionError("keepalive stream ended", self.client.baseurl)
            for item in decoder.feed(data):
                try:
                    answer = decode(unwrap_stream_item(item))
                except errors.Etcd3APIError as e:
                    if isinstance(e, errors.ErrLeaseNotFound):
                        # the server names no lease: find out which are gone with a plain request each
                        self._check_all()
                        continue
                    raise
                with self._lock:
                    callback = self.schedule.answered(answer.ID, answer.TTL, time.monotonic())
                _call(callback)

    def _check_all(self) -> None:
        with self._lock:
            ids = list(self.schedule.leases)
        for ID in ids:
            try:
                ttl = self.client.lease_time_to_live(ID).TTL
            except errors.Etcd3APIError:
                ttl = -1
            if ttl <= 0:
                with self._lock:
                    callback = self.schedule.lost(ID)
                _call(callback)


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
        return ttl > 0

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

    def __exit__(self, *args: Any) -> None:
        self.revoke()
