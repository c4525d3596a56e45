"""A lock-using process for the lock tests (run as a script), and ``WorkerProcess``,
which runs one for a test.

    python tests/lock_worker.py [OPTIONS] counter HOST PORT NAME N
        print "ready", wait for a line on stdin, then N times: acquire the lock,
        read the counter key with range, put value+1, release; print one JSON line
        {"records": [[token, t_acquired, t_released, read_revision, put_revision], ...],
        "library": [etcd3 version, its folder]} (times are time.monotonic(), one clock
        for every process of the host; token: the fencing token, or for a lock
        without one the create revision of its key).
    python tests/lock_worker.py [OPTIONS] hold HOST PORT NAME TTL [REENTRANT]
        acquire the lock (lease TTL seconds), print "acquired TOKEN KEY", then
        hold it until stdin ends or gets a line; release and print "released".
    python tests/lock_worker.py [OPTIONS] try HOST PORT NAME [REENTRANT]
        acquire(block=False): print "acquired" or "busy" (released at once).

OPTIONS: ``--fair`` uses client.FairLock instead of client.Lock; ``--installed``
imports the etcd3 installed in this interpreter (e.g. etcd3-py 0.1.6 in a venv of
its own) instead of this repository's; ``--guard SECONDS`` sets Lock.guard_window.

The code is the same for both libraries: it only uses 0.1.6's API (plus
``fencing_token`` where there is one).  Every line is flushed at once: the
test reads them as they come.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COUNTER_KEY = "lock-test/counter"
etcd3 = None  # the library under test, imported by main()
FAIR = False


# --------------------------------------------------------------------------- the test's side

class WorkerProcess:
    """This script in a process of its own (``python``: the interpreter to run it
    with); its stdout lines in a queue, its stderr kept for failure messages."""

    def __init__(self, etcd, mode, *args, python=None, options=()):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.proc = subprocess.Popen(
            [python or sys.executable, os.path.join(HERE, "lock_worker.py"), *options, mode, etcd.host,
             str(etcd.port)] + [str(a) for a in args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, env=env)
        self.lines: "queue.Queue" = queue.Queue()
        self.errors: list = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_errors, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_errors(self):
        for line in self.proc.stderr:  # read along, so that a chatty stderr never blocks it
            self.errors.append(line)

    def line(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line from the worker within %ss" % timeout) from None
        if line is None:
            self.proc.wait(5)
            raise AssertionError("the worker ended (%s): %s" % (self.proc.returncode, "".join(self.errors)[-3000:]))
        return line

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


# --------------------------------------------------------------------------- the worker's side

def say(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def make_lock(client, name, **kwargs):
    return client.FairLock(name, **kwargs) if FAIR else client.Lock(name, **kwargs)


def token_of(client, lock):
    """The lock's fencing token; 0.1.6's Lock has none: the create revision of its key."""
    if hasattr(lock, "fencing_token"):
        return lock.fencing_token
    return client.range(lock.lock_key).kvs[0].create_revision


def key_of(lock):
    return lock.key.decode() if FAIR else lock.lock_key


def counter(client, name, n):
    lock = make_lock(client, name, lock_ttl=10)
    say("ready")
    sys.stdin.readline()  # go
    records = []
    for _ in range(n):
        lock.acquire()
        acquired = time.monotonic()
        token = token_of(client, lock)
        read = client.range(COUNTER_KEY)
        value = int(read.kvs[0].value) if read.kvs else 0
        put = client.put(COUNTER_KEY, str(value + 1))
        released = time.monotonic()
        lock.release()
        records.append([token, acquired, released, read.header.revision, put.header.revision])
    if hasattr(lock, "close"):
        lock.close()
    say(json.dumps({"records": records, "library": [etcd3.__version__, os.path.dirname(etcd3.__file__)]}))


def hold(client, name, ttl, reentrant=None):
    lock = make_lock(client, name, lock_ttl=ttl, reentrant=reentrant)
    lock.acquire()
    say("acquired", token_of(client, lock), key_of(lock))
    sys.stdin.readline()
    lock.release()
    say("released")


def try_once(client, name, reentrant=None):
    lock = make_lock(client, name, reentrant=reentrant)
    if lock.acquire(block=False):
        lock.release()
        say("acquired")
    else:
        say("busy")
    if hasattr(lock, "close"):
        lock.close()


def main(argv):
    global etcd3, FAIR
    argv = list(argv)
    guard = None
    if "--guard" in argv:
        at = argv.index("--guard")
        guard = float(argv[at + 1])
        del argv[at:at + 2]
    FAIR = "--fair" in argv
    installed = "--installed" in argv
    argv = [a for a in argv if a not in ("--fair", "--installed")]
    if not installed:
        sys.path.insert(0, os.path.dirname(HERE))
    import etcd3 as library

    etcd3 = library
    if guard is not None:
        library.Lock.guard_window = guard
    mode, host, port, name = argv[:4]
    rest = argv[4:]
    client = library.Client(host=host, port=int(port))
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
    # the script's own folder (tests/) comes first on sys.path: nothing there is called etcd3
    main(sys.argv[1:])
