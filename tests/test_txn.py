"""The Txn builder against real servers: every compare target with every operator,
both branches with their typed responses, delete/range options, nested
transactions, range compares, clone/clear and the errors of bad ops.

Compares on the lease, over a key range, and nested txns are etcd 3.3+ (every
version of the matrix); on an older spec the Txn refuses them (in compare(),
success() and failure(): the builders are static) with UnsupportedOperation,
shown with a client pinned to the bundled 3.2 spec.
"""
from __future__ import annotations

import pytest

from etcd3 import errors
from etcd3.spec import parse_version
from etcd3.stateful.transaction import Compare


def at_least(client, wanted):
    return parse_version(client.server_version) >= parse_version(wanted)


def real(obj):
    """The object itself (with AioClient, the tests see it through a facade)."""
    return obj.aio if type(obj).__name__ == "Facade" else obj


# --------------------------------------------------------------------------- compares

OPERATORS = {
    "==": lambda target, x: target == x,
    "!=": lambda target, x: target != x,
    "<": lambda target, x: target < x,
    ">": lambda target, x: target > x,
}

# for each operator: (offset to compare with, expected outcome); the offset is added to
# the actual value of the target (ints), or picks a value around the actual one (bytes)
CASES = {
    "==": [(0, True), (-1, False), (1, False)],
    "!=": [(1, True), (-1, True), (0, False)],
    "<": [(1, True), (0, False), (-1, False)],
    ">": [(-1, True), (0, False), (1, False)],
}

VALUES = {-1: b"m", 0: b"n", 1: b"o"}  # the key holds b"n"


def _target_value(client, target):
    """Make the key 'cmp/k' and return the actual value of ``target`` for it."""
    lease = client.lease_grant(60).ID if target == "lease" else None
    client.put("cmp/other", "x")  # revisions: create != mod != version
    client.put("cmp/k", "first")
    client.put("cmp/other", "y")
    resp = client.put("cmp/k", "n", lease=lease, prev_kv=True)
    kv = client.range("cmp/k").kvs[0]
    assert kv.version == 2 and kv.create_revision == resp.prev_kv.create_revision
    assert kv.mod_revision == resp.header.revision and kv.mod_revision > kv.create_revision
    return {"value": kv.value, "version": kv.version, "create": kv.create_revision,
            "mod": kv.mod_revision, "lease": kv.lease}[target]


@pytest.mark.parametrize("op", list(OPERATORS))
@pytest.mark.parametrize("target", ["value", "version", "create", "mod", "lease"])
def test_compare_target_operator(client, target, op):
    if target == "lease" and not at_least(client, "3.3"):
        pytest.skip("a compare on the lease is etcd 3.3+")
    actual = _target_value(client, target)
    if target == "lease":
        assert actual > 0
    for offset, expected in CASES[op]:
        other = VALUES[offset] if target == "value" else actual + offset
        t = client.Txn()
        compare = OPERATORS[op](getattr(t.key("cmp/k"), target), other)
        assert isinstance(compare, Compare)
        t.compare(compare)
        t.success(t.put("cmp/result", "success-%s" % offset, prev_kv=True))
        t.failure(t.range("cmp/k"))
        resp = t.commit()
        assert resp.succeeded is expected, (target, op, actual, other)
        assert len(resp.responses) == 1
        if expected:
            put = resp.responses[0].response_put
            assert put is not None and resp.responses[0].response_range is None
            assert put.header.revision == resp.header.revision
            assert client.range("cmp/result").kvs[0].value == b"success-%d" % offset
        else:
            rng = resp.responses[0].response_range
            assert rng is not None and resp.responses[0].response_put is None
            assert [kv.value for kv in rng.kvs] == [b"n"]
            assert rng.count == 1


