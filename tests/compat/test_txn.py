"""``Txn`` and ``TxnCompareOp`` as etcd3-py 0.1.6 had them (ORIGINAL_API.md 6.1).

Against real servers, with Client and AioClient: the constructor and its lists,
If/Then/Else chains, raw compare and op dicts, clear, clone and copy.copy,
repeated commits, the static builders used without a client and committed by
either client, every compare target in a compare-and-swap that holds and one
that does not.  Without a server: TxnCompareOp's rules and errors, the builders'
signatures, dicts and range sugar.
"""
from __future__ import annotations

import copy
import inspect

import pytest

from etcd3 import errors
from etcd3.models import (CompareCompareResult, CompareCompareTarget, RangeRequestSortOrder,  # type: ignore
                          RangeRequestSortTarget)
from etcd3.stateful.transaction import Txn, TxnCompareOp


def real(obj):
    """The object itself (with AioClient, the tests see it through a facade)."""
    return obj.aio if type(obj).__name__ == "Facade" else obj


def shown_as(client, obj):
    """``obj`` (a Txn of the real client) seen the way the ``client`` fixture shows
    things: through the facade for AioClient, so commit() is awaited."""
    if type(client).__name__ == "Facade":
        from aio_facade import Facade

        return Facade(obj, client._loop)
    return obj


def value_of(client, key):
    kvs = client.range(key).kvs
    return kvs[0].value if kvs else None


# =========================================================================== no server: TxnCompareOp

def test_compare_op_key_must_be_str_or_bytes():
    assert TxnCompareOp("k").to_compare() == {"key": "k"}
    assert TxnCompareOp(b"k", range_end=b"l").to_compare() == {"key": b"k", "range_end": b"l"}
    for bad in (1, None, 1.5, ["k"], bytearray(b"k")):
        with pytest.raises(TypeError) as info:
            TxnCompareOp(bad)
        assert str(info.value) == "parameter 'key' expects (str, bytes) got '%s'" % type(bad)
    with pytest.raises(TypeError) as info:
        Txn.key(1)
    assert str(info.value) == "parameter 'key' expects (str, bytes) got '<class 'int'>'"


def test_compare_op_targets_set_a_pending_target_on_the_same_object():
    op = Txn.key("foo")
    assert isinstance(op, TxnCompareOp)
    for name in ("value", "version", "create", "mod", "lease"):
        assert getattr(op, name) is op
    # the last target accessed wins
    assert (op.value.version == 3).to_compare() == {"result": "EQUAL", "target": "VERSION", "key": "foo", "version": 3}
    assert (op.version.value == "v").to_compare()["target"] == "VALUE"


@pytest.mark.parametrize("target, field, operand", [
    ("value", "value", "bar"), ("value", "value", b"\x00\xff"), ("version", "version", 0),
    ("create", "create_revision", 5), ("mod", "mod_revision", 7), ("lease", "lease", 1234),
])
@pytest.mark.parametrize("operator, result", [
    ("==", "EQUAL"), ("!=", "NOT_EQUAL"), ("<", "LESS"), (">", "GREATER"),
])
def test_compare_op_operators_make_the_compare(target, field, operand, operator, result):
    op = getattr(Txn.key("foo"), target)
    compared = {"==": op.__eq__, "!=": op.__ne__, "<": op.__lt__, ">": op.__gt__}[operator](operand)
    assert isinstance(compared, TxnCompareOp) and compared is not op
    assert compared.to_compare() == {"result": result, "target": target.upper(), "key": "foo", field: operand}
    # the original op is untouched and reusable
    assert op.to_compare() == {"key": "foo"}
    assert (op == operand).to_compare()["result"] == "EQUAL"
    assert bool(compared) is True


def test_compare_op_literal_operators():
    op = Txn.key("foo")
    assert (op.version == 0).to_compare() == {"result": "EQUAL", "target": "VERSION", "key": "foo", "version": 0}
    assert (op.create != 1).to_compare()["result"] == "NOT_EQUAL"
    assert (op.mod < 2).to_compare()["result"] == "LESS"
    assert (op.lease > 3).to_compare()["result"] == "GREATER"
    assert (op.value == b"x").to_compare()["value"] == b"x"
    # a reflected comparison reaches the op too
    assert (0 == op.version).to_compare()["result"] == "EQUAL"


def test_compare_op_le_ge_are_not_implemented():
    op = Txn.key("foo").version
    with pytest.raises(NotImplementedError):
        op >= 1
    with pytest.raises(NotImplementedError):
        op <= 1


