"""``Lease`` as etcd3-py 0.1.6 had it (ORIGINAL_API.md 6.2), on real servers, with
the sync client and AioClient: the TTL floor, ``new=False`` adopting a lease,
``keep_cb()`` / ``cancel_cb()`` without arguments, one keepalive at a time, the
``keeping`` flag and the ``_thread`` handle, ``jammed()``, ``revoke()`` and the
context manager; the keepalives still share the client's one stream."""
from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from etcd3 import errors
from etcd3.stateful.lease import Lease
from helpers import wait_for


class Calls:
    """A callback that records the arguments of each call; ``wait(n)`` waits for n calls."""

    def __init__(self, fail: bool = False):
        self.args = []
        self.fail = fail
        self._changed = threading.Condition()

    def __call__(self, *args):
        with self._changed:
            self.args.append(args)
            self._changed.notify_all()
        if self.fail:
            raise ValueError("a failing callback")

    @property
    def count(self) -> int:
        with self._changed:
            return len(self.args)

    def wait(self, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.args) >= count, timeout)


def _kept_on_stream(client, ID) -> bool:
    return client._keepalive_stream().kept(ID)


# --------------------------------------------------------------------------- construction

def test_constructor_sends_nothing_and_sets_the_attributes(client):
    before = {lease.ID for lease in client.lease_leases().leases or ()}
    lease = client.Lease(10)
    assert getattr(lease.client, "aio", lease.client) is getattr(client, "aio", client)
    assert lease.grantedTTL == 10 and lease.new is True and lease.ID == 0
    assert lease.last_grant is None and lease.keeping is False and lease.last_keep is None
    assert lease._thread is None
    assert isinstance(lease._lock, type(threading.Lock()))
    # adopting an unknown ID is not checked until grant(): nothing is sent
    client.Lease(10, ID=0x7EEDBEEF, new=False)
    assert {lease.ID for lease in client.lease_leases().leases or ()} == before


def test_id_is_read_only(client):
    lease = client.Lease(10)
    with pytest.raises(AttributeError):
        lease.ID = 5


@pytest.mark.parametrize("asked", [1, 0, -3])
def test_ttl_floor(client, asked):
    """etcd would grant TTL 1 here (the test servers' election timeout is 500 ms);
    0.1.6 raised any TTL under 2 to 2 before asking."""
    lease = client.Lease(asked)
    assert lease.grantedTTL == 2
    granted = lease.grant()
    assert granted.TTL == 2
    assert client.lease_time_to_live(lease.ID).grantedTTL == 2


def test_new_false_needs_an_id(client):
    with pytest.raises(TypeError, match=r"^should provide the lease ID if new=False$"):
        client.Lease(10, new=False)
    with pytest.raises(TypeError, match="should provide the lease ID"):
        Lease(client, 10, ID=0, new=False)


def test_bad_ttl_and_id_are_named(client):
    with pytest.raises(TypeError, match="ttl"):
        client.Lease("10")
    with pytest.raises(TypeError, match="ID"):
        client.Lease(10, ID="12")


# --------------------------------------------------------------------------- grant, ttl, alive

def test_grant_new(client):
    lease = client.Lease(30)
    before = time.time()
    granted = lease.grant()
    assert granted.ID == lease.ID > 0 and granted.TTL == 30
    assert before <= lease.last_grant <= time.time()
    assert lease.ttl() in (29, 30) and lease.alive() is True


def test_ttl_and_alive_after_revoke(client):
    lease = client.Lease(30)
    lease.grant()
    client.put("cl/rv", "v", lease=lease.ID)
    answer = lease.revoke()
    assert answer.header.revision > 0
    assert lease.ttl() == -1
    assert lease.alive() is False
    assert client.range("cl/rv").count == 0


def test_time_to_live_keys(client):
    lease = client.Lease(30)
    lease.grant()
    client.put("cl/ttl/a", "1", lease=lease.ID)
    info = lease.time_to_live(keys=True)
    assert info.ID == lease.ID and info.grantedTTL == 30 and info.keys == [b"cl/ttl/a"]
    assert lease.time_to_live().keys is None  # not asked for: absent, so None


