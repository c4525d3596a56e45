"""The I/O-free watch multiplexer and the HTTP response parser (no etcd server; a
hostile one for the watch timeout across reconnections)."""
from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd3.transport.duplex import ResponseParser, encode_chunk, request_head
from etcd3.errors import Etcd3WatchCanceled, Etcd3WatchCompacted, ErrCompacted
from etcd3.spec import load_bundle
from etcd3 import AioClient, Client
from etcd3.errors import Etcd3WatchTimeout
from etcd3.stateful.watch import CREATED, ENDED, ERROR, EVENTS, WatchHub, watch_create_fields
from etcd3.transport.streams import StreamPolicy
from hostile import STREAM_HEAD, HostileServer

OP = load_bundle("3.5").operations["watch"]


def response(**fields):
    return OP.response.decode(fields)


def kv(key, rev):
    return {"key": __import__("base64").b64encode(key.encode()).decode(), "mod_revision": str(rev)}


class Sink:
    def __init__(self):
        self.items = []

    def __call__(self, kind, payload):
        self.items.append((kind, payload))

    def keys(self):
        return [e.key for kind, batch in self.items if kind == EVENTS for e in batch]


def lines_to_requests(lines):
    return [json.loads(line) for line in lines]


def test_creates_are_matched_in_order_and_events_routed_by_watch_id():
    hub = WatchHub(OP.request.encode)
    a, b = Sink(), Sink()
    wa, lines_a = hub.add({"key": b"a"}, a)
    wb, lines_b = hub.add({"key": b"b"}, b)
    assert lines_to_requests(lines_a + lines_b) == [{"create_request": {"key": "YQ=="}},
                                                     {"create_request": {"key": "Yg=="}}]
    hub.feed(response(header={"revision": "10"}, created=True))  # watch_id 0 is left out on the wire
    hub.feed(response(header={"revision": "10"}, created=True, watch_id="1"))
    assert (wa.server_id, wb.server_id) == (0, 1)
    assert (wa.next_revision, wb.next_revision) == (11, 11)
    hub.feed(response(header={"revision": "12"}, watch_id="1", events=[{"kv": kv("b", 12)}]))
    hub.feed(response(header={"revision": "13"}, events=[{"type": "DELETE", "kv": kv("a", 13)}]))
    assert a.keys() == [b"a"] and b.keys() == [b"b"]
    assert (wa.next_revision, wb.next_revision) == (14, 13)
    assert a.items[0][0] == CREATED


def test_an_event_routed_by_the_hub_is_the_one_event_of_its_json_gives():
    # the hub takes the decoded key-value's fields over (no copy): the same Event as Event(model)
    from etcd3.stateful.watch import Event

    events = [{"type": "DELETE", "kv": dict(kv("a", 7), create_revision="3", version="2", lease="9",
                                           newer_field="x"),
               "prev_kv": dict(kv("a", 6), value="dg==")},
              {"kv": dict(kv("b", 7), value="dw==")}, {}]
    body = {"header": {"revision": "7"}, "watch_id": "0", "events": events}
    hub = WatchHub(OP.request.encode)
    sink = Sink()
    hub.add({"key": b"a"}, sink)
    hub.feed(response(header={"revision": "5"}, created=True))
    hub.feed(response(**json.loads(json.dumps(body))))
    routed = sink.items[-1][1]
    expected = response(**json.loads(json.dumps(body)))
    expected = [Event(e, expected.header) for e in expected.events]
    assert len(routed) == 3
    for got, want in zip(routed, expected):
        assert list(got) == list(want) and repr(got) == repr(want)
        assert [v for k, v in got.items() if k != "prev_kv"] == [v for k, v in want.items() if k != "prev_kv"]
        assert vars(got).keys() == vars(want).keys()
        for name in ("key", "value", "create_revision", "mod_revision", "version", "lease", "type", "revision"):
            assert getattr(got, name) == getattr(want, name) and type(getattr(got, name)) is type(getattr(want, name))
        assert got.header.to_dict() == want.header.to_dict()
        assert (got.prev_kv is None) == (want.prev_kv is None)
        if got.prev_kv is not None:
            assert list(got.prev_kv.items()) == list(want.prev_kv.items())
    assert routed[0]["newer_field"] == "x" and routed[2].key is None and routed[2].type.name == "PUT"


def _whole_decode_events(op, result):
    """What the stream did with every answer before events_decoder: the whole model, its Events."""
    from etcd3.stateful.watch import Event

    model = op.response.decode_owned(result)
    return model.watch_id, model.header, [Event._decoded(e, model.header) for e in model.events]


