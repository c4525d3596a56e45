"""The KV service: ``range``, ``put``, ``delete_range``, ``txn``, ``compact``."""
from __future__ import annotations

from .base import BaseAPI

__all__ = ["KVAPI"]


class KVAPI(BaseAPI):
    """The KV service.  Its methods come from the server's spec, with 0.1.6's
    signatures (``etcd3.apis.signatures``): ``range(key=None, range_end=None, limit=0,
    ...)``, ``put(key, value, lease=0, ...)``, ``delete_range(key=None, ...)``,
    ``txn(compare, success, failure)``, ``compact(revision, physical=False)``;
    ``prefix``/``all`` and ``txn_obj`` on range, put and delete_range."""
