"""Cluster clients on real 3-member clusters: calls, watches and keepalives move
between members through kill -9 and SIGSTOP; a write is never applied twice.

One cluster per version for the module (members killed by a test are restarted
by the ``cluster`` fixture before the next one).  Heavy: oldest and newest only.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from etcd3 import AioClient, Client, errors
from etcd3.testing.server import EtcdCluster, EtcdServer, free_port

from .helpers import kill_when, member_in_use, restore, wait_for

pytestmark = pytest.mark.etcd_versions("oldest", "newest")

TIMEOUT = 5


@pytest.fixture
def cluster(module_cluster):
    """The module's cluster (conftest), every member running again after each test."""
    yield module_cluster
    restore(module_cluster)


def test_gets_and_puts_through_kill_of_the_member_in_use(cluster):
    client = Client(endpoints=cluster.endpoints, timeout=TIMEOUT)
    try:
        client.put("fo/get", "value")
        counter = [0]
        victim = member_in_use(cluster, client)
        killer = kill_when(counter, 200, victim)
        for counter[0] in range(1000):
            assert client.range("fo/get").kvs[0].value == b"value"  # every get succeeds
        killer.join()
        assert client.baseurl != victim.endpoint
        victim.start()  # a quorum again for the writes
        assert cluster.leader(timeout=15) is not None

        counter = [0]
        killer = kill_when(counter, 150, member_in_use(cluster, client))
        raised = []
        for counter[0] in range(1000):
            try:
                client.put("fo/put/%04d" % counter[0], "v")
            except errors.Etcd3ConnectionError:
                raised.append(counter[0])  # may or may not be applied: the caller decides
        killer.join()
        assert len(raised) <= 3
        kvs = client.range("fo/put/", prefix=True).kvs
        versions = {kv.key: kv.version for kv in kvs}
        succeeded = {("fo/put/%04d" % i).encode() for i in range(1000) if i not in raised}
        assert succeeded <= set(versions)  # every put that returned is there
        assert set(versions.values()) == {1}  # none applied twice
    finally:
        client.close()


def test_sigstopped_member_calls_move_on_within_the_timeout(cluster):
    client = Client(endpoints=cluster.endpoints, timeout=3)
    try:
        client.put("fo/stop", "before")
        stopped = member_in_use(cluster, client)
        os.kill(stopped.pid, signal.SIGSTOP)
        started = time.monotonic()
        assert client.range("fo/stop").kvs[0].value == b"before"
        assert time.monotonic() - started < 3
        assert client.baseurl != stopped.endpoint
        client.put("fo/stop", "after")  # the next calls use the member that answered
        assert client.range("fo/stop").kvs[0].value == b"after"
    finally:
        client.close()


def test_all_members_down_names_every_endpoint_within_the_timeout():
    # real refusals (closed ports) and a member that accepts and never answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    endpoints = ["127.0.0.1:%d" % free_port("127.0.0.1"), "127.0.0.1:%d" % free_port("127.0.0.1"),
                 "127.0.0.1:%d" % silent.getsockname()[1]]
    try:
        with pytest.warns(Warning):  # the version could not be read
            client = Client(endpoints=endpoints, timeout=2)
        for call in (lambda: client.range("k"), lambda: client.put("k", "v")):
            started = time.monotonic()
            with pytest.raises(errors.Etcd3ConnectionError) as info:
                call()
            assert time.monotonic() - started < 2.5
            for endpoint in endpoints:
                assert endpoint in str(info.value)
        client.close()
    finally:
        silent.close()