def test_refresh_is_keepalive_once(client):
    assert Lease.refresh is Lease.keepalive_once
    lease = client.Lease(5)
    lease.grant()
    assert lease.refresh().TTL == 5
    assert lease.keepalive_once().ID == lease.ID


def test_new_false_adopts_and_keeps_past_the_original_ttl(client, clients):
    owner = clients()
    ID = owner.lease_grant(2).ID
    owner.put("cl/adopt", "v", lease=ID)
    adopted = client.Lease(2, ID=ID, new=False)
    before = time.time()
    info = adopted.grant()
    assert info.ID == ID and info.grantedTTL == 2 and info.TTL in (1, 2)
    assert adopted.ID == ID and adopted.grantedTTL == 2
    # 0.1.6's estimate of the grant time: now - TTL left
    assert before - info.TTL - 0.01 <= adopted.last_grant <= time.time() - info.TTL + 0.01
    refreshed = []
    adopted.keepalive(keep_cb=lambda: refreshed.append(time.monotonic()))
    started = time.monotonic()
    try:
        # a refresh more than twice the original TTL later: only ours kept it
        wait_for(lambda: refreshed and refreshed[-1] - started > 2 * 2, 8, message="refreshes past the TTL")
        assert owner.range("cl/adopt").count == 1
        assert owner.lease_time_to_live(ID).TTL > 0
    finally:
        adopted.cancel_keepalive()


def test_new_false_of_a_gone_lease_raises(client, clients):
    other = clients()
    ID = other.lease_grant(30).ID
    other.lease_revoke(ID)
    lease = client.Lease(30, ID=ID, new=False)
    with pytest.raises(errors.ErrLeaseNotFound):
        lease.grant()
    assert lease.last_grant is None
    with pytest.raises(errors.ErrLeaseNotFound):
        with client.Lease(30, ID=ID, new=False):
            pytest.fail("entered the block of a lease that is gone")


# --------------------------------------------------------------------------- keepalive

def test_keep_cb_without_arguments_after_each_refresh(client):
    lease = client.Lease(2)
    lease.grant()
    kept = Calls()
    assert lease.keepalive(keep_cb=kept) is None
    try:
        assert lease.keeping is True
        # two refresh periods at least (one every TTL/3, 0.67 s)
        assert kept.wait(3, 5), "keep_cb called %d times" % kept.count
        assert all(args == () for args in kept.args)
        assert time.time() - lease.last_keep < 2
        assert lease.alive()
    finally:
        lease.cancel_keepalive()


def test_a_failing_keep_cb_is_logged_and_the_keepalive_goes_on(client, caplog):
    lease = client.Lease(2)
    lease.grant()
    kept = Calls(fail=True)
    with caplog.at_level(logging.ERROR, logger="etcd3.lease"):
        lease.keepalive(keep_cb=kept)
        try:
            assert kept.wait(3, 5)
        finally:
            lease.cancel_keepalive()
    assert lease.ttl() > 0
    failures = [r for r in caplog.records if "keep_cb" in r.getMessage()]
    assert len(failures) >= 3 and failures[0].exc_info[0] is ValueError


def test_cancel_cb_once_on_cancel_keepalive(client):
    lease = client.Lease(2)
    lease.grant()
    kept, cancelled = Calls(), Calls()
    lease.keepalive(keep_cb=kept, cancel_cb=cancelled)
    handle = lease._thread
    assert handle.is_alive() is True
    assert kept.wait(1, 5)
    assert _kept_on_stream(client, lease.ID)
    lease.cancel_keepalive()
    assert cancelled.args == [()]  # called by the time cancel_keepalive() returns
    assert lease.keeping is False and handle.is_alive() is False
    handle.join(timeout=1)  # ended: returns at once
    assert not _kept_on_stream(client, lease.ID)
    lease.cancel_keepalive()  # nothing more to end
    assert cancelled.count == 1
    # nobody refreshes it any more: it expires within its TTL
    stopped = time.monotonic()
    wait_for(lambda: lease.ttl() == -1, 2 + 2, message="the lease to expire")
    assert time.monotonic() - stopped <= 2 + 1
    assert cancelled.count == 1


