"""Small helpers shared by the integration tests: waiting with a deadline,
running a blocking call in a thread with a bound, version checks."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Optional

from etcd3.spec import parse_version


def version_at_least(version: str, wanted: str) -> bool:
    """``version_at_least('3.4.23', '3.4')`` -> True; a matrix alias ('sid') is
    resolved to the release it stands for."""
    if not version[:1].isdigit():
        from etcd3.testing.server import binary_version, ensure_etcd

        version = binary_version(ensure_etcd(version))
    return parse_version(version) >= parse_version(wanted)



def require_kept_writes(version: str, written: list, stored: set) -> None:
    """Check that etcd still has every write it acknowledged before a SIGKILL.

    etcd 3.5.0-3.5.2 can lose committed writes when killed under load (etcd issue
    13766, fixed in 3.5.3), and then reuses their revisions for later writes; no
    watch can resume exactly through a history the server rewrote, so a run where
    that happened is skipped, naming what was lost.  On any other version a lost
    write fails the test: the server broke its promise and we want to know."""
    lost = [key for key in written if key not in stored]
    if not lost:
        return
    import pytest

    what = "etcd %s lost %d acknowledged write(s) when killed: %s" % (version, len(lost), lost[:5])
    if version_at_least(version, "3.5.0") and not version_at_least(version, "3.5.3"):
        pytest.skip(what + " (etcd issue 13766, fixed in 3.5.3)")
    raise AssertionError(what)

def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Call ``predicate`` until it returns something truthy (returned) or the deadline
    passes (AssertionError naming ``message`` and the last value or exception)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except AssertionError as exc:  # a predicate may assert
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, message, last))
        time.sleep(interval)


class Background:
    """Run ``fn(*args, **kwargs)`` in a daemon thread; ``result(timeout)`` joins
    with a bound and returns its value or re-raises its exception."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.done = threading.Event()
        self.finished_at: Optional[float] = None  # time.monotonic() when fn returned or raised
        self._value: Any = None
        self._error: Optional[BaseException] = None

        def run() -> None:
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:  # re-raised in result()
                self._error = exc
            finally:
                self.finished_at = time.monotonic()
                self.done.set()

        self.thread = threading.Thread(target=run, daemon=True, name="bg-%s" % getattr(fn, "__name__", "call"))
        self.thread.start()

    def result(self, timeout: float = 10.0) -> Any:
        if not self.done.wait(timeout):
            raise AssertionError("%s did not finish within %ss" % (self.thread.name, timeout))
        if self._error is not None:
            raise self._error
        return self._value


def etcd_tool(server, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``etcdutl`` (3.5+) or ``etcdctl`` with ETCDCTL_API=3 from the folder of the
    server's etcd binary; ``args`` follow the tool name."""
    folder = server.binary.parent
    tool = folder / "etcdutl"
    if not tool.exists():
        tool = folder / "etcdctl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    env["ETCDCTL_API"] = "3"
    return subprocess.run([str(tool), *args], capture_output=True, text=True, timeout=timeout, env=env)


class SilentServer:
    """A TCP server on loopback that accepts connections and never answers
    (for read-timeout tests). Use as a context manager."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)
            self.handle(conn, len(self.accepted))

    def handle(self, conn: socket.socket, number: int) -> None:
        """What to do with the ``number``-th connection: nothing (subclasses answer)."""

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def python_output(code: str) -> str:
    """The standard output of ``code`` run by this Python in a fresh process, which
    must exit 0 (its standard error is the assertion's message)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def socket_inodes() -> set:
    """The inodes of this process's open sockets (from /proc/self/fd), as strings."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def open_connections(port: int, host: str = "127.0.0.1") -> int:
    """How many ESTABLISHED TCP connections this process has to ``host:port`` (Linux /proc)."""
    mine = socket_inodes()
    want = "%s:%04X" % ("".join(reversed([("%02X" % int(p)) for p in host.split(".")])), port)
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if remote == want and state == "01" and inode in mine:
                count += 1
    return count


def settle_membership_change(client):
    """Return once etcd will take another membership change.

    etcd answers a membership change once it is applied, but its raft marks it applied
    only when the next batch of entries starts; a change proposed before that is dropped
    ("possible unapplied conf change" in the server log) and its call never answers
    (about 1 in 15 back-to-back changes on 3.5.1).  A write that has
    been applied came in a later batch, so it is the event to wait for."""
    client.put("test/membership-settled", "1")


def member_in_use(cluster, client):
    """The member of ``cluster`` that a cluster client is using now."""
    return next(m for m in cluster.members if m.endpoint == client.baseurl)


def kill_when(counter, at, member):
    """kill -9 ``member`` from another thread once ``counter[0]`` reaches ``at``
    (so the kill falls during a call, not between two)."""
    def run():
        while counter[0] < at:
            time.sleep(0.001)  # polls a plain counter: the calls being counted must not wait for us
        member.kill()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def restore(cluster):
    """After a test: SIGCONT the members it stopped, start those it killed, wait for a leader."""
    for member in cluster.members:
        if member.pid is not None and member.running:
            try:
                os.kill(member.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    for member in cluster.members:
        if not member.running:
            member.start()
    assert cluster.leader(timeout=15) is not None
