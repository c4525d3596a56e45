"""Leader election on etcd's election service (v3election), with the semantics
of Go's ``concurrency.Election``: candidates queue by the create revision of
their key (under a lease of theirs), the first in line leads, ``proclaim``
changes the leader's value, ``observe`` follows the leader's values.

Methods are flows (``observe`` a stream), so the sync and async clients share it.
"""
from __future__ import annotations

from typing import Any, Optional

from .. import errors
from .lock import EtcdLockAcquireTimeout
from ..utils import prefix_range_end

__all__ = ["Election", "EtcdElectionTimeout", "NotLeader"]


class EtcdElectionTimeout(EtcdLockAcquireTimeout):
    """The campaign did not win within its timeout."""


class NotLeader(errors.Etcd3Exception):
    """``proclaim`` or ``resign`` without being the leader."""


class Election:
    """An election by name.

    >>> election = client.Election('scheduler', lease_ttl=10)
    >>> election.campaign(b'node-1')      # blocks until this candidate leads
    >>> election.leader().kv.value       # b'node-1'
    >>> election.resign()
    """

    def __init__(self, client: Any, name: str, lease_ttl: int = 60) -> None:
        if not isinstance(lease_ttl, int) or isinstance(lease_ttl, bool) or lease_ttl < 1:
            raise ValueError("lease_ttl must be a whole number of seconds >= 1, got %r" % (lease_ttl,))
        self.client = client
        self.name = name
        self.lease_ttl = lease_ttl
        self.leader_key: Any = None  # the LeaderKey while we lead
        self._lease_id = 0

    def __repr__(self) -> str:
        return "<Election %r%s>" % (self.name, " leading" if self.is_leader else "")

    @property
    def is_leader(self) -> bool:
        return self.leader_key is not None

    def campaign(self, value: Any, timeout: Optional[float] = None) -> Any:
        """Stand with ``value`` and wait until elected; returns the CampaignResponse.
        ``timeout`` raises EtcdElectionTimeout (and withdraws the candidacy)."""
        return self.client._run(self._campaign_flow(value, timeout))

    def _campaign_flow(self, value: Any, timeout: Optional[float]) -> Any:
        if self.leader_key is not None:
            raise errors.Etcd3Exception("already leading %r: resign first" % self.name)
        granted = yield from self.client._op_flow("lease_grant", self.lease_ttl)
        self._lease_id = granted.ID
        self.client._keep_alive(granted.ID, self.lease_ttl, cancel_cb=self._on_lease_lost)
        try:
            answer = yield from self.client._op_flow_with_timeout("campaign", timeout, self.name, granted.ID, value)
        except BaseException as error:
            yield from self._drop_lease_flow()
            if isinstance(error, errors.Etcd3Timeout):
                raise EtcdElectionTimeout("not elected in %r within %ss" % (self.name, timeout)) from None
            raise
        self.leader_key = answer.leader
        return answer

    def _on_lease_lost(self) -> None:
        self.leader_key = None
        self._lease_id = 0

    def _drop_lease_flow(self) -> Any:
        lease, self._lease_id = self._lease_id, 0
        if lease:
            self.client._stop_keep_alive(lease)
            try:
                yield from self.client._op_flow("lease_revoke", lease)
            except errors.ErrLeaseNotFound:
                pass

    def proclaim(self, value: Any) -> Any:
        """As the leader, announce a new value (no new election)."""
        if self.leader_key is None:
            raise NotLeader("not the leader of %r" % self.name)
        return self.client.proclaim(self.leader_key, value)

    def leader(self) -> Any:
        """The current LeaderResponse (``.kv.value`` is the leader's value);
        ErrElectionNoLeader when nobody leads."""
        return self.client.leader(self.name)

    def observe(self) -> Any:
        """A stream of LeaderResponses, one each time the leadership or the leader's
        value changes (close it to stop); it waits for them as long as it takes, whatever the
        client's ``timeout``."""
        from ..baseclient import NO_TIMEOUT

        return self.client.call_rpc("observe", {"name": self.name}, stream=True, timeout=NO_TIMEOUT)

    def resign(self) -> Any:
        """Give up the leadership (the next candidate in line is elected)."""
        return self.client._run(self._resign_flow())

    def _resign_flow(self) -> Any:
        if self.leader_key is None:
            raise NotLeader("not the leader of %r" % self.name)
        key, self.leader_key = self.leader_key, None
        answer = yield from self.client._op_flow("resign", key)
        yield from self._drop_lease_flow()
        return answer

    def candidates(self) -> Any:
        """The values of every candidate, the leader first."""
        return self.client._run(self._candidates_flow())

    def _candidates_flow(self) -> Any:
        prefix = self.name.encode() + b"/"
        answer = yield from self.client._op_flow(
            "range", prefix, prefix_range_end(prefix), sort_order="ASCEND", sort_target="CREATE")
        return [kv.value for kv in answer.kvs or ()]
