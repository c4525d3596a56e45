"""Cluster clients on real 3-member clusters, the scenarios test_failover.py leaves
out (issue 11's "Done when"): TLS and auth on a cluster, a held lock and a 5 s lease
through member kills and restarts, watches and keepalives through a leader kill and
a quorum loss, an AioClient through a SIGSTOP'd member.

Sync and AioClient (the aio side through tests/aio_facade.py's facade: the real
AioClient on an event loop of its own).  Heavy: oldest and newest only.
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from aio_facade import Facade, LoopThread, close_aio_client
from etcd3 import AioClient, Client, errors
from etcd3.stateful.lock import Lock
from etcd3.testing.server import EtcdCluster, ensure_etcd, make_certs, supported_flags
from helpers import kill_when, member_in_use, restore, wait_for

pytestmark = pytest.mark.etcd_versions("oldest", "newest")

TIMEOUT = 5
ROOT_PASSWORD = "r00t-s3cret-pw"
USER_PASSWORD = "al1ce-s3cret-pw"
KINDS = ["sync", "aio"]
LEASE_SPAN = 60  # seconds a TTL 5 s lease is kept alive through member kills (the issue's)
TOKEN_TTL = 1  # seconds a simple token lives on a member that does not see it used


# --------------------------------------------------------------------------- fixtures

@pytest.fixture
def cluster(module_cluster):
    yield module_cluster
    restore(module_cluster)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("cluster-pki"))


@pytest.fixture(scope="module")
def tls_cluster_of_version(etcd_version, certs):
    # https client (and peer) URLs; no client certificates: the client verifies the members.
    # Short-lived simple tokens where etcd can be told (3.4+), for the auth test
    ttl = TOKEN_TTL if "--auth-token-ttl" in supported_flags(ensure_etcd(etcd_version)) else None
    cluster = EtcdCluster(3, version=etcd_version, tls=certs, auth_token_ttl=ttl)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def tls_cluster(tls_cluster_of_version):
    yield tls_cluster_of_version
    restore(tls_cluster_of_version)


def open_client(kind, endpoints, **kwargs):
    """A cluster client: a Client, or an AioClient behind the synchronous facade."""
    kwargs.setdefault("timeout", TIMEOUT)
    if kind == "sync":
        return Client(endpoints=endpoints, **kwargs)
    loop = LoopThread()

    async def make():
        client = AioClient(endpoints=endpoints, **kwargs)
        await client._ensure_connected()
        return client

    return Facade(loop.run(make()), loop)


def close_client(client):
    if isinstance(client, Facade):
        close_aio_client(client)
    else:
        client.close()


def stream_endpoint(client, name):
    """The member a client's background stream ("watch" or "keepalive") last connected to."""
    return getattr(client, "_shared_%s_stream" % name)._endpoint_used


def refreshed_after(lease, moment, timeout=TIMEOUT * 2):
    """Wait until the background keepalive refreshed ``lease`` after ``moment`` (time.time())."""
    wait_for(lambda: (lease.last_keep or 0) > moment, timeout=timeout,
             message="a refresh of lease %x after %.3f" % (lease.ID, moment))


# --------------------------------------------------------------------------- TLS

@pytest.mark.parametrize("kind", KINDS)
def test_tls_gets_through_kill_of_the_member_in_use(tls_cluster, certs, kind):
    client = open_client(kind, tls_cluster.endpoints, verify=str(certs.ca))
    try:
        assert all(e.startswith("https://") for e in client.endpoints)
        client.put("fo/tls", "value")
        victim = member_in_use(tls_cluster, client)
        counter = [0]
        killer = kill_when(counter, 100, victim)
        for counter[0] in range(300):
            assert client.range("fo/tls").kvs[0].value == b"value"  # every get succeeds
        killer.join()
        assert client.baseurl != victim.endpoint and client.baseurl.startswith("https://")
        assert client.verify == str(certs.ca)
    finally:
        close_client(client)


@pytest.mark.etcd_versions("newest")  # the client's check: the same on every version
def test_tls_member_verification_is_on(tls_cluster):
    # the members' certificates come from a CA the system does not trust: refused on every
    # one, at once (no retry heals a certificate), as a client of one endpoint is
    with pytest.raises(errors.Etcd3TLSError) as info:
        Client(endpoints=tls_cluster.endpoints, timeout=0.5)
    assert all(e in str(info.value) for e in tls_cluster.endpoints)
    assert "certificate" in str(info.value).lower()


# --------------------------------------------------------------------------- leases and locks

