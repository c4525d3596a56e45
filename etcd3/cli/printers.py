"""Output writers of ``etcd3``, as etcdctl v3.5 writes: ``-w simple|json|fields|table``, ``--hex``.

``json`` is Go's ``encoding/json`` of etcd's response structs: the fields the server sent, in
proto order, zero values left out, int64 as numbers, bytes in base64, enums as their numbers.
"""
from __future__ import annotations

import base64
import enum
import json
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

FORMATS = ("simple", "json", "fields", "table", "protobuf")


class OutputError(Exception):
    """A format the verb cannot write (etcdctl: exit code 4)."""


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


# -- Go's formatting ---------------------------------------------------------------------------
_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json_dumps(value: Any) -> str:
    """``json.Marshal``'s text: compact, non-ASCII kept, ``<>&`` escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if any(c in text for c in _GO_JSON_ESCAPES):
        text = "".join(_GO_JSON_ESCAPES.get(c, c) for c in text)
    return text


def go_value(value: Any) -> Any:
    """A decoded model (or value) as Go's json.Marshal of the gogoproto struct would see it."""
    if isinstance(value, _message_class()):
        fields: Dict[str, Any] = {}
        for name, item in value.__dict__.items():
            kind = item.__class__
            # the common fields first (a range's 10,000 kvs): their zero values are left out
            if kind is int or kind is str or kind is float:
                if item:
                    fields[name] = item
                continue
            if kind is bytes:
                if item:
                    fields[name] = base64.b64encode(item).decode("ascii")
                continue
            if item is None or item is False or item == 0 and not isinstance(item, enum.Enum) or item == [] \
                    or item == "" or item == b"":
                continue
            converted = go_value(item)
            if converted == 0 and isinstance(item, enum.Enum):
                continue  # an enum's first member is its zero value
            fields[name] = converted
        return fields
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return list(type(value)).index(value)
    if isinstance(value, (list, tuple)):
        return [go_value(v) for v in value]
    return value


_message: Any = None


def _message_class() -> Any:
    """``etcd3.models.EtcdMessage``, imported once (not per value: a from-import of it asks
    the models module for ``__path__`` each time, through its ``__getattr__``)."""
    global _message
    if _message is None:
        from etcd3.models import EtcdMessage

        _message = EtcdMessage
    return _message


