"""Waiting for one event the 0.1.6 way: watch_once(timeout=1) returns None when nothing
happens, the first matching Event otherwise; a filter argument; a Watcher as a context
manager iterated with ``for``; server-side no_put filtering."""
import os
import sys
import threading
import time

from etcd3 import Client, EventType

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))


def main():
    client = Client(HOST, PORT)
    client.delete_range("oncedemo/", prefix=True)

    start = time.time()
    nothing = client.Watcher(key="oncedemo/quiet").watch_once(timeout=1)
    elapsed = time.time() - start
    print("nothing:", nothing, "after %.2fs" % elapsed)
    assert nothing is None and 0.9 <= elapsed < 5

    revision = client.range("oncedemo/", prefix=True).header.revision
    client.put("oncedemo/job", "started")
    event = client.Watcher(key="oncedemo/job", start_revision=revision + 1).watch_once(timeout=5)
    print(event)
    assert event.key == b"oncedemo/job" and event.value == b"started" and event.type == EventType.PUT

    client.put("oncedemo/job", "running")
    client.delete_range("oncedemo/job")
    watcher = client.Watcher(key="oncedemo/job", start_revision=revision + 1)
    deleted = watcher.watch_once(EventType.DELETE, timeout=5)
    assert deleted.type == EventType.DELETE and deleted.value is None
    assert not watcher.watching  # watch_once always stops

    def worker():
        client.put("oncedemo/done", "ok")

    thread = threading.Thread(target=worker)
    thread.start()
    done = client.Watcher(key="oncedemo/done", start_revision=revision + 1).watch_once(timeout=10)
    thread.join()
    assert done.value == b"ok"

    seen = []
    with client.Watcher(key="oncedemo/", prefix=True, start_revision=revision + 1) as watcher:
        for event in watcher:
            seen.append((event.type, event.key, event.value))
            if len(seen) == 4:
                break
    print(seen)
    assert seen == [(EventType.PUT, b"oncedemo/job", b"started"), (EventType.PUT, b"oncedemo/job", b"running"),
                    (EventType.DELETE, b"oncedemo/job", None), (EventType.PUT, b"oncedemo/done", b"ok")]

    only_deletes = client.Watcher(key="oncedemo/", prefix=True, no_put=True, start_revision=revision + 1)
    first = only_deletes.watch_once(timeout=5)
    assert first.type == EventType.DELETE and first.key == b"oncedemo/job"

    client.delete_range("oncedemo/", prefix=True)
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
