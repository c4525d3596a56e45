"""Watches against real etcd servers of every version of the matrix.

Event content (keys, prefixes, ranges, filters, prev_kv, history, fragments),
the Watcher's callback API, the raw watch stream, the one shared connection per
client, resuming after the server is killed with SIGKILL (no event lost, none
twice, order kept), compaction reported and never skipped silently, and the
stream decoder fed random chunkings of real watch stream bodies.

Synchronisation is by events and revisions (a Collector waits on a condition),
never by sleeping; every wait has a deadline.
"""
from __future__ import annotations

import base64
import gc
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import weakref
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import etcd3
from etcd3 import errors
from etcd3.core import StreamDecoder
from etcd3.stateful.watch import WatchEvent, Watcher

import helpers
from conftest import make_client

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
WRITER = TESTS / "watch_writer.py"
WAIT = 10.0  # seconds any single expected event may take


# --------------------------------------------------------------------------- helpers

class Collector:
    """An onEvent / onError callback that records what it gets and lets a test
    wait for a number of events (or an error) with a deadline."""

    def __init__(self, name: str = "collector") -> None:
        self.name = name
        self.events: list = []
        self.errors: list = []
        self._cond = threading.Condition()
        self._marks: list = []  # (count, threading.Event)

    def __call__(self, event: WatchEvent) -> None:
        with self._cond:
            self.events.append(event)
            for count, flag in self._marks:
                if len(self.events) >= count:
                    flag.set()
            self._cond.notify_all()

    def on_error(self, error: BaseException) -> None:
        with self._cond:
            self.errors.append(error)
            self._cond.notify_all()

    def mark(self, count: int) -> threading.Event:
        """An Event set once ``count`` events have been received."""
        flag = threading.Event()
        with self._cond:
            self._marks.append((count, flag))
            if len(self.events) >= count:
                flag.set()
        return flag

    def wait_for(self, count: int, timeout: float = WAIT) -> list:
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.events) >= count or self.errors, timeout)
            events = list(self.events)
        assert not self.errors, "%s: the watch ended with %r" % (self.name, self.errors)
        assert ok, "%s: %d of %d events within %ss: %r" % (self.name, len(events), count, timeout, events[-5:])
        return events

    def wait_error(self, timeout: float = WAIT) -> BaseException:
        with self._cond:
            assert self._cond.wait_for(lambda: self.errors, timeout), \
                "%s: no error within %ss (events: %r)" % (self.name, timeout, self.events[-5:])
            return self.errors[0]

    def keys(self) -> list:
        with self._cond:
            return [e.key for e in self.events]


def running(watcher) -> Collector:
    """Attach a Collector for every event, runDaemon the watcher, return the collector."""
    collector = Collector(repr(watcher))
    watcher.onEvent(collector)
    watcher.onError(collector.on_error)
    watcher.runDaemon()
    return collector


def take(watcher, count: int, timeout: float = WAIT) -> list:
    """The first ``count`` events of iterating the watcher (then it is stopped)."""
    got = []
    try:
        for event in watcher.events(timeout=timeout):
            got.append(event)
            if len(got) == count:
                break
    finally:
        watcher.stop()
    return got


def in_thread(fn, *args):
    """Run fn in a daemon thread; returns (thread, box) where box holds 'value' or 'error'."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def socket_inodes() -> set:
    """The inodes of this process's open sockets, as ints."""
    return {int(inode) for inode in helpers.socket_inodes()}


def connections_to(port: int) -> set:
    """Local ports of this process's ESTABLISHED TCP connections to ``port``.

    /proc/self/net/tcp lists every socket of the network namespace (etcd's own
    included: its gateway dials its client port), so sockets are kept only if
    their inode is one of this process's file descriptors."""
    mine = socket_inodes()
    local_ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port and inode in mine:
                local_ports.add(int(local.rsplit(":", 1)[1], 16))
    return local_ports


def b64(data) -> str:
    return base64.b64encode(data.encode("utf-8") if isinstance(data, str) else data).decode("ascii")


def revision_of(response) -> int:
    return response.header.revision


# --------------------------------------------------------------------------- event content

def test_put_and_delete_events_of_one_key(client):
    w = client.Watcher("ev/key")
    got = running(w)
    try:
        r1 = revision_of(client.put("ev/key", "v1"))
        client.put("ev/key2", "not watched")
        client.put("ev/ke", "not watched")
        r2 = revision_of(client.put("ev/key", "v2"))
        r3 = revision_of(client.delete_range("ev/key"))
        events = got.wait_for(3)
    finally:
        w.stop()
    assert [(e.key, e.value, e.type) for e in events] == [
        (b"ev/key", b"v1", etcd3.EventType.PUT),
        (b"ev/key", b"v2", etcd3.EventType.PUT),
        (b"ev/key", None, etcd3.EventType.DELETE)]
    assert [e.mod_revision for e in events] == [r1, r2, r3]
    assert [e.revision for e in events] == [r1, r2, r3]
    assert [e.version for e in events] == [1, 2, None]  # 0.1.6: what the server leaves out is None
    assert [e.create_revision for e in events] == [r1, r1, None]
    assert all(e.prev_kv is None for e in events)  # not asked for
    assert [e.header.revision for e in events] == [r1, r2, r3]
    assert len(got.events) == 3  # nothing of the other keys