# strconv.Quote's escapes of its own (other control characters are \xNN)
_GO_QUOTE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                     "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(data: Any) -> str:
    """Go's ``%q`` of a string (or bytes): escapes as strconv.Quote does."""
    if isinstance(data, (bytes, bytearray)):
        raw = bytes(data)
    else:
        raw = str(data).encode("utf-8", "surrogateescape")
    parts = ['"']
    text = raw.decode("utf-8", "surrogateescape")
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            parts.append("\\x%02x" % (code - 0xDC00))
        elif ch in _GO_QUOTE_ESCAPES:
            parts.append(_GO_QUOTE_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            parts.append("\\x%02x" % code)
        elif ch.isprintable() or ch == " ":
            parts.append(ch)
        elif code < 0x10000:
            parts.append("\\u%04x" % code)
        else:
            parts.append("\\U%08x" % code)
    parts.append('"')
    return "".join(parts)


def hex_prefixed(data: Optional[bytes]) -> str:
    """etcdctl's ``--hex``: every byte as ``\\xNN``."""
    return "".join("\\x%02x" % b for b in (data or b""))


def text_of(data: Optional[bytes]) -> str:
    return (data or b"").decode("utf-8", "surrogateescape")


def write_bytes_line(data: Optional[bytes], hex_mode: bool) -> None:
    if hex_mode:
        out(hex_prefixed(data))
        return
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write((data or b"") + b"\n")
        buffer.flush()
    else:
        out(text_of(data))


def write_bytes(data: bytes) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(data)
        buffer.flush()
    else:
        sys.stdout.write(data.decode("utf-8", "surrogateescape"))


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """etcdctl's table (olekukonko/tablewriter): +---+ borders, centred upper-case header,
    cells aligned right (etcdctl sets ``SetAlignment(ALIGN_RIGHT)``)."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out(line)
    out("|" + "|".join(" %s " % _center_go(h.upper(), w) for h, w in zip(header, widths)) + "|")
    out(line)
    for row in rows:
        out("|" + "|".join(" %s " % c.rjust(w) for c, w in zip(row, widths)) + "|")
    out(line)


def _center_go(text: str, width: int) -> str:
    # tablewriter pads the left with the floor of the gap, as str.center does not always
    gap = width - len(text)
    left = gap // 2
    return " " * left + text + " " * (gap - left)


class Printer:
    """Writes responses of the verbs in one format."""

    def __init__(self, fmt: str, hex_mode: bool) -> None:
        if fmt not in FORMATS:
            raise OutputError("unknown output format %r (simple, json, fields, table)" % fmt)
        if fmt == "protobuf":
            raise OutputError("protobuf is not supported as output format by etcd3 (use json)")
        self.fmt = fmt
        self.hex = hex_mode

    # generic
    def json(self, resp: Any) -> None:
        out(go_json_dumps(go_value(resp)))

    def unsupported(self) -> None:
        raise OutputError("%s not supported as output format" % self.fmt)

    # -- fields ----------------------------------------------------------------------------------
    def fields_header(self, h: Any) -> None:
        if h is None:
            from etcd3.models import EtcdMessage

            h = EtcdMessage()
        cluster_id, member_id = getattr(h, "cluster_id", 0) or 0, getattr(h, "member_id", 0) or 0
        # etcdctl 3.5.1's fields printer is made without --hex: decimal always
        out('"ClusterID" : %d' % cluster_id)
        out('"MemberID" : %d' % member_id)
        out('"Revision" : %d' % (getattr(h, "revision", 0) or 0))  # 3.5.1: 0 too (member list)
        out('"RaftTerm" : %d' % (getattr(h, "raft_term", 0) or 0))

    def fields_kv(self, prefix: str, kv: Any) -> None:
        out('"%sKey" : %s' % (prefix, go_quote(kv.key or b"")))
        out('"%sCreateRevision" : %d' % (prefix, kv.create_revision))
        out('"%sModRevision" : %d' % (prefix, kv.mod_revision))
        out('"%sVersion" : %d' % (prefix, kv.version))
        out('"%sValue" : %s' % (prefix, go_quote(kv.value or b"")))
        out('"%sLease" : %d' % (prefix, kv.lease))

    # -- kv ----------------------------------------------------------------------------------------
    def kv_simple(self, kv: Any, value_only: bool = False) -> None:
        if not value_only:
            write_bytes_line(kv.key, self.hex)
        write_bytes_line(kv.value, self.hex)

    def get(self, resp: Any, value_only: bool = False) -> None:
        if self.fmt == "simple":
            # one write for the whole answer (10,000 keys: no flush per line)
            if self.hex:
                lines = [(hex_prefixed(kv.key) + "\n").encode("ascii") + (hex_prefixed(kv.value) + "\n").encode(
                    "ascii") if not value_only else (hex_prefixed(kv.value) + "\n").encode("ascii")
                    for kv in resp.kvs or ()]
            elif value_only:
                lines = [(kv.value or b"") + b"\n" for kv in resp.kvs or ()]
            else:
                lines = [(kv.key or b"") + b"\n" + (kv.value or b"") + b"\n" for kv in resp.kvs or ()]
            write_bytes(b"".join(lines))
        elif self.fmt == "json":
            self.json(resp)
        elif self.fmt == "fields":
            self.fields_header(resp.header)
            for kv in resp.kvs or ():
                self.fields_kv("", kv)
            out('"More" : %s' % ("true" if resp.more else "false"))
            out('"Count" : %d' % resp.count)
        else:
            self.unsupported()

    def put(self, resp: Any) -> None:
        if self.fmt == "simple":
            out("OK")
            if resp.prev_kv is not None:
                self.kv_simple(resp.prev_kv)
        elif self.fmt == "json":
            self.json(resp)
        elif self.fmt == "fields":
            self.fields_header(resp.header)
            if resp.prev_kv is not None:
                self.fields_kv("Prev", resp.prev_kv)
        else:
            self.unsupported()

    def delete(self, resp: Any) -> None:
        if self.fmt == "simple":
            out("%d" % resp.deleted)
            for kv in resp.prev_kvs or ():
                self.kv_simple(kv)
        elif self.fmt == "json":
            self.json(resp)
        elif self.fmt == "fields":
            self.fields_header(resp.header)
            out('"Deleted" : %d' % resp.deleted)
            for kv in resp.prev_kvs or ():
                self.fields_kv("Prev", kv)
        else:
            self.unsupported()

    def txn(self, resp: Any) -> None:
        if self.fmt == "json":
            fields = go_value(resp)
            if "responses" in fields:
                fields["responses"] = [{"Response": r} for r in fields["responses"]]
            out(go_json_dumps(fields))
            return
        if self.fmt == "simple":
            out("SUCCESS" if resp.succeeded else "FAILURE")
        elif self.fmt == "fields":
            self.fields_header(resp.header)
            out('"Succeeded" : %s' % ("true" if resp.succeeded else "false"))
        else:
            self.unsupported()
        for op in resp.responses or ():
            if self.fmt == "simple":
                out("")
            if op.response_range is not None:
                self.get(op.response_range)
            elif op.response_put is not None:
                self.put(op.response_put)
            elif op.response_delete_range is not None:
                self.delete(op.response_delete_range)
            elif self.fmt == "simple":
                out("unexpected response %r" % (op,))


def printer_for(ns: Any) -> Printer:
    return Printer(ns.write_out, ns.hex)


def call_each(functions: List[Callable[[], None]]) -> None:
    for function in functions:
        function()
