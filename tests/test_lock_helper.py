"""The FairLock helper (etcd's lock service) on real servers: mutual exclusion
between processes, a holder killed with SIGKILL, FIFO fairness, non-blocking and
timed acquires, reentrant modes, wait(), fencing tokens and the lease behind the
lock.  (0.1.6's Lock: tests/compat/test_lock.py.)"""
from __future__ import annotations

import json
import signal
import time

import pytest

from helpers import Background, wait_for
from lock_worker import COUNTER_KEY, WorkerProcess
from etcd3.stateful.lock import EtcdLockAcquireTimeout, EtcdLockError

pytestmark = pytest.mark.etcd_versions("oldest", "newest")  # heavy; same KV and lease calls everywhere


# --------------------------------------------------------------------------- helpers

@pytest.fixture
def workers():
    started = []

    def start(etcd, mode, *args):
        w = WorkerProcess(etcd, mode, *args, options=["--fair"])
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


# --------------------------------------------------------------------------- mutual exclusion between processes

def test_eight_processes_count_to_800_without_overlap(etcd, clients, workers):
    # the workers use the sync client; the test only reads the result (once per version)
    client = clients()
    procs = [workers(etcd, "counter", "counter", 100) for _ in range(8)]
    for w in procs:
        assert w.line(60) == "ready"
    started = time.monotonic()
    for w in procs:
        w.send("go")
    records = []
    for w in procs:
        result = json.loads(w.line(180))
        assert len(result["records"]) == 100
        records += [tuple(r) for r in result["records"]]
    elapsed = time.monotonic() - started
    print("800 locked increments by 8 processes on etcd %s: %.1fs" % (client.server_version, elapsed))

    assert client.range(COUNTER_KEY).kvs[0].value == b"800"
    tokens = [r[0] for r in records]
    assert len(set(tokens)) == 800, "fencing tokens are not unique"
    by_token = sorted(records)
    for before, after in zip(by_token, by_token[1:]):
        # a later token was acquired only after the earlier holder was done
        assert before[2] <= after[1], "holders overlap: %r and %r" % (before, after)
    by_time = sorted(records, key=lambda r: r[1])
    assert [r[0] for r in by_time] == [r[0] for r in by_token], "tokens do not grow with time"
    assert client.range("_fair_locks/counter/", prefix=True).count == 0
    client.delete_range(COUNTER_KEY)


def test_sigkilled_holder_frees_the_lock_within_its_ttl(etcd, client, workers):
    ttl = 2
    holder = workers(etcd, "hold", "crash", ttl)
    words = holder.line(60).split()
    assert words[0] == "acquired"
    holder_token = int(words[1])
    lock = client.FairLock("crash", lock_ttl=10)
    assert lock.holders() == 1
    assert lock.holder().key.decode() == words[2]
    waiter = Background(lock.acquire, timeout=30)
    wait_for(lambda: lock.holders() == 2, 10, message="the waiter to queue")
    assert not waiter.done.is_set()

    killed = time.monotonic()
    holder.proc.send_signal(signal.SIGKILL)
    assert waiter.result(ttl + 10) is True
    took = waiter.finished_at - killed
    print("etcd %s: lock free %.2fs after SIGKILL of a holder with lock_ttl=%d"
          % (client.server_version, took, ttl))
    assert took <= ttl + 1 + 0.5, "the lock was freed %.2fs after the holder died" % took
    # not before the lease could have expired: refreshed at most TTL/3 before the kill
    assert took >= ttl * 2 / 3.0 - 0.3, "freed too early (%.2fs): not by the lease's expiry" % took
    assert lock.is_acquired
    assert lock.fencing_token > holder_token
    lock.release()


def test_waiters_are_served_in_fifo_order(etcd, client, clients):
    holder = client.FairLock("fifo")
    holder.acquire()
    order, tokens = [], []
    waiters = []

    def wait_turn(lock, i):
        lock.acquire(timeout=60)
        order.append(i)  # inside the critical section: the true order
        tokens.append(lock.fencing_token)
        lock.release()

    for i in range(8):
        lock = clients().FairLock("fifo")
        waiters.append(Background(wait_turn, lock, i))
        # the next waiter starts only once this one's key is queued
        wait_for(lambda i=i: holder.holders() == i + 2, 10, message="waiter %d to queue" % i)
    queued = client.range("_fair_locks/fifo/", prefix=True, sort_target="CREATE", sort_order="ASCEND").kvs
    assert len(queued) == 9 and queued[0].key == holder.key
    assert not any(w.done.is_set() for w in waiters)
    holder.release()
    for w in waiters:
        w.result(30)
    assert order == list(range(8))
    assert tokens == sorted(tokens) and len(set(tokens)) == 8
    # each waiter's token is the create revision of its queued key
    assert tokens == [kv.create_revision for kv in queued[1:]]
    assert holder.holders() == 0


