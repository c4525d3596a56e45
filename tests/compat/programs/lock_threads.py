"""Locks as 0.1.6 offered them: threads counting under one lock (``with client.Lock``),
a reentrant Lock.THREAD taken twice by one thread and refused to another,
acquire(block=False) and acquire(timeout=...) with EtcdLockAcquireTimeout."""
import os
import sys
import threading

from etcd3 import Client, Lock
from etcd3.stateful.lock import EtcdLockAcquireTimeout

HOST = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ETCD_HOST", "127.0.0.1")
PORT = int(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("ETCD_PORT", "2379"))
THREADS, ROUNDS = 4, 5


def main():
    client = Client(HOST, PORT)
    client.put("lockdemo/counter", "0")

    def count():
        for _ in range(ROUNDS):
            with client.Lock("lockdemo-counter", lock_ttl=10):
                value = int(client.range("lockdemo/counter").kvs[0].value)
                client.put("lockdemo/counter", str(value + 1))

    workers = [threading.Thread(target=count) for _ in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    total = int(client.range("lockdemo/counter").kvs[0].value)
    print("counter:", total)
    assert total == THREADS * ROUNDS

    lock = client.Lock("lockdemo-reentrant", lock_ttl=10, reentrant=Lock.THREAD)
    assert lock.lock_key == "_locks/lockdemo-reentrant"
    assert lock.uuid.endswith(b":thrd:%d" % threading.get_ident())
    assert lock.acquire() is lock
    assert lock.is_acquired and lock.holders() == 1
    again = client.Lock("lockdemo-reentrant", lock_ttl=10, reentrant=Lock.THREAD)
    assert again.uuid == lock.uuid  # same thread, same holder
    assert again.acquire(timeout=2) is again
    assert lock.holders() == 2

    result = {}

    def other_thread():
        theirs = client.Lock("lockdemo-reentrant", lock_ttl=10, reentrant=Lock.THREAD)
        result["nonblocking"] = theirs.acquire(block=False)
        try:
            theirs.acquire(timeout=1)
        except EtcdLockAcquireTimeout:
            result["timeout"] = True

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    print(result)
    assert result == {"nonblocking": None, "timeout": True}

    again.release()
    assert lock.holders() == 1
    lock.release()
    assert lock.holders() == 0 and not lock.is_acquired
    assert client.range(lock.lock_key).kvs is None

    first = client.Lock("lockdemo-plain", lock_ttl=5)
    first.acquire()
    second = client.Lock("lockdemo-plain", lock_ttl=5)
    assert second.acquire(block=False) is None
    first.release()
    assert second.acquire(timeout=5) is second and second.is_acquired
    second.release()

    client.delete_range("lockdemo/", prefix=True)
    client.close()
    print("OK")


if __name__ == "__main__":
    main()
