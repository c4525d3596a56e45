"""The keepalive RPC itself, as 0.1.6 exposed it: lease_keep_alive() takes the raw
request body (newline-delimited JSON) and returns a stream of responses;
lease_keep_alive_once(ID) gives the first one."""
import os
import sys

from etcd3 import Client
from etcd3.errors import ErrLeaseNotFound

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    client = Client(HOST, PORT)
    ID = client.lease_grant(10).ID

    stream = client.lease_keep_alive(b'{"ID":%d}\n' % ID)
    for resp in stream:
        print(resp)
        assert resp.ID == ID and resp.TTL == 10
        break
    stream.close()

    with client.lease_keep_alive(b'{"ID":%d}\n{"ID":%d}\n' % (ID, ID)) as stream:
        answers = list(stream)  # the body ends: one answer per line, then the stream ends
    assert [r.ID for r in answers] == [ID, ID]

    with client.lease_keep_alive('{"ID":%d}\n' % ID) as stream:
        assert [r.TTL for r in stream] == [10]

    once = client.lease_keep_alive_once(ID)
    print(once)
    assert once.ID == ID and once.TTL == 10

    client.lease_revoke(ID)
    assert client.lease_keep_alive_once(ID).TTL == 0  # no TTL: the lease is gone
    assert client.lease_time_to_live(ID).TTL == -1
    try:
        client.lease_revoke(ID)
    except ErrLeaseNotFound as e:
        print("ErrLeaseNotFound:", e)
    else:
        raise AssertionError("revoking twice should raise ErrLeaseNotFound")
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
