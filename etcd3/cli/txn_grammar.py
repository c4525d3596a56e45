"""``etcd3 txn``: etcdctl's transaction grammar from stdin.

Three sections, each ended by a blank line: compares (``value("k") = "v"``, ``mod("k") > "3"``,
``ver``/``version``, ``c``/``create``, ``m``/``mod``, ``val``/``value``, ``lease``; operators
``= != < >``), then the success requests, then the failure requests (``get``/``put``/``del``
with their flags).  ``-i`` prints a prompt before each section.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Iterator, List

from .main import EXIT_INVALID_INPUT, CliError

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')
_COMPARE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|`[^`]*`)\)\s+(\S+)\s+("(?:[^"\\]|\\.)*"|`[^`]*`)')
_OPERATORS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", ">": "__gt__"}
_TARGETS = {"ver": "version", "version": "version", "c": "create", "create": "create", "m": "mod",
            "mod": "mod", "val": "value", "value": "value", "lease": "lease"}


def go_unquote(token: str) -> str:
    """strconv.Unquote of a "..." or `...` token."""
    if token.startswith("`"):
        return token[1:-1]
    body = token[1:-1]
    raw = body.encode("utf-8", "surrogateescape").decode("unicode_escape").encode("latin-1")
    return raw.decode("utf-8", "surrogateescape")


def argify(line: str) -> List[str]:
    return [go_unquote(t) if t.startswith('"') and len(t) > 1 else t for t in _TOKEN.findall(line)]


def read_section_lines(stream: Any) -> Iterator[str]:
    """The lines of one section, each parsed before the next is read (as etcdctl does)."""
    while True:
        line = stream.readline()
        if not line.endswith("\n"):
            raise CliError(EXIT_INVALID_INPUT, "EOF")
        line = line.strip()
        if not line:
            return
        yield line


def parse_compare(txn: Any, line: str) -> Any:
    target_name, paren, rest = line.partition("(")
    if not paren:
        raise CliError(EXIT_INVALID_INPUT, "malformed comparison: %s" % line)
    m = _COMPARE.match(rest)
    if m is None:
        raise CliError(EXIT_INVALID_INPUT, "malformed comparison: %s" % line)
    key, operator, value = go_unquote(m.group(1)), m.group(2), go_unquote(m.group(3))
    target = _TARGETS.get(target_name)
    if target is None:
        raise CliError(EXIT_INVALID_INPUT, "malformed comparison: %s (unknown target %s)" % (line, target_name))
    if operator not in _OPERATORS:
        raise CliError(EXIT_INVALID_INPUT, "malformed comparison: %s (unknown operator %s)" % (line, operator))
    operand: Any
    try:
        if target == "value":
            operand = value.encode("utf-8", "surrogateescape")
        elif target == "lease":
            operand = int(value, 16)
        else:
            operand = int(value, 10)
    except ValueError:
        raise CliError(EXIT_INVALID_INPUT, "invalid txn compare request: %s" % line) from None
    compare_target = getattr(txn.key(key.encode("utf-8", "surrogateescape")), target)
    return getattr(compare_target, _OPERATORS[operator])(operand)


def op_parser() -> argparse.ArgumentParser:
    from . import kv
    from .main import Parser

    class OpParser(Parser):
        def error(self, message: str) -> Any:  # type: ignore[override]
            raise ValueError(message)

    parser = OpParser(prog="txn", add_help=False)
    subparsers = parser.add_subparsers(dest="verb", parser_class=OpParser)
    for name in ("get", "put", "del"):
        sub = subparsers.add_parser(name, add_help=False)
        sub.add_argument("-w", "--write-out", dest="write_out", default="simple")
        getattr(kv, "register_" + name)(sub)
    return parser


def parse_op(txn: Any, parser: argparse.ArgumentParser, line: str) -> Any:
    from . import kv

    args = argify(line)
    if len(args) < 2:
        raise CliError(EXIT_INVALID_INPUT, "invalid txn compare request: %s" % line)
    try:
        ns = parser.parse_args(args)
    except ValueError:
        raise CliError(EXIT_INVALID_INPUT, "invalid txn request: %s" % line) from None
    if ns.verb == "get":
        return txn.range(**kv.range_kwargs(None, kv.get_request(ns)))
    if ns.verb == "put":
        kv.check_put(ns)
        return txn.put(kv.to_bytes(ns.args[0]), None if ns.ignore_value else ns.value, lease=ns.lease_id,
                       prev_kv=ns.prev_kv, ignore_value=ns.ignore_value, ignore_lease=ns.ignore_lease)
    return txn.delete(**kv.del_request(ns))


def run_txn(ns: argparse.Namespace, client: Any) -> int:
    txn = client.Txn()
    stdin = sys.stdin

    def prompt(text: str) -> None:
        if ns.interactive:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    prompt("compares:")
    for line in read_section_lines(stdin):
        txn.compare(parse_compare(txn, line))
    parser = op_parser()
    prompt("success requests (get, put, del):")
    for line in read_section_lines(stdin):
        txn.success(parse_op(txn, parser, line))
    prompt("failure requests (get, put, del):")
    for line in read_section_lines(stdin):
        txn.failure(parse_op(txn, parser, line))
    resp = txn.commit()
    ns.printer.txn(resp)
    return 0

