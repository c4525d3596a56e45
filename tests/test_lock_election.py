"""The v3lock (lock, unlock) and v3election (campaign, proclaim, leader, observe, resign)
services through the gateway.

Seen on every version of the matrix: these services do not turn their errors into gRPC
statuses, so "election: no leader" / "election: not leader" / a lock on an unknown lease
come back as gRPC Unknown (2), HTTP 500; the client still maps them by message to
ErrElectionNoLeader (a NotFound), ErrElectionNotLeader (a FailedPrecondition) and
ErrLeaseNotFound.
"""
from __future__ import annotations

import threading

import pytest

from conftest import make_client
from etcd3 import errors
from helpers import Background, wait_for


@pytest.fixture
def other_client(etcd):
    """A second client, as a second process would have."""
    c = make_client(etcd)
    yield c
    c.close()


# --------------------------------------------------------------------------- lock

def test_lock_returns_an_owned_key(client):
    lease = client.lease_grant(30).ID
    resp = client.lock("lk/a", lease)
    assert resp.key.startswith(b"lk/a/")
    kv = client.range(resp.key).kvs[0]
    assert kv.lease == lease
    assert kv.create_revision == resp.header.revision
    client.unlock(resp.key)
    assert client.range(resp.key).count == 0


def test_second_lock_waits_for_unlock(client, other_client):
    first = client.lock("lk/b", client.lease_grant(30).ID)
    second_lease = client.lease_grant(30).ID
    events = []
    acquired = threading.Event()

    def take_second():
        resp = other_client.lock("lk/b", second_lease)
        events.append("second acquired")
        acquired.set()
        return resp

    waiter = Background(take_second)
    # the waiter has queued its own key behind ours: it is now blocked on us
    wait_for(lambda: client.range("lk/b/", prefix=True).count == 2, timeout=10,
             message="the second lock to queue")
    assert not acquired.is_set()
    events.append("unlocking")
    unlocked = client.unlock(first.key)
    second = waiter.result(timeout=15)
    assert events == ["unlocking", "second acquired"]
    assert second.key != first.key and second.key.startswith(b"lk/b/")
    assert second.header.revision >= unlocked.header.revision
    assert [kv.key for kv in client.range("lk/b/", prefix=True).kvs] == [second.key]
    other_client.unlock(second.key)


def test_lock_released_by_lease_revoke(client, other_client):
    lease = client.lease_grant(30).ID
    client.lock("lk/c", lease)
    waiter = Background(other_client.lock, "lk/c", client.lease_grant(30).ID)
    wait_for(lambda: client.range("lk/c/", prefix=True).count == 2, timeout=10,
             message="the second lock to queue")
    assert not waiter.done.is_set()
    client.lease_revoke(lease)  # the holder's session dies
    assert waiter.result(timeout=15).key.startswith(b"lk/c/")


def test_lock_with_unknown_lease(client):
    with pytest.raises(errors.ErrLeaseNotFound) as info:
        client.lock("lk/d", 0x5151)
    assert isinstance(info.value, errors.NotFound)
    # not converted by v3lock: the wire code is Unknown; ``code`` is the class's own, as in 0.1.6
    assert info.value.http_status == 500 and info.value.codeText == "Unknown" and info.value.code == 5


def test_unlock_of_a_missing_key_is_a_no_op(client):
    assert client.unlock(b"lk/never/1").header.revision > 0


# --------------------------------------------------------------------------- election

def campaign(client, name="el/x", value="v1"):
    lease = client.lease_grant(30).ID
    return client.campaign(name, lease, value).leader, lease


def test_campaign_then_leader(client):
    leader, lease = campaign(client)
    assert leader.name == b"el/x"
    assert leader.key.startswith(b"el/x/")
    assert leader.lease == lease
    assert leader.rev > 0
    kv = client.leader("el/x").kv
    assert (kv.key, kv.value, kv.lease) == (leader.key, b"v1", lease)


def test_proclaim_changes_the_value(client):
    leader, _ = campaign(client)
    client.proclaim(leader=leader.to_dict(), value="v2")
    kv = client.leader("el/x").kv
    assert kv.value == b"v2" and kv.version == 2
    client.proclaim(leader={"name": leader.name, "key": leader.key, "rev": leader.rev, "lease": leader.lease},
                    value=b"\xffv3")
    assert client.leader("el/x").kv.value == b"\xffv3"


def test_observe_gets_the_leader_value(client):
    leader, _ = campaign(client, value="observed")

    def first():
        with client.observe("el/x") as stream:
            for item in stream:
                return item

    item = Background(first).result(timeout=10)
    assert item.kv.key == leader.key and item.kv.value == b"observed"


def test_observe_follows_proclaims(client, other_client):
    leader, _ = campaign(client, value="v1")
    streaming = threading.Event()

    def follow():
        seen = []
        with other_client.observe(name="el/x") as stream:
            for item in stream:
                seen.append(item.kv.value)
                streaming.set()
                if item.kv.value == b"v2":
                    return seen
        return seen

    observer = Background(follow)
    assert streaming.wait(10), "no first observe item"
    client.proclaim(leader=leader.to_dict(), value="v2")
    assert observer.result(timeout=10) == [b"v1", b"v2"]


def test_resign_then_no_leader(client):
    leader, _ = campaign(client)
    client.resign(leader=leader.to_dict())
    with pytest.raises(errors.ErrElectionNoLeader) as info:
        client.leader("el/x")
    err = info.value
    # the class is etcd's (a NotFound); the wire code is Unknown/500 on every version
    assert isinstance(err, errors.NotFound) and isinstance(err, errors.Etcd3APIError)
    assert err.message == "election: no leader"
    assert (err.codeText, err.http_status, err.code) == ("Unknown", 500, 5)  # code: the class's own (0.1.6)
    with pytest.raises(errors.ErrElectionNotLeader) as info:
        client.proclaim(leader=leader.to_dict(), value="late")
    assert isinstance(info.value, errors.FailedPrecondition)


def test_leader_of_an_empty_election(client):
    with pytest.raises(errors.ErrElectionNoLeader):
        client.leader("el/nobody")


def test_second_candidate_wins_after_resign(client, other_client):
    leader, _ = campaign(client, value="first")
    second_lease = client.lease_grant(30).ID
    candidate = Background(other_client.campaign, "el/x", second_lease, "second")
    wait_for(lambda: client.range("el/x/", prefix=True).count == 2, timeout=10,
             message="the second candidate to queue")
    assert not candidate.done.is_set()
    assert client.leader("el/x").kv.value == b"first"
    client.resign(leader=leader.to_dict())
    won = candidate.result(timeout=15).leader
    assert won.lease == second_lease
    assert client.leader("el/x").kv.value == b"second"
