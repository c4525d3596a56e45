"""``etcd3`` get/put/del against etcdctl 3.5.1 on the same server: stdout byte for byte (revisions
masked where the two runs of a write necessarily differ) and the exit code."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # cli_helpers beside this file (importlib mode)
from cli_helpers import mask_revisions, run_tool
from conftest import make_client

pytestmark = pytest.mark.etcd_versions("oldest", "newest")

READ_COMMANDS = [
    ["get", "cli/a"],
    ["get", "cli/a", "-w", "json"],
    ["get", "cli/a", "-w", "fields"],
    ["get", "cli/", "--prefix"],
    ["get", "cli/", "--prefix", "-w", "json"],
    ["get", "cli/", "--prefix", "--hex"],
    ["get", "cli/", "--prefix", "-w", "fields", "--hex"],
    ["get", "cli/", "--prefix", "--keys-only"],
    ["get", "cli/", "--prefix", "--print-value-only"],
    ["get", "cli/", "--prefix", "--count-only", "-w", "fields"],
    ["get", "cli/", "--prefix", "--limit", "2", "-w", "json"],
    ["get", "cli/", "--prefix", "--sort-by", "VALUE", "--order", "DESCEND"],
    ["get", "cli/", "--prefix", "--sort-by", "modify", "--order", "ascend", "-w", "json"],
    ["get", "cli/", "--prefix", "--sort-by", "VERSION"],
    ["get", "cli/", "--prefix", "--order", "DESCEND", "--limit", "1"],
    ["get", "cli/a", "cli/c"],
    ["get", "cli/b", "--from-key", "--keys-only"],
    ["get", "cli/", "--prefix", "--consistency", "s"],
    ["get", "cli/", "--prefix", "--rev", "REV1"],
    ["get", "cli/nothing", "-w", "json"],
    ["get", "--prefix", "cli/u", "--endpoints", "ENDPOINT"],  # a global flag after the verb
    # bad input: etcdctl's exit codes
    ["get"],
    ["get", "a", "b", "c"],
    ["get", "a", "--prefix", "--from-key"],
    ["get", "a", "--keys-only", "--count-only", "-w", "fields"],
    ["get", "a", "--count-only"],
    ["get", "a", "--print-value-only", "-w", "json"],
    ["get", "a", "--sort-by", "FOO"],
    ["get", "a", "--order", "UP"],
    ["get", "a", "--consistency", "x"],
    ["get", "a", "-w", "table"],
    ["get", "a", "--no-such-flag"],
    ["no-such-verb"],
    ["put"],
    ["put", "a", "b", "--lease", "xyz"],
    ["put", "a", "b", "--ignore-value"],
    ["del"],
    ["del", "a", "b", "c"],
    ["del", "a", "--prefix", "--from-key"],
]


@pytest.fixture
def seeded(etcd):
    c = make_client(etcd)
    c.delete_range(all=True)
    first = c.put("cli/a", "1").header.revision
    c.put("cli/b", "zz")
    c.put("cli/c", "y\nwith newline")
    c.put("cli/a", "3")
    c.put("cli/\xe9t\xe9", "\u00fcml")
    yield c, first
    c.delete_range(all=True)
    c.close()


def compare(etcd, args, stdin=None, mask=False):
    go = run_tool("go", etcd, args, stdin=stdin)
    py = run_tool("py", etcd, args, stdin=stdin)
    go_out, py_out = (mask_revisions(go[1]), mask_revisions(py[1])) if mask else (go[1], py[1])
    if "--no-such-flag" in args:
        go_out, py_out = go_out.startswith(b"NAME:"), py_out.startswith(b"usage:")  # the usage, in our words
    assert (py[0], py_out) == (go[0], go_out), (args, py[2], go[2])
    if go[0] != 0:
        assert py[2].startswith(b"Error: ") and b"Traceback" not in py[2], (args, py[2])
    return py


def test_reads_as_etcdctl(etcd, seeded):
    _client, first = seeded
    for args in READ_COMMANDS:
        args = [{"REV1": str(first), "ENDPOINT": etcd.endpoint}.get(a, a) for a in args]
        compare(etcd, args)


def test_writes_as_etcdctl(etcd, seeded):
    client, _first = seeded
    lease = client.lease_grant(60).ID
    writes = [
        (["put", "cli/w", "v1"], None),
        (["put", "cli/w", "v2", "--prev-kv"], None),
        (["put", "cli/w", "v3", "--prev-kv", "-w", "json"], None),
        (["put", "cli/w", "--prev-kv", "-w", "fields"], b"from stdin"),
        (["put", "cli/w", "--ignore-value", "--lease", "%x" % lease, "-w", "json"], None),
        (["put", "cli/w", "v4", "--ignore-lease", "--prev-kv", "--hex"], None),
        (["put", "--", "cli/w", "-dash"], None),
        (["del", "cli/w"], None),
        (["del", "cli/w", "--prev-kv", "-w", "json"], None),
        (["del", "cli/", "--prefix", "--prev-kv"], None),
        (["del", "cli/b", "--from-key", "-w", "fields"], None),
        (["del", "cli/a", "cli/c", "--prev-kv", "--hex"], None),
    ]
    for args, stdin in writes:
        outputs = []
        for tool in ("go", "py"):
            # the same state before each tool's run: only the revisions differ
            client.delete_range(all=True)
            for key, value in (("cli/a", "1"), ("cli/b", "zz"), ("cli/c", "3"), ("cli/w", "v0")):
                client.put(key, value, lease=lease if key == "cli/w" else 0)
            code, out, err = run_tool(tool, etcd, args, stdin=stdin)
            after = [(kv.key, kv.value, kv.lease) for kv in client.range(all=True).kvs or ()]
            outputs.append((code, mask_revisions(out), after))
        assert outputs[1] == outputs[0], args
    client.lease_revoke(lease)


def test_connection_errors_are_one_line(etcd, tmp_path):
    from etcd3.testing.server import free_port

    cases = [
        ["--endpoints", "127.0.0.1:%d" % free_port(), "--dial-timeout", "1s", "get", "a"],
        # no member of a cluster answers
        ["--endpoints", "127.0.0.1:%d,127.0.0.1:%d" % (free_port(), free_port()), "--dial-timeout", "1s",
         "--command-timeout", "1s", "get", "a"],
        ["--cacert", str(tmp_path / "missing.pem"), "get", "a"],
        ["--cert", str(tmp_path / "missing.pem"), "--key", str(tmp_path / "missing.key"), "get", "a"],
    ]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases += [["--cert", str(garbage), "--key", str(garbage), "get", "a"], ["--cacert", str(garbage), "get", "a"]]
    for args in cases:
        if "--endpoints" not in args:
            args = ["--endpoints", etcd.endpoint] + args
        go = run_tool("go", None, args)
        py = run_tool("py", None, args)
        assert py[0] == go[0], (args, py, go)
        lines = py[2].decode().splitlines()
        if go[0] != 0:
            assert len(lines) == 1 and lines[0].startswith("Error: "), py[2]
    py = run_tool("py", None, ["--debug", "--endpoints", "127.0.0.1:%d" % free_port(), "get", "a"])
    assert py[0] == 1 and b"Traceback" in py[2]


def test_environment_variables(etcd, seeded):
    env = {"ETCDCTL_ENDPOINTS": etcd.endpoint, "ETCDCTL_WRITE_OUT": "json", "ETCDCTL_HEX": "true"}
    import subprocess
    import sys

    py = subprocess.run([sys.executable, "-m", "etcd3", "get", "cli/a"], capture_output=True, env=env)
    go = run_tool("go", etcd, ["get", "cli/a", "-w", "json", "--hex"])
    assert (py.returncode, py.stdout) == (go[0], go[1])


def test_streams_of_an_unreachable_cluster_end_in_one_line():
    """A watch opens within the command timeout on some member or ends (etcdctl's retries for
    ever); a snapshot is one member's, as etcdctl says before connecting."""
    from etcd3.testing.server import free_port

    endpoints = "127.0.0.1:%d,127.0.0.1:%d" % (free_port(), free_port())
    quick = ["--endpoints", endpoints, "--dial-timeout", "500ms", "--command-timeout", "500ms"]
    code, out, err = run_tool("py", None, quick + ["watch", "k"], timeout=20)
    assert (code, out) == (1, b"") and err.startswith(b"Error: no member answered within 1.0s (") and \
        err.count(b"\n") == 1, err
    results = [run_tool(tool, None, quick + ["snapshot", "save", "never.db"]) for tool in ("go", "py")]
    assert results[1] == results[0] and results[0][0] == 5, results  # etcdctl's code for it
