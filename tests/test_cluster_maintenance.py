"""Cluster (member_*) and maintenance (status, alarm, defragment, hash, snapshot) RPCs,
plus the plain HTTP endpoints (version, health, metrics) and call_rpc."""
from __future__ import annotations

import json

import pytest

from conftest import make_client
from etcd3 import errors
from etcd3.apis.extra import parse_prometheus
from etcd3.models import etcdserverpbAlarmType
from etcd3.testing.server import free_port
from helpers import Background, etcd_tool, settle_membership_change, version_at_least


def unused_peer_url():
    return "http://127.0.0.1:%d" % free_port()


# --------------------------------------------------------------------------- members

def test_member_list_has_the_one_member(client, etcd):
    resp = client.member_list()
    assert len(resp.members) == 1
    member = resp.members[0]
    assert member.ID == resp.header.member_id
    assert member.name == "etcd0"
    assert member.clientURLs == [etcd.endpoint]
    assert member.peerURLs == [etcd.peer_url]
    if version_at_least(etcd.version, "3.4"):
        assert member.isLearner is False


def test_member_add_learner_then_remove(etcd_version, request):
    # a plain member added to a one-member cluster never starts and takes the quorum with
    # it: only learners (3.4+) can be added and removed safely here
    if not version_at_least(etcd_version, "3.4"):
        pytest.skip("learners are etcd 3.4+; 3.3 is covered by test_member_update_peer_urls")
    client = make_client(request.getfixturevalue("fresh_etcd"))
    url = unused_peer_url()
    added = client.member_add([url], isLearner=True)
    assert added.member.peerURLs == [url]
    assert added.member.isLearner is True
    assert added.member.ID != 0
    assert added.member.name == ""  # not started yet
    assert {m.ID for m in added.members} == {added.member.ID, added.header.member_id}
    listed = {m.ID: m for m in client.member_list().members}
    assert listed[added.member.ID].isLearner is True
    # an unstarted learner is not in sync: it cannot be promoted
    with pytest.raises(errors.ErrLearnerNotReady) as info:
        client.member_promote(added.member.ID)
    assert isinstance(info.value, errors.FailedPrecondition)
    settle_membership_change(client)
    removed = client.member_remove(added.member.ID)
    assert [m.ID for m in removed.members] == [added.header.member_id]
    assert [m.ID for m in client.member_list().members] == [added.header.member_id]
    client.put("still/writable", "yes")  # the cluster kept its quorum


def test_member_promote_of_a_voting_member(client, etcd_version):
    if not version_at_least(etcd_version, "3.4"):
        pytest.skip("member_promote is etcd 3.4+ (see test_member_promote_on_3_3_is_unsupported)")
    me = client.member_list().members[0]
    with pytest.raises(errors.ErrMemberNotLearner):
        client.member_promote(me.ID)


def test_member_promote_on_3_3_is_unsupported(client, etcd_version):
    if version_at_least(etcd_version, "3.4"):
        pytest.skip("3.4+ has member_promote")
    with pytest.raises(errors.UnsupportedOperation, match=r"3\.4") as info:
        client.member_promote(1)
    assert info.value.first_version.startswith("3.4")
    assert isinstance(info.value, AttributeError)
    assert not hasattr(client, "member_promote")


def test_member_update_peer_urls(fresh_etcd):
    client = make_client(fresh_etcd)
    me = client.member_list().members[0]
    extra = unused_peer_url()
    resp = client.member_update(me.ID, [fresh_etcd.peer_url, extra])
    assert resp.header.member_id == me.ID
    listed = client.member_list().members[0]
    assert sorted(listed.peerURLs) == sorted([fresh_etcd.peer_url, extra])
    settle_membership_change(client)
    client.member_update(me.ID, [fresh_etcd.peer_url])
    assert client.member_list().members[0].peerURLs == [fresh_etcd.peer_url]


def test_member_remove_unknown(client):
    with pytest.raises(errors.ErrMemberNotFound) as info:
        client.member_remove(0x1234)
    assert isinstance(info.value, errors.NotFound) and info.value.http_status == 404


def test_member_update_unknown(client):
    with pytest.raises(errors.ErrMemberNotFound):
        client.member_update(0x1234, [unused_peer_url()])


def test_member_add_bad_url(client):
    with pytest.raises(errors.ErrMemberBadURLs) as info:
        client.member_add(["not a url"])
    assert isinstance(info.value, errors.InvalidArgument)
    assert len(client.member_list().members) == 1


