"""Spec loading, selection and the operations tables (no server)."""
from __future__ import annotations

import inspect
import warnings

import pytest

from etcd3.errors import UnsupportedServerVersion
from etcd3.spec import bundled_versions, load_bundle, rpc_name, select_version, snake_case
from etcd3.swagger_helper import SwaggerNode, SwaggerSpec, swagger_escape
from etcd3.utils import Etcd3Warning

VERSIONS = ["3.2", "3.3", "3.4", "3.5", "3.6"]


def test_every_supported_minor_is_bundled_with_all_documents():
    assert bundled_versions() == VERSIONS
    for version in VERSIONS:
        assert len(load_bundle(version).documents) == 3


@pytest.mark.parametrize("server,expected", [
    ("3.5.30", "3.5"), ("3.4.0-rc.1", "3.4"), ("3.3.25", "3.3"), ("3.2.0", "3.2"), ("v3.6.14", "3.6"),
])
def test_same_minor_is_selected_without_warning(server, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert select_version(server) == expected


@pytest.mark.parametrize("server,expected", [("3.7.2", "3.6"), ("4.0.0", "3.6"), ("3.10.1", "3.6")])
def test_newer_server_gets_nearest_lower_spec_with_one_warning(server, expected):
    with pytest.warns(Etcd3Warning) as record:
        assert select_version(server) == expected
    assert len(record) == 1
    assert server in str(record[0].message) and expected in str(record[0].message)


@pytest.mark.parametrize("server", ["3.1.20", "2.3.8", "3.0.0"])
def test_too_old_server_is_unsupported(server):
    with pytest.raises(UnsupportedServerVersion, match=server):
        select_version(server)


def test_bad_version_string():
    with pytest.raises(ValueError, match="not an etcd version"):
        select_version("latest")


@pytest.mark.parametrize("version,prefix", [("3.2", "/v3alpha"), ("3.3", "/v3beta"), ("3.4", "/v3"),
                                            ("3.5", "/v3"), ("3.6", "/v3")])
def test_prefix_is_read_from_the_spec(version, prefix):
    assert load_bundle(version).prefix == prefix


@pytest.mark.parametrize("op_id,name", [
    ("Range", "range"), ("KV_Range", "range"), ("LeaseGrant", "lease_grant"),
    ("Lease_LeaseRevoke2", "lease_revoke"), ("HashKV", "hash_kv"), ("MemberPromote", "member_promote"),
    ("Election_Campaign", "campaign"), ("UserChangePassword", "user_change_password"),
    ("LeaseTimeToLive2", "lease_time_to_live"), ("AuthStatus", "auth_status"),
])
def test_operation_names(op_id, name):
    assert snake_case(rpc_name(op_id)) == name


COMMON = {"range", "put", "delete_range", "txn", "compact", "watch", "lease_grant", "lease_revoke",
          "lease_keep_alive", "lease_time_to_live", "member_add", "member_list", "member_remove",
          "member_update", "alarm", "status", "defragment", "hash", "snapshot", "auth_enable",
          "auth_disable", "authenticate", "user_add", "user_get", "user_list", "user_delete",
          "user_change_password", "user_grant_role", "user_revoke_role", "role_add", "role_get",
          "role_list", "role_delete", "role_grant_permission", "role_revoke_permission", "lock",
          "unlock", "campaign", "proclaim", "leader", "observe", "resign"}
ADDED = {"3.3": {"lease_leases", "move_leader"}, "3.4": {"member_promote"},
         "3.5": {"auth_status", "downgrade", "hash_kv"}, "3.6": set()}


@pytest.mark.parametrize("version", VERSIONS)
def test_operations_table(version):
    bundle = load_bundle(version)
    ops = bundle.operations
    expected = set(COMMON)
    for v in VERSIONS[1:VERSIONS.index(version) + 1]:
        expected |= ADDED[v]
    assert set(ops) == expected
    # every path of every document is reachable through exactly one operation
    paths = {p for doc in bundle.documents for p in doc.spec["paths"]}
    covered = [p for op in ops.values() for p in [op.path] + op.extra_paths]
    assert sorted(covered) == sorted(paths)
    streaming = {name for name, op in ops.items() if op.streaming}
    assert streaming == {"watch", "lease_keep_alive", "snapshot", "observe"}
    for op in ops.values():
        assert op.http_method == "POST" and op.path.startswith(bundle.prefix + "/")
        assert op.response.getModel().__name__.endswith("Response")


def test_signatures_follow_proto_field_order():
    ops = load_bundle("3.5").operations
    put = list(ops["put"].signature.parameters)
    assert put[:4] == ["self", "key", "value", "lease"]
    assert list(ops["lease_grant"].signature.parameters)[:3] == ["self", "TTL", "ID"]
    rng = ops["range"].signature.parameters
    # 0.1.6's range(): prefix and all come after sort_target, by position too
    assert list(rng).index("prefix") == list(rng).index("sort_target") + 1 and rng["all"].default is False
    assert "prefix" not in ops["put"].signature.parameters


def test_docstrings_come_from_the_spec():
    doc = load_bundle("3.5").operations["put"].doc
    assert doc.startswith("Put puts the given key into the key-value store.")
    assert "lease (int): lease is the lease ID" in doc and "Returns: PutResponse" in doc
    watch = load_bundle("3.4").operations["watch"].doc
    assert "Returns: an iterator of WatchResponse" in watch


def test_hash_route_follows_the_gateway_before_3_5():
    # the spec names /maintenance/hash HashKV up to 3.4, but the gateway serves Hash there
    for version in ("3.3", "3.4"):
        op = load_bundle(version).operations["hash"]
        assert op.path.endswith("/maintenance/hash") and op.fields == ()
        assert op.response.getModel().__name__ == "HashResponse"
    assert load_bundle("3.5").operations["hash_kv"].path == "/v3/maintenance/hashkv"
    assert load_bundle("3.3").first_version_with("hash_kv").startswith("3.5")


def test_version_specific_fields():
    defs = lambda v: load_bundle(v).rpc.spec["definitions"]  # noqa: E731
    assert "lease" not in defs("3.2")["etcdserverpbCompare"]["properties"]
    assert "lease" in defs("3.3")["etcdserverpbCompare"]["properties"]
    assert "hash_revision" in defs("3.6")["etcdserverpbHashKVResponse"]["properties"]
    assert "hash_revision" not in defs("3.5")["etcdserverpbHashKVResponse"]["properties"]


def test_swagger_spec_navigation_and_memoization():
    spec = SwaggerSpec('{"swagger": "2.0", "paths": {"/a/b": {"post": {"operationId": "X"}}},'
                       ' "definitions": {"M": {"type": "object", "properties": {"k": {"$ref": "#/definitions/N"}}},'
                       ' "N": {"type": "string", "format": "byte"}}}')
    node = spec.ref("#/definitions/M")
    assert isinstance(node, SwaggerNode) and node is spec.getSchema("M") is spec.ref("#/definitions/M")
    assert node.properties.k.resolved is spec.getSchema("N")
    assert node.properties.k._ref == "#/definitions/N" and repr(node) == "SwaggerSchema(ref='#/definitions/M')"
    assert spec.getPath("/a/b").post.operationId == "X"
    assert spec.get("swagger") == "2.0"
    assert node.getModel() is node.getModel()
    assert swagger_escape("/a~b") == "~1a~0b"
    yaml_spec = SwaggerSpec("swagger: '2.0'\ndefinitions:\n  E: {type: string, enum: [A, B]}\n")
    enum_cls = yaml_spec.getEnum("E")
    assert [m.name for m in enum_cls] == ["A", "B"]
    with pytest.raises(ValueError, match="No reference '#/definitions/Missing' found"):
        spec.ref("#/definitions/Missing")
    assert spec.getSchema("Missing") is None and spec.getPath("/a/c") is None


def test_caches_live_on_the_spec_instance():
    import gc
    import weakref

    spec = SwaggerSpec({"definitions": {"M": {"type": "object", "properties": {"a": {"type": "string"}}}}})
    spec.getSchema("M").decode({"a": "x"})
    ref = weakref.ref(spec)
    del spec
    gc.collect()
    assert ref() is None  # nothing outside the spec keeps it (or its nodes) alive