def test_lease_and_locks_stay_held_through_member_kills_and_restarts(cluster):
    """A TTL 5 s lease kept alive for 60 s while members are killed -9 and restarted one
    at a time, by turns the one in use and the leader; a Lock and a FairLock held all
    along: another client's attempts keep failing until they are released.  (Sync only,
    for CI time: AioClient's locks and keepalives go through a leader kill and a quorum
    loss in the next test.)"""
    holder = Client(endpoints=cluster.endpoints, timeout=TIMEOUT)
    other = Client(endpoints=list(reversed(cluster.endpoints)), timeout=TIMEOUT)
    try:
        lease = holder.Lease(ttl=5)
        lease.grant()
        lease.keepalive()
        holder.put("fo/leased", "held", lease=lease.ID)
        lock = holder.Lock("fo-held", lock_ttl=5)
        assert lock.acquire(timeout=TIMEOUT) is not None
        fair = holder.FairLock("fo-fair", lock_ttl=5)
        assert fair.acquire(timeout=TIMEOUT) is True
        lock_lease, fair_lease = lock.lease.ID, fair._lease_id
        rival, fair_rival = Lock(other, "fo-held", lock_ttl=5), other.FairLock("fo-fair", lock_ttl=5)
        started = time.monotonic()
        kills = 0
        while time.monotonic() - started < LEASE_SPAN:
            leader = cluster.leader(timeout=15)
            assert leader is not None
            in_use = member_in_use(cluster, holder)
            victim = in_use if kills % 2 == 0 else leader
            victim.kill()  # returns once the process is gone
            killed_at = time.time()
            kills += 1
            refreshed_after(lease, killed_at)  # the keepalive went on after the kill
            refreshed_after(lock.lease, killed_at)
            assert stream_endpoint(holder, "keepalive") != victim.endpoint
            for ID in (lease.ID, lock_lease, fair_lease):
                assert other.lease_time_to_live(ID).TTL > 0
            assert rival.acquire(block=False) is None
            try:
                assert fair_rival.acquire(block=False) is False
            except errors.Etcd3ConnectionError:
                pass  # a write of the try met the kill: not acquired either
            victim.start()
        assert kills >= 3 and time.monotonic() - started > 2 * 5
        assert cluster.leader(timeout=15) is not None
        assert lock.is_acquired and fair.is_acquired
        assert other.range("fo/leased").kvs[0].value == b"held"
        lock.release()
        fair.release()
        assert rival.acquire(timeout=TIMEOUT) is not None  # free at last
        assert fair_rival.acquire(timeout=TIMEOUT) is True
        rival.release()
        fair_rival.release()
        lease.revoke()
    finally:
        holder.close()
        other.close()


# --------------------------------------------------------------------------- watches and keepalives

def keep_writing(writer, prefix, done):
    """Put keys under ``prefix`` until ``done`` is set (a failed put is the caller's
    to decide: here it just goes on); returns the thread and the count of tries."""
    tries = [0]

    def write():
        while not done.is_set():
            try:
                writer.put("%s%d" % (prefix, tries[0] % 7), str(tries[0]))
            except (errors.Etcd3ConnectionError, errors.Etcd3Timeout, errors.Unavailable):
                pass
            tries[0] += 1

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread, tries


def server_history(client, prefix, start, last):
    """The events under ``prefix`` from revision ``start`` to ``last`` as the server keeps them."""
    history = []
    replay = client.Watcher(key=prefix, prefix=True, start_revision=start)
    replay.onEvent(lambda e: history.append((e.key, e.value, e.mod_revision)))
    replay.runDaemon()
    wait_for(lambda: history and history[-1][2] >= last, timeout=15, message="the replayed history")
    replay.stop()
    return history


