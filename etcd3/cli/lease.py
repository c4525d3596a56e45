"""``etcd3 lease grant|revoke|timetolive|list|keep-alive``, as etcdctl's."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Tuple

from .connection import add_bool_flag
from .main import bad_args
from .printers import out


def register(name: str, sub: argparse.ArgumentParser) -> None:
    subs = sub.add_subparsers(dest="lease_verb", metavar="COMMAND")
    subs.required = True
    from .main import Parser

    subs._parser_class = Parser  # type: ignore[attr-defined]
    add = sub_adder(subs)
    grant = add("grant", help="Creates leases")
    grant.add_argument("args", nargs="*", metavar="ttl")
    grant.set_defaults(func=cmd_grant)
    revoke = add("revoke", help="Revokes leases")
    revoke.add_argument("args", nargs="*", metavar="leaseID")
    revoke.set_defaults(func=cmd_revoke)
    ttl = add("timetolive", help="Get lease information")
    ttl.add_argument("args", nargs="*", metavar="leaseID")
    add_bool_flag(ttl, "--keys", "keys", False, "Get keys attached to this lease")
    ttl.set_defaults(func=cmd_timetolive)
    listing = add("list", help="List all active leases")
    listing.set_defaults(func=cmd_list)
    keep = add("keep-alive", help="Keeps leases alive (renew)")
    keep.add_argument("args", nargs="*", metavar="leaseID")
    add_bool_flag(keep, "--once", "once", False, "Resets the keep-alive time to its original value and "
                  "cobrautl.Exits immediately")
    keep.set_defaults(func=cmd_keepalive)
    for parser, check in ((grant, check_grant), (revoke, check_id("lease revoke command needs 1 argument")),
                          (ttl, check_id("lease timetolive command needs lease ID as argument")),
                          (keep, check_id("lease keep-alive command needs lease ID as argument"))):
        parser.set_defaults(check=check)


def sub_adder(subs: Any) -> Any:
    """add_parser with the global flags, so that they may follow the subcommand too."""
    from .main import global_parent

    parent = global_parent(True)
    return lambda name, **kw: subs.add_parser(name, parents=[parent], **kw)


def lease_id(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise bad_args('bad lease ID arg (strconv.ParseInt: parsing "%s": invalid syntax), expecting ID in Hex'
                       % text) from None


def check_grant(ns: argparse.Namespace) -> None:
    from .kv import int_argument

    ns.ttl = int_argument(ns, "lease grant command needs TTL argument",
                          'bad TTL (strconv.ParseInt: parsing "%s": invalid syntax)')


def check_id(message: str) -> Any:
    def check(ns: argparse.Namespace) -> None:
        if len(ns.args) != 1:
            raise bad_args(message)
        ns.lease_id = lease_id(ns.args[0])
    return check


def plain_json(ns: argparse.Namespace, resp: Any, fields: Tuple[Tuple[str, Any], ...] = (), **extra: Any) -> bool:
    """Written in the output format unless it is ``simple`` (False: the verb writes it):
    ``json`` as clientv3's lease responses marshal (the header's fields inlined, then their
    own under Go's names: ``extra``), ``fields`` the header and ``fields`` (name, number)
    lines, ``table`` not supported."""
    fmt = ns.printer.fmt
    if fmt == "simple":
        return False
    if fmt == "json":
        from .printers import go_json_dumps, go_value

        flat = go_value(resp.header) if resp.header is not None else {}
        flat.update(extra)
        out(go_json_dumps(flat))
    elif fmt == "fields":
        ns.printer.fields_header(resp.header)
        for name, value in fields:
            out('"%s" : %s' % (name, value))
    else:
        ns.printer.unsupported()
    return True


def cmd_grant(ns: argparse.Namespace, client: Any) -> int:
    resp = client.lease_grant(ns.ttl)
    if not plain_json(ns, resp, (("ID", resp.ID), ("TTL", resp.TTL)), ID=resp.ID, TTL=resp.TTL,
                      Error=resp.error or ""):
        out("lease %016x granted with TTL(%ds)" % (resp.ID, resp.TTL))
    return 0


def cmd_revoke(ns: argparse.Namespace, client: Any) -> int:
    from etcd3 import errors

    try:
        resp = client.lease_revoke(ns.lease_id)
    except errors.Etcd3APIError as e:
        from .main import EXIT_ERROR, CliError

        raise CliError(EXIT_ERROR, "failed to revoke lease (%s)" % (e.message or e.error))
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
    elif not plain_json(ns, resp):
        out("lease %016x revoked" % ns.lease_id)
    return 0


def cmd_timetolive(ns: argparse.Namespace, client: Any) -> int:
    resp = client.lease_time_to_live(ns.lease_id, keys=ns.keys)
    from .printers import go_quote, go_value

    keys = [("Key", go_quote(k or b"")) for k in resp.keys or ()]
    if plain_json(ns, resp, (("ID", resp.ID), ("TTL", resp.TTL), ("GrantedTTL", resp.grantedTTL), *keys),
                  **{"id": resp.ID, "ttl": resp.TTL, "granted-ttl": resp.grantedTTL,
                     "keys": [go_value(k) for k in resp.keys or ()] or None}):
        return 0
    if resp.grantedTTL == 0 and resp.TTL == -1:
        out("lease %016x already expired" % resp.ID)
        return 0
    text = "lease %016x granted with TTL(%ds), remaining(%ds)" % (resp.ID, resp.grantedTTL, resp.TTL)
    if ns.keys:
        text += ", attached keys([%s])" % " ".join(
            (k or b"").decode("utf-8", "surrogateescape") for k in resp.keys or ())
    out(text)
    return 0


def cmd_list(ns: argparse.Namespace, client: Any) -> int:
    resp = client.lease_leases()
    leases = resp.leases or ()
    if plain_json(ns, resp, tuple(("ID", lease.ID) for lease in leases),
                  leases=[{"id": lease.ID} for lease in leases]):
        return 0
    out("found %d leases" % len(leases))
    for lease in leases:
        out("%016x" % lease.ID)
    return 0


def cmd_keepalive(ns: argparse.Namespace, client: Any) -> int:
    while True:
        resp = client.lease_keep_alive_once(ns.lease_id)
        if resp.TTL <= 0:
            if ns.once:
                from .main import EXIT_BAD_CONNECTION, CliError

                # etcdctl 3.5.1 exits with its "bad connection" code here
                raise CliError(EXIT_BAD_CONNECTION, "etcdserver: requested lease not found")
            if ns.printer.fmt == "simple":
                out("lease %016x expired or revoked." % ns.lease_id)
            return 0
        if not plain_json(ns, resp, (("ID", resp.ID), ("TTL", resp.TTL)), ID=resp.ID, TTL=resp.TTL):
            out("lease %016x keepalived with TTL(%d)" % (resp.ID, resp.TTL))
        sys.stdout.flush()
        if ns.once:
            return 0
        time.sleep(max(resp.TTL / 3.0, 0.5))  # etcdctl's client refreshes at a third of the TTL