def _same_event(got, want):
    assert type(got) is type(want) and repr(got) == repr(want)
    assert list(vars(got)) == list(vars(want))
    for name, value in vars(want).items():
        if name in ("header", "prev_kv", "_data"):
            continue
        assert getattr(got, name) == value and type(getattr(got, name)) is type(value), name
    assert list(got._data) == list(want._data)
    assert [(k, v) for k, v in got.items() if k != "prev_kv"] == [(k, v) for k, v in want.items() if k != "prev_kv"]
    assert type(got.header) is type(want.header)
    assert (got.header is None) == (want.header is None)
    if got.header is not None:
        assert got.header.to_dict() == want.header.to_dict() and vars(got.header) == vars(want.header)
    assert (got.prev_kv is None) == (want.prev_kv is None)
    if got.prev_kv is not None:
        assert type(got.prev_kv) is type(want.prev_kv) and list(got.prev_kv.items()) == list(want.prev_kv.items())
        assert vars(got.prev_kv).keys() == vars(want.prev_kv).keys()


@pytest.mark.parametrize("version", ["3.3", "3.5"])
def test_an_answer_of_events_only_decodes_to_the_events_of_the_whole_decode(version):
    # the stream's shortcut for answers of events only (no WatchResponse or Event model):
    # the same Events, headers and resume revision as the whole decode, on each spec
    from etcd3.stateful.watch import events_decoder

    op = load_bundle(version).operations["watch"]
    decode = events_decoder(op.response)
    assert decode is not None
    answers = [
        {"header": {"cluster_id": "4532472828743511040", "member_id": "11965188856714760264", "revision": "7",
                    "raft_term": "2"}, "watch_id": "12",
         "events": [{"kv": {"key": "YQ==", "create_revision": "7", "mod_revision": "7", "version": "1",
                            "value": "dg=="}}]},
        {"header": {"revision": "9"},  # watch 0: no watch_id on the wire
         "events": [{"type": "DELETE", "kv": dict(kv("a", 8), lease="5", newer_field="x"),
                     "prev_kv": dict(kv("a", 6), value="dg==")},
                    {"type": "PUT", "kv": dict(kv("b", 9), value="")}, {}, {"kv": {"key": "Yg=="}}]},
        {"events": [{"kv": kv("c", 4)}]},  # no header
        {"header": {"revision": "3"}, "watch_id": 4, "events": [{"type": 1, "kv": kv("d", 3)}]},
    ]
    for answer in answers:
        routed = decode(json.loads(json.dumps({**answer})))
        assert routed is not None
        watch_id, header, events, last = routed
        want_id, want_header, want_events = _whole_decode_events(op, json.loads(json.dumps(answer)))
        assert watch_id == want_id and type(watch_id) is int
        assert len(events) == len(want_events)
        for got, want in zip(events, want_events):
            _same_event(got, want)
            assert got.header is header
        whole = op.response.decode(json.loads(json.dumps(answer)))
        expected_last = whole.events[-1].kv.mod_revision if whole.events[-1].kv is not None else (
            whole.header.revision if whole.header is not None else 0)
        assert last == expected_last and type(last) is int
    # anything but events only goes to the whole decode (created, canceled, progress, fragments...)
    for other in ({"header": {"revision": "3"}, "created": True}, {"header": {"revision": "3"}},
                  {"header": {"revision": "3"}, "events": []}, {"watch_id": "-1", "events": [{"kv": kv("a", 1)}]},
                  {"watch_id": "2", "fragment": True, "events": [{"kv": kv("a", 1)}]},
                  {"watch_id": "2", "canceled": True, "compact_revision": "5"},
                  {"watch_id": "x", "events": [{"kv": kv("a", 1)}]}, {"events": "abc"}):
        assert decode(json.loads(json.dumps(other))) is None, other