def test_compare_on_a_missing_key(client):
    for target, holds in (("version", True), ("create", True), ("mod", True)):
        t = client.Txn()
        t.compare(getattr(t.key("cmp/missing"), target) == 0)
        assert t.commit().succeeded is holds, target
    # a value compare never holds on a missing key
    t = client.Txn()
    t.compare(t.key("cmp/missing").value == "")
    assert t.commit().succeeded is False
    t = client.Txn()
    t.compare(t.key("cmp/missing").value != "x")
    assert t.commit().succeeded is False


def test_every_compare_must_hold(client):
    client.put("all/a", "1")
    client.put("all/b", "2")
    t = client.Txn()
    t.compare(t.key("all/a").value == "1")
    t.compare(t.key("all/b").value == "2")
    t.success(t.put("all/ok", "yes"))
    assert t.commit().succeeded
    t = client.Txn()
    t.compare(t.key("all/a").value == "1")
    t.compare(t.key("all/b").value == "3")
    t.success(t.put("all/ok", "again"))
    t.failure(t.put("all/failed", "yes"))
    resp = t.commit()
    assert not resp.succeeded
    assert resp.responses[0].response_put is not None
    assert client.range("all/ok").kvs[0].value == b"yes"
    assert client.range("all/failed").kvs[0].value == b"yes"


def test_compare_with_bytes_and_str(client):
    client.put(b"bin/\xff", b"\x00\xfe")
    t = client.Txn()
    t.compare(t.key(b"bin/\xff").value == b"\x00\xfe")
    assert t.commit().succeeded
    client.put("uni/k", "h\u00e9llo")
    t = client.Txn()
    t.compare(t.key("uni/k").value == "h\u00e9llo")
    t.compare(t.key("uni/k").value == "h\u00e9llo".encode())
    assert t.commit().succeeded


# --------------------------------------------------------------------------- branches

def test_success_and_failure_branches_typed(client):
    client.put("br/a", "1")
    client.put("br/b", "2")
    t = client.Txn()
    t.compare(t.key("br/a").value == "1")
    t.success(t.range("br/", prefix=True))
    t.success(t.put("br/c", "3", prev_kv=True))
    t.success(t.put("br/a", "10", prev_kv=True))
    t.success(t.delete("br/b", prev_kv=True))
    t.failure(t.put("br/failed", "x"))
    resp = t.commit()
    assert resp.succeeded is True
    assert len(resp.responses) == 4
    rng, put_new, put_old, dele = resp.responses
    assert [kv.key for kv in rng.response_range.kvs] == [b"br/a", b"br/b"]
    assert rng.response_put is None and rng.response_delete_range is None
    assert put_new.response_put.prev_kv is None  # a new key has no previous version
    assert put_old.response_put.prev_kv.value == b"1"
    assert dele.response_delete_range.deleted == 1
    assert [kv.value for kv in dele.response_delete_range.prev_kvs] == [b"2"]
    # one revision for the whole transaction
    assert client.range("br/c").kvs[0].mod_revision == resp.header.revision
    assert client.range("br/a").kvs[0].mod_revision == resp.header.revision
    assert client.range("br/b").count == 0
    assert client.range("br/failed").count == 0


def test_failure_branch_only(client):
    t = client.Txn()
    t.compare(t.key("fb/nothing").version > 0)
    t.success(t.put("fb/success", "x"))
    t.failure(t.put("fb/failure", "y"))
    t.failure(t.range("fb/failure"))
    resp = t.commit()
    assert resp.succeeded is False
    put, rng = resp.responses
    assert put.response_put is not None
    assert [kv.value for kv in rng.response_range.kvs] == [b"y"]  # sees the put before it
    assert client.range("fb/success").count == 0


def test_empty_branches(client):
    t = client.Txn()
    t.compare(t.key("eb/k").version == 0)
    resp = t.commit()
    assert resp.succeeded is True and resp.responses is None  # null rule: an absent list is None
    assert client.Txn().commit().succeeded is True  # no compare: success


