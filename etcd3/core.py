"""The I/O-free core shared by the sync and async clients.

The core and a transport meet only at plain data: a ``Request`` is (method,
url, headers, body bytes); a ``Response`` is (status, headers, body bytes).
Everything between (encoding, decoding, error mapping, stream splitting) lives
here or in the spec layer, never in a transport.
"""
from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

from .errors import Etcd3ProtocolError, Etcd3StreamError, error_from_response

__all__ = ["Request", "Response", "StreamDecoder"]


@dataclass
class Request:
    method: str
    url: str
    headers: Dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    stream: bool = False
    # seconds; None: the client's default; for streams it only bounds connecting
    timeout: Optional[float] = None
    # whether the request may be sent again after it may have reached the server
    idempotent: bool = False
    # the caller wants the transport's own response object (``call_rpc(raw=True)``)
    raw: bool = False
    # sent to the member of ``url`` only, never moved to another (endpoint_status)
    pinned: bool = False


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes = b""
    # the transport's own response object (for ``raw=True`` and open streams)
    raw: Any = None
    # who answered, for error messages
    endpoint: str = ""

    def json(self) -> Dict[str, Any]:
        """The body as the JSON object every gateway answer is; anything else (HTML
        from a proxy, a JSON array, invalid UTF-8, a cut body) is an Etcd3ProtocolError."""
        if not self.body:
            return {}
        try:
            # the gateway answers UTF-8 JSON: no encoding detection, no keyword checks
            data = _json_decode(self.body.decode("utf-8"))
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError both are
            raise Etcd3ProtocolError("the answer is not JSON (%s)" % e, self.endpoint, e, seen=self.body) from None
        except RecursionError as e:  # no etcd message nests deeper than the parser's stack
            raise Etcd3ProtocolError("the answer nests too deeply to parse", self.endpoint, e,
                                     seen=self.body) from None
        if type(data) is not dict:
            raise Etcd3ProtocolError("the answer is a JSON %s, not an object" % type(data).__name__,
                                     self.endpoint, seen=self.body)
        return data


_json_decode = json.JSONDecoder().decode

# One stream item is one gRPC message, bounded as a unary answer is (2 GiB of protobuf,
# ~2.7 GiB of gateway JSON: see transport.duplex.DEFAULT_MAX_RESPONSE_SIZE); a watch that
# catches up sends up to 1000 revisions in one item.  Past this, an item that does not
# end is a broken or hostile server, not data to buffer.
MAX_STREAM_ITEM = 3 * 1024 ** 3
# An unfinished item longer than this is scanned incrementally for its end instead of being
# parsed again with every chunk (which is quadratic: 14 MB in 16 KiB chunks took minutes).
_SCAN_PAST = 64 * 1024
_STRUCTURE = re.compile(r'[{}\[\]"]')
_STRING_STOP = re.compile(r'["\\]')


