"""member, endpoint, alarm, defrag, snapshot save, move-leader: etcdctl's cluster verbs."""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, List, Tuple

from .connection import add_bool_flag, endpoint_list
from .main import EXIT_ERROR, CliError, bad_args, global_parent
from .printers import out, table


def subcommands(sub: argparse.ArgumentParser) -> Any:
    from .main import Parser

    subs = sub.add_subparsers(dest="sub_verb", metavar="COMMAND", parser_class=Parser)
    subs.required = True
    parent = global_parent(True)
    return lambda name, func, **kw: subs.add_parser(name, parents=[parent], **kw).set_defaults(func=func) or \
        subs.choices[name]


def register(name: str, sub: argparse.ArgumentParser) -> None:
    if name == "member":
        add = subcommands(sub)
        add("list", cmd_member_list, help="Lists all members in the cluster")
        a = add("add", cmd_member_add, help="Adds a member into the cluster")
        a.add_argument("args", nargs="*")
        a.add_argument("--peer-urls", default="")
        add_bool_flag(a, "--learner", "learner", False, "indicates if the new member is raft learner")
        for verb, func in (("remove", cmd_member_remove), ("promote", cmd_member_promote)):
            add(verb, func).add_argument("args", nargs="*")
        u = add("update", cmd_member_update)
        u.add_argument("args", nargs="*")
        u.add_argument("--peer-urls", default="")
    elif name == "endpoint":
        add = subcommands(sub)
        for verb, func in (("health", cmd_endpoint_health), ("status", cmd_endpoint_status),
                           ("hashkv", cmd_endpoint_hashkv)):
            p = add(verb, func)
            add_bool_flag(p, "--cluster", "cluster", False, "use all endpoints from the cluster member list")
            if verb == "hashkv":
                p.add_argument("--rev", type=int, default=0)
    elif name == "alarm":
        add = subcommands(sub)
        add("list", cmd_alarm_list)
        add("disarm", cmd_alarm_disarm)
    elif name == "defrag":
        add_bool_flag(sub, "--cluster", "cluster", False, "use all endpoints from the cluster member list")
        sub.set_defaults(func=cmd_defrag)
    elif name == "snapshot":
        add = subcommands(sub)
        add("save", cmd_snapshot_save).add_argument("args", nargs="*", metavar="filename")
    elif name == "move-leader":
        sub.add_argument("args", nargs="*", metavar="transferee-member-id")
        sub.set_defaults(func=cmd_move_leader)


# -- member ----------------------------------------------------------------------------------------
def member_rows(members: Any) -> List[List[str]]:
    rows = []
    for m in members or ():
        rows.append(["%x" % m.ID, "started" if m.name else "unstarted", m.name, ",".join(m.peerURLs or ()),
                     ",".join(m.clientURLs or ()), "true" if getattr(m, "isLearner", False) else "false"])
    return rows


MEMBER_HEADER = ["ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"]


def cmd_member_list(ns: argparse.Namespace, client: Any) -> int:
    resp = client.member_list()
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
    elif ns.printer.fmt == "table":
        table(MEMBER_HEADER, member_rows(resp.members))
    else:
        for row in member_rows(resp.members):
            out(", ".join(row))
    return 0


def member_id(ns: argparse.Namespace, usage: str) -> int:
    if len(ns.args) != 1:
        raise bad_args(usage)
    try:
        return int(ns.args[0], 16)
    except ValueError:
        raise bad_args('bad member ID arg (strconv.ParseUint: parsing "%s": invalid syntax), expecting ID in Hex'
                       % ns.args[0]) from None


def cmd_member_add(ns: argparse.Namespace, client: Any) -> int:
    if len(ns.args) != 1:
        raise bad_args("member name not provided")
    if not ns.peer_urls:
        raise bad_args("member peer urls not provided")
    urls = ns.peer_urls.split(",")
    kwargs = {"isLearner": True} if ns.learner else {}
    resp = client.member_add(urls, **kwargs)
    out("Member %16x added to cluster %16x" % (resp.member.ID, resp.header.cluster_id))
    return 0


def cmd_member_remove(ns: argparse.Namespace, client: Any) -> int:
    ident = member_id(ns, "member ID is not provided")
    resp = client.member_remove(ident)
    out("Member %16x removed from cluster %16x" % (ident, resp.header.cluster_id))
    return 0


def cmd_member_promote(ns: argparse.Namespace, client: Any) -> int:
    ident = member_id(ns, "member ID is not provided")
    resp = client.member_promote(ident)
    out("Member %16x promoted in cluster %16x" % (ident, resp.header.cluster_id))
    return 0


