"""``Watcher``, ``Event`` and ``KeyValue`` as etcd3-py 0.1.6 had them (ORIGINAL_API.md 6.3, 2.7).

Against real servers, with Client and AioClient: str/bytes filters as regexes
matched from the key's start, EventType and callable filters, watch_once giving
None on timeout (and a loop of watch_once calls missing nothing), events read
like dicts on PUT and DELETE with prev_kv, ``revision``/``start_revision`` as
0.1.6 set them from the response headers while a restarted watch still goes on
right after the last event it delivered, run()/runDaemon() refusals, the
context manager, ``_thread``, ``errors`` filled by a server crash.  Without a
server: the constructor's order and attributes, get_filter, onEvent/unEvent,
dispatch order, Event/KeyValue built from dicts.
"""
from __future__ import annotations

import collections
import inspect
import threading
import time

import pytest

import etcd3
from etcd3 import baseclient
from etcd3.stateful import watch
from etcd3.stateful.watch import Event, EventType, KeyValue, OnceTimeout, Watcher

from conftest import make_client

WAIT = 10.0


class Got:
    """A callback that records events and lets the test wait for a count of them."""

    def __init__(self) -> None:
        self.events: list = []
        self._cond = threading.Condition()

    def __call__(self, event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT) -> list:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.events) >= count, timeout), \
                "%d of %d events within %ss: %r" % (len(self.events), count, timeout, self.events)
            return list(self.events)

    def keys(self) -> list:
        with self._cond:
            return [e.key for e in self.events]


def rev(response) -> int:
    return response.header.revision


def take(watcher, count: int) -> list:
    """The first ``count`` events of iterating the watcher, which is then stopped."""
    got = []
    try:
        for event in watcher.events(timeout=WAIT):
            got.append(event)
            if len(got) == count:
                break
    finally:
        watcher.stop()
    return got


def event(key, type=None, **kv):
    data = {"kv": dict(kv, key=key)}
    if type is not None:
        data["type"] = type
    return Event(data)


# --------------------------------------------------------------------------- no server

def test_constructor_order_and_attributes_are_0_1_6s():
    names = [p for p in inspect.signature(Watcher.__init__).parameters if p != "self"]
    assert names[:11] == ["client", "max_retries", "key", "range_end", "start_revision", "progress_notify",
                          "prev_kv", "prefix", "all", "no_put", "no_delete"]
    factory = [p for p in inspect.signature(baseclient.BaseClient.Watcher).parameters if p != "self"]
    assert factory == ["key", "range_end", "max_retries", "start_revision", "progress_notify", "prev_kv",
                       "prefix", "all", "no_put", "no_delete"]
    w = Watcher(None, 3, "k", None, 7, True, True, None, None, True, False)
    assert (w.client, w.max_retries, w.key, w.range_end, w.start_revision, w.progress_notify, w.prev_kv,
            w.prefix, w.all, w.no_put, w.no_delete) == (None, 3, "k", None, 7, True, True, None, None, True, False)
    w = Watcher(None, -1, "k")
    assert w.max_retries == 9223372036854775807
    assert (w.revision, w.watch_id, w.retries, w.watching, w.timeout) == (None, None, 0, False, None)
    assert isinstance(w.errors, collections.deque) and w.errors.maxlen == 20 and not w.errors
    assert w.callbacks == [] and w._thread is None
    assert Watcher(None, key="a", range_end="b").range_end == "b"
    assert Watcher(None, key="a", prefix=True).prefix is True


def test_constructor_refusals_name_the_problem():
    with pytest.raises(TypeError, match=r"__init__\(\) requires at least one argument of key,all"):
        Watcher(None)
    with pytest.raises(TypeError, match=r"__init__\(\) requires at most one of param range_end or prefix or all"):
        Watcher(None, key="a", range_end="b", prefix=True)
    with pytest.raises(TypeError, match="at most one"):
        Watcher(None, key="a", prefix=False, all=False)  # an explicit False counts, as in 0.1.6
    with pytest.raises(TypeError, match="max_retries must be an int"):
        Watcher(None, "key")  # client.Watcher's order used on the class


