"""The KV service: ``range``, ``put``, ``delete_range``, ``txn``, ``compact``;
``range_iter`` for paged reads of huge ranges."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .base import BaseAPI

if TYPE_CHECKING:
    from ..stateful.pager import RangePager

__all__ = ["KVAPI"]


class KVAPI(BaseAPI):
    """The KV service.  Its methods come from the server's spec, with 0.1.6's
    signatures (``etcd3.apis.signatures``): ``range(key=None, range_end=None, limit=0,
    ...)``, ``put(key, value, lease=0, ...)``, ``delete_range(key=None, ...)``,
    ``txn(compare, success, failure)``, ``compact(revision, physical=False)``;
    ``prefix``/``all`` and ``txn_obj`` on range, put and delete_range."""

    def range_iter(self, key: Any = None, range_end: Any = None, prefix: bool = False, all: bool = False,
                   page_size: int = 1000, revision: Optional[int] = None, keys_only: bool = False,
                   serializable: bool = False) -> "RangePager":
        """Iterate over the KeyValues of a key range (sorted by key), reading
        ``page_size`` keys per request, every page at one revision: the keys seen are
        one consistent snapshot of the range even while it is written to, and memory
        holds one page at a time::

            for kv in client.range_iter("/big/", prefix=True, page_size=1000):
                ...
            async for kv in aio_client.range_iter("/big/", prefix=True):  # AioClient
                ...

        etcd counts the keys left in the range for every page (the ``count`` of a
        RangeResponse), so a page of a huge range costs the server time in proportion
        to the keys after it (about 16 ms per 100,000 keys on 3.5): a bare gateway pager
        pays the same; for millions of keys, page over a few sub-ranges instead.

        :param key: the first key (with ``prefix=True`` the prefix); ``range_end``
            as for ``range`` (``b'\\0'``: every key from ``key`` on); ``all=True``
            every key
        :param page_size: keys per request
        :param revision: read at this revision (default: the revision of the first page)
        :param keys_only: leave the values out
        :param serializable: read from the member answering (may be stale), not through the leader
        :returns: a ``RangePager``: iterate it once; its ``revision`` is the snapshot's
            revision once the first page is read; ``pages()`` / ``apages()`` give the
            RangeResponse of each page instead of the KeyValues
        :raises etcd3.errors.ErrCompacted: the revision was compacted away before or
            during the iteration (start a new iteration at the current revision)
        """
        from ..stateful.pager import RangePager

        return RangePager(self, key, range_end, prefix=prefix, all=all, page_size=page_size, revision=revision,
                          keys_only=keys_only, serializable=serializable)
