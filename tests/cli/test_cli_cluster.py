"""``etcd3``'s member, endpoint and move-leader verbs side by side with etcdctl 3.5.1 on a real
3-member cluster (one per version, oldest and newest only), ``--endpoints`` naming every member.

Both tools run the same command on the same state; what necessarily differs between the two runs
(a new member's ID, raft indexes, the time a health check took, which member answered a
cluster-wide call) is masked, the rest compared byte for byte with the exit code."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from etcd3 import Client
from etcd3.testing.server import EtcdServer, free_port

sys.path.insert(0, str(Path(__file__).parent))  # cli_helpers beside this file (importlib mode)
from cli_helpers import run_tool  # noqa: E402
from helpers import version_at_least, wait_for  # noqa: E402

pytestmark = pytest.mark.etcd_versions("oldest", "newest")


@pytest.fixture
def cluster(module_cluster):
    return module_cluster


def on_cluster(tool, cluster, args, endpoints=None):
    """(exit code, stdout, stderr) of ``tool`` with ``--endpoints`` naming every member."""
    return run_tool(tool, None, ["--endpoints", ",".join(endpoints or cluster.endpoints)] + args)


def ask(endpoints, rpc):
    """The answer of a library client of ``endpoints`` to ``rpc()`` (the state the tools saw)."""
    client = Client(endpoints=endpoints)
    try:
        return getattr(client, rpc)()
    finally:
        client.close()


def both(cluster, args, endpoints=None):
    return [on_cluster(tool, cluster, args, endpoints) for tool in ("go", "py")]


ANSWERING_MEMBER = re.compile(rb'("header":\{"cluster_id":\d+,"member_id":)\d+')
MOVING_STATUS = re.compile(rb'"(dbSize|dbSizeInUse|raftIndex|raftAppliedIndex|revision|raft_term|raftTerm)":\d+')


def status_rows(text):
    """endpoint status's simple lines without the columns that move with every write."""
    rows = []
    for line in text.splitlines():
        cells = line.split(b", ")
        rows.append(cells[:3] + cells[4:6] + cells[9:])  # not db size, raft term, index, applied index
    return rows


def health_lines(text):
    return sorted(re.sub(rb"took = [0-9.]+(ns|\xc2\xb5s|ms|s)$", b"took = T", line) for line in text.splitlines())


def test_member_list_and_endpoint_verbs_as_etcdctl(cluster):
    for args in (["member", "list"], ["member", "list", "-w", "table"]):
        go, py = both(cluster, args)
        assert py[:2] == go[:2] and go[0] == 0, (args, py[2])
    go, py = both(cluster, ["member", "list", "-w", "json"])
    assert (py[0], ANSWERING_MEMBER.sub(rb"\1N", py[1])) == (go[0], ANSWERING_MEMBER.sub(rb"\1N", go[1]))
    go, py = both(cluster, ["member", "list", "-w", "fields"])
    assert py[0] == go[0] == 0 and py[1].split(b"\n")[2:] == go[1].split(b"\n")[2:]  # after the answering member
    go, py = both(cluster, ["endpoint", "status", "-w", "fields"])
    moving = re.compile(rb'^"(Revision|RaftTerm|DBSize|RaftIndex|RaftAppliedIndex)" : \d+$', re.M)
    assert py[0] == go[0] == 0 and moving.sub(b"N", py[1]) == moving.sub(b"N", go[1])

    for cluster_flag in ([], ["--cluster"]):
        go, py = both(cluster, ["endpoint", "status"] + cluster_flag)
        assert py[0] == go[0] == 0 and status_rows(py[1]) == status_rows(go[1]), (py, go)
        assert len(py[1].splitlines()) == 3
        go, py = both(cluster, ["endpoint", "health"] + cluster_flag)
        assert py[0] == go[0] == 0 and health_lines(py[1]) == health_lines(go[1]), (py, go)
    go, py = both(cluster, ["endpoint", "status", "-w", "json"])
    assert py[0] == go[0] == 0 and MOVING_STATUS.sub(b"N", py[1]) == MOVING_STATUS.sub(b"N", go[1])
    go, py = both(cluster, ["endpoint", "status", "-w", "table"])
    assert py[1].splitlines()[:3] == go[1].splitlines()[:3]  # the borders and the header
    go, py = both(cluster, ["endpoint", "health", "-w", "json", "--cluster"])
    shapes = [sorted((e["endpoint"], e["health"], sorted(e)) for e in json.loads(out)) for _, out, _ in (go, py)]
    assert shapes[1] == shapes[0] and len(shapes[0]) == 3

    # a member that does not answer: reported on its own line, the others still are, exit 1
    dead = "127.0.0.1:%d" % free_port()
    endpoints = [dead] + cluster.endpoints
    quick = ["--command-timeout", "1s", "--dial-timeout", "1s"]  # etcdctl waits this long on the dead one
    go, py = both(cluster, quick + ["endpoint", "health"], endpoints=endpoints)
    assert py[0] == go[0] == 1 and health_lines(py[1]) == health_lines(go[1])
    assert py[2].splitlines()[-1] == go[2].splitlines()[-1] == b"Error: unhealthy cluster"
    assert py[2].startswith(b"%s is unhealthy: failed to commit proposal: " % dead.encode())
    for args in (["put", "failover/k", "v"], ["get", "failover/k"]):  # the cluster client moves on
        go, py = both(cluster, quick + args, endpoints=endpoints)
        assert py[:2] == go[:2] and go[0] == 0, (args, py[2])
    go, py = both(cluster, quick + ["endpoint", "status"], endpoints=endpoints)
    assert py[0] == go[0] == 1 and status_rows(py[1]) == status_rows(go[1])
    assert py[2].startswith(b"Failed to get the status of endpoint %s (" % dead.encode()) and py[2].count(b"\n") == 1

    if version_at_least(cluster.members[0].binary_version, "3.5.10"):
        for args in (["endpoint", "hashkv"], ["endpoint", "hashkv", "--cluster", "-w", "json"],
                     ["endpoint", "hashkv", "-w", "fields"]):
            go, py = both(cluster, args)
            assert py[:2] == go[:2] and go[0] == 0, (args, py[2])
    else:  # no gateway route: refused in one line naming why, etcdctl's exit code for an RPC a server lacks
        code, out, err = on_cluster("py", cluster, ["endpoint", "hashkv"])
        assert (code, out) == (1, b"") and err.count(b"\n") == 1, err
        assert err.startswith(b"Error: endpoint hashkv needs etcd 3.5.10 or newer: the gRPC gateway of etcd ")


