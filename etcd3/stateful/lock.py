"""Distributed locks: ``Lock`` (etcd3-py 0.1.6's) and ``FairLock`` (on etcd's lock service).

``Lock`` keeps 0.1.6's key layout and holder identities, so that processes still
on etcd3-py 0.1.6 and processes on this library exclude each other on one lock
name (a rolling upgrade): the holder puts the key ``<lock_prefix>/<lock_name>``
with its identity as value, attached to a lease of ``lock_ttl`` seconds that is
kept alive while held; the others watch the key until it is deleted.

``FairLock`` queues on etcd's lock service (v3lock): waiters are served in
arrival order, each watches only its predecessor, and every hold has a fencing
token.  It does not see ``Lock``'s key (nor 0.1.6's), so the two never exclude
each other: pick one per lock name.

Every method is a flow, so the same code serves the sync and the async client.
"""
from __future__ import annotations

import numbers
import os
import socket
import threading
import time
import urllib.parse
from typing import Any, Optional

from .._lazy import asyncio
from .. import errors
from ..errors import Etcd3Exception
from ..utils import prefix_range_end

__all__ = ["Lock", "FairLock", "EtcdLockError", "EtcdLockAcquireTimeout", "DEFAULT_LOCK_TTL"]

DEFAULT_LOCK_TTL = 60
REENTRANT_MODES = (None, "host", "process", "thread")


class EtcdLockError(Etcd3Exception):
    """Using a lock wrongly (releasing a lock not held, a lock key without a lease, ...)."""


class EtcdLockAcquireTimeout(EtcdLockError, TimeoutError):
    """The lock was not acquired within the timeout."""


def _check_ttl(lock_ttl: Any) -> int:
    if not isinstance(lock_ttl, int) or isinstance(lock_ttl, bool) or lock_ttl < 1:
        raise ValueError("lock_ttl must be a whole number of seconds >= 1, got %r" % (lock_ttl,))
    return lock_ttl


def _check_timeout(timeout: Any) -> Optional[float]:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)):
        raise TypeError("timeout must be a number of seconds or None, got %r" % (timeout,))
    return timeout


def _is_async(client: Any) -> bool:
    return asyncio.iscoroutinefunction(getattr(client, "_run", None))


def _current_task() -> Any:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop
        return None


# --------------------------------------------------------------------------- 0.1.6's lock

def _host_identity(lock_name: str) -> bytes:
    """0.1.6's 'host' identity: ``<hostname>:host:<address>``, kept in the file
    ``<tempdir>/<lock_name>_lock`` (``_`` appended while that is a directory) by the
    first process of the host that uses the lock, and read back by the others."""
    hostname = socket.gethostname()
    try:
        address = socket.gethostbyname(hostname)
    except OSError:  # a hostname that does not resolve (0.1.6 failed here): the name stands in
        address = hostname
    identity = "%s:host:%s" % (hostname, address)
    # a name with a slash would point into a folder (0.1.6 failed there): quoted into one file name
    file_name = urllib.parse.quote(lock_name, safe="") if ("/" in lock_name or os.sep in lock_name) else lock_name
    import tempfile  # (here: it imports shutil and random)

    path = tempfile.gettempdir() + "/" + file_name + "_lock"
    while os.path.isdir(path):
        path += "_"
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(identity)
        return identity.encode()
    except FileExistsError:
        with open(path, "rb") as f:
            stored = f.read()
        return stored or identity.encode()  # empty: another process is writing it right now


