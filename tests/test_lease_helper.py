"""The Lease helper on real servers: grant / ttl / alive / time_to_live /
keepalive_once / revoke, the background keepalive on the client's one shared
keepalive stream, its loss callback, and surviving a server restart."""
from __future__ import annotations

import threading
import time

import pytest

from conftest import make_client

pytestmark = pytest.mark.etcd_versions("oldest", "newest")  # heavy; the same on every version


def wait_until(predicate, timeout, interval=0.05, message="condition"):
    """Poll ``predicate`` until truthy (returns the time it took) or fail at the deadline."""
    start = time.monotonic()
    deadline = start + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return time.monotonic() - start
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, message, last))
        time.sleep(interval)


class Calls:
    """A callback that counts its calls and records their arguments."""

    def __init__(self):
        self.args = []
        self.event = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, *args):
        with self._lock:
            self.args.append(args)
        self.event.set()

    @property
    def count(self):
        with self._lock:
            return len(self.args)


@pytest.fixture
def other_client(etcd):
    c = make_client(etcd)
    yield c
    c.close()


# --------------------------------------------------------------------------- plain calls

def test_grant_ttl_alive(client):
    lease = client.Lease(30)
    assert lease.ID == 0
    resp = lease.grant()
    assert resp.ID == lease.ID and lease.ID > 0
    assert resp.TTL == 30 and lease.grantedTTL == 30
    assert 28 <= lease.ttl() <= 30
    assert lease.alive() is True
    assert lease.ID in [granted.ID for granted in client.lease_leases().leases]
    assert "ID=%d" % lease.ID in repr(lease)


def test_grant_with_a_chosen_id(client):
    wanted = 0x1234_5678_9ABC
    lease = client.Lease(20, ID=wanted)
    lease.grant()
    assert lease.ID == wanted
    assert client.lease_time_to_live(wanted).grantedTTL == 20


def test_a_lease_passes_as_its_id(client):
    lease = client.Lease(30)
    with pytest.raises(TypeError, match="not granted"):
        client.put("lease/as-id", "v", lease=lease)
    lease.grant()
    client.put("lease/as-id", "v", lease=lease)
    assert client.range("lease/as-id").kvs[0].lease == lease.ID
    assert client.lease_time_to_live(lease, keys=True).keys == [b"lease/as-id"]
    lease.revoke()
    assert not client.range("lease/as-id").kvs


def test_time_to_live_with_keys(client):
    lease = client.Lease(30)
    lease.grant()
    client.put("lh/a", "1", lease=lease.ID)
    client.put("lh/b", "2", lease=lease.ID)
    client.put("lh/free", "3")
    info = lease.time_to_live(keys=True)
    assert info.ID == lease.ID and info.grantedTTL == 30 and 0 < info.TTL <= 30
    assert sorted(info.keys) == [b"lh/a", b"lh/b"]
    assert lease.time_to_live().keys is None  # the model null rule: absent array


def test_keepalive_once_restores_the_ttl(client):
    lease = client.Lease(5)
    lease.grant()
    wait_until(lambda: lease.ttl() <= 3, 5, interval=0.2, message="the TTL to drop")
    answer = lease.keepalive_once()
    assert answer.ID == lease.ID and answer.TTL == 5
    assert lease.ttl() >= 4


def test_revoke_deletes_keys(client):
    lease = client.Lease(30)
    lease.grant()
    client.put("rv/a", "1", lease=lease.ID)
    client.put("rv/b", "2", lease=lease.ID)
    lease.revoke()
    assert client.range("rv/", prefix=True).count == 0
    assert lease.ttl() == -1
    assert lease.alive() is False
    assert lease.time_to_live().TTL == -1
    assert lease.keepalive_once().TTL == 0  # a gone lease has no TTL


def test_ttl_of_a_lease_gone_by_expiry(client):
    lease = client.Lease(2)
    lease.grant()
    client.put("exp/k", "v", lease=lease.ID)
    wait_until(lambda: lease.ttl() == -1, 2 + 2, message="the lease to expire")
    assert lease.alive() is False
    assert client.range("exp/k").count == 0


def test_alive_in_the_last_second(client):
    """etcd reports whole seconds left, rounded down: TTL 0 is a lease in its last
    second, still there with its keys.  ``ttl()`` says 0 then (not -1: the lease is
    not gone), and ``alive()`` is 0.1.6's ``ttl() > 0``: False."""
    lease = client.Lease(2)
    lease.grant()
    client.put("last/k", "v", lease=lease.ID)
    wait_until(lambda: lease.ttl() <= 0, 3, interval=0.02, message="the last second")
    assert lease.ttl() == 0
    assert client.range("last/k").count == 1  # the lease exists
    assert lease.alive() is False


def test_keepalive_needs_an_id(client):
    with pytest.raises(ValueError):
        client.Lease(5).keepalive()


