"""0.1.6's Lock (ORIGINAL_API.md 6.4) on real servers, and against etcd3-py 0.1.6 itself.

The key layout, the holder identities, acquire's answers (self, None, the timeout
error), reentrant holder counts, is_acquired, holders(), wait(), a holder killed
with SIGKILL; then processes running the released etcd3-py 0.1.6 (in a venv of
their own) and processes running this library on one lock name.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import tempfile
import threading
import time
import uuid

import pytest

import etcd3
from etcd3.stateful.lock import DEFAULT_LOCK_TTL, EtcdLockAcquireTimeout, EtcdLockError, FairLock, Lock
from helpers import Background, wait_for
from lock_worker import COUNTER_KEY, WorkerProcess

pytestmark = pytest.mark.etcd_versions("oldest", "newest")  # heavy; same KV and lease calls everywhere

HOSTNAME = socket.gethostname()


@pytest.fixture
def workers():
    """``workers(etcd, mode, *args, python=None, options=())`` starts tests/lock_worker.py."""
    started = []

    def start(etcd, mode, *args, python=None, options=()):
        w = WorkerProcess(etcd, mode, *args, python=python, options=options)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def target(obj):
    """The object behind the aio facade (itself for the sync client)."""
    return getattr(obj, "_target", obj)


def lock_kv(client, name):
    kvs = client.range("_locks/" + name).kvs
    return kvs[0] if kvs else None


def unique(name):
    return "%s-%s" % (name, uuid.uuid4().hex[:8])


# --------------------------------------------------------------------------- layout and identities

def test_constants_attributes_and_exports(client):
    assert (Lock.DEFAULT_LOCK_TTL, DEFAULT_LOCK_TTL) == (60, 60)
    assert (Lock.HOST, Lock.PROCESS, Lock.THREAD) == ("host", "process", "thread")
    assert etcd3.Lock is Lock and etcd3.FairLock is FairLock
    assert etcd3.EtcdLockError is EtcdLockError and etcd3.EtcdLockAcquireTimeout is EtcdLockAcquireTimeout
    assert issubclass(EtcdLockError, Exception) and issubclass(EtcdLockAcquireTimeout, Exception)
    lock = client.Lock("attrs")
    assert isinstance(target(lock), Lock)
    assert (lock.name, lock.lock_ttl, lock.lock_prefix, lock.reentrant) == ("attrs", 60, "_locks", None)
    assert (lock.lock_key, lock.holders_key) == ("_locks/attrs", "_locks/attrs/holders")
    assert lock.is_taken is False and lock.lease is None
    assert isinstance(lock.uuid, bytes)
    assert re.fullmatch(re.escape(HOSTNAME) + r":[0-9a-f]{8}", lock.uuid.decode()), lock.uuid
    assert client.Lock("attrs").uuid != lock.uuid  # unique per Lock object
    other = client.Lock("x", lock_ttl=5, lock_prefix="my/locks")
    assert (other.lock_key, other.lock_ttl) == ("my/locks/x", 5)


def test_reentrant_identities(client, client_kind):
    process = client.Lock("ids", reentrant=Lock.PROCESS)
    assert process.uuid == ("%s:proc:%d" % (HOSTNAME, os.getpid())).encode()
    thread = client.Lock("ids", reentrant=Lock.THREAD)
    if client_kind == "sync":
        assert thread.uuid == ("%s:thrd:%d" % (HOSTNAME, threading.get_ident())).encode()
    else:  # made in a task of the loop's thread: the task is part of it
        assert re.fullmatch(re.escape(HOSTNAME) + r":thrd:\d+:task-[0-9a-f]+", thread.uuid.decode()), thread.uuid
    with pytest.raises(TypeError) as info:
        client.Lock("ids", reentrant="cluster")
    assert str(info.value) == "unknown reentrant type, expect one of Lock.HOST, Lock.PROCESS, Lock.THREAD"


def test_host_identity_is_kept_in_a_file(client):
    name = unique("host-id")
    path = os.path.join(tempfile.gettempdir(), name + "_lock")
    try:
        lock = client.Lock(name, reentrant=Lock.HOST)
        expected = "%s:host:%s" % (HOSTNAME, socket.gethostbyname(HOSTNAME))
        assert lock.uuid == expected.encode()
        with open(path, "rb") as f:
            assert f.read() == lock.uuid
        # the file decides, whoever wrote it (the first user of the name on this host)
        with open(path, "w") as f:
            f.write("written-by-another-process")
        assert client.Lock(name, reentrant=Lock.HOST).uuid == b"written-by-another-process"
    finally:
        os.unlink(path)
    # a directory of that name: 0.1.6 appends '_' until the path is not one
    os.mkdir(path)
    try:
        assert client.Lock(name, reentrant=Lock.HOST).uuid == expected.encode()
        assert os.path.isfile(path + "_")
    finally:
        os.rmdir(path)
        os.unlink(path + "_")


def test_bad_arguments(client):
    for ttl in (0, -1, 1.5, True, "10", None):
        with pytest.raises(ValueError):
            client.Lock("x", lock_ttl=ttl)
    with pytest.raises(TypeError):
        client.Lock(5)
    with pytest.raises(ValueError):
        client.Lock("")
    lock = client.Lock("x")
    with pytest.raises(TypeError):
        lock.acquire(timeout="soon")
    with pytest.raises(ValueError):
        lock.acquire(lock_ttl=-3)


# --------------------------------------------------------------------------- acquire and release

def test_acquire_puts_the_identity_on_a_kept_lease(client):
    lock = client.Lock("basic", lock_ttl=2)
    assert target(lock.acquire()) is target(lock)
    kv = lock_kv(client, "basic")
    assert kv.value == lock.uuid and kv.version == 1
    assert kv.lease == lock.lease.ID and kv.lease
    assert client.lease_time_to_live(kv.lease).grantedTTL == 2
    assert lock.is_taken is True and lock.is_acquired is True and lock.acquired is True
    assert lock.holders() == 1
    assert lock.fencing_token == kv.create_revision
    assert client.range(lock.holders_key).kvs is None  # counted only for reentrant locks
    # held for longer than its TTL: the lease is refreshed in the background
    time.sleep(3)
    later = lock_kv(client, "basic")
    assert (later.create_revision, later.lease) == (kv.create_revision, kv.lease)
    lease = lock.lease.ID
    lock.release()
    assert lock_kv(client, "basic") is None
    assert client.lease_time_to_live(lease).TTL == -1  # revoked, not left to expire
    assert lock.lease is None and lock.is_taken is False and lock.is_acquired is False
    assert lock.holders() == 0
    with pytest.raises(EtcdLockError):
        _ = lock.fencing_token


def test_non_blocking_acquire_returns_none_while_held(client, clients):
    holder = clients().Lock("nb")
    holder.acquire()
    lock = client.Lock("nb")
    assert lock.acquire(block=False) is None
    assert lock.is_taken is True  # 0.1.6's: the lock is taken (by someone else)
    assert lock.is_acquired is False and lock.lease is None
    assert lock_kv(client, "nb").value == holder.uuid
    holder.release()
    assert target(lock.acquire(block=False)) is target(lock)
    assert lock_kv(client, "nb").value == lock.uuid
    assert holder.acquire(block=False) is None
    lock.release()


def test_timeout_raises_and_a_release_wakes_the_waiter(client, clients):
    holder = clients().Lock("to")
    holder.acquire()
    leases_before = sorted(lease.ID for lease in client.lease_leases().leases)
    lock = client.Lock("to")
    started = time.monotonic()
    with pytest.raises(EtcdLockAcquireTimeout):
        lock.acquire(timeout=1)
    took = time.monotonic() - started
    assert 1 <= took < 3, took
    assert lock.lease is None and lock.is_acquired is False
    assert lock_kv(client, "to").value == holder.uuid
    # waiting granted nothing: no lease is left behind
    assert sorted(lease.ID for lease in client.lease_leases().leases) == leases_before

    waiter = Background(lock.acquire, timeout=30)
    assert not waiter.done.wait(0.5)
    released = time.monotonic()
    holder.release()
    assert target(waiter.result(10)) is target(lock)
    # woken by the watch on the key's deletion (plus the guard against 0.1.6's put)
    assert waiter.finished_at - released < 2 + Lock.guard_window
    assert lock.is_acquired
    lock.release()


def test_acquire_again_through_the_holding_object(client):
    for reentrant in (None, Lock.PROCESS):
        lock = client.Lock("again", reentrant=reentrant)
        lock.acquire()
        token = lock.fencing_token
        started = time.monotonic()
        assert target(lock.acquire(timeout=5)) is target(lock)
        assert target(lock.acquire(block=False)) is target(lock)
        assert time.monotonic() - started < 1  # no waiting, no new key
        assert lock.fencing_token == token and lock.holders() == 1
        lock.release()  # as in 0.1.6: once frees it
        assert lock_kv(client, "again") is None and lock.holders() == 0


def test_lock_ttl_of_acquire_stays(client):
    lock = client.Lock("ttl", lock_ttl=60)
    lock.acquire(lock_ttl=5)
    assert lock.lock_ttl == 5
    assert client.lease_time_to_live(lock.lease.ID).grantedTTL == 5
    lock.release()
    lock.acquire()
    assert client.lease_time_to_live(lock.lease.ID).grantedTTL == 5
    lock.release()


def test_release_when_not_held_raises(client):
    lock = client.Lock("rel")
    with pytest.raises(EtcdLockError):
        lock.release()
    lock.acquire()
    lock.release()
    with pytest.raises(EtcdLockError):
        lock.release()


def test_delete_key_of_a_key_without_a_lease(client):
    client.put("_locks/nolease", "left by someone")
    lock = client.Lock("nolease")
    with pytest.raises(EtcdLockError) as info:
        lock.acquire(delete_key=False)
    assert "_locks/nolease" in str(info.value) and "no lease" in str(info.value)
    assert lock_kv(client, "nolease").value == b"left by someone"
    assert target(lock.acquire(block=False)) is target(lock)
    kv = lock_kv(client, "nolease")
    assert kv.value == lock.uuid and kv.lease == lock.lease.ID
    lock.release()


def test_context_manager(client, clients):
    lock = client.Lock("ctx")
    with lock as held:
        assert target(held) is target(lock) and lock.is_acquired
        assert clients().Lock("ctx").acquire(block=False) is None
    assert not lock.is_acquired and lock_kv(client, "ctx") is None
    with pytest.raises(KeyError):
        with lock:
            raise KeyError("inside")
    assert not lock.is_acquired and lock_kv(client, "ctx") is None


# --------------------------------------------------------------------------- holders and reentrance

def test_holders_of_a_non_reentrant_lock(client, clients):
    lock = client.Lock("hn")
    assert lock.holders() == 0
    lock.acquire()
    assert lock.holders() == 1 and clients().Lock("hn").holders() == 1
    lock.release()
    assert lock.holders() == 0


def test_reentrant_process_counts_its_holders(etcd, client, clients, workers):
    first = client.Lock("rp", lock_ttl=2, reentrant=Lock.PROCESS)
    first.acquire()
    holders = client.range(first.holders_key).kvs[0]
    assert holders.value == b"1" and holders.lease == first.lease.ID
    # another Lock of this process (another thread, the same client) enters at once
    mate = client.Lock("rp", lock_ttl=2, reentrant=Lock.PROCESS)
    assert target(Background(mate.acquire, block=False).result(10)) is target(mate)
    assert mate.lease.ID == first.lease.ID and mate.fencing_token == first.fencing_token
    assert first.holders() == 2 and client.range(first.holders_key).kvs[0].value == b"2"
    # another process does not
    assert workers(etcd, "try", "rp", "process").line(60) == "busy"
    mate.release()
    assert mate.lease is None and mate.is_taken is True  # still taken, by the others
    assert first.holders() == 1 and first.is_acquired
    # the first holder's keepalive goes on when the mate's stops (one lease, one client)
    time.sleep(3)
    assert lock_kv(client, "rp").lease == first.lease.ID and first.is_acquired
    first.release()
    assert lock_kv(client, "rp") is None and client.range(first.holders_key).kvs is None
    assert first.holders() == 0 and first.is_taken is False
    assert workers(etcd, "try", "rp", "process").line(60) == "acquired"


def test_reentrant_thread_enters_from_its_thread_only(clients):
    first = clients().Lock("rt", reentrant=Lock.THREAD)
    first.acquire()
    same_thread = clients().Lock("rt", reentrant=Lock.THREAD)
    assert same_thread.acquire(block=False) is same_thread
    assert first.holders() == 2
    # a Lock made in another thread has another identity
    other = Background(lambda: clients().Lock("rt", reentrant=Lock.THREAD).acquire(block=False)).result(10)
    assert other is None
    same_thread.release()
    assert first.holders() == 1 and first.is_acquired
    first.release()
    assert first.holders() == 0


def test_reentrant_thread_tells_asyncio_tasks_apart(etcd):
    """With an AioClient the task that made a Lock.THREAD lock is its holder: two
    coroutines of one thread do not enter each other's lock."""
    import asyncio

    async def go():
        async with etcd3.AioClient(host=etcd.host, port=etcd.port) as aio:
            first, second = await asyncio.gather(*(make(aio) for _ in range(2)))
            assert first.uuid != second.uuid
            assert first.uuid.startswith(("%s:thrd:%d:task-" % (HOSTNAME, threading.get_ident())).encode())
            await first.acquire()
            assert await second.acquire(block=False) is None
            await first.release()
            assert await second.acquire(block=False) is second
            await second.release()

    async def make(aio):
        return aio.Lock("rta", reentrant=Lock.THREAD)

    asyncio.run(asyncio.wait_for(go(), 60))