# --------------------------------------------------------------------------- acquire variants

def test_block_false(client, clients):
    holder = client.FairLock("nb")
    other = clients().FairLock("nb")
    assert holder.acquire(block=False) is True
    assert holder.is_acquired
    assert other.acquire(block=False) is False
    assert not other.is_acquired
    assert other.holders() == 1  # its key was withdrawn
    assert other.holder().key == holder.key
    holder.release()
    assert other.acquire(block=False) is True
    assert other.holders() == 1 and other.holder().key == other.key
    assert holder.acquire(block=False) is False
    other.release()
    assert holder.holders() == 0


def test_timeout_raises_and_withdraws(client, clients):
    holder = client.FairLock("to")
    holder.acquire()
    other = clients().FairLock("to")
    started = time.monotonic()
    with pytest.raises(EtcdLockAcquireTimeout) as info:
        other.acquire(timeout=1)
    took = time.monotonic() - started
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, EtcdLockError)
    assert 1 <= took < 3, took
    assert not other.is_acquired
    # the timed-out waiter's key is gone: nobody queues behind it
    assert holder.holders() == 1
    assert [kv.key for kv in client.range("_fair_locks/to/", prefix=True).kvs] == [holder.key]
    holder.release()
    # and the lock is free for the next comer (no phantom waiter in front)
    third = clients().FairLock("to")
    assert third.acquire(timeout=5) is True
    third.release()
    assert other.acquire(timeout=5) is True
    other.release()


def test_timeout_with_other_waiters_keeps_their_order(client, clients):
    holder = client.FairLock("to2")
    holder.acquire()
    impatient = clients().FairLock("to2")
    patient = clients().FairLock("to2")
    late = Background(impatient.acquire, timeout=1.5)
    wait_for(lambda: holder.holders() == 2, 10, message="the impatient waiter")
    waiting = Background(patient.acquire, timeout=30)
    wait_for(lambda: holder.holders() == 3, 10, message="the patient waiter")
    with pytest.raises(EtcdLockAcquireTimeout):
        late.result(10)
    assert holder.holders() == 2
    holder.release()
    assert waiting.result(10) is True
    patient.release()


def test_acquire_twice_without_reentrance(client):
    lock = client.FairLock("twice")
    lock.acquire()
    with pytest.raises(EtcdLockError):
        lock.acquire()
    assert lock.is_acquired and lock.holders() == 1
    lock.release()


def test_release_when_not_held(client):
    lock = client.FairLock("rel")
    with pytest.raises(EtcdLockError):
        lock.release()
    lock.acquire()
    lock.release()
    with pytest.raises(EtcdLockError):
        lock.release()
    with pytest.raises(EtcdLockError):
        _ = lock.fencing_token


def test_bad_arguments(client):
    with pytest.raises(ValueError):
        client.FairLock("x", reentrant="cluster")
    for ttl in (0, -1, 1.5, True, "10"):
        with pytest.raises(ValueError):
            client.FairLock("x", lock_ttl=ttl)


# --------------------------------------------------------------------------- reentrant modes

def test_reentrant_same_object(client):
    lock = client.FairLock("re-obj", reentrant="thread")
    assert lock.acquire() and lock.acquire() and lock.acquire()
    key = lock.key
    lock.release()
    lock.release()
    assert lock.is_acquired and lock.holder().key == key
    lock.release()
    assert not lock.is_acquired and lock.holders() == 0