def test_delete_prefix_with_prev_kv(client):
    for i in range(3):
        client.put("del/%d" % i, "v%d" % i)
    client.put("dek", "outside")
    t = client.Txn()
    t.success(t.delete("del/", prefix=True, prev_kv=True))
    resp = t.commit()
    dele = resp.responses[0].response_delete_range
    assert dele.deleted == 3
    assert sorted((kv.key, kv.value) for kv in dele.prev_kvs) == [
        (b"del/0", b"v0"), (b"del/1", b"v1"), (b"del/2", b"v2")]
    assert client.range("del/", prefix=True).count == 0
    assert client.range("dek").count == 1


def test_delete_without_prev_kv_and_range_end(client):
    for k in "abcd":
        client.put("dr/" + k, k)
    t = client.Txn()
    t.success(t.delete("dr/a", range_end="dr/c"))
    dele = t.commit().responses[0].response_delete_range
    assert dele.deleted == 2 and dele.prev_kvs is None
    assert [kv.key for kv in client.range("dr/", prefix=True).kvs] == [b"dr/c", b"dr/d"]


def test_range_with_prefix_and_options(client):
    for k in ("rp/a", "rp/b", "rp/c", "rq/z"):
        client.put(k, k.upper())
    t = client.Txn()
    t.success(t.range("rp/", prefix=True))
    t.success(t.range("rp/", prefix=True, count_only=True))
    t.success(t.range("rp/", prefix=True, limit=2, sort_order="DESCEND", sort_target="KEY"))
    t.success(t.range("rp/", prefix=True, keys_only=True))
    t.success(t.range(all=True, count_only=True))
    full, counted, limited, keys, everything = (r.response_range for r in t.commit().responses)
    assert [kv.key for kv in full.kvs] == [b"rp/a", b"rp/b", b"rp/c"]
    assert [kv.value for kv in full.kvs] == [b"RP/A", b"RP/B", b"RP/C"]
    assert counted.count == 3 and counted.kvs is None
    assert [kv.key for kv in limited.kvs] == [b"rp/c", b"rp/b"] and limited.more is True
    assert [kv.value for kv in keys.kvs] == [None, None, None]  # null rule: absent bytes are None
    assert everything.count == 4


def test_put_with_lease_in_txn(client):
    lease = client.lease_grant(60).ID
    t = client.Txn()
    t.success(t.put("pl/k", "v", lease=lease))
    assert t.commit().succeeded
    assert client.range("pl/k").kvs[0].lease == lease
    assert client.lease_time_to_live(lease, keys=True).keys == [b"pl/k"]
    # ignore_value keeps the value, ignore_lease the lease
    t = client.Txn()
    t.success(t.put("pl/k", None, ignore_value=True, ignore_lease=True))  # value is required, as in 0.1.6
    t.commit()
    kv = client.range("pl/k").kvs[0]
    assert (kv.value, kv.lease) == (b"v", lease)
    client.lease_revoke(lease)
    assert client.range("pl/k").count == 0


def test_compare_and_swap_loop_is_atomic(client):
    """Many txns racing on one counter: each compare on mod revision lets only
    one writer of a revision win."""
    client.put("cas/n", "0")
    wins = 0
    for _ in range(20):
        kv = client.range("cas/n").kvs[0]
        stale = client.Txn()
        stale.compare(stale.key("cas/n").mod == kv.mod_revision)
        stale.success(stale.put("cas/n", str(int(kv.value) + 1)))
        fresh = stale.clone()
        assert fresh.commit().succeeded
        assert not stale.commit().succeeded  # same compare, now outdated
        wins += 1
    assert client.range("cas/n").kvs[0].value == b"%d" % wins


# --------------------------------------------------------------------------- nested / range compares (3.3+)

