"""Transactions: a builder over the Txn RPC, as etcd3-py 0.1.6 made it.

>>> txn = client.Txn()
>>> txn.If(txn.key('/config/colour').value == 'blue') \\
...    .Then(txn.put('/config/colour', 'green')) \\
...    .Else(txn.range('/config/colour'))
>>> resp = txn.commit()            # a TxnResponse; resp.succeeded, resp.responses

The builders (``key``, ``range``, ``put``, ``delete``, ``txn``) are static: they
need no client (``Txn.put('k', 'v')``) and make plain dicts whose values are as
given (str, bytes, enum members); the client encodes them when the transaction
is committed, for the spec of the server it talks to. ``commit()`` is one
``client.txn`` call, so it works unchanged with the sync and the async client
(where it returns an awaitable).
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Iterable, List, Optional

from ..errors import UnsupportedOperation
from ..models import RangeRequestSortOrder, RangeRequestSortTarget  # type: ignore[attr-defined]
from ..utils import prefix_range_end

__all__ = ["Txn", "TxnCompareOp", "Compare"]

# the fields of etcd's Compare message (3.3+; 3.2 lacks lease and range_end)
_COMPARE_FIELDS = frozenset(("result", "target", "key", "range_end", "version", "create_revision",
                             "mod_revision", "value", "lease"))
_OP_KINDS = ("request_range", "request_put", "request_delete_range", "request_txn")


def _key_range(what: str, key: Any, range_end: Any, prefix: Any, all: Any) -> tuple:
    """0.1.6's range sugar: an argument counts when it is not None (so an explicit
    False counts); ``all`` is every key, ``prefix`` every key starting with ``key``."""
    if key is None and all is None:
        raise TypeError("%s() requires at least one argument of key,all" % what)
    if (range_end is not None) + (prefix is not None) + (all is not None) > 1:
        raise TypeError("%s() requires at most one of param range_end or prefix or all" % what)
    if all:
        return b"\0", b"\0"
    if prefix:
        return key, prefix_range_end(key)
    return key, range_end


def _without_none(fields: Dict[str, Any]) -> Dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


# -------------------------------------------------------------------------------------- compares

class TxnCompareOp:
    """One compare of a transaction: ``Txn.key(k).value == 'v'``.

    A target property (``value``, ``version``, ``create``, ``mod``, ``lease``) sets
    the pending target of this object and returns it; ``==``, ``!=``, ``<`` and
    ``>`` return a copy with the target and the result set (this object stays
    reusable). ``to_compare()`` gives the Compare request dict."""

    __hash__ = None  # type: ignore[assignment]

    # target name -> (the Compare's target, its field, the types the field takes)
    _TARGETS = {
        "value": ("VALUE", "value", (str, bytes)),
        "version": ("VERSION", "version", (int,)),
        "create": ("CREATE", "create_revision", (int,)),
        "mod": ("MOD", "mod_revision", (int,)),
        "lease": ("LEASE", "lease", (int,)),
    }

    def __init__(self, key: Any, range_end: Any = None) -> None:
        if not isinstance(key, (str, bytes)):
            raise TypeError("parameter 'key' expects (str, bytes) got '%s'" % type(key))
        self._key = key
        self._range_end = range_end
        self._pending: Optional[str] = None  # the target name accessed last
        self._target: Optional[str] = None  # set on the copy a comparison makes
        self._result: Optional[str] = None
        self._field: Optional[str] = None
        self._operand: Any = None

    # -- targets -------------------------------------------------------------------------
    def _set_target(self, name: str) -> "TxnCompareOp":
        if self._target is not None:
            raise TypeError("already set a target '%s'" % self._target)
        self._pending = name
        return self

    @property
    def value(self) -> "TxnCompareOp":
        """Compare the value (with a str or bytes)."""
        return self._set_target("value")

    @property
    def version(self) -> "TxnCompareOp":
        """Compare the version (0: the key does not exist)."""
        return self._set_target("version")

    @property
    def create(self) -> "TxnCompareOp":
        """Compare the create revision."""
        return self._set_target("create")

    @property
    def mod(self) -> "TxnCompareOp":
        """Compare the mod revision."""
        return self._set_target("mod")

    @property
    def lease(self) -> "TxnCompareOp":
        """Compare the lease ID (0: no lease; etcd 3.3+)."""
        return self._set_target("lease")

    # -- operators -----------------------------------------------------------------------
    def _compared(self, result: str, operand: Any) -> "TxnCompareOp":
        if self._pending is None or self._target is not None:
            raise TypeError("should specify a target (version, create, mod, value) to compare, "
                            "e.g. txn.key('foo').value == 'bar'")
        target, field, types = self._TARGETS[self._pending]
        if not isinstance(operand, types):
            raise TypeError("expect %s got %s" % ("(str, bytes)" if field == "value" else "int", type(operand)))
        if isinstance(operand, bool):
            operand = int(operand)  # the codec takes no bool for an int64 field
        compared = copy.copy(self)
        compared._target, compared._result = target, result
        compared._field, compared._operand = field, operand
        return compared

    def __eq__(self, other: Any) -> "TxnCompareOp":  # type: ignore[override]
        return self._compared("EQUAL", other)

    def __ne__(self, other: Any) -> "TxnCompareOp":  # type: ignore[override]
        return self._compared("NOT_EQUAL", other)

    def __lt__(self, other: Any) -> "TxnCompareOp":
        return self._compared("LESS", other)

    def __gt__(self, other: Any) -> "TxnCompareOp":
        return self._compared("GREATER", other)

    def __le__(self, other: Any) -> "TxnCompareOp":
        raise NotImplementedError("etcd compares with ==, !=, < and > only")

    def __ge__(self, other: Any) -> "TxnCompareOp":
        raise NotImplementedError("etcd compares with ==, !=, < and > only")

    def to_compare(self) -> Dict[str, Any]:
        """The Compare request dict, e.g. ``{'result': 'EQUAL', 'target': 'VERSION',
        'key': 'foo', 'version': 0}`` (fields that are None left out)."""
        fields = {"result": self._result, "target": self._target, "key": self._key, "range_end": self._range_end}
        if self._field is not None:
            fields[self._field] = self._operand
        return _without_none(fields)

    def __repr__(self) -> str:
        if self._target is None:
            return "<TxnCompareOp key=%r range_end=%r target=%s>" % (self._key, self._range_end, self._pending)
        return "<TxnCompareOp %r>" % (self.to_compare(),)


Compare = TxnCompareOp  # the name this module used before TxnCompareOp


# -------------------------------------------------------------------------------------- the txn

class Txn:
    """A transaction of a client: compares, then the success or the failure ops.

    The lists passed to the constructor are copied (the caller's lists are not
    changed by the builder); their items are checked as ``compare()``,
    ``success()`` and ``failure()`` check them."""

    def __init__(self, client: Any, compare: Optional[Iterable[Any]] = None,
                 success: Optional[Iterable[Any]] = None, failure: Optional[Iterable[Any]] = None) -> None:
        self.client = client
        self._compare: List[Dict[str, Any]] = []
        self._success: List[Dict[str, Any]] = []
        self._failure: List[Dict[str, Any]] = []
        for item in compare or ():
            self.compare(item)
        for op in success or ():
            self.success(op)
        for op in failure or ():
            self.failure(op)

    def __repr__(self) -> str:
        return "<Txn compare=%d success=%d failure=%d>" % (len(self._compare), len(self._success), len(self._failure))

    # -- what the server's version can do --------------------------------------------------
    def _require(self, ok_in_spec: Any, what: str, since: str) -> None:
        """Refuse a 3.3+ feature on a client of an older spec (no client: no check)."""
        if self.client is None:
            return
        if not ok_in_spec(self.client.spec.rpc.spec["definitions"]):
            raise UnsupportedOperation(what, self.client.server_version, since)

    def _check_compare(self, compare: Dict[str, Any]) -> None:
        unknown = set(compare) - _COMPARE_FIELDS
        if unknown:
            raise TypeError("not a compare: %r has no field(s) %s (make one with txn.key(k).value == v)"
                            % (compare, ", ".join(sorted(map(repr, unknown)))))
        if "range_end" in compare:
            self._require(lambda defs: "range_end" in defs["etcdserverpbCompare"]["properties"],
                          "a compare over a key range", "3.3.0")
        target = compare.get("target")
        if getattr(target, "name", target) == "LEASE":
            self._require(lambda defs: "LEASE" in defs["CompareCompareTarget"]["enum"],
                          "a compare on the lease", "3.3.0")

    def _check_op(self, op: Any) -> Dict[str, Any]:
        op = Txn._as_op(op)
        if "request_txn" in op:
            self._require(lambda defs: "request_txn" in defs["etcdserverpbRequestOp"]["properties"],
                          "a nested txn", "3.3.0")
        return op

    @staticmethod
    def _as_op(op: Any) -> Dict[str, Any]:
        if isinstance(op, Txn):
            return Txn.txn(op._compare, op._success, op._failure)
        if not isinstance(op, dict) or len(op) != 1 or next(iter(op)) not in _OP_KINDS:
            raise TypeError("not a txn op: %r (make ops with Txn.put/range/delete/txn)" % (op,))
        return op

    @staticmethod
    def _as_compare(compare: Any) -> Dict[str, Any]:
        if isinstance(compare, TxnCompareOp):
            return compare.to_compare()
        if not isinstance(compare, dict):
            raise TypeError("not a compare: %r (make one with txn.key(k).value == v)" % (compare,))
        return compare

    # -- builders (static: they need no client) ----------------------------------------------
    @staticmethod
    def key(key: Any = None, range_end: Any = None, prefix: Optional[bool] = None,
            all: Optional[bool] = None) -> TxnCompareOp:
        """The compare targets of a key, a range, a prefix or every key (ranges: etcd 3.3+)."""
        key, range_end = _key_range("key", key, range_end, prefix, all)
        return TxnCompareOp(key, range_end=range_end)

    @staticmethod
    def range(key: Any = None, range_end: Any = None, limit: int = 0, revision: Optional[int] = None,
              serializable: bool = False, keys_only: bool = False, count_only: bool = False,
              min_mod_revision: Optional[int] = None, max_mod_revision: Optional[int] = None,
              min_create_revision: Optional[int] = None, max_create_revision: Optional[int] = None,
              sort_order: Any = RangeRequestSortOrder.NONE, sort_target: Any = RangeRequestSortTarget.KEY,
              prefix: Optional[bool] = None, all: Optional[bool] = None) -> Dict[str, Any]:
        """A range op: ``{'request_range': {...}}``."""
        key, range_end = _key_range("range", key, range_end, prefix, all)
        return {"request_range": _without_none({
            "key": key, "range_end": range_end, "limit": limit, "revision": revision,
            "sort_order": sort_order, "sort_target": sort_target, "serializable": serializable,
            "keys_only": keys_only, "count_only": count_only,
            "min_mod_revision": min_mod_revision, "max_mod_revision": max_mod_revision,
            "min_create_revision": min_create_revision, "max_create_revision": max_create_revision})}

    @staticmethod
    def put(key: Any, value: Any, lease: int = 0, prev_kv: bool = False, ignore_value: bool = False,
            ignore_lease: bool = False) -> Dict[str, Any]:
        """A put op: ``{'request_put': {...}}`` (``value=None`` with ``ignore_value=True``)."""
        return {"request_put": _without_none({
            "key": key, "value": value, "lease": lease, "prev_kv": prev_kv,
            "ignore_value": ignore_value, "ignore_lease": ignore_lease})}

    @staticmethod
    def delete(key: Any = None, range_end: Any = None, prev_kv: bool = False, prefix: Optional[bool] = None,
               all: Optional[bool] = None) -> Dict[str, Any]:
        """A delete op: ``{'request_delete_range': {...}}``."""
        key, range_end = _key_range("delete", key, range_end, prefix, all)
        return {"request_delete_range": _without_none({"key": key, "range_end": range_end, "prev_kv": prev_kv})}

    @staticmethod
    def txn(compare: Iterable[Any] = (), success: Iterable[Any] = (), failure: Iterable[Any] = ()) -> Dict[str, Any]:
        """A nested transaction op (etcd 3.3+); a Txn object works as an op too."""
        return {"request_txn": {"compare": [Txn._as_compare(c) for c in compare],
                                "success": [Txn._as_op(o) for o in success],
                                "failure": [Txn._as_op(o) for o in failure]}}

    # -- building the transaction ------------------------------------------------------------
    def compare(self, op: Any) -> "Txn":
        """Add a compare (``txn.key(k).value == v`` or a Compare dict, kept as it is);
        all must hold for success."""
        compare = self._as_compare(op)
        self._check_compare(compare)
        self._compare.append(compare)
        return self

    def success(self, op: Any) -> "Txn":
        """Add an op to run when every compare holds."""
        self._success.append(self._check_op(op))
        return self

    def failure(self, op: Any) -> "Txn":
        """Add an op to run when a compare fails."""
        self._failure.append(self._check_op(op))
        return self

    If, Then, Else = compare, success, failure

    def clear(self) -> "Txn":
        """Remove every compare and op."""
        self._compare, self._success, self._failure = [], [], []
        return self

    def clone(self) -> "Txn":
        """A new Txn on the same client with shallow copies of the three lists."""
        twin = Txn(self.client)
        twin._compare, twin._success, twin._failure = list(self._compare), list(self._success), list(self._failure)
        return twin

    __copy__ = clone

    def __deepcopy__(self, memo: Dict[int, Any]) -> "Txn":
        # the client is shared, never copied (it holds connections)
        twin = Txn(self.client)
        twin._compare = copy.deepcopy(self._compare, memo)
        twin._success = copy.deepcopy(self._success, memo)
        twin._failure = copy.deepcopy(self._failure, memo)
        return twin

    def commit(self) -> Any:
        """Send the transaction; returns the TxnResponse (an awaitable with AioClient).
        A Txn can be committed again: it keeps no committed state."""
        if self.client is None:
            raise TypeError("this Txn has no client to commit with: make it with client.Txn() or Txn(client)")
        return self.client.txn(compare=self._compare, success=self._success, failure=self._failure)