def new_member_transcript(tool, cluster, peer_port, learner):
    """member add (as learner), list, update, remove, remove again with ``tool``; the new ID masked."""
    peer, moved = "http://127.0.0.1:%d" % peer_port, "http://127.0.0.1:%d" % (peer_port + 1)
    transcript = []
    def add():
        result = on_cluster(tool, cluster, ["member", "add", "newbie", "--peer-urls=" + peer] +
                            (["--learner"] if learner else []))
        # etcd refuses a change for a while after a member was removed ("member not found", 3.5) or
        # before every member has been connected for 5 s ("unhealthy cluster"), whoever asks
        refused = b"member not found" in result[2] or b"unhealthy cluster" in result[2]
        assert result[0] == 0 or refused, result
        return None if refused else result

    added = wait_for(add, timeout=15, interval=0.2, message="the member added")
    ident = re.match(rb"Member +([0-9a-f]+) added", added[1]).group(1)
    for args in (None, ["member", "list"], ["member", "update", ident.decode(), "--peer-urls=" + moved],
                 ["member", "list", "-w", "table"], ["member", "remove", ident.decode()],
                 ["member", "remove", ident.decode()], ["member", "list"]):
        code, out, _err = added if args is None else on_cluster(tool, cluster, args)
        out = out.replace(b"%16s" % ident, b"NEWID").replace(ident, b"NEWID")
        # the members are listed in the order of their IDs: the new one's place is a matter of chance
        lines = [sorted_initial_cluster(line) for line in out.splitlines()]
        transcript.append((code, sorted(lines) if args and args[1] == "list" else lines))
    return transcript


def sorted_initial_cluster(line):
    m = re.match(rb'ETCD_INITIAL_CLUSTER="(.*)"$', line)
    return b'ETCD_INITIAL_CLUSTER="%s"' % b",".join(sorted(m.group(1).split(b","))) if m else line


def test_member_add_update_remove_as_etcdctl(cluster):
    port = free_port()
    go = new_member_transcript("go", cluster, port, learner=False)
    py = new_member_transcript("py", cluster, port, learner=False)
    assert py == go
    assert [code for code, _ in go] == [0, 0, 0, 0, 0, 1, 0]
    for args in (["member", "add", "a", "http://x"], ["member", "remove", "zz"], ["member", "update", "12345"],
                 ["member", "update", "12345", "--peer-urls=http://127.0.0.1:9"], ["move-leader", "zz"]):
        go, py = both(cluster, args)
        assert py[:2] == go[:2], args
        assert py[2].splitlines()[-1] == go[2].splitlines()[-1] and py[2].count(b"\n") == 1, (args, py[2], go[2])