def test_nested_txn(client):
    if not at_least(client, "3.3"):
        t = client.Txn()
        with pytest.raises(errors.UnsupportedOperation):
            t.success(t.txn())
        return
    client.put("nest/a", "1")
    t = client.Txn()
    t.compare(t.key("nest/a").value == "1")
    t.success(t.txn(compare=[t.key("nest/b").version == 0],
                    success=[t.put("nest/b", "inner-success"), t.range("nest/a")],
                    failure=[t.put("nest/c", "inner-failure")]))
    t.success(t.put("nest/d", "outer", prev_kv=True))
    t.failure(t.put("nest/e", "outer-failure"))
    resp = t.commit()
    assert resp.succeeded
    inner = resp.responses[0].response_txn
    assert inner is not None and inner.succeeded is True
    assert inner.responses[0].response_put is not None
    assert [kv.value for kv in inner.responses[1].response_range.kvs] == [b"1"]
    assert resp.responses[1].response_put is not None
    assert client.range("nest/b").kvs[0].value == b"inner-success"
    assert client.range("nest/c").count == 0 and client.range("nest/e").count == 0

    # the same again: now the inner compare fails and its failure branch runs
    t.clear()
    t.compare(t.key("nest/a").value == "1")
    t.success(t.txn([t.key("nest/b").version == 0], [t.put("nest/b", "x")], [t.put("nest/c", "inner-failure")]))
    inner = t.commit().responses[0].response_txn
    assert inner.succeeded is False
    assert inner.responses[0].response_put is not None
    assert client.range("nest/c").kvs[0].value == b"inner-failure"


def test_txn_object_as_an_op(client):
    if not at_least(client, "3.3"):
        with pytest.raises(errors.UnsupportedOperation):
            client.Txn().success(client.Txn())
        return
    inner = client.Txn()
    inner.compare(inner.key("obj/flag").value == "on")
    inner.success(inner.put("obj/out", "flag-on"))
    inner.failure(inner.put("obj/out", "flag-off"))
    inner.failure(inner.range("obj/", prefix=True))

    outer = client.Txn()
    outer.compare(outer.key("obj/guard").version == 0)
    outer.success(inner)
    outer.failure(inner)  # the same ops serve both branches
    resp = outer.commit()
    assert resp.succeeded
    nested = resp.responses[0].response_txn
    assert nested.succeeded is False and len(nested.responses) == 2
    assert [kv.value for kv in nested.responses[1].response_range.kvs] == [b"flag-off"]
    client.put("obj/flag", "on")
    client.put("obj/guard", "set")
    resp = outer.commit()
    assert resp.succeeded is False
    assert resp.responses[0].response_txn.succeeded is True
    assert client.range("obj/out").kvs[0].value == b"flag-on"
    # the nested op is a snapshot: changing the inner Txn later does not change outer
    inner.clear()
    assert outer.commit().responses[0].response_txn.succeeded is True


def test_nested_txn_two_levels(client):
    if not at_least(client, "3.3"):
        pytest.skip("nested txns are etcd 3.3+")
    t = client.Txn()
    deepest = t.txn([], [t.put("deep/3", "c")])
    middle = t.txn([], [t.put("deep/2", "b"), deepest])
    t.success(t.put("deep/1", "a"))
    t.success(middle)
    resp = t.commit()
    level2 = resp.responses[1].response_txn
    level3 = level2.responses[1].response_txn
    assert level2.succeeded and level3.succeeded
    assert level3.responses[0].response_put is not None
    assert [kv.value for kv in client.range("deep/", prefix=True).kvs] == [b"a", b"b", b"c"]


def test_nested_txn_duplicate_key_is_refused(client):
    if not at_least(client, "3.3"):
        pytest.skip("nested txns are etcd 3.3+")
    t = client.Txn()
    t.success(t.put("dup/k", "outer"))
    t.success(t.txn([], [t.put("dup/k", "inner")]))
    with pytest.raises(errors.ErrDuplicateKey):
        t.commit()
    assert client.range("dup/k").count == 0


