"""etcd3-py 0.1.6's ``etcd3.errors.errors`` module: the same classes as ``etcd3.errors``."""
from __future__ import annotations

from . import (  # noqa: F401  (re-exported)
    Etcd3Exception, Etcd3StreamError, Etcd3WatchCanceled, ErrUnknownError, UnsupportedServerVersion,
    get_client_error,
)
from .go_etcd_rpctypes_error import errStringToClientError  # noqa: F401

__all__ = ["Etcd3StreamError", "Etcd3WatchCanceled", "UnsupportedServerVersion", "get_client_error"]
