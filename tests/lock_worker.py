"""A lock-using process for tests/test_lock_helper.py (run as a script).

    python tests/lock_worker.py counter HOST PORT NAME N
        print "ready", wait for a line on stdin, then N times: acquire the lock,
        read the counter key with range, put value+1, release; print one JSON
        line {"records": [[fencing_token, t_acquired, t_released], ...]}
        (times are time.monotonic(), one clock for every process of the host).
    python tests/lock_worker.py hold HOST PORT NAME TTL [REENTRANT]
        acquire the lock (lease TTL seconds), print "acquired TOKEN KEY", then
        hold it until stdin ends or gets a line; release and print "released".
    python tests/lock_worker.py try HOST PORT NAME [REENTRANT]
        acquire(block=False): print "acquired" or "busy" (released at once).

Every line is flushed at once: the test reads them as they come.
"""
from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from etcd3 import Client  # noqa: E402

COUNTER_KEY = "lock-test/counter"


def say(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def counter(client, name, n):
    lock = client.Lock(name, lock_ttl=10)
    say("ready")
    sys.stdin.readline()  # go
    records = []
    for _ in range(n):
        lock.acquire()
        acquired = time.monotonic()
        token = lock.fencing_token
        kvs = client.range(COUNTER_KEY).kvs
        value = int(kvs[0].value) if kvs else 0
        client.put(COUNTER_KEY, str(value + 1))
        released = time.monotonic()
        lock.release()
        records.append([token, acquired, released])
    lock.close()
    say(json.dumps({"records": records}))


def hold(client, name, ttl, reentrant=None):
    lock = client.Lock(name, lock_ttl=ttl, reentrant=reentrant)
    lock.acquire()
    say("acquired", lock.fencing_token, lock.key.decode())
    sys.stdin.readline()
    lock.release()
    say("released")


def try_once(client, name, reentrant=None):
    lock = client.Lock(name, reentrant=reentrant)
    if lock.acquire(block=False):
        lock.release()
        say("acquired")
    else:
        say("busy")
    lock.close()


def main(argv):
    mode, host, port, name = argv[:4]
    rest = argv[4:]
    client = Client(host=host, port=int(port))
    try:
        if mode == "counter":
            counter(client, name, int(rest[0]))
        elif mode == "hold":
            hold(client, name, int(rest[0]), rest[1] if len(rest) > 1 else None)
        elif mode == "try":
            try_once(client, name, rest[0] if rest else None)
        else:
            raise SystemExit("unknown mode %r" % mode)
    finally:
        client.close()


if __name__ == "__main__":
    main(sys.argv[1:])
