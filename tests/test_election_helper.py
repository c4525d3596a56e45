"""The Election helper on real servers: candidates in several processes taking
turns, observe() following every leader and proclaimed value in order, campaign
timeouts, no leader, and a SIGKILLed leader replaced once its lease expires."""
from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import Background, wait_for
from etcd3 import errors
from etcd3.stateful.election import EtcdElectionTimeout, NotLeader

pytestmark = pytest.mark.etcd_versions("oldest", "newest")  # heavy; the same on every version

WORKER = Path(__file__).resolve().with_name("election_worker.py")


# --------------------------------------------------------------------------- helpers

class Candidate:
    """tests/election_worker.py in a process of its own; its stdout lines in a queue."""

    def __init__(self, etcd, name, value, lease_ttl):
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), etcd.host, str(etcd.port), name, value, str(lease_ttl)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines = queue.Queue()
        self.stamps = []  # (time.monotonic() when read, line)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.stamps.append((time.monotonic(), line))
            self.lines.put(line)
        self.lines.put(None)

    def line(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line from the candidate within %ss" % timeout) from None
        if line is None:
            self.proc.wait(5)
            raise AssertionError("the candidate ended (%s): %s" % (self.proc.returncode, self.proc.stderr.read()))
        return line

    def quiet(self):
        return self.lines.empty()

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
            except OSError:
                pass


@pytest.fixture
def candidates():
    started = []

    def start(etcd, name, value, lease_ttl=10):
        c = Candidate(etcd, name, value, lease_ttl)
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()


def server_watchers(client):
    """The server's count of open watchers (observe watches the election's keys)."""
    return sum(sample.value for family in client.metrics() for sample in family.samples
               if sample.name == "etcd_debugging_mvcc_watcher_total")


class Observer:
    """Follows ``election.observe()`` in a thread (the call itself returns only
    with the first leader): the values seen, in order."""

    def __init__(self, election):
        self.values = []
        self.items = []
        self.stream = None
        self.error = None
        self._cond = threading.Condition()
        self._closed = False
        threading.Thread(target=self._run, args=(election,), daemon=True).start()

    def _run(self, election):
        try:
            stream = election.observe()
            with self._cond:
                self.stream = stream
                if self._closed:
                    stream.close()
                    return
            for item in stream:
                with self._cond:
                    self.items.append(item)
                    self.values.append(item.kv.value)
                    self._cond.notify_all()
        except BaseException as e:  # reported by wait_for
            if not self._closed:
                self.error = e
        finally:
            with self._cond:
                self._cond.notify_all()

    def wait_for(self, count, timeout=10):
        with self._cond:
            self._cond.wait_for(lambda: len(self.values) >= count or self.error is not None, timeout)
            if self.error is not None:
                raise self.error
            assert len(self.values) >= count, "observed only %r" % self.values
            return list(self.values)

    def close(self):
        with self._cond:
            self._closed = True
            if self.stream is not None:
                self.stream.close()


def open_observer(client, election):
    """An observer whose watch is registered on the server before returning."""
    before = server_watchers(client)
    observer = Observer(election)
    wait_for(lambda: server_watchers(client) > before, 10, message="the observe watch to open")
    return observer


# --------------------------------------------------------------------------- processes taking turns

def test_three_processes_take_turns_and_observe_sees_each(etcd, client, clients, candidates):
    name = "turns"
    watcher = client.Election(name)
    observer = open_observer(client, clients().Election(name))
    try:
        a = candidates(etcd, name, "a")
        assert a.line(60) == "leader a"
        b = candidates(etcd, name, "b")
        wait_for(lambda: len(watcher.candidates()) == 2, 30, message="b to stand")
        c = candidates(etcd, name, "c")
        wait_for(lambda: len(watcher.candidates()) == 3, 30, message="c to stand")
        assert watcher.candidates() == [b"a", b"b", b"c"]
        assert watcher.leader().kv.value == b"a"
        assert observer.wait_for(1) == [b"a"]
        assert b.quiet() and c.quiet()

        a.send("resign")
        assert a.line(10) == "resigned"
        assert b.line(10) == "leader b"
        assert observer.wait_for(2) == [b"a", b"b"]
        assert watcher.leader().kv.value == b"b"
        assert watcher.candidates() == [b"b", b"c"]
        assert c.quiet()

        b.send("resign")
        assert b.line(10) == "resigned"
        assert c.line(10) == "leader c"
        assert observer.wait_for(3) == [b"a", b"b", b"c"]
        assert watcher.leader().kv.value == b"c"

        c.send("resign")
        assert c.line(10) == "resigned"
        wait_for(lambda: not watcher.candidates(), 10, message="the last candidate to leave")
        with pytest.raises(errors.ErrElectionNoLeader):
            watcher.leader()
        for proc in (a, b, c):
            assert proc.proc.wait(10) == 0
        # each leader value once, in order; each elected after the previous one resigned
        assert observer.values == [b"a", b"b", b"c"]
        revisions = [item.kv.create_revision for item in observer.items]
        assert revisions == sorted(revisions)
    finally:
        observer.close()


def test_proclaim_changes_the_observed_value(etcd, client, clients, candidates):
    name = "proclaim"
    election = client.Election(name)
    observer = open_observer(client, clients().Election(name))
    try:
        leader = candidates(etcd, name, "v1")
        assert leader.line(60) == "leader v1"
        assert observer.wait_for(1) == [b"v1"]
        leader.send("proclaim v2")
        assert leader.line(10) == "proclaimed v2"
        assert observer.wait_for(2) == [b"v1", b"v2"]
        assert election.leader().kv.value == b"v2"
        leader.send("proclaim v3")
        assert leader.line(10) == "proclaimed v3"
        assert observer.wait_for(3) == [b"v1", b"v2", b"v3"]
        # a proclaim is no new election: the same key, a new version
        keys = {item.kv.key for item in observer.items}
        assert len(keys) == 1
        assert [item.kv.version for item in observer.items] == [1, 2, 3]
        leader.send("resign")
        assert leader.line(10) == "resigned"
    finally:
        observer.close()


def test_sigkilled_leader_is_replaced_within_its_ttl(etcd, client, candidates):
    ttl = 2
    name = "crash"
    leader = candidates(etcd, name, "doomed", lease_ttl=ttl)
    assert leader.line(60) == "leader doomed"
    successor = client.Election(name, lease_ttl=10)
    campaign = Background(successor.campaign, "next")
    wait_for(lambda: len(successor.candidates()) == 2, 10, message="the successor to stand")
    assert not campaign.done.is_set()
    assert successor.leader().kv.value == b"doomed"

    killed = time.monotonic()
    leader.proc.send_signal(signal.SIGKILL)
    campaign.result(ttl + 10)
    took = campaign.finished_at - killed
    print("etcd %s: new leader %.2fs after SIGKILL of a leader with lease_ttl=%d"
          % (client.server_version, took, ttl))
    assert took <= ttl + 1 + 0.5, "replaced %.2fs after the leader died" % took
    assert took >= ttl * 2 / 3.0 - 0.3, "replaced too early (%.2fs): not by the lease's expiry" % took
    assert successor.is_leader
    assert successor.leader().kv.value == b"next"
    assert successor.candidates() == [b"next"]
    successor.resign()


# --------------------------------------------------------------------------- in one process

def test_campaign_leader_resign(client):
    election = client.Election("solo", lease_ttl=10)
    assert not election.is_leader
    answer = election.campaign("me")
    assert election.is_leader
    assert answer.leader.name == b"solo" and answer.leader.key.startswith(b"solo/")
    kv = election.leader().kv
    assert (kv.key, kv.value) == (answer.leader.key, b"me")
    assert kv.lease == answer.leader.lease and kv.lease > 0
    assert election.candidates() == [b"me"]
    assert "leading" in repr(election)
    with pytest.raises(errors.Etcd3Exception):
        election.campaign("again")  # already leading
    election.resign()
    assert not election.is_leader
    with pytest.raises(errors.ErrElectionNoLeader):
        election.leader()
    assert election.candidates() == []
    # the lease behind the candidacy is revoked with it
    assert client.lease_time_to_live(answer.leader.lease).TTL == -1
    with pytest.raises(NotLeader):
        election.resign()
    with pytest.raises(NotLeader):
        election.proclaim("late")


def test_leader_when_nobody_leads(client):
    with pytest.raises(errors.ErrElectionNoLeader) as info:
        client.Election("nobody").leader()
    assert isinstance(info.value, errors.NotFound)


def test_proclaim_from_a_thread_candidate(client, clients):
    name = "tproclaim"
    leader = clients().Election(name)
    leader.campaign(b"\x00bin")
    assert client.Election(name).leader().kv.value == b"\x00bin"
    leader.proclaim("text")
    assert client.Election(name).leader().kv.value == b"text"
    assert client.Election(name).candidates() == [b"text"]
    leader.resign()


def test_campaign_timeout(client, clients):
    name = "timeout"
    leader = client.Election(name)
    leader.campaign("first")
    other = clients().Election(name)
    started = time.monotonic()
    with pytest.raises(EtcdElectionTimeout) as info:
        other.campaign("second", timeout=1)
    took = time.monotonic() - started
    assert isinstance(info.value, TimeoutError)
    assert 1 <= took < 3, took
    assert not other.is_leader
    # the candidacy was withdrawn (its lease revoked)
    assert leader.candidates() == [b"first"]
    assert leader.leader().kv.value == b"first"
    leader.resign()
    other.campaign("second", timeout=5)
    assert other.is_leader and other.leader().kv.value == b"second"
    other.resign()


def test_threads_queue_in_campaign_order(client, clients):
    name = "tqueue"
    elections = [clients().Election(name) for _ in range(3)]
    order = []
    elections[0].campaign("t0")
    runs = []
    for i in (1, 2):
        runs.append(Background(lambda i=i: (elections[i].campaign("t%d" % i), order.append(i))))
        wait_for(lambda i=i: len(client.Election(name).candidates()) == i + 1, 10, message="t%d to stand" % i)
    elections[0].resign()
    runs[0].result(10)
    assert order == [1] and not runs[1].done.is_set()
    elections[1].resign()
    runs[1].result(10)
    assert order == [1, 2]
    elections[2].resign()


def test_short_lease_leader_keeps_leading(client, clients):
    ttl = 2
    election = client.Election("steady", lease_ttl=ttl)
    election.campaign("steady")
    key = election.leader().kv.key
    deadline = time.monotonic() + 3 * ttl
    while time.monotonic() < deadline:
        assert election.leader().kv.key == key
        time.sleep(0.2)
    assert election.is_leader
    election.resign()


def test_leader_loses_when_its_lease_is_revoked(client, clients):
    name = "revoked"
    leader = client.Election(name, lease_ttl=3)
    answer = leader.campaign("old")
    successor = clients().Election(name)
    campaign = Background(successor.campaign, "new")
    wait_for(lambda: len(leader.candidates()) == 2, 10, message="the successor to stand")
    clients().lease_revoke(answer.leader.lease)
    campaign.result(10)
    assert successor.leader().kv.value == b"new"
    # the old leader learns it from its keepalive (within TTL/3)
    wait_for(lambda: not leader.is_leader, 3, message="the old leader to notice")
    successor.resign()


def test_bad_lease_ttl(client):
    for ttl in (0, -5, 2.5, False, "10"):
        with pytest.raises(ValueError):
            client.Election("x", lease_ttl=ttl)
