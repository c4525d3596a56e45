"""etcd's v3election service (not in 0.1.6): campaign, proclaim, leader, observe, resign."""
from __future__ import annotations

from .base import BaseAPI

__all__ = ["ElectionAPI"]


class ElectionAPI(BaseAPI):
    """The v3election service: ``campaign``, ``proclaim``, ``leader``, ``observe``,
    ``resign``, from the server's spec (keyword names are the request's fields).
    ``client.Election(...)`` is the stateful helper."""