def test_incr_and_decr_holder(client):
    lock = client.Lock("count", reentrant=Lock.PROCESS)
    assert lock.incr_holder() is None and lock.decr_holder() is None  # nothing held
    lock.acquire()
    assert lock.incr_holder() == 2 and lock.holders() == 2
    assert lock.decr_holder() == 1 and lock.decr_holder() == 0
    assert client.range(lock.holders_key).kvs is None  # deleted at 0
    assert lock.holders() == 0 and lock_kv(client, "count") is not None
    lock.release()
    assert lock_kv(client, "count") is None


def test_host_identity_is_shared_by_the_processes_of_the_host(etcd, client, workers):
    name = unique("rh")
    try:
        lock = client.Lock(name, reentrant=Lock.HOST)
        lock.acquire()
        assert workers(etcd, "try", name, "host").line(60) == "acquired"  # it entered, and left
        assert lock.holders() == 1 and lock.is_acquired
        lock.release()
        assert lock.holders() == 0 and lock_kv(client, name) is None
    finally:
        os.unlink(os.path.join(tempfile.gettempdir(), name + "_lock"))


# --------------------------------------------------------------------------- losing the lock

def test_is_acquired_is_false_once_the_lease_is_revoked_elsewhere(client, clients):
    lock = client.Lock("revoked", lock_ttl=30)
    lock.acquire()
    assert lock.is_acquired
    clients().lease_revoke(lock.lease.ID)  # e.g. an operator
    assert lock.is_acquired is False  # asked the server: the key is gone
    other = clients().Lock("revoked")
    assert other.acquire(block=False) is other
    assert lock.is_acquired is False
    lock.release()  # the lease is gone already: nothing more to do
    assert lock.lease is None and lock_kv(client, "revoked").value == other.uuid
    other.release()


