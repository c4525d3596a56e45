"""Transactions: a builder over the Txn RPC.

>>> txn = client.Txn()
>>> txn.compare(txn.key('/config/colour').value == 'blue')
>>> txn.success(txn.put('/config/colour', 'green'))
>>> txn.failure(txn.range('/config/colour'))
>>> resp = txn.commit()            # a TxnResponse; resp.succeeded, resp.responses

The builder only makes plain request dicts; ``commit()`` is one ``client.txn``
call, so it works unchanged with the sync and the async client (where it
returns an awaitable).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

from ..errors import UnsupportedOperation
from ..utils import key_range

__all__ = ["Txn", "KeyTarget", "Compare"]


def _range(key: Any, range_end: Any, prefix: Optional[bool], all: Optional[bool]) -> Dict[str, Any]:
    if key is None and not all:
        raise TypeError("a key is needed (or all=True)")
    key, range_end = key_range(key, range_end, prefix, all)
    return {"key": key} if range_end is None else {"key": key, "range_end": range_end}


class Compare(dict):
    """One compare of a transaction (a ``Compare`` request message)."""


class _Target:
    """``txn.key(k).value`` and friends: comparing makes a Compare."""

    def __init__(self, key_fields: Dict[str, Any], target: str, field: str) -> None:
        self._key_fields, self._target, self._field = key_fields, target, field

    def _compare(self, result: str, other: Any) -> Compare:
        compare = Compare(self._key_fields)
        compare.update(target=self._target, result=result)
        compare[self._field] = other
        return compare

    def __eq__(self, other: Any) -> Compare:  # type: ignore[override]
        return self._compare("EQUAL", other)

    def __ne__(self, other: Any) -> Compare:  # type: ignore[override]
        return self._compare("NOT_EQUAL", other)

    def __lt__(self, other: Any) -> Compare:
        return self._compare("LESS", other)

    def __gt__(self, other: Any) -> Compare:
        return self._compare("GREATER", other)

    __hash__ = None  # type: ignore[assignment]


class KeyTarget:
    """The compare targets of a key (or range): ``value``, ``version``,
    ``create`` (create revision), ``mod`` (mod revision) and ``lease``."""

    def __init__(self, key_fields: Dict[str, Any]) -> None:
        self.value = _Target(key_fields, "VALUE", "value")
        self.version = _Target(key_fields, "VERSION", "version")
        self.create = _Target(key_fields, "CREATE", "create_revision")
        self.mod = _Target(key_fields, "MOD", "mod_revision")
        self.lease = _Target(key_fields, "LEASE", "lease")


class Txn:
    """A transaction of a client: compares, then the success or the failure ops."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._compare: List[Dict[str, Any]] = []
        self._success: List[Dict[str, Any]] = []
        self._failure: List[Dict[str, Any]] = []

    def __repr__(self) -> str:
        return "<Txn compare=%d success=%d failure=%d>" % (len(self._compare), len(self._success), len(self._failure))

    # -- what the server's version can do --------------------------------------------------
    def _definition(self, name: str) -> Dict[str, Any]:
        return self.client.spec.rpc.spec["definitions"][name]

    def _require(self, ok: bool, what: str, since: str) -> None:
        if not ok:
            raise UnsupportedOperation(what, self.client.server_version, since)

    # -- builders --------------------------------------------------------------------------
    def key(self, key: Any, range_end: Any = None, prefix: Optional[bool] = None,
            all: Optional[bool] = None) -> KeyTarget:
        """The compare targets of a key, a range, a prefix or every key (ranges: etcd 3.3+)."""
        fields = _range(key, range_end, prefix, all)
        if "range_end" in fields:
            self._require("range_end" in self._definition("etcdserverpbCompare")["properties"],
                          "a compare over a key range", "3.3.0")
        return KeyTarget(fields)

    def range(self, key: Any = None, range_end: Any = None, prefix: Optional[bool] = None,
              all: Optional[bool] = None, **options: Any) -> Dict[str, Any]:
        """A range op (options: limit, revision, sort_order, keys_only, count_only, ...)."""
        request = _range(key, range_end, prefix, all)
        request.update(options)
        return {"request_range": request}

    def put(self, key: Any, value: Any = None, lease: Optional[int] = None, prev_kv: Optional[bool] = None,
            ignore_value: Optional[bool] = None, ignore_lease: Optional[bool] = None) -> Dict[str, Any]:
        """A put op."""
        request = {"key": key, "value": value, "lease": lease, "prev_kv": prev_kv,
                   "ignore_value": ignore_value, "ignore_lease": ignore_lease}
        return {"request_put": {k: v for k, v in request.items() if v is not None}}

    def delete(self, key: Any = None, range_end: Any = None, prefix: Optional[bool] = None,
               all: Optional[bool] = None, prev_kv: Optional[bool] = None) -> Dict[str, Any]:
        """A delete op."""
        request = _range(key, range_end, prefix, all)
        if prev_kv is not None:
            request["prev_kv"] = prev_kv
        return {"request_delete_range": request}

    def txn(self, compare: Any = (), success: Any = (), failure: Any = ()) -> Dict[str, Any]:
        """A nested transaction op (etcd 3.3+); a Txn object works as an op too."""
        self._require("request_txn" in self._definition("etcdserverpbRequestOp")["properties"],
                      "a nested txn", "3.3.0")
        return {"request_txn": {"compare": list(compare), "success": [self._op(o) for o in success],
                                "failure": [self._op(o) for o in failure]}}

    def _op(self, op: Any) -> Dict[str, Any]:
        if isinstance(op, Txn):
            return self.txn(op._compare, op._success, op._failure)
        if not isinstance(op, dict) or len(op) != 1 or next(iter(op)) not in (
                "request_range", "request_put", "request_delete_range", "request_txn"):
            raise TypeError("not a txn op: %r (make ops with txn.put/range/delete/txn)" % (op,))
        return op

    # -- building the transaction ------------------------------------------------------------
    def compare(self, compare: Any) -> "Txn":
        """Add a compare (``txn.key(k).value == v``, ...); all must hold for success."""
        if not isinstance(compare, dict) or "target" not in compare:
            raise TypeError("not a compare: %r (make one with txn.key(k).value == v)" % (compare,))
        if compare["target"] == "LEASE":
            self._require("LEASE" in self._definition("CompareCompareTarget")["enum"],
                          "a compare on the lease", "3.3.0")
        self._compare.append(compare)
        return self

    def success(self, op: Any) -> "Txn":
        """Add an op to run when every compare holds."""
        self._success.append(self._op(op))
        return self

    def failure(self, op: Any) -> "Txn":
        """Add an op to run when a compare fails."""
        self._failure.append(self._op(op))
        return self

    def clear(self) -> "Txn":
        """Remove every compare and op."""
        self._compare, self._success, self._failure = [], [], []
        return self

    def clone(self) -> "Txn":
        """An independent copy of this transaction."""
        twin = Txn(self.client)
        twin._compare = copy.deepcopy(self._compare)
        twin._success = copy.deepcopy(self._success)
        twin._failure = copy.deepcopy(self._failure)
        return twin

    def commit(self) -> Any:
        """Send the transaction; returns the TxnResponse (an awaitable with AioClient)."""
        return self.client.txn(compare=self._compare, success=self._success, failure=self._failure)
