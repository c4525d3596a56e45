"""The RPC methods with etcd3-py 0.1.6's signatures (ORIGINAL_API.md 4.0-4.8), the API
groups of ``etcd3.apis`` and ``call_rpc`` (2.3).

The signatures are checked without a server on every bundled spec (3.2 to 3.6); what
they send is checked against real servers, with the sync client and AioClient."""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time
import warnings

import pytest

import etcd3
from conftest import make_client
from helpers import settle_membership_change
from etcd3 import errors, models
from etcd3.apis.binding import RequestOp
from etcd3.spec import bundled_versions, load_bundle
from etcd3.utils import Etcd3Warning
from helpers import Background

REQUIRED = inspect.Parameter.empty
SortOrder, SortTarget = models.RangeRequestSortOrder, models.RangeRequestSortTarget

# 0.1.6's parameters, (name, default), written out from ORIGINAL_API.md 4.1-4.7
ORIGINAL = {
    "range": [("key", None), ("range_end", None), ("limit", 0), ("revision", None), ("serializable", False),
              ("keys_only", False), ("count_only", False), ("min_mod_revision", None), ("max_mod_revision", None),
              ("min_create_revision", None), ("max_create_revision", None), ("sort_order", SortOrder.NONE),
              ("sort_target", SortTarget.KEY), ("prefix", False), ("all", False), ("txn_obj", False)],
    "put": [("key", REQUIRED), ("value", REQUIRED), ("lease", 0), ("prev_kv", False), ("ignore_value", False),
            ("ignore_lease", False), ("txn_obj", False)],
    "delete_range": [("key", None), ("range_end", None), ("prev_kv", False), ("prefix", False), ("all", False),
                     ("txn_obj", False)],
    "compact": [("revision", REQUIRED), ("physical", False)],
    "txn": [("compare", REQUIRED), ("success", REQUIRED), ("failure", REQUIRED)],
    "lease_grant": [("TTL", REQUIRED), ("ID", 0)],
    "lease_revoke": [("ID", REQUIRED)],
    "lease_time_to_live": [("ID", REQUIRED), ("keys", False)],
    "lease_keep_alive": [("data", REQUIRED)],
    "watch": [("create_request", None), ("cancel_request", None)],
    "authenticate": [("name", REQUIRED), ("password", REQUIRED)],
    "auth_enable": [],
    "auth_disable": [],
    "role_add": [("name", REQUIRED)],
    "role_delete": [("role", REQUIRED)],
    "role_get": [("role", REQUIRED)],
    "role_list": [],
    "role_grant_permission": [("name", REQUIRED), ("key", None), ("permType", models.authpbPermissionType.READ),
                              ("range_end", None), ("prefix", False), ("all", False)],
    "role_revoke_permission": [("role", REQUIRED), ("key", None), ("range_end", None), ("prefix", False),
                               ("all", False)],
    "user_add": [("name", REQUIRED), ("password", REQUIRED)],
    "user_change_password": [("name", REQUIRED), ("password", REQUIRED)],
    "user_delete": [("name", REQUIRED)],
    "user_get": [("name", REQUIRED)],
    "user_list": [],
    "user_grant_role": [("user", REQUIRED), ("role", REQUIRED)],
    "user_revoke_role": [("name", REQUIRED), ("role", REQUIRED)],
    "member_add": [("peerURLs", REQUIRED)],
    "member_list": [],
    "member_remove": [("ID", REQUIRED)],
    "member_update": [("ID", REQUIRED), ("peerURLs", REQUIRED)],
    "alarm": [("memberID", REQUIRED), ("action", models.AlarmRequestAlarmAction.GET),
              ("alarm", models.etcdserverpbAlarmType.NONE)],
    "defragment": [],
    "hash": [],
    "snapshot": [],
    "status": [],
    "lock": [("name", REQUIRED), ("lease", 0)],
    "unlock": [("key", REQUIRED)],
}
SUGAR = {
    "watch_create": [("key", None), ("range_end", None), ("start_revision", None), ("progress_notify", None),
                     ("prev_kv", None), ("prefix", False), ("all", False), ("no_put", False), ("no_delete", False)],
    "watch_cancel": [("watch_id", REQUIRED)],
    "lease_keep_alive_once": [("ID", REQUIRED)],
    "alarm_get": [("memberID", REQUIRED), ("alarm", REQUIRED)],
    "alarm_activate": [("memberID", REQUIRED), ("alarm", REQUIRED)],
    "alarm_deactivate": [("memberID", REQUIRED), ("alarm", REQUIRED)],
    "version": [], "health": [], "metrics_raw": [], "metrics": [],
}


