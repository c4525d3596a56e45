"""A writer process for the watch resume test (run as a script, not a test).

    python tests/watch_writer.py HOST PORT PREFIX COUNT

Puts ``PREFIX%04d`` for 0 <= i < COUNT, in order, each exactly once even when the
server dies in the middle: every put is a txn "create if absent" (compare
create_revision == 0), so a put retried after a lost answer cannot make a second
event.  Transport errors and Unavailable-class answers are retried with a short
backoff until the put goes through.  Prints one JSON line at the end:
``{"written": COUNT, "retries": N, "already": M}`` (``already``: retried puts
whose first attempt had in fact been applied).
"""
from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from etcd3 import Client, errors  # noqa: E402

RETRYABLE = (errors.Etcd3TransportError, errors.Unavailable, errors.DeadlineExceeded, errors.Canceled)
DEADLINE = 120.0  # never hang a test run


def connect(host: str, port: int, deadline: float) -> Client:
    while True:
        try:
            client = Client(host=host, port=port, timeout=5)
            client.status()
            return client
        except RETRYABLE:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def put_once(client: Client, key: str, value: str) -> bool:
    """Create ``key`` if absent; True if this call created it."""
    resp = client.txn(
        compare=[{"key": key, "target": "CREATE", "result": "EQUAL", "create_revision": 0}],
        success=[{"request_put": {"key": key, "value": value}}], failure=[])
    return bool(resp.succeeded)


def main(argv: list) -> int:
    host, port, prefix, count = argv[0], int(argv[1]), argv[2], int(argv[3])
    deadline = time.monotonic() + DEADLINE
    client = connect(host, port, deadline)
    retries = already = 0
    for i in range(count):
        key = "%s%04d" % (prefix, i)
        backoff = 0.02
        attempt = 0
        while True:
            try:
                created = put_once(client, key, "value %d" % i)
                if not created:
                    if attempt == 0:
                        raise SystemExit("%s existed before it was written" % key)
                    already += 1  # the lost answer had been applied: no second event
                break
            except RETRYABLE:
                if time.monotonic() > deadline:
                    raise
                attempt += 1
                retries += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
    print(json.dumps({"written": count, "retries": retries, "already": already}), flush=True)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
