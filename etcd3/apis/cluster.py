"""The Cluster service: members."""
from __future__ import annotations

from .base import BaseAPI

__all__ = ["ClusterAPI"]


class ClusterAPI(BaseAPI):
    """The Cluster service.  Its methods come from the server's spec, with 0.1.6's
    signatures: ``member_add(peerURLs)`` (``isLearner=`` on etcd 3.4+),
    ``member_list()``, ``member_remove(ID)``, ``member_update(ID, peerURLs)``."""