def test_reentrant_thread(clients):
    # a sync client: with an AioClient the caller is the asyncio task, and the test facade runs
    # each call in a task of its own (the per-task case: tests/compat/test_lock.py, on real tasks)
    client = clients()
    first = client.FairLock("re-thread", reentrant="thread")
    first.acquire()
    same_thread = client.FairLock("re-thread", reentrant="thread")  # another Lock object, same caller
    assert same_thread.acquire(block=False) is True  # same thread: re-enters
    assert same_thread.holder().key == first.key and same_thread.holders() == 1
    assert same_thread.fencing_token == first.fencing_token
    other_thread = clients().FairLock("re-thread", reentrant="thread")
    assert Background(other_thread.acquire, block=False).result(10) is False
    same_thread.release()
    assert first.holders() == 1 and first.is_acquired  # the borrower's release leaves it held
    first.release()
    assert first.holders() == 0
    assert Background(other_thread.acquire, block=False).result(10) is True
    other_thread.release()


def test_reentrant_process(etcd, client, clients, workers):
    first = client.FairLock("re-proc", reentrant="process")
    first.acquire()
    # another thread of this process re-enters
    mate = clients().FairLock("re-proc", reentrant="process")
    assert Background(mate.acquire, block=False).result(10) is True
    assert mate.holder().key == first.key and first.holders() == 1
    # another process does not
    w = workers(etcd, "try", "re-proc", "process")
    assert w.line(60) == "busy"
    # while a 'host' identity covers every process of this host
    host_lock = client.FairLock("re-host", reentrant="host")
    host_lock.acquire()
    w = workers(etcd, "try", "re-host", "host")
    assert w.line(60) == "acquired"
    assert host_lock.is_acquired and host_lock.holders() == 1
    host_lock.release()
    mate.release()
    first.release()
    assert first.holders() == 0
    w = workers(etcd, "try", "re-proc", "process")
    assert w.line(60) == "acquired"


def test_non_reentrant_lock_of_another_process_blocks(etcd, workers, client):
    holder = workers(etcd, "hold", "plain", 30)
    assert holder.line(60).startswith("acquired")
    lock = client.FairLock("plain", reentrant=None)
    assert lock.acquire(block=False) is False
    holder.send("release")
    assert holder.line(30) == "released"
    assert lock.acquire(timeout=10) is True
    lock.release()


# --------------------------------------------------------------------------- wait, context manager, tokens

def test_wait(client, clients):
    lock = client.FairLock("w")
    assert lock.wait(timeout=1) is True  # free: at once
    lock.acquire()
    other = clients().FairLock("w")
    started = time.monotonic()
    assert other.wait(timeout=0.5) is False
    assert time.monotonic() - started >= 0.5
    waiter = Background(other.wait, timeout=30)
    assert not waiter.done.wait(0.3)
    released = time.monotonic()
    lock.release()
    assert waiter.result(10) is True
    assert waiter.finished_at - released < 2
    assert not other.is_acquired  # waiting does not take it
    assert other.holders() == 0


def test_context_manager(client, clients):
    lock = client.FairLock("ctx")
    with lock as held:
        assert held is lock and lock.is_acquired
        assert lock.holders() == 1 and lock.holder().key == lock.key
        assert clients().FairLock("ctx").acquire(block=False) is False
    assert not lock.is_acquired and lock.holders() == 0
    assert lock.holder() is None
    with pytest.raises(KeyError):
        with lock:
            raise KeyError("inside")
    assert not lock.is_acquired and lock.holders() == 0


def test_fencing_token_grows(client, clients):
    a = client.FairLock("fence")
    b = clients().FairLock("fence")
    tokens, revisions = [], []
    for lock in (a, b, a, a, b):
        lock.acquire()
        token = lock.fencing_token
        assert token == lock.holder().create_revision
        assert lock.revision >= token
        tokens.append(token)
        revisions.append(lock.revision)
        client.put("fence/data", "by %d" % token)  # a write stamped with the token
        lock.release()
    assert tokens == sorted(tokens) and len(set(tokens)) == len(tokens)
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)


def test_fencing_token_guards_a_write(client, clients):
    """A txn that compares the holder key's create revision with the token only
    succeeds for the current holder."""
    old = client.FairLock("guard")
    old.acquire()
    stale_token, stale_key = old.fencing_token, old.key
    old.release()
    new = clients().FairLock("guard")
    new.acquire()

    def guarded_put(key, token, value):
        t = client.Txn()
        t.compare(t.key(key).create == token)
        t.success(t.put("guard/data", value))
        return t.commit().succeeded

    assert guarded_put(new.key, new.fencing_token, "new") is True
    assert guarded_put(stale_key, stale_token, "stale") is False
    assert client.range("guard/data").kvs[0].value == b"new"
    new.release()