def test_get_filter():
    put_foo_bar = event(b"foo/bar", value=b"1")
    delete_foo = event(b"foo", "DELETE")
    not_utf8 = event(b"f\xff")
    assert Watcher.get_filter(None)(put_foo_bar) and Watcher.get_filter(None)(not_utf8)

    def predicate(e):
        return e.value == b"1"

    assert Watcher.get_filter(predicate) is predicate
    starts = Watcher.get_filter("foo")
    assert starts(put_foo_bar) and starts(delete_foo)  # anchored at the start, not a full match
    assert not starts(event(b"xfoo")) and not starts(not_utf8)
    assert not Watcher.get_filter(".*")(not_utf8)  # a str regex never matches a key that is not UTF-8
    assert Watcher.get_filter(b"f\xff")(not_utf8)  # a bytes regex sees the key's bytes (0.1.6: TypeError)
    assert Watcher.get_filter(rb"foo/b")(put_foo_bar) and not Watcher.get_filter(rb"bar")(put_foo_bar)
    assert Watcher.get_filter("fo+/ba[rz]$")(put_foo_bar)
    deletes = Watcher.get_filter(EventType.DELETE)
    assert deletes(delete_foo) and not deletes(put_foo_bar)
    assert Watcher.get_filter(EventType.PUT)(put_foo_bar)
    with pytest.raises(TypeError, match="expect filter to be one of string, EventType, callable got .*int"):
        Watcher.get_filter(5)


def test_onEvent_unEvent_and_dispatch_order():
    w = Watcher(None, key="k")
    calls = []

    class Handler:
        def on(self, e):
            calls.append(("method", e.key))

    handler = Handler()
    first = lambda e: calls.append(("first", e.key))  # noqa: E731
    second = lambda e: calls.append(("second", e.key))  # noqa: E731
    assert w.onEvent(first) is None
    w.onEvent("k", second)
    w.onEvent(EventType.DELETE, handler.on)
    w.onEvent("nope", first)
    func, raw, cb = w.callbacks[1]
    assert raw == "k" and cb is second and callable(func)
    assert w.callbacks[0][1] is None and w.callbacks[2][1] is EventType.DELETE
    with pytest.raises(TypeError, match="callback should be a callable"):
        w.onEvent("k", "not callable")
    w.dispatch_event(event(b"k1", "DELETE"))
    assert calls == [("first", b"k1"), ("second", b"k1"), ("method", b"k1")]
    w.unEvent(cb=handler.on)  # a new bound method object, equal to the registered one
    assert [raw for _, raw, _ in w.callbacks] == [None, "k", "nope"]
    w.unEvent(filter="nope")
    assert [raw for _, raw, _ in w.callbacks] == [None, "k"]
    w.unEvent("k", first)  # no entry has both: nothing removed
    assert len(w.callbacks) == 2
    w.unEvent(first)  # registered without a filter: removed by callback
    assert [raw for _, raw, _ in w.callbacks] == ["k"]
    with pytest.raises(TypeError, match="at least one"):
        w.unEvent()
    w.clear_callbacks()
    assert w.callbacks == []


def test_run_and_runDaemon_need_a_callback():
    w = Watcher(None, key="k")
    with pytest.raises(TypeError, match="haven't watch on any event yet, use onEvent to watch a event"):
        w.run()
    with pytest.raises(TypeError, match="haven't watch on any event yet"):
        w.runDaemon()


def test_event_and_keyvalue_from_dicts():
    e = Event({"kv": {"key": b"foo", "value": b"bar", "create_revision": 4, "mod_revision": 5, "version": 2},
               "prev_kv": {"key": b"foo", "value": b"old", "mod_revision": 4}}, header="h")
    assert (e.key, e.value, e.create_revision, e.mod_revision, e.version, e.lease, e.header) == \
        (b"foo", b"bar", 4, 5, 2, None, "h")
    assert e.type is EventType.PUT and e["type"] is EventType.PUT  # PUT when absent
    assert e["key"] == b"foo" and e.get("value") == b"bar" and e["lease"] is None and e["nothing"] is None
    assert e.get("lease", "default") == "default"
    assert "key" in e and "lease" not in e and "type" in e and "prev_kv" in e
    assert sorted(e) == ["create_revision", "key", "mod_revision", "prev_kv", "type", "value", "version"]
    assert isinstance(e.prev_kv, KeyValue) and e["prev_kv"] is e.prev_kv
    assert (e.prev_kv.value, e.prev_kv["mod_revision"], e.prev_kv.get("version")) == (b"old", 4, None)
    assert repr(e) == "<WatchEvent PUT 'b'foo''>" and repr(e.prev_kv) == "<KeyValue of 'b'foo''>"
    gone = Event({"kv": {"key": b"foo", "mod_revision": 6}, "type": "DELETE"})
    assert gone.type is EventType.DELETE and gone.value is None and gone["value"] is None
    assert gone.prev_kv is None and gone["prev_kv"] is None and "prev_kv" in gone
    assert repr(gone) == "<WatchEvent DELETE 'b'foo''>"
    assert watch.WatchEvent is Event and issubclass(Event, KeyValue)
    assert issubclass(OnceTimeout, IOError) and EventType is etcd3.EventType
    with pytest.raises(TypeError, match="KeyValue"):
        KeyValue(None)


