"""Lease RPCs: grant, revoke, time_to_live, leases, keepalive (once and the stream), expiry."""
from __future__ import annotations

import random

import pytest

from etcd3 import errors
from helpers import Background, wait_for


def random_id():
    return random.randint(1 << 40, 1 << 60)


def test_grant_without_id(client):
    resp = client.lease_grant(60)
    assert resp.ID > 0
    assert resp.TTL == 60
    assert resp.error == ""
    assert resp.ID in [lease.ID for lease in client.lease_leases().leases or []]


def test_grant_with_id(client):
    wanted = random_id()
    resp = client.lease_grant(30, ID=wanted)
    assert (resp.ID, resp.TTL) == (wanted, 30)
    with pytest.raises(errors.ErrLeaseExist) as info:
        client.lease_grant(30, ID=wanted)
    assert isinstance(info.value, errors.FailedPrecondition)


def test_grant_short_ttl_is_raised_to_the_minimum(client):
    # the server may grant longer than asked: at least its minimum TTL (2s by default)
    resp = client.lease_grant(1)
    assert resp.TTL >= 1


def test_time_to_live_lists_attached_keys(client):
    lease = client.lease_grant(60).ID
    client.put("lease/a", "1", lease=lease)
    client.put(b"lease/\xffb", "2", lease=lease)
    client.put("lease/free", "3")
    ttl = client.lease_time_to_live(lease, keys=True)
    assert ttl.ID == lease
    assert ttl.grantedTTL == 60
    assert 0 < ttl.TTL <= 60
    assert sorted(ttl.keys) == [b"lease/a", b"lease/\xffb"]
    assert client.lease_time_to_live(lease).keys is None  # only when asked


def test_time_to_live_of_unknown_lease(client):
    resp = client.lease_time_to_live(random_id())
    assert resp.TTL == -1
    assert resp.grantedTTL == 0


def test_keep_alive_once_extends(client):
    lease = client.lease_grant(5).ID

    def ttl_once_it_dropped():
        ttl = client.lease_time_to_live(lease).TTL
        return ttl if 0 < ttl <= 3 else None

    before = wait_for(ttl_once_it_dropped, timeout=10, message="the TTL to drop to 3s")
    resp = client.lease_keep_alive_once(lease)
    assert (resp.ID, resp.TTL) == (lease, 5)
    assert client.lease_time_to_live(lease).TTL > before


def test_keep_alive_once_of_unknown_lease_has_no_ttl(client):
    unknown = random_id()
    resp = client.lease_keep_alive_once(unknown)
    assert resp.ID == unknown
    assert resp.TTL == 0


def test_revoke_deletes_attached_keys(client):
    lease = client.lease_grant(60).ID
    client.put("rv/a", "1", lease=lease)
    client.put("rv/b", "2", lease=lease)
    client.put("rv/c", "3")
    before = client.range("rv/", prefix=True).header.revision
    resp = client.lease_revoke(lease)
    assert resp.header.revision == before + 1  # the deletions are one revision
    assert [kv.key for kv in client.range("rv/", prefix=True).kvs] == [b"rv/c"]
    assert lease not in [lease.ID for lease in client.lease_leases().leases or []]
    assert client.lease_time_to_live(lease).TTL == -1


def test_revoke_unknown_lease_is_lease_not_found(client):
    with pytest.raises(errors.ErrLeaseNotFound) as info:
        client.lease_revoke(random_id())
    err = info.value
    assert isinstance(err, errors.NotFound) and isinstance(err, errors.Etcd3APIError)
    assert (err.code, err.code_name, err.http_status) == (5, "NotFound", 404)
    assert err.message == "etcdserver: requested lease not found"


def test_lease_leases(client):
    ids = {client.lease_grant(60).ID for _ in range(3)}
    listed = {lease.ID for lease in client.lease_leases().leases or []}
    assert ids <= listed
    client.lease_revoke(ids.pop())
    assert {lease.ID for lease in client.lease_leases().leases or []} & ids == ids


def test_expiry_removes_keys(client):
    lease = client.lease_grant(2)
    client.put("exp/k", "v", lease=lease.ID)
    client.put("exp/stays", "v")
    assert client.range("exp/k").count == 1
    wait_for(lambda: client.range("exp/k").count == 0, timeout=lease.TTL + 10,
             message="the leased key to go")
    assert client.lease_time_to_live(lease.ID).TTL == -1
    assert client.range("exp/stays").count == 1


def test_keep_alive_stream_first_answer(client):
    lease = client.lease_grant(30).ID

    def first_answer():
        with client.lease_keep_alive(ID=lease) as stream:
            for item in stream:
                return item
        return None

    answer = Background(first_answer).result(timeout=10)
    assert answer is not None
    assert (answer.ID, answer.TTL) == (lease, 30)
    assert answer.header.revision > 0


def test_keep_alive_stream_ends_after_the_request(client):
    # one request in the body: the server answers it and the stream ends
    lease = client.lease_grant(30).ID
    items = Background(lambda: list(client.lease_keep_alive(lease))).result(timeout=10)
    assert [(i.ID, i.TTL) for i in items] == [(lease, 30)]


def test_keep_alive_stream_of_revoked_lease(client):
    lease = client.lease_grant(30).ID
    client.lease_revoke(lease)
    items = Background(lambda: list(client.lease_keep_alive(ID=lease))).result(timeout=10)
    assert len(items) == 1 and items[0].TTL == 0
