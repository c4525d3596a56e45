"""Models, codec, ``SwaggerSpec``/``SwaggerNode`` and ``etcd3.swaggerdefs`` as
etcd3-py 0.1.6 had them (ORIGINAL_API.md 1 and 5.1-5.6, the seed's null rule).

Without a server: the spec's loading forms and errors, attribute and item
navigation with 0.1.6's escaping, getPath with and without the gateway prefix,
getSchema/getEnum, node reprs, the module names 0.1.6 exported, the swaggerdefs
table.  Against real servers (sync and AioClient): a value 0.1.6 accepted
(``prev_kv=1``, ``limit='1'``, ``sort_order='descend'``, ``revision='5'``) gives
the same answer as the strict one; an empty value reads back as None.
"""
from __future__ import annotations

import enum
import io
import json

import pytest

from etcd3 import models, swaggerdefs
from etcd3.models import EtcdMessage, RangeRequestSortOrder, RangeRequestSortTarget  # type: ignore
from etcd3.spec import bundled_versions, load_bundle
from etcd3.swagger_helper import (PROP_DECODERS, PROP_ENCODERS, SCHEMA_TYPES, SwaggerNode, SwaggerSpec,
                                  swagger_escape)

TINY = {"swagger": "2.0", "info": {"title": "tiny"},
        "paths": {"/v9/kv/put": {"post": {"operationId": "Put", "responses": {"200": {"description": "ok"}}}}},
        "definitions": {"M": {"type": "object", "properties": {"in": {"type": "string"}}},
                        "E": {"type": "string", "enum": ["A", "B"], "default": "A"}}}
TINY_YAML = """swagger: '2.0'
info: {title: tiny}
paths:
  /v9/kv/put:
    post: {operationId: Put, responses: {'200': {description: ok}}}
definitions:
  M: {type: object, properties: {in: {type: string}}}
  E: {type: string, enum: [A, B], default: A}
"""


# =========================================================================== SwaggerSpec loading (5.1)

@pytest.mark.parametrize("form", ["dict", "json", "yaml", "json-bytes", "json-file", "yaml-file", "path", "pathlike",
                                  "yaml-path"])
def test_spec_loads_from_every_form(form, tmp_path):
    text = json.dumps(TINY)
    if form == "dict":
        source = TINY
    elif form == "json":
        source = text
    elif form == "yaml":
        source = TINY_YAML
    elif form == "json-bytes":
        source = text.encode()
    elif form == "json-file":
        source = io.StringIO(text)
    elif form == "yaml-file":
        source = io.BytesIO(TINY_YAML.encode())
    else:
        path = tmp_path / ("spec.yaml" if form == "yaml-path" else "spec.json")
        path.write_text(TINY_YAML if form == "yaml-path" else text)
        source = path if form == "pathlike" else str(path)
    spec = SwaggerSpec(source)
    assert spec.spec == TINY
    assert spec.swagger == "2.0" and repr(spec) == "<SwaggerSpec 'tiny'>"


def test_file_object_is_left_where_it_was():
    f = io.StringIO("  " + json.dumps(TINY))
    f.seek(2)
    SwaggerSpec(f)
    assert f.tell() == 2


@pytest.mark.parametrize("bad", [42, 1.5, None, ["swagger"], object()])
def test_spec_of_another_type_is_type_error(bad):
    with pytest.raises(TypeError, match="spec should be one of"):
        SwaggerSpec(bad)


@pytest.mark.parametrize("bad", ["{not json: [", "just a sentence", "- a\n- list\n", "42", b"\xff\xfe"])
def test_unparsable_spec_is_value_error(bad):
    with pytest.raises(ValueError, match="Fail to load spec"):
        SwaggerSpec(bad)


# =========================================================================== navigation (5.1, 5.2)

def test_top_level_keys_are_attributes():
    spec = SwaggerSpec(TINY)
    assert spec.swagger == "2.0"
    assert isinstance(spec.definitions, SwaggerNode) and spec.definitions is spec.ref("#/definitions")
    assert spec.info.title == "tiny" and spec.get("swagger") == "2.0" and spec.get("nope", 1) == 1
    assert {"swagger", "definitions", "paths", "getPath"} <= set(dir(spec))
    with pytest.raises(AttributeError, match="no top-level key 'nope'"):
        spec.nope


