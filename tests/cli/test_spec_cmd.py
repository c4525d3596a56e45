"""``etcd3 spec``: pure tests on the bundled specs, no server.

The facts checked come from the spec files themselves: 3.4 added MemberPromote and
Member.isLearner, 3.5 added AuthStatus, Downgrade, HashKV's own route and
MemberListRequest.linearizable, 3.4 moved the gateway from /v3beta to /v3."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from etcd3.cli import spec_cmd
from etcd3.spec import bundled_versions


def run(*argv: str):
    out = io.StringIO()
    return spec_cmd.main(list(argv), out=out), out.getvalue()


def test_diff_3_4_to_3_5_lists_the_added_rpcs_and_fields():
    diff = spec_cmd.spec_diff("3.4", "3.5")
    assert (diff["from"], diff["to"]) == ("3.4", "3.5")
    assert diff["rpcs_added"] == {"auth_status": "AuthStatus", "downgrade": "Downgrade", "hash_kv": "HashKV"}
    assert diff["rpcs_removed"] == {}
    assert diff["changed"]["member_list"]["request"]["added"] == {"linearizable": "bool"}
    assert "range" not in diff["changed"]  # Range did not change
    assert diff["prefix"] == ["/v3", "/v3"]


def test_diff_3_3_to_3_4_sees_nested_fields_prefix_and_routes():
    diff = spec_cmd.spec_diff("3.3", "3.4")
    assert diff["prefix"] == ["/v3beta", "/v3"]
    assert diff["rpcs_added"] == {"member_promote": "MemberPromote"}
    member_list = diff["changed"]["member_list"]
    assert member_list["response"]["added"] == {"members.isLearner": "bool"}
    assert diff["changed"]["lease_revoke"]["path"] == ["/v3beta/kv/lease/revoke", "/v3/lease/revoke"]
    assert diff["changed"]["status"]["response"]["added"]["dbSizeInUse"] == "int64"


def test_diff_backwards_lists_removals():
    diff = spec_cmd.spec_diff("3.5", "3.4")
    assert set(diff["rpcs_removed"]) == {"auth_status", "downgrade", "hash_kv"}
    assert diff["changed"]["member_list"]["request"]["removed"] == {"linearizable": "bool"}


def test_diff_of_a_version_with_itself_is_empty():
    out = run("diff", "3.5", "3.5")[1]
    assert spec_cmd.spec_diff("3.5", "v3.5.16")["changed"] == {}
    assert "no RPC or field differs" in out


def test_diff_text_and_json():
    code, out = run("diff", "3.4", "3.5")
    assert code == 0
    assert "+ downgrade (Downgrade)" in out.splitlines()
    assert "    request + linearizable bool" in out.splitlines()
    code, out = run("diff", "3.4", "3.5", "--json")
    assert code == 0 and json.loads(out) == spec_cmd.spec_diff("3.4", "3.5")


def test_list_names_every_bundled_version():
    code, out = run()
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["SPEC", "ETCD", "PREFIX", "RPCS"]
    assert [line.split()[0] for line in lines[1:]] == bundled_versions()
    assert "3.5   3.5.16  /v3       48" in lines
    assert run("list")[1] == out


def test_show_an_rpc_by_rpc_or_method_name():
    code, out = run("show", "3.5", "Range")
    assert code == 0
    assert out.splitlines()[:2] == ["Range (client.range) in spec 3.5 (etcd 3.5.16)", "POST /v3/kv/range"]
    assert "Request: RangeRequest" in out and "Response: RangeResponse" in out
    assert "  sort_order           RangeRequestSortOrder{NONE,ASCEND,DESCEND}" in out.splitlines()
    assert "    mod_revision     int64" in out.splitlines()  # kvs[].mod_revision, nested
    assert run("show", "3.5", "range") == (code, out)
    assert run("show", "3.5.16", "KV.Range") == (code, out)
    top = run("show", "3.5", "range", "--depth", "1")[1]
    assert "    mod_revision     int64" not in top.splitlines() and "  kvs     []mvccpbKeyValue" in top


def test_show_json_fields():
    code, out = run("show", "3.3", "lease_grant", "--json")
    data = json.loads(out)
    assert code == 0 and data["path"] == "/v3beta/lease/grant"
    assert data["request"] == {"TTL": "int64", "ID": "int64"}
    assert data["response"]["TTL"] == "int64"


def test_show_version_lists_its_rpcs():
    code, out = run("show", "3.4")
    assert code == 0 and out.startswith("spec 3.4 (etcd 3.4.23, gateway prefix /v3): 45 RPCs\n")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert rows["watch"] == ["Watch", "/v3/watch", "stream"]
    assert "downgrade" not in rows and rows["hash"][0] == "Hash"


@pytest.mark.parametrize("argv, message", [
    (["show", "3.1", "range"], "no bundled spec for etcd 3.1 (bundled spec versions: 3.2, "),
    (["diff", "3.4", "banana"], "not a version: 'banana'"),
    (["show", "3.4", "downgrade"], "downgrade is not an RPC of spec 3.4 (it is in spec 3.5, 3.6)"),
    (["show", "3.4", "rnage"], "unknown RPC 'rnage' in spec 3.4 (did you mean range"),
    (["show", "3.4", "range", "--depth", "0"], "--depth must be 1 or more"),
])
def test_bad_input_exits_2_with_a_message(argv, message, capsys):
    assert run(*argv) == (2, "")
    assert message in capsys.readouterr().err


def test_unknown_subcommand_prints_usage_and_exits_2(capsys):
    assert run("frobnicate")[0] == 2
    assert "usage: etcd3 spec" in capsys.readouterr().err


@pytest.mark.parametrize("command, code, stdout, stderr", [
    (["-m", "etcd3.cli.spec_cmd", "show", "3.2", "nope"], 2, "", "etcd3 spec: unknown RPC 'nope' in spec 3.2"),
    (["-m", "etcd3", "spec", "diff", "3.3", "3.4"], 0, "+ member_promote (MemberPromote)\n", ""),
], ids=["python -m etcd3.cli.spec_cmd", "python -m etcd3 spec"])
def test_runs_as_a_module_and_as_etcd3_spec(command, code, stdout, stderr):
    proc = subprocess.run([sys.executable] + command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == code
    assert stdout in proc.stdout and (proc.stdout == "") == (stdout == "")
    assert proc.stderr.startswith(stderr) and (proc.stderr == "") == (stderr == "")