@pytest.mark.parametrize("answer", [
    {"header": {"revision": "x"}, "events": [{"kv": kv("a", 1)}]},
    {"header": {"revision": "1"}, "watch_id": "3", "events": [{"kv": {"key": "not base64!", "mod_revision": "1"}}]},
    {"header": {"revision": "1"}, "events": [{"kv": kv("a", 1)}, {"kv": {"key": "YQ==", "version": [1]}}]},
    {"header": {"revision": "1"}, "events": [{"kv": kv("a", 1)}, None]},
    {"header": {"revision": "1"}, "events": [{"type": ["DELETE"], "kv": kv("a", 1)}]},
    {"header": {"revision": "1"}, "events": [{"kv": kv("a", 1), "prev_kv": "abc"}]},
    {"header": "abc", "events": [{"kv": kv("a", 1)}]},
])
def test_a_malformed_answer_of_events_only_fails_as_the_whole_decode_does(answer):
    from etcd3.errors import Etcd3ProtocolError
    from etcd3.stateful.watch import events_decoder

    with pytest.raises(Etcd3ProtocolError) as whole:
        OP.response.decode_owned(json.loads(json.dumps(answer)))
    with pytest.raises(Etcd3ProtocolError) as fast:
        events_decoder(OP.response)(json.loads(json.dumps(answer)))
    assert str(fast.value) == str(whole.value)
    assert type(fast.value.cause) is type(whole.value.cause)


def test_an_event_type_newer_than_the_spec_fails_as_the_hub_made_it_fail():
    # an enum name the spec does not know stays a str in the model; Event refuses it (the
    # shortcut makes such Events after the decode, as the hub made them: the same error)
    from etcd3.stateful.watch import events_decoder

    answer = {"header": {"revision": "4"}, "events": [{"kv": kv("a", 3)}, {"type": "NEWER", "kv": kv("a", 4)}]}
    with pytest.raises(ValueError) as whole:
        _whole_decode_events(OP, json.loads(json.dumps(answer)))
    with pytest.raises(ValueError) as fast:
        events_decoder(OP.response)(json.loads(json.dumps(answer)))
    assert str(fast.value) == str(whole.value) and type(fast.value) is type(whole.value)


def test_the_stream_routes_answers_of_events_only_as_the_hub_routes_their_models():
    # WatchConnection.received: the shortcut's answers and the whole decode's give each watch
    # the same events, in order, and the same resume revision (fragments joined to them too)
    from etcd3.stateful.watch import WatchConnection, events_decoder

    answers = [{"header": {"revision": "5"}, "created": True},
               {"header": {"revision": "5"}, "created": True, "watch_id": "1"},
               {"header": {"revision": "6"}, "events": [{"kv": kv("a", 6)}]},
               {"header": {"revision": "7"}, "watch_id": "1", "fragment": True, "events": [{"kv": kv("b", 7)}]},
               {"header": {"revision": "7"}, "watch_id": "1", "events": [{"kv": kv("b", 7), "type": "DELETE"}]},
               {"header": {"revision": "8"}, "watch_id": "2", "events": [{"kv": kv("z", 8)}]},  # nobody's
               {"header": {"revision": "9"}, "watch_id": "-1"},
               {"header": {"revision": "9"}, "events": [{"kv": kv("a", 9)}, {"kv": kv("a", 9)}]}]
    data = b"".join(json.dumps({"result": a}).encode() + b"\n" for a in answers)
    seen = []
    for fast in (True, False):
        hub = WatchHub(OP.request.encode)
        sinks = [Sink(), Sink()]
        states = [hub.add({"key": key}, sink)[0] for key, sink in zip((b"a", b"b"), sinks)]
        connection = WatchConnection(hub, OP.response.decode_owned, "http://x",
                                     events_decoder(OP.response) if fast else None)
        assert connection.received(data) == []
        seen.append(([[(kind, [(e.key, e.type.name, e.mod_revision, e.header.revision) for e in payload])
                       for kind, payload in sink.items if kind == EVENTS] for sink in sinks],
                     [state.next_revision for state in states]))
    assert seen[0] == seen[1]
    assert seen[0][1] == [10, 10]
    assert seen[0][0][1] == [(EVENTS, [(b"b", "PUT", 7, 7), (b"b", "DELETE", 7, 7)])]


def test_reconnect_recreates_every_watch_from_its_resume_revision():
    hub = WatchHub(OP.request.encode)
    sink = Sink()
    state, _ = hub.add({"key": b"a", "prev_kv": True}, sink)
    hub.feed(response(header={"revision": "5"}, created=True))
    hub.feed(response(header={"revision": "7"}, events=[{"kv": kv("a", 6)}, {"kv": kv("a", 7)}]))
    assert lines_to_requests(hub.reconnected()) == [
        {"create_request": {"key": "YQ==", "prev_kv": True, "start_revision": "8"}}]
    hub.feed(response(header={"revision": "9"}, created=True, watch_id="3"))
    hub.feed(response(header={"revision": "9"}, watch_id="3", events=[{"kv": kv("a", 9)}]))
    assert [e.mod_revision for kind, batch in sink.items if kind == EVENTS for e in batch] == [6, 7, 9]