def test_sigkilled_holder_frees_the_lock_after_its_ttl(etcd, client, workers):
    ttl = 2
    holder = workers(etcd, "hold", "crash", ttl)
    words = holder.line(60).split()
    assert words[0] == "acquired" and words[2] == "_locks/crash"
    kv = lock_kv(client, "crash")
    assert kv.create_revision == int(words[1])
    lock = client.Lock("crash", lock_ttl=10)
    waiter = Background(lock.acquire, timeout=30)
    assert not waiter.done.wait(0.5)
    killed = time.monotonic()
    holder.proc.send_signal(signal.SIGKILL)
    assert target(waiter.result(ttl + 10)) is target(lock)
    took = waiter.finished_at - killed
    print("etcd %s: Lock free %.2fs after SIGKILL of a holder with lock_ttl=%d" % (client.server_version, took, ttl))
    # the holder's lease was refreshed at most TTL/3 before the kill; then the watch and the guard
    assert ttl * 2 / 3.0 - 0.3 <= took <= ttl + 1.5 + Lock.guard_window, took
    assert lock.is_acquired and lock.fencing_token > kv.create_revision
    lock.release()


def test_an_overwrite_like_016s_is_detected_and_the_key_given_up(client, clients):
    """0.1.6 puts the key without checking it is absent once it has seen it free;
    an acquire that took the key a moment earlier must notice and give it up."""
    intruder = clients()
    start = intruder.range("_locks/clobbered").header.revision + 1
    seen = {}

    def put_like_016():
        # the moment our key appears, put another identity on another lease over it
        event = intruder.Watcher(key="_locks/clobbered", start_revision=start).watch_once(timeout=20)
        seen["lease"] = event.lease
        intruder.put("_locks/clobbered", "other-host:0123abcd", lease=intruder.lease_grant(30).ID)

    blind = Background(put_like_016)
    lock = client.Lock("clobbered")
    lock.guard_window = 5  # far longer than the intruder needs: the test must not race
    assert lock.acquire(block=False) is None
    blind.result(10)
    assert lock.lease is None and lock.is_acquired is False and lock.is_taken is True
    assert lock_kv(client, "clobbered").value == b"other-host:0123abcd"
    assert client.lease_time_to_live(seen["lease"]).TTL == -1  # our lease for it: revoked


