#!/usr/bin/env python3
"""A short tour of etcd3: start an embedded etcd on a free port, use it, stop it."""
from __future__ import annotations

import threading

from etcd3 import Client
from etcd3.testing.server import EtcdServer


def show(title, value):
    print("%-34s %r" % (title, value))


def main() -> None:
    with EtcdServer() as server:  # the etcd of `pip install etcd3-py[server]`, or one on PATH
        print("etcd %s at %s\n" % (server.version, server.endpoint))
        with Client(server.host, server.port) as client:
            show("client", client)
            client.put("/demo/config/colour", "blue")
            client.put("/demo/config/size", "XL")
            show("range /demo/config/colour", client.range("/demo/config/colour").kvs[0].value)
            found = client.range("/demo/config/", prefix=True)
            show("prefix range: keys", [kv.key for kv in found.kvs])

            # compare-and-swap: only set the colour if it is still blue
            swap = client.txn(
                compare=[{"key": "/demo/config/colour", "target": "VALUE", "result": "EQUAL", "value": "blue"}],
                success=[{"request_put": {"key": "/demo/config/colour", "value": "green"}}],
                failure=[{"request_range": {"key": "/demo/config/colour"}}])
            show("txn compare-and-swap succeeded", swap.succeeded)
            show("colour now", client.range("/demo/config/colour").kvs[0].value)

            # watch the prefix while we work: events arrive on a background stream
            seen = []
            watcher = client.Watcher("/demo/", prefix=True)
            watcher.onEvent(lambda event: seen.append((event.type.name, event.key)))
            finished = threading.Event()
            watcher.onEvent("/demo/last", lambda event: finished.set())
            watcher.runDaemon()

            with client.Lease(ttl=30) as lease:  # granted, kept alive, revoked at the end
                client.put("/demo/session", "alive", lease=lease.ID)
                ttl = lease.time_to_live(keys=True)
                show("lease TTL, attached keys", (ttl.TTL, ttl.keys))
            show("after revoke, /demo/session", client.range("/demo/session").count)

            # a distributed lock: a second holder waits until the first releases
            lock = client.Lock("demo-lock", lock_ttl=10)
            lock.acquire()
            show("lock held, fencing token", lock.fencing_token)
            acquired = threading.Event()

            def second_holder():
                with Client(server.host, server.port) as other:
                    with other.Lock("demo-lock", lock_ttl=10):
                        acquired.set()

            waiter = threading.Thread(target=second_holder)
            waiter.start()
            show("second holder got it while held?", acquired.wait(0.5))
            lock.release()
            waiter.join(10)
            show("second holder got it after release", acquired.is_set())
            lock.close()

            client.put("/demo/last", "done")
            finished.wait(5)
            watcher.stop()
            show("watched events", seen)

            show("status: version, db size", (client.status().version, client.status().dbSize))
            try:
                client.range("/demo", revision=10 ** 6)
            except Exception as error:  # errors are typed: gRPC code + etcd error
                show("a future revision", "%s: %s" % (type(error).__name__, error))
            client.delete_range("/demo/", prefix=True)
    print("\netcd stopped. help(client.put) and dir(client) show every RPC of your server.")


if __name__ == "__main__":
    main()
