"""``etcd3 watch key [range_end] [--] [exec-command arg1 arg2 ...]``, as etcdctl's."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any, List

from .connection import add_bool_flag
from .main import EXIT_ERROR, bad_args
from .printers import go_json_dumps, go_quote, go_value, out


def register(name: str, sub: argparse.ArgumentParser) -> None:
    sub.add_argument("args", nargs="*", metavar="key [range_end] [--] [exec-command arg1 arg2 ...]")
    add_bool_flag(sub, "--interactive", "interactive", False, "Interactive mode", short="-i")
    add_bool_flag(sub, "--prefix", "prefix", False, "Watch on a prefix if prefix is set")
    sub.add_argument("--rev", type=int, default=0, help="Revision to start watching")
    add_bool_flag(sub, "--prev-kv", "prev_kv", False, "get the previous key-value pair before the event happens")
    add_bool_flag(sub, "--progress-notify", "progress_notify", False, "get periodic watch progress notification "
                  "from server")
    sub.set_defaults(func=cmd_watch, check=check_watch)


def check_watch(ns: argparse.Namespace) -> None:
    command = ns.exec_command  # after "--" (main cuts it off)
    keys = list(ns.args)
    if ns.interactive:
        return
    if not keys and not os.environ.get("ETCDCTL_WATCH_KEY"):
        raise bad_args("watch in non-interactive mode requires at least one argument as key")
    if len(keys) > 2:
        raise bad_args("watch in non-interactive mode only accepts one or two arguments as key and range end")
    if ns.prefix and len(keys) > 1:
        raise bad_args("`range_end` and `--prefix` are mutually exclusive")
    ns.watch_keys = keys or [os.environ["ETCDCTL_WATCH_KEY"]] + (
        [os.environ["ETCDCTL_WATCH_RANGE_END"]] if os.environ.get("ETCDCTL_WATCH_RANGE_END") else [])
    ns.exec_command = command


def watch_request(ns: argparse.Namespace, keys: List[str]) -> dict:
    from .kv import key_range

    key, range_end = key_range(ns, keys)
    request: dict = {"key": key}
    if range_end is not None:
        request["range_end"] = range_end
    if ns.rev:
        request["start_revision"] = ns.rev
    if ns.prev_kv:
        request["prev_kv"] = True
    if ns.progress_notify:
        request["progress_notify"] = True
    return request


def print_response(ns: argparse.Namespace, resp: Any) -> None:
    printer = ns.printer
    if resp.canceled:
        sys.stderr.write("watch was canceled (%s)\n" % (resp.cancel_reason or "etcdserver: mvcc: required "
                                                        "revision has been compacted"))
    events = resp.events or ()
    if not events and not resp.created and not resp.canceled:
        out("progress notify: %d" % resp.header.revision)
    if printer.fmt == "json":
        header = go_value(resp.header) if resp.header is not None else {}
        out(go_json_dumps({"Header": header, "Events": [go_value(e) for e in events] or ([] if resp.canceled else None),
                           "CompactRevision": resp.compact_revision, "Canceled": bool(resp.canceled),
                           "Created": False}))
    elif printer.fmt == "fields":
        printer.fields_header(resp.header)
        for event in events:
            out('"Type" : %s' % event.type.value)
            if event.prev_kv is not None:
                printer.fields_kv("Prev", event.prev_kv)
            printer.fields_kv("", event.kv)
    elif printer.fmt == "simple":
        for event in events:
            out(event.type.value)
            if event.prev_kv is not None:
                printer.kv_simple(event.prev_kv)
            printer.kv_simple(event.kv)
    else:
        printer.unsupported()
    sys.stdout.flush()
    for event in events if ns.exec_command else ():
        env = dict(os.environ)
        env.update(ETCD_WATCH_REVISION="%d" % resp.header.revision,
                   ETCD_WATCH_EVENT_TYPE='"%s"' % event.type.value,
                   ETCD_WATCH_KEY=go_quote(event.kv.key or b""), ETCD_WATCH_VALUE=go_quote(event.kv.value or b""))
        try:
            code = subprocess.call(ns.exec_command, env=env)
        except OSError as e:
            sys.stderr.write("command %s error (%s)\n" % (ns.exec_command, e))
            sys.exit(EXIT_ERROR)
        if code != 0:
            sys.stderr.write("command %s error (exit status %d)\n" % (ns.exec_command, code))
            sys.exit(EXIT_ERROR)


def cmd_watch(ns: argparse.Namespace, client: Any) -> int:
    if ns.interactive:
        return interactive(ns, client)
    stream = client.watch_create(**watch_request(ns, ns.watch_keys))  # (it waits through silence)
    try:
        for resp in stream:
            if resp.created and not resp.events:
                continue
            print_response(ns, resp)
            if resp.canceled:
                from .main import EXIT_INTERRUPTED, CliError

                raise CliError(EXIT_INTERRUPTED, "watch is canceled by the server")
    finally:
        stream.close()
    return 0


def interactive(ns: argparse.Namespace, client: Any) -> int:
    """etcdctl's ``watch -i``: a ``watch [flags] key [range_end]`` per stdin line, each
    printing its events as they come while the next line is read; ``progress`` prints
    ``progress notify: REV`` for every running watch; the end of stdin ends the command
    (exit code 3, as etcdctl's "error reading watch request line: EOF")."""
    import threading

    from .main import EXIT_INVALID_INPUT, CliError, Parser
    from .txn_grammar import argify

    output = threading.Lock()
    running: List[Any] = []
    while True:
        line = sys.stdin.readline()
        if not line.endswith("\n"):
            raise CliError(EXIT_INVALID_INPUT, "error reading watch request line: EOF")
        line = line[:-1]
        words = argify(line)
        if not words:
            sys.stderr.write("Invalid command: %s (watch and progress supported)\n" % line)
            continue
        if words[0] == "progress":
            revision = client.range(b"\0", count_only=True).header.revision
            with output:
                for _ in running:
                    out("progress notify: %d" % revision)
                sys.stdout.flush()
            continue
        if words[0] != "watch":
            sys.stderr.write("Invalid command %s (only support watch)\n" % line)
            continue
        if len(words) < 2:
            sys.stderr.write("Invalid command %s (command type or key is not provided)\n" % line)
            continue
        sub = Parser(prog="watch", add_help=False)
        register("watch", sub)
        sub_ns = sub.parse_args(words[1:])  # a bad flag ends the command, as etcdctl's
        sub_ns.printer, sub_ns.exec_command = ns.printer, []
        if len(sub_ns.args) > 2:
            raise bad_args("watch in interactive mode only accepts one or two arguments as key and range end")
        stream = client.watch_create(**watch_request(sub_ns, sub_ns.args))
        running.append(stream)

        def pump(stream: Any = stream, sub_ns: argparse.Namespace = sub_ns) -> None:
            try:
                for resp in stream:
                    if not (resp.created and not resp.events):
                        with output:
                            print_response(sub_ns, resp)
            except Exception as e:  # the watch ends; the others and the prompt go on
                with output:
                    sys.stderr.write("watch %s ended: %s\n" % (" ".join(sub_ns.args), e))

        threading.Thread(target=pump, daemon=True).start()