def test_member_add_existing_peer_url(client, etcd):
    with pytest.raises(errors.ErrPeerURLExist) as info:
        client.member_add([etcd.peer_url])
    assert isinstance(info.value, errors.FailedPrecondition)
    assert len(client.member_list().members) == 1


# --------------------------------------------------------------------------- status and hashes

def test_status(client, etcd):
    client.put("st/k", "v")
    status = client.status()
    assert status.version == etcd.version
    assert status.dbSize > 0
    assert status.leader == status.header.member_id != 0
    assert status.raftIndex > 0 and status.raftTerm >= 1
    assert status.header.revision == client.range("st/k").header.revision
    if version_at_least(etcd.version, "3.4"):
        assert 0 < status.dbSizeInUse <= status.dbSize
        assert status.raftAppliedIndex > 0
        assert status.isLearner is False


def test_defragment(client):
    client.put("df/k", "v" * 1000)
    resp = client.defragment()
    assert type(resp).__name__.endswith("DefragmentResponse")
    assert client.range("df/k").kvs[0].value == b"v" * 1000


def test_hash(client):
    # Hash: the whole backend; every version (up to 3.4 the spec calls the path HashKV,
    # but the gateway serves Hash there)
    first = client.hash()
    assert first.hash > 0
    assert first.header.revision > 0
    client.put("h/k", "v")
    assert client.hash().hash != first.hash


# HashKV got a gateway route of its own (/v3/maintenance/hashkv) in etcd 3.5.10 (etcd
# #16490); before, /maintenance/hash serves Hash and /v3/maintenance/hashkv is a 404.
HASH_KV_ROUTE = "3.5.10"


def test_hash_kv_without_a_route_is_unsupported(client, etcd):
    if version_at_least(etcd.version, HASH_KV_ROUTE):
        pytest.skip("the server has the hashkv route")
    # not a bare 404 "Not Found" on 3.5.0-3.5.9: the client should say what it needs
    needed = r"3\.5\.10" if version_at_least(etcd.version, "3.5") else r"3\.5"
    with pytest.raises(errors.UnsupportedOperation, match=needed) as info:
        client.hash_kv(0)
    assert isinstance(info.value, AttributeError)


def test_hash_kv(client, etcd):
    if not version_at_least(etcd.version, HASH_KV_ROUTE):
        pytest.skip("no hashkv route before etcd %s" % HASH_KV_ROUTE)
    r1 = client.put("hk/k", "1").header.revision
    r2 = client.put("hk/k", "2").header.revision
    at_r1 = client.hash_kv(r1)
    assert at_r1.hash > 0
    assert at_r1.header.revision == r2
    assert client.hash_kv(r1).hash == at_r1.hash  # the same revision, the same hash
    assert client.hash_kv(r2).hash != at_r1.hash
    assert client.hash_kv(0).hash == client.hash_kv(r2).hash  # 0: the current revision


def test_hash_kv_reports_the_compact_revision(client, etcd):
    if not version_at_least(etcd.version, HASH_KV_ROUTE):
        pytest.skip("no hashkv route before etcd %s" % HASH_KV_ROUTE)
    client.put("hk/c", "1")
    compacted = client.put("hk/c", "2").header.revision
    client.compact(compacted)
    current = client.put("hk/c", "3").header.revision
    assert client.hash_kv(current).compact_revision == compacted
    with pytest.raises(errors.ErrCompacted):
        client.hash_kv(compacted - 1)


# --------------------------------------------------------------------------- alarms

def test_alarm_get_is_empty(client):
    resp = client.alarm_get(0, "NONE")
    assert resp.alarms is None  # an absent list, as 0.1.6 decoded it


def test_alarm_nospace_blocks_writes_until_deactivated(fresh_etcd):
    client = make_client(fresh_etcd)
    member = client.member_list().members[0].ID
    client.put("al/before", "v")
    client.put("al/freeable", "v")
    activated = client.alarm_activate(member, "NOSPACE")
    assert [(a.memberID, a.alarm) for a in activated.alarms] == [(member, etcdserverpbAlarmType.NOSPACE)]
    listed = client.alarm_get(0, "NONE").alarms
    assert [(a.memberID, a.alarm) for a in listed] == [(member, etcdserverpbAlarmType.NOSPACE)]
    with pytest.raises(errors.ErrNoSpace) as info:
        client.put("al/during", "v")
    assert isinstance(info.value, errors.ResourceExhausted) and info.value.http_status == 429
    assert client.range("al/before").kvs[0].value == b"v"  # reads still work
    # deleting frees space: allowed under the alarm
    assert client.delete_range("al/freeable").deleted == 1
    with pytest.raises(errors.ErrNoSpace):
        client.txn([], [{"request_put": {"key": "al/txn", "value": "v"}}], [])
    deactivated = client.alarm_deactivate(member, etcdserverpbAlarmType.NOSPACE)
    assert [a.alarm for a in deactivated.alarms] == [etcdserverpbAlarmType.NOSPACE]  # the one cleared
    assert client.alarm_get(0, "NONE").alarms is None
    client.put("al/after", "v")
    assert client.range("al/", prefix=True).count == 2