def test_children_by_attribute_and_item_with_escaped_names():
    spec = SwaggerSpec(TINY)
    post = spec.paths.v9_kv_put.post
    assert post is spec.paths["/v9/kv/put"]["post"] is spec.getPath("/kv/put").post
    assert post.responses._200.description == "ok" and post.responses["200"] is post.responses._200
    assert spec.definitions.M.properties.in_.type == "string"  # a keyword gets a trailing _
    assert "in" in spec.definitions.M.properties and "in_" not in spec.definitions.M.properties
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        spec.definitions.M.nope
    with pytest.raises(KeyError):
        spec.definitions.M["nope"]
    assert spec.definitions.M.get("nope", 5) == 5


def test_refs_in_every_spelling_give_the_same_node():
    spec = load_bundle("3.3").rpc
    node = spec.ref("#/paths/~1v3beta~1kv~1put")
    assert node is spec.ref("#/paths/v3beta_kv_put") is spec.getPath("/kv/put") is spec.getPath("/v3beta/kv/put")
    assert node is spec.getPath("#/paths/v3beta_kv_put") is spec.getPath(node)
    assert spec.getPath("/v3/kv/put") is node  # another version's prefix names the same RPC
    assert spec.ref("#/swagger") == "2.0"  # a scalar comes back as it is
    assert spec.ref("definitions/x") is None and spec.ref(5) is None
    with pytest.raises(ValueError, match="No reference '#/definitions/nope' found"):
        spec.ref("#/definitions/nope")
    assert spec.getPath("/kv/nope") is None and spec.getPath("#/paths/nope") is None
    assert spec.getSchema("nope") is None and spec.getSchema("#/definitions/nope") is None


@pytest.mark.parametrize("version", bundled_versions())
def test_get_path_with_and_without_prefix_on_every_spec(version):
    bundle = load_bundle(version)
    spec = bundle.rpc
    for method in ("/kv/put", "/kv/range", "/lease/grant", "/watch", "/maintenance/status"):
        node = spec.getPath(method)
        assert isinstance(node, SwaggerNode) and node._is_path
        assert node is spec.getPath(bundle.prefix + method)
        assert node is spec.ref("#/paths/" + swagger_escape(bundle.prefix + method))
        assert repr(node) == "SwaggerPath(ref=%r)" % ("#/paths/" + swagger_escape(bundle.prefix + method))


def test_schema_nodes_and_their_attributes():
    spec = load_bundle("3.5").rpc
    schema = spec.getSchema("etcdserverpbRangeRequest")
    assert schema is spec.getSchema("#/definitions/etcdserverpbRangeRequest") is spec.getSchema(schema)
    assert repr(schema) == "SwaggerSchema(ref='#/definitions/etcdserverpbRangeRequest')"
    assert schema._ref == "#/definitions/etcdserverpbRangeRequest" and schema._is_schema and not schema._is_path
    assert schema._path == ["definitions", "etcdserverpbRangeRequest"]
    assert schema.type == "object" and schema.required is None and schema.format is None
    sort_order = schema.properties.sort_order
    # a $ref child is seen merged with its target: its ref is the target's, its siblings stay
    assert sort_order._ref == "#/definitions/RangeRequestSortOrder" and sort_order._is_enum
    assert sort_order.enum is RangeRequestSortOrder and sort_order.default == "NONE"
    assert sort_order["enum"] == ["NONE", "ASCEND", "DESCEND"]
    member = spec.getSchema("etcdserverpbMember")
    assert member.properties.name.type == "string"  # a field named like a node attribute
    children = list(schema.properties)
    assert all(isinstance(c, SwaggerNode) for c in children) and len(children) == len(schema.properties._keys())
    assert schema.properties._items()[0][0] == "key" and schema.properties._values()[0] is schema.properties.key
    parameters = spec.getPath("/kv/range").post.parameters
    assert isinstance(parameters, list) and parameters[0].schema is schema