def test_holder_and_holders(client, clients):
    lock = client.FairLock("hh")
    assert lock.holder() is None and lock.holders() == 0
    lock.acquire()
    kv = lock.holder()
    assert kv.key == lock.key and kv.key.startswith(b"_fair_locks/hh/")
    assert kv.lease > 0
    waiter = Background(clients().FairLock("hh").acquire, timeout=30)
    wait_for(lambda: lock.holders() == 2, 10, message="a waiter")
    assert lock.holder().key == lock.key  # the holder is still first in line
    lock.release()
    waiter.result(10)
    assert lock.holder().key != kv.key


def test_lock_prefix(client):
    lock = client.FairLock("pfx", lock_prefix="my/locks")
    lock.acquire()
    assert lock.key.startswith(b"my/locks/pfx/")
    assert client.range("_fair_locks/", prefix=True).count == 0
    lock.release()


# --------------------------------------------------------------------------- the lease behind the lock

def test_short_lock_ttl_held_longer_than_its_ttl(client, clients):
    ttl = 2
    lock = client.FairLock("long", lock_ttl=ttl)
    lock.acquire()
    key = lock.key
    waiter_lock = clients().FairLock("long", lock_ttl=ttl)
    waiter = Background(waiter_lock.acquire, timeout=30)
    wait_for(lambda: lock.holders() == 2, 10, message="a waiter")
    # 3 TTLs: the holder's and the waiter's leases are both refreshed meanwhile
    deadline = time.monotonic() + 3 * ttl
    while time.monotonic() < deadline:
        assert lock.holder().key == key
        assert lock.holders() == 2
        assert not waiter.done.is_set()
        time.sleep(0.2)
    assert lock.is_acquired
    lock.release()
    assert waiter.result(10) is True
    assert waiter_lock.is_acquired
    waiter_lock.release()


def test_lease_outlives_many_short_acquires(client):
    """Short holds in a loop, for longer than lock_ttl: the lease behind the lock
    must be refreshed now and then, or the next acquire runs on an expired lease."""
    ttl = 3
    lock = client.FairLock("cycles", lock_ttl=ttl)
    started = time.monotonic()
    cycles = 0
    while time.monotonic() - started < 2 * ttl + 1:
        at = time.monotonic() - started
        try:
            lock.acquire(timeout=10)
        except Exception as e:
            raise AssertionError("cycle %d at %.1fs: %r" % (cycles, at, e)) from e
        lease = lock.holder().lease
        assert client.lease_time_to_live(lease).TTL >= 0, "cycle %d at %.1fs: the lease is gone" % (cycles, at)
        lock.release()
        cycles += 1
        time.sleep(0.2)  # shorter than TTL/3 between the cycles
    assert cycles > 10
    lock.close()


def test_close_releases_and_revokes(client):
    lock = client.FairLock("close", lock_ttl=30)
    lock.acquire()
    lease = lock.holder().lease
    assert client.lease_time_to_live(lease).TTL > 0
    lock.close()
    assert not lock.is_acquired
    assert lock.holders() == 0
    assert client.lease_time_to_live(lease).TTL == -1
    lock.close()  # twice is fine
    assert lock.acquire(block=False) is True  # usable again, on a new lease
    assert lock.holder().lease != lease
    lock.close()


def test_lock_reuses_its_lease_between_acquires(client):
    lock = client.FairLock("reuse", lock_ttl=30)
    leases = set()
    for _ in range(5):
        lock.acquire()
        leases.add(lock.holder().lease)
        lock.release()
    assert len(leases) == 1
    assert client._keepalive_stream().connections == 1
    lock.close()


def test_lock_lost_when_its_lease_is_revoked(client, clients):
    lock = client.FairLock("lost", lock_ttl=3)
    lock.acquire()
    lease = lock.holder().lease
    clients().lease_revoke(lease)  # e.g. an operator
    # the keepalive notices within TTL/3 and the lock is no longer ours
    wait_for(lambda: not lock.is_acquired, 3, message="the lock to be reported lost")
    assert lock.holders() == 0
    other = clients().FairLock("lost")
    assert other.acquire(block=False) is True
    other.release()
