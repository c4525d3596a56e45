"""KV basics as the etcd3-py 0.1.6 README showed them: put, range (one key, a prefix,
sorted, limited, keys/count only, a historical revision), prev_kv, delete_range, and
``resp.kvs is None`` for a key that does not exist."""
import os
import sys

from etcd3 import Client, EtcdModel
from etcd3.models import RangeRequestSortOrder, RangeRequestSortTarget

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    client = Client(HOST, PORT)
    client.delete_range("kvdemo/", prefix=True)

    first = client.put("kvdemo/foo", "bar")
    resp = client.range("kvdemo/foo")
    print(resp)
    assert isinstance(resp, EtcdModel)
    assert resp.count == 1
    kv = resp.kvs[0]
    print(kv.key, kv.value, kv.version, kv.create_revision, kv.mod_revision)
    assert kv.key == b"kvdemo/foo" and kv.value == b"bar"
    assert kv.version == 1 and kv.lease == 0
    assert kv.create_revision == kv.mod_revision == first.header.revision
    assert "kvs" in resp

    miss = client.range("kvdemo/no-such-key")
    print("miss:", miss.kvs, miss.count)
    assert miss.kvs is None and miss.count == 0
    assert "kvs" not in miss
    if not miss.kvs:
        print("not found")

    for name in ("c", "a", "b"):
        client.put("kvdemo/config/" + name, name.upper())
    listed = client.range("kvdemo/config/", prefix=True)
    assert [kv.key for kv in listed.kvs] == [b"kvdemo/config/a", b"kvdemo/config/b", b"kvdemo/config/c"]
    assert [kv.value for kv in listed.kvs] == [b"A", b"B", b"C"] and listed.count == 3

    desc = client.range("kvdemo/config/", prefix=True, sort_order=RangeRequestSortOrder.DESCEND,
                        sort_target=RangeRequestSortTarget.KEY)
    assert [kv.key for kv in desc.kvs] == [b"kvdemo/config/c", b"kvdemo/config/b", b"kvdemo/config/a"]

    page = client.range("kvdemo/config/", prefix=True, limit=2)
    assert len(page.kvs) == 2 and page.more is True and page.count == 3

    keys = client.range("kvdemo/config/", prefix=True, keys_only=True)
    assert [kv.value for kv in keys.kvs] == [None, None, None]

    counted = client.range("kvdemo/config/", prefix=True, count_only=True)
    assert counted.kvs is None and counted.count == 3

    between = client.range("kvdemo/config/a", range_end="kvdemo/config/c")
    assert [kv.key for kv in between.kvs] == [b"kvdemo/config/a", b"kvdemo/config/b"]

    old = client.put("kvdemo/foo", "baz", prev_kv=True)
    print("previous:", old.prev_kv.value)
    assert old.prev_kv.value == b"bar"
    assert client.range("kvdemo/foo").kvs[0].version == 2
    assert client.range("kvdemo/foo", revision=first.header.revision).kvs[0].value == b"bar"

    # an empty value is not sent: it comes back absent
    client.put("kvdemo/empty", "")
    assert client.range("kvdemo/empty").kvs[0].value is None

    client.put(b"kvdemo/bin\x00key", b"\xff\x00\x01")
    assert client.range(b"kvdemo/bin\x00key").kvs[0].value == b"\xff\x00\x01"

    everything = client.range(all=True)
    mine = [kv.key for kv in everything.kvs if kv.key.startswith(b"kvdemo/")]
    assert len(mine) == 6, mine

    deleted = client.delete_range("kvdemo/config/", prefix=True, prev_kv=True)
    assert deleted.deleted == 3
    assert sorted(kv.value for kv in deleted.prev_kvs) == [b"A", b"B", b"C"]
    assert client.delete_range("kvdemo/never-was").deleted == 0

    assert client.delete_range("kvdemo/", prefix=True).deleted == 3
    assert client.range("kvdemo/", prefix=True).kvs is None
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