def test_member_promote_as_etcdctl(cluster):
    """A learner added, started as a real member, then promoted; etcd 3.3 has no learners."""
    if not version_at_least(cluster.members[0].binary_version, "3.4"):
        code, out, err = on_cluster("py", cluster, ["member", "add", "x", "--peer-urls=http://127.0.0.1:9",
                                                    "--learner"])
        # etcd 3.3 would add a voting member instead (etcdctl lets it): refused here
        assert (code, out) == (1, b"") and err.startswith(b"Error: member add --learner needs etcd 3.4"), err
        go, py = both(cluster, ["member", "promote", "1234"])
        assert py[:2] == go[:2] == (1, b"") and py[2].count(b"\n") == 1, py[2]
        assert len(ask(cluster.endpoints, "member_list").members) == 3
        return
    port = free_port()
    go = new_member_transcript("go", cluster, port, learner=True)
    assert new_member_transcript("py", cluster, port, learner=True) == go
    assert any(line.startswith(b"NEWID") and line.endswith(b", true") for line in go[1][1])  # a learner
    for tool in ("go", "py"):
        peer_port = free_port()
        code, out, err = on_cluster(tool, cluster, ["member", "add", "lrn", "--learner",
                                                    "--peer-urls=http://127.0.0.1:%d" % peer_port])
        assert code == 0, err
        ident = re.match(rb"Member +([0-9a-f]+) added", out).group(1).decode()
        # not started yet: etcd refuses to promote it
        refused = both(cluster, ["member", "promote", ident])
        assert refused[1][:2] == refused[0][:2] == (1, b"") and refused[1][2].splitlines()[-1] == \
            refused[0][2].splitlines()[-1] == b"Error: etcdserver: can only promote a learner member which is in " \
                                              b"sync with leader"
        initial = re.search(rb'ETCD_INITIAL_CLUSTER="([^"]*)"', out).group(1).decode()
        learner = EtcdServer(binary=cluster.binary, name="lrn", peer_port=peer_port, initial_cluster=initial,
                             initial_cluster_state="existing", cluster_token=cluster.cluster_token)
        learner.start()
        try:
            # in sync once etcd agrees to promote it: ask until it does (etcdctl's own answer decides)
            def promote():
                result = on_cluster(tool, cluster, ["member", "promote", ident])
                return result if result[0] == 0 else None

            promoted = wait_for(promote, timeout=15, message="the learner promoted")
            assert promoted[1] == b"Member %16s promoted in cluster %16x\n" % (
                ident.encode(), ask(cluster.endpoints, "member_list").header.cluster_id)
            assert on_cluster(tool, cluster, ["member", "remove", ident])[0] == 0
        finally:
            learner.stop()


def test_move_leader_as_etcdctl(cluster):
    def roles():
        statuses = [ask([m.endpoint], "status") for m in cluster.members]
        leader = next(s.leader for s in statuses if s.leader)
        return leader, [s.header.member_id for s in statuses if s.header.member_id != leader]

    for tool in ("go", "py"):
        leader, followers = roles()
        code, out, err = on_cluster(tool, cluster, ["move-leader", "%x" % followers[0]])
        assert (code, out) == (0, b"Leadership transferred from %x to %x\n" % (leader, followers[0])), err
        wait_for(lambda: roles()[0] == followers[0], timeout=10)
    leader, followers = roles()
    follower_endpoint = [m.endpoint for m in cluster.members
                         if ask([m.endpoint], "status").header.member_id == followers[0]]
    go, py = both(cluster, ["move-leader", "%x" % followers[1]], endpoints=follower_endpoint)
    assert py[:2] == go[:2] == (128, b"") and py[2] == go[2].splitlines(True)[-1] == \
        b"Error: no leader endpoint given at [%s]\n" % follower_endpoint[0].encode()


def test_watch_of_a_compacted_revision_as_etcdctl(cluster):
    """The server cancels the watch: its line on stderr, etcdctl's error and exit code 5."""
    client = Client(endpoints=cluster.endpoints)
    try:
        client.put("compacted/k", "1")
        client.compact(client.put("compacted/k", "2").header.revision)
    finally:
        client.close()
    # which member answers is the client's choice; the compacted revision moves with the tests before
    moving = re.compile(rb'"CompactRevision":\d+|"member_id":\d+|"MemberID" : \d+')
    for fmt in ("simple", "json", "fields"):
        go, py = both(cluster, ["watch", "compacted/k", "--rev", "1", "-w", fmt])
        assert (py[0], moving.sub(b"N", py[1])) == (go[0], moving.sub(b"N", go[1])), fmt
        assert py[0] == 5 and without_logs(py[2]) == without_logs(go[2]) == \
            b"watch was canceled (etcdserver: mvcc: required revision has been compacted)\n" \
            b"Error: watch is canceled by the server\n"


def without_logs(stderr):
    return b"".join(line for line in stderr.splitlines(True) if not line.startswith(b'{"level"'))
