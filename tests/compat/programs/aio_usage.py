"""AioClient as 0.1.6's README used it: await client.put/range, a Txn committed with
await, leases, a watch stream with ``async with`` / ``async for`` (no await on the
call, as 0.1.6 returned the stream itself), errors, ``async with AioClient``."""
import asyncio
import os
import sys

from etcd3 import AioClient
from etcd3.errors import ErrLeaseNotFound
from etcd3.utils import run_coro

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


async def main():
    client = AioClient(HOST, PORT)
    await client.delete_range("aiodemo/", prefix=True)
    await client.put("aiodemo/foo", "bar")
    resp = await client.range("aiodemo/foo")
    print(resp)
    assert resp.kvs[0].value == b"bar"
    miss = await client.range("aiodemo/nope")
    assert miss.kvs is None and miss.count == 0

    await asyncio.gather(*(client.put("aiodemo/n/%d" % i, str(i)) for i in range(10)))
    listed = await client.range("aiodemo/n/", prefix=True)
    assert listed.count == 10

    txn = client.Txn()
    txn.compare(txn.key("aiodemo/foo").value == "bar")
    txn.success(txn.put("aiodemo/foo", "baz"))
    txn.failure(txn.range("aiodemo/foo"))
    committed = await txn.commit()
    assert committed.succeeded is True

    grant = await client.lease_grant(10)
    await client.put("aiodemo/leased", "x", lease=grant.ID)
    info = await client.lease_time_to_live(grant.ID, keys=True)
    assert info.keys == [b"aiodemo/leased"]
    await client.lease_revoke(grant.ID)
    assert (await client.range("aiodemo/leased")).kvs is None
    try:
        await client.lease_revoke(grant.ID)
    except ErrLeaseNotFound as e:
        print("ErrLeaseNotFound:", e)
    else:
        raise AssertionError("ErrLeaseNotFound was not raised")

    revision = committed.header.revision
    async with client.watch_create("aiodemo/foo", start_revision=revision) as stream:
        async for item in stream:
            if item.events:
                print(item.events)
                assert item.events[0].kv.value == b"baz"
                break

    deleted = await client.delete_range("aiodemo/", prefix=True)
    assert deleted.deleted == 11
    await client.close()

    async with AioClient(HOST, PORT) as other:
        assert (await other.range("aiodemo/foo")).kvs is None
    print("OK")


if __name__ == "__main__":
    run_coro(main())
