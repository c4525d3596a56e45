"""KV RPCs (put, range, delete_range, compact, txn) against a real etcd of every version."""
from __future__ import annotations

import pytest

from etcd3 import errors
from etcd3.models import CompareCompareResult, RangeRequestSortOrder, RangeRequestSortTarget

MiB = 1024 * 1024


def keys_of(response):
    return [kv.key for kv in response.kvs]


def values_of(response):
    return [kv.value for kv in response.kvs]


@pytest.fixture
def empty(client):
    """The session server's client, with every key removed first (other tests that use
    the server without the ``client`` fixture may have left keys behind)."""
    client.delete_range(all=True)
    return client


def put_many(client, items):
    """Put ``{key: value}`` in order; returns the revision of each put."""
    return {k: client.put(k, v).header.revision for k, v in items.items()}


# --------------------------------------------------------------------------- put

def test_put_returns_increasing_revisions(client):
    first = client.put("kv/rev", "1").header.revision
    second = client.put("kv/rev", "2").header.revision
    assert second == first + 1
    kv = client.range("kv/rev").kvs[0]
    assert (kv.key, kv.value, kv.version) == (b"kv/rev", b"2", 2)
    assert (kv.create_revision, kv.mod_revision) == (first, second)


def test_put_prev_kv(client):
    assert client.put("kv/prev", "a", prev_kv=True).prev_kv is None  # new key: nothing before
    resp = client.put("kv/prev", "b", prev_kv=True)
    assert resp.prev_kv.key == b"kv/prev"
    assert resp.prev_kv.value == b"a"
    assert resp.prev_kv.version == 1
    assert client.put("kv/prev", "c").prev_kv is None  # not asked for


def test_put_with_lease(client):
    lease = client.lease_grant(60).ID
    client.put("kv/leased", "v", lease=lease)
    assert client.range("kv/leased").kvs[0].lease == lease
    client.put("kv/leased", "w")  # a plain put detaches the lease
    assert client.range("kv/leased").kvs[0].lease == 0


def test_put_ignore_value_keeps_value(client):
    lease = client.lease_grant(60).ID
    client.put("kv/iv", "kept")
    client.put("kv/iv", "", ignore_value=True, lease=lease)  # 0.1.6's put(key, value, ...)
    kv = client.range("kv/iv").kvs[0]
    assert (kv.value, kv.lease, kv.version) == (b"kept", lease, 2)


def test_put_ignore_lease_keeps_lease(client):
    lease = client.lease_grant(60).ID
    client.put("kv/il", "v1", lease=lease)
    client.put("kv/il", "v2", ignore_lease=True)
    kv = client.range("kv/il").kvs[0]
    assert (kv.value, kv.lease) == (b"v2", lease)


def test_put_ignore_value_on_missing_key_is_key_not_found(client):
    with pytest.raises(errors.ErrKeyNotFound) as info:
        client.put("kv/missing", "", ignore_value=True)
    assert isinstance(info.value, errors.InvalidArgument)
    assert info.value.code == 3 and info.value.http_status == 400


def test_put_value_and_ignore_value_is_value_provided(client):
    client.put("kv/vp", "x")
    with pytest.raises(errors.ErrValueProvided):
        client.put("kv/vp", "y", ignore_value=True)


def test_put_with_unknown_lease_is_lease_not_found(client):
    with pytest.raises(errors.ErrLeaseNotFound) as info:
        client.put("kv/badlease", "v", lease=0x7777)
    assert isinstance(info.value, errors.NotFound)
    assert info.value.http_status == 404
    assert "lease not found" in info.value.message


def test_put_empty_key_is_empty_key_error(client):
    with pytest.raises(errors.ErrEmptyKey):
        client.put("", "v")


# --------------------------------------------------------------------------- range

def test_range_single_key_and_missing_key(client):
    client.put("kv/one", "1")
    client.put("kv/one2", "2")
    resp = client.range("kv/one")
    assert keys_of(resp) == [b"kv/one"] and resp.count == 1 and resp.more is False
    missing = client.range("kv/none")
    assert missing.kvs is None and missing.count == 0
    assert missing.header.revision == resp.header.revision


def test_range_prefix(client):
    put_many(client, {"p/a": "1", "p/b": "2", "p/c/d": "3", "q/a": "4", "p": "5"})
    resp = client.range("p/", prefix=True)
    assert keys_of(resp) == [b"p/a", b"p/b", b"p/c/d"]
    assert values_of(resp) == [b"1", b"2", b"3"]
    assert resp.count == 3


