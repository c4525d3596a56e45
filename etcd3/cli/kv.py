"""get, put, del, txn, compaction: etcdctl's key-value verbs."""
from __future__ import annotations

import argparse
import sys
from typing import Any, List, Optional, Tuple

from .connection import add_bool_flag
from .main import EXIT_BAD_FEATURE, CliError, bad_args


def register(name: str, sub: argparse.ArgumentParser) -> None:
    globals()["register_" + name](sub)


def flag(sub: argparse.ArgumentParser, name: str, help_text: str) -> None:
    add_bool_flag(sub, name, name.lstrip("-").replace("-", "_"), False, help_text)


def verb(sub: argparse.ArgumentParser, metavar: str, bool_flags: Any, **defaults: Any) -> None:
    """A verb's positional arguments, its boolean flags ((flag, help), ...) and its defaults
    (``func``, ``check``)."""
    sub.add_argument("args", nargs="*", metavar=metavar)
    for name, help_text in bool_flags:
        flag(sub, name, help_text)
    sub.set_defaults(**defaults)


def int_argument(ns: argparse.Namespace, usage: str, bad: str) -> int:
    """The one decimal argument of a verb (``usage``: the error without it; ``bad``: the error of
    a bad one, with the text for ``%s``), as etcdctl's strconv.ParseInt."""
    if len(ns.args) != 1:
        raise bad_args(usage)
    try:
        return int(ns.args[0])
    except ValueError:
        raise bad_args(bad % ns.args[0]) from None


def to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