def test_prefix_watch(client):
    w = client.Watcher("pf/", prefix=True)
    got = running(w)
    try:
        for key in ("pf/a", "pfx", "pf", "pe/z", "pf/b/c", "pf0"):
            client.put(key, "1")
        client.delete_range("pf/a")
        events = got.wait_for(3)
    finally:
        w.stop()
    assert [(e.key, e.type) for e in events] == [
        (b"pf/a", etcd3.EventType.PUT), (b"pf/b/c", etcd3.EventType.PUT), (b"pf/a", etcd3.EventType.DELETE)]
    assert len(got.events) == 3


def test_range_end_watch(client):
    w = client.Watcher("r/b", range_end="r/d")
    got = running(w)
    try:
        for key in ("r/a", "r/b", "r/c", "r/cz", "r/d", "r/e"):
            client.put(key, key)
        client.delete_range("r/a", range_end="r/z")  # one revision, one event per watched key
        events = got.wait_for(6)
    finally:
        w.stop()
    assert [(e.key, e.type.name) for e in events] == [
        (b"r/b", "PUT"), (b"r/c", "PUT"), (b"r/cz", "PUT"),
        (b"r/b", "DELETE"), (b"r/c", "DELETE"), (b"r/cz", "DELETE")]
    assert len({e.revision for e in events[3:]}) == 1  # the deletes are atomic: one revision
    assert len(got.events) == 6


def test_all_keys_watch(client):
    w = client.Watcher(all=True)
    got = running(w)
    try:
        keys = [b"\x01", b"all/x", "zzz ünïcode".encode("utf-8"), b"\xff\xfe"]
        revisions = [revision_of(client.put(k, b"v")) for k in keys]
        events = got.wait_for(4)
    finally:
        w.stop()
    assert [e.key for e in events] == keys
    assert [e.revision for e in events] == revisions


def test_prev_kv_on_put_and_delete(client):
    w = client.Watcher("pk/k", prev_kv=True)
    got = running(w)
    try:
        r1 = revision_of(client.put("pk/k", "one"))
        r2 = revision_of(client.put("pk/k", "two"))
        client.delete_range("pk/k")
        events = got.wait_for(3)
    finally:
        w.stop()
    first, second, deleted = events
    assert first.prev_kv is None  # a new key has nothing before
    assert (second.prev_kv.key, second.prev_kv.value, second.prev_kv.version) == (b"pk/k", b"one", 1)
    assert (second.prev_kv.create_revision, second.prev_kv.mod_revision) == (r1, r1)
    assert deleted.type == etcd3.EventType.DELETE
    assert (deleted.prev_kv.value, deleted.prev_kv.version, deleted.prev_kv.mod_revision) == (b"two", 2, r2)


def test_no_put_and_no_delete_filters(client):
    only_deletes = client.Watcher("nf/", prefix=True, no_put=True)
    only_puts = client.Watcher("nf/", prefix=True, no_delete=True)
    deletes, puts = running(only_deletes), running(only_puts)
    try:
        client.put("nf/a", "1")
        client.put("nf/b", "2")
        client.delete_range("nf/a")
        client.put("nf/a", "3")
        client.delete_range("nf/", prefix=True)
        got_puts = puts.wait_for(3)
        got_deletes = deletes.wait_for(3)
    finally:
        only_deletes.stop()
        only_puts.stop()
    assert [(e.key, e.value) for e in got_puts] == [(b"nf/a", b"1"), (b"nf/b", b"2"), (b"nf/a", b"3")]
    assert all(e.type == etcd3.EventType.PUT for e in got_puts)
    assert [e.key for e in got_deletes] == [b"nf/a", b"nf/a", b"nf/b"]
    assert all(e.type == etcd3.EventType.DELETE for e in got_deletes)
    assert len(puts.events) == 3 and len(deletes.events) == 3
    with pytest.raises((ValueError, TypeError)):
        client.Watcher("nf/", no_put=True, no_delete=True)  # would never see anything


def test_start_revision_replays_history_in_order(client):
    revisions = [revision_of(client.put("hist/k", "v%d" % i)) for i in range(6)]
    client.put("hist/other", "x")
    w = client.Watcher("hist/k", start_revision=revisions[2])
    history = []
    done = threading.Event()

    def collect():
        for event in w.events(timeout=WAIT):
            history.append(event)
            if event.value == b"live":
                done.set()
                return

    thread, box = in_thread(collect)
    # the past comes first, then what happens now
    deadline = time.monotonic() + WAIT
    while len(history) < 4 and "error" not in box and time.monotonic() < deadline:
        time.sleep(0.01)
    live = revision_of(client.put("hist/k", "live"))
    assert done.wait(WAIT), box
    w.stop()
    thread.join(WAIT)
    assert [e.value for e in history] == [b"v2", b"v3", b"v4", b"v5", b"live"]
    assert [e.revision for e in history] == revisions[2:] + [live]
    assert [e.version for e in history] == [3, 4, 5, 6, 7]


