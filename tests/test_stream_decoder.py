"""The incremental stream decoder (no server)."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcd3.core import StreamDecoder, iter_stream_items
from etcd3.errors import Etcd3StreamError, ErrCompacted, ErrInvalidAuthToken
from etcd3.utils import iter_json_string

OBJECTS = [
    {"result": {"header": {"revision": "1"}, "created": True}},
    {"result": {"events": [{"kv": {"key": "e30=", "value": "fQ=="}}], "note": "a } { \" \\ \n in a string"}},
    {"result": {"text": "ключ € 😀", "n": [1, 2, {"x": "}"}]}},
]


def bodies():
    newline = "\n".join(json.dumps(o) for o in OBJECTS).encode("utf-8")
    packed = "".join(json.dumps(o, separators=(",", ":"), ensure_ascii=False) for o in OBJECTS).encode("utf-8")
    return [newline, packed]


@pytest.mark.parametrize("body", bodies())
def test_whole_body(body):
    decoder = StreamDecoder()
    assert decoder.feed(body) + decoder.flush() == OBJECTS


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_chunking_gives_the_same_objects(data):
    body = data.draw(st.sampled_from(bodies()))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=20)))
    decoder = StreamDecoder()
    out, last = [], 0
    for cut in cuts + [len(body)]:
        out += decoder.feed(body[last:cut])
        last = cut
    assert out + decoder.flush() == OBJECTS


def test_byte_by_byte_including_multibyte_characters():
    body = bodies()[1]
    decoder = StreamDecoder()
    out = []
    for i in range(len(body)):
        out += decoder.feed(body[i:i + 1])
    assert out == OBJECTS


def test_truncated_stream_raises_on_flush():
    decoder = StreamDecoder()
    assert decoder.feed(b'{"result": {"a": "x') == []
    with pytest.raises(Etcd3StreamError, match="ended inside an object"):
        decoder.flush()


def test_garbage_raises():
    with pytest.raises(Etcd3StreamError, match="malformed"):
        StreamDecoder().feed(b'{"a": }')


@pytest.mark.parametrize("error,cls", [
    ({"grpc_code": 11, "http_code": 400, "message": "etcdserver: mvcc: required revision has been compacted",
      "http_status": "Bad Request"}, ErrCompacted),
    ({"code": 16, "message": "etcdserver: invalid auth token", "details": []}, ErrInvalidAuthToken),
])
def test_errors_inside_a_stream_raise_stream_errors(error, cls):
    body = (json.dumps(OBJECTS[0]) + "\n" + json.dumps({"error": error})).encode()
    items = iter_stream_items(iter([body]))
    assert next(items) == OBJECTS[0]["result"]
    with pytest.raises(cls) as info:
        next(items)
    assert isinstance(info.value, Etcd3StreamError)
    assert info.value.code == error.get("code", error.get("grpc_code"))


def test_seed_iter_json_string_splits_objects_ignoring_braces_in_strings():
    # 0.1.6's yields: (True, object, index of its closing brace) ... (False, rest, end of the last piece)
    text = '{"a": "}"}{"b": 1}{"c"'
    parts = list(iter_json_string(text))
    assert parts == [(True, '{"a": "}"}', 9), (True, '{"b": 1}', 17), (False, '{"c"', 17)]
    assert list(iter_json_string(text.encode())) == [(ok, piece.encode(), i) for ok, piece, i in parts]


def test_a_watch_answer_of_megabytes_in_small_chunks():
    # a watch catching up sends up to 1000 revisions in one item; the gateway writes it in
    # small chunks.  (Each chunk used to re-parse the whole unfinished item: 14 MB in
    # 16 KiB chunks took minutes.)  Escapes and braces inside strings cross chunk edges.
    events = [{"type": "PUT", "kv": {"key": "a2V5%d" % i, "value": "x" * 1000 + '\\"}{[' * (i % 3),
                                     "mod_revision": str(i)}} for i in range(3000)]
    item = {"result": {"header": {"revision": "3000"}, "events": events}}
    small = {"result": {"header": {"revision": "1"}}}
    data = (json.dumps(small) + "\n" + json.dumps(item) + "\n" + json.dumps(small) + json.dumps(item)).encode()
    decoder = StreamDecoder()
    got = []
    for offset in range(0, len(data), 4093):
        got += decoder.feed(data[offset:offset + 4093])
    got += decoder.flush()
    assert got == [small, item, small, item]


def test_a_long_item_cut_off_is_an_error_at_the_end_of_the_stream():
    decoder = StreamDecoder()
    decoder.feed(b'{"result": {"events": [' + b'{"kv": {}},' * 20000)
    with pytest.raises(Etcd3StreamError, match="ended inside an object"):
        decoder.flush()


def test_a_long_item_past_the_limit_is_refused():
    decoder = StreamDecoder(max_item=100_000)
    with pytest.raises(Etcd3StreamError, match="grew past 100000 characters"):
        for _ in range(100):
            decoder.feed(b'{"a": "' + b"x" * 4000)