# -- get -------------------------------------------------------------------------------------------
def register_get(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("args", nargs="*", metavar="key [range_end]")
    sub.add_argument("--consistency", default="l", help="Linearizable(l) or Serializable(s)")
    sub.add_argument("--order", default="", help="Order of results; ASCEND or DESCEND (ASCEND by default)")
    sub.add_argument("--sort-by", dest="sort_by", default="",
                     help="Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION")
    sub.add_argument("--limit", type=int, default=0, help="Maximum number of results")
    flag(sub, "--prefix", "Get keys with matching prefix")
    flag(sub, "--from-key", "Get keys that are greater than or equal to the given key using byte compare")
    sub.add_argument("--rev", type=int, default=0, help="Specify the kv revision")
    flag(sub, "--keys-only", "Get only the keys")
    flag(sub, "--count-only", "Get only the count")
    flag(sub, "--print-value-only", 'Only write values when using the "simple" output format')
    sub.set_defaults(func=cmd_get, check=check_get)


SORT_TARGETS = ("CREATE", "KEY", "MODIFY", "VALUE", "VERSION")


def check_get(ns: argparse.Namespace) -> None:
    if ns.count_only and ns.write_out != "fields":
        raise bad_args("--count-only is only for `--write-out=fields`")
    if ns.print_value_only and ns.write_out != "simple":
        raise bad_args("print-value-only is only for `--write-out=simple`")
    get_request(ns)


def get_request(ns: argparse.Namespace) -> dict:
    args = ns.args
    if not args:
        raise bad_args("get command needs one argument as key and an optional argument as range_end")
    if ns.prefix and ns.from_key:
        raise bad_args("`--prefix` and `--from-key` cannot be set at the same time, choose one")
    if ns.keys_only and ns.count_only:
        raise bad_args("`--keys-only` and `--count-only` cannot be set at the same time, choose one")
    request: dict = {}
    if ns.consistency == "s":
        request["serializable"] = True
    elif ns.consistency != "l":
        raise CliError(EXIT_BAD_FEATURE, 'unknown consistency flag "%s"' % ns.consistency)
    key, range_end = key_range(ns, args)
    if range_end is not None:
        request["range_end"] = range_end
    if ns.limit:
        request["limit"] = ns.limit
    if ns.rev > 0:
        request["revision"] = ns.rev
    order = ns.order.upper()
    if order not in ("", "ASCEND", "DESCEND"):
        raise CliError(EXIT_BAD_FEATURE, "bad sort order %s" % ns.order)
    target = ns.sort_by.upper()
    if target not in SORT_TARGETS + ("",):
        raise CliError(EXIT_BAD_FEATURE, "bad sort target %s" % ns.sort_by)
    target = target or "KEY"
    if order and not (target == "KEY" and order == "ASCEND"):  # clientv3.WithSort's shortcut
        request["sort_order"] = order
        request["sort_target"] = target if target != "MODIFY" else "MOD"
    elif target != "KEY":
        request["sort_target"] = target if target != "MODIFY" else "MOD"
    if ns.keys_only:
        request["keys_only"] = True
    if ns.count_only:
        request["count_only"] = True
    request["key"] = key
    return request


def key_range(ns: argparse.Namespace, args: List[str]) -> Tuple[bytes, Optional[bytes]]:
    """(key, range_end or None) of ``key [range_end]`` with ``--prefix`` / ``--from-key``, as
    etcdctl's get, del and watch make them (an empty prefix or from-key: the whole key space)."""
    key, range_end = to_bytes(args[0]), None
    prefix, from_key = ns.prefix, getattr(ns, "from_key", False)
    if len(args) > 1:
        if prefix or from_key:
            raise bad_args("too many arguments, only accept one argument when `--prefix` or `--from-key` is set")
        range_end = to_bytes(args[1])
    if prefix:
        key, range_end = (key, prefix_end(key)) if key else (b"\0", b"\0")
    if from_key:
        key, range_end = key or b"\0", b"\0"
    return key, range_end


def prefix_end(key: bytes) -> bytes:
    """clientv3.GetPrefixRangeEnd: the key with its last byte below 0xff incremented."""
    data = bytearray(key)
    for i in range(len(data) - 1, -1, -1):
        if data[i] < 0xFF:
            data[i] += 1
            return bytes(data[:i + 1])
    return b"\0"


def range_kwargs(client: Any, request: dict) -> dict:
    from etcd3 import models

    kwargs = dict(request)
    if "sort_order" in kwargs:
        kwargs["sort_order"] = getattr(models.RangeRequestSortOrder, kwargs["sort_order"])
    if "sort_target" in kwargs:
        kwargs["sort_target"] = getattr(models.RangeRequestSortTarget, kwargs["sort_target"])
    return kwargs


def cmd_get(ns: argparse.Namespace, client: Any) -> int:
    request = get_request(ns)
    if ns.printer.fmt == "simple" and not ns.printer.hex and "sort_order" not in request \
            and "sort_target" not in request and fast_simple_get(client, request, ns.print_value_only):
        return 0
    resp = client.range(**range_kwargs(client, request))
    ns.printer.get(resp, value_only=ns.print_value_only)
    return 0


def fast_simple_get(client: Any, request: dict, value_only: bool) -> bool:
    """``-w simple``: keys and values straight from the gateway's JSON, without building a
    model per key (a third of the time for 10,000 keys).  False (nothing written) when the
    answer is not a plain 200, for the ordinary path to raise the server's error."""
    import binascii
    import json

    from .printers import write_bytes

    # the answer's bytes from the client's own transport (call_rpc(raw=True) would wrap them
    # in a requests.Response: importing requests costs more than the rest of the command)
    op, path, body = client._call_rpc_args("/kv/range", dict(request), True)
    resp = client._run(client._call_flow(op, path, body))
    if resp.status != 200:
        return False
    decode = binascii.a2b_base64  # (base64.b64decode's own work per value is a third of this loop)
    kvs = json.loads(resp.body).get("kvs") or ()
    if value_only:
        lines = [decode(kv.get("value", "")) + b"\n" for kv in kvs]
    else:
        lines = [decode(kv.get("key", "")) + b"\n" + decode(kv.get("value", "")) + b"\n" for kv in kvs]
    write_bytes(b"".join(lines))
    return True


# -- put -------------------------------------------------------------------------------------------
def register_put(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--lease", default="0", help="lease ID (in hexadecimal) to attach to the key")
    verb(sub, "key value", (("--prev-kv", "return the previous key-value pair before modification"),
                            ("--ignore-value", "updates the key using its current value"),
                            ("--ignore-lease", "updates the key using its current lease")),
         func=cmd_put, check=check_put)


def check_put(ns: argparse.Namespace) -> None:
    args = ns.args
    if not args:
        raise bad_args("put command needs 1 argument and input from stdin or 2 arguments")
    if ns.ignore_value and len(args) > 1:
        raise bad_args("both <value> and --ignore-value are set")
    try:
        ns.lease_id = int(ns.lease, 16)
    except ValueError:
        raise bad_args('bad lease ID (strconv.ParseInt: parsing "%s": invalid syntax), expecting ID in Hex'
                       % ns.lease) from None
    ns.value = b""
    if not ns.ignore_value:
        if len(args) > 1:
            ns.value = to_bytes(args[1])
        else:
            data = sys.stdin.buffer.read()
            if not data:
                raise bad_args("put command needs 1 argument and input from stdin or 2 arguments")
            ns.value = data


def cmd_put(ns: argparse.Namespace, client: Any) -> int:
    resp = client.put(to_bytes(ns.args[0]), ns.value, lease=ns.lease_id, prev_kv=ns.prev_kv,
                      ignore_value=ns.ignore_value, ignore_lease=ns.ignore_lease)
    ns.printer.put(resp)
    return 0


# -- del -------------------------------------------------------------------------------------------
def register_del(sub: argparse.ArgumentParser) -> None:
    verb(sub, "key [range_end]", (("--prefix", "delete keys with matching prefix"),
                                  ("--prev-kv", "return deleted key-value pairs"),
                                  ("--from-key", "delete keys that are greater than or equal to the given key using "
                                                 "byte compare")),
         func=cmd_del, check=del_request)


def del_request(ns: argparse.Namespace) -> dict:
    args = ns.args
    if not args or len(args) > 2:
        raise bad_args("del command needs one argument as key and an optional argument as range_end")
    if ns.prefix and ns.from_key:
        raise bad_args("`--prefix` and `--from-key` cannot be set at the same time, choose one")
    key, range_end = key_range(ns, args)
    request: dict = {"range_end": range_end} if range_end is not None else {}
    if ns.prev_kv:
        request["prev_kv"] = True
    request["key"] = key
    return request


def cmd_del(ns: argparse.Namespace, client: Any) -> int:
    resp = client.delete_range(**del_request(ns))
    ns.printer.delete(resp)
    return 0


# -- compaction ------------------------------------------------------------------------------------
def register_compaction(sub: argparse.ArgumentParser) -> None:
    verb(sub, "revision", (("--physical", "'true' to wait for compaction to physically remove all old revisions"),),
         func=cmd_compaction, check=check_compaction)


def check_compaction(ns: argparse.Namespace) -> None:
    ns.revision = int_argument(ns, "compaction command needs 1 argument", 'strconv.ParseInt: parsing "%s": invalid '
                               'syntax')


def cmd_compaction(ns: argparse.Namespace, client: Any) -> int:
    client.compact(ns.revision, physical=ns.physical)
    print("compacted revision %d" % ns.revision)  # etcdctl: whatever the output format
    return 0


# -- txn -------------------------------------------------------------------------------------------
def register_txn(sub: argparse.ArgumentParser) -> None:
    add_bool_flag(sub, "--interactive", "interactive", False, "Input transaction in interactive mode", short="-i")
    sub.set_defaults(func=cmd_txn)


def cmd_txn(ns: argparse.Namespace, client: Any) -> int:
    from . import txn_grammar

    return txn_grammar.run_txn(ns, client)