def positional(signature):
    """(name, default) of the parameters that may be passed by position (self left out)."""
    return [(p.name, p.default) for p in signature.parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and p.name != "self"]


def keyword_only(signature):
    return [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def rpc_body(name, *args, version="3.5", **kwargs):
    """What a call sends (the encoded request body), without a server."""
    return load_bundle(version).operations[name].binding.bind(args, kwargs)


# --------------------------------------------------------------------------- signatures, every spec

@pytest.mark.parametrize("version", bundled_versions())
def test_every_spec_builds_the_original_signatures(version):
    ops = load_bundle(version).operations
    for name, params in ORIGINAL.items():
        assert name in ops, (version, name)
        assert positional(ops[name].signature) == params, (version, name)


def test_the_signatures_are_the_same_from_3_2_to_3_6():
    first, last = bundled_versions()[0], bundled_versions()[-1]
    assert (first, last) == ("3.2", "3.6")
    for name in ORIGINAL:
        signatures = {tuple(positional(load_bundle(v).operations[name].signature)) for v in bundled_versions()}
        assert len(signatures) == 1, (name, signatures)


def test_fields_of_newer_versions_are_keyword_only_after_the_original_ones():
    assert keyword_only(load_bundle("3.3").operations["member_add"].signature) == []
    assert keyword_only(load_bundle("3.4").operations["member_add"].signature) == ["isLearner"]
    assert keyword_only(load_bundle("3.5").operations["user_add"].signature) == ["options", "hashedPassword"]
    assert keyword_only(load_bundle("3.5").operations["member_list"].signature) == ["linearizable"]
    assert keyword_only(load_bundle("3.2").operations["watch"].signature) == []
    assert keyword_only(load_bundle("3.3").operations["watch"].signature) == ["progress_request"]
    assert keyword_only(load_bundle("3.5").operations["lease_keep_alive"].signature) == ["ID"]
    assert keyword_only(load_bundle("3.5").operations["role_grant_permission"].signature) == ["perm"]
    watch = load_bundle("3.5").operations["watch"].signature.parameters
    assert list(watch.values())[-1].kind is inspect.Parameter.VAR_KEYWORD
    assert isinstance(rpc_body("member_add", ["http://a:1"], isLearner=True, version="3.4"), dict)


def test_rpcs_0_1_6_never_wrapped_keep_the_request_fields():
    ops = load_bundle("3.5").operations
    assert positional(ops["campaign"].signature) == [("name", None), ("lease", None), ("value", None)]
    assert positional(ops["move_leader"].signature) == [("targetID", None)]
    assert positional(ops["hash_kv"].signature) == [("revision", None)]
    assert positional(ops["lease_leases"].signature) == []
    assert "hash_kv" not in load_bundle("3.3").operations  # an RPC the spec lacks is no method


def test_help_shows_the_effective_signature():
    op = load_bundle("3.3").operations["range"]
    doc = op.doc
    for name in ("key", "range_end", "limit", "sort_order", "prefix", "all", "txn_obj"):
        assert "\n    %s " % name in doc, name
    assert "sort_order (RangeRequestSortOrder): sort_order is the order for returned sorted results. " \
           "[default: NONE]" in doc
    grant = load_bundle("3.5").operations["role_grant_permission"].doc
    assert "permType (authpbPermissionType)" in grant and "perm (authpbPermission)" in grant
    assert "data (bytes, str or dict)" in load_bundle("3.5").operations["lease_keep_alive"].doc


SIGNATURES_SCRIPT = """
import inspect, sys, warnings
warnings.simplefilter("ignore")
import etcd3
client = etcd3.Client(sys.argv[1], int(sys.argv[2]))
for name in sys.argv[3].split(","):
    params = []
    for p in inspect.signature(getattr(client, name)).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            params.append("**")
        elif p.kind is not p.KEYWORD_ONLY:  # ours: fields of newer etcd versions
            params.append(p.name if p.default is p.empty else "%s=%r" % (p.name, p.default))
    print(name, ", ".join(params))
"""


@pytest.mark.etcd_versions("oldest", "3.4.23", "newest")  # a version per minor
def test_signatures_side_by_side_with_0_1_6(etcd3_016_python, etcd, tmp_path):
    """The released etcd3-py 0.1.6 and ours print the same signatures (keyword-only
    fields of newer etcd versions left out)."""
    script = tmp_path / "signatures.py"
    script.write_text(SIGNATURES_SCRIPT)
    names = ",".join(list(ORIGINAL) + list(SUGAR))

    def run(python):
        done = subprocess.run([python, str(script), etcd.host, str(etcd.port), names], capture_output=True,
                              text=True, timeout=120, cwd=str(tmp_path))
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.splitlines()

    original, ours = run(etcd3_016_python), run(sys.executable)
    assert len(original) == len(ORIGINAL) + len(SUGAR)
    assert [(a, b) for a, b in zip(original, ours) if a != b] == []


# --------------------------------------------------------------------------- what a call sends (no server)

def test_range_sugar_as_0_1_6():
    assert rpc_body("range", "a", prefix=True) == {"key": "YQ==", "range_end": "Yg=="}
    assert rpc_body("range", all=True) == {"key": "AA==", "range_end": "AA=="}
    assert rpc_body("range", "k", None, 1) == {"key": "aw==", "limit": "1"}
    # None is not sent, False/0 are
    assert rpc_body("range", "k", revision=None, serializable=False) == {"key": "aw==", "serializable": False}
    # range(all=False): an explicit False counts for the check; nothing sets the key
    assert rpc_body("range", all=False) == {}
    with pytest.raises(TypeError, match=r"^range\(\) requires at least one argument of key,all$"):
        rpc_body("range")
    with pytest.raises(TypeError, match=r"^range\(\) requires at least one argument of key,all$"):
        rpc_body("range", None, prefix=True)
    with pytest.raises(TypeError, match=r"^range\(\) requires at most one of param range_end or prefix or all$"):
        rpc_body("range", "a", range_end="b", prefix=False)
    with pytest.raises(TypeError, match=r"^delete_range\(\) requires at most one of param range_end or prefix"):
        rpc_body("delete_range", "a", "b", False, True)
    # prefix by position, as 0.1.6's order has it
    by_position = rpc_body("range", "a", None, 0, None, False, False, False, None, None, None, None,
                           SortOrder.NONE, SortTarget.KEY, True)
    assert by_position["range_end"] == "Yg=="


def test_txn_obj_returns_the_request_op_unencoded():
    put = rpc_body("put", "k", b"v", 5, txn_obj=True)
    assert type(put) is RequestOp
    assert put == {"request_put": {"key": "k", "value": b"v", "lease": 5, "prev_kv": False, "ignore_value": False,
                                   "ignore_lease": False}}
    rng = rpc_body("range", "p/", prefix=True, txn_obj=True)["request_range"]
    assert (rng["key"], rng["range_end"], rng["sort_order"]) == ("p/", b"p0", SortOrder.NONE)
    assert "revision" not in rng  # None dropped
    deleted = rpc_body("delete_range", "d", None, True, txn_obj=True)
    assert deleted == {"request_delete_range": {"key": "d", "prev_kv": True}}


def test_role_grant_permission_nests_perm():
    body = rpc_body("role_grant_permission", "r", "k/", "READWRITE", prefix=True)
    assert body == {"name": "r", "perm": {"permType": "READWRITE", "key": "ay8=", "range_end": "azA="}}
    assert rpc_body("role_grant_permission", "r", "k") == {"name": "r", "perm": {"permType": "READ", "key": "aw=="}}
    assert rpc_body("role_grant_permission", "r", perm={"key": "k"}) == {"name": "r", "perm": {"key": "aw=="}}
    with pytest.raises(TypeError, match="either perm or key"):
        rpc_body("role_grant_permission", "r", "k", perm={"key": "k"})


def test_role_revoke_permission_sends_text_where_the_spec_has_strings():
    # up to 3.3 its key and range_end are proto strings: bytes from prefix go as UTF-8 text
    assert rpc_body("role_revoke_permission", "r", "k/", prefix=True, version="3.3") == \
        {"role": "r", "key": "k/", "range_end": "k0"}
    assert rpc_body("role_revoke_permission", "r", "k/", prefix=True, version="3.4") == \
        {"role": "r", "key": "ay8=", "range_end": "azA="}


def test_watch_needs_exactly_one_request():
    with pytest.raises(TypeError, match=r"^watch\(\) requires at least one argument of create_request"):
        rpc_body("watch")
    with pytest.raises(TypeError, match=r"^watch\(\) requires at most one of param create_request or "):
        rpc_body("watch", {"key": "a"}, {"watch_id": 1})


def test_raw_body_is_sent_as_it_is():
    assert rpc_body("lease_keep_alive", b'{"ID":123}\n') == b'{"ID":123}\n'
    assert rpc_body("lease_keep_alive", '{"ID":123}') == b'{"ID":123}'
    assert rpc_body("lease_keep_alive", {"ID": 123}) == {"ID": "123"}
    assert rpc_body("lease_keep_alive", ID=123) == {"ID": "123"}
    with pytest.raises(TypeError, match="missing required argument 'data'"):
        rpc_body("lease_keep_alive")
    with pytest.raises(TypeError, match="not both"):
        rpc_body("lease_keep_alive", b"{}", ID=1)


def test_wrong_arguments_are_type_errors_naming_them():
    with pytest.raises(TypeError, match=r"put\(\) got an unexpected keyword argument 'timeout'"):
        rpc_body("put", "k", "v", timeout=1)
    with pytest.raises(TypeError, match=r"put\(\) missing required argument 'value'"):
        rpc_body("put", "k")
    with pytest.raises(TypeError, match=r"lease_grant\(\) takes 2 positional arguments but 3 were given"):
        rpc_body("lease_grant", 5, 0, 1)
    with pytest.raises(TypeError, match=r"compact\(\) got multiple values for argument 'revision'"):
        rpc_body("compact", 5, revision=6)


# --------------------------------------------------------------------------- the API groups

def test_api_groups_at_0_1_6_paths():
    from etcd3.apis.auth import AuthAPI
    from etcd3.apis.cluster import ClusterAPI
    from etcd3.apis.election import ElectionAPI
    from etcd3.apis.extra import EtcdVersion, ExtraAPI
    from etcd3.apis.kv import KVAPI
    from etcd3.apis.lease import LeaseAPI
    from etcd3.apis.lock import LockAPI
    from etcd3.apis.maintenance import MaintenanceAPI
    from etcd3.apis.watch import WatchAPI

    groups = (AuthAPI, ClusterAPI, KVAPI, LeaseAPI, MaintenanceAPI, WatchAPI, ExtraAPI, LockAPI)
    assert etcd3.BaseClient.__bases__ == groups + (ElectionAPI,)
    for group in groups + (ElectionAPI,):
        assert issubclass(group, etcd3.apis.BaseAPI)
        assert getattr(etcd3.apis, group.__name__) is group
    assert etcd3.apis.EtcdVersion is EtcdVersion and EtcdVersion._fields == ("etcdserver", "etcdcluster")
    assert etcd3.apis.BaseAPI.headers == {}
    for name, params in SUGAR.items():
        method = getattr(etcd3.BaseClient, name)
        assert positional(inspect.signature(method)) == params, name
    assert inspect.signature(WatchAPI.watch_create).parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


def test_groups_hold_no_rpc_methods():
    # the RPCs come from the server's spec, so a group must not shadow one
    names = {n for v in bundled_versions() for n in load_bundle(v).operations}
    for group in etcd3.BaseClient.__bases__:
        assert not names & set(vars(group)), group


# --------------------------------------------------------------------------- against a server: KV

def test_client_signatures_are_the_original_ones(client):
    for name, params in ORIGINAL.items():
        assert positional(inspect.signature(getattr(client, name))) == params, name
    assert set(client.operations) <= set(dir(client))
    text = client.range.__doc__
    assert "txn_obj" in text and "sort_target" in text


def test_range_by_position(client):
    for i in range(3):
        client.put("rp/%d" % i, str(i))
    one = client.range("rp/", "rp0", 1)  # limit=1
    assert [kv.key for kv in one.kvs] == [b"rp/0"] and one.more is True and one.count == 3
    newest_first = client.range("rp/", None, 0, None, False, False, False, None, None, None, None,
                                SortOrder.DESCEND, SortTarget.KEY, True)
    assert [kv.value for kv in newest_first.kvs] == [b"2", b"1", b"0"]
    assert client.range("rp/", prefix=True, count_only=True).count == 3
    assert client.range(all=True).count == 3
    assert client.range("rp/", None, "1", prefix=True).kvs[0].key == b"rp/0"  # limit as 0.1.6 took it


def test_range_checks_as_0_1_6(client):
    with pytest.raises(TypeError, match="at least one argument of key,all"):
        client.range()
    with pytest.raises(TypeError, match="at most one of param range_end or prefix or all"):
        client.range("a", range_end="b", prefix=False)
    with pytest.raises(errors.ErrEmptyKey):
        client.range(all=False)  # passes the check, sends no key


def test_put_and_delete_by_position(client):
    lease = client.lease_grant(30).ID
    client.put("pd/k", "v1", lease)
    previous = client.put("pd/k", "v2", lease, True)  # prev_kv=True
    assert (previous.prev_kv.value, previous.prev_kv.lease) == (b"v1", lease)
    client.put("pd/k", "ignored", 0, False, False, True)  # ignore_lease: the lease stays
    assert client.range("pd/k").kvs[0].lease == lease
    deleted = client.delete_range("pd/k", None, True)  # prev_kv=True
    assert deleted.deleted == 1 and [kv.value for kv in deleted.prev_kvs] == [b"ignored"]
    client.put("pd/a", "1")
    client.put("pd/b", "2")
    assert client.delete_range("pd/", prefix=True).deleted == 2


def test_txn_of_txn_obj_ops(client):
    client.put("tx/k", "old")
    put = client.put("tx/k", "new", txn_obj=True)
    assert put == {"request_put": {"key": "tx/k", "value": "new", "lease": 0, "prev_kv": False,
                                   "ignore_value": False, "ignore_lease": False}}
    rng = client.range("tx/", prefix=True, txn_obj=True)
    compare = [{"key": "tx/k", "result": "EQUAL", "target": "VALUE", "value": "old"}]
    resp = client.txn(compare, [put, rng], [client.delete_range("tx/k", txn_obj=True)])
    assert resp.succeeded is True
    assert [kv.value for kv in resp.responses[1].response_range.kvs] == [b"new"]
    failed = client.txn(compare=compare, success=[put], failure=[client.delete_range("tx/k", txn_obj=True)])
    assert failed.succeeded is False and client.range("tx/k").count == 0


def test_txn_obj_is_no_call_on_aioclient(client):
    target = getattr(client, "aio", client)  # the AioClient itself behind the facade
    op = target.put("k", "v", txn_obj=True)
    assert type(op) is RequestOp and op["request_put"]["key"] == "k"
    assert target.range("k", txn_obj=True) == {"request_range": {
        "key": "k", "limit": 0, "serializable": False, "keys_only": False, "count_only": False,
        "sort_order": SortOrder.NONE, "sort_target": SortTarget.KEY}}


def test_compact_by_position(client):
    client.put("cp/k", "1")
    revision = client.put("cp/k", "2").header.revision
    client.compact(revision, True)  # physical=True: answers once compacted
    with pytest.raises(errors.ErrCompacted):
        client.range("cp/k", revision=revision - 1)


def test_stray_keyword_is_a_type_error(client):
    with pytest.raises(TypeError, match="unexpected keyword argument 'timeout'"):
        client.put("k", "v", timeout=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'headers'"):
        client.range("k", headers={})
    assert client.range("k").count == 0  # nothing was sent


# --------------------------------------------------------------------------- lease

def test_lease_by_position(client):
    wanted = 0x5EED0000 + int(time.time()) % 10000
    granted = client.lease_grant(30, wanted)
    assert (granted.ID, granted.TTL) == (wanted, 30)
    client.put("ls/k", "v", wanted)
    ttl = client.lease_time_to_live(wanted, True)
    assert ttl.grantedTTL == 30 and ttl.keys == [b"ls/k"]
    assert client.lease_time_to_live(wanted).keys is None
    client.lease_revoke(wanted)
    assert client.lease_time_to_live(wanted).TTL == -1
    assert client.range("ls/k").count == 0


def test_lease_keep_alive_takes_a_raw_body(client):
    lease = client.lease_grant(30).ID
    for body in (b'{"ID":%d}\n' % lease, '{"ID":%d}' % lease, {"ID": lease}):
        items = Background(lambda: list(client.lease_keep_alive(body))).result(timeout=10)
        assert [(i.ID, i.TTL) for i in items] == [(lease, 30)], body
    # two requests in one body: two answers
    two = b'{"ID":%d}\n{"ID":%d}\n' % (lease, lease)
    items = Background(lambda: list(client.lease_keep_alive(two))).result(timeout=10)
    assert [i.ID for i in items] == [lease, lease]
    once = client.lease_keep_alive_once(lease)
    assert (once.ID, once.TTL) == (lease, 30)


# --------------------------------------------------------------------------- watch

def test_watch_create_by_position(client):
    start = client.put("wc/k", "1").header.revision
    client.put("wc/k", "2")

    def first_events():
        with client.watch_create("wc/k", None, start) as stream:  # start_revision by position
            responses = iter(stream)
            assert next(responses).created
            return [e.kv.value for e in next(responses).events]

    assert Background(first_events).result(timeout=10) in ([b"1", b"2"], [b"1"])


def test_watch_create_filters_and_prefix(client):
    def deletes_only():
        with client.watch_create("wf/", prefix=True, no_put=True, timeout=10) as stream:
            responses = iter(stream)
            assert next(responses).created
            client.put("wf/a", "x")
            client.delete_range("wf/a")
            return [(e.type, e.kv.key) for e in next(responses).events]

    assert Background(deletes_only).result(timeout=15) == [(models.EventEventType.DELETE, b"wf/a")]
    with pytest.raises(TypeError, match=r"^watch_create\(\) requires at least one argument of key,all$"):
        client.watch_create(prefix=True)
    with pytest.raises(TypeError, match="at most one of param range_end or prefix or all"):
        client.watch_create("a", "b", prefix=False)


def test_watch_takes_exactly_one_request_and_call_options(client):
    with pytest.raises(TypeError, match="at least one argument of create_request"):
        client.watch()
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        client.watch(create_request={"key": "w"}, bogus=1)

    def created():
        with client.watch(create_request={"key": "wt/k"}, timeout=10, headers={"X-Test": "1"}) as stream:
            return next(iter(stream)).created

    assert Background(created).result(timeout=15) is True


def test_watch_cancel_warns_then_sends(client):
    start = time.monotonic()
    with pytest.warns(Etcd3Warning, match="watch_cancel"):
        # the server never answers a cancel on a stream of its own: the call's timeout ends it
        with pytest.raises(errors.Etcd3Timeout):
            client.watch_cancel(1, timeout=1)
    assert time.monotonic() - start < 8


# --------------------------------------------------------------------------- auth, cluster, maintenance, lock

def test_users_and_roles_by_position(client):
    client.role_add("apis-r")
    client.user_add("apis-u", "pw-1")
    try:
        client.role_grant_permission("apis-r", "ap/", models.authpbPermissionType.READWRITE, prefix=True)
        client.role_grant_permission("apis-r", "one", "WRITE")
        perms = sorted((p.key, p.range_end, p.permType) for p in client.role_get("apis-r").perm)
        assert perms == [(b"ap/", b"ap0", models.authpbPermissionType.READWRITE),
                         (b"one", None, models.authpbPermissionType.WRITE)]
        client.role_revoke_permission("apis-r", "ap/", prefix=True)
        client.role_revoke_permission("apis-r", "one")
        assert client.role_get("apis-r").perm is None
        client.user_grant_role("apis-u", "apis-r")
        assert client.user_get("apis-u").roles == ["apis-r"]
        client.user_revoke_role("apis-u", "apis-r")
        assert client.user_get("apis-u").roles is None
        client.user_change_password("apis-u", "pw-2")
        assert "apis-u" in client.user_list().users and "apis-r" in client.role_list().roles
    finally:
        client.user_delete("apis-u")
        client.role_delete("apis-r")
    assert "apis-u" not in (client.user_list().users or ())


def test_authenticate_and_auth_disable_forgets_the_token(fresh_etcd):
    client = make_client(fresh_etcd)
    client.user_add("root", "root-pw")
    client.role_add("root")
    client.user_grant_role("root", "root")
    client.auth_enable()
    token = client.authenticate("root", "root-pw").token
    with pytest.raises(errors.ErrUserEmpty):
        client.put("au/k", "v")
    # call_rpc passes headers on
    client.call_rpc("/kv/put", {"key": "au/k", "value": "v"}, headers={"Authorization": token})
    client.token = token
    assert client.range("au/k").count == 1
    client.auth_disable()
    assert client.token is None
    assert client.range("au/k").count == 1


def test_cluster_by_position(fresh_etcd):
    client = make_client(fresh_etcd)
    member = client.member_list().members[0]
    client.member_update(member.ID, list(member.peerURLs))
    assert client.member_list().members[0].peerURLs == member.peerURLs
    if "isLearner" in inspect.signature(client.member_add).parameters:
        settle_membership_change(client)  # etcd drops a change proposed right after another
        # a field of newer versions: a keyword after 0.1.6's parameters (a learner keeps the quorum)
        added = client.member_add(["http://127.0.0.1:1"], isLearner=True).member
        assert added.isLearner is True
        settle_membership_change(client)
        client.member_remove(added.ID)
        assert [m.ID for m in client.member_list().members] == [member.ID]


def test_maintenance_by_position(client):
    member = client.status().header.member_id
    assert client.alarm(member).alarms is None
    assert client.alarm(0, models.AlarmRequestAlarmAction.GET, models.etcdserverpbAlarmType.NONE).alarms is None
    assert client.alarm_get(0, "NONE").alarms is None
    assert client.hash().hash > 0
    assert type(client.defragment()).__name__ == "DefragmentResponse"


def test_lock_by_position(client):
    lease = client.lease_grant(30).ID
    held = client.lock("apis-lock", lease)
    assert held.key.startswith(b"apis-lock/")
    assert client.range(held.key).kvs[0].lease == lease
    client.unlock(held.key)
    assert client.range(held.key).count == 0
    client.lease_revoke(lease)


# --------------------------------------------------------------------------- extra: /version, /health, /metrics

def test_version_health_metrics(client, etcd):
    version = client.version()
    server, cluster = version
    assert isinstance(version, etcd3.apis.EtcdVersion) and server == version.etcdserver == client.server_version
    assert cluster == version.etcdcluster == client.cluster_version
    health = client.health()
    assert health == "true" and isinstance(health, str) and health.health is True
    assert json.loads(json.dumps({"h": health})) == {"h": "true"}
    raw = client.metrics_raw()
    assert isinstance(raw, str) and "etcd_server_has_leader 1" in raw
    # 0.1.6: prometheus_client's text_string_to_metric_families (a test dependency here)
    families = client.metrics()
    assert not isinstance(families, (list, dict)) and iter(families) is families  # a generator, as 0.1.6's
    assert any(sample.name == "etcd_server_has_leader" and sample.value == 1.0
               for family in families for sample in family.samples)


# --------------------------------------------------------------------------- call_rpc

def test_call_rpc_paths_and_raw_bodies(client):
    client.put("cr/k", "v")
    for method in ("/kv/range", client.api_prefix + "/kv/range", "kv/range"):
        assert [kv.value for kv in client.call_rpc(method, {"key": "cr/k"}).kvs] == [b"v"], method
    body = '{"key": "Y3Ivaw=="}'  # cr/k, base64: posted as it is
    assert client.call_rpc("/kv/range", body).kvs[0].value == b"v"
    assert client.call_rpc("/kv/range", body.encode()).kvs[0].value == b"v"
    # encode=False: the dict is sent as JSON without encoding (so base64 by hand)
    assert client.call_rpc("/kv/range", {"key": "Y3Ivaw=="}, encode=False).kvs[0].value == b"v"


def test_call_rpc_timeout_is_passed_on(client, clients):
    other = clients()
    lease = other.lease_grant(30).ID
    waiting = other.lease_grant(30).ID  # the waiting request's: revoked, nothing stays behind
    other.lock("cr-lock", lease)
    start = time.monotonic()
    with pytest.raises(errors.Etcd3Timeout):
        client.call_rpc("/lock/lock", {"name": "cr-lock", "lease": waiting}, timeout=1)  # blocks while held
    assert time.monotonic() - start < 5
    other.lease_revoke(lease)
    other.lease_revoke(waiting)


def test_call_rpc_raw_has_its_body(client):
    client.put("raw/k", "v")
    resp = client.call_rpc("/kv/range", {"key": "raw/k"}, raw=True)
    if hasattr(client, "aio"):  # an aiohttp response: its body is read in the client's loop
        assert resp.status == 200
        data = json.loads(client._loop.run(resp.read()))
        assert client._loop.run(resp.json()) == data
    else:
        assert resp.status_code == 200 and resp.content.startswith(b"{")
        data = resp.json()
    assert data["kvs"][0]["value"] == "dg=="
    with pytest.raises(errors.ErrLeaseNotFound):
        client.call_rpc("/lease/revoke" if client.api_prefix != "/v3beta" else "/kv/lease/revoke",
                        {"ID": 424242}, raw=True)


def test_call_rpc_raw_stream(client):
    def first_line():
        resp = client.call_rpc("/watch", {"create_request": {"key": "raw/w"}}, stream=True, raw=True)
        try:
            if hasattr(client, "aio"):  # aiohttp's response, read in the client's loop
                return json.loads(client._loop.run(resp.content.readline()))
            return json.loads(next(resp.iter_lines()))  # requests'
        finally:
            resp.close()

    assert Background(first_line).result(timeout=10)["result"]["created"] is True


def test_call_rpc_rejects_unknown_options(client):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            client.call_rpc("/kv/range", {"key": "k"}, verify=False)