def test_progress_moves_the_resume_revision():
    hub = WatchHub(OP.request.encode)
    state, _ = hub.add({"key": b"a"}, Sink())
    hub.feed(response(header={"revision": "5"}, created=True))
    hub.feed(response(header={"revision": "20"}))  # progress notification of watch 0
    assert state.next_revision == 21
    hub.feed(response(header={"revision": "30"}, watch_id="-1"))  # answer to a progress request
    assert state.next_revision == 31
    assert json.loads(hub.progress_request()) == {"progress_request": {}}


def test_start_revision_is_kept_until_events_arrive():
    hub = WatchHub(OP.request.encode)
    state, _ = hub.add({"key": b"a", "start_revision": 3}, Sink())
    hub.feed(response(header={"revision": "50"}, created=True))
    assert state.next_revision == 3  # history from 3 is still to come: the header must not skip it


def test_fragments_are_delivered_whole():
    hub = WatchHub(OP.request.encode)
    sink = Sink()
    hub.add({"key": b"a", "fragment": True}, sink)
    hub.feed(response(header={"revision": "1"}, created=True))
    hub.feed(response(header={"revision": "4"}, fragment=True, events=[{"kv": kv("a", 4)}]))
    assert sink.keys() == []
    hub.feed(response(header={"revision": "4"}, events=[{"kv": kv("b", 4)}]))
    assert [len(batch) for kind, batch in sink.items if kind == EVENTS] == [2]


def test_compaction_is_reported_with_its_revision():
    hub = WatchHub(OP.request.encode)
    sink = Sink()
    state, _ = hub.add({"key": b"a", "start_revision": 2}, sink)
    hub.feed(response(header={"revision": "9"}, created=True, canceled=True, compact_revision="6"))
    kind, error = sink.items[-1]
    assert kind == ERROR and isinstance(error, Etcd3WatchCompacted) and isinstance(error, ErrCompacted)
    assert error.compact_revision == 6 and not hub.active


def test_server_cancel_is_an_error_but_our_cancel_is_not():
    hub = WatchHub(OP.request.encode)
    ours, theirs = Sink(), Sink()
    w1, _ = hub.add({"key": b"a"}, ours)
    w2, _ = hub.add({"key": b"b"}, theirs)
    hub.feed(response(created=True))
    hub.feed(response(created=True, watch_id="1"))
    assert lines_to_requests(hub.cancel(w1)) == [{"cancel_request": {"watch_id": "0"}}]
    assert ours.items[-1] == (ENDED, None)
    hub.feed(response(canceled=True))
    assert len(ours.items) == 2  # created, ended: nothing after
    hub.feed(response(canceled=True, watch_id="1", cancel_reason="permission denied"))
    kind, error = theirs.items[-1]
    assert kind == ERROR and type(error) is Etcd3WatchCanceled and "permission denied" in str(error)


def test_cancel_before_created_is_sent_once_created():
    hub = WatchHub(OP.request.encode)
    state, _ = hub.add({"key": b"a"}, Sink())
    assert hub.cancel(state) == []
    assert lines_to_requests(hub.feed(response(created=True, watch_id="4"))) == [{"cancel_request": {"watch_id": "4"}}]


def test_max_retries_ends_watches_after_that_many_failures():
    hub = WatchHub(OP.request.encode)
    patient, impatient = Sink(), Sink()
    hub.add({"key": b"a"}, patient, max_retries=-1)
    hub.add({"key": b"b"}, impatient, max_retries=1)
    boom = ConnectionError("down")
    hub.disconnected(1, boom)
    assert impatient.items == []
    hub.disconnected(2, boom)
    assert impatient.items == [(ERROR, boom)] and patient.items == []


@pytest.mark.parametrize("kwargs,expected", [
    ({"key": "a", "prefix": True}, {"key": "a", "range_end": b"b"}),
    ({"all": True}, {"key": b"\0", "range_end": b"\0"}),
    ({"key": "a", "no_put": True, "prev_kv": True}, {"key": "a", "filters": ["NOPUT"], "prev_kv": True}),
])
def test_watch_create_fields(kwargs, expected):
    assert watch_create_fields(**kwargs) == expected


def test_watch_create_fields_rejects_nonsense():
    with pytest.raises(TypeError, match="needs a key"):
        watch_create_fields()
    with pytest.raises(TypeError, match="exclusive"):
        watch_create_fields(key="a", prefix=True, all=True)
    with pytest.raises(ValueError, match="every event"):
        watch_create_fields(key="a", no_put=True, no_delete=True)


