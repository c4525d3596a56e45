"""``etcd3 lock NAME [CMD ...]`` and ``etcd3 elect NAME [PROPOSAL]`` (``-l`` to observe), as etcdctl's:
a lease (lock: of ``--ttl`` seconds; elect: 60 s) kept alive while the lock or the leadership is held."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import threading
from typing import Any

from .connection import add_bool_flag
from .main import EXIT_ERROR, CliError, bad_args


# etcdctl's elect has no --ttl: its session has concurrency's default TTL
ELECT_SESSION_TTL = 60


def register(name: str, sub: argparse.ArgumentParser) -> None:
    if name == "lock":
        sub.add_argument("args", nargs=argparse.REMAINDER, metavar="<lockname> [exec-command arg1 arg2 ...]")
        sub.add_argument("--ttl", type=int, default=10, help="timeout for session")
        sub.set_defaults(func=cmd_lock, check=check_lock)
    else:
        sub.add_argument("args", nargs="*", metavar="<election-name> [proposal]")
        add_bool_flag(sub, "--listen", "listen", False, "observation mode", short="-l")
        sub.set_defaults(func=cmd_elect, check=check_elect, ttl=ELECT_SESSION_TTL)


def check_lock(ns: argparse.Namespace) -> None:
    if ns.args and ns.args[0] == "--":
        ns.args = ns.args[1:]
    ns.args = list(ns.args) + list(ns.exec_command)
    if not ns.args:
        raise bad_args("lock takes a lock name argument and an optional command to execute")


def check_elect(ns: argparse.Namespace) -> None:
    if len(ns.args) != 1 and not (len(ns.args) == 2 and not ns.listen):
        raise bad_args("elect takes one election name argument and an optional proposal")


def session(client: Any, ttl: int) -> Any:
    lease = client.Lease(ttl)
    lease.grant()
    lease.keepalive()
    return lease


def wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass


def cmd_lock(ns: argparse.Namespace, client: Any) -> int:
    lease = session(client, ns.ttl)
    client.timeout = None  # waiting for the lock takes as long as it takes
    try:
        resp = client.lock(ns.args[0].encode("utf-8", "surrogateescape"), lease=lease.ID)
        key = resp.key
        try:
            if len(ns.args) > 1:
                env = dict(os.environ, ETCD_LOCK_KEY=key.decode("utf-8", "surrogateescape"),
                           ETCD_LOCK_REV="%d" % resp.header.revision)
                try:
                    code = subprocess.call(ns.args[1:], env=env)
                except OSError as e:
                    raise CliError(EXIT_ERROR, str(e))
                if code != 0:
                    raise CliError(EXIT_ERROR, "exit status %d" % code)
                return 0
            held = client.range(key)
            if not held.kvs:
                raise CliError(EXIT_ERROR, "lock lost on init")
            ns.printer.get(held)
            import sys

            sys.stdout.flush()
            wait_for_signal()
            return 0
        finally:
            client.unlock(key)
    finally:
        lease.revoke()


def cmd_elect(ns: argparse.Namespace, client: Any) -> int:
    import sys

    name = ns.args[0].encode("utf-8", "surrogateescape")
    if ns.listen:
        for resp in client.observe(name):  # (the stream waits through silence)
            if resp.kv is not None:
                ns.printer.get(_as_range(resp))
                sys.stdout.flush()
        return 0
    if len(ns.args) < 2:
        raise bad_args("no proposal argument but -l not set")
    lease = session(client, ns.ttl)
    client.timeout = None  # becoming the leader takes as long as it takes
    try:
        resp = client.campaign(name, lease=lease.ID, value=ns.args[1].encode("utf-8", "surrogateescape"))
        held = client.range(resp.leader.key)
        ns.printer.get(held)
        sys.stdout.flush()
        wait_for_signal()
        client.resign(resp.leader)
        return 0
    finally:
        lease.revoke()


def _as_range(resp: Any) -> Any:
    from etcd3.models import EtcdMessage

    class Shaped(EtcdMessage):
        pass

    shaped = Shaped()
    shaped.__dict__.update(header=resp.header, kvs=[resp.kv], count=1, more=False)
    return shaped
