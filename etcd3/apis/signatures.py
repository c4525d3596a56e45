"""The signatures etcd3-py 0.1.6 gave its RPC methods: one declarative table.

The connected server's spec says which RPCs exist and what their request messages
hold; a method's parameters are, by default, its request's fields in proto order
(all keyword-or-positional, default ``None``).  0.1.6 wrapped most RPCs by hand, and
some of its wrappers take other parameters, another order, required arguments or
sugar (``prefix``/``all``, ``txn_obj``, a raw body, a nested ``perm``).  Code written
for it passes those arguments by position, so each such wrapper's parameter list is
kept here, per RPC name, with flags for the sugar; ``etcd3.apis.binding`` applies an
entry to an operation of a spec (once per operation, not per call).

What an entry means:

* ``params``: 0.1.6's parameters in order, ``(name, default)``; ``REQUIRED`` has no
  default.  Request fields the entry does not name (fields of newer etcd versions,
  such as ``member_add``'s ``isLearner``) are keyword-only arguments after them.  A
  default is what the server assumes for an absent field (0, False, an enum's first
  member), so only the arguments a caller passes are sent.
* ``range_sugar``: the request has ``key``/``range_end``; ``prefix`` and ``all``
  apply, with 0.1.6's checks (``check_range_args``).
* ``txn_op``: ``txn_obj=True`` returns ``{txn_op: {...}}``, the un-encoded request op
  for ``txn()``, instead of calling the server.
* ``raw_body``: the parameter that is the request body itself (bytes/str posted as
  they are, a dict encoded).
* ``nested``: ``(field, subfields)``: those parameters go inside the message field
  ``field`` (role_grant_permission's ``perm``).
* ``one_of``: exactly one of these arguments (those the server's spec has) is needed.
* ``call_options``: the method also takes ``**kwargs`` for the call itself
  (``timeout``, ``headers``), as 0.1.6's ``watch`` passed them on to ``call_rpc``.
* ``clears_token``: a successful call forgets the client's token (``auth_disable``).

An entry whose RPC a server's spec lacks is simply not used for that server.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ..utils import prefix_range_end

__all__ = ["REQUIRED", "EnumDefault", "RpcSignature", "SIGNATURES", "check_range_args", "apply_range_args",
           "expand_range_args"]

REQUIRED = inspect.Parameter.empty


@dataclass(frozen=True)
class EnumDefault:
    """A default that is a member of an enum of ``etcd3.models`` (resolved on use:
    the module's enums are built from the bundled specs)."""

    enum: str
    member: str

    def resolve(self) -> Any:
        from .. import models

        return getattr(models, self.enum)[self.member]


@dataclass(frozen=True)
class RpcSignature:
    params: Tuple[Tuple[str, Any], ...]
    range_sugar: bool = False
    txn_op: Optional[str] = None
    raw_body: Optional[str] = None
    nested: Optional[Tuple[str, Tuple[str, ...]]] = None
    one_of: Tuple[str, ...] = ()
    call_options: bool = False
    clears_token: bool = False


def _sig(*params: Any, **flags: Any) -> RpcSignature:
    """``_sig("key", ("lease", 0))``: a bare name is a required parameter."""
    return RpcSignature(tuple((p, REQUIRED) if isinstance(p, str) else p for p in params), **flags)


_RANGE = (("key", None), ("range_end", None))
_PREFIX_ALL = (("prefix", False), ("all", False))
_TXN_OBJ = (("txn_obj", False),)

SIGNATURES: Dict[str, RpcSignature] = {
    # KV
    "range": _sig(*_RANGE, ("limit", 0), ("revision", None), ("serializable", False), ("keys_only", False),
                  ("count_only", False), ("min_mod_revision", None), ("max_mod_revision", None),
                  ("min_create_revision", None), ("max_create_revision", None),
                  ("sort_order", EnumDefault("RangeRequestSortOrder", "NONE")),
                  ("sort_target", EnumDefault("RangeRequestSortTarget", "KEY")), *_PREFIX_ALL, *_TXN_OBJ,
                  range_sugar=True, txn_op="request_range"),
    "put": _sig("key", "value", ("lease", 0), ("prev_kv", False), ("ignore_value", False),
                ("ignore_lease", False), *_TXN_OBJ, txn_op="request_put"),
    "delete_range": _sig(*_RANGE, ("prev_kv", False), *_PREFIX_ALL, *_TXN_OBJ,
                         range_sugar=True, txn_op="request_delete_range"),
    "compact": _sig("revision", ("physical", False)),
    "txn": _sig("compare", "success", "failure"),
    # Lease
    "lease_grant": _sig("TTL", ("ID", 0)),
    "lease_revoke": _sig("ID"),
    "lease_time_to_live": _sig("ID", ("keys", False)),
    "lease_keep_alive": _sig("data", raw_body="data"),
    # Watch
    "watch": _sig(("create_request", None), ("cancel_request", None),
                  one_of=("create_request", "cancel_request", "progress_request"), call_options=True),
    # Auth
    "authenticate": _sig("name", "password"),
    "auth_enable": _sig(),
    "auth_disable": _sig(clears_token=True),
    "role_add": _sig("name"),
    "role_delete": _sig("role"),
    "role_get": _sig("role"),
    "role_list": _sig(),
    "role_grant_permission": _sig("name", ("key", None), ("permType", EnumDefault("authpbPermissionType", "READ")),
                                  ("range_end", None), *_PREFIX_ALL,
                                  range_sugar=True, nested=("perm", ("permType", "key", "range_end"))),
    "role_revoke_permission": _sig("role", *_RANGE, *_PREFIX_ALL, range_sugar=True),
    "user_add": _sig("name", "password"),
    "user_change_password": _sig("name", "password"),
    "user_delete": _sig("name"),
    "user_get": _sig("name"),
    "user_list": _sig(),
    "user_grant_role": _sig("user", "role"),
    "user_revoke_role": _sig("name", "role"),
    # Cluster
    "member_add": _sig("peerURLs"),
    "member_list": _sig(),
    "member_remove": _sig("ID"),
    "member_update": _sig("ID", "peerURLs"),
    # Maintenance
    "alarm": _sig("memberID", ("action", EnumDefault("AlarmRequestAlarmAction", "GET")),
                  ("alarm", EnumDefault("etcdserverpbAlarmType", "NONE"))),
    "defragment": _sig(),
    "hash": _sig(),
    "snapshot": _sig(),
    "status": _sig(),
    # Lock (v3lock)
    "lock": _sig("name", ("lease", 0)),
    "unlock": _sig("key"),
}


def check_range_args(what: str, values: Dict[str, Any]) -> None:
    """0.1.6's check of the range sugar, on the arguments actually passed (``values``):
    a ``None`` does not count, anything else does (an explicit ``False`` too)."""
    if values.get("key") is None and values.get("all") is None:
        raise TypeError("%s() requires at least one argument of key,all" % what)
    given = (values.get("range_end") is not None) + (values.get("prefix") is not None) \
        + (values.get("all") is not None)
    if given > 1:
        raise TypeError("%s() requires at most one of param range_end or prefix or all" % what)


def apply_range_args(what: str, values: Dict[str, Any]) -> None:
    """Check the range sugar, then turn ``prefix``/``all`` into ``key``/``range_end``
    (in place)."""
    check_range_args(what, values)
    expand_range_args(values)


def expand_range_args(values: Dict[str, Any]) -> None:
    """Turn ``prefix``/``all`` into ``key``/``range_end`` (in place): ``all`` is every
    key, ``prefix`` every key that starts with ``key``."""
    prefix = values.pop("prefix", None)
    every = values.pop("all", None)
    if every:
        values["key"] = values["range_end"] = b"\0"
    elif prefix:
        values["range_end"] = prefix_range_end(values["key"])