def test_range_all(empty):
    put_many(empty, {"all/1": "a", "zz": "b", "\x01low": "c"})
    resp = empty.range(all=True)
    assert keys_of(resp) == [b"\x01low", b"all/1", b"zz"]
    assert resp.count == 3


def test_range_range_end(client):
    put_many(client, {"r/a": "1", "r/b": "2", "r/c": "3", "r/d": "4"})
    assert keys_of(client.range("r/b", range_end="r/d")) == [b"r/b", b"r/c"]
    # range_end '\0': every key >= key
    assert keys_of(client.range("r/c", range_end=b"\0")) == [b"r/c", b"r/d"]


def test_range_limit_and_more(client):
    put_many(client, {"l/%d" % i: str(i) for i in range(5)})
    resp = client.range("l/", prefix=True, limit=2)
    assert keys_of(resp) == [b"l/0", b"l/1"]
    assert resp.more is True
    assert resp.count == 5  # count is of the whole range
    rest = client.range("l/", prefix=True, limit=10)
    assert len(rest.kvs) == 5 and rest.more is False


def test_range_old_revision(client):
    r1 = client.put("kv/hist", "v1").header.revision
    r2 = client.put("kv/hist", "v2").header.revision
    client.delete_range("kv/hist")
    assert client.range("kv/hist").kvs is None
    assert values_of(client.range("kv/hist", revision=r1)) == [b"v1"]
    old = client.range("kv/hist", revision=r2).kvs[0]
    assert (old.value, old.version, old.mod_revision) == (b"v2", 2, r2)
    assert client.range("kv/hist", revision=r1 - 1).kvs is None  # before it existed


def test_range_future_revision_is_future_rev(client):
    rev = client.put("kv/future", "v").header.revision
    with pytest.raises(errors.ErrFutureRev) as info:
        client.range("kv/future", revision=rev + 1000)
    assert isinstance(info.value, errors.OutOfRange)


def test_range_sort(client):
    # keys in one order, values in the reverse, created in a third
    put_many(client, {"s/b": "2", "s/c": "1", "s/a": "3"})
    client.put("s/c", "0")  # s/c: highest mod revision and version 2
    by_key_desc = client.range("s/", prefix=True, sort_order="DESCEND", sort_target="KEY")
    assert keys_of(by_key_desc) == [b"s/c", b"s/b", b"s/a"]
    by_value = client.range("s/", prefix=True, sort_order=RangeRequestSortOrder.ASCEND,
                            sort_target=RangeRequestSortTarget.VALUE)
    assert values_of(by_value) == [b"0", b"2", b"3"]
    by_create = client.range("s/", prefix=True, sort_order="ASCEND", sort_target="CREATE")
    assert keys_of(by_create) == [b"s/b", b"s/c", b"s/a"]
    by_mod_desc = client.range("s/", prefix=True, sort_order="DESCEND", sort_target="MOD")
    assert keys_of(by_mod_desc) == [b"s/c", b"s/a", b"s/b"]
    by_version_desc = client.range("s/", prefix=True, sort_order="DESCEND", sort_target="VERSION")
    assert keys_of(by_version_desc)[0] == b"s/c"


def test_range_sort_by_index_and_limit(client):
    put_many(client, {"si/%d" % i: "v" for i in range(4)})
    # enums by index: sort_order 2 is DESCEND, sort_target 0 is KEY
    resp = client.range("si/", prefix=True, sort_order=2, sort_target=0, limit=2)
    assert keys_of(resp) == [b"si/3", b"si/2"] and resp.more is True


def test_range_serializable(client):
    client.put("kv/ser", "v")
    resp = client.range("kv/ser", serializable=True)
    assert values_of(resp) == [b"v"]


def test_range_keys_only_and_count_only(client):
    put_many(client, {"ko/a": "value-a", "ko/b": "value-b"})
    keys_only = client.range("ko/", prefix=True, keys_only=True)
    assert keys_of(keys_only) == [b"ko/a", b"ko/b"]
    assert values_of(keys_only) == [None, None]
    assert keys_only.kvs[0].create_revision > 0  # metadata still there
    count_only = client.range("ko/", prefix=True, count_only=True)
    assert count_only.kvs is None and count_only.count == 2