def cmd_member_update(ns: argparse.Namespace, client: Any) -> int:
    ident = member_id(ns, "member ID is not provided")
    if not ns.peer_urls:
        raise bad_args("member peer urls not provided")
    resp = client.member_update(ident, ns.peer_urls.split(","))
    out("Member %16x updated in cluster %16x" % (ident, resp.header.cluster_id))
    return 0


# -- endpoint --------------------------------------------------------------------------------------
def endpoints_of(ns: argparse.Namespace, client: Any) -> List[str]:
    if getattr(ns, "cluster", False):
        urls: List[str] = []
        for m in client.member_list().members or ():
            urls.extend(m.clientURLs or ())
        return urls
    return endpoint_list(ns)


def each_endpoint(ns: argparse.Namespace, client: Any) -> List[Tuple[str, Any]]:
    """(endpoint, client of it); the first endpoint reuses ``client``."""
    from .connection import client_from_flags

    result = []
    for ep in endpoints_of(ns, client):
        try:
            result.append((ep, client_from_flags(ns, endpoint=ep)))
        except Exception as e:  # an unreachable member: reported per endpoint
            result.append((ep, e))
    return result


def humanize_bytes(size: int) -> str:
    """go-humanize's Bytes (SI units), as etcdctl's status shows the DB size."""
    if size < 10:
        return "%d B" % size
    exponent = int(math.floor(math.log(size) / math.log(1000)))
    suffix = ["B", "kB", "MB", "GB", "TB", "PB", "EB"][exponent]
    value = math.floor(size / (1000 ** exponent) * 10 + 0.5) / 10
    return ("%.1f %s" if value < 10 else "%.0f %s") % (value, suffix)


def cmd_endpoint_health(ns: argparse.Namespace, client: Any) -> int:
    unhealthy = False
    results = []
    for ep, c in each_endpoint(ns, client):
        start = time.monotonic()
        error = ""
        if isinstance(c, Exception):
            error = str(c)
        else:
            try:
                c.range(b"health")
            except Exception as e:
                from etcd3 import errors

                if not isinstance(e, errors.ErrPermissionDenied):
                    error = getattr(e, "message", "") or str(e)
        took = time.monotonic() - start
        results.append({"endpoint": ep, "health": not error, "took": "%.6fms" % (took * 1000),
                        **({"error": error} if error else {})})
        unhealthy = unhealthy or bool(error)
    if ns.printer.fmt == "json":
        from .printers import go_json_dumps

        out(go_json_dumps(results))
    elif ns.printer.fmt == "table":
        table(["endpoint", "health", "took", "error"],
              [[r["endpoint"], str(r["health"]).lower(), r["took"], r.get("error", "")] for r in results])
    else:
        for r in results:
            if r["health"]:
                out("%s is healthy: successfully committed proposal: took = %s" % (r["endpoint"], r["took"]))
            else:
                sys.stderr.write("%s is unhealthy: failed to commit proposal: %s\n" % (r["endpoint"], r["error"]))
    if unhealthy:
        raise CliError(EXIT_ERROR, "unhealthy cluster")
    return 0


STATUS_HEADER = ["endpoint", "ID", "version", "db size", "is leader", "is learner", "raft term", "raft index",
                 "raft applied index", "errors"]


def cmd_endpoint_status(ns: argparse.Namespace, client: Any) -> int:
    rows, statuses, failed = [], [], False
    for ep, c in each_endpoint(ns, client):
        try:
            if isinstance(c, Exception):
                raise c
            s = c.status()
        except Exception as e:
            sys.stderr.write("Failed to get the status of endpoint %s (%s)\n" % (ep, e))
            failed = True
            continue
        statuses.append((ep, s))
        rows.append([ep, "%x" % s.header.member_id, s.version, humanize_bytes(s.dbSize),
                     "true" if s.leader == s.header.member_id else "false",
                     "true" if getattr(s, "isLearner", False) else "false", str(s.raftTerm), str(s.raftIndex),
                     str(getattr(s, "raftAppliedIndex", 0) or 0), ", ".join(getattr(s, "errors", None) or ())])
    if ns.printer.fmt == "json":
        from .printers import go_json_dumps, go_value

        out(go_json_dumps([{"Endpoint": ep, "Status": go_value(s)} for ep, s in statuses]))
    elif ns.printer.fmt == "table":
        table(STATUS_HEADER, rows)
    else:
        for row in rows:
            out(", ".join(row))
    if failed:
        raise CliError(EXIT_ERROR, "unhealthy cluster")
    return 0