def test_range_compare(client):
    if not at_least(client, "3.3"):
        t = client.Txn()
        with pytest.raises(errors.UnsupportedOperation):
            t.compare(t.key("rc/", prefix=True).version > 0)
        return
    client.put("rc/a", "1")
    client.put("rc/b", "1")
    client.put("rc/b", "2")  # version 2
    client.put("rd", "outside")

    def holds(compare):
        t = client.Txn()
        t.compare(compare)
        return t.commit().succeeded

    t = client.Txn()
    # a compare over a range holds when it holds for every key of the range
    assert holds(t.key("rc/", prefix=True).version > 0)
    assert not holds(t.key("rc/", prefix=True).version > 1)
    assert not holds(t.key("rc/", prefix=True).version == 1)
    assert holds(t.key("rc/", prefix=True).version < 3)
    assert holds(t.key("rc/a", range_end="rc/b").version == 1)  # [rc/a, rc/b): rc/a only
    assert holds(t.key("rc/", prefix=True).value != "3")
    assert not holds(t.key("rc/", prefix=True).value == "1")
    assert holds(t.key("rc/", prefix=True).create > 0)
    assert holds(t.key("rc/", prefix=True).lease == 0)
    assert not holds(t.key(None, all=True).value == "1")  # rd differs
    assert holds(t.key(None, all=True).version > 0)
    assert holds(t.key("rx/", prefix=True).version == 0)  # an empty range


def test_range_compare_guards_a_whole_prefix(client):
    if not at_least(client, "3.3"):
        pytest.skip("range compares are etcd 3.3+")
    client.put("cfg/a", "1")
    client.put("cfg/b", "1")
    seen = client.range("cfg/", prefix=True).header.revision
    t = client.Txn()
    t.compare(t.key("cfg/", prefix=True).mod < seen + 1)
    t.success(t.put("cfg/applied", "yes"))
    guarded = t.clone()
    assert guarded.commit().succeeded
    # any change under the prefix (including the put above) makes the same txn fail
    assert not t.commit().succeeded


# --------------------------------------------------------------------------- clone / clear

def test_clone_is_independent(client):
    client.put("cl/k", "v")
    t = client.Txn()
    t.compare(t.key("cl/k").value == "v")
    t.success(t.put("cl/from-original", "1"))
    twin = t.clone()
    assert real(twin) is not real(t) and real(twin.client) is real(client)
    twin.success(twin.put("cl/from-clone", "2"))
    twin.failure(twin.put("cl/clone-failed", "3"))
    # the lists are shallow copies: replacing an item of the clone's leaves the original's
    twin._compare[0] = (twin.key("cl/k").value == "other").to_compare()

    resp = t.commit()
    assert resp.succeeded and len(resp.responses) == 1
    assert client.range("cl/from-clone").count == 0
    resp = twin.commit()
    assert not resp.succeeded and len(resp.responses) == 1
    assert client.range("cl/clone-failed").count == 1

    t.success(t.put("cl/later", "4"))
    assert len(twin._success) == 2 and len(t._success) == 2
    assert twin._success[1] != t._success[1]


def test_clear_empties_everything(client):
    client.put("clr/k", "v")
    t = client.Txn()
    t.compare(t.key("clr/k").value == "nope")
    t.success(t.put("clr/s", "1"))
    t.failure(t.put("clr/f", "1"))
    twin = t.clone()
    assert real(t.clear()) is real(t)
    resp = t.commit()
    assert resp.succeeded is True and resp.responses is None
    assert client.range("clr/", prefix=True).count == 1
    # the clone kept its ops
    resp = twin.commit()
    assert resp.succeeded is False and client.range("clr/f").count == 1
    # a cleared txn is reusable
    t.compare(t.key("clr/f").version == 1).success(t.delete("clr/f"))
    assert t.commit().succeeded
    assert client.range("clr/f").count == 0