def test_compare_op_needs_a_target():
    message = ("should specify a target (version, create, mod, value) to compare, "
               "e.g. txn.key('foo').value == 'bar'")
    for compare in (lambda op: op == "bar", lambda op: op != 1, lambda op: op < 1, lambda op: op > 1):
        with pytest.raises(TypeError) as info:
            compare(Txn.key("foo"))
        assert str(info.value) == message


def test_compare_op_operand_types():
    with pytest.raises(TypeError) as info:
        Txn.key("foo").value == 1
    assert str(info.value).startswith("expect (str, bytes) got")
    for target in ("version", "create", "mod", "lease"):
        for bad in ("1", b"1", 1.0, None):
            with pytest.raises(TypeError) as info:
                getattr(Txn.key("foo"), target) == bad
            assert str(info.value).startswith("expect int got")
    # bool is an int
    assert (Txn.key("foo").version == True).to_compare()["version"] == 1  # noqa: E712
    assert (Txn.key("foo").lease == False).to_compare()["lease"] == 0  # noqa: E712


def test_compare_op_target_after_a_comparison_is_refused():
    compared = Txn.key("foo").value == "bar"
    for name in ("value", "version", "create", "mod", "lease"):
        with pytest.raises(TypeError) as info:
            getattr(compared, name)
        assert str(info.value) == "already set a target 'VALUE'"
    with pytest.raises(TypeError) as info:
        (Txn.key("foo").mod > 1).version
    assert str(info.value) == "already set a target 'MOD'"


def test_compare_op_is_unhashable():
    with pytest.raises(TypeError):
        hash(Txn.key("foo"))
    with pytest.raises(TypeError):
        hash(Txn.key("foo").version == 0)
    with pytest.raises(TypeError):
        {Txn.key("foo")}


def test_compare_op_shallow_copy_keeps_key_and_range():
    op = Txn.key("a", prefix=True)
    compared = op.version > 0
    assert compared.to_compare() == {"result": "GREATER", "target": "VERSION", "key": "a", "range_end": b"b",
                                     "version": 0}
    assert "range_end" not in (Txn.key("a").version > 0).to_compare()


# =========================================================================== no server: builders