def test_progress_notify_is_accepted(client):
    w = client.Watcher("pn/k", progress_notify=True)
    got = running(w)
    try:
        client.put("pn/k", "1")
        events = got.wait_for(1)
    finally:
        w.stop()
    assert events[0].value == b"1"
    with client.watch_create("pn/k", progress_notify=True) as stream:
        created = next(iter(stream))
    assert created.created and not created.canceled


@pytest.mark.etcd_args(extra_args=["--max-request-bytes", "8192"])
def test_fragmented_revision_is_reassembled(fresh_etcd):
    """A revision whose events exceed the server's limit (max-request-bytes + 512 KiB
    of gRPC overhead) comes in fragments when asked; the Watcher delivers it whole."""
    c = make_client(fresh_etcd)
    try:
        value = "x" * 7500
        for i in range(80):
            c.put("frag/%02d" % i, value)
        rev = revision_of(c.delete_range("frag/", prefix=True))  # 80 events with prev_kv: ~800 KB
        with c.watch_create("frag/", prefix=True, prev_kv=True, fragment=True, start_revision=rev) as stream:
            responses, count = [], 0
            for resp in stream:
                if resp.created:
                    continue
                responses.append((resp.fragment, len(resp.events)))
                count += len(resp.events)
                if count >= 80:
                    break
        assert len(responses) > 1 and responses[0][0] is True and responses[-1][0] is False, responses
        w = Watcher(c, key="frag/", prefix=True, prev_kv=True, fragment=True, start_revision=rev)
        events = take(w, 80)
        assert [e.key for e in events] == [b"frag/%02d" % i for i in range(80)]
        assert {e.revision for e in events} == {rev}
        assert all(e.type == etcd3.EventType.DELETE and e.prev_kv.value == value.encode() for e in events)
    finally:
        c.close()


def test_event_fields_of_a_leased_key(client):
    lease = client.lease_grant(60).ID
    w = client.Watcher("lk/", prefix=True)
    got = running(w)
    try:
        r1 = revision_of(client.put("lk/a", "1", lease=lease))
        r2 = revision_of(client.put("lk/a", "2", lease=lease))
        r3 = revision_of(client.put("lk/b", "plain"))
        r4 = revision_of(client.lease_revoke(lease))  # deletes lk/a
        events = got.wait_for(4)
    finally:
        w.stop()
    a1, a2, b, gone = events
    assert isinstance(a1.type, etcd3.EventType) and a1.type is etcd3.EventType.PUT
    assert (a1.key, a1.value, a1.lease, a1.version, a1.create_revision, a1.mod_revision) == \
        (b"lk/a", b"1", lease, 1, r1, r1)
    assert (a2.lease, a2.version, a2.create_revision, a2.mod_revision, a2.revision) == (lease, 2, r1, r2, r2)
    assert (b.key, b.lease, b.version, b.create_revision) == (b"lk/b", None, 1, r3)  # no lease: left out
    assert (gone.key, gone.type, gone.mod_revision) == (b"lk/a", etcd3.EventType.DELETE, r4)
    assert gone.type.name == "DELETE" and etcd3.EventType("DELETE") is gone.type


# --------------------------------------------------------------------------- callbacks

def test_onEvent_filters_get_only_matching_events(client):
    """str and bytes filters are regexes matched from the key's start (0.1.6), also
    compiled ones; a callable is a predicate."""
    w = client.Watcher("cb/", prefix=True)
    exact, exact_bytes, regex, bregex, predicate = Collector(), Collector(), Collector(), Collector(), Collector()
    w.onEvent("cb/exact", exact)
    w.onEvent(b"cb/bytes", exact_bytes)
    w.onEvent(re.compile(r"cb/re/\d+$"), regex)
    w.onEvent(re.compile(rb"cb/b\w+"), bregex)
    w.onEvent(lambda e: e.value == b"pick me", predicate)
    every = running(w)
    try:
        puts = [("cb/exact", "1"), ("cb/exactly", "2"), ("cb/re/12", "3"), ("cb/re/x", "4"),
                ("cb/re/7/8", "5"), ("cb/bytes", "6"), ("cb/other", "pick me"), ("cb/exact", "pick me")]
        for key, value in puts:
            client.put(key, value)
        every.wait_for(len(puts))
    finally:
        w.stop()
    assert [(e.key, e.value) for e in exact.events] == [(b"cb/exact", b"1"), (b"cb/exactly", b"2"),
                                                        (b"cb/exact", b"pick me")]
    assert [e.key for e in exact_bytes.events] == [b"cb/bytes"]
    assert [e.key for e in regex.events] == [b"cb/re/12"]
    assert [e.key for e in bregex.events] == [b"cb/bytes"]
    assert [e.key for e in predicate.events] == [b"cb/other", b"cb/exact"]