# --------------------------------------------------------------------------- real servers

def test_client_Watcher_keeps_its_own_order(client):
    w = client.Watcher("fo/k", "fo/l", 5)
    assert (w.key, w.range_end, w.max_retries) == ("fo/k", "fo/l", 5)
    w = client.Watcher("fo/k", prefix=True, no_put=True)
    assert (w.key, w.prefix, w.no_put, w.max_retries) == ("fo/k", True, True, 9223372036854775807)


def test_regex_EventType_and_callable_filters_get_matching_events_only(client):
    w = client.Watcher("rx/", prefix=True)
    f_star, foo, not_utf8, any_text, deletes, predicate, every = (Got() for _ in range(7))
    w.onEvent("rx/f.*", f_star)
    w.onEvent("rx/foo", foo)  # matches rx/foo/bar too: re.match, not a full match
    w.onEvent(b"rx/f\xff", not_utf8)
    w.onEvent(".*", any_text)
    w.onEvent(EventType.DELETE, deletes)
    w.onEvent(lambda e: e.value == b"pick", predicate)
    w.onEvent(every)
    w.runDaemon()
    try:
        client.put("rx/foo", "1")
        client.put("rx/foo/bar", "pick")
        client.put("rx/bar", "2")
        client.put(b"rx/f\xff", "3")
        client.put("rx/fob", "pick")
        client.delete_range("rx/bar")
        every.wait_for(6)
    finally:
        w.stop()
    assert f_star.keys() == [b"rx/foo", b"rx/foo/bar", b"rx/fob"]  # b"rx/f\xff" is not UTF-8: no match
    assert foo.keys() == [b"rx/foo", b"rx/foo/bar"]
    assert not_utf8.keys() == [b"rx/f\xff"]
    assert any_text.keys() == [b"rx/foo", b"rx/foo/bar", b"rx/bar", b"rx/fob", b"rx/bar"]
    assert deletes.keys() == [b"rx/bar"] and deletes.events[0].type is EventType.DELETE
    assert predicate.keys() == [b"rx/foo/bar", b"rx/fob"]


def test_watch_once_gives_None_after_the_timeout(client):
    old = rev(client.put("once/k", "put"))
    w = client.Watcher("once/k", start_revision=old)
    start = time.monotonic()
    assert w.watch_once(EventType.DELETE, timeout=1) is None  # the PUT in history does not match
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 2.5, elapsed
    assert not w.watching
    start = time.monotonic()
    assert client.Watcher("once/nothing").watch_once(timeout=0.5) is None
    assert 0.4 <= time.monotonic() - start < 2.0


def test_watch_once_returns_the_first_match_and_a_loop_of_them_misses_nothing(client):
    for key in ("loop/a", "loop/b", "loop/c"):
        client.put(key, "v")
    deleted = rev(client.delete_range("loop/", prefix=True))  # one revision, three events
    w = client.Watcher("loop/", prefix=True, start_revision=deleted)
    got = [w.watch_once(timeout=WAIT) for _ in range(3)]
    assert [(e.key, e.type) for e in got] == [(b"loop/a", EventType.DELETE), (b"loop/b", EventType.DELETE),
                                              (b"loop/c", EventType.DELETE)]
    assert {e.mod_revision for e in got} == {deleted} and not w.watching
    later = rev(client.put("loop/d", "v"))
    again = w.watch_once("loop/d", timeout=WAIT)
    assert (again.key, again.mod_revision) == (b"loop/d", later)
    assert w.watch_once(timeout=0.3) is None  # nothing twice


def test_events_read_like_dicts_on_put_and_delete_with_prev_kv(client):
    first = rev(client.put("dict/k", "v1"))
    second = rev(client.put("dict/k", "v2"))
    gone = rev(client.delete_range("dict/k"))
    created, updated, deleted = take(client.Watcher("dict/k", prev_kv=True, start_revision=first), 3)
    assert created["key"] == b"dict/k" and created.get("value") == b"v1" and created["type"] is EventType.PUT
    assert created["prev_kv"] is None and created.prev_kv is None and "prev_kv" in created
    assert created["version"] == 1 and created["create_revision"] == created["mod_revision"] == first
    assert updated.get("prev_kv")["value"] == b"v1" and updated.prev_kv.version == 1
    assert updated["mod_revision"] == second and updated.value == b"v2"
    assert {"key", "value", "type", "prev_kv", "mod_revision", "version"} <= set(updated)
    assert deleted["type"] is EventType.DELETE and deleted.type is EventType.DELETE
    assert deleted.value is None and deleted["value"] is None and deleted.get("create_revision") is None
    assert deleted.version is None and deleted["mod_revision"] == gone
    assert isinstance(deleted.prev_kv, KeyValue) and deleted["prev_kv"]["value"] == b"v2"
    assert deleted.prev_kv["version"] == 2 and deleted.prev_kv.mod_revision == second
    assert "key" in deleted and "value" not in deleted
    assert repr(deleted) == "<WatchEvent DELETE 'b'dict/k''>"
    assert repr(deleted.prev_kv) == "<KeyValue of 'b'dict/k''>"
    assert deleted.header.revision >= gone


