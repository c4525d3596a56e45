"""auth enable|disable|status, user ..., role ...: etcdctl's access-control verbs."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from .connection import add_bool_flag
from .kv import prefix_end, to_bytes
from .main import bad_args
from .printers import out


def register(name: str, sub: argparse.ArgumentParser) -> None:
    from .cluster import subcommands

    add = subcommands(sub)
    if name == "auth":
        add("enable", lambda ns, c: say(c.auth_enable(), "Authentication Enabled"))
        add("disable", lambda ns, c: say(c.auth_disable(), "Authentication Disabled"))
        add("status", cmd_auth_status)
    elif name == "user":
        a = add("add", cmd_user_add)
        a.add_argument("args", nargs="*", metavar="<user name or user:password>")
        add_bool_flag(a, "--interactive", "interactive", True, "Read password from stdin instead of interactive "
                      "terminal")
        add_bool_flag(a, "--no-password", "no_password", False, "Create a user without password (CN based auth "
                      "only)")
        a.add_argument("--new-user-password", default="", help="Supply password from the command line flag")
        add("get", cmd_user_get).add_argument("args", nargs="*")
        add("list", cmd_user_list)
        add("delete", lambda ns, c: say(c.user_delete(one(ns, "user delete command requires user name as its "
                                                                "argument")), "User %s deleted" % ns.args[0]))\
            .add_argument("args", nargs="*")
        p = add("passwd", cmd_user_passwd)
        p.add_argument("args", nargs="*")
        add_bool_flag(p, "--interactive", "interactive", True, "If true, read password from stdin instead of "
                      "interactive terminal")
        for verb, func in (("grant-role", cmd_user_grant), ("revoke-role", cmd_user_revoke)):
            add(verb, func).add_argument("args", nargs="*")
    else:
        for verb, func in (("add", cmd_role_add), ("get", cmd_role_get), ("delete", cmd_role_delete)):
            add(verb, func).add_argument("args", nargs="*")
        add("list", cmd_role_list)
        for verb, func in (("grant-permission", cmd_role_grant), ("revoke-permission", cmd_role_revoke)):
            p = add(verb, func)
            p.add_argument("args", nargs="*")
            add_bool_flag(p, "--prefix", "prefix", False, "grant a prefix permission")
            add_bool_flag(p, "--from-key", "from_key", False, "grant a permission of keys that are greater than "
                          "or equal to the given key using byte compare")


def say(resp: Any, text: str) -> int:
    out(text)
    return 0


def one(ns: argparse.Namespace, message: str) -> str:
    if len(ns.args) != 1:
        raise bad_args(message)
    return ns.args[0]


def cmd_auth_status(ns: argparse.Namespace, client: Any) -> int:
    resp = client.auth_status()
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
        return 0
    out("Authentication Status: %s" % ("true" if resp.enabled else "false"))
    out("AuthRevision: %d" % resp.authRevision)
    return 0


def read_password(ns: argparse.Namespace, name: str) -> str:
    """As etcdctl: ``--interactive=false`` takes the first word of stdin (``fmt.Scanf("%s")``);
    else the password is asked twice (prompts on stdout, no echo on a terminal)."""
    if not ns.interactive:
        words = sys.stdin.readline().split()
        return words[0] if words else ""
    from .connection import ask_password

    password = ask_password("Password of %s: " % name)
    if not password:
        raise bad_args("empty password")
    if ask_password("Type password of %s again for confirmation: " % name) != password:
        raise bad_args("given passwords are different")
    return password


def cmd_user_add(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "user add command requires user name as its argument")
    options = None
    if ns.no_password:
        password, options = "", {"no_password": True}
    elif ns.new_user_password:
        password = ns.new_user_password
    elif ":" in name:
        name, _, password = name.partition(":")
        if not name:
            raise bad_args("empty user name is not allowed")
    else:
        password = read_password(ns, name)
    if options:
        client.user_add(name, password, options=options)
    else:
        client.user_add(name, password)
    out("User %s created" % name)
    return 0


def cmd_user_get(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "user get command requires user name as its argument")
    resp = client.user_get(name)
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
        return 0
    out("User: %s" % name)
    out("Roles: %s" % " ".join(resp.roles or ()))
    return 0


def cmd_user_list(ns: argparse.Namespace, client: Any) -> int:
    resp = client.user_list()
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
        return 0
    for user in resp.users or ():
        out(user)
    return 0


def cmd_user_passwd(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "user passwd command requires user name as its argument")
    password = read_password(ns, name)
    client.user_change_password(name, password)
    out("Password updated")
    return 0


def two(ns: argparse.Namespace, message: str) -> Any:
    if len(ns.args) != 2:
        raise bad_args(message)
    return ns.args


def cmd_user_grant(ns: argparse.Namespace, client: Any) -> int:
    user, role = two(ns, "user grant command requires user name and role name as its argument")
    client.user_grant_role(user, role)
    out("Role %s is granted to user %s" % (role, user))
    return 0


def cmd_user_revoke(ns: argparse.Namespace, client: Any) -> int:
    user, role = two(ns, "user revoke-role requires user name and role name as its argument")
    client.user_revoke_role(user, role)
    out("Role %s is revoked from user %s" % (role, user))
    return 0


def cmd_role_add(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "role add command requires role name as its argument")
    client.role_add(name)
    out("Role %s created" % name)
    return 0


def cmd_role_delete(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "role delete command requires role name as its argument")
    client.role_delete(name)
    out("Role %s deleted" % name)
    return 0


def cmd_role_list(ns: argparse.Namespace, client: Any) -> int:
    resp = client.role_list()
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
        return 0
    for role in resp.roles or ():
        out(role)
    return 0


def cmd_role_get(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "role get command requires role name as its argument")
    resp = client.role_get(name)
    if ns.printer.fmt == "json":
        ns.printer.json(resp)
        return 0
    out("Role %s" % name)
    for title, kinds in (("KV Read:", ("READ", "READWRITE")), ("KV Write:", ("WRITE", "READWRITE"))):
        out(title)
        for perm in resp.perm or ():
            if perm.permType.value not in kinds:
                continue
            key = (perm.key or b"").decode("utf-8", "surrogateescape")
            range_end = perm.range_end or b""
            if not range_end:
                out("\t%s" % key)
                continue
            end = range_end.decode("utf-8", "surrogateescape")
            line = "\t[%s, %s)" % (key, end) if range_end != b"\0" else "\t[%s, <open ended>" % key
            if key and prefix_end(perm.key) == range_end:
                line += " (prefix %s)" % key
            out(line)
    return 0


PERM_TYPES = {"read": "READ", "write": "WRITE", "readwrite": "READWRITE"}


def perm_range(ns: argparse.Namespace, key: str, end: Any) -> Any:
    key_bytes = to_bytes(key)
    if end is not None:
        if ns.prefix or ns.from_key:
            raise bad_args("too many arguments")
        return key_bytes, to_bytes(end)
    if ns.prefix:
        return key_bytes, prefix_end(key_bytes) if key_bytes else b"\0"
    if ns.from_key:
        return key_bytes or b"\0", b"\0"
    return key_bytes, None


def cmd_role_grant(ns: argparse.Namespace, client: Any) -> int:
    from etcd3 import models

    if len(ns.args) < 3 or len(ns.args) > 4:
        raise bad_args("role grant command requires role name, permission type, and key [endkey] as its argument")
    role, perm_text, key = ns.args[:3]
    perm = PERM_TYPES.get(perm_text.lower())
    if perm is None:
        raise bad_args("invalid permission type %s" % perm_text)
    key_bytes, end = perm_range(ns, key, ns.args[3] if len(ns.args) > 3 else None)
    client.role_grant_permission(role, key=key_bytes, range_end=end, permType=getattr(models.authpbPermissionType,
                                                                                       perm))
    out("Role %s updated" % role)
    return 0


def cmd_role_revoke(ns: argparse.Namespace, client: Any) -> int:
    if len(ns.args) < 2 or len(ns.args) > 3:
        raise bad_args("role revoke-permission command requires role name and key [endkey] as its argument")
    role, key = ns.args[:2]
    key_bytes, end = perm_range(ns, key, ns.args[2] if len(ns.args) > 2 else None)
    client.role_revoke_permission(role, key_bytes, range_end=end)
    if end:
        out("Permission of range [%s, %s) is revoked from role %s"
            % (key, end.decode("utf-8", "surrogateescape"), role))
    else:
        out("Permission of key %s is revoked from role %s" % (key, role))
    return 0