def test_watchers_share_a_callbacks_entry_and_the_client_keeps_no_callback_alive(client):
    class Sink:
        def __call__(self, event):
            pass

    sink = Sink()
    first, second = client.Watcher("share/a"), client.Watcher("share/b")
    first.onEvent(sink)
    second.onEvent(sink)
    assert first._callbacks[0] is second._callbacks[0]  # one entry (a tuple) for both
    second.onEvent(Sink())
    assert second._callbacks[1] is not first._callbacks[0]
    gone = weakref.ref(sink)
    del first, second, sink
    gc.collect()
    assert gone() is None  # the watchers gone, nothing of the client's holds their callback


def test_unEvent_removes_callbacks(client):
    w = client.Watcher("un/", prefix=True)
    by_filter, by_callback, kept = Collector(), Collector(), Collector()
    w.onEvent("un/a", by_filter)
    w.onEvent(by_callback)
    w.onEvent("un/a", kept)
    every = running(w)
    try:
        client.put("un/a", "1")
        every.wait_for(1)
        w.unEvent(by_callback)            # by callback
        w.unEvent("un/a", by_filter)      # by filter and callback: `kept` stays
        client.put("un/a", "2")
        every.wait_for(2)
        w.unEvent("un/a")                 # by filter: every callback of that filter
        client.put("un/a", "3")
        every.wait_for(3)
    finally:
        w.stop()
    assert [e.value for e in by_callback.events] == [b"1"]
    assert [e.value for e in by_filter.events] == [b"1"]
    assert [e.value for e in kept.events] == [b"1", b"2"]


def test_stop_returns_within_a_second(client):
    w = client.Watcher("stop/k")
    got = Collector()
    w.onEvent(got)
    thread = w.runDaemon()
    client.put("stop/k", "1")
    got.wait_for(1)
    start = time.monotonic()
    w.stop()
    elapsed = time.monotonic() - start
    assert elapsed < 1.0
    # runDaemon gives a thread (Client) or an asyncio task (AioClient)
    running_still = thread.is_alive() if hasattr(thread, "is_alive") else not thread.done()
    assert not running_still and not w.watching
    # nothing after the stop: a second watcher sees the next put, the stopped one does not
    sentinel = client.Watcher("stop/k")
    after = running(sentinel)
    try:
        client.put("stop/k", "2")
        after.wait_for(1)
    finally:
        sentinel.stop()
    assert [e.value for e in got.events] == [b"1"]


def test_stop_ends_a_blocking_run_and_an_iteration(client):
    runner = client.Watcher("stop/run")
    runner.onEvent(Collector())  # run() needs a callback (0.1.6)
    iterated = client.Watcher("stop/iter")
    run_thread, run_box = in_thread(runner.run)
    iter_thread, iter_box = in_thread(lambda: list(iterated))
    # both are blocked waiting for events: stop() must end them promptly
    deadline = time.monotonic() + WAIT
    while not (runner.watching and iterated.watching) and time.monotonic() < deadline:
        time.sleep(0.01)
    for watcher, thread in ((runner, run_thread), (iterated, iter_thread)):
        start = time.monotonic()
        watcher.stop()
        thread.join(1.0)
        assert time.monotonic() - start < 1.0 and not thread.is_alive()
    assert "error" not in run_box and "error" not in iter_box
    assert iter_box["value"] == []


def test_context_manager_runs_and_stops(client):
    """``with`` opens the watch (0.1.6): changes from then on are seen, by iterating
    or by the callbacks of runDaemon()/run() inside the block; stopped at the end."""
    with client.Watcher("ctx/k") as w:
        assert w.watching
        client.put("ctx/k", "1")
        got = Collector()
        w.onEvent(got)
        w.runDaemon()
        client.put("ctx/k", "2")
        events = got.wait_for(2)
    assert not w.watching
    assert [e.value for e in events] == [b"1", b"2"]
    with client.Watcher("ctx/k") as w:
        client.put("ctx/k", "3")
        iterated = take(w, 1)
    assert [e.value for e in iterated] == [b"3"]


def test_watch_once_returns_the_first_matching_event(client):
    first = revision_of(client.put("once/a", "1"))
    client.put("once/b", "2")
    client.put("once/c", "3")
    w = client.Watcher("once/", prefix=True, start_revision=first)
    event = w.watch_once("once/b", timeout=WAIT)
    assert (event.key, event.value) == (b"once/b", b"2")
    assert w.watch_once(lambda e: e.value == b"3", timeout=WAIT).key == b"once/c"
    assert not w.watching  # the watch of watch_once is gone again


def test_watch_once_times_out(client):
    """No event in time: None (0.1.6), after about the timeout."""
    w = client.Watcher("once/never")
    start = time.monotonic()
    assert w.watch_once(timeout=0.5) is None
    assert 0.4 < time.monotonic() - start < 3.0
    w.set_default_timeout(0.5)
    start = time.monotonic()
    assert w.watch_once() is None
    assert 0.4 < time.monotonic() - start < 3.0
    assert not w.watching


