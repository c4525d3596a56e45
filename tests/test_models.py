"""Models: defaults, repr, equality, to_dict, enums (no server)."""
from __future__ import annotations

import enum

import pytest

from etcd3 import models
from etcd3.models import EtcdMessage, EtcdModel
from etcd3.spec import load_bundle

RANGE = load_bundle("3.5").operations["range"].response


def test_enums_of_the_seed_exist_with_their_members():
    expected = {
        "RangeRequestSortOrder": {"NONE", "ASCEND", "DESCEND"},
        "RangeRequestSortTarget": {"KEY", "VERSION", "CREATE", "MOD", "VALUE"},
        "CompareCompareResult": {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"},
        "CompareCompareTarget": {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"},
        "EventEventType": {"PUT", "DELETE"},
        "WatchCreateRequestFilterType": {"NOPUT", "NODELETE"},
        "AlarmRequestAlarmAction": {"GET", "ACTIVATE", "DEACTIVATE"},
        "authpbPermissionType": {"READ", "WRITE", "READWRITE"},
        "etcdserverpbAlarmType": {"NONE", "NOSPACE", "CORRUPT"},
    }
    for name, members in expected.items():
        cls = getattr(models, name)
        assert issubclass(cls, enum.Enum) and issubclass(cls, EtcdModel)
        assert set(cls.__members__) == members
        assert cls[next(iter(members))].value == next(iter(members))
    assert "DowngradeRequestDowngradeAction" in dir(models)
    with pytest.raises(AttributeError):
        models.NoSuchEnum


def test_enums_are_shared_across_spec_versions():
    older = load_bundle("3.3").operations["watch"].response.decode({"events": [{"type": "DELETE"}]})
    newer = load_bundle("3.6").operations["watch"].response.decode({"events": [{"type": "DELETE"}]})
    assert older.events[0].type is newer.events[0].type is models.EventEventType.DELETE


def test_repr_shows_model_name_and_non_default_fields():
    resp = RANGE.decode({"kvs": [{"key": "YQ==", "value": "Yg==", "version": "1"}], "count": "1"})
    assert repr(resp) == "RangeResponse(kvs=[KeyValue(key=b'a', version=1, value=b'b')], count=1)"
    assert repr(RANGE.decode({})) == "RangeResponse()"


def test_equality_and_to_dict():
    a = RANGE.decode({"count": "1", "kvs": [{"key": "YQ=="}]})
    b = RANGE.decode({"count": "1", "kvs": [{"key": "YQ==", "lease": "0"}]})
    c = RANGE.decode({"count": "2"})
    assert a == b and a != c
    assert a != load_bundle("3.5").operations["put"].response.decode({})
    d = a.to_dict()
    assert d["count"] == 1 and d["kvs"][0]["key"] == b"a" and d["kvs"][0]["value"] is None
    assert d["header"] is None and d["more"] is False


def test_a_server_key_named_like_a_method_hides_nothing():
    # the decoded __dict__ is the server's JSON object: newer fields are kept, and no key
    # (a hostile one included) may hide the model's methods or class attributes
    hostile = {"to_dict": 1, "_items": None, "_fields": 5, "_field_set": 0, "_ref": "x", "count": "2"}
    resp = RANGE.decode(dict(hostile, header=dict(hostile)))
    assert resp.count == 2 and resp.header.to_dict()["to_dict"] == 1
    assert resp.to_dict()["_items"] is None and resp.to_dict()["header"]["_fields"] == 5
    assert repr(resp).startswith("RangeResponse(header=ResponseHeader(") and "count=2" in repr(resp)
    assert resp == RANGE.decode(dict(hostile, header=dict(hostile)))
    assert "kvs" in dir(resp)
    with pytest.raises(AttributeError, match="no field 'nonesuch'; fields are: header, kvs"):
        resp.nonesuch  # noqa: B018
    assert EtcdMessage.to_dict(resp) == resp.to_dict()  # still a plain function on the class


def test_models_are_one_class_per_schema_and_constructible():
    model = RANGE.getModel()
    assert type(RANGE.decode({})) is model is RANGE.getModel()
    assert issubclass(model, EtcdMessage)
    made = model(count=3)
    assert made.count == 3 and made.kvs is None and made.more is False
    with pytest.raises(TypeError, match="has no field"):
        model(nope=1)
    with pytest.raises(AttributeError, match="fields are"):
        RANGE.decode({}).nope
    assert "kvs" in dir(made)


# the seed's null rule: int 0, bool False, object None, array None, string "";
# bytes None (as 0.1.6 gave), an enum its first member (0.1.6 gave '')
NULL_RULE = [
    ("3.5", "range", "count", 0),
    ("3.5", "range", "more", False),
    ("3.5", "range", "header", None),
    ("3.5", "range", "kvs", None),
    ("3.5", "status", "version", ""),
    ("3.5", "lease_time_to_live", "keys", None),
    ("3.5", "lock", "key", None),
    ("3.2", "range", "kvs", None),
    ("3.6", "put", "prev_kv", None),
]


@pytest.mark.parametrize("version,op,field,expected", NULL_RULE)
def test_absent_fields_follow_the_null_rule(version, op, field, expected):
    resp = load_bundle(version).operations[op].response.decode({})
    assert getattr(resp, field) == expected and type(getattr(resp, field)) is type(expected)
    assert field not in resp and field not in list(resp)


def test_absent_enum_is_its_first_member():
    kv_event = load_bundle("3.4").operations["watch"].response.decode({"events": [{}]}).events[0]
    assert kv_event.type is models.EventEventType.PUT and kv_event.kv is None


def test_model_from_a_decoded_dict_builds_nested_models():
    model = RANGE.getModel()
    resp = model({"header": {"revision": 7}, "kvs": [{"key": b"a", "value": b"1"}, {"key": b"b"}], "count": 2})
    assert resp.header.revision == 7 and type(resp.header).__name__ == "ResponseHeader"
    assert [kv.key for kv in resp.kvs] == [b"a", b"b"] and resp.kvs[1].value is None
    assert resp.more is False and list(resp) == ["header", "kvs", "count"] and resp._data["count"] == 2
    # 0.1.6's pattern: getModel()(decode(...)) where decode gives the message already
    decoded = RANGE.decode({"count": "1", "kvs": [{"key": "YQ=="}]})
    assert model(decoded) == decoded and model(decoded) is not decoded
    watch = load_bundle("3.5").operations["watch"].response.getModel()
    event = watch({"events": [{"type": "DELETE", "kv": {"key": b"k"}}]}).events[0]
    assert event.type is models.EventEventType.DELETE and event.kv.key == b"k"


def test_model_of_none_is_empty_and_a_non_dict_is_type_error():
    model = RANGE.getModel()
    empty = model(None)
    assert list(empty) == [] and empty.count == 0 and empty.kvs is None and empty == model()
    for bad in ([1], "kvs", 5):
        with pytest.raises(TypeError, match="a dict expected, got a '%s' instead" % type(bad).__name__):
            model(bad)
    # a decoded dict may carry fields newer than the spec; keywords are checked
    assert model({"brand_new": 1}).brand_new == 1
    with pytest.raises(TypeError, match="has no field"):
        model(brand_new=1)


def test_array_and_scalar_models():
    spec = load_bundle("3.5").rpc
    to_members = spec.getSchema("etcdserverpbWatchCreateRequest").properties.filters.getModel()
    assert to_members(["NOPUT", "nodelete"]) == [models.WatchCreateRequestFilterType.NOPUT,
                                                 models.WatchCreateRequestFilterType.NODELETE]
    assert to_members(None) is None
    with pytest.raises(TypeError, match="a list or tuple expected"):
        to_members("NOPUT")
    kvs = spec.getSchema("etcdserverpbRangeResponse").properties.kvs.getModel()
    assert [kv.key for kv in kvs([{"key": b"x"}])] == [b"x"]
    scalar = spec.getSchema("etcdserverpbRangeResponse").properties.count.getModel()
    assert scalar(5) == 5


def test_name_to_model_maps_definitions_to_enums():
    table = models.name_to_model
    assert table is models.name_to_model
    assert table["EventEventType"] is models.EventEventType
    assert table["RangeRequestSortOrder"] is models.RangeRequestSortOrder
    assert all(issubclass(cls, enum.Enum) for cls in table.values())
    assert "name_to_model" in dir(models)
