"""Leases as 0.1.6 used them: grant, keepalive with keep_cb/cancel_cb (called with no
arguments), ttl()/alive()/jammed(), time_to_live(keys=True), revoke, the context
manager, and adopting an existing lease with new=False."""
import os
import sys
import threading
import time

from etcd3 import Client
from etcd3.errors import ErrLeaseNotFound

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    client = Client(HOST, PORT)
    client.delete_range("leasedemo/", prefix=True)

    lease = client.Lease(ttl=4)
    granted = lease.grant()
    print("granted", granted)
    assert lease.ID == granted.ID and lease.ID != 0 and granted.TTL == 4
    client.put("leasedemo/svc", "up", lease=lease.ID)

    kept = []
    two_keeps = threading.Event()
    cancelled = threading.Event()

    def on_keep():
        kept.append(time.time())
        if len(kept) >= 2:
            two_keeps.set()

    def on_cancel():
        cancelled.set()

    lease.keepalive(keep_cb=on_keep, cancel_cb=on_cancel)
    assert lease.keeping
    try:
        lease.keepalive()
    except RuntimeError as e:
        print("RuntimeError:", e)
    else:
        raise AssertionError("a second keepalive() should raise RuntimeError")

    assert two_keeps.wait(10), "keep_cb was not called twice"
    assert lease.alive() and 0 < lease.ttl() <= 4
    assert not lease.jammed()
    time.sleep(5)  # longer than the TTL: the keepalive keeps the key
    assert client.range("leasedemo/svc").kvs[0].value == b"up"

    lease.cancel_keepalive()
    assert cancelled.wait(5), "cancel_cb was not called"
    assert not lease.keeping

    info = lease.time_to_live(keys=True)
    print(info)
    assert info.ID == lease.ID and info.grantedTTL == 4 and info.keys == [b"leasedemo/svc"]

    lease.revoke()
    assert client.range("leasedemo/svc").kvs is None
    assert lease.ttl() == -1 and not lease.alive()

    with client.Lease(ttl=2) as short:
        client.put("leasedemo/tmp", "x", lease=short.ID)
        time.sleep(3)
        assert client.range("leasedemo/tmp").kvs, "the context manager keeps the lease alive"
    assert client.range("leasedemo/tmp").kvs is None  # revoked on exit

    assert client.Lease(ttl=1).grantedTTL == 2  # never below 2 seconds

    ID = client.lease_grant(30).ID
    adopted = client.Lease(30, ID=ID, new=False)
    adopted.grant()
    assert adopted.ID == ID and 0 < adopted.ttl() <= 30
    try:
        client.Lease(30, new=False)
    except TypeError as e:
        print("TypeError:", e)
    else:
        raise AssertionError("new=False without an ID should raise TypeError")
    client.lease_revoke(ID)
    try:
        client.Lease(30, ID=ID, new=False).grant()
    except ErrLeaseNotFound as e:
        print("gone:", e)
    else:
        raise AssertionError("adopting a revoked lease should raise ErrLeaseNotFound")
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
