"""Paged reads of a key range at one revision: ``client.range_iter(key, prefix=True)``.

A huge prefix is read ``page_size`` keys at a time, every page at the revision of
the first one, so the keys seen are one consistent snapshot however the range
changes meanwhile, and memory holds one page, not the whole range.  Each page is
one flow (``_page_flow``), run by the client's own driver: the sync ``Client``
iterates with ``for``, ``AioClient`` with ``async for``.
"""
from __future__ import annotations

import inspect
from typing import Any, AsyncIterator, Iterator, List, Optional

from ..utils import key_range

__all__ = ["RangePager", "DEFAULT_PAGE_SIZE"]

DEFAULT_PAGE_SIZE = 1000


def _as_bytes(key: Any, what: str) -> bytes:
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, (bytes, bytearray)):
        return bytes(key)
    raise TypeError("range_iter(): %s must be str or bytes, got %r" % (what, key))


class RangePager:
    """An iterator over the KeyValues of a key range, read page by page at one
    revision.  ``revision`` is that revision once the first page is read (or the
    one asked for).  A revision compacted away, before or during the iteration,
    raises ``etcd3.errors.ErrCompacted``.

    Made by ``client.range_iter(...)``; iterate it once (``for kv in ...`` on a
    ``Client``, ``async for kv in ...`` on an ``AioClient``), or page by page with
    ``pages()`` (each page the RangeResponse of one request)."""

    def __init__(self, client: Any, key: Any = None, range_end: Any = None, prefix: bool = False,
                 all: bool = False, page_size: int = DEFAULT_PAGE_SIZE, revision: Optional[int] = None,
                 keys_only: bool = False, serializable: bool = False) -> None:
        if type(page_size) is not int or page_size < 1:
            raise ValueError("range_iter(): page_size must be an int >= 1, got %r" % (page_size,))
        if revision is not None and (type(revision) is not int or revision < 0):
            raise ValueError("range_iter(): revision must be an int >= 0, got %r" % (revision,))
        if key is None and not all:
            raise TypeError("range_iter(): a key is needed (or all=True)")
        key, range_end = key_range(key, range_end, prefix, all, what="range_iter()")
        self.client = client
        self._key = _as_bytes(key, "key")
        # no range_end: the one key; b'\0': every key from ``key`` on
        self._range_end = None if range_end is None else _as_bytes(range_end, "range_end")
        self.page_size = page_size
        self.revision: Optional[int] = revision or None
        self._options = {"keys_only": keys_only, "serializable": serializable}
        self._next_key: Optional[bytes] = self._key
        self._started = False

    def _page_flow(self) -> Any:
        """Read the next page: returns its RangeResponse (None when the range is done)."""
        key = self._next_key
        if key is None:
            return None
        if self._range_end is None:  # a single key: one page, no paging
            answer = yield from self.client._op_flow("range", key, revision=self.revision, **self._options)
            self._next_key = None
        else:
            answer = yield from self.client._op_flow("range", key, self._range_end, limit=self.page_size,
                                                     revision=self.revision, **self._options)
            kvs = answer.kvs
            # the next page starts right after the last key of this one
            self._next_key = kvs[-1].key + b"\0" if answer.more and kvs else None
        if self.revision is None:
            header = answer.header
            self.revision = header.revision if header is not None else None
        return answer

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a range_iter() iterator can be iterated only once; make a new one")
        self._started = True

    def _is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.client._run)

    # -- sync -------------------------------------------------------------------------------
    def pages(self) -> Iterator[Any]:
        """Each page's RangeResponse in turn (sync clients)."""
        if self._is_async():
            raise TypeError("range_iter() of an AioClient is an async iterator: use 'async for' "
                            "(and apages() for pages)")
        self._start()
        run, flow = self.client._run, self._page_flow
        while True:
            page = run(flow())
            if page is None:
                return
            yield page

    def __iter__(self) -> Iterator[Any]:
        for page in self.pages():
            yield from page.kvs or ()

    # -- async ------------------------------------------------------------------------------
    async def apages(self) -> AsyncIterator[Any]:
        """Each page's RangeResponse in turn (AioClient)."""
        if not self._is_async():
            raise TypeError("range_iter() of a sync Client is iterated with 'for' (and pages() for pages)")
        self._start()
        run, flow = self.client._run, self._page_flow
        while True:
            page = await run(flow())
            if page is None:
                return
            yield page

    async def _aiter(self) -> AsyncIterator[Any]:
        async for page in self.apages():
            for kv in page.kvs or ():
                yield kv

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._aiter()