def test_builders_signatures_are_0_1_6s():
    def params(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    empty = inspect.Parameter.empty
    assert params(Txn.__init__) == [("self", empty), ("client", empty), ("compare", None), ("success", None),
                                    ("failure", None)]
    assert params(Txn.key) == [("key", None), ("range_end", None), ("prefix", None), ("all", None)]
    assert params(Txn.range) == [
        ("key", None), ("range_end", None), ("limit", 0), ("revision", None), ("serializable", False),
        ("keys_only", False), ("count_only", False), ("min_mod_revision", None), ("max_mod_revision", None),
        ("min_create_revision", None), ("max_create_revision", None),
        ("sort_order", RangeRequestSortOrder.NONE), ("sort_target", RangeRequestSortTarget.KEY),
        ("prefix", None), ("all", None)]
    assert params(Txn.put) == [("key", empty), ("value", empty), ("lease", 0), ("prev_kv", False),
                               ("ignore_value", False), ("ignore_lease", False)]
    assert params(Txn.delete) == [("key", None), ("range_end", None), ("prev_kv", False), ("prefix", None),
                                  ("all", None)]
    assert Txn.If is Txn.compare and Txn.Then is Txn.success and Txn.Else is Txn.failure


def test_builders_make_plain_op_dicts():
    assert Txn.put("k", "v") == {"request_put": {"key": "k", "value": "v", "lease": 0, "prev_kv": False,
                                                 "ignore_value": False, "ignore_lease": False}}
    assert Txn.put(b"k", None, ignore_value=True) == {"request_put": {
        "key": b"k", "lease": 0, "prev_kv": False, "ignore_value": True, "ignore_lease": False}}
    assert Txn.delete("k") == {"request_delete_range": {"key": "k", "prev_kv": False}}
    assert Txn.delete("k", "l", True) == {"request_delete_range": {"key": "k", "range_end": "l", "prev_kv": True}}
    assert Txn.range("k") == {"request_range": {
        "key": "k", "limit": 0, "sort_order": RangeRequestSortOrder.NONE, "sort_target": RangeRequestSortTarget.KEY,
        "serializable": False, "keys_only": False, "count_only": False}}
    request = Txn.range("k", revision=3, min_mod_revision=1, max_create_revision=9)["request_range"]
    assert (request["revision"], request["min_mod_revision"], request["max_create_revision"]) == (3, 1, 9)
    assert "max_mod_revision" not in request and "min_create_revision" not in request


def test_builders_range_sugar():
    assert Txn.range("foo", prefix=True)["request_range"]["range_end"] == b"fop"
    assert Txn.delete(b"a\x01", prefix=True)["request_delete_range"]["range_end"] == b"a\x02"
    everything = Txn.range(all=True)["request_range"]
    assert (everything["key"], everything["range_end"]) == (b"\0", b"\0")
    assert Txn.delete(all=True)["request_delete_range"]["key"] == b"\0"
    assert Txn.key(all=True).to_compare() == {"key": b"\0", "range_end": b"\0"}
    assert Txn.key("foo", prefix=True).to_compare()["range_end"] == b"fop"
    assert Txn.key("a", "c").to_compare() == {"key": "a", "range_end": "c"}
    # prefix=False / all=False: no sugar (they count for the checks below, as in 0.1.6)
    assert "range_end" not in Txn.range("foo", prefix=False)["request_range"]
    assert "key" not in Txn.range(all=False)["request_range"]


@pytest.mark.parametrize("builder", ["key", "range", "delete"])
def test_builders_range_checks(builder):
    build = getattr(Txn, builder)
    with pytest.raises(TypeError) as info:
        build()
    assert str(info.value) == "%s() requires at least one argument of key,all" % builder
    with pytest.raises(TypeError):
        build(None)
    for kwargs in ({"range_end": "b", "prefix": True}, {"prefix": True, "all": True},
                   {"range_end": "b", "all": True}, {"range_end": "b", "prefix": False}):
        with pytest.raises(TypeError) as info:
            build("a", **kwargs)
        assert str(info.value) == "%s() requires at most one of param range_end or prefix or all" % builder


def test_builders_on_the_instance_are_the_same():
    t = Txn(None)
    assert t.put("k", "v") == Txn.put("k", "v")
    assert t.range("k", prefix=True) == Txn.range("k", prefix=True)
    assert t.delete("k") == Txn.delete("k")
    assert (t.key("k").value == "v").to_compare() == (Txn.key("k").value == "v").to_compare()


def test_constructor_copies_and_checks_the_lists():
    compares, successes, failures = [Txn.key("a").version == 0], [Txn.put("a", "1")], [Txn.range("a")]
    t = Txn(None, compares, successes, failures)
    assert t._compare == [{"result": "EQUAL", "target": "VERSION", "key": "a", "version": 0}]
    assert t._success == successes and t._success is not successes and t._success[0] is successes[0]
    assert t._failure == failures and t._failure is not failures
    t.success(Txn.put("b", "2"))
    assert len(successes) == 1  # the caller's list is not changed
    with pytest.raises(TypeError):
        Txn(None, success=["not an op"])
    with pytest.raises(TypeError):
        Txn(None, compare=[Txn.put("a", "b")])
    empty = Txn(None)
    assert (empty.client, empty._compare, empty._success, empty._failure) == (None, [], [], [])
    with pytest.raises(TypeError):
        empty.commit()  # no client to commit with


def test_raw_dicts_are_kept_as_they_are():
    raw_compare = {"key": "k", "target": CompareCompareTarget.VALUE, "result": "EQUAL", "value": "v"}
    raw_op = {"request_put": {"key": "k", "value": "w"}}
    t = Txn(None).If(raw_compare).Then(raw_op).Else(raw_op)
    assert t._compare[0] is raw_compare and t._success[0] is raw_op and t._failure[0] is raw_op


# =========================================================================== real servers

def test_factory_and_attributes(client):
    t = client.Txn()
    assert isinstance(real(t), Txn)
    assert real(t.client) is real(client)
    assert (t._compare, t._success, t._failure) == ([], [], [])


def test_cas_that_holds_and_one_that_does_not(client):
    client.put("cas/k", "old")
    t = client.Txn()
    chained = t.If(t.key("cas/k").value == "old").Then(t.put("cas/k", "new", prev_kv=True)).Else(t.range("cas/k"))
    assert real(chained) is real(t)
    resp = t.commit()
    assert resp.succeeded is True
    assert resp.responses[0].response_put.prev_kv.value == b"old"
    assert value_of(client, "cas/k") == b"new"
    # the very same txn again: the value is no longer "old", the failure branch answers
    resp = t.commit()
    assert resp.succeeded is False
    assert [kv.value for kv in resp.responses[0].response_range.kvs] == [b"new"]
    assert value_of(client, "cas/k") == b"new"


def _a_key_with_distinct_revisions(client, key, lease=0):
    """Write ``key`` twice around another key: its create, mod and version differ."""
    client.put(key, "first")
    client.put(key + "-other", "x")
    client.put(key, "second", lease=lease)
    return client.range(key).kvs[0]


@pytest.mark.parametrize("target, field", [
    ("value", "value"), ("version", "version"), ("create", "create_revision"),
    ("mod", "mod_revision"), ("lease", "lease"),
])
def test_each_compare_target_in_a_cas(client, target, field):
    lease = client.lease_grant(60).ID if target == "lease" else 0
    kv = _a_key_with_distinct_revisions(client, "tg/k", lease)
    actual = getattr(kv, field)
    assert actual == {"value": b"second", "version": 2, "lease": lease}.get(target, actual)
    other = b"third" if target == "value" else actual + 1
    for operand, holds in ((actual, True), (other, False)):
        t = client.Txn()
        t.If(getattr(t.key("tg/k"), target) == operand).Then(t.put("tg/out", "then")).Else(t.put("tg/out", "else"))
        assert t.commit().succeeded is holds, (target, operand)
        assert value_of(client, "tg/out") == (b"then" if holds else b"else")
    # the other operators on the same target, through the class-level builder
    t = client.Txn()
    t.If(getattr(Txn.key("tg/k"), target) != other)
    t.If(getattr(Txn.key("tg/k"), target) < other)
    assert t.commit().succeeded is True
    t = client.Txn()
    t.If(getattr(Txn.key("tg/k"), target) > other)
    assert t.commit().succeeded is False


def test_bool_operand_compares_as_int(client):
    client.put("bo/k", "v")  # version 1
    t = client.Txn()
    t.If(t.key("bo/k").version == True)  # noqa: E712
    assert t.commit().succeeded is True
    t = client.Txn()
    t.If(t.key("bo/missing").version == False)  # noqa: E712
    assert t.commit().succeeded is True


def test_class_level_builders_committed_through_the_client(client):
    client.put("cl/del", "x")
    client.put("cl/range/a", "A")
    client.put("cl/range/b", "B")
    compares = [Txn.key("cl/del").version > 0, Txn.key("cl/new").create == 0]
    successes = [Txn.put("cl/new", "h\u00e9llo"), Txn.put(b"cl/bin", b"\x00\xff", prev_kv=True),
                 Txn.delete("cl/del", prev_kv=True),
                 Txn.range("cl/range/", prefix=True, sort_order=RangeRequestSortOrder.DESCEND),
                 Txn.range("cl/range/", prefix=True, sort_order="ASCEND", sort_target="VALUE", keys_only=True),
                 Txn.range(all=True, count_only=True)]
    t = shown_as(client, Txn(real(client), compares, successes, [Txn.put("cl/failed", "1")]))
    resp = t.commit()
    assert resp.succeeded is True
    put, put_bin, dele, descending, keys, count = resp.responses
    assert put.response_put is not None and put_bin.response_put.prev_kv is None
    assert [kv.value for kv in dele.response_delete_range.prev_kvs] == [b"x"]
    assert [kv.key for kv in descending.response_range.kvs] == [b"cl/range/b", b"cl/range/a"]
    assert [(kv.key, kv.value) for kv in keys.response_range.kvs] == [(b"cl/range/a", None), (b"cl/range/b", None)]
    assert count.response_range.count == 4 and count.response_range.kvs is None
    assert value_of(client, "cl/new") == "h\u00e9llo".encode("utf-8")
    assert value_of(client, b"cl/bin") == b"\x00\xff"
    assert value_of(client, "cl/del") is None and value_of(client, "cl/failed") is None
    # the same ops straight to client.txn: the compares as to_compare() dicts
    resp = client.txn(compare=[c.to_compare() for c in compares], success=[Txn.put("cl/again", "1")],
                      failure=[Txn.put("cl/failed", "2")])
    assert resp.succeeded is False  # cl/del is gone
    assert value_of(client, "cl/failed") == b"2"


def test_class_level_nested_txn(client):
    inner = Txn.txn([Txn.key("nt/flag").value == "on"], [Txn.put("nt/out", "on")], [Txn.put("nt/out", "off")])
    t = client.Txn()
    t.If(Txn.key("nt/guard").version == 0).Then(inner)
    resp = t.commit()
    assert resp.succeeded is True and resp.responses[0].response_txn.succeeded is False
    assert value_of(client, "nt/out") == b"off"
    client.put("nt/flag", "on")
    assert t.commit().responses[0].response_txn.succeeded is True
    assert value_of(client, "nt/out") == b"on"


def test_raw_compare_and_op_dicts_commit(client):
    client.put("raw/k", "v")
    raw_compare = {"key": "raw/k", "target": CompareCompareTarget.VALUE, "result": CompareCompareResult.EQUAL,
                   "value": "v"}
    raw_op = {"request_put": {"key": "raw/out", "value": "yes"}}
    t = client.Txn().If(raw_compare).Then(raw_op)
    assert t._compare[0] is raw_compare and t._success[0] is raw_op
    assert t.commit().succeeded is True
    assert value_of(client, "raw/out") == b"yes"
    # a compare dict without target is etcd's default: VERSION, EQUAL (0 here: no such key)
    t = client.Txn().If({"key": "raw/missing"}).Then(raw_op)
    assert t.commit().succeeded is True
    assert client.Txn().If({"key": "raw/k"}).commit().succeeded is False


def test_range_sugar_on_the_server(client):
    for key in ("rs/a", "rs/b", "rt"):
        client.put(key, key)
    t = client.Txn()
    t.If(t.key("rs/", prefix=True).version == 1).If(t.key(all=True).version > 0)
    t.Then(t.range("rs/", prefix=True)).Then(t.delete("rs/", prefix=True)).Then(t.range(all=True))
    resp = t.commit()
    assert resp.succeeded is True
    ranged, deleted, everything = resp.responses
    assert [kv.key for kv in ranged.response_range.kvs] == [b"rs/a", b"rs/b"]
    assert deleted.response_delete_range.deleted == 2
    assert [kv.key for kv in everything.response_range.kvs] == [b"rt"]
    # all=False passes the checks and sends no key, as in 0.1.6: the server refuses it
    t = client.Txn().Then(Txn.range(all=False))
    with pytest.raises(errors.ErrEmptyKey):
        t.commit()


def test_clear_then_reuse(client):
    t = client.Txn()
    t.If(t.key("clr/k").version > 0).Then(t.put("clr/s", "1")).Else(t.put("clr/f", "1"))
    assert real(t.clear()) is real(t)
    assert (t._compare, t._success, t._failure) == ([], [], [])
    resp = t.commit()
    assert resp.succeeded is True and resp.responses is None
    assert client.range("clr/", prefix=True).count == 0


def test_clone_and_copy_are_independent(client):
    client.put("cp/k", "v")
    t = client.Txn()
    t.If(t.key("cp/k").value == "v").Then(t.put("cp/from-original", "1"))
    for twin in (t.clone(), shown_as(client, copy.copy(real(t)))):
        assert type(real(twin)) is Txn and real(twin) is not real(t)
        assert real(twin.client) is real(client)
        for name in ("_compare", "_success", "_failure"):
            mine, theirs = getattr(real(t), name), getattr(real(twin), name)
            assert mine == theirs and mine is not theirs  # shallow copies of the lists
            assert all(a is b for a, b in zip(mine, theirs))
    twin = t.clone()
    twin.Then(twin.put("cp/from-clone", "2")).Else(twin.put("cp/clone-failed", "3"))
    twin._compare[0] = (Txn.key("cp/k").value == "other").to_compare()
    assert len(t._success) == 1 and t._failure == []
    resp = t.commit()
    assert resp.succeeded is True and len(resp.responses) == 1
    assert value_of(client, "cp/from-clone") is None
    resp = twin.commit()
    assert resp.succeeded is False and len(resp.responses) == 1
    assert value_of(client, "cp/clone-failed") == b"3"
    # deepcopy: the client is shared, the request dicts are not
    deep = copy.deepcopy(real(t))
    assert deep.client is real(client) and deep._success[0] is not real(t)._success[0]
    assert deep._success == real(t)._success


def test_commit_twice(client):
    t = client.Txn()
    t.If(t.key("twice/k").version == 0).Then(t.put("twice/k", "1")).Else(t.delete("twice/k"))
    first, second, third = t.commit(), t.commit(), t.commit()
    assert (first.succeeded, second.succeeded, third.succeeded) == (True, False, True)
    assert second.responses[0].response_delete_range.deleted == 1
    assert first.header.revision < second.header.revision < third.header.revision
    assert value_of(client, "twice/k") == b"1"


def test_commit_returns_an_awaitable_on_aio_client(client):
    t = real(client.Txn())
    pending = t.commit()
    if type(client).__name__ == "Facade":
        assert inspect.isawaitable(pending)
        resp = client._loop.run(pending)
    else:
        assert not inspect.isawaitable(pending)
        resp = pending
    assert resp.succeeded is True