def test_wait(client, clients):
    lock = client.Lock("w")
    assert lock.wait(timeout=1) is None  # free: at once (0.1.6's answer)
    holder = clients().Lock("w")
    holder.acquire()
    started = time.monotonic()
    assert lock.wait(timeout=0.5) is None
    assert time.monotonic() - started >= 0.5
    waiter = Background(lock.wait, timeout=30)
    assert not waiter.done.wait(0.3)
    released = time.monotonic()
    holder.release()
    assert waiter.result(10) is True
    assert waiter.finished_at - released < 2
    assert not lock.is_acquired and lock_kv(client, "w") is None  # waiting takes nothing


def test_fair_lock_is_another_lock(client):
    fair = client.FairLock("both")
    assert isinstance(target(fair), FairLock) and fair.lock_prefix == "_fair_locks"
    lock = client.Lock("both")
    lock.acquire()
    # documented: the two kinds never exclude each other (FairLock does not see 0.1.6's key)
    assert fair.acquire(block=False) is True
    assert client.range("_fair_locks/both/", prefix=True).count == 1
    fair.release()
    fair.close()
    lock.release()


# --------------------------------------------------------------------------- against etcd3-py 0.1.6 itself

def test_016_and_ours_take_turns_without_overlap(etcd, clients, workers, etcd3_016_python):
    """A process on 0.1.6 and one on this library increment one counter under one
    lock name, at the same time: no increment is lost and no holds overlap."""
    client = clients()
    client.delete_range(COUNTER_KEY)
    n = 30
    theirs = workers(etcd, "counter", "mixed", n, python=etcd3_016_python, options=["--installed"])
    ours = workers(etcd, "counter", "mixed", n)
    for w in (theirs, ours):
        assert w.line(60) == "ready"
    for w in (theirs, ours):
        w.send("go")
    records = []
    for side, w in (("0.1.6", theirs), ("ours", ours)):
        result = json.loads(w.line(240))
        version, folder = result["library"]
        if side == "0.1.6":
            assert version == "0.1.6" and "site-packages" in folder, result["library"]
        else:
            assert version == etcd3.__version__ and folder == os.path.dirname(etcd3.__file__)
        assert len(result["records"]) == n
        records += [r + [side] for r in result["records"]]
    assert client.range(COUNTER_KEY).kvs[0].value == str(2 * n).encode()
    by_revision = sorted(records, key=lambda r: r[3])
    for before, after in zip(by_revision, by_revision[1:]):
        # the next holder read the counter only after the previous one's put
        assert after[3] > before[4], "holds overlap: %r and %r" % (before, after)
    assert len({r[0] for r in records}) == 2 * n, "two holds shared one lock key"
    switches = sum(1 for a, b in zip(by_revision, by_revision[1:]) if a[5] != b[5])
    print("etcd %s: 0.1.6 and ours, %d holds each, %d hand-overs" % (client.server_version, n, switches))
    assert switches >= 5, "the two processes hardly competed (%d hand-overs)" % switches
    assert lock_kv(client, "mixed") is None
    client.delete_range(COUNTER_KEY)