@pytest.mark.parametrize("kind", KINDS)
def test_watch_and_keepalive_move_through_leader_kill_and_quorum_loss(cluster, kind):
    """The member in use is the leader and is killed -9; then the two others are
    SIGSTOP'd, so the member in use has no leader: its streams end (hasleader) and
    move on.  The watch gets exactly the server's history, the lease stays alive, a Lock
    and a FairLock stay held (another client's attempts fail).  TTLs of 10 s: no member
    can refresh a lease while there is no quorum, and a leader resumed after its TTL
    revokes it at once."""
    leader = cluster.leader(timeout=15)
    endpoints = [leader.endpoint] + [e for e in cluster.endpoints if e != leader.endpoint]
    client = open_client(kind, endpoints)
    writer = Client(endpoints=list(reversed(cluster.endpoints)), timeout=TIMEOUT)
    done = threading.Event()
    thread = None
    try:
        lease = client.Lease(ttl=10)
        lease.grant()
        lease.keepalive()
        held, fair = client.Lock("fo-q-lock", lock_ttl=10), client.FairLock("fo-q-fair", lock_ttl=10)
        assert held.acquire(timeout=TIMEOUT) is not None and fair.acquire(timeout=TIMEOUT) is True
        rival, fair_rival = Lock(writer, "fo-q-lock", lock_ttl=10), writer.FairLock("fo-q-fair", lock_ttl=10)

        def still_held():
            assert rival.acquire(block=False) is None
            assert fair_rival.acquire(block=False) is False
            assert held.is_acquired and fair.is_acquired

        start = writer.put("fo/q/start", "0").header.revision
        seen, lock = [], threading.Lock()

        def record(event):
            with lock:
                seen.append((event.key, event.value, event.mod_revision))

        watcher = client.Watcher(key="fo/q/", prefix=True, start_revision=start + 1)
        watcher.onEvent(record)
        watcher.runDaemon()
        thread, _ = keep_writing(writer, "fo/q/", done)
        wait_for(lambda: len(seen) > 20, message="events before the kill")
        assert stream_endpoint(client, "watch") == leader.endpoint

        leader.kill()
        killed_at, before = time.time(), len(seen)
        refreshed_after(lease, killed_at)
        wait_for(lambda: len(seen) > before + 40, timeout=15, message="events after the leader kill")
        assert stream_endpoint(client, "watch") != leader.endpoint
        assert stream_endpoint(client, "keepalive") != leader.endpoint
        still_held()
        leader.start()
        assert cluster.leader(timeout=15) is not None

        alone = next(m for m in cluster.members if m.endpoint == stream_endpoint(client, "watch"))
        stopped = [m for m in cluster.members if m is not alone]
        for member in stopped:
            os.kill(member.pid, signal.SIGSTOP)
        # no leader for ``alone``: it ends both streams (hasleader) and they leave it
        wait_for(lambda: stream_endpoint(client, "watch") != alone.endpoint
                 and stream_endpoint(client, "keepalive") != alone.endpoint,
                 timeout=15, message="the streams leaving the member without a leader")
        for member in stopped:
            os.kill(member.pid, signal.SIGCONT)
        resumed_at, before = time.time(), len(seen)
        assert cluster.leader(timeout=15) is not None
        refreshed_after(lease, resumed_at)
        wait_for(lambda: len(seen) > before + 40, timeout=15, message="events after the quorum came back")
        still_held()
        done.set()
        thread.join()
        last = writer.range("fo/q/", prefix=True).header.revision
        wait_for(lambda: seen and seen[-1][2] >= last, timeout=15, message="the last event")
        watcher.stop()
        history = server_history(writer, "fo/q/", start + 1, last)
        with lock:
            assert seen == [h for h in history if h[2] <= seen[-1][2]]  # nothing lost, nothing twice
        assert writer.lease_time_to_live(lease.ID).TTL > 0
        lease.revoke()
        held.release()
        fair.release()
        assert rival.acquire(timeout=TIMEOUT) is not None and fair_rival.acquire(timeout=TIMEOUT) is True
        rival.release()
        fair_rival.release()
    finally:
        done.set()
        if thread is not None:
            thread.join()
        close_client(client)
        writer.close()


# --------------------------------------------------------------------------- aio SIGSTOP

def test_aio_sigstopped_member_calls_move_on_within_the_timeout(cluster):
    async def main():
        client = AioClient(endpoints=cluster.endpoints, timeout=3)
        try:
            await client.put("fo/aio-stop", "before")
            stopped = member_in_use(cluster, client)
            os.kill(stopped.pid, signal.SIGSTOP)  # it hangs: accepts, never answers
            started = time.monotonic()
            assert (await client.range("fo/aio-stop")).kvs[0].value == b"before"
            assert time.monotonic() - started < 3
            assert client.baseurl != stopped.endpoint
            await client.put("fo/aio-stop", "after")  # the next calls use the member that answered
            assert (await client.range("fo/aio-stop")).kvs[0].value == b"after"
            # calls made together while the member hangs all move on too
            started = time.monotonic()
            answers = await asyncio.gather(*(client.range("fo/aio-stop") for _ in range(20)))
            assert all(a.kvs[0].value == b"after" for a in answers)
            assert time.monotonic() - started < 3
        finally:
            await client.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- auth