CHUNKED = (b"HTTP/1.1 100 Continue\r\n\r\n"
           b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           + encode_chunk(b'{"result":{"a":1}}\n') + encode_chunk(b'{"result":{"b":"}\\r\\n0"}}\n') + b"0\r\n\r\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(CHUNKED)), max_size=12))
def test_response_parser_any_chunking(cuts):
    parser = ResponseParser()
    body, last = b"", 0
    for cut in sorted(cuts) + [len(CHUNKED)]:
        body += b"".join(parser.feed(CHUNKED[last:cut]))
        last = cut
    assert parser.status == 200 and parser.headers["content-type"] == "application/json"
    assert body == b'{"result":{"a":1}}\n{"result":{"b":"}\\r\\n0"}}\n' and parser.finished


def test_response_parser_content_length_and_close_delimited():
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nhello") == [b"hello"]
    assert parser.status == 401 and parser.finished
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.0 200 OK\r\n\r\nabc") == [b"abc"] and not parser.finished
    parser.eof()
    assert parser.finished


def test_request_head_is_chunked_and_full_duplex():
    head = request_head("POST", "/v3/watch", "h:1", {"Authorization": "t", "Content-Length": "9"}).decode()
    assert head.startswith("POST /v3/watch HTTP/1.1\r\nHost: h:1\r\n") and head.endswith("\r\n\r\n")
    assert "Transfer-Encoding: chunked" in head and "Expect: 100-continue" in head
    assert "Authorization: t" in head and "Content-Length" not in head


def test_the_newest_watch_tells_whether_creations_are_unanswered():
    hub = WatchHub(OP.request.encode)
    assert hub.creating() is None
    wa, _ = hub.add({"key": b"a"}, Sink())
    wb, _ = hub.add({"key": b"b"}, Sink())
    assert hub.creating() is wb
    hub.feed(response(header={"revision": "10"}, created=True))
    assert hub.creating() is wb  # answered in order: a's answer says nothing of b
    hub.feed(response(header={"revision": "10"}, created=True, watch_id="1"))
    assert hub.creating() is None
    hub.reconnected()
    assert hub.creating() is wb  # created again on the new stream
    hub.cancel(wb)
    assert hub.creating() is wa  # the newest live watch, being created again
    hub.feed(response(header={"revision": "11"}, created=True, watch_id="2"))
    assert hub.creating() is None


# -- a stream that breaks right after each created answer ---------------------------------

WATCH_CREATED = b'{"result":{"header":{"revision":"5"},"created":true}}\n'
# longer than the longest pause between reconnections: before the fix, each reconnection's
# created answer started the wait again and the watch never timed out
PIECE_TIMEOUT = StreamPolicy.BACKOFF_MAX + 1
GUARD = PIECE_TIMEOUT + 20  # the test fails (instead of hanging) past this


def created_then_cut(conn: socket.socket, path: str) -> None:
    conn.sendall(STREAM_HEAD + b"%x\r\n%s\r\n" % (len(WATCH_CREATED), WATCH_CREATED))
    conn.shutdown(socket.SHUT_RDWR)


def watch_streams(server) -> int:
    return sum(path.endswith("/watch") for path in server.requests)


def test_a_watch_timeout_spans_the_reconnections_sync():
    with HostileServer(created_then_cut) as server:
        client = Client(server.host, server.port)
        watcher = client.Watcher("k")
        outcome = []

        def consume():
            try:
                for event in watcher.events(timeout=PIECE_TIMEOUT):
                    outcome.append(event)
            except Exception as error:  # noqa: BLE001 - what ended the iteration is the result
                outcome.append(error)

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        thread.join(GUARD)
        watcher.stop()
        client.close()
        thread.join(5)
    assert outcome and isinstance(outcome[0], Etcd3WatchTimeout), outcome
    assert watch_streams(server) >= 3  # the stream was opened again meanwhile, each time created


def test_a_watch_timeout_spans_the_reconnections_aio():
    with HostileServer(created_then_cut) as server:
        async def main():
            async with AioClient(server.host, server.port) as client:
                watcher = client.Watcher("k")

                async def consume():
                    async for event in watcher.events(timeout=PIECE_TIMEOUT):
                        return event

                try:
                    return await asyncio.wait_for(consume(), GUARD)
                except (Etcd3WatchTimeout, asyncio.TimeoutError) as error:
                    return error
                finally:
                    await watcher.stop()

        outcome = asyncio.run(main())
    assert isinstance(outcome, Etcd3WatchTimeout), outcome
    assert watch_streams(server) >= 3