def test_get_enum_gives_the_models_enum():
    for version in bundled_versions():
        spec = load_bundle(version).rpc
        assert spec.getEnum("RangeRequestSortOrder") is RangeRequestSortOrder
        assert spec.getEnum("#/definitions/RangeRequestSortTarget") is RangeRequestSortTarget
        assert spec.getEnum(spec.getSchema("EventEventType")) is models.EventEventType
        with pytest.raises(TypeError, match="is not an enum"):
            spec.getEnum("etcdserverpbRangeRequest")
        with pytest.raises(ValueError, match="no schema 'nope'"):
            spec.getEnum("nope")


def test_node_constructor_takes_a_pointer_or_segments():
    spec = SwaggerSpec(TINY)
    node = SwaggerNode(spec, TINY["definitions"]["M"], ["definitions", "M"])
    assert node._ref == "#/definitions/M" and node.properties.in_.type == "string"
    assert node.encode({"in": "x"}) == {"in": "x"} and node.decode({"in": "x"})._data == {"in": "x"}


# =========================================================================== module names (1, 5.6)

NINE_ENUMS = {
    "AlarmRequestAlarmAction": ["GET", "ACTIVATE", "DEACTIVATE"],
    "CompareCompareResult": ["EQUAL", "GREATER", "LESS", "NOT_EQUAL"],
    "CompareCompareTarget": ["VERSION", "CREATE", "MOD", "VALUE", "LEASE"],
    "EventEventType": ["PUT", "DELETE"],
    "RangeRequestSortOrder": ["NONE", "ASCEND", "DESCEND"],
    "RangeRequestSortTarget": ["KEY", "VERSION", "CREATE", "MOD", "VALUE"],
    "WatchCreateRequestFilterType": ["NOPUT", "NODELETE"],
    "authpbPermissionType": ["READ", "WRITE", "READWRITE"],
    "etcdserverpbAlarmType": ["NONE", "NOSPACE", "CORRUPT"],
}


def test_the_nine_enums_and_name_to_model():
    from etcd3 import EventType

    for name, members in NINE_ENUMS.items():
        cls = getattr(models, name)
        assert issubclass(cls, enum.Enum) and issubclass(cls, models.EtcdModel)
        assert [m.name for m in cls][:len(members)] == members  # the first is the schema default
        assert all(m.value == m.name for m in cls) and cls[members[0]] != members[0]  # not a str subclass
        assert models.name_to_model[name] is cls
    assert EventType is models.EventEventType


def test_swagger_helper_module_names():
    assert swagger_escape("/a~b") == "~1a~0b"
    assert set(SCHEMA_TYPES) == {"string", "integer", "number", "boolean", "array", "object"}
    for fmt in ("byte", "int64", "uint64", "int32", "boolean", "string"):
        assert callable(PROP_ENCODERS[fmt]) and callable(PROP_DECODERS[fmt])
    assert PROP_DECODERS["byte"](PROP_ENCODERS["byte"]("ключ")) == "ключ".encode()  # UTF-8 (0.1.6: Latin-1)
    assert PROP_DECODERS["int64"](PROP_ENCODERS["int64"]("12")) == 12


# =========================================================================== swaggerdefs (1)

def test_swaggerdefs_specs_and_get_spec():
    labels = [label for label, _ in swaggerdefs.SPECS]
    assert labels == ["%s.x" % v for v in bundled_versions()] and labels[:2] == ["3.2.x", "3.3.x"]
    assert swaggerdefs.SPECS is swaggerdefs.SPECS
    assert swaggerdefs.get_spec() is swaggerdefs.get_spec(None) is swaggerdefs.SPECS[0][1]
    for server, label in (("3.3.25", "3.3.x"), ("3.5.30", "3.5.x"), ("3.4.0-rc.1", "3.4.x"), ("3.2.5", "3.2.x"),
                          ("3.3.x", "3.3.x")):
        assert swaggerdefs.get_spec(server) is dict(swaggerdefs.SPECS)[label]
    spec = SwaggerSpec(swaggerdefs.get_spec("3.3.25"))
    # one dict for the version, lock and election paths included, as 0.1.6's spec was
    assert spec.getPath("/kv/put") is not None and spec.getPath("/lock/lock") is not None
    assert spec.getPath("/election/campaign") is not None
    assert spec.getSchema("v3lockpbLockResponse").getModel()({"key": b"k"}).key == b"k"
    assert "SPECS" in dir(swaggerdefs) and "get_spec" in swaggerdefs.__all__