def test_watch_once_on_a_running_watcher_does_not_steal_events(client):
    """watch_once on a Watcher already running (runDaemon) must not take events away
    from its callbacks: either it refuses at once, or it returns a matching event
    and the callbacks still get every event."""
    w = client.Watcher("steal/", prefix=True)
    every = running(w)
    stop_writing = threading.Event()
    written = []

    def writer():
        i = 0
        while not stop_writing.is_set() and i < 500:
            written.append(revision_of(client.put("steal/%03d" % i, "v")))
            i += 1

    thread, _ = in_thread(writer)
    try:
        try:
            event = w.watch_once(timeout=5)
        except Exception:  # noqa: BLE001 - a refusal is a fine answer
            event = "refused"
        if event is None:
            raise AssertionError("watch_once on a running watcher missed every event of a busy key range")
        if event == "refused":
            event = None
        stop_writing.set()
        thread.join(WAIT)
        # all the writes reached the callbacks, the event of watch_once included
        deadline = time.monotonic() + WAIT
        while (not every.events or every.events[-1].revision < written[-1]) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop_writing.set()
        w.stop()
    assert [e.revision for e in every.events] == written, \
        "the callbacks lost %d of %d events to watch_once" % (len(written) - len(every.events), len(written))
    if event is not None:
        assert event.revision in written


def test_failing_callback_does_not_kill_the_watcher(client, caplog):
    w = client.Watcher("fail/", prefix=True)
    calls = []

    def broken(event):
        calls.append(event.key)
        raise RuntimeError("callback bug")

    w.onEvent(broken)
    every = running(w)
    try:
        for i in range(3):
            client.put("fail/%d" % i, "v")
        events = every.wait_for(3)
        assert w.watching
    finally:
        w.stop()
    assert calls == [b"fail/0", b"fail/1", b"fail/2"]
    assert [e.key for e in events] == calls
    assert not every.errors


def test_revision_is_kept_between_runs_and_cleared(client):
    """After stop(), the next run resumes after the last delivered event (events
    made while stopped are delivered); clear_revision() makes it start from now."""
    w = client.Watcher("again/k")
    first = running(w)
    client.put("again/k", "1")
    first.wait_for(1)
    w.stop()
    missed = revision_of(client.put("again/k", "while stopped"))
    second = Collector()
    w.clear_callbacks()
    w.onEvent(second)
    w.runDaemon()
    try:
        events = second.wait_for(1)
    finally:
        w.stop()
    assert (events[0].value, events[0].revision) == (b"while stopped", missed)
    client.put("again/k", "while stopped again")
    w.clear_revision()
    third = Collector()
    w.clear_callbacks()
    w.onEvent(third)
    w.runDaemon()
    try:
        client.put("again/k", "now")
        events = third.wait_for(1)
    finally:
        w.stop()
    assert [e.value for e in events] == [b"now"]


# --------------------------------------------------------------------------- the raw stream

def test_raw_watch_stream_created_then_events(client):
    stream = client.watch_create("raw/k")
    try:
        responses = iter(stream)
        created = next(responses)
        assert created.created is True and created.canceled is False and not created.events
        rev = revision_of(client.put("raw/k", "v"))
        client.put("raw/other", "x")
        resp = next(responses)
        assert resp.watch_id == created.watch_id
        assert [(e.kv.key, e.kv.value, e.kv.mod_revision) for e in resp.events] == [(b"raw/k", b"v", rev)]
        assert resp.header.revision == rev
    finally:
        stream.close()


def test_raw_watch_create_request_by_hand(client):
    rev = revision_of(client.put("raw/h", "1"))
    with client.watch(create_request={"key": "raw/h", "start_revision": rev, "prev_kv": True}) as stream:
        responses = iter(stream)
        assert next(responses).created
        resp = next(responses)
    assert [(e.kv.key, e.kv.value, e.prev_kv) for e in resp.events] == [(b"raw/h", b"1", None)]


def test_raw_stream_close_from_another_thread_unblocks_the_reader(client):
    stream = client.watch_create("raw/blocked")
    responses = iter(stream)
    assert next(responses).created
    thread, box = in_thread(lambda: list(responses))  # blocks: nothing happens on the key
    thread.join(0.2)
    assert thread.is_alive()
    start = time.monotonic()
    stream.close()
    thread.join(WAIT)
    assert not thread.is_alive(), "close() did not unblock the iteration"
    assert time.monotonic() - start < 2.0
    assert box.get("value") == [], box  # the end of the iteration, not an error


def test_raw_stream_context_manager_closes(client, etcd):
    with client.watch_create("raw/ctx") as stream:
        assert next(iter(stream)).created
        during = connections_to(etcd.port)  # the stream's connection among them
    assert stream.raw.closed
    thread, box = in_thread(lambda: list(stream))
    thread.join(WAIT)
    assert not thread.is_alive() and box.get("value") == [], box
    # the stream's connection is gone (closed, not handed back to the pool as idle)
    after = connections_to(etcd.port)
    assert after < during, "the stream's connection is still open: %r -> %r" % (during, after)
    assert len(during - after) == 1