def test_range_min_max_revisions(client):
    revs = put_many(client, {"mm/a": "1", "mm/b": "1", "mm/c": "1"})
    client.put("mm/a", "2")  # mm/a: create rev revs[a], mod rev newest
    newest = client.range("mm/a").kvs[0].mod_revision
    assert keys_of(client.range("mm/", prefix=True, min_mod_revision=revs["mm/c"])) == [b"mm/a", b"mm/c"]
    assert keys_of(client.range("mm/", prefix=True, max_mod_revision=revs["mm/b"])) == [b"mm/b"]
    assert keys_of(client.range("mm/", prefix=True, min_create_revision=revs["mm/b"])) == [b"mm/b", b"mm/c"]
    assert keys_of(client.range("mm/", prefix=True, max_create_revision=revs["mm/a"])) == [b"mm/a"]
    assert keys_of(client.range("mm/", prefix=True, min_mod_revision=newest)) == [b"mm/a"]


# --------------------------------------------------------------------------- delete_range

def test_delete_single_key(client):
    client.put("d/one", "1")
    client.put("d/one1", "2")
    resp = client.delete_range("d/one")
    assert resp.deleted == 1 and resp.prev_kvs is None
    assert keys_of(client.range("d/", prefix=True)) == [b"d/one1"]
    assert client.delete_range("d/one").deleted == 0


def test_delete_prefix_with_prev_kv(empty):
    put_many(empty, {"dp/a": "1", "dp/b": "2", "dq": "3"})
    resp = empty.delete_range("dp/", prefix=True, prev_kv=True)
    assert resp.deleted == 2
    assert [(kv.key, kv.value) for kv in resp.prev_kvs] == [(b"dp/a", b"1"), (b"dp/b", b"2")]
    assert keys_of(empty.range(all=True)) == [b"dq"]


def test_delete_range_end_and_all(empty):
    put_many(empty, {"dr/a": "1", "dr/b": "2", "dr/c": "3"})
    assert empty.delete_range("dr/a", range_end="dr/c").deleted == 2
    assert empty.delete_range(all=True).deleted == 1
    assert empty.range(all=True).count == 0


# --------------------------------------------------------------------------- compact

def test_compact_then_old_revision_is_compacted(client):
    r1 = client.put("c/k", "v1").header.revision
    r2 = client.put("c/k", "v2").header.revision
    r3 = client.put("c/k", "v3").header.revision
    client.compact(r2)
    with pytest.raises(errors.ErrCompacted) as info:
        client.range("c/k", revision=r1)
    assert isinstance(info.value, errors.OutOfRange)
    assert info.value.code == 11 and "compacted" in info.value.message
    assert values_of(client.range("c/k", revision=r2)) == [b"v2"]  # the compaction revision is kept
    assert values_of(client.range("c/k", revision=r3)) == [b"v3"]
    with pytest.raises(errors.ErrCompacted):
        client.compact(r1)  # compacting again below the compacted revision


def test_compact_physical(client):
    rev = client.put("c/phys", "v").header.revision
    resp = client.compact(rev, physical=True)
    assert resp.header.revision >= rev
    with pytest.raises(errors.ErrCompacted):
        client.range("c/phys", revision=rev - 1)


def test_compact_future_revision(client):
    rev = client.put("c/fut", "v").header.revision
    with pytest.raises(errors.ErrFutureRev):
        client.compact(rev + 1000)


# --------------------------------------------------------------------------- encodings and sizes

def test_binary_keys_and_values(client):
    key = b"bin/\xff\x00\xfe\x80"
    value = bytes(range(256))
    client.put(key, value)
    kv = client.range(key).kvs[0]
    assert kv.key == key and kv.value == value
    assert isinstance(kv.key, bytes) and isinstance(kv.value, bytes)
    # a prefix ending in 0xff: range_end drops it and increments the byte before
    client.put(b"bin/\xff\xff", b"x")
    assert keys_of(client.range(b"bin/\xff", prefix=True)) == [key, b"bin/\xff\xff"]


def test_str_and_bytes_are_the_same_key(client):
    client.put("kv/ünï", "välue")
    assert values_of(client.range("kv/ünï".encode("utf-8"))) == ["välue".encode("utf-8")]
    client.put(b"kv/bytes", b"raw")
    assert values_of(client.range("kv/bytes")) == [b"raw"]


