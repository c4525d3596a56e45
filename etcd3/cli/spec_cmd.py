"""``etcd3 spec``: the bundled etcd API specs side by side, no server needed.

``etcd3 spec [list]`` lists the bundled spec versions; ``etcd3 spec show 3.5`` lists
the RPCs of one version and ``etcd3 spec show 3.5 Range`` (or ``range``, the client's
method name) prints an RPC's request and response fields with their types;
``etcd3 spec diff 3.4 3.5`` lists the RPCs and fields added or removed between two
versions.  ``spec_diff(a, b)`` returns that difference as data (for the docs).
"""
from __future__ import annotations

import argparse
import difflib
import json
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

from ..spec import Operation, SpecBundle, bundled_versions, load_bundle, parse_version

__all__ = ["main", "spec_diff", "field_types", "resolve_version", "find_rpc", "SpecCommandError"]

# how deep nested messages are followed (TxnRequest -> RequestOp -> TxnRequest ... is cut
# by the cycle guard; this bounds the rest)
MAX_DEPTH = 6


class SpecCommandError(Exception):
    """Bad input to ``etcd3 spec`` (an unknown version or RPC): exit status 2."""


def resolve_version(text: str) -> str:
    """A bundled spec version from ``'3.5'``, ``'v3.5'`` or a release such as ``'3.5.16'``."""
    available = bundled_versions()
    try:
        major, minor, _ = parse_version(text)
    except ValueError:
        raise SpecCommandError("not a version: %r (bundled spec versions: %s)"
                               % (text, ", ".join(available))) from None
    version = "%d.%d" % (major, minor)
    if version not in available:
        raise SpecCommandError("no bundled spec for etcd %s (bundled spec versions: %s)"
                               % (text, ", ".join(available)))
    return version


def find_rpc(bundle: SpecBundle, name: str) -> Operation:
    """The operation of ``bundle`` named by its RPC (``Range``, ``LeaseGrant``) or by
    the client's method (``range``, ``lease_grant``), in any case."""
    wanted = name.strip().rsplit(".", 1)[-1]  # "KV.Range" -> "Range"
    for op in bundle.operations.values():
        if wanted == op.name or wanted.lower() in (op.rpc.lower(), op.name.replace("_", "")):
            return op
    others = [v for v in bundled_versions() if v != bundle.version
              and any(wanted.lower() in (op.rpc.lower(), op.name) for op in load_bundle(v).operations.values())]
    if others:
        raise SpecCommandError("%s is not an RPC of spec %s (it is in spec %s)"
                               % (name, bundle.version, ", ".join(others)))
    names = sorted({op.rpc for op in bundle.operations.values()} | set(bundle.operations))
    close = difflib.get_close_matches(wanted, names, n=3)
    raise SpecCommandError("unknown RPC %r in spec %s%s; `etcd3 spec show %s` lists them"
                           % (name, bundle.version, " (did you mean %s?)" % ", ".join(close) if close else "",
                              bundle.version))


# -- the fields of a message, as data -------------------------------------------------------

