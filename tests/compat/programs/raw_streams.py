"""The lower-level calls of 0.1.6: watch_create() returning a stream of WatchResponses
(iterated, closed), call_rpc() with a path and a dict (decoded, raw=True), and
snapshot() chunks."""
import base64
import os
import sys

from etcd3 import Client

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    client = Client(HOST, PORT)
    client.delete_range("rawdemo/", prefix=True)
    revision = client.put("rawdemo/k", "1").header.revision
    client.put("rawdemo/k", "2")

    stream = client.watch_create("rawdemo/k", start_revision=revision)
    values = []
    for resp in stream:
        print(resp)
        if resp.created:
            continue
        values += [e.kv.value for e in resp.events]
        if len(values) == 2:
            break
    stream.close()
    assert values == [b"1", b"2"]

    with client.watch_create("rawdemo/", prefix=True, start_revision=revision) as stream:
        for resp in stream:
            if resp.events:
                assert resp.events[0].kv.key == b"rawdemo/k"
                break

    decoded = client.call_rpc("/kv/range", {"key": "rawdemo/k"})
    assert decoded.kvs[0].value == b"2"
    client.call_rpc("/kv/put", {"key": "rawdemo/j", "value": "via call_rpc"})
    assert client.range("rawdemo/j").kvs[0].value == b"via call_rpc"
    raw = client.call_rpc("/kv/range", {"key": "rawdemo/j"}, raw=True)
    assert raw.status_code == 200
    assert base64.b64decode(raw.json()["kvs"][0]["value"]) == b"via call_rpc"

    size = 0
    for chunk in client.snapshot():
        size += len(chunk.blob)
    print("snapshot: %d bytes" % size)
    assert size > 0

    client.delete_range("rawdemo/", prefix=True)
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