def test_cancel_keepalive_without_join(client):
    lease = client.Lease(5)
    lease.grant()
    cancelled = Calls()
    lease.keepalive(cancel_cb=cancelled)
    lease.cancel_keepalive(join=False)
    assert lease.keeping is False
    lease._thread.join(5)
    assert not lease._thread.is_alive() and cancelled.args == [()]


def test_cancel_cb_once_when_revoked_by_another_client(client, clients):
    lease = client.Lease(2)
    lease.grant()
    kept, cancelled = Calls(), Calls()
    lease.keepalive(keep_cb=kept, cancel_cb=cancelled)
    handle = lease._thread
    assert kept.wait(1, 5)
    clients().lease_revoke(lease.ID)
    # the next refresh (at most TTL/3 later) finds it gone
    assert cancelled.wait(1, 2 / 3.0 + 3), "cancel_cb not called"
    handle.join(5)
    assert handle.is_alive() is False and lease.keeping is False
    assert not _kept_on_stream(client, lease.ID)
    lease.cancel_keepalive()
    assert cancelled.args == [()]


def test_a_failing_cancel_cb_is_logged(client, caplog):
    lease = client.Lease(5)
    lease.grant()
    with caplog.at_level(logging.ERROR, logger="etcd3.lease"):
        lease.keepalive(cancel_cb=Calls(fail=True))
        lease.cancel_keepalive()
    assert lease.keeping is False and not lease._thread.is_alive()
    assert any("cancel_cb" in r.getMessage() for r in caplog.records)


def test_a_second_keepalive_raises_until_cancelled(client):
    lease = client.Lease(5)
    lease.grant()
    first, second = Calls(), Calls()
    lease.keepalive(keep_cb=first)
    handle = lease._thread
    with pytest.raises(RuntimeError, match="^already keeping$"):
        lease.keepalive(keep_cb=second)
    assert lease._thread is handle and handle.is_alive()
    lease.cancel_keepalive()
    lease.keepalive(keep_cb=second)  # a new keepalive, a new handle
    try:
        assert lease._thread is not handle and lease._thread.is_alive() and not handle.is_alive()
        assert second.wait(1, 5)
    finally:
        lease.cancel_keepalive()


def test_keepalive_checks_its_callbacks(client):
    lease = client.Lease(5)
    lease.grant()
    with pytest.raises(TypeError, match="keep_cb"):
        lease.keepalive(keep_cb=3)
    with pytest.raises(TypeError, match="cancel_cb"):
        lease.keepalive(cancel_cb="no")
    assert lease.keeping is False and lease._thread is None


def test_keepalive_before_grant_is_refused(client):
    with pytest.raises(ValueError, match="grant"):
        client.Lease(5).keepalive()


def test_revoke_cancels_the_keepalive_first(client):
    lease = client.Lease(5)
    lease.grant()
    cancelled = Calls()
    lease.keepalive(cancel_cb=cancelled)
    lease.revoke()
    assert cancelled.args == [()] and lease.keeping is False
    assert lease.ttl() == -1


def test_two_keepers_of_one_lease_on_one_client(client):
    """Each Lease object keeps it for itself: one cancelling leaves the other's
    keepalive running (both travel on the client's one stream)."""
    first = client.Lease(2)
    first.grant()
    second = client.Lease(2, ID=first.ID, new=False)
    second.grant()
    kept_first, kept_second = Calls(), Calls()
    first.keepalive(keep_cb=kept_first)
    second.keepalive(keep_cb=kept_second)
    try:
        assert kept_first.wait(1, 5) and kept_second.wait(1, 5)
        first.cancel_keepalive()
        assert second.keeping and second._thread.is_alive()
        count = kept_second.count
        # refreshes for more than a TTL after the first stopped
        assert kept_second.wait(count + 4, 5)
        assert second.alive()
    finally:
        second.cancel_keepalive()


def test_jammed(client):
    lease = client.Lease(3)
    lease.grant()
    assert lease.jammed() is False  # not keeping
    kept = Calls()
    lease.keepalive(keep_cb=kept)
    try:
        assert lease.jammed() is False  # before the first refresh: no error
        assert kept.wait(2, 5)
        assert lease.jammed() is False
    finally:
        lease.cancel_keepalive()
    assert lease.jammed() is False