def test_016_and_ours_wait_for_each_other(etcd, clients, workers, etcd3_016_python):
    client = clients()
    theirs = workers(etcd, "hold", "turns", 30, python=etcd3_016_python, options=["--installed"])
    words = theirs.line(60).split()
    assert words[:1] == ["acquired"] and words[2] == "_locks/turns"
    held = lock_kv(client, "turns")
    assert held.lease and re.fullmatch(re.escape(HOSTNAME) + r":[0-9a-f]{8}", held.value.decode())
    lock = client.Lock("turns")
    assert lock.acquire(block=False) is None
    waiter = Background(lock.acquire, timeout=30)
    assert not waiter.done.wait(0.5)
    theirs.send("release")
    assert theirs.line(30) == "released"
    assert waiter.result(10) is lock
    # now ours holds it: 0.1.6 waits for us
    assert workers(etcd, "try", "turns", python=etcd3_016_python, options=["--installed"]).line(60) == "busy"
    lock.release()
    assert workers(etcd, "try", "turns", python=etcd3_016_python, options=["--installed"]).line(60) == "acquired"


def test_sigkilled_016_holder_frees_the_lock_for_ours(etcd, clients, workers, etcd3_016_python):
    ttl = 2
    client = clients()
    theirs = workers(etcd, "hold", "crash16", ttl, python=etcd3_016_python, options=["--installed"])
    assert theirs.line(60).startswith("acquired")
    lock = client.Lock("crash16")
    waiter = Background(lock.acquire, timeout=30)
    assert not waiter.done.wait(0.5)
    killed = time.monotonic()
    theirs.proc.send_signal(signal.SIGKILL)
    assert waiter.result(ttl + 10) is lock
    assert waiter.finished_at - killed <= ttl + 1.5 + Lock.guard_window
    lock.release()


def test_host_identity_is_shared_with_016(etcd, clients, workers, etcd3_016_python):
    """The same host, Lock.HOST: a 0.1.6 process reads the identity file ours wrote,
    enters the lock we hold, and counts itself in the holders key."""
    client = clients()
    name = unique("host16")
    try:
        lock = client.Lock(name, reentrant=Lock.HOST)
        lock.acquire()
        assert workers(etcd, "try", name, "host", python=etcd3_016_python,
                       options=["--installed"]).line(60) == "acquired"
        assert lock.holders() == 1 and lock.is_acquired
        assert client.range(lock.holders_key).kvs[0].value == b"1"
        lock.release()
        assert lock_kv(client, name) is None
    finally:
        os.unlink(os.path.join(tempfile.gettempdir(), name + "_lock"))