# --------------------------------------------------------------------------- one connection

def test_twenty_watchers_share_one_connection(etcd):
    c = make_client(etcd)
    watchers = []
    try:
        c.put("one/warm", "x")  # the request pool holds its connection now
        before = connections_to(etcd.port)
        assert before, "no connection of the request pool found in /proc"
        collectors = []
        for i in range(20):
            w = c.Watcher("one/%02d" % i)
            collectors.append(running(w))
            watchers.append(w)
            if i == 0:
                stream = c._watch_stream()
                opened = stream.connections
                assert opened == 1
        assert stream.connections == opened, "adding watchers opened new streams"
        after = connections_to(etcd.port)
        new = after - before
        assert len(new) == 1, "expected one new connection (the watch stream), got %d: %r" % (len(new), new)
        assert new == {stream._stream.sock.getsockname()[1]}
        assert before <= after
        for i in reversed(range(20)):
            c.put("one/%02d" % i, "v%d" % i)
        c.put("one/xx", "nobody watches this")
        for i, got in enumerate(collectors):
            events = got.wait_for(1)
            assert [(e.key, e.value) for e in events] == [(b"one/%02d" % i, b"v%d" % i)]
        assert stream.connections == opened
    finally:
        for w in watchers:
            w.stop()
        c.close()


# --------------------------------------------------------------------------- resume after kill -9

