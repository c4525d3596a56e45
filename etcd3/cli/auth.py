"""auth enable|disable|status, user ..., role ...: etcdctl's access-control verbs."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, List, Optional

from .connection import add_bool_flag
from .kv import prefix_end, to_bytes
from .main import bad_args
from .printers import go_quote, out


# verbs that take fixed arguments, make one call and say one line (etcdctl's words):
# (group, verb) -> (how many arguments, the usage error, the client's method, the line said)
SIMPLE_VERBS = {
    ("auth", "enable"): (0, "auth enable command does not accept any arguments", "auth_enable",
                         "Authentication Enabled"),
    ("auth", "disable"): (0, "auth disable command does not accept any arguments", "auth_disable",
                          "Authentication Disabled"),
    ("user", "delete"): (1, "user delete command requires user name as its argument", "user_delete",
                         "User {0} deleted"),
    ("user", "grant-role"): (2, "user grant command requires user name and role name as its argument",
                             "user_grant_role", "Role {1} is granted to user {0}"),
    ("user", "revoke-role"): (2, "user revoke-role requires user name and role name as its argument",
                              "user_revoke_role", "Role {1} is revoked from user {0}"),
    ("role", "add"): (1, "role add command requires role name as its argument", "role_add", "Role {0} created"),
    ("role", "delete"): (1, "role delete command requires role name as its argument", "role_delete",
                         "Role {0} deleted"),
}

# list verbs: (group, verb) -> (the client's method, the answer's field listed one per line)
LIST_VERBS = {("user", "list"): ("user_list", "users"), ("role", "list"): ("role_list", "roles")}
NO_ARGUMENTS = "%s command requires no arguments"


def register(name: str, sub: argparse.ArgumentParser) -> None:
    from .cluster import subcommands

    add = subcommands(sub)
    for (group, verb), (count, usage, method, said) in SIMPLE_VERBS.items():
        if group == name:
            add(verb, simple_verb(count, usage, method, said)).add_argument("args", nargs="*")
    for (group, verb), (method, field) in LIST_VERBS.items():
        if group == name:
            add(verb, list_verb(method, field, NO_ARGUMENTS % (group + " " + verb))).add_argument("args", nargs="*")
    if name == "auth":
        add("status", cmd_auth_status).add_argument("args", nargs="*")
    elif name == "user":
        a = add("add", cmd_user_add)
        a.add_argument("args", nargs="*", metavar="<user name or user:password>")
        add_bool_flag(a, "--interactive", "interactive", True, "Read password from stdin instead of interactive "
                      "terminal")
        add_bool_flag(a, "--no-password", "no_password", False, "Create a user without password (CN based auth "
                      "only)")
        a.add_argument("--new-user-password", default="", help="Supply password from the command line flag")
        g = add("get", cmd_user_get)
        g.add_argument("args", nargs="*")
        add_bool_flag(g, "--detail", "detail", False, "Show permissions of roles granted to the user")
        p = add("passwd", cmd_user_passwd)
        p.add_argument("args", nargs="*")
        add_bool_flag(p, "--interactive", "interactive", True, "If true, read password from stdin instead of "
                      "interactive terminal")
    elif name == "role":
        add("get", cmd_role_get).add_argument("args", nargs="*")
        for verb, func in (("grant-permission", cmd_role_grant), ("revoke-permission", cmd_role_revoke)):
            p = add(verb, func)
            p.add_argument("args", nargs="*")
            add_bool_flag(p, "--prefix", "prefix", False, "grant a prefix permission")
            add_bool_flag(p, "--from-key", "from_key", False, "grant a permission of keys that are greater than "
                          "or equal to the given key using byte compare")


def arguments(ns: argparse.Namespace, count: int, usage: str) -> List[str]:
    args = list(getattr(ns, "args", None) or ())
    if len(args) != count:
        raise bad_args(usage)
    return args


def one(ns: argparse.Namespace, usage: str) -> str:
    return arguments(ns, 1, usage)[0]


def simple_verb(count: int, usage: str, method: str, said: str) -> Any:
    def command(ns: argparse.Namespace, client: Any) -> int:
        args = arguments(ns, count, usage)
        if method == "auth_enable":
            enable_auth(client)
        elif method != "auth_disable":
            show(ns, getattr(client, method)(*args), lambda: out(said.format(*args)))
            return 0
        else:
            client.auth_disable()
        out(said.format(*args))  # etcdctl says it whatever the output format
        return 0

    return command


def show(ns: argparse.Namespace, resp: Any, simple: Callable[[], None],
         fields_body: Optional[Callable[[], None]] = None, has_fields: bool = True) -> None:
    """An answer in the output format, as etcdctl's printers: ``json`` whole, ``simple`` by the
    verb, ``fields`` the header (and ``fields_body``) where etcdctl has them, ``table`` (and
    the fields of a verb without them) not supported (exit code 4)."""
    fmt = ns.printer.fmt
    if fmt == "json":
        ns.printer.json(resp)
    elif fmt == "simple":
        simple()
    elif fmt == "fields" and has_fields:
        ns.printer.fields_header(resp.header)
        if fields_body is not None:
            fields_body()
    else:
        ns.printer.unsupported()


def enable_auth(client: Any) -> None:
    """etcdctl 3.5 makes the root role and grants it to the root user when the user lacks
    it, then enables again."""
    from etcd3 import errors

    try:
        client.auth_enable()
    except errors.ErrRootRoleNotExist:
        client.role_add("root")
        client.user_grant_role("root", "root")
        client.auth_enable()


def list_verb(method: str, field: str, usage: str) -> Any:
    def command(ns: argparse.Namespace, client: Any) -> int:
        arguments(ns, 0, usage)
        resp = getattr(client, method)()
        names = getattr(resp, field) or ()
        show(ns, resp, lambda: [out(name) for name in names],
             lambda: out('"Roles" :' + "".join(" " + go_quote(name) for name in names)), has_fields=field == "roles")
        return 0

    return command


def cmd_auth_status(ns: argparse.Namespace, client: Any) -> int:
    arguments(ns, 0, "auth status command does not accept any arguments")
    resp = client.auth_status()
    show(ns, resp, lambda: (out("Authentication Status: %s" % ("true" if resp.enabled else "false")),
                            out("AuthRevision: %d" % resp.authRevision)), has_fields=False)
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
    resp = client.user_add(name, password, options=options) if options else client.user_add(name, password)
    show(ns, resp, lambda: out("User %s created" % name))
    return 0


def cmd_user_get(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "user get command requires user name as its argument")
    resp = client.user_get(name)
    if ns.detail:  # etcdctl: each role as role get shows it
        out("User: %s" % name)
        for role in resp.roles or ():
            out()
            print_role(ns, role, client.role_get(role))
    else:
        show(ns, resp, lambda: (out("User: %s" % name), out("Roles: %s" % " ".join(resp.roles or ()))),
             has_fields=False)
    return 0


def cmd_user_passwd(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "user passwd command requires user name as its argument")
    password = read_password(ns, name)
    show(ns, client.user_change_password(name, password), lambda: out("Password updated"))
    return 0


def cmd_role_get(ns: argparse.Namespace, client: Any) -> int:
    name = one(ns, "role get command requires role name as its argument")
    print_role(ns, name, client.role_get(name))
    return 0


def print_role(ns: argparse.Namespace, name: str, resp: Any) -> None:
    def perm_fields() -> None:
        for perm in resp.perm or ():
            out('"PermType" :  %s' % perm.permType.value)
            out('"Key" : %s' % go_quote(perm.key or b""))
            out('"RangeEnd" : %s' % go_quote(perm.range_end or b""))

    show(ns, resp, lambda: print_role_simple(name, resp), perm_fields)


def print_role_simple(name: str, resp: Any) -> None:
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
    resp = client.role_grant_permission(role, key=key_bytes, range_end=end,
                                        permType=getattr(models.authpbPermissionType, perm))
    show(ns, resp, lambda: out("Role %s updated" % role))
    return 0


def cmd_role_revoke(ns: argparse.Namespace, client: Any) -> int:
    if len(ns.args) < 2 or len(ns.args) > 3:
        raise bad_args("role revoke-permission command requires role name and key [endkey] as its argument")
    role, key = ns.args[:2]
    key_bytes, end = perm_range(ns, key, ns.args[2] if len(ns.args) > 2 else None)
    resp = client.role_revoke_permission(role, key_bytes, range_end=end)
    if end:
        said = "Permission of range [%s, %s) is revoked from role %s" % (key, end.decode("utf-8", "surrogateescape"),
                                                                          role)
    else:
        said = "Permission of key %s is revoked from role %s" % (key, role)
    show(ns, resp, lambda: out(said))
    return 0