def test_get_spec_of_a_newer_server_warns_and_gives_the_newest():
    from etcd3.utils import Etcd3Warning

    with pytest.warns(Etcd3Warning, match="3.9.1"):
        assert swaggerdefs.get_spec("3.9.1") is swaggerdefs.SPECS[-1][1]


# =========================================================================== real servers

def test_lenient_put_and_delete_flags_answer_as_the_strict_ones(client):
    client.put("lenient/p", "v1")
    strict = client.put("lenient/p", "v2", prev_kv=True)
    lenient = client.put("lenient/p", "v3", prev_kv=1)
    assert strict.prev_kv.value == b"v1" and lenient.prev_kv.value == b"v2"
    assert client.put("lenient/p", "v4", prev_kv=0).prev_kv is None
    deleted = client.delete_range("lenient/p", prev_kv=1)
    assert deleted.deleted == 1 and deleted.prev_kvs[0].value == b"v4"


def test_lenient_range_arguments_answer_as_the_strict_ones(client):
    for i in range(3):
        client.put("lenient/r/%d" % i, str(i))
    first_revision = client.range("lenient/r/0").kvs[0].mod_revision
    strict = client.range("lenient/r/", prefix=True, limit=1, sort_order=RangeRequestSortOrder.DESCEND,
                          sort_target=RangeRequestSortTarget.KEY)
    lenient = client.range("lenient/r/", prefix=True, limit="1", sort_order="descend", sort_target="key")
    by_int = client.range("lenient/r/", prefix=True, limit=1, sort_order=2, sort_target=0)
    assert [kv.key for kv in strict.kvs] == [b"lenient/r/2"]
    assert lenient.kvs == strict.kvs == by_int.kvs and lenient.more is strict.more is True
    assert lenient.count == strict.count == 3
    old_strict = client.range("lenient/r/", prefix=True, revision=first_revision)
    old_lenient = client.range("lenient/r/", prefix=True, revision=str(first_revision), keys_only=1)
    assert [kv.key for kv in old_lenient.kvs] == [kv.key for kv in old_strict.kvs] == [b"lenient/r/0"]
    assert old_lenient.kvs[0].value is None and old_strict.kvs[0].value == b"0"


def test_call_rpc_with_lenient_values(client):
    client.put("lenient/c/a", "1")
    client.put("lenient/c/b", "2")
    resp = client.call_rpc("/kv/range", {"key": "lenient/c/", "range_end": "lenient/c0", "limit": "1",
                                         "sort_order": "descend", "count_only": 0})
    assert [kv.key for kv in resp.kvs] == [b"lenient/c/b"] and resp.count == 2


def test_empty_value_reads_back_as_none(client):
    client.put("lenient/empty", "")
    kv = client.range("lenient/empty").kvs[0]
    assert kv.key == b"lenient/empty" and kv.value is None and kv.version == 1
    client.put("lenient/empty", b"")
    assert client.range("lenient/empty").kvs[0].value is None
    missing = client.range("lenient/none")
    assert missing.kvs is None and missing.count == 0 and isinstance(missing, EtcdMessage)


def test_bad_value_names_the_field(client):
    with pytest.raises(TypeError, match=r"PutRequest\.lease: expected int, got 'abc'"):
        client.put("lenient/bad", "v", lease="abc")
    with pytest.raises(TypeError, match=r"prev_kv: expected bool, got 'yes'"):
        client.put("lenient/bad", "v", prev_kv="yes")
    assert client.range("lenient/bad").kvs is None
