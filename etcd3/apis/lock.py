"""etcd's v3lock service: ``lock`` and ``unlock``."""
from __future__ import annotations

from .base import BaseAPI

__all__ = ["LockAPI"]


class LockAPI(BaseAPI):
    """The v3lock service: ``lock(name, lease=0)`` (the server answers once the lock
    is held) and ``unlock(key)``, from the server's spec.  ``client.Lock(...)`` is the
    stateful helper."""
