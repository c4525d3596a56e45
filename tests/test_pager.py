"""client.range_iter(): paged reads of a key range at one revision, sync and async,
against real servers: page boundaries, a consistent snapshot across concurrent
writes, a compacted revision."""
from __future__ import annotations

import asyncio
import threading

import pytest

from conftest import make_client
from etcd3 import AioClient, errors

pytestmark = pytest.mark.etcd_versions("oldest", "newest")


@pytest.fixture
def sync_client(etcd):
    c = make_client(etcd)
    yield c
    c.delete_range(all=True)
    c.close()


def put_keys(client, prefix, count):
    for i in range(count):
        client.put("%s%04d" % (prefix, i), "value %d" % i)


def snapshot(client, prefix, revision):
    """The range as one plain range request at ``revision`` sees it."""
    return [(kv.key, kv.value, kv.mod_revision)
            for kv in client.range(prefix, prefix=True, revision=revision).kvs or ()]


@pytest.mark.parametrize("count, page_sizes", [
    (20, [10, 10]),  # an exact multiple of page_size: no empty page after the last
    (21, [10, 10, 1]),
    (9, [9]),
    (0, [0]),  # an empty prefix: one request, no keys
])
def test_page_boundaries(sync_client, count, page_sizes):
    put_keys(sync_client, "/pager/", count)
    sync_client.put("/pager0", "just past the prefix")
    sync_client.put("/pagea", "past the prefix")
    pages = list(sync_client.range_iter("/pager/", prefix=True, page_size=10).pages())
    assert [len(page.kvs or ()) for page in pages] == page_sizes
    keys = [kv.key for kv in sync_client.range_iter("/pager/", prefix=True, page_size=10)]
    assert keys == [b"/pager/%04d" % i for i in range(count)]


def test_from_key_single_key_and_all(sync_client):
    put_keys(sync_client, "/from/", 12)
    from_key = [kv.key for kv in sync_client.range_iter("/from/0005", range_end=b"\0", page_size=4)]
    assert from_key == [b"/from/%04d" % i for i in range(5, 12)]
    one = list(sync_client.range_iter("/from/0003"))
    assert [(kv.key, kv.value) for kv in one] == [(b"/from/0003", b"value 3")]
    assert list(sync_client.range_iter("/from/missing")) == []
    every = [kv.key for kv in sync_client.range_iter(all=True, page_size=5)]
    assert every == [kv.key for kv in sync_client.range(all=True).kvs]
    keys_only = list(sync_client.range_iter("/from/", prefix=True, page_size=5, keys_only=True))
    assert len(keys_only) == 12 and all(kv.value is None for kv in keys_only)


def test_snapshot_across_writes_between_pages(sync_client):
    put_keys(sync_client, "/snap/", 50)
    pager = sync_client.range_iter("/snap/", prefix=True, page_size=10)
    pages = pager.pages()
    seen = [(kv.key, kv.value, kv.mod_revision) for kv in next(pages).kvs]
    start = pager.revision
    # change every part of the range that is not read yet, and the part already read
    sync_client.delete_range("/snap/0030", "/snap/0040")
    sync_client.put("/snap/0025x", "added inside a later page")
    sync_client.put("/snap/0045", "changed")
    sync_client.put("/snap/0001", "changed, already read")
    sync_client.put("/snap/9999", "added at the end")
    for page in pages:
        seen.extend((kv.key, kv.value, kv.mod_revision) for kv in page.kvs)
    assert pager.revision == start
    assert seen == snapshot(sync_client, "/snap/", start)
    assert seen != snapshot(sync_client, "/snap/", 0)  # the writes did change the range