def test_watch_through_member_and_leader_kill_gets_exactly_the_servers_history(cluster):
    client = Client(endpoints=cluster.endpoints, timeout=TIMEOUT)
    writer = Client(endpoints=list(reversed(cluster.endpoints)), timeout=TIMEOUT)
    try:
        start = writer.put("fo/w/start", "0").header.revision
        seen, lock = [], threading.Lock()
        watcher = client.Watcher(key="fo/w/", prefix=True, start_revision=start + 1)

        def record(event):
            with lock:
                seen.append((event.key, event.value, event.mod_revision))
        watcher.onEvent(record)
        watcher.runDaemon()
        done = threading.Event()
        writes = [0]

        def write():
            while not done.is_set():
                try:
                    writer.put("fo/w/%d" % (writes[0] % 7), str(writes[0]))
                except errors.Etcd3ConnectionError:
                    pass
                writes[0] += 1

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        wait_for(lambda: len(seen) > 20, message="events before the kill")
        victim = member_in_use(cluster, client)
        victim.kill()
        wait_for(lambda: len(seen) > 60, timeout=15, message="events after the member kill")
        victim.start()  # a quorum again before the leader goes
        leader = cluster.leader(timeout=15)
        leader.kill()
        wait_for(lambda: len(seen) > 120, timeout=20, message="events after the leader kill")
        done.set()
        thread.join()
        last = writer.range("fo/w/", prefix=True).header.revision
        wait_for(lambda: seen and seen[-1][2] >= last, timeout=15, message="the last event")
        watcher.stop()
        # the history as the server keeps it, read afresh from the start
        history = []
        replay = writer.Watcher(key="fo/w/", prefix=True, start_revision=start + 1)
        replay.onEvent(lambda e: history.append((e.key, e.value, e.mod_revision)))
        replay.runDaemon()
        wait_for(lambda: history and history[-1][2] >= last, timeout=15, message="the replayed history")
        replay.stop()
        with lock:
            assert seen == [h for h in history if h[2] <= seen[-1][2]]
    finally:
        client.close()
        writer.close()


def test_lease_keepalive_survives_member_kills(cluster):
    client = Client(endpoints=cluster.endpoints, timeout=TIMEOUT)
    try:
        lease = client.Lease(ttl=5)
        lease.grant()
        client.put("fo/lease", "held", lease=lease.ID)
        lease.keepalive()
        for _ in range(2):  # the member in use dies, comes back; then the next one
            victim = member_in_use(cluster, client)
            victim.kill()
            time.sleep(3)  # (not synchronisation: the lease must outlive a gap near its TTL)
            assert client.range("fo/lease").kvs[0].value == b"held"
            victim.start()
            assert cluster.leader(timeout=15) is not None
        time.sleep(2)
        assert client.lease_time_to_live(lease.ID).TTL > 0
        assert client.range("fo/lease").kvs[0].value == b"held"
        lease.cancel_keepalive()
        lease.revoke()
    finally:
        client.close()


def test_endpoint_status_and_health_name_each_member(cluster):
    client = Client(endpoints=cluster.endpoints, timeout=TIMEOUT)
    try:
        status = client.endpoint_status()
        assert [s["endpoint"] for s in status] == cluster.endpoints
        assert sum(s["is_leader"] for s in status) == 1
        assert len({s["leader"] for s in status}) == 1 and all(s["raft_index"] for s in status)
        cluster.members[1].kill()
        health = client.endpoint_health()
        assert [h["healthy"] for h in health] == [True, False, True]
        assert cluster.members[1].endpoint in health[1]["error"]
    finally:
        client.close()


def test_aio_client_gets_puts_and_all_down(cluster):
    async def main():
        client = AioClient(endpoints=cluster.endpoints, timeout=TIMEOUT)
        try:
            await client.put("fo/aio/get", "value")
            victim = member_in_use(cluster, client)
            raised = 0
            for i in range(300):
                if i == 100:
                    victim.kill()
                assert (await client.range("fo/aio/get")).kvs[0].value == b"value"
                try:
                    await client.put("fo/aio/put/%03d" % i, "v")
                except errors.Etcd3ConnectionError:
                    raised += 1
            assert client.baseurl != victim.endpoint and raised <= 1
            kvs = (await client.range("fo/aio/put/", prefix=True)).kvs
            assert len(kvs) >= 300 - raised and {kv.version for kv in kvs} == {1}
            assert [h["healthy"] for h in await client.endpoint_health()].count(False) == 1
        finally:
            await client.close()
        dead = ["127.0.0.1:%d" % free_port("127.0.0.1") for _ in range(3)]
        client = AioClient(endpoints=dead, timeout=1)
        with pytest.warns(Warning):  # the version could not be read (within its own 3 s)
            await client._ensure_connected()
        started = time.monotonic()
        with pytest.raises(errors.Etcd3ConnectionError) as info:
            await client.range("k")
        assert time.monotonic() - started < 1.5
        assert all(e in str(info.value) for e in dead)
        await client.close()

    asyncio.run(main())


