"""Fuzzing the wire parsers with hypothesis: the HTTP/1.1 response parser and the
stream decoder.  Whatever bytes come, in whatever pieces, they either parse or
raise our typed error; valid input parses to the same result however it is split.
Bounded in examples and time so the suite stays fast."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd3.core import StreamDecoder
from etcd3.errors import Etcd3ProtocolError, Etcd3StreamError
from etcd3.transport.duplex import ResponseParser

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pieces(data: bytes, cuts: list) -> list:
    """``data`` cut at the given positions (sorted, deduplicated)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points + [len(data)]:
        out.append(data[last:p])
        last = p
    return out


def feed_all(parser: ResponseParser, parts: list) -> bytes:
    body = b""
    for part in parts:
        body += b"".join(parser.feed(part))
        if parser.finished:
            break
    return body


http_heads = st.sampled_from([
    b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 404 Not Found\r\n", b"HTTP/1.0 200 OK\r\n", b"HTTP/1.1 -1 X\r\n",
    b"HTTP/1.1 abc\r\n", b"", b"<html>", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"])
header_lines = st.lists(st.sampled_from([
    b"Content-Length: 5\r\n", b"Content-Length: -1\r\n", b"Content-Length: x\r\n", b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n", b"X: y\r\n", b"bogus\r\n"]), max_size=4)


@FUZZ
@given(head=http_heads, headers=header_lines, tail=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400)))
def test_response_parser_never_fails_with_a_foreign_exception(head, headers, tail, cuts):
    data = head + b"".join(headers) + b"\r\n" + tail
    parser = ResponseParser("http://fuzz:1", max_body=1000)
    try:
        feed_all(parser, pieces(data, cuts))
        parser.eof()
    except Etcd3ProtocolError as e:
        assert e.endpoint == "http://fuzz:1"
    if parser.status is not None:
        assert 200 <= parser.status <= 599


@FUZZ
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600)))
def test_response_parser_on_arbitrary_bytes(data, cuts):
    parser = ResponseParser("http://fuzz:1", max_body=1000)
    try:
        feed_all(parser, pieces(data, cuts))
    except Etcd3ProtocolError:
        pass


@FUZZ
@given(chunks=st.lists(st.binary(min_size=1, max_size=50), max_size=10), cuts=st.lists(st.integers(0, 900)),
       extension=st.sampled_from([b"", b";name=value"]))
def test_chunked_bodies_parse_the_same_however_split(chunks, cuts, extension):
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for chunk in chunks:
        data += b"%x%s\r\n%s\r\n" % (len(chunk), extension, chunk)
    data += b"0\r\n\r\n"
    parser = ResponseParser()
    assert feed_all(parser, pieces(data, cuts)) == b"".join(chunks)
    assert parser.finished and parser.status == 200


@FUZZ
@given(body=st.binary(max_size=400), cuts=st.lists(st.integers(0, 500)))
def test_length_delimited_bodies_parse_the_same_however_split(body, cuts):
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    parser = ResponseParser()
    assert feed_all(parser, pieces(data, cuts)) == body
    assert parser.finished


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


class EarlyScanningDecoder(StreamDecoder):
    """Takes the long-item path (an item's chunks scanned for its end, not parsed
    again) from 16 characters on, so that small examples exercise it."""
    scan_past = 16


DECODERS = pytest.mark.parametrize("decoder_class", [StreamDecoder, EarlyScanningDecoder],
                                   ids=["short items", "long items"])


@DECODERS
@FUZZ
@given(items=st.lists(json_objects, max_size=6), cuts=st.lists(st.integers(0, 2000)),
       separator=st.sampled_from(["", "\n", "\r\n", " "]))
def test_stream_decoder_splits_objects_however_cut(decoder_class, items, cuts, separator):
    data = separator.join(json.dumps(item) for item in items).encode("utf-8")
    decoder = decoder_class()
    got = []
    for part in pieces(data, cuts):
        got += decoder.feed(part)
    got += decoder.flush()
    assert got == items


@DECODERS
@FUZZ
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 500)))
def test_stream_decoder_on_arbitrary_bytes_gives_objects_or_a_stream_error(decoder_class, data, cuts):
    decoder = decoder_class(max_item=1000)
    try:
        got = []
        for part in pieces(data, cuts):
            got += decoder.feed(part)
        got += decoder.flush()
    except Etcd3StreamError:
        return
    assert all(type(item) is dict for item in got)
