"""The Lease service: grant, revoke, time-to-live, keepalive."""
from __future__ import annotations

from typing import Any

from ..core import StreamDecoder
from .base import BaseAPI

__all__ = ["LeaseAPI"]


class LeaseAPI(BaseAPI):
    """The Lease service.  Its methods come from the server's spec, with 0.1.6's
    signatures: ``lease_grant(TTL, ID=0)``, ``lease_revoke(ID)``,
    ``lease_time_to_live(ID, keys=False)``, ``lease_keep_alive(data)`` (the stream of
    answers to a raw request body such as ``b'{"ID":123}\\n'``, or a dict); plus
    ``lease_keep_alive_once(ID)``.  ``client.Lease(...)`` is the stateful helper."""

    def lease_keep_alive_once(self, ID: int) -> Any:
        """keep the lease alive once: its LeaseKeepAliveResponse (``TTL`` 0: the lease
        is gone), or None if the server sent no answer

        :param ID: the ID of the lease to keep alive
        """
        return self._run(self._keep_alive_once_flow(ID))  # type: ignore[attr-defined]

    def _keep_alive_once_flow(self, ID: int) -> Any:
        op = self.spec.operations["lease_keep_alive"]  # type: ignore[attr-defined]
        # a request body that ends makes the server end the stream after its one answer
        response = yield from self._call_flow(op, op.path, op.request.encode({"ID": ID}))  # type: ignore
        items = StreamDecoder().feed(response.body)
        if not items:
            return None
        return self._decode_stream_item(op, items[0])  # type: ignore[attr-defined]