def test_the_server_gives_up_at_the_calls_deadline(cluster):
    # Grpc-Timeout: the gateway makes it its gRPC call's deadline (3.3.25 and 3.5.30 alike):
    # a lock wait ends with the server's DeadlineExceeded, and the server leaves the line
    first = cluster.members[0]
    for client in (Client(endpoints=cluster.endpoints, timeout=TIMEOUT), Client(first.host, first.port,
                                                                                 timeout=TIMEOUT)):
        try:
            holder, waiter = client.lease_grant(TTL=30).ID, client.lease_grant(TTL=30).ID
            held = client.call_rpc("lock", {"name": "fo/lk", "lease": holder})
            started = time.monotonic()
            with pytest.raises(errors.Etcd3Timeout) as info:
                client.call_rpc("lock", {"name": "fo/lk", "lease": waiter}, timeout=1)
            assert 0.9 <= time.monotonic() - started < 1.5
            assert "Grpc-Timeout" in str(info.value)  # the server's answer, not our read timing out
            # the server leaves the line by itself (its handler ends just after the answer)
            wait_for(lambda: [kv.key for kv in client.range("fo/lk/", prefix=True).kvs] == [held.key],
                     timeout=3, message="the waiter's key gone")
            client.lease_revoke(ID=holder)
            client.lease_revoke(ID=waiter)
        finally:
            client.close()


@pytest.mark.parametrize("tokens", ["simple", "jwt"])
def test_auth_on_a_cluster_through_a_kill_of_the_member_in_use(etcd_version, tokens, tmp_path):
    # simple tokens: each member forgets a token not used on it for --auth-token-ttl; the
    # member in use keeps it alive, the others drop it, so after a move the client must
    # authenticate again there.  A JWT is valid on every member: it keeps working.
    # Real users and roles; the member in use is killed.
    if tokens == "jwt":
        key, public = tmp_path / "jwt.key", tmp_path / "jwt.pub"
        subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(public)], check=True,
                       capture_output=True)
        options = dict(extra_args=["--auth-token", "jwt,pub-key=%s,priv-key=%s,sign-method=RS256" % (public, key)])
    else:
        options = dict(auth_token_ttl=1)  # (forgotten 1-2 s after its last use: etcd checks once a second)
    with EtcdCluster(3, version=etcd_version, **options) as auth_cluster:
        admin = Client(endpoints=auth_cluster.endpoints, timeout=TIMEOUT)
        admin.user_add(name="root", password="r00t-pw")
        admin.role_add(name="root")
        admin.user_grant_role(user="root", role="root")
        admin.user_add(name="alice", password="al1ce-pw")
        admin.role_add(name="app")
        admin.role_grant_permission(name="app", perm={"permType": "READWRITE", "key": "app/", "range_end": "app0"})
        admin.user_grant_role(user="alice", role="app")
        admin.auth_enable()
        admin.close()
        client = Client(endpoints=auth_cluster.endpoints, timeout=TIMEOUT, username="alice", password="al1ce-pw")
        try:
            client.put("app/k", "v")
            token = client.token
            if tokens == "simple":
                ends = time.monotonic() + 3  # (not synchronisation: the other members' TTL must pass)
                while time.monotonic() < ends:
                    assert client.range("app/k").kvs[0].value == b"v"
            else:
                assert token.count(".") == 2  # a JWT
            member_in_use(auth_cluster, client).kill()
            for i in range(50):
                assert client.range("app/k").kvs[0].value == b"v"
                client.put("app/n/%02d" % i, "v")
            if tokens == "simple":
                assert client.token != token  # authenticated again on the new member
            else:
                assert client.token == token  # the same JWT, accepted by the new member
            assert {kv.version for kv in client.range("app/n/", prefix=True).kvs} == {1}
            assert client.range("app/n/", prefix=True).count == 50
            with pytest.raises(errors.ErrPermissionDenied):
                client.put("other/k", "v")  # still alice, with alice's rights
        finally:
            client.close()