def test_existing_lease_by_id(client, other_client):
    granted = client.lease_grant(30).ID
    other = other_client.Lease(30, ID=granted, new=False)
    assert other.alive()
    with other:  # new=False: no grant, just keep it alive; revoked on exit
        assert other.ID == granted
    assert client.lease_time_to_live(granted).TTL == -1


# --------------------------------------------------------------------------- background keepalive

def test_keepalive_keeps_a_short_lease_alive_then_it_expires(client):
    lease = client.Lease(2)
    lease.grant()
    client.put("ka/k", "v", lease=lease.ID)
    kept = Calls()
    lease.keepalive(keep_cb=kept)
    # 10 s: five times the TTL; the lease and its key must never go away
    deadline = time.monotonic() + 10
    checks = 0
    while time.monotonic() < deadline:
        assert lease.ttl() > 0, "the lease expired while kept alive"
        assert client.range("ka/k").count == 1
        assert not lease.jammed()
        checks += 1
        time.sleep(0.25)
    assert checks > 20
    # refreshed every TTL/3 (about 0.67 s): some 15 refreshes in 10 s
    assert kept.count >= 10, kept.count
    assert all(args == () for args in kept.args)  # 0.1.6: keep_cb() without arguments
    assert client._keepalive_stream().connections == 1

    lease.cancel_keepalive()
    assert not lease.jammed()
    stopped = time.monotonic()
    wait_until(lambda: lease.ttl() == -1, 2 + 1 + 1, interval=0.1, message="the lease to expire")
    took = time.monotonic() - stopped
    assert took <= 2 + 1, "expired %.2fs after the keepalive stopped (TTL 2)" % took
    assert client.range("ka/k").count == 0
    refreshes = kept.count
    time.sleep(0.1)
    assert kept.count == refreshes


def test_lease_expires_when_its_client_closes(etcd, client):
    keeper = make_client(etcd)
    lease = keeper.Lease(2)
    lease.grant()
    kept = Calls()
    lease.keepalive(keep_cb=kept)
    wait_until(lambda: kept.count >= 3, 5, message="three refreshes")
    assert client.lease_time_to_live(lease.ID).TTL > 0
    keeper.close()  # the keeper stops
    stopped = time.monotonic()
    wait_until(lambda: client.lease_time_to_live(lease.ID).TTL == -1, 2 + 2, interval=0.1,
               message="the lease to expire")
    assert time.monotonic() - stopped <= 2 + 1


def test_context_manager(client):
    with client.Lease(2) as lease:
        assert lease.ID > 0 and lease.alive()
        client.put("cm/k", "v", lease=lease.ID)
        assert client._keepalive_stream().kept(lease.ID)
        # outlives its TTL inside the block
        start = time.monotonic()
        while time.monotonic() - start < 3.5:
            assert lease.ttl() > 0
            time.sleep(0.25)
    assert not client._keepalive_stream().kept(lease.ID)
    assert lease.ttl() == -1
    assert client.range("cm/k").count == 0


def test_context_manager_revokes_on_error(client):
    with pytest.raises(RuntimeError):
        with client.Lease(30) as lease:
            client.put("cme/k", "v", lease=lease.ID)
            raise RuntimeError("boom")
    assert lease.alive() is False
    assert client.range("cme/k").count == 0


def test_context_manager_exit_when_the_lease_is_already_gone(client, other_client):
    """Leaving the block revokes the lease; one already gone (revoked elsewhere,
    expired) needs nothing more, as Lock.close() and Election.resign() treat it.
    Above all, an error raised in the block must come out as it is."""
    with client.Lease(30) as lease:
        other_client.lease_revoke(lease.ID)
    assert lease.ttl() == -1
    with pytest.raises(RuntimeError, match="the block's own error"):
        with client.Lease(30) as lease:
            other_client.lease_revoke(lease.ID)
            raise RuntimeError("the block's own error")


def test_cancel_cb_once_when_revoked_elsewhere(client, other_client):
    lease = client.Lease(3)
    lease.grant()
    client.put("cb/k", "v", lease=lease.ID)
    kept, cancelled = Calls(), Calls()
    lease.keepalive(keep_cb=kept, cancel_cb=cancelled)
    assert kept.event.wait(5), "no first refresh"
    other_client.lease_revoke(lease.ID)
    revoked = time.monotonic()
    # the next refresh (at most TTL/3 later) finds it gone
    assert cancelled.event.wait(3 / 3.0 + 2), "cancel_cb not called"
    assert time.monotonic() - revoked <= 3 / 3.0 + 1.5
    assert cancelled.args == [()]
    assert not client._keepalive_stream().kept(lease.ID)
    # nothing more for that lease: no second cancel, no more refreshes
    refreshes = kept.count
    time.sleep(3 / 3.0 * 2 + 0.2)  # two more refresh periods pass
    assert cancelled.count == 1
    assert kept.count == refreshes
    assert client.range("cb/k").count == 0


