"""An AioClient process for tests/test_aio.py (run as a script).

    python tests/aio_lock_worker.py HOST PORT NAME N

Prints "ready", waits for a line on stdin, then N times: acquire the lock
(client.Lock) with an AioClient, read the counter key, put value+1, release;
prints one JSON line {"records": [[fencing_token, t_acquired, t_released,
read_revision, put_revision], ...]} like lock_worker.py.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from etcd3 import AioClient  # noqa: E402

COUNTER_KEY = "lock-test/counter"


async def count_under_lock(client, lock, n: int, records: list) -> None:
    """``n`` times: acquire ``lock`` (a Lock or a FairLock), read the counter, put
    value+1, release; appends [fencing token, acquired at, released at, read revision,
    put revision] to ``records`` (test_aio.py's tasks too).  Every holder here uses
    this library, so a Lock's guard against etcd3-py 0.1.6's blind put is turned off."""
    if hasattr(lock, "guard_window"):
        lock.guard_window = 0
    for _ in range(n):
        await lock.acquire()
        acquired = time.monotonic()
        token = lock.fencing_token  # a plain int with AioClient too, read while acquiring
        assert isinstance(token, int), token
        read = await client.range(COUNTER_KEY)
        put = await client.put(COUNTER_KEY, str((int(read.kvs[0].value) if read.kvs else 0) + 1))
        records.append([token, acquired, time.monotonic(), read.header.revision, put.header.revision])
        await lock.release()


async def main(host: str, port: int, name: str, n: int) -> None:
    async with AioClient(host=host, port=port) as client:
        lock = client.Lock(name, lock_ttl=10)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        records: list = []
        await count_under_lock(client, lock, n, records)
        await lock.close()
        print(json.dumps({"records": records}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