def test_alarm_by_enum_index_and_action(fresh_etcd):
    client = make_client(fresh_etcd)
    member = client.member_list().members[0].ID
    client.alarm(action="ACTIVATE", memberID=member, alarm=1)  # 1: NOSPACE
    assert [a.alarm for a in client.alarm(0, action=0).alarms] == [etcdserverpbAlarmType.NOSPACE]  # 0: GET
    client.alarm(action="DEACTIVATE", memberID=member, alarm="NOSPACE")
    assert client.alarm_get(0, "NONE").alarms is None


# --------------------------------------------------------------------------- snapshot

def test_snapshot_is_a_valid_backend(client, etcd, tmp_path):
    for i in range(20):
        client.put("snap/%02d" % i, "value %d" % i)
    revision = client.range("snap/", prefix=True).header.revision
    target = tmp_path / "snapshot.db"

    def save():
        sizes = []
        with client.snapshot() as stream, open(target, "wb") as f:
            for item in stream:
                f.write(item.blob)
                sizes.append((len(item.blob), item.remaining_bytes))
        return sizes

    sizes = Background(save).result(timeout=30)
    assert len(sizes) >= 2
    assert sizes[-1][1] == 0  # remaining_bytes reaches 0
    assert target.stat().st_size == sum(n for n, _ in sizes)
    res = etcd_tool(etcd, "snapshot", "status", str(target), "-w", "json")
    assert res.returncode == 0, res.stderr
    status = json.loads(res.stdout)
    assert status["revision"] == revision
    assert status["totalKey"] >= 20
    # the etcd snapshot ends with the sha256 of the db: restore checks it
    restored = tmp_path / "restored"
    res = etcd_tool(etcd, "snapshot", "restore", str(target), "--data-dir", str(restored))
    assert res.returncode == 0, res.stderr
    assert (restored / "member" / "snap" / "db").exists()


# --------------------------------------------------------------------------- plain HTTP endpoints

def test_version(client, etcd):
    info = client.version()
    assert info.etcdserver == etcd.version
    assert info.etcdcluster == ".".join(etcd.version.split(".")[:2]) + ".0"


def test_health(client):
    assert client.health().health is True


def test_metrics(client):
    # prometheus_client (a test dependency) is installed: its families, as etcd3-py 0.1.6 gave
    samples = {sample.name: sample for family in client.metrics() for sample in family.samples}
    assert samples["etcd_server_has_leader"].value == 1.0
    assert "etcd_server_is_leader" in samples
    raw = client.metrics_raw()
    assert isinstance(raw, str) and "etcd_server_has_leader 1" in raw
    # without prometheus_client metrics() is this parse of the same text
    metrics = parse_prometheus(raw)
    assert metrics["etcd_server_has_leader"] == [({}, 1.0)]
    assert "etcd_server_is_leader" in metrics


def test_call_rpc_with_and_without_prefix(client):
    client.put("cr/k", "v")
    plain = client.call_rpc("/kv/range", {"key": "cr/k"})
    prefixed = client.call_rpc(client.api_prefix + "/kv/range", {"key": "cr/k"})
    by_name = client.call_rpc("range", {"key": "cr/k"})
    for resp in (plain, prefixed, by_name):
        assert [(kv.key, kv.value) for kv in resp.kvs] == [(b"cr/k", b"v")]
    assert plain == prefixed


def test_call_rpc_error_and_raw(client):
    with pytest.raises(errors.ErrLeaseNotFound):
        client.call_rpc("/lease/revoke" if "/v3beta" not in client.api_prefix else "/kv/lease/revoke",
                        {"ID": 424242})
    raw = client.call_rpc("/maintenance/status", {}, raw=True)
    assert getattr(raw, "status", getattr(raw, "status_code", None)) == 200
