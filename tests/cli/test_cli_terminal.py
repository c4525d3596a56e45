"""Verbs that talk to a user: ``watch -i`` (lines on stdin), ``user passwd`` (prompts on a
pseudo-terminal, or stdin with --interactive=false) and ``snapshot save``'s progress line (on a
terminal only), against etcdctl 3.5.1 where it has the same behaviour."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # cli_helpers and test_shell beside this file
from cli_helpers import etcdctl_path, run_tool  # noqa: E402
from conftest import make_client  # noqa: E402
from test_shell import Terminal  # noqa: E402

from etcd3 import Client, errors  # noqa: E402

pytestmark = [pytest.mark.sync_only, pytest.mark.etcd_versions("oldest", "newest")]


def command(tool):
    return [sys.executable, "-m", "etcd3"] if tool == "py" else [str(etcdctl_path())]


def without_go_logs(stderr):
    """etcdctl's stderr without its client's JSON log lines."""
    return b"".join(line for line in stderr.splitlines(True) if not line.startswith(b'{"level"'))


def read_lines(proc, count, timeout=20):
    """``count`` lines of ``proc``'s stdout; the process is killed if they do not come in time."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        return [proc.stdout.readline() for _ in range(count)]
    finally:
        timer.cancel()


def test_watch_interactive_as_etcdctl(etcd):
    client = make_client(etcd)
    transcripts = []
    try:
        for tool in ("go", "py"):
            client.delete_range("wi/", prefix=True)
            start = client.put("wi/seed", "0").header.revision + 1
            proc = subprocess.Popen(command(tool) + ["--endpoints", etcd.endpoint, "watch", "-i"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # from a revision to come: the events arrive however late each watch is created
            proc.stdin.write(b"\nfoo bar\nwatch\nwatch wi/a --rev %d\nwatch wi/ --prefix --prev-kv --rev %d\n"
                             % (start, start))
            proc.stdin.flush()
            client.put("wi/a", "1")
            client.put("wi/b", "2")
            events = read_lines(proc, 3 + 6)  # wi/a on both watches, wi/b on the prefix one
            proc.stdin.write(b"progress\n")
            proc.stdin.flush()
            progress = read_lines(proc, 2)
            proc.stdin.close()  # the end of stdin ends the command
            code = proc.wait(20)
            transcripts.append((code, sorted(events), [re.sub(rb"\d+", b"N", line) for line in progress],
                                proc.stdout.read(), without_go_logs(proc.stderr.read())))
    finally:
        client.delete_range("wi/", prefix=True)
        client.close()
    assert transcripts[1] == transcripts[0]
    code, events, progress, _rest, stderr = transcripts[0]
    assert code == 3 and events.count(b"PUT\n") == 3 and progress == [b"progress notify: N\n"] * 2
    assert stderr.splitlines()[-1] == b"Error: error reading watch request line: EOF"


@pytest.fixture
def auth_enabled(fresh_etcd):
    client = make_client(fresh_etcd)
    client.user_add("root", "rootpw")
    client.role_add("root")
    client.user_grant_role("root", "root")
    client.user_add("u1", "pw0")
    client.auth_enable()
    client.close()
    yield fresh_etcd


def password_works(server, password):
    client = Client(endpoints=[server.endpoint], username="u1", password=password)
    try:
        client.auth()
        return True
    except errors.Etcd3APIError:
        return False
    finally:
        client.close()


@pytest.mark.etcd_versions("newest")
def test_user_passwd_as_etcdctl(auth_enabled, tmp_path):
    server = auth_enabled
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    root = ["--endpoints", server.endpoint, "--user", "root:rootpw"]
    screens = []
    for tool in ("go", "py"):
        new = "secret-of-" + tool
        terminal = Terminal(command(tool) + root + ["user", "passwd", "u1"], env)
        try:
            terminal.expect("Password of u1: ")
            terminal.send(new.encode() + b"\r")
            terminal.expect("Type password of u1 again for confirmation: ")
            terminal.send(new.encode() + b"\r")
            terminal.expect("Password updated\n")
            assert terminal.wait() == 0
        finally:
            terminal.close()
        if tool == "py":  # typed without echo (etcdctl turns the echo off after its prompt: a race)
            assert new.encode() not in terminal.screen
        assert password_works(server, new) and not password_works(server, "pw0")
        screens.append(terminal.screen.replace(new.encode() + b"\n", b""))
    assert screens[1] == screens[0]

    # from stdin (pipes): --interactive=false takes the first word; prompts and refusals as etcdctl's
    for stdin, args in ((b"word1 word2\n", ["--interactive=false"]), (b"one\ntwo\n", []), (b"\n", [])):
        results = [run_tool(tool, None, root + ["user", "passwd", "u1"] + args, stdin=stdin) for tool in ("go", "py")]
        (go_code, go_out, go_err), (py_code, py_out, py_err) = results
        assert (py_code, py_out) == (go_code, go_out), stdin
        if go_code:
            assert py_err.splitlines() == [go_err.splitlines()[-1]], (py_err, go_err)
    assert password_works(server, "word1")
    code, out, _ = run_tool("py", None, root + ["user", "add", "u2", "--new-user-password=given"])
    assert (code, out) == (0, b"User u2 created\n")


@pytest.mark.etcd_versions("newest")
def test_snapshot_progress_line_on_a_terminal_only(etcd, tmp_path):
    target = tmp_path / "on-a-tty.db"
    terminal = Terminal(command("py") + ["--endpoints", etcd.endpoint, "snapshot", "save", str(target)],
                        dict(os.environ))
    try:
        shown = terminal.expect("Snapshot saved at %s\n" % target)
        assert terminal.wait() == 0
    finally:
        terminal.close()
    assert re.match(r"^\d+(\.\d)? [kMG]?B downloaded, \d+(\.\d)? [kMG]?B/s *\n", shown), shown
    piped = tmp_path / "piped.db"
    code, out, err = run_tool("py", etcd, ["snapshot", "save", str(piped)])
    assert (code, out, err) == (0, b"Snapshot saved at %s\n" % str(piped).encode(), b"")
    assert target.stat().st_size == piped.stat().st_size > 4096