def test_large_value_one_mib(client):
    value = bytes(range(256)) * (MiB // 256)
    client.put("big/1mib", value)
    assert client.range("big/1mib").kvs[0].value == value


def test_value_over_max_request_bytes_is_request_too_large(client):
    # over --max-request-bytes (1.5 MiB) but under gRPC's receive limit (that + 512 KiB)
    with pytest.raises(errors.ErrRequestTooLarge) as info:
        client.put("big/1.75mib", b"x" * (MiB + 3 * MiB // 4))
    assert isinstance(info.value, errors.InvalidArgument)
    assert info.value.http_status == 400 and "too large" in info.value.message
    assert client.range("big/1.75mib").kvs is None


def test_value_over_grpc_receive_limit_is_resource_exhausted(client):
    # past max-request-bytes + 512 KiB gRPC itself refuses the message
    with pytest.raises(errors.ResourceExhausted) as info:
        client.put("big/3mib", b"x" * (3 * MiB))
    assert info.value.code == 8 and info.value.http_status == 429
    assert "larger than max" in info.value.message


# --------------------------------------------------------------------------- bad input

def test_wrong_type_names_the_field(client):
    with pytest.raises(TypeError, match="key"):
        client.put(True, "v")  # a number is its decimal text, as 0.1.6 took it; a bool means nothing
    with pytest.raises(TypeError, match="limit"):
        client.range("k", limit="ten")


def test_unknown_keyword_lists_valid_arguments(client):
    with pytest.raises(TypeError) as info:
        client.put("k", "v", leese=1)
    text = str(info.value)
    assert "leese" in text
    for name in ("key", "value", "lease", "prev_kv"):
        assert name in text
    with pytest.raises(TypeError) as info:
        client.range("k", bogus=True)
    assert "bogus" in str(info.value) and "prefix" in str(info.value) and "range_end" in str(info.value)


def test_too_many_positional_arguments(client):
    with pytest.raises(TypeError, match="positional"):
        client.lease_revoke(1, 2, 3)


def test_prefix_and_range_end_conflict(client):
    with pytest.raises(TypeError, match="range_end"):
        client.range("a", range_end="b", prefix=True)
    with pytest.raises(TypeError):
        client.range("a", prefix=True, all=True)
    with pytest.raises(TypeError):
        client.delete_range(prefix=True)  # 0.1.6's check: a key or all (all=True overrides a key, as 0.1.6)


def test_bad_enum_name(client):
    with pytest.raises((TypeError, ValueError), match="sort_order|SIDEWAYS"):
        client.range("k", sort_order="SIDEWAYS")


# --------------------------------------------------------------------------- txn

def compare(key, target, result, **field):
    return dict(key=key, target=target, result=result, **field)


def test_txn_compare_value_success_and_failure(client):
    client.put("t/k", "v1")
    ok = client.txn(compare=[compare("t/k", "VALUE", "EQUAL", value="v1")],
                    success=[{"request_put": {"key": "t/k", "value": "v2"}}],
                    failure=[{"request_put": {"key": "t/k", "value": "nope"}}])
    assert ok.succeeded is True
    assert len(ok.responses) == 1 and ok.responses[0].response_put is not None
    assert values_of(client.range("t/k")) == [b"v2"]
    failed = client.txn(compare=[compare("t/k", "VALUE", "EQUAL", value="v1")],
                        success=[{"request_put": {"key": "t/k", "value": "nope"}}],
                        failure=[{"request_range": {"key": "t/k"}}])
    assert failed.succeeded is False
    assert values_of(failed.responses[0].response_range) == [b"v2"]
    assert failed.header.revision == ok.header.revision  # a read-only branch does not write


@pytest.mark.parametrize("result,field,expected", [
    ("EQUAL", "v", True), ("NOT_EQUAL", "v", False), ("LESS", "w", True), ("GREATER", "u", True),
    ("GREATER", "w", False), (CompareCompareResult.LESS, "a", False), (1, "v", False),  # 1: GREATER
])
def test_txn_compare_value_results(client, result, field, expected):
    client.put("t/cv", "v")
    resp = client.txn(compare=[compare("t/cv", "VALUE", result, value=field)], success=[], failure=[])
    assert resp.succeeded is expected


def test_txn_compare_version_create_mod(client):
    r1 = client.put("t/m", "1").header.revision
    r2 = client.put("t/m", "2").header.revision

    def check(target, result, **field):
        return client.txn(compare=[compare("t/m", target, result, **field)], success=[], failure=[]).succeeded

    assert check("VERSION", "EQUAL", version=2)
    assert check("VERSION", "GREATER", version=1)
    assert not check("VERSION", "LESS", version=2)
    assert check("VERSION", "NOT_EQUAL", version=3)
    assert check("CREATE", "EQUAL", create_revision=r1)
    assert check("CREATE", "LESS", create_revision=r2)
    assert check("MOD", "EQUAL", mod_revision=r2)
    assert not check("MOD", "GREATER", mod_revision=r2)
    assert check("MOD", "NOT_EQUAL", mod_revision=r1)
    # a missing key has version 0 and create revision 0: the create-if-absent idiom
    absent = client.txn(compare=[compare("t/absent", "CREATE", "EQUAL", create_revision=0)],
                        success=[{"request_put": {"key": "t/absent", "value": "new"}}], failure=[])
    assert absent.succeeded
    assert values_of(client.range("t/absent")) == [b"new"]


def test_txn_compare_lease(client):
    lease = client.lease_grant(60).ID
    client.put("t/l", "v", lease=lease)
    client.put("t/nl", "v")
    succeeded = lambda key, result, value: client.txn(  # noqa: E731
        compare=[compare(key, "LEASE", result, lease=value)], success=[], failure=[]).succeeded
    assert succeeded("t/l", "EQUAL", lease)
    assert succeeded("t/l", "NOT_EQUAL", lease + 1)
    assert succeeded("t/nl", "EQUAL", 0)
    assert succeeded("t/nl", "LESS", lease)
    assert not succeeded("t/l", "GREATER", lease)


def test_txn_compare_range_end(client):
    put_many(client, {"tr/a": "1", "tr/b": "1"})
    all_one = client.txn(compare=[compare("tr/", "VALUE", "EQUAL", value="1", range_end="tr0")], success=[],
                         failure=[])
    assert all_one.succeeded
    client.put("tr/b", "2")
    assert not client.txn(compare=[compare("tr/", "VALUE", "EQUAL", value="1", range_end="tr0")], success=[],
                          failure=[]).succeeded


def test_txn_typed_responses(client):
    client.put("t/del", "x")
    client.put("t/old", "before")
    resp = client.txn(compare=[], success=[
        {"request_put": {"key": "t/old", "value": "after", "prev_kv": True}},
        {"request_range": {"key": "t/", "range_end": "t0"}},
        {"request_delete_range": {"key": "t/del", "prev_kv": True}},
    ], failure=[])
    assert resp.succeeded is True  # no compare: true
    put, rng, dele = resp.responses
    assert put.response_put.prev_kv.value == b"before"
    assert put.response_range is None and put.response_delete_range is None
    assert keys_of(rng.response_range) == [b"t/del", b"t/old"]
    assert values_of(rng.response_range) == [b"x", b"after"]  # ops see the earlier ops
    assert dele.response_delete_range.deleted == 1
    assert dele.response_delete_range.prev_kvs[0].value == b"x"
    # all the ops of a txn are one revision
    assert client.range("t/old").kvs[0].mod_revision == resp.header.revision


def test_txn_nested(client):
    client.put("tn/outer", "1")
    client.put("tn/inner", "a")
    resp = client.txn(
        compare=[compare("tn/outer", "VALUE", "EQUAL", value="1")],
        success=[{"request_txn": {
            "compare": [compare("tn/inner", "VALUE", "EQUAL", value="b")],
            "success": [{"request_put": {"key": "tn/result", "value": "inner-success"}}],
            "failure": [{"request_put": {"key": "tn/result", "value": "inner-failure"}},
                        {"request_range": {"key": "tn/inner"}}],
        }}], failure=[])
    assert resp.succeeded is True
    inner = resp.responses[0].response_txn
    assert inner.succeeded is False
    assert inner.responses[0].response_put is not None
    assert values_of(inner.responses[1].response_range) == [b"a"]
    assert values_of(client.range("tn/result")) == [b"inner-failure"]


def test_txn_too_many_ops(client):
    ops = [{"request_put": {"key": "tm/%d" % i, "value": "v"}} for i in range(129)]
    with pytest.raises(errors.ErrTooManyOps):
        client.txn(compare=[], success=ops, failure=[])
    assert client.range("tm/", prefix=True).count == 0
    client.txn(compare=[], success=ops[:128], failure=[])  # the default --max-txn-ops is 128
    assert client.range("tm/", prefix=True, count_only=True).count == 128


def test_txn_duplicate_key(client):
    with pytest.raises(errors.ErrDuplicateKey):
        client.txn(compare=[], success=[{"request_put": {"key": "td", "value": "1"}},
                                        {"request_put": {"key": "td", "value": "2"}}], failure=[])


def test_txn_unknown_nested_field_is_type_error(client):
    with pytest.raises(TypeError, match="request_putt"):
        client.txn(compare=[], success=[{"request_putt": {"key": "k", "value": "v"}}], failure=[])