def test_revision_and_start_revision_come_from_the_headers(client):
    """0.1.6: ``start_revision`` is the created response's header revision and
    ``revision`` the last response's; a watch started again still goes on right
    after the last event it delivered (not from those attributes)."""
    before = rev(client.put("hdr/other", "x"))
    w = client.Watcher("hdr/k")
    got = Got()
    w.onEvent(got)
    w.runDaemon()
    try:
        assert (w.start_revision, w.revision) == (before, before)
        assert isinstance(w.watch_id, int)
        first = rev(client.put("hdr/k", "1"))
        got.wait_for(1)
        assert (w.revision, w.start_revision) == (first, before)
    finally:
        w.stop()
    while_stopped = rev(client.put("hdr/k", "while stopped"))
    w.runDaemon()
    try:
        events = got.wait_for(2)
    finally:
        w.stop()
    assert [(e.value, e.mod_revision) for e in events] == [(b"1", first), (b"while stopped", while_stopped)]
    assert w.start_revision == while_stopped  # the header of its second creation
    # history: the response carrying an old event has the current revision in its header
    history = client.Watcher("hdr/k", start_revision=first)
    event = history.watch_once(timeout=WAIT)
    assert (event.mod_revision, history.revision, history.start_revision) == (first, while_stopped, while_stopped)
    assert history.watch_once(timeout=WAIT).mod_revision == while_stopped  # from first + 1, not revision + 1
    history.clear_revision()
    assert (history.start_revision, history.revision) == (None, None)
    assert history.watch_once(timeout=0.3) is None  # from now


def test_run_refusals_and_the_daemon_handle(client, client_kind):
    w = client.Watcher("rd/k")
    got = Got()
    w.onEvent(got)
    handle = w.runDaemon()
    try:
        with pytest.raises(RuntimeError, match="already watching"):
            w.runDaemon()
        with pytest.raises(RuntimeError, match="already watching"):
            w.run()
        client.put("rd/k", "1")
        got.wait_for(1)
    finally:
        w.cancel()  # 0.1.6's alias of stop()
    assert not w.watching
    if client_kind == "sync":
        assert w._thread is handle and not w._thread.is_alive()
        w._thread.join(1)
    else:
        assert handle.done()
    client.put("rd/k", "2")
    assert [e.value for e in got.wait_for(1)] == [b"1"]


def test_context_manager_opens_the_watch_for_iteration_and_watch_once(client):
    with client.Watcher("cm/k") as w:
        assert w.watching
        with pytest.raises(RuntimeError, match="already watching"):
            with w:
                pass
        put = rev(client.put("cm/k", "1"))
        event = w.watch_once(timeout=WAIT)
        assert (event.value, event.mod_revision) == (b"1", put)
        assert not w.watching  # watch_once always stops
    with client.Watcher("cm/k") as w:
        client.put("cm/k", "2")
        for event in w:
            assert event.value == b"2"
            break
    assert not w.watching


def test_errors_record_stream_failures_and_the_watch_goes_on(fresh_etcd):
    c = make_client(fresh_etcd)
    w = c.Watcher("crash/k")
    got = Got()
    w.onEvent(got)
    w.runDaemon()
    try:
        c.put("crash/k", "before")
        got.wait_for(1)
        fresh_etcd.kill()
        deadline = time.monotonic() + WAIT
        while not w.errors and time.monotonic() < deadline:
            time.sleep(0.02)
        assert w.errors, "no failure recorded while the server was down"
        fresh_etcd.restart()
        c.put("crash/k", "after")
        events = got.wait_for(2)
    finally:
        w.stop()
        c.close()
    assert [e.value for e in events] == [b"before", b"after"] and w.retries == 0


def test_request_create_opens_a_raw_stream(clients):
    client = clients()
    w = client.Watcher("rq/k")
    stream = w.request_create()
    try:
        responses = iter(stream)
        assert next(responses).created
        put = rev(client.put("rq/k", "v"))
        resp = next(responses)
        assert [(e.kv.key, e.kv.mod_revision) for e in resp.events] == [(b"rq/k", put)]
    finally:
        stream.close()
        client.delete_range("rq/", prefix=True)