def test_resume_after_kill9_loses_nothing_and_repeats_nothing(fresh_etcd):
    """A writer process puts 1,000 keys (create-if-absent txns, retried); etcd is
    killed with SIGKILL after ~300 events and restarted on its data dir; three
    Watchers (two sharing a client) each get the 1,000 events once, in order."""
    server = fresh_etcd
    deadline = time.monotonic() + 60
    count, prefix = 1000, "/resume/"
    shared, alone = make_client(server), make_client(server)
    watchers = [shared.Watcher(prefix, prefix=True), shared.Watcher(prefix, prefix=True),
                alone.Watcher(prefix, prefix=True)]
    collectors = []
    for i, w in enumerate(watchers):
        got = Collector("watcher %d" % i)
        w.onEvent(got)
        w.onError(got.on_error)
        collectors.append(got)
        w.runDaemon()
    reached = collectors[0].mark(300)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    writer = subprocess.Popen([sys.executable, str(WRITER), server.host, str(server.port), prefix, str(count)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert reached.wait(max(1.0, deadline - time.monotonic())), "the writer did not get to 300 keys"
        server.kill()
        seen_at_kill = len(collectors[0].events)
        server.restart()
        out, err = writer.communicate(timeout=max(1.0, deadline - time.monotonic()))
        assert writer.returncode == 0, err[-3000:]
        report = json.loads(out.strip().splitlines()[-1])
        expected = [(prefix + "%04d" % i).encode() for i in range(count)]
        stored = {kv.key for kv in shared.range(prefix, prefix=True, keys_only=True).kvs or []}
        helpers.require_kept_writes(server.version, expected, stored)
        for got in collectors:
            got.wait_for(count, timeout=max(1.0, deadline - time.monotonic()))
        streams_opened = (shared._watch_stream().connections, alone._watch_stream().connections)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        for w in watchers:
            w.stop()
        shared.close()
        alone.close()
    assert seen_at_kill < count, "the kill came after the last write: nothing was tested"
    assert report["retries"] > 0, "the writer never saw the server down"
    for got in collectors:
        keys = got.keys()
        assert len(keys) == count, "%s: %d events" % (got.name, len(keys))
        assert keys == expected, "%s: first difference at %d" % (
            got.name, next(i for i, (a, b) in enumerate(zip(keys, expected)) if a != b))
        revisions = [e.revision for e in got.events]
        assert revisions == sorted(set(revisions))  # strictly increasing: no duplicates
        assert all(e.type == etcd3.EventType.PUT and e.version == 1 for e in got.events)
    # each client's one stream was opened again after the kill
    assert min(streams_opened) >= 2, streams_opened


# --------------------------------------------------------------------------- compaction

def test_compacted_start_revision_is_reported(client):
    old = revision_of(client.put("cmp/k", "old"))
    client.put("cmp/k", "newer")
    now = revision_of(client.put("cmp/k", "newest"))
    client.compact(now)
    # the iterator raises
    w = client.Watcher("cmp/k", start_revision=old)
    with pytest.raises(errors.Etcd3WatchCompacted) as caught:
        for event in w.events(timeout=WAIT):
            raise AssertionError("an event from a compacted revision: %r" % event)
    error = caught.value
    assert error.compact_revision == now
    assert isinstance(error, errors.Etcd3WatchCanceled) and isinstance(error, errors.ErrCompacted)
    # run() with an onError callback calls it (and returns)
    w = client.Watcher("cmp/k", start_revision=old)
    reported = Collector()
    w.onEvent(reported)
    w.onError(reported.on_error)
    thread, box = in_thread(w.run)
    thread.join(WAIT)
    assert not thread.is_alive() and "error" not in box, box
    assert [type(e) for e in reported.errors] == [errors.Etcd3WatchCompacted]
    assert reported.errors[0].compact_revision == now and not reported.events
    # run() without one raises it
    w = client.Watcher("cmp/k", start_revision=old)
    w.onEvent(Collector())
    with pytest.raises(errors.Etcd3WatchCompacted):
        w.run()
    # runDaemon with onError: reported too
    w = client.Watcher("cmp/k", start_revision=old)
    daemon = Collector()
    w.onEvent(daemon)  # runDaemon() needs a callback (0.1.6)
    w.onError(daemon.on_error)
    w.runDaemon()
    assert daemon.wait_error().compact_revision == now
    w.stop()


def test_compaction_during_a_disconnect_is_reported_not_skipped(fresh_etcd):
    """Events arrive; the server is killed; while it is down the watch cannot
    resume; it is restarted, more keys are written and the revisions the watch
    would resume from are compacted BEFORE the watch reconnects.  The watch must
    end with Etcd3WatchCompacted (iterator and onError), never skip the gap.

    To make "before the watch reconnects" deterministic the test holds the watch
    stream's lock (``client._watch_stream()._lock``, a private detail) from before
    the kill until after the compaction: the reader thread cannot re-create its
    watches while the lock is held."""
    server = fresh_etcd
    watched, other = make_client(server), make_client(server)
    start = revision_of(other.put("/gap/0", "0"))
    by_callback = watched.Watcher("/gap/", prefix=True, start_revision=start)
    by_iterator = watched.Watcher("/gap/", prefix=True, start_revision=start)
    got_cb = running(by_callback)
    iterated, outcome = [], {}

    def iterate():
        try:
            for event in by_iterator.events(timeout=30):
                iterated.append(event)
        except BaseException as exc:  # noqa: BLE001 - checked below
            outcome["error"] = exc

    thread, _ = in_thread(iterate)
    stream = watched._watch_stream()
    try:
        other.put("/gap/1", "1")
        last = revision_of(other.put("/gap/2", "2"))
        got_cb.wait_for(3)
        deadline = time.monotonic() + WAIT
        while len(iterated) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(iterated) == 3
        with stream._lock:
            server.kill()
            server.restart()
            other.put("/gap/3", "3")
            compacted = revision_of(other.put("/gap/4", "4"))
            assert compacted > last + 1  # the resume revision (last + 1) is gone
            other.compact(compacted)
        error = got_cb.wait_error()
        thread.join(WAIT)
        assert not thread.is_alive()
    finally:
        by_callback.stop()
        by_iterator.stop()
        watched.close()
        other.close()
    assert isinstance(error, errors.Etcd3WatchCompacted) and error.compact_revision == compacted
    assert isinstance(outcome.get("error"), errors.Etcd3WatchCompacted), outcome
    assert outcome["error"].compact_revision == compacted
    # nothing of the gap was delivered, and nothing twice
    assert [e.key for e in got_cb.events] == [b"/gap/0", b"/gap/1", b"/gap/2"]
    assert [e.key for e in iterated] == [b"/gap/0", b"/gap/1", b"/gap/2"]


# --------------------------------------------------------------------------- robustness of the reader

def test_unexpected_reader_error_does_not_hang_watchers(etcd):
    """If decoding a response fails with an unexpected exception, the watch must not
    hang silently forever: the error reaches the watcher, or the stream recovers
    (reconnects and resumes).  The failure is injected in the stream's decoder."""
    c = make_client(etcd)
    stream = c._watch_stream()
    real_op = stream.op
    failures = []

    class FailingResponse:
        def __init__(self, node):
            self._node = node

        def decode_owned(self, data):
            if not failures and isinstance(data, dict) and data.get("events"):
                failures.append(data)
                raise RuntimeError("injected decoder failure")
            return self._node.decode_owned(data)

        decode = decode_owned

    class Op:
        def __getattr__(self, name):
            return getattr(real_op, name)

        response = FailingResponse(real_op.response)

    stream.op = Op()
    w = c.Watcher("inj/k")
    got = running(w)
    try:
        c.put("inj/k", "1")
        c.put("inj/k", "2")
        with got._cond:
            got._cond.wait_for(lambda: len(got.events) >= 2 or got.errors, 5)
        assert failures, "the injected failure was not hit"
        assert got.errors or [e.value for e in got.events] == [b"1", b"2"], \
            "the watcher hangs: no event and no error after a reader failure (events %r)" % got.events
    finally:
        w.stop()
        c.close()


def test_concurrent_first_decodes_of_watch_responses(client):
    """Every client has its own watch reader thread: the first WatchResponses of
    several clients are decoded at the same time.  Run in a fresh interpreter
    (nothing decoded yet) with 8 threads decoding the same real response."""
    rev = revision_of(client.put("dec/k", "v"))
    client.put("dec/k", "w")
    url = client.baseurl + client.api_prefix + "/watch"
    body = json.dumps({"create_request": {"key": b64("dec/k"), "start_revision": rev, "prev_kv": True}})
    lines = capture_lines(url, body, events=2)
    item = json.loads(lines[-1])["result"]
    script = textwrap.dedent("""
        import json, sys, threading
        from etcd3.baseclient import BaseClient
        decode = BaseClient(server_version=sys.argv[1]).spec.operations["watch"].response.decode
        item = json.loads(sys.argv[2])
        barrier = threading.Barrier(8)
        failures = []
        def work():
            barrier.wait()
            try:
                decode(item)
            except Exception as e:
                failures.append(repr(e))
        threads = [threading.Thread(target=work) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(json.dumps(failures))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", script, client.server_version, json.dumps(item)],
                         capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    failures = json.loads(res.stdout)
    assert failures == [], "%d of 8 concurrent decodes failed: %s" % (len(failures), failures[0])


# --------------------------------------------------------------------------- the stream decoder on real bodies

SPECIAL_VALUES = ["}", "{", "}{", '{"a": 1}\n}', "line1\nline2\r\n", "é ü ∑ 😀 中文", '\\"}', "",
                  "x" * 3000, "\u2028\u2029", "\x00\x01"]


def capture_lines(url: str, body: str, events: int, timeout: float = WAIT) -> list:
    """The raw newline-terminated lines of a gateway watch stream (bytes, each with
    its b"\\n"), read until ``events`` events came, then the stream is closed."""
    session = requests.Session()
    session.trust_env = False
    resp = session.post(url, data=body.encode(), stream=True, timeout=timeout)
    try:
        assert resp.status_code == 200, resp.status_code
        buffer, lines, seen = b"", [], 0
        deadline = time.monotonic() + timeout
        for chunk in resp.iter_content(chunk_size=None):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                lines.append(line + b"\n")
                seen += len(json.loads(line).get("result", {}).get("events", []))
            if seen >= events or time.monotonic() > deadline:
                break
        assert seen >= events, "only %d of %d events in %r" % (seen, events, lines)
        return lines
    finally:
        resp.close()
        session.close()


@pytest.fixture(scope="module")
def watch_body(etcd):
    """A real watch stream body of this version (its lines): the history of keys
    whose values hold braces, newlines and multi-byte UTF-8, with prev_kv.  Keys
    and values are base64 on the wire, so the JSON text itself is ASCII; what
    varies is the objects' sizes and shapes (created, one or several events per
    response, prev_kv or not, defaults left out)."""
    c = make_client(etcd)
    try:
        revisions = [revision_of(c.put("/body/%02d" % i, v)) for i, v in enumerate(SPECIAL_VALUES)]
        c.put("/body/00", "again {}")
        c.delete_range("/body/01")
        c.put("/body/ünï", "ü")
        url = etcd.endpoint + c.api_prefix + "/watch"
        body = json.dumps({"create_request": {"key": b64("/body/"), "range_end": b64("/body0"),
                                              "start_revision": revisions[0], "prev_kv": True}})
        lines = capture_lines(url, body, events=len(SPECIAL_VALUES) + 3)
    finally:
        c.delete_range("/body/", prefix=True)
        c.close()
    return lines


def test_captured_body_is_what_we_think(watch_body):
    objects = [json.loads(line) for line in watch_body]
    assert objects[0]["result"]["created"] is True
    values = [base64.b64decode(e["kv"].get("value", "")).decode("utf-8")
              for o in objects[1:] for e in o["result"].get("events", [])]
    assert values[:len(SPECIAL_VALUES)] == SPECIAL_VALUES


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), delimited=st.booleans())
def test_stream_decoder_random_chunkings_of_real_bodies(watch_body, data, delimited):
    lines = watch_body
    expected = [json.loads(line) for line in lines]
    # newline-delimited as served, or concatenated without delimiter as 3.2-era gateways sent it
    body = b"".join(lines) if delimited else b"".join(line.rstrip(b"\n") for line in lines)
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(body)), max_size=40), label="cuts")))
    if data.draw(st.booleans(), label="byte by byte around a cut") and cuts:
        at = cuts[0]
        cuts = sorted(set(cuts) | set(range(max(0, at - 8), min(len(body), at + 8))))
    chunks = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)])]
    decoder = StreamDecoder()
    got = []
    for chunk in chunks:
        got.extend(decoder.feed(chunk))
    got.extend(decoder.flush())
    assert got == expected


def test_stream_decoder_one_byte_at_a_time_on_real_body(watch_body):
    body = b"".join(watch_body)
    decoder = StreamDecoder()
    got = []
    for i in range(len(body)):
        got.extend(decoder.feed(body[i:i + 1]))
    got.extend(decoder.flush())
    assert got == [json.loads(line) for line in watch_body]


def test_stream_decoder_flags_a_truncated_real_body(watch_body):
    body = b"".join(watch_body)
    decoder = StreamDecoder()
    decoder.feed(body[:-10])
    with pytest.raises(errors.Etcd3StreamError):
        decoder.flush()