def test_snapshot_under_a_concurrent_writer(sync_client, clients):
    put_keys(sync_client, "/busy/", 200)
    writer_client, stop = clients(), threading.Event()
    armed, enough = threading.Event(), threading.Event()  # 20 writes landed after the first page

    def write():
        i = since_armed = 0
        while not stop.is_set():
            key = "/busy/%04d" % (i * 7 % 260)  # updates, and keys past the initial 200
            if i % 5 == 0:
                writer_client.delete_range(key)
            else:
                writer_client.put(key, "write %d" % i)
            i += 1
            if armed.is_set():
                since_armed += 1
                if since_armed >= 20:
                    enough.set()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        pager = sync_client.range_iter("/busy/", prefix=True, page_size=7)
        seen = []
        for kv in pager:
            seen.append((kv.key, kv.value, kv.mod_revision))
            if len(seen) == 1:
                armed.set()
                assert enough.wait(30), "the writer stopped writing"
    finally:
        stop.set()
        thread.join(10)
    assert seen == snapshot(sync_client, "/busy/", pager.revision)
    assert seen != snapshot(sync_client, "/busy/", 0)


def test_compacted_revision(sync_client):
    put_keys(sync_client, "/compacted/", 30)
    pager = sync_client.range_iter("/compacted/", prefix=True, page_size=10)
    pages = pager.pages()
    next(pages)
    sync_client.put("/compacted/0000", "newer")
    sync_client.compact(sync_client.range("/compacted/0000").header.revision)
    with pytest.raises(errors.ErrCompacted):
        next(pages)
    with pytest.raises(errors.ErrCompacted):  # asking for a compacted revision up front
        list(sync_client.range_iter("/compacted/", prefix=True, revision=pager.revision))


def test_a_compaction_while_the_keys_are_used_raises(sync_client):
    # a compaction while a page's KeyValues are used ends the iteration with ErrCompacted
    # when the next page is read
    put_keys(sync_client, "/compacted-kvs/", 30)
    seen = []
    with pytest.raises(errors.ErrCompacted):
        for kv in sync_client.range_iter("/compacted-kvs/", prefix=True, page_size=10):
            seen.append(kv.key)
            if len(seen) == 1:
                sync_client.put("/compacted-kvs/0000", "newer")
                sync_client.compact(sync_client.range("/compacted-kvs/0000").header.revision)
    assert seen == [b"/compacted-kvs/%04d" % i for i in range(len(seen))] and len(seen) == 10


def test_bad_arguments_and_one_pass(sync_client):
    with pytest.raises(ValueError, match="page_size"):
        sync_client.range_iter("/k/", prefix=True, page_size=0)
    with pytest.raises(ValueError, match="revision"):
        sync_client.range_iter("/k/", prefix=True, revision=-1)
    with pytest.raises(TypeError, match="a key is needed"):
        sync_client.range_iter()
    with pytest.raises(TypeError, match="exclusive"):
        sync_client.range_iter("/k/", prefix=True, all=True)
    pager = sync_client.range_iter("/k/", prefix=True)
    list(pager)
    with pytest.raises(RuntimeError, match="only once"):
        list(pager)
    with pytest.raises(TypeError, match="iterated with 'for'"):
        sync_client.range_iter("/k/", prefix=True).__aiter__().__anext__().send(None)


def test_async_pager(sync_client, etcd):
    put_keys(sync_client, "/aio/", 25)

    async def run():
        async with AioClient(etcd.host, etcd.port) as aio:
            keys = [kv.key async for kv in aio.range_iter("/aio/", prefix=True, page_size=10)]
            assert keys == [b"/aio/%04d" % i for i in range(25)]
            pager = aio.range_iter("/aio/", prefix=True, page_size=10)
            sizes, seen = [], []
            async for page in pager.apages():
                sizes.append(len(page.kvs))
                seen.extend((kv.key, kv.value, kv.mod_revision) for kv in page.kvs)
                if len(sizes) == 1:  # writes between the pages do not show
                    await aio.put("/aio/0024", "changed")
                    await aio.delete_range("/aio/0015")
            assert sizes == [10, 10, 5]
            assert seen == snapshot(sync_client, "/aio/", pager.revision)
            with pytest.raises(TypeError, match="async iterator"):
                iter(aio.range_iter("/aio/", prefix=True)).__next__()

    asyncio.run(run())