class StreamDecoder:
    """Split a gateway stream body into its JSON objects, incrementally.

    ``feed(bytes)`` returns the objects completed by the bytes, ``flush()`` checks
    that nothing is left half-way.  Works with newline-delimited and with
    undelimited concatenated objects, braces and newlines inside strings, and
    chunk boundaries anywhere (including inside a multi-byte UTF-8 character).
    Linear in the stream's size, also for items of many megabytes.
    """

    __slots__ = ("_utf8", "_buffer", "_decoder", "max_item", "_pieces", "_piece_chars", "_scan")
    scan_past = _SCAN_PAST

    def __init__(self, max_item: int = MAX_STREAM_ITEM) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""
        self._decoder = json.JSONDecoder()
        self.max_item = max_item  # characters one unfinished item may hold before it is refused
        # a long unfinished item: its text so far, and where its scan is (depth, in a string,
        # the next piece's first character escaped)
        self._pieces: Optional[List[str]] = None
        self._piece_chars = 0
        self._scan = (0, False, False)

    def feed(self, data: bytes) -> List[Any]:
        try:
            text = self._utf8.decode(data)
        except UnicodeDecodeError as e:
            raise Etcd3StreamError("stream data is not UTF-8 (%s) near %r" % (e.reason, data[:60])) from None
        items: List[Any] = []
        while True:
            if self._pieces is not None:
                end = self._scan_long_item(text)
                if end is None:
                    self._pieces.append(text)
                    self._piece_chars += len(text)
                    if self._piece_chars > self.max_item:
                        self._refuse_unending(self._pieces[0])
                    return items
                whole = "".join(self._pieces) + text[:end]
                self._pieces = None
                items.extend(self._split_text(whole, final=True)[0])
                text = text[end:]
            self._buffer += text
            if "}" in text:  # else no object can have ended in this chunk: the tail is not re-parsed
                found, rest = self._split_text(self._buffer)
                items.extend(found)
                self._buffer = self._buffer[rest:]
            if len(self._buffer) > self.max_item:
                self._refuse_unending(self._buffer)
            if len(self._buffer) <= self.scan_past:
                return items
            # a long unfinished item (it starts with "{", or _split_text would have refused it):
            # from here on each chunk is scanned once for the item's end, not parsed again
            text, self._buffer = self._buffer, ""
            self._pieces, self._piece_chars, self._scan = [], 0, (0, False, False)

    def _refuse_unending(self, head: str) -> None:
        raise Etcd3StreamError("a stream item grew past %d characters without ending: %r"
                               % (self.max_item, head[:60]))

    def _scan_long_item(self, text: str) -> Optional[int]:
        """Where in ``text`` the long item ends (just past its closing brace), or None
        when it goes on; the scan state carries over from the item's earlier pieces."""
        depth, in_string, skip = self._scan
        pos, end = 0, len(text)
        if skip and end:
            pos, skip = 1, False
        while pos < end:
            if in_string:
                stop = _STRING_STOP.search(text, pos)
                if stop is None:
                    break
                if stop.group() == "\\":
                    pos = stop.end() + 1
                    skip = pos > end  # the escaped character comes with the next piece
                else:
                    pos, in_string = stop.end(), False
                continue
            mark = _STRUCTURE.search(text, pos)
            if mark is None:
                break
            pos = mark.end()
            char = mark.group()
            if char == '"':
                in_string = True
            elif char in "{[":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return pos
        self._scan = (depth, in_string, skip)
        return None

    def _split_text(self, buffer: str, final: bool = False) -> Tuple[List[Any], int]:
        """The objects ``buffer`` holds, and where its unfinished rest begins (``final``:
        ``buffer`` ends with an object: nothing may be unfinished)."""
        items = []
        pos, end = 0, len(buffer)
        raw_decode = self._decoder.raw_decode
        while True:
            while pos < end and buffer[pos] in " \t\r\n":
                pos += 1
            if pos >= end:
                break
            try:
                obj, pos_after = raw_decode(buffer, pos)
            except json.JSONDecodeError as e:
                if not final and (e.pos >= end or _incomplete(buffer, pos)):
                    break  # the object goes on in the next chunk
                raise Etcd3StreamError("malformed stream data at %r: %s" % (buffer[pos:pos + 60], e.msg)) from None
            if type(obj) is not dict:
                raise Etcd3StreamError("stream item is a JSON %s, not an object: %r"
                                       % (type(obj).__name__, buffer[pos:pos + 60]))
            items.append(obj)
            pos = pos_after
        return items, pos

    def flush(self) -> List[Any]:
        """End of stream: what is left must be whitespace."""
        try:
            self._buffer += self._utf8.decode(b"", final=True)
        except UnicodeDecodeError as e:
            raise Etcd3StreamError("stream data ended inside a UTF-8 character (%s)" % e.reason) from None
        if self._pieces is not None:
            head, self._pieces = self._pieces[0] if self._pieces else "", None
            raise Etcd3StreamError("stream ended inside an object: %r" % head[:80])
        items, rest = self._split_text(self._buffer)
        left, self._buffer = self._buffer[rest:], ""
        if left.strip():
            raise Etcd3StreamError("stream ended inside an object: %r" % left[:80])
        return items


def _incomplete(buffer: str, pos: int) -> bool:
    """Whether ``buffer[pos:]`` could still become valid JSON with more data:
    a JSONDecodeError past its end means truncated, but raw_decode may also stop
    earlier on a truncated literal (``tr``), so check by trying with a closing."""
    tail = buffer[pos:]
    if not tail.startswith("{"):
        return False
    # a truncated object: a valid prefix of JSON ends without closing its braces
    depth, in_string, escaped = 0, False, False
    for ch in tail:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return False  # it closed, and still did not parse: malformed
    return True


def unwrap_stream_item(item: Any) -> Any:
    """The ``result`` of a stream item; an ``error`` item raises."""
    if isinstance(item, dict):
        if "result" in item:
            return item["result"]
        if "error" in item:
            raise error_from_response(None, item, stream=True)
    return item


def iter_stream_items(chunks: Iterator[bytes]) -> Iterator[Any]:
    """Every stream item of an iterable of body chunks, unwrapped."""
    decoder = StreamDecoder()
    for chunk in chunks:
        for item in decoder.feed(chunk):
            yield unwrap_stream_item(item)
    for item in decoder.flush():
        yield unwrap_stream_item(item)