def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _schema_type(document: Any, schema: Dict[str, Any]) -> str:
    """A field's type as the spec says it: ``int64``, ``bytes``, ``string``, ``bool``,
    ``[]mvccpbKeyValue``, an enum as ``RangeRequestSortOrder{NONE,ASCEND,DESCEND}``."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        target = document.spec.get("definitions", {}).get(name, {})
        if "enum" in target:
            return "%s{%s}" % (name, ",".join(target["enum"]))
        return name
    typ, fmt = schema.get("type", "object"), schema.get("format")
    if typ == "array":
        return "[]" + _schema_type(document, schema.get("items", {}))
    if typ == "string" and fmt == "byte":
        return "bytes"
    if typ == "boolean":
        return "bool"
    if fmt and fmt != "boolean":
        return fmt  # int64, uint64, int32, double, ...
    return typ


def _message_of(document: Any, schema: Dict[str, Any]) -> Optional[Tuple[str, Dict[str, Any]]]:
    """(definition name, definition) when a field holds a message (or a list of them)."""
    if schema.get("type") == "array":
        schema = schema.get("items", {})
    if "$ref" not in schema:
        return None
    name = _ref_name(schema["$ref"])
    target = document.spec.get("definitions", {}).get(name, {})
    if "properties" not in target:
        return None  # an enum, or an empty message
    return name, target


def _walk(document: Any, definition: Dict[str, Any], prefix: str, seen: Tuple[str, ...],
          depth: int) -> Iterator[Tuple[str, str, int, Dict[str, Any]]]:
    """(dotted path, type, depth, schema) of every field, nested messages followed."""
    for field, schema in definition.get("properties", {}).items():
        path = prefix + field
        yield path, _schema_type(document, schema), depth, schema
        nested = _message_of(document, schema)
        if nested is not None and nested[0] not in seen and depth + 1 < MAX_DEPTH:
            yield from _walk(document, nested[1], path + ".", seen + (nested[0],), depth + 1)


def _definition(node: Any) -> Dict[str, Any]:
    return node._node if node is not None else {}


def field_types(op: Operation) -> Dict[str, Dict[str, str]]:
    """``{"request": {dotted field: type}, "response": {...}}`` of one operation,
    nested messages followed (``header.revision``, ``kvs.key``)."""
    result = {}
    for side, node in (("request", op.request), ("response", op.response)):
        result[side] = {path: typ for path, typ, _, _ in _walk(op.document, _definition(node), "", (), 0)}
    return result


def _path_suffix(op: Operation) -> str:
    return op.path[len(op.bundle.prefix):]


def spec_diff(a: str, b: str) -> Dict[str, Any]:
    """What changed in the API from spec version ``a`` to ``b`` (``'3.4'``, ``'3.5'``).

    Returns ``{"from": "3.4", "to": "3.5", "from_etcd": "3.4.23", "to_etcd": "3.5.16",
    "prefix": ["/v3", "/v3"], "rpcs_added": {method: RPC}, "rpcs_removed": {method: RPC},
    "changed": {method: {"request": {"added": {field: type}, "removed": {...},
    "retyped": {field: [old, new]}}, "response": {...}, "path": [old, new]}}}``; a method
    appears under ``changed`` only with what changed.  Fields are dotted paths through
    nested messages (``members.isLearner``).  Raises ``SpecCommandError`` for a version
    that is not bundled."""
    old, new = load_bundle(resolve_version(a)), load_bundle(resolve_version(b))
    old_ops, new_ops = old.operations, new.operations
    changed: Dict[str, Dict[str, Any]] = {}
    for name in sorted(set(old_ops) & set(new_ops)):
        before, after = field_types(old_ops[name]), field_types(new_ops[name])
        entry: Dict[str, Any] = {}
        for side in ("request", "response"):
            x, y = before[side], after[side]
            sides = {"added": {f: y[f] for f in y if f not in x},
                     "removed": {f: x[f] for f in x if f not in y},
                     "retyped": {f: [x[f], y[f]] for f in x if f in y and x[f] != y[f]}}
            sides = {k: v for k, v in sides.items() if v}
            if sides:
                entry[side] = sides
        if _path_suffix(old_ops[name]) != _path_suffix(new_ops[name]):
            entry["path"] = [old_ops[name].path, new_ops[name].path]
        if entry:
            changed[name] = entry
    return {
        "from": old.version, "to": new.version, "from_etcd": old.etcd_version, "to_etcd": new.etcd_version,
        "prefix": [old.prefix, new.prefix],
        "rpcs_added": {n: new_ops[n].rpc for n in sorted(set(new_ops) - set(old_ops))},
        "rpcs_removed": {n: old_ops[n].rpc for n in sorted(set(old_ops) - set(new_ops))},
        "changed": changed,
    }


# -- the commands --------------------------------------------------------------------------

def _cmd_list(out: TextIO) -> None:
    rows = [("SPEC", "ETCD", "PREFIX", "RPCS")]
    for version in bundled_versions():
        bundle = load_bundle(version)
        rows.append((version, bundle.etcd_version, bundle.prefix, str(len(bundle.operations))))
    _table(rows, out)


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")


def _cmd_rpcs(bundle: SpecBundle, out: TextIO) -> None:
    out.write("spec %s (etcd %s, gateway prefix %s): %d RPCs\n"
              % (bundle.version, bundle.etcd_version, bundle.prefix, len(bundle.operations)))
    rows = [("METHOD", "RPC", "PATH", "")]
    for op in bundle.operations.values():
        notes = []
        if op.streaming:
            notes.append("stream")
        if op.min_version:
            notes.append("served from etcd %s" % op.min_version)
        rows.append((op.name, op.rpc, op.path, ", ".join(notes)))
    _table(rows, out)


def _cmd_show(bundle: SpecBundle, op: Operation, depth: int, out: TextIO) -> None:
    out.write("%s (client.%s) in spec %s (etcd %s)\n" % (op.rpc, op.name, bundle.version, bundle.etcd_version))
    out.write("%s %s%s\n" % (op.http_method, op.path, "  (streaming response)" if op.streaming else ""))
    if op.min_version:
        out.write("served by etcd %s and newer\n" % op.min_version)
    summary = " ".join((op.operation._node.get("summary") or "").split())
    if summary:
        out.write(summary + "\n")
    for side, node in (("request", op.request), ("response", op.response)):
        definition = _definition(node)
        model = node.getModel().__name__ if node is not None else "(none)"
        out.write("\n%s: %s\n" % (side.capitalize(), model))
        fields = [(p, t, d) for p, t, d, _ in _walk(op.document, definition, "", (), 0) if d < depth]
        if not fields:
            out.write("  (no fields)\n")
            continue
        width = max(2 * d + len(p.rsplit(".", 1)[-1]) for p, _, d in fields)
        for path, typ, level in fields:
            name = "  " * level + path.rsplit(".", 1)[-1]
            out.write("  %s  %s\n" % (name.ljust(width), typ))


def _fields_text(items: Dict[str, Any]) -> str:
    return ", ".join("%s %s" % (f, t) for f, t in items.items())


def _cmd_diff(diff: Dict[str, Any], out: TextIO) -> None:
    out.write("spec %s (etcd %s) -> spec %s (etcd %s)\n"
              % (diff["from"], diff["from_etcd"], diff["to"], diff["to_etcd"]))
    if diff["prefix"][0] != diff["prefix"][1]:
        out.write("gateway prefix: %s -> %s\n" % tuple(diff["prefix"]))
    for method, rpc in diff["rpcs_added"].items():
        out.write("+ %s (%s)\n" % (method, rpc))
    for method, rpc in diff["rpcs_removed"].items():
        out.write("- %s (%s)\n" % (method, rpc))
    for method, entry in diff["changed"].items():
        out.write("~ %s\n" % method)
        if "path" in entry:
            out.write("    path: %s -> %s\n" % tuple(entry["path"]))
        for side in ("request", "response"):
            parts = entry.get(side, {})
            for field, typ in parts.get("added", {}).items():
                out.write("    %s + %s %s\n" % (side, field, typ))
            for field, typ in parts.get("removed", {}).items():
                out.write("    %s - %s %s\n" % (side, field, typ))
            for field, (was, now) in parts.get("retyped", {}).items():
                out.write("    %s ~ %s %s -> %s\n" % (side, field, was, now))
    if not (diff["rpcs_added"] or diff["rpcs_removed"] or diff["changed"]):
        out.write("no RPC or field differs\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etcd3 spec", description="The bundled etcd API specs (no server needed).")
    sub = parser.add_subparsers(dest="command", metavar="{list,show,diff}")
    sub.add_parser("list", help="list the bundled spec versions")
    show = sub.add_parser("show", help="the RPCs of a version, or one RPC's request and response fields")
    show.add_argument("version", help="a spec version such as 3.5 (or a release: 3.5.16)")
    show.add_argument("rpc", nargs="?", help="an RPC (Range) or the client's method name (range)")
    show.add_argument("--depth", type=int, default=2,
                      help="levels of nested message fields to print (default 2; 1: top-level only)")
    show.add_argument("--json", action="store_true", help="print the fields and types as JSON")
    diff = sub.add_parser("diff", help="RPCs and fields added or removed between two versions")
    diff.add_argument("old", help="the older spec version, e.g. 3.4")
    diff.add_argument("new", help="the newer spec version, e.g. 3.5")
    diff.add_argument("--json", action="store_true", help="print the difference as JSON")
    return parser


def main(argv: Optional[List[str]] = None, out: Optional[TextIO] = None) -> int:
    """``etcd3 spec ARGS``: 0 when done, 2 for bad input (usage, an unknown version or RPC)."""
    out = out if out is not None else sys.stdout
    parser = _parser()
    try:
        ns = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:  # argparse printed the usage
        return int(e.code or 0)
    try:
        if ns.command in (None, "list"):
            _cmd_list(out)
        elif ns.command == "show":
            bundle = load_bundle(resolve_version(ns.version))
            if ns.rpc is None:
                if ns.json:
                    out.write(json.dumps({op.name: {"rpc": op.rpc, "method": op.http_method, "path": op.path,
                                                    "streaming": op.streaming}
                                          for op in bundle.operations.values()}, indent=2) + "\n")
                else:
                    _cmd_rpcs(bundle, out)
            else:
                op = find_rpc(bundle, ns.rpc)
                if ns.json:
                    out.write(json.dumps(dict(rpc=op.rpc, method=op.name, http_method=op.http_method,
                                              path=op.path, streaming=op.streaming, **field_types(op)),
                                         indent=2) + "\n")
                else:
                    if ns.depth < 1:
                        raise SpecCommandError("--depth must be 1 or more, got %d" % ns.depth)
                    _cmd_show(bundle, op, ns.depth, out)
        elif ns.command == "diff":
            diff = spec_diff(ns.old, ns.new)
            if ns.json:
                out.write(json.dumps(diff, indent=2) + "\n")
            else:
                _cmd_diff(diff, out)
    except SpecCommandError as e:
        sys.stderr.write("etcd3 spec: %s\n" % e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