def test_closing_the_client_ends_its_keepalives(clients):
    keeper, other = clients(), clients()
    lease = keeper.Lease(2)
    lease.grant()
    kept, cancelled = Calls(), Calls()
    lease.keepalive(keep_cb=kept, cancel_cb=cancelled)
    assert kept.wait(1, 5)
    keeper.close()
    assert cancelled.args == [()]
    assert lease.keeping is False and not lease._thread.is_alive()
    wait_for(lambda: other.lease_time_to_live(lease.ID).TTL == -1, 2 + 2, message="the lease to expire")


# --------------------------------------------------------------------------- context manager

def test_context_manager_grants_keeps_and_revokes(client):
    lease = client.Lease(2)
    with lease as entered:
        assert entered is lease
        assert lease.ID > 0 and lease.keeping is True and lease._thread.is_alive()
        client.put("cl/cm", "v", lease=lease.ID)
        handle = lease._thread
    assert lease.keeping is False and not handle.is_alive()
    assert lease.ttl() == -1
    assert client.range("cl/cm").count == 0


def test_context_manager_adopts_with_new_false(client, clients):
    other = clients()
    ID = other.lease_grant(30).ID
    with client.Lease(30, ID=ID, new=False) as lease:
        assert lease.ID == ID and lease.keeping
    assert other.lease_time_to_live(ID).TTL == -1


# --------------------------------------------------------------------------- AioClient

def test_aio_handle_join_refuses_to_block_its_loop(etcd):
    """An AioClient's keepalive runs in the event loop: join() there while it runs
    would never return, so it says so; once cancelled it returns at once."""
    from etcd3 import AioClient

    async def main():
        async with AioClient(host=etcd.host, port=etcd.port) as aio:
            async with aio.Lease(2) as lease:
                kept = asyncio.Event()
                lease.cancel_keepalive()
                lease.keepalive(keep_cb=kept.set)
                await asyncio.wait_for(kept.wait(), 5)
                with pytest.raises(RuntimeError, match="block"):
                    lease._thread.join(0.1)
                handle = lease._thread
            assert not handle.is_alive()
            handle.join()
            assert await lease.ttl() == -1
            # closing the client ends the keepalives it still runs
            kept_lease, cancelled = aio.Lease(5), asyncio.Event()
            await kept_lease.grant()
            kept_lease.keepalive(cancel_cb=cancelled.set)
        assert cancelled.is_set() and kept_lease.keeping is False and not kept_lease._thread.is_alive()

    asyncio.run(main())


# --------------------------------------------------------------------------- the schedule (no server)

def test_schedule_keeps_a_lease_for_each_holder():
    from etcd3.stateful.lease import KeepaliveSchedule

    schedule = KeepaliveSchedule()
    kept_a, kept_b, lost_a, lost_b = Calls(), Calls(), Calls(), Calls()
    schedule.add(7, 3, 100.0, kept_a, lost_a, holder="a")
    schedule.add(7, 3, 100.5, kept_b, lost_b, holder="b")
    assert schedule.due(100.5) == [7]  # one refresh for both
    assert [cb for cb, _ in schedule.answered(7, 3, 100.6)] == [kept_a, kept_b]
    assert schedule.remove(7, "a") == 100.6  # when it was last refreshed
    assert schedule.remove(7, "a") is None  # no longer kept for "a"
    assert 7 in schedule.leases
    assert schedule.lost(7) == [(lost_b, None)]  # only the holder left hears of it
    assert schedule.lost(7) == [] and not schedule.active


def test_schedule_jammed_after_the_period_and_a_quarter_of_the_ttl():
    from etcd3.stateful.lease import KeepaliveSchedule

    schedule = KeepaliveSchedule()
    schedule.add(9, 4, 10.0)
    schedule.answered(9, 4, 10.0)
    # refreshed every 4/3 s; late after 4/3 + 1 s without an answer
    assert schedule.jammed(9, 10.0 + 4 / 3.0 + 0.9) is False
    assert schedule.jammed(9, 10.0 + 4 / 3.0 + 1.1) is True
    assert schedule.jammed(8, 100.0) is False  # not kept