@pytest.mark.parametrize("aio", [False, True], ids=["sync", "aio"])
def test_auto_sync_learns_an_added_member_and_forgets_a_removed_one(cluster, aio):
    admin = Client(endpoints=cluster.endpoints, timeout=TIMEOUT)
    first = cluster.members[0]
    # the client is given one member only: the rest it learns from member_list
    client = (AioClient if aio else Client)(endpoints=[first.endpoint], timeout=TIMEOUT, auto_sync_interval=0.2)
    loop = asyncio.new_event_loop()  # (the aio client's one loop)

    def seen():
        # syncing happens before a call, once the interval has passed
        if aio:
            loop.run_until_complete(client.range("fo/sync"))
        else:
            client.range("fo/sync")
        return list(client.endpoints)

    newcomer = None
    try:
        wait_for(lambda: sorted(seen()) == sorted(cluster.endpoints), message="the cluster's members")
        assert client.endpoints.in_use == first.endpoint
        newcomer = EtcdServer(binary=cluster.binary, name="etcd-new", host=first.host,
                              cluster_token=cluster.cluster_token, extra_args=cluster.extra_args,
                              initial_cluster_state="existing")
        added = []

        def add():  # etcd refuses a member while one has been connected for less than 5 s
            try:
                added.append(admin.member_add(peerURLs=[newcomer.peer_url]).member)
            except errors.ErrUnhealthy:
                return False
            return True
        wait_for(add, timeout=15, message="the member added")
        added = added[0]
        # before it starts, the new member has no name and no client URLs: skipped
        assert sorted(seen()) == sorted(cluster.endpoints)
        newcomer.initial_cluster = ",".join(["%s=%s" % (m.name, m.peer_url) for m in cluster.members]
                                            + ["etcd-new=%s" % newcomer.peer_url])
        newcomer.start()
        wait_for(lambda: newcomer.endpoint in seen(), timeout=10, message="the added member")
        admin.member_remove(ID=added.ID)
        newcomer.stop()
        newcomer = None
        wait_for(lambda: sorted(seen()) == sorted(cluster.endpoints), timeout=10, message="the member gone")
    finally:
        if newcomer is not None:
            newcomer.stop()
        if aio:
            loop.run_until_complete(client.close())
        else:
            client.close()
        loop.close()
        admin.close()


def test_rolling_upgrade_each_member_is_called_under_its_own_prefix():
    # a 3.3 -> 3.4 rolling upgrade half done: 3.3 serves /v3beta only, 3.4 /v3 (and /v3beta).
    # A client that connected to the upgraded member (spec 3.4, /v3) moves to the old ones.
    # (Runs once per test run: it needs no server of the run's matrix.)
    with EtcdCluster(3, member_versions=["3.4.23", "3.3.25", "3.3.25"]) as mixed:
        upgraded = mixed.members[0]
        client = Client(endpoints=mixed.endpoints, timeout=TIMEOUT)
        writer = Client(endpoints=mixed.endpoints[1:], timeout=TIMEOUT)  # (on the 3.3 members)
        try:
            assert (client.server_version, client.api_prefix) == ("3.4.23", "/v3")
            assert [s["version"] for s in client.endpoint_status()] == ["3.4.23", "3.3.25", "3.3.25"]
            client.put("mixed/k", "v")
            seen = []
            watcher = client.Watcher(key="mixed/w/", prefix=True)
            watcher.onEvent(lambda event: seen.append(event.value))
            watcher.runDaemon()
            wait_for(lambda: writer.put("mixed/w/k", "0") and seen, message="the watch on the 3.4 member")
            upgraded.kill()
            for i in range(30):
                assert client.range("mixed/k").kvs[0].value == b"v"
                client.put("mixed/n/%02d" % i, "v")
            assert client.baseurl != upgraded.endpoint
            assert {kv.version for kv in client.range("mixed/n/", prefix=True).kvs} == {1}
            # the watch moved too, to a 3.3 member under /v3beta: every later event arrives
            for i in range(1, 6):
                writer.put("mixed/w/k", str(i))
            wait_for(lambda: seen[-1:] == [b"5"], timeout=15, message="the events after the kill")
            assert seen == [b"0"] * (len(seen) - 5) + [b"1", b"2", b"3", b"4", b"5"]
            watcher.stop()
        finally:
            client.close()
            writer.close()
        upgraded.start()

        async def aio():
            async with AioClient(endpoints=mixed.endpoints, timeout=TIMEOUT) as aclient:
                assert aclient.api_prefix == "/v3"
                upgraded.kill()
                for i in range(30):
                    assert (await aclient.range("mixed/k")).kvs[0].value == b"v"
                    await aclient.put("mixed/a/%02d" % i, "v")
                assert (await aclient.range("mixed/a/", prefix=True)).count == 30

        asyncio.run(aio())
