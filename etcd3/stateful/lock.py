"""Distributed locks on etcd's lock service (v3lock).

The server's Lock RPC is fair: each waiter's key is queued by its create
revision and watches only its predecessor (no thundering herd), and it blocks
until the lock is ours.  Each ``Lock`` object owns one lease of ``lock_ttl``
seconds, kept alive while the lock is held, so a crashed holder frees the
lock once its lease expires.  An acquire + release cycle is two requests.

Every method is a flow, so the same code serves the sync and the async client.
"""
from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from typing import Any, Optional

from .. import errors
from ..errors import Etcd3Exception
from ..utils import prefix_range_end

__all__ = ["Lock", "EtcdLockError", "EtcdLockAcquireTimeout"]

REENTRANT_MODES = (None, "host", "process", "thread")


class EtcdLockError(Etcd3Exception):
    """Using a lock wrongly (releasing a lock not held, ...)."""


class EtcdLockAcquireTimeout(EtcdLockError, TimeoutError):
    """The lock was not acquired within the timeout."""


def _identity(mode: Optional[str]) -> str:
    if mode is None:
        return ""
    parts = [socket.gethostname()]
    if mode in ("process", "thread"):
        parts.append(str(os.getpid()))
    if mode == "thread":
        parts.append(str(threading.get_ident()))
        try:  # in async code the task is the unit of execution, not the loop's thread
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        if task is not None:
            parts.append("task-%x" % id(task))
    return ":".join(parts)


