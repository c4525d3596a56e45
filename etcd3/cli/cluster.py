"""member, endpoint, alarm, defrag, snapshot save, move-leader: etcdctl's cluster verbs."""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, List, Tuple

from .connection import add_bool_flag, endpoint_list
from .main import EXIT_BAD_FEATURE, EXIT_ERROR, EXIT_INTERRUPTED, CliError, bad_args, global_parent
from .printers import go_quote, out, table


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
        sub.add_argument("--data-dir", default="", help="Optional. If present, defragments a data directory not in "
                         "use by etcd (not by etcd3: use etcdutl defrag --data-dir)")
        sub.set_defaults(func=cmd_defrag, check=check_defrag)
    elif name == "snapshot":
        add = subcommands(sub)
        save = add("save", cmd_snapshot_save)
        save.add_argument("args", nargs="*", metavar="filename")
        save.set_defaults(check=check_snapshot_save)
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


def go_println(value: Any) -> str:
    """A value as Go's fmt.Println writes it (bools in lower case, a slice as ``[a b]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[%s]" % " ".join(go_println(v) for v in value)
    return str(value)


def fields(*pairs: Tuple[str, Any]) -> None:
    """etcdctl's fields lines: ``"Name" : value``; a str value is quoted (%q) unless given
    as ``("Name", value, False)``."""
    for name, value, *quoted in pairs:
        text = go_quote(value) if isinstance(value, str) and (not quoted or quoted[0]) else go_println(value)
        out('"%s" : %s' % (name, text))


def cmd_member_list(ns: argparse.Namespace, client: Any) -> int:
    resp = client.member_list()
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
    elif ns.printer.fmt == "fields":
        ns.printer.fields_header(resp.header)
        for m in resp.members or ():
            fields(("ID", m.ID), ("Name", m.name or ""), *[("PeerURL", u) for u in m.peerURLs or ()],
                   *[("ClientURL", u) for u in m.clientURLs or ()], ("IsLearner", bool(getattr(m, "isLearner", False))))
            out()
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
    if not ns.args:
        raise bad_args("member name not provided")
    if len(ns.args) > 1:
        hint = "".join(", did you mean --peer-urls=%s" % a for a in ns.args if a.lower().startswith("http"))
        raise bad_args("too many arguments" + hint)
    if not ns.peer_urls:
        raise bad_args("member peer urls not provided")
    name, urls = ns.args[0], ns.peer_urls.split(",")
    if ns.learner:
        if "member_promote" not in client.operations:
            # etcd 3.3 ignores isLearner and adds a voting member: refused rather than done silently
            raise CliError(EXIT_ERROR, "member add --learner needs etcd 3.4 or newer (etcd %s has no learners)"
                           % client.server_version)
        resp = client.member_add(urls, isLearner=True)
    else:
        resp = client.member_add(urls)
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
        return 0
    out("Member %16x added to cluster %16x" % (resp.member.ID, resp.header.cluster_id))  # 3.5.1: learner or not
    if ns.printer.fmt != "simple":
        return 0
    initial = ["%s=%s" % (name if m.ID == resp.member.ID else m.name, url)
               for m in resp.members or () for url in m.peerURLs or ()]
    out()
    out("ETCD_NAME=%s" % go_quote(name))
    out("ETCD_INITIAL_CLUSTER=%s" % go_quote(",".join(initial)))
    out("ETCD_INITIAL_ADVERTISE_PEER_URLS=%s" % go_quote(ns.peer_urls))
    out('ETCD_INITIAL_CLUSTER_STATE="existing"')
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
    """The endpoints a per-member verb visits: ``--endpoints`` as given, or with ``--cluster``
    the client URLs of the member list (etcdctl's endpointsFromCluster)."""
    if getattr(ns, "cluster", False):
        try:
            members = client.member_list().members
        except Exception as e:
            raise CliError(EXIT_ERROR, "failed to fetch endpoints from etcd cluster member list: %s"
                           % error_text(e)) from None
        return [url for m in members or () for url in m.clientURLs or ()]
    return endpoint_list(ns)


def error_text(error: BaseException) -> str:
    return getattr(error, "message", "") or str(error) or type(error).__name__


def on_each_endpoint(ns: argparse.Namespace, client: Any, call: Any) -> List[Tuple[str, Any, Any]]:
    """``call(member_client)`` on every endpoint at once (a dead member costs its timeout
    once, as etcdctl's goroutines); (endpoint, result, error) in the endpoints' order."""
    from concurrent.futures import ThreadPoolExecutor

    def one(ep: str) -> Tuple[str, Any, Any]:
        from .connection import client_from_flags

        try:
            member = client_from_flags(ns, endpoint=ep, server_version=client.server_version)
        except Exception as e:
            return ep, None, e
        try:
            return ep, call(member), None
        except Exception as e:
            return ep, None, e
        finally:
            member.close()

    endpoints = endpoints_of(ns, client)
    if len(endpoints) == 1:
        return [one(endpoints[0])]
    with ThreadPoolExecutor(max_workers=min(len(endpoints), 16)) as pool:
        return list(pool.map(one, endpoints))


def humanize_bytes(size: int) -> str:
    """go-humanize's Bytes (SI units), as etcdctl's status shows the DB size."""
    if size < 10:
        return "%d B" % size
    exponent = int(math.floor(math.log(size) / math.log(1000)))
    suffix = ["B", "kB", "MB", "GB", "TB", "PB", "EB"][exponent]
    value = math.floor(size / (1000 ** exponent) * 10 + 0.5) / 10
    return ("%.1f %s" if value < 10 else "%.0f %s") % (value, suffix)


def go_duration(nanoseconds: int) -> str:
    """Go's time.Duration.String(): ``2.181263ms``, ``512µs``, ``1.5s``, ``1m2s``."""
    def fixed(value: int, digits: int) -> str:
        whole, fraction = divmod(value, 10 ** digits)
        fraction_text = ("%0*d" % (digits, fraction)).rstrip("0")
        return "%d.%s" % (whole, fraction_text) if fraction_text else "%d" % whole

    if nanoseconds == 0:
        return "0s"
    if nanoseconds < 1000:
        return "%dns" % nanoseconds
    if nanoseconds < 10 ** 6:
        return fixed(nanoseconds, 3) + "µs"
    if nanoseconds < 10 ** 9:
        return fixed(nanoseconds, 6) + "ms"
    hours, rest = divmod(nanoseconds, 3600 * 10 ** 9)
    minutes, rest = divmod(rest, 60 * 10 ** 9)
    text = fixed(rest, 9) + "s"
    if hours or minutes:
        text = "%dm" % minutes + text
    if hours:
        text = "%dh" % hours + text
    return text


def member_health(member: Any) -> Tuple[str, str]:
    """(took, error) of etcdctl's health check of one member: a read of the key ``health``
    (permission denied counts as healthy: it went through consensus), then no alarm raised."""
    from etcd3 import errors

    start = time.monotonic_ns()
    try:
        member.range(b"health")
    except errors.ErrPermissionDenied:
        pass
    except Exception as e:
        return go_duration(time.monotonic_ns() - start), error_text(e)
    took = go_duration(time.monotonic_ns() - start)
    try:
        alarms = member.alarm(0).alarms or ()
    except Exception:
        return took, "Unable to fetch the alarm list"
    if alarms:
        names = [a.alarm.value if a.alarm.value in ("NOSPACE", "CORRUPT") else "UNKNOWN" for a in alarms]
        return took, "Active Alarm(s): " + "".join(name + " " for name in names)
    return took, ""


def cmd_endpoint_health(ns: argparse.Namespace, client: Any) -> int:
    results = []
    for ep, checked, error in on_each_endpoint(ns, client, member_health):
        took, problem = checked if error is None else ("", error_text(error))
        results.append({"endpoint": ep, "health": not problem, "took": took, **({"error": problem} if problem else {})})
    if ns.printer.fmt == "json":
        from .printers import go_json_dumps

        out(go_json_dumps(results))
    elif ns.printer.fmt == "fields":
        for r in results:
            fields(("Endpoint", r["endpoint"]), ("Health", r["health"]), ("Took", r["took"], False),
                   ("Error", r.get("error", ""), False))
            out()
    elif ns.printer.fmt == "table":
        table(["endpoint", "health", "took", "error"],
              [[r["endpoint"], str(r["health"]).lower(), r["took"], r.get("error", "")] for r in results])
    else:
        for r in results:
            if r["health"]:
                out("%s is healthy: successfully committed proposal: took = %s" % (r["endpoint"], r["took"]))
            else:
                sys.stderr.write("%s is unhealthy: failed to commit proposal: %s\n" % (r["endpoint"], r["error"]))
    if any(not r["health"] for r in results):
        raise CliError(EXIT_ERROR, "unhealthy cluster")
    return 0


STATUS_HEADER = ["endpoint", "ID", "version", "db size", "is leader", "is learner", "raft term", "raft index",
                 "raft applied index", "errors"]


def per_member(ns: argparse.Namespace, client: Any, call: Any, failure: str) -> Tuple[List[Tuple[str, Any]], Any]:
    """(endpoint, answer) of the members that answered ``call``, the last error; each
    failure is reported on stderr as etcdctl words it (``failure % (endpoint, error)``)."""
    answers, last_error = [], None
    for ep, answer, error in on_each_endpoint(ns, client, call):
        if error is not None:
            sys.stderr.write(failure % (ep, error_text(error)) + "\n")
            last_error = error
        else:
            answers.append((ep, answer))
    return answers, last_error


def cmd_endpoint_status(ns: argparse.Namespace, client: Any) -> int:
    statuses, failed = per_member(ns, client, lambda member: member.status(),
                                  "Failed to get the status of endpoint %s (%s)")
    rows = [[ep, "%x" % s.header.member_id, s.version, humanize_bytes(s.dbSize),
             "true" if s.leader == s.header.member_id else "false",
             "true" if getattr(s, "isLearner", False) else "false", str(s.raftTerm), str(s.raftIndex),
             str(getattr(s, "raftAppliedIndex", 0) or 0), ", ".join(getattr(s, "errors", None) or ())]
            for ep, s in statuses]
    if ns.printer.fmt == "json":
        from .printers import go_json_dumps, go_value

        out(go_json_dumps([{"Endpoint": ep, "Status": go_value(s)} for ep, s in statuses]))
    elif ns.printer.fmt == "fields":
        for ep, s in statuses:
            ns.printer.fields_header(s.header)
            fields(("Version", s.version or ""), ("DBSize", s.dbSize), ("Leader", s.leader),
                   ("IsLearner", bool(getattr(s, "isLearner", False))), ("RaftIndex", s.raftIndex),
                   ("RaftTerm", s.raftTerm), ("RaftAppliedIndex", getattr(s, "raftAppliedIndex", 0) or 0),
                   ("Errors", list(getattr(s, "errors", None) or ())), ("Endpoint", ep))
            out()
    elif ns.printer.fmt == "table":
        table(STATUS_HEADER, rows)
    else:
        for row in rows:
            out(", ".join(row))
    return EXIT_ERROR if failed is not None else 0  # etcdctl exits 1 without an Error line


HASHKV_FIRST_VERSION = "3.5.10"


def cmd_endpoint_hashkv(ns: argparse.Namespace, client: Any) -> int:
    """etcdctl asks HashKV over gRPC; the gateway routes it from etcd 3.5.10 on only (before,
    the gateway has no /v3/maintenance/hashkv and answers 404): refused in one line."""
    from etcd3.spec import parse_version

    op = client.spec.operations.get("hash_kv")
    if op is None or op.min_version_tuple is not None and parse_version(client.server_version) < op.min_version_tuple:
        raise CliError(EXIT_ERROR, "endpoint hashkv needs etcd %s or newer: the gRPC gateway of etcd %s has no "
                       "route for HashKV (etcdctl asks it over gRPC)" % (HASHKV_FIRST_VERSION, client.server_version))
    rows, failed = per_member(ns, client, lambda member: member.hash_kv(revision=ns.rev or None),
                              "Failed to get the hash of endpoint %s (%s)")
    if ns.printer.fmt == "json":
        from .printers import go_json_dumps, go_value

        out(go_json_dumps([{"Endpoint": ep, "HashKV": go_value(r)} for ep, r in rows]))
    elif ns.printer.fmt == "fields":
        for ep, r in rows:
            ns.printer.fields_header(r.header)
            fields(("Endpoint", ep), ("Hash", r.hash))
            out()
    elif ns.printer.fmt == "table":
        table(["endpoint", "hash"], [[ep, str(r.hash)] for ep, r in rows])
    else:
        for ep, r in rows:
            out("%s, %d" % (ep, r.hash))
    if failed is not None:
        raise CliError(EXIT_ERROR, error_text(failed))
    return 0


# -- alarm, defrag, move-leader ----------------------------------------------------------------------
def print_alarms(ns: argparse.Namespace, resp: Any) -> None:
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
        return
    if ns.printer.fmt == "fields":
        ns.printer.fields_header(resp.header)
        for alarm in resp.alarms or ():
            fields(("MemberID", alarm.memberID), ("AlarmType", alarm.alarm.value, False))
            out()
        return
    if ns.printer.fmt != "simple":
        ns.printer.unsupported()
    for alarm in resp.alarms or ():
        out("memberID:%d alarm:%s " % (alarm.memberID, alarm.alarm.value))


def cmd_alarm_list(ns: argparse.Namespace, client: Any) -> int:
    print_alarms(ns, client.alarm(0))
    return 0


def cmd_alarm_disarm(ns: argparse.Namespace, client: Any) -> int:
    """Every raised alarm deactivated (etcdctl: the alarms it disarmed are listed)."""
    from etcd3 import models

    listed = client.alarm(0)
    if not listed.alarms and ns.printer.fmt == "json":
        out("{}")  # clientv3 answers nothing disarmed with an empty response
        return 0
    resp = listed
    for alarm in listed.alarms or ():
        resp = client.alarm(alarm.memberID, action=models.AlarmRequestAlarmAction.DEACTIVATE, alarm=alarm.alarm)
    resp.__dict__["alarms"] = listed.alarms
    print_alarms(ns, resp)
    return 0


def check_defrag(ns: argparse.Namespace) -> None:
    if ns.data_dir:  # etcdctl opens the member's bbolt file itself; there is no API for it
        raise CliError(EXIT_BAD_FEATURE, "defrag --data-dir (defragmenting a data directory offline) is not "
                       "supported by etcd3: use etcdutl defrag --data-dir %s" % ns.data_dir)


def cmd_defrag(ns: argparse.Namespace, client: Any) -> int:
    failed = False
    for ep in endpoints_of(ns, client):  # one member after another, as etcdctl
        from .connection import client_from_flags

        try:
            member = client_from_flags(ns, endpoint=ep, server_version=client.server_version)
            member.timeout = None  # defragmenting a large member takes long
            try:
                member.defragment()
            finally:
                member.close()
            out("Finished defragmenting etcd member[%s]" % ep)
        except Exception as e:
            sys.stderr.write("Failed to defragment etcd member[%s] (%s)\n" % (ep, error_text(e)))
            failed = True
    return EXIT_ERROR if failed else 0


def cmd_move_leader(ns: argparse.Namespace, client: Any) -> int:
    """As etcdctl: the leader is looked for among ``--endpoints`` (a status error ends the
    command), the transfer is asked of it."""
    from .connection import client_from_flags

    if len(ns.args) != 1:
        raise bad_args("move-leader command needs 1 argument")
    try:
        target = int(ns.args[0], 16)
    except ValueError:
        raise bad_args('strconv.ParseUint: parsing "%s": invalid syntax' % ns.args[0]) from None
    endpoints = endpoint_list(ns)
    for ep in endpoints:
        member = client_from_flags(ns, endpoint=ep, server_version=client.server_version)
        try:
            s = member.status()
            if s.leader == s.header.member_id:
                member.move_leader(target)
                out("Leadership transferred from %x to %x" % (s.leader, target))
                return 0
        finally:
            member.close()
    raise bad_args("no leader endpoint given at [%s]" % " ".join(endpoints))


# -- snapshot save -------------------------------------------------------------------------------------
def check_snapshot_save(ns: argparse.Namespace) -> None:
    if len(ns.args) != 1:
        raise bad_args("snapshot save expects one argument")
    endpoints = endpoint_list(ns)
    if len(endpoints) != 1:  # a snapshot is one member's (etcdctl 3.5.1 exits 5 here)
        raise CliError(EXIT_INTERRUPTED, "snapshot must be requested to one selected node, not multiple [%s]"
                       % " ".join(endpoints))


def cmd_snapshot_save(ns: argparse.Namespace, client: Any) -> int:
    """Written to ``FILE.part``, fsynced, then renamed; the stream's trailing SHA-256 (etcd sends
    the hash of the data as the last 32 bytes) checked; a progress line on a terminal only."""
    import hashlib

    path = ns.args[0]
    partial = path + ".part"
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