def test_builder_chains(client):
    t = client.Txn()
    chained = t.compare(t.key("ch/k").version == 0).success(t.put("ch/k", "1")).failure(t.range("ch/k"))
    assert real(chained) is real(t)
    assert t.commit().succeeded
    assert repr(t) == "<Txn compare=1 success=1 failure=1>"


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("bad_op", [
    "put",
    None,
    42,
    {},
    {"bogus": {}},
    {"request_put": {"key": "a"}, "request_range": {"key": "a"}},
    [("request_put", {"key": "a"})],
])
def test_bad_ops_type_error(client, bad_op):
    t = client.Txn()
    with pytest.raises(TypeError):
        t.success(bad_op)
    with pytest.raises(TypeError):
        t.failure(bad_op)
    if at_least(client, "3.3"):
        with pytest.raises(TypeError):
            t.txn(success=[bad_op])
    assert t._success == [] and t._failure == []


@pytest.mark.parametrize("bad_compare", [
    "k == v",
    None,
    {"key": "a", "valeu": "b"},  # no such field (a dict without target is fine: VERSION, as the server reads it)
])
def test_bad_compare_type_error(client, bad_compare):
    t = client.Txn()
    with pytest.raises(TypeError):
        t.compare(bad_compare)
    with pytest.raises(TypeError):
        t.compare(t.put("a", "b"))  # an op is no compare
    assert t._compare == []


def test_bad_key_arguments(client):
    t = client.Txn()
    with pytest.raises(TypeError):
        t.key(None)
    with pytest.raises(TypeError):
        t.key("k", prefix=True, range_end="z")
    with pytest.raises(TypeError):
        t.key("k", prefix=True, all=True)
    with pytest.raises(TypeError):
        t.range(None)
    with pytest.raises(TypeError):
        t.delete("k", prefix=True, range_end="z")


def test_compare_targets_are_not_hashable_or_bool_like(client):
    t = client.Txn()
    target = t.key("k").value
    with pytest.raises(TypeError):
        hash(target)
    # comparing builds a compare (a truthy dict), never a bool
    assert isinstance(target == "v", Compare)


def test_server_error_is_raised(client):
    lease = 0x7FFF_FFFF_FFFF_0001  # no such lease
    t = client.Txn()
    t.success(t.put("se/k", "v", lease=lease))
    with pytest.raises(errors.ErrLeaseNotFound):
        t.commit()
    assert client.range("se/k").count == 0


def test_ops_the_spec_lacks_are_unsupported(etcd):
    """A client on an etcd 3.2 spec refuses the 3.3+ features before sending
    anything (the Txn checks each compare and op against the spec)."""
    from etcd3 import Client
    from etcd3.testing.server import free_port
    from etcd3.utils import Etcd3Warning

    # no server behind that port: the client falls back to the version it was given
    with pytest.warns(Etcd3Warning):
        old = Client(host=etcd.host, port=free_port(etcd.host), server_version="3.2.0")
    try:
        assert old.spec.version == "3.2"
        t = old.Txn()
        with pytest.raises(errors.UnsupportedOperation) as info:
            t.compare(t.key("k").lease == 0)
        assert "3.3" in str(info.value)
        # the builders are static (they need no client): the txn refuses what they made
        with pytest.raises(errors.UnsupportedOperation):
            t.compare(t.key("k", prefix=True).version > 0)
        with pytest.raises(errors.UnsupportedOperation):
            t.compare(t.key("a", range_end="b").version > 0)
        with pytest.raises(errors.UnsupportedOperation):
            t.success(t.txn())
        with pytest.raises(errors.UnsupportedOperation):
            t.failure(t.txn())
        with pytest.raises(errors.UnsupportedOperation):
            t.compare({"key": "k", "target": "LEASE", "result": "EQUAL", "lease": 0})
        with pytest.raises(errors.UnsupportedOperation):
            t.success(old.Txn())
        # and what 3.2 has still builds
        t.compare(t.key("k").version == 0).success(t.put("k", "v")).failure(t.range("k", prefix=True))
        assert t._compare and t._success and t._failure
    finally:
        old.close()