class Lock:
    """A named lock.

    >>> with client.Lock('deploy', lock_ttl=30) as lock:
    ...     lock.fencing_token      # grows with every new holder
    """

    def __init__(self, client: Any, lock_name: str, lock_ttl: int = 60, reentrant: Optional[str] = None,
                 lock_prefix: str = "_locks") -> None:
        if reentrant not in REENTRANT_MODES:
            raise ValueError("reentrant must be one of %s, got %r" % (REENTRANT_MODES, reentrant))
        if not isinstance(lock_ttl, int) or isinstance(lock_ttl, bool) or lock_ttl < 1:
            raise ValueError("lock_ttl must be a whole number of seconds >= 1, got %r" % (lock_ttl,))
        self.client = client
        self.lock_name = lock_name
        self.lock_ttl = lock_ttl
        self.reentrant = reentrant
        self.lock_prefix = lock_prefix
        self.name = "%s/%s" % (lock_prefix.rstrip("/"), lock_name) if lock_prefix else lock_name
        self.key: Optional[bytes] = None  # the holder key while the lock is ours
        self.revision = 0  # the store revision at which we got it: grows with each holder
        self._count = 0  # re-entries
        self._borrowed = False  # held through another holder of the same identity
        self._lease_id = 0
        self._lease_ttl = 0
        self._lease_checked = 0.0
        self._fencing_token = 0

    def __repr__(self) -> str:
        return "<Lock %r %s>" % (self.name, "held (key %r)" % self.key if self.is_acquired else "free")

    @property
    def is_acquired(self) -> bool:
        """Whether this object holds the lock (False once its lease was found gone)."""
        return self._count > 0 and not self._lost

    _lost = False

    def _on_lease_lost(self) -> None:
        self._lost = True
        self._lease_id = 0

    # -- the lease ------------------------------------------------------------------------------
    def _lease_flow(self, lock_ttl: Optional[int]) -> Any:
        """A lease of ours that will live at least a while: reuse, refresh or grant."""
        ttl = lock_ttl or self.lock_ttl
        if self._lease_id and ttl == self._lease_ttl:
            # our lease is refreshed in the background only while we hold the lock
            if time.monotonic() - self._lease_checked < ttl / 3.0:
                return self._lease_id
            answer = yield from self.client._op_flow("lease_time_to_live", self._lease_id)
            if answer.TTL > ttl / 3.0:
                self._lease_checked = time.monotonic() - (ttl - answer.TTL)
                return self._lease_id
        granted = yield from self.client._op_flow("lease_grant", ttl)
        self._lease_id, self._lease_ttl, self._lease_checked = granted.ID, ttl, time.monotonic()
        return self._lease_id

    # -- acquire / release ---------------------------------------------------------------------------
    def acquire(self, block: bool = True, lock_ttl: Optional[int] = None, timeout: Optional[float] = None) -> Any:
        """Acquire the lock; True once held.  ``block=False`` returns False at once
        when someone else holds it; ``timeout`` raises EtcdLockAcquireTimeout.
        ``lock_ttl`` overrides the TTL of the lease behind the lock."""
        return self.client._run(self._acquire_flow(block, lock_ttl, timeout))

    def _acquire_flow(self, block: bool, lock_ttl: Optional[int], timeout: Optional[float]) -> Any:
        if self._count:
            if self.reentrant is None:
                raise EtcdLockError("%r is already held by this Lock object (not reentrant)" % self.name)
            self._count += 1
            return True
        if self.reentrant is not None:
            holder = yield from self._holder_flow()
            if holder is not None and holder.value == _identity(self.reentrant).encode():
                self.key, self.revision, self._count, self._borrowed = holder.key, holder.mod_revision, 1, True
                self._fencing_token = holder.create_revision
                return True
        lease = yield from self._lease_flow(lock_ttl)
        # keep the lease alive from now on: a waiter whose lease expired would be told
        # it holds a lock whose key is already gone
        self._lost = False
        self.client._keep_alive(lease, self._lease_ttl, self._lease_checked, self._on_lease_lost)
        try:
            if not block:
                acquired = yield from self._try_flow(lease)
                if not acquired:
                    self.client._stop_keep_alive(lease)
                    return False
            else:
                try:
                    answer = yield from self.client._op_flow_with_timeout("lock", timeout, self.name, lease)
                except errors.Etcd3Timeout:
                    # the server drops our place in line once it sees the connection gone;
                    # make sure of it, so that nobody waits behind a key nobody holds
                    yield from self.client._op_flow("delete_range", ("%s/%x" % (self.name, lease)).encode())
                    raise EtcdLockAcquireTimeout("%r not acquired within %ss" % (self.name, timeout)) from None
                self.key, self.revision = answer.key, answer.header.revision
        except BaseException:
            self.client._stop_keep_alive(lease)
            raise
        self._count, self._borrowed, self._fencing_token = 1, False, 0
        if self.reentrant is not None:
            yield from self.client._op_flow("put", self.key, _identity(self.reentrant), ignore_lease=True)
        return True

    def _try_flow(self, lease: int) -> Any:
        """Take the lock only if it is free: queue our key the way the lock service
        does (``name/<lease hex>``), keep it if it is first in line, else withdraw."""
        key = ("%s/%x" % (self.name, lease)).encode()
        prefix = self.name.encode() + b"/"
        answer = yield from self.client._op_flow(
            "txn", compare=[{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
            success=[{"request_put": {"key": key, "value": b"", "lease": lease}}],
            failure=[])
        line = yield from self.client._op_flow(
            "range", prefix, prefix_range_end(prefix), limit=1, sort_order="ASCEND", sort_target="CREATE")
        if not line.kvs or line.kvs[0].key != key:
            if answer.succeeded:
                yield from self.client._op_flow("delete_range", key)
            return False
        self.key, self.revision = key, line.header.revision
        return True

    def release(self) -> Any:
        """Release the lock (a re-entered lock once per acquire)."""
        return self.client._run(self._release_flow())

    def _release_flow(self) -> Any:
        if not self._count:
            raise EtcdLockError("%r is not held by this Lock object" % self.name)
        self._count -= 1
        if self._count:
            return True
        key, borrowed = self.key, self._borrowed
        self.key, self._borrowed = None, False
        if not borrowed:
            refreshed = self.client._stop_keep_alive(self._lease_id)
            if refreshed is not None:  # when the lease was really last refreshed, not now
                self._lease_checked = refreshed
            yield from self.client._op_flow("unlock", key)
        return True

    def _holder_flow(self) -> Any:
        prefix = self.name.encode() + b"/"
        line = yield from self.client._op_flow(
            "range", prefix, prefix_range_end(prefix), limit=1, sort_order="ASCEND", sort_target="CREATE")
        return line.kvs[0] if line.kvs else None

    def holders(self) -> Any:
        """How many hold or wait for the lock (the keys queued under its name)."""
        return self.client._run(self._holders_flow())

    def _holders_flow(self) -> Any:
        prefix = self.name.encode() + b"/"
        answer = yield from self.client._op_flow("range", prefix, prefix_range_end(prefix), count_only=True)
        return answer.count

    def holder(self) -> Any:
        """The KeyValue of the current holder's key, or None when the lock is free."""
        return self.client._run(self._holder_flow())

    @property
    def fencing_token(self) -> Any:
        """The create revision of our holder key: larger for every later holder, so a
        store can refuse writes from an older holder (e.g. a txn compare on it)."""
        if not self._count:
            raise EtcdLockError("%r is not held" % self.name)
        if self._fencing_token:
            return self._fencing_token
        return self.client._run(self._fencing_flow())

    def _fencing_flow(self) -> Any:
        answer = yield from self.client._op_flow("range", self.key)
        self._fencing_token = answer.kvs[0].create_revision if answer.kvs else 0
        return self._fencing_token

    def wait(self, timeout: Optional[float] = None) -> Any:
        """Wait until the lock is free (without taking it); False on timeout."""
        return self.client._run(self._wait_flow(timeout))

    def _wait_flow(self, timeout: Optional[float]) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        prefix = self.name.encode() + b"/"
        while True:
            line = yield from self.client._op_flow("range", prefix, prefix_range_end(prefix), count_only=True)
            if line.count == 0:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            yield WaitForChange(prefix, prefix_range_end(prefix), line.header.revision + 1, left)

    def close(self) -> Any:
        """Release if held and revoke the lease behind the lock."""
        return self.client._run(self._close_flow())

    def _close_flow(self) -> Any:
        while self._count:
            yield from self._release_flow()
        if self._lease_id:
            lease, self._lease_id = self._lease_id, 0
            try:
                yield from self.client._op_flow("lease_revoke", lease)
            except errors.ErrLeaseNotFound:
                pass

    def __enter__(self) -> "Lock":
        self.acquire()
        return self

    def __exit__(self, *args: Any) -> None:
        self.release()

    async def __aenter__(self) -> "Lock":
        await self.acquire()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.release()


class WaitForChange:
    """A flow's request to its driver: return once a key in [key, range_end) changes
    at or after ``revision``, or after ``timeout`` seconds."""

    __slots__ = ("key", "range_end", "revision", "timeout")

    def __init__(self, key: bytes, range_end: bytes, revision: int, timeout: Optional[float]) -> None:
        self.key, self.range_end, self.revision, self.timeout = key, range_end, revision, timeout