def cmd_endpoint_hashkv(ns: argparse.Namespace, client: Any) -> int:
    rows = []
    for ep, c in each_endpoint(ns, client):
        if isinstance(c, Exception):
            raise c
        resp = c.hash_kv(revision=ns.rev or None)
        rows.append((ep, resp))
    if ns.printer.fmt == "json":
        from .printers import go_json_dumps, go_value

        out(go_json_dumps([{"Endpoint": ep, "HashKV": go_value(r)} for ep, r in rows]))
    elif ns.printer.fmt == "table":
        table(["endpoint", "hash"], [[ep, str(r.hash)] for ep, r in rows])
    else:
        for ep, r in rows:
            out("%s, %d" % (ep, r.hash))
    return 0


# -- alarm, defrag, move-leader ----------------------------------------------------------------------
def print_alarms(ns: argparse.Namespace, resp: Any) -> None:
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
        return
    for alarm in resp.alarms or ():
        out("memberID:%d alarm:%s " % (alarm.memberID, alarm.alarm.value))


def cmd_alarm_list(ns: argparse.Namespace, client: Any) -> int:
    print_alarms(ns, client.alarm(0))
    return 0


def cmd_alarm_disarm(ns: argparse.Namespace, client: Any) -> int:
    """Every raised alarm deactivated (etcdctl: the alarms it disarmed are listed)."""
    from etcd3 import models

    listed = client.alarm(0)
    resp = listed
    for alarm in listed.alarms or ():
        resp = client.alarm(alarm.memberID, action=models.AlarmRequestAlarmAction.DEACTIVATE, alarm=alarm.alarm)
    resp.__dict__["alarms"] = listed.alarms
    print_alarms(ns, resp)
    return 0


def cmd_defrag(ns: argparse.Namespace, client: Any) -> int:
    failed = False
    for ep, c in each_endpoint(ns, client):
        try:
            if isinstance(c, Exception):
                raise c
            c.timeout = None  # defragmenting a large member takes long
            c.defragment()
            out("Finished defragmenting etcd member[%s]" % ep)
        except Exception as e:
            sys.stderr.write("Failed to defragment etcd member[%s] (%s)\n" % (ep, getattr(e, "message", "") or e))
            failed = True
    return EXIT_ERROR if failed else 0


def cmd_move_leader(ns: argparse.Namespace, client: Any) -> int:
    if len(ns.args) != 1:
        raise bad_args("move-leader command needs 1 argument")
    try:
        target = int(ns.args[0], 16)
    except ValueError:
        raise bad_args('strconv.ParseUint: parsing "%s": invalid syntax' % ns.args[0]) from None
    leader = None
    for ep, c in each_endpoint(ns, client):
        if isinstance(c, Exception):
            continue
        s = c.status()
        if s.leader == s.header.member_id:
            leader = (c, s.leader)
            break
    if leader is None:
        raise CliError(EXIT_ERROR, "no leader endpoint given at %s" % ",".join(endpoint_list(ns)))
    leader[0].move_leader(target)
    out("Leadership transferred from %x to %x" % (leader[1], target))
    return 0


# -- snapshot save -------------------------------------------------------------------------------------
def cmd_snapshot_save(ns: argparse.Namespace, client: Any) -> int:
    """Written to ``FILE.part``, fsynced, then renamed; the stream's trailing SHA-256 (etcd sends
    the hash of the data as the last 32 bytes) checked; a progress line on a terminal only."""
    import hashlib

    if len(ns.args) != 1:
        raise bad_args("snapshot save expects one argument")
    path = ns.args[0]
    partial = path + ".part"
    client.timeout = None
    tty = sys.stderr.isatty()
    total, start, last = 0, time.monotonic(), 0.0
    data_tail = b""
    digest = hashlib.sha256()
    stream = client.snapshot()
    try:
        with open(partial, "wb") as f:
            for resp in stream:
                blob = resp.blob or b""
                if not blob:
                    continue
                # hold back the last 32 bytes: they may be the hash, not data
                chunk = data_tail + blob
                data_tail, chunk = chunk[-32:], chunk[:-32]
                digest.update(chunk)
                f.write(chunk)
                total += len(blob)
                now = time.monotonic()
                if tty and now - last > 0.2:
                    rate = total / max(now - start, 1e-6)
                    sys.stderr.write("\r%s downloaded, %s/s   " % (humanize_bytes(total), humanize_bytes(int(rate))))
                    sys.stderr.flush()
                    last = now
            if len(data_tail) == 32 and digest.digest() != data_tail:
                raise CliError(EXIT_ERROR, "snapshot hash mismatch: the stream was damaged, nothing saved")
            f.write(data_tail)
            f.flush()
            os.fsync(f.fileno())
        if total == 0:
            raise CliError(EXIT_ERROR, "snapshot stream ended without data")
        os.replace(partial, path)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise
    finally:
        stream.close()
    if tty:
        sys.stderr.write("\n")
    out("Snapshot saved at %s" % path)
    return 0