class Lock:
    """A named lock with etcd3-py 0.1.6's layout, holder identities and methods.

    >>> lock = client.Lock('deploy', lock_ttl=30)
    >>> with lock:                       # blocks until held; released at the end
    ...     lock.fencing_token           # grows with every new holder

    The lock key ``<lock_prefix>/<lock_name>`` holds ``uuid``, the holder's identity
    (bytes), and is attached to the holder's lease of ``lock_ttl`` seconds, kept
    alive while held: a crashed holder frees the lock when its lease expires.
    ``reentrant`` chooses who counts as the same holder:

    ================  ================================================================
    ``None``          this Lock object only: ``'<hostname>:<8 hex digits>'``
    ``Lock.PROCESS``  every Lock of this process: ``'<hostname>:proc:<pid>'``
    ``Lock.THREAD``   the thread that created the Lock: ``'<hostname>:thrd:<ident>'``
                      (with an AioClient, created in a task: ``...:task-<hex>`` added)
    ``Lock.HOST``     every process of this host: ``'<hostname>:host:<address>'``,
                      kept in ``<tempdir>/<lock_name>_lock``
    ================  ================================================================

    A second Lock of the same identity acquires a held lock at once and shares
    its lease; reentrant locks count their holders in ``<lock key>/holders``
    (ASCII digits, compare-and-swap), and the last release frees the lock.
    Acquiring again through the Lock object that holds the lock returns at once
    and counts nothing (as in 0.1.6): one ``release()`` frees it.

    Against 0.1.6: our acquire takes the key only if it is absent (a txn comparing
    its create revision with 0), so it never takes a key that anybody holds, and a
    0.1.6 process waits while our key exists.  But 0.1.6's acquire puts the key
    without that check once it has seen it absent or deleted (its txn compares
    only the value): a 0.1.6 process that saw the key free just before we took it
    overwrites our key a moment later.  So a freshly taken key is watched for
    ``guard_window`` seconds before ``acquire`` returns (the price of taking a
    free lock); overwritten, it is given up and the acquire waits on.  Once no
    0.1.6 process uses the lock, set ``Lock.guard_window = 0`` (class-wide, or on
    one object).  Two 0.1.6 processes can still both hold it (their bug).

    Pick ``FairLock`` instead for waiters served in arrival order and no
    thundering herd (each ``Lock`` waiter wakes at every release); it does not
    exclude ``Lock`` or 0.1.6's lock of the same name.

    With an AioClient every method that talks to the server returns an awaitable,
    ``is_acquired`` too (``await lock.is_acquired``); ``async with lock:`` works.
    """

    DEFAULT_LOCK_TTL = DEFAULT_LOCK_TTL
    HOST = "host"
    PROCESS = "process"
    THREAD = "thread"
    #: seconds a freshly taken key is watched for an overwrite by a 0.1.6 process (its
    #: acquire takes up to ~0.1 s from seeing the key free to putting it on a busy host)
    guard_window = 0.25

    def __init__(self, client: Any, lock_name: str, lock_ttl: int = DEFAULT_LOCK_TTL,
                 reentrant: Optional[str] = None, lock_prefix: str = "_locks") -> None:
        """
        :param client: a Client or AioClient
        :param lock_name: the name of the lock
        :param lock_ttl: seconds after which the lock of a crashed holder is freed
        :param reentrant: None, Lock.HOST, Lock.PROCESS or Lock.THREAD (see the class)
        :param lock_prefix: the prefix of the lock key
        """
        if not isinstance(lock_name, str):
            raise TypeError("lock_name must be a str, got %r" % (lock_name,))
        if not lock_name:
            raise ValueError("lock_name must not be empty")
        if not isinstance(lock_prefix, str):
            raise TypeError("lock_prefix must be a str, got %r" % (lock_prefix,))
        _check_ttl(lock_ttl)
        self.client = client
        self.name = lock_name
        self.lock_ttl = lock_ttl
        self.lock_prefix = lock_prefix
        self.reentrant = reentrant
        self.uuid: bytes = self._identity()
        self.lock_key = "%s/%s" % (lock_prefix, lock_name)
        self.holders_key = self.lock_key + "/holders"
        self.is_taken = False  # 0.1.6's: set by a successful acquire, and by one that found it held
        self.lease: Any = None  # the Lease behind the lock while this object holds it
        self._watcher = None  # 0.1.6's; waiting uses the client's watch stream
        self._key = self.lock_key.encode()
        self._holders_key = self.holders_key.encode()
        self._fencing_token = 0

    def _identity(self) -> bytes:
        hostname = socket.gethostname()
        mode = self.reentrant
        if mode is None:
            import uuid  # (here: it imports platform, ~5 ms that a client's first call need not wait for)

            return ("%s:%s" % (hostname, uuid.uuid4().hex[:8])).encode()
        if mode == self.PROCESS:
            return ("%s:proc:%d" % (hostname, os.getpid())).encode()
        if mode == self.THREAD:
            identity = "%s:thrd:%d" % (hostname, threading.get_ident())
            task = _current_task() if _is_async(self.client) else None
            if task is not None:  # in async code the task is the unit of execution, not the loop's thread
                identity += ":task-%x" % id(task)
            return identity.encode()
        if mode == self.HOST:
            return _host_identity(self.name)
        raise TypeError("unknown reentrant type, expect one of Lock.HOST, Lock.PROCESS, Lock.THREAD")

    def __repr__(self) -> str:
        return "<Lock %r %s>" % (self.lock_key, "held" if self.lease is not None else "not held")

    # -- reading --------------------------------------------------------------------------------
    def _read_flow(self) -> Any:
        """The lock key (None when absent) and the revision of the read."""
        answer = yield from self.client._op_flow("range", self._key)
        kvs = answer.kvs or ()
        return (kvs[0] if kvs else None), answer.header.revision

    @property
    def is_acquired(self) -> Any:
        """Whether this object holds the lock: the key exists, holds our identity, is
        on our lease, and we keep that lease alive (asks the server)."""
        return self.client._run(self._is_acquired_flow())

    acquired = is_acquired

    def _is_acquired_flow(self) -> Any:
        if not self.is_taken:
            return False
        kv, _ = yield from self._read_flow()
        lease = self.lease
        return bool(kv is not None and kv.value == self.uuid and lease is not None and lease.keeping
                    and kv.lease == lease.ID)

    @property
    def fencing_token(self) -> int:
        """The create revision of the lock key of our hold: larger for every later
        holder (re-entrants of one identity share it), so a store can refuse writes
        of an older holder (e.g. a txn comparing the key's create revision)."""
        if self.lease is None:
            raise EtcdLockError("%r is not held by this Lock object" % self.lock_key)
        return self._fencing_token

    def holders(self) -> Any:
        """How many hold the lock: 1 or 0 for a non-reentrant lock, else the count at
        the holders key (0 when there is none)."""
        return self.client._run(self._holders_flow())

    def _holders_flow(self) -> Any:
        if self.reentrant is None:
            kv, _ = yield from self._read_flow()
            return 1 if kv is not None else 0
        answer = yield from self.client._op_flow("range", self._holders_key)
        return _count_of(answer.kvs[0] if answer.kvs else None)

    # -- acquire --------------------------------------------------------------------------------
    def acquire(self, block: bool = True, lock_ttl: Optional[int] = None, timeout: Optional[float] = None,
                delete_key: bool = True) -> Any:
        """Acquire the lock; returns this Lock.

        :param block: wait while someone else holds it; False returns None at once then
        :param lock_ttl: a new lock_ttl for this and later acquires (None: keep it)
        :param timeout: seconds to wait at most (None: no limit); then EtcdLockAcquireTimeout
        :param delete_key: delete a lock key that has no lease (else EtcdLockError)
        """
        return self.client._run(self._acquire_flow(block, lock_ttl, timeout, delete_key))

    def _acquire_flow(self, block: bool, lock_ttl: Optional[int], timeout: Optional[float],
                      delete_key: bool) -> Any:
        if lock_ttl:  # 0.1.6: ``lock_ttl or self.lock_ttl``, and it stays
            self.lock_ttl = _check_ttl(lock_ttl)
        _check_timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        kv, revision = yield from self._read_flow()
        while True:
            if kv is None:
                taken, kv, revision = yield from self._take_flow()
                if taken:
                    return self
                continue  # somebody else was faster: theirs is kv
            if not kv.lease:
                if not delete_key:
                    raise EtcdLockError("lock-key %s already exist but with no lease attached" % self.lock_key)
                kv, revision = yield from self._delete_leaseless_flow(kv)
                continue
            if kv.value == self.uuid:
                adopted = yield from self._adopt_flow(kv)
                if adopted:
                    return self
                kv, revision = yield from self._read_flow()
                continue
            if not block:
                self.is_taken = True  # as 0.1.6: "taken" (by someone else)
                return None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise EtcdLockAcquireTimeout("%r not acquired within %ss" % (self.lock_key, timeout))
            # the holder's key changes (deleted, above all) at a revision after our read
            yield WaitForChange(self._key, None, revision + 1, left)
            kv, revision = yield from self._read_flow()

    def _take_flow(self) -> Any:
        """Put the lock key if it is absent; (True, None, revision) when we got it,
        else (False, the key that is there, revision)."""
        if self.lease is not None:  # a lease of an earlier hold that was lost: done with
            old, self.lease = self.lease, None
            old.cancel_keepalive()
            yield from self._revoke_quietly_flow(old.ID)
        granted = yield from self.client._op_flow("lease_grant", self.lock_ttl)
        lease_id = granted.ID
        success = [{"request_put": {"key": self._key, "value": self.uuid, "lease": lease_id}}]
        if self.reentrant is not None:
            success.append({"request_put": {"key": self._holders_key, "value": b"1", "lease": lease_id}})
        answer = yield from self.client._op_flow(
            "txn", compare=[{"key": self._key, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
            success=success, failure=[{"request_range": {"key": self._key}}])
        if not answer.succeeded:
            yield from self._revoke_quietly_flow(lease_id)
            kvs = answer.responses[0].response_range.kvs or ()
            return False, (kvs[0] if kvs else None), answer.header.revision
        taken_at = answer.header.revision
        self._hold(lease_id, granted.TTL or self.lock_ttl, taken_at)
        if self.guard_window <= 0:
            return True, None, taken_at
        try:
            # a 0.1.6 acquire that saw the key absent before we put it puts its own
            # (without checking) a moment later: then the lock is theirs, not ours
            yield WaitForChange(self._key, None, taken_at + 1, self.guard_window)
            kv, revision = yield from self._read_flow()
        except BaseException:  # failed or abandoned (a cancelled task): the lease expires
            self._unhold(taken=False)
            raise
        if kv is None or kv.lease != lease_id or kv.value != self.uuid:
            self._unhold(taken=False)
            yield from self._revoke_quietly_flow(lease_id)
            return False, kv, revision
        return True, None, taken_at

    def _adopt_flow(self, kv: Any) -> Any:
        """The key holds our identity: held through this object, or another Lock of
        the same identity whose lease we now keep alive too.  False when that
        lease turned out gone (look again)."""
        lease = self.lease
        if lease is not None and lease.ID == kv.lease and lease.keeping:
            self.is_taken = True
            return True
        answer = yield from self.client._op_flow("lease_time_to_live", kv.lease)
        if answer.TTL < 0:  # expired or revoked: its key is gone or about to be
            return False
        if lease is not None:
            self.lease = None
            lease.cancel_keepalive()
            if lease.ID != kv.lease:
                yield from self._revoke_quietly_flow(lease.ID)
        if self.reentrant is not None:
            count = yield from self._count_flow(+1, kv.create_revision)
            if count is None:
                return False
        self._hold(kv.lease, answer.grantedTTL or self.lock_ttl, kv.create_revision)
        return True

    def _delete_leaseless_flow(self, kv: Any) -> Any:
        """Delete a lock key without a lease (0.1.6's ``delete_key``), only as it was
        read: a key put meanwhile stays.  Returns the key now there, and the revision."""
        answer = yield from self.client._op_flow(
            "txn", compare=[{"key": self._key, "target": "MOD", "result": "EQUAL", "mod_revision": kv.mod_revision}],
            success=[{"request_delete_range": {"key": self._key}}],
            failure=[{"request_range": {"key": self._key}}])
        if answer.succeeded:
            return None, answer.header.revision
        kvs = answer.responses[0].response_range.kvs or ()
        return (kvs[0] if kvs else None), answer.header.revision

    def _hold(self, lease_id: int, ttl: int, fencing_token: int) -> None:
        from .lease import Lease

        lease = Lease(self.client, ttl, ID=lease_id, new=False)
        lease.keepalive()
        self.lease, self._fencing_token, self.is_taken = lease, fencing_token, True

    def _unhold(self, taken: bool) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            lease.cancel_keepalive()
        self.is_taken = taken

    def _revoke_quietly_flow(self, lease_id: int) -> Any:
        try:
            yield from self.client._op_flow("lease_revoke", lease_id)
        except errors.ErrLeaseNotFound:  # expired or revoked already: the same for us
            pass

    # -- the holders count ----------------------------------------------------------------------
    def incr_holder(self) -> Any:
        """Add one to the holders count (one compare-and-swap); the new count, or
        None when the swap failed or the lock is not held by our identity."""
        return self.client._run(self._count_flow(+1, None, attempts=1))

    def decr_holder(self) -> Any:
        """Take one from the holders count (the key is deleted at 0); the new count,
        or None when the swap failed or the lock is not held by our identity."""
        return self.client._run(self._count_flow(-1, None, attempts=1))

    def _count_flow(self, delta: int, create_revision: Optional[int], attempts: Optional[int] = None) -> Any:
        """Change the holders count of the lock held by our identity (the hold that
        began at ``create_revision``, if given); the new count, None when there is
        no such hold (or ``attempts`` swaps failed)."""
        tries = 0
        while attempts is None or tries < attempts:
            tries += 1
            snapshot = yield from self.client._op_flow(
                "txn", compare=[], success=[{"request_range": {"key": self._key}},
                                            {"request_range": {"key": self._holders_key}}], failure=[])
            lock_kvs = snapshot.responses[0].response_range.kvs or ()
            count_kvs = snapshot.responses[1].response_range.kvs or ()
            lock = lock_kvs[0] if lock_kvs else None
            if lock is None or lock.value != self.uuid or \
                    (create_revision is not None and lock.create_revision != create_revision):
                return None
            counted = count_kvs[0] if count_kvs else None
            count = max(_count_of(counted) + delta, 0)
            if count:
                change = {"request_put": {"key": self._holders_key, "value": b"%d" % count, "lease": lock.lease}}
            else:
                change = {"request_delete_range": {"key": self._holders_key}}
            answer = yield from self.client._op_flow(
                "txn", compare=[
                    {"key": self._key, "target": "CREATE", "result": "EQUAL", "create_revision": lock.create_revision},
                    {"key": self._holders_key, "target": "MOD", "result": "EQUAL",
                     "mod_revision": counted.mod_revision if counted is not None else 0}],
                success=[change], failure=[])
            if answer.succeeded:
                return count
        return None

    # -- release --------------------------------------------------------------------------------
    def release(self) -> Any:
        """Release the lock: a reentrant lock counts one holder less and is freed by
        the last; freeing revokes the lease (which deletes the key)."""
        return self.client._run(self._release_flow())

    def _release_flow(self) -> Any:
        lease = self.lease
        if lease is None:
            raise EtcdLockError("%r is not held by this Lock object" % self.lock_key)
        if self.reentrant is not None:
            count = yield from self._count_flow(-1, self._fencing_token)
            if count:  # others of our identity still hold it: their keepalive goes on
                self._unhold(taken=True)
                return None
        self._unhold(taken=False)
        yield from self._revoke_quietly_flow(lease.ID)
        return None

    def close(self) -> Any:
        """Release the lock if this object holds it (nothing otherwise)."""
        return self.client._run(self._close_flow())

    def _close_flow(self) -> Any:
        if self.lease is not None:
            yield from self._release_flow()

    # -- waiting --------------------------------------------------------------------------------
    def wait(self, locker: Any = None, timeout: Optional[float] = None) -> Any:
        """Wait (without taking the lock) until its holder lets go, or the key holds
        our identity.  As 0.1.6: None at once when the lock is free, None after
        ``timeout`` seconds; True when it happened.  ``locker`` (0.1.6's: the lock's
        KeyValue) is not needed: the key is read afresh."""
        return self.client._run(self._wait_flow(_check_timeout(timeout)))

    def _wait_flow(self, timeout: Optional[float]) -> Any:
        kv, revision = yield from self._read_flow()
        if kv is None:
            return None
        held_since = kv.create_revision
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            yield WaitForChange(self._key, None, revision + 1, left)
            kv, revision = yield from self._read_flow()
            if kv is None or kv.create_revision != held_since or kv.value == self.uuid:
                return True

    # -- context managers -------------------------------------------------------------------------
    def __enter__(self) -> "Lock":
        self.acquire()
        return self

    def __exit__(self, *args: Any) -> bool:
        self.release()
        return False

    async def __aenter__(self) -> "Lock":
        await self.acquire()
        return self

    async def __aexit__(self, *args: Any) -> bool:
        await self.release()
        return False


def _count_of(kv: Any) -> int:
    """The holders count a holders key holds (0 when absent)."""
    if kv is None or not kv.value:
        return 0
    try:
        return int(kv.value)
    except ValueError:
        raise EtcdLockError("the holders key %r holds %r, not a count" % (kv.key, kv.value)) from None


# --------------------------------------------------------------------------- the fair lock

class FairLock:
    """A fair, FIFO lock on etcd's lock service (v3lock), with fencing tokens.

    >>> with client.FairLock('deploy', lock_ttl=30) as lock:
    ...     lock.fencing_token      # grows with every new holder

    Pick it over ``Lock`` when waiters must be served in arrival order (no
    starvation), when many wait at once (each waiter watches only its
    predecessor's key: no thundering herd at every release, where every ``Lock``
    waiter wakes and races), or for speed: an acquire + release cycle is two
    requests, without ``Lock``'s ``guard_window`` pause.  Every hold has a
    fencing token too.  It does NOT interoperate with ``Lock`` or
    with etcd3-py 0.1.6's lock: they use another key layout and never exclude a
    FairLock of the same name, so every process using a lock name must use the
    same kind.

    The server's Lock RPC queues each waiter's key ``<lock_prefix>/<name>/<lease>``
    by its create revision and blocks until it is first.  Each ``FairLock`` owns
    one lease of ``lock_ttl`` seconds, kept alive while the lock is held, so a
    crashed holder frees the lock once its lease expires.
    """

    def __init__(self, client: Any, lock_name: str, lock_ttl: int = DEFAULT_LOCK_TTL,
                 reentrant: Optional[str] = None, lock_prefix: str = "_fair_locks") -> None:
        """
        :param lock_name: the name of the lock
        :param lock_ttl: seconds after which the lock of a crashed holder is freed
        :param reentrant: None, or 'host', 'process' or 'thread': holders that share that
            identity re-acquire a lock they hold instead of waiting for it
        :param lock_prefix: the key prefix of fair locks (not ``Lock``'s, so that the
            two kinds never see each other's keys)
        """
        if reentrant not in REENTRANT_MODES:
            raise ValueError("reentrant must be one of %s, got %r" % (REENTRANT_MODES, reentrant))
        _check_ttl(lock_ttl)
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
        return "<FairLock %r %s>" % (self.name, "held (key %r)" % self.key if self.is_acquired else "free")

    @property
    def is_acquired(self) -> bool:
        """Whether this object holds the lock (False once its lease was found gone)."""
        return self._count > 0 and not self._lost

    _lost = False

    def _on_lease_lost(self) -> None:
        self._lost = True
        self._lease_id = 0

    def _identity(self) -> str:
        mode = self.reentrant
        if mode is None:
            return ""
        parts = [socket.gethostname()]
        if mode in ("process", "thread"):
            parts.append(str(os.getpid()))
        if mode == "thread":
            parts.append(str(threading.get_ident()))
            task = _current_task()
            if task is not None:  # in async code the task is the unit of execution, not the loop's thread
                parts.append("task-%x" % id(task))
        return ":".join(parts)

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
                raise EtcdLockError("%r is already held by this FairLock object (not reentrant)" % self.name)
            self._count += 1
            return True
        if self.reentrant is not None:
            holder = yield from self._holder_flow()
            if holder is not None and holder.value == self._identity().encode():
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
            # the token is read now, while held, so that fencing_token is a plain
            # attribute for both clients (no request, no coroutine, at use)
            held = yield from self.client._op_flow("range", self.key)
        except BaseException:
            self.client._stop_keep_alive(lease)
            raise
        self._count, self._borrowed = 1, False
        self._fencing_token = held.kvs[0].create_revision if held.kvs else 0
        if self.reentrant is not None:
            yield from self.client._op_flow("put", self.key, self._identity(), ignore_lease=True)
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
            raise EtcdLockError("%r is not held by this FairLock object" % self.name)
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
    def fencing_token(self) -> int:
        """The create revision of our holder key: larger for every later holder, so a
        store can refuse writes from an older holder (e.g. a txn compare on it)."""
        if not self._count:
            raise EtcdLockError("%r is not held" % self.name)
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

    def __enter__(self) -> "FairLock":
        self.acquire()
        return self

    def __exit__(self, *args: Any) -> None:
        self.release()

    async def __aenter__(self) -> "FairLock":
        await self.acquire()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self.release()


class WaitForChange:
    """A flow's request to its driver: return once a key in [key, range_end) changes
    at or after ``revision``, or after ``timeout`` seconds (range_end None: the key alone)."""

    __slots__ = ("key", "range_end", "revision", "timeout")

    def __init__(self, key: bytes, range_end: Optional[bytes], revision: int, timeout: Optional[float]) -> None:
        self.key, self.range_end, self.revision, self.timeout = key, range_end, revision, timeout