def test_cancel_cb_once_for_an_expired_lease(client):
    lease = client.Lease(2)
    lease.grant()
    wait_until(lambda: lease.ttl() == -1, 2 + 2, interval=0.1, message="the lease to expire")
    kept, cancelled = Calls(), Calls()
    lease.keepalive(keep_cb=kept, cancel_cb=cancelled)  # too late: the first refresh finds it gone
    assert cancelled.event.wait(5), "cancel_cb not called"
    assert not client._keepalive_stream().kept(lease.ID)
    time.sleep(2 / 3.0 * 2 + 0.2)  # two refresh periods: nothing more comes
    assert cancelled.count == 1 and kept.count == 0


def test_cancel_cb_of_one_lease_leaves_the_others_kept(client, other_client):
    doomed, survivor = client.Lease(3), client.Lease(3)
    doomed.grant()
    survivor.grant()
    lost_doomed, lost_survivor, kept_survivor = Calls(), Calls(), Calls()
    doomed.keepalive(cancel_cb=lost_doomed)
    survivor.keepalive(keep_cb=kept_survivor, cancel_cb=lost_survivor)
    other_client.lease_revoke(doomed.ID)
    assert lost_doomed.event.wait(4)
    before = kept_survivor.count
    wait_until(lambda: kept_survivor.count >= before + 3, 5, message="the survivor's refreshes")
    assert survivor.alive() and lost_survivor.count == 0
    assert client._keepalive_stream().connections == 1


def test_ten_leases_share_one_keepalive_stream(client):
    leases = [client.Lease(2) for _ in range(10)]
    calls = [Calls() for _ in leases]
    for lease, kept in zip(leases, calls):
        lease.grant()
        client.put("many/%d" % lease.ID, "v", lease=lease.ID)
        lease.keepalive(keep_cb=kept)
    stream = client._keepalive_stream()
    assert stream is client._keepalive_stream()
    # six refreshes each, one every TTL/3: more than two TTLs
    wait_until(lambda: all(c.count >= 6 for c in calls), 10, message="six refreshes of every lease")
    for lease in leases:
        assert lease.alive(), lease
    assert client.range("many/", prefix=True).count == 10
    assert stream.connections == 1
    for lease in leases:
        lease.revoke()
    assert client.range("many/", prefix=True).count == 0
    assert stream.connections == 1


@pytest.mark.sync_only  # the sync client's stream (AioDuplexStream reads with asyncio.wait_for)
def test_keepalive_stream_read_with_a_refresh_due_now(client):
    """The keepalive thread reads the stream with ``timeout=`` the time until the
    next refresh, 0 when one is due right now.  Nothing to read then is no broken
    stream: the read must say "nothing yet" (None), as with any other timeout,
    or the shared stream is torn down and reopened (``connections`` grows)."""
    from etcd3.transport.duplex import DuplexStream

    op = client.spec.operations["lease_keep_alive"]
    lease = client.lease_grant(30).ID
    stream = DuplexStream(client.baseurl, client.host, client.port)
    try:
        headers = client._rpc_request(op.path, b"", stream=True).headers
        stream.start("POST", op.path, headers, b'{"ID":%d}\n' % lease)
        assert stream.head(timeout=10)[0] == 200
        assert stream.read(timeout=10)  # the answer
        assert stream.read(timeout=0.05) is None  # nothing more yet
        assert stream.read(timeout=0) is None  # the same, without waiting
    finally:
        stream.close()


def test_jammed_reports_a_lease_not_refreshed(fresh_etcd):
    c = make_client(fresh_etcd)
    try:
        lease = c.Lease(3)
        lease.grant()
        assert lease.jammed() is False  # not kept yet
        kept = Calls()
        lease.keepalive(keep_cb=kept)
        assert kept.event.wait(5)
        assert lease.jammed() is False
        fresh_etcd.kill()  # nothing answers any more
        wait_until(lambda: lease.jammed(), 3 + 2, message="the lease to be reported jammed")
    finally:
        c.close()


def test_keepalive_survives_a_server_restart(fresh_etcd):
    c = make_client(fresh_etcd)
    try:
        lease = c.Lease(10)
        lease.grant()
        c.put("rs/k", "v", lease=lease.ID)
        kept, cancelled = Calls(), Calls()
        lease.keepalive(keep_cb=kept, cancel_cb=cancelled)
        assert kept.event.wait(5)
        fresh_etcd.kill()
        fresh_etcd.restart()
        restarted = time.monotonic()
        before = kept.count
        # the stream reconnects and refreshes the lease again
        wait_until(lambda: kept.count > before, 10 / 3.0 + 4, message="a refresh after the restart")
        # 12 s after the restart: longer than the TTL, so only refreshes keep it
        while time.monotonic() - restarted < 12:
            assert lease.ttl() > 0, "the lease expired after the restart"
            time.sleep(0.5)
        assert lease.alive()
        assert c.range("rs/k").count == 1
        assert cancelled.count == 0
        assert c._keepalive_stream().connections >= 2  # one more after the restart
    finally:
        c.close()
