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
    assert d["count"] == 1 and d["kvs"][0]["key"] == b"a" and d["kvs"][0]["value"] == b""
    assert d["header"] is None and d["more"] is False


def test_models_are_one_class_per_schema_and_constructible():
    model = RANGE.getModel()
    assert type(RANGE.decode({})) is model is RANGE.getModel()
    assert issubclass(model, EtcdMessage)
    made = model(count=3)
    assert made.count == 3 and made.kvs == [] and made.more is False
    assert made.kvs is not model().kvs  # arrays are not shared between instances
    with pytest.raises(TypeError, match="has no field"):
        model(nope=1)
    with pytest.raises(AttributeError, match="fields are"):
        RANGE.decode({}).nope
    assert "kvs" in dir(made)