@pytest.fixture
def auth_on(tls_cluster, certs):
    """Auth on the TLS cluster: root, and alice with read-write on ``app/``; off again after."""
    admin = Client(endpoints=tls_cluster.endpoints, verify=str(certs.ca), timeout=TIMEOUT)
    admin.user_add(name="root", password=ROOT_PASSWORD)
    admin.role_add(name="root")
    admin.user_grant_role(user="root", role="root")
    admin.user_add(name="alice", password=USER_PASSWORD)
    admin.role_add(name="app-rw")
    admin.role_grant_permission(name="app-rw", perm={"permType": "READWRITE", "key": "app/", "range_end": "app0"})
    admin.user_grant_role(user="alice", role="app-rw")
    admin.auth_enable()
    admin.close()
    yield tls_cluster
    root = Client(endpoints=tls_cluster.endpoints, verify=str(certs.ca), timeout=TIMEOUT,
                  username="root", password=ROOT_PASSWORD)
    root.auth_disable()
    root.delete_range("app/", prefix=True)
    for user in ("alice", "root"):
        root.user_delete(name=user)
    for role in ("app-rw", "root"):
        root.role_delete(role=role)
    root.close()


@pytest.mark.parametrize("kind", KINDS)
def test_auth_calls_and_streams_go_on_after_kill_of_the_member_in_use(auth_on, certs, kind):
    """etcd applies an Authenticate on every member: a simple token is known to all of
    them, but each member forgets it after --auth-token-ttl without seeing it used.  The
    client uses its token on the first member only until the second has forgotten it
    (3.4+: TOKEN_TTL; 3.3 has no flag and keeps tokens 5 minutes, so there the token
    still works after the move); the first member is killed and the client moves to the
    second: calls and streams authenticate again there."""
    cluster = auth_on
    with Client(endpoints=cluster.endpoints, verify=str(certs.ca), timeout=TIMEOUT,
                username="root", password=ROOT_PASSWORD) as root:  # (3.5 answers Status to users only)
        status = root.endpoint_status()  # (the harness's leader() asks without a token)
    leader = next(m for m, s in zip(cluster.members, status) if s["is_leader"])
    # two followers first: killing the first elects no new leader, so the client moves
    # to the second and stays (an election can send an Authenticate on to the third)
    first, second = [m for m in cluster.members if m is not leader]
    expiring = first.auth_token_ttl is not None
    client = open_client(kind, [first.endpoint, second.endpoint, leader.endpoint], verify=str(certs.ca),
                         username="alice", password=USER_PASSWORD)
    try:
        client.put("app/k", "before")
        old_token = client.token
        assert old_token and client.baseurl == first.endpoint
        if expiring:
            issued = time.monotonic()
            while time.monotonic() - issued < TOKEN_TTL + 1:  # the point: time passes on the second
                assert client.range("app/k").kvs[0].value == b"before"  # ... used on the first
                time.sleep(0.25)
            assert client.token == old_token
            stranger = Client(endpoints=[second.endpoint], verify=str(certs.ca), token=old_token, timeout=TIMEOUT)
            with pytest.raises(errors.ErrInvalidAuthToken):
                stranger.range("app/k")
            stranger.close()
        events = []
        watcher = client.Watcher(key="app/", prefix=True)
        watcher.onEvent(lambda e: events.append((e.key, e.value)))
        watcher.runDaemon()
        lease = client.Lease(ttl=5)
        lease.grant()
        lease.keepalive()
        assert stream_endpoint(client, "watch") == first.endpoint
        counter = [0]
        killer = kill_when(counter, 50, first)
        for counter[0] in range(150):
            assert client.range("app/k").kvs[0].value == b"before"  # every get succeeds
        killer.join()
        killed_at = time.time()
        assert client.baseurl == second.endpoint and client.token
        if expiring:
            assert client.token != old_token  # a token of the second member's
        client.put("app/k", "after")  # writes too
        assert client.range("app/k").kvs[0].value == b"after"
        refreshed_after(lease, killed_at)  # the keepalive stream went on on its new member
        wait_for(lambda: (b"app/k", b"after") in events, message="the watch's event after the move")
        assert stream_endpoint(client, "watch") == stream_endpoint(client, "keepalive") == second.endpoint
        with pytest.raises(errors.Etcd3APIError):  # still alice: nothing outside app/
            client.put("other/k", "v")
        watcher.stop()
        lease.revoke()
    finally:
        close_client(client)
