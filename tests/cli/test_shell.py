"""``etcd3 shell`` through a real pseudo-terminal against a real etcd, and its printing
and completion as pure code.

The pty tests type as a user does (Tab included) into the standard library's console
(``ETCD3_SHELL=python``, so an installed IPython does not change what is tested) and
read the screen with a deadline on every read."""
from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from etcd3.cli.shell import ShellCompleter, format_value, history_path, namespace
from etcd3.spec import load_bundle

pytestmark = pytest.mark.sync_only

READ_TIMEOUT = 20.0
_ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]|\r|\x07")


class Terminal:
    """A child process on a pty; ``expect`` reads until a text appears or a deadline."""

    def __init__(self, argv, env):
        self.master, slave = os.openpty()
        # wide, so that readline never wraps a line
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self.screen = b""  # everything shown so far, escape sequences removed
        self.seen = 0  # where the next expect starts looking

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _read(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([self.master], [], [], left)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            return False
        self.screen += _ESCAPES.sub(b"", chunk)
        return True

    def expect(self, text: str, timeout: float = READ_TIMEOUT) -> str:
        """The screen from the last match up to and including ``text``."""
        wanted, deadline = text.encode(), time.monotonic() + timeout
        while True:
            at = self.screen.find(wanted, self.seen)
            if at >= 0:
                shown, self.seen = self.screen[self.seen:at + len(wanted)], at + len(wanted)
                return shown.decode("utf-8", "replace")
            if not self._read(deadline):
                raise AssertionError("%r not shown within %ss; the screen ends with:\n%s"
                                     % (text, timeout, self.screen[-2000:].decode("utf-8", "replace")))

    def wait(self, timeout: float = READ_TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while self._read(deadline):  # drain what is left (the child may block on a full pty)
            pass
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def open_shell(etcd, tmp_path):
    """``open_shell()``: ``python -m etcd3.cli.shell`` on a pty (``open_shell(argv)``: another
    command; ``{endpoint}`` in it is the server's)."""
    env = dict(os.environ, ETCD3_SHELL="python", XDG_STATE_HOME=str(tmp_path / "state"), TERM="dumb",
               INPUTRC=os.devnull, PAGER="cat")
    opened = []

    def open_(argv=("-m", "etcd3.cli.shell", "--endpoints", "{endpoint}")):
        terminal = Terminal([sys.executable] + [a.format(endpoint=etcd.endpoint) for a in argv], env)
        opened.append(terminal)
        return terminal

    yield open_
    for terminal in opened:
        terminal.close()


@pytest.mark.etcd_versions("oldest", "newest")
def test_shell_session_on_a_pty(open_shell, client, tmp_path):
    shell = open_shell()
    banner = shell.expect(">>> ")
    assert "shell: %s, etcd %s" % (client.baseurl, client.server_version) in banner
    assert "spec %s (etcd %s API" % (client.spec.version, client.spec.etcd_version) in banner

    shell.send(b"c.pu\t")  # the method of the server's spec, completed with its parenthesis
    shell.expect("c.put(")
    shell.send(b"k\t")  # its keyword argument
    shell.expect("key=")
    shell.send(b'"greeting", value="hello")\r')
    put = shell.expect(">>> ")
    assert "PutResponse\n  header: cluster_id=" in put
    assert client.range("greeting").kvs[0].value == b"hello"  # the completed line ran as typed

    shell.send(b'c.range("greeting")\r')
    shown = shell.expect(">>> ")
    assert "RangeResponse\n  header: " in shown
    assert "\n  kvs:\n    - key: 'greeting'\n" in shown
    assert "\n      value: 'hello'\n" in shown and "\n  count: 1\n" in shown

    shell.send(b"help(c.put)\r")  # pydoc on TERM=dumb: printed, no pager
    shown = shell.expect(">>> ")
    assert "put(key, value" in shown and "Parameters:" in shown

    shell.send(b"\x04")  # Ctrl-D at an empty prompt leaves
    assert shell.wait() == 0
    history = (tmp_path / "state" / "etcd3" / "history").read_text()
    assert 'c.put(key="greeting", value="hello")' in history and "c.range(" in history

    again = open_shell()  # the next session has the history, and adds its own lines to it
    again.expect(">>> ")
    again.send(b"\x1b[A")  # up arrow: the last line of the previous session
    again.expect("help(c.put)")
    again.send(b"\x15c.version()\r")  # Ctrl-U clears the line
    again.expect("EtcdVersion(etcdserver='%s'" % client.server_version)
    again.expect(">>> ")
    again.send(b"\x04")
    assert again.wait() == 0
    lines = (tmp_path / "state" / "etcd3" / "history").read_text().splitlines()
    assert lines[-4:] == ['c.put(key="greeting", value="hello")', 'c.range("greeting")', "help(c.put)",
                          "c.version()"]


@pytest.mark.etcd_versions("oldest", "newest")
def test_shell_exit_status_and_errors(open_shell, client):
    shell = open_shell(["-m", "etcd3", "--endpoints", "{endpoint}", "shell"])  # as the etcd3 command runs it
    shell.expect(">>> ")
    shell.send(b'c.lease_revoke(123456789)\r')  # an etcd error is printed, the session goes on
    shown = shell.expect(">>> ")
    assert "ErrLeaseNotFound" in shown
    shell.send(b"raise SystemExit(3)\r")
    assert shell.wait() == 3


@pytest.mark.etcd_versions("oldest", "newest")
def test_streams_wait_through_silence(open_shell, client):
    """Unary calls have the command timeout; a stream (the shell's, etcd3 watch) waits on a
    silent server for longer than that, and its next event arrives."""
    timeouts = ["--dial-timeout", "500ms", "--command-timeout", "1s"]  # the client's timeout: 1.5 s
    shell = open_shell(["-m", "etcd3.cli.shell", "--endpoints", "{endpoint}"] + timeouts)
    shell.expect(">>> ")
    shell.send(b'w = iter(c.watch_create(key="quiet")); next(w).created\r')
    shell.expect("True")
    shell.expect(">>> ")
    shell.send(b"next(w).events[0].kv.value\r")
    watch = subprocess.Popen([sys.executable, "-m", "etcd3", "--endpoints", client.baseurl] + timeouts +
                             ["watch", "quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(2.5)  # the silence under test: longer than the client's timeout
        assert watch.poll() is None, watch.stderr.read()
        client.put("quiet", "finally")
        shell.expect("'finally'")
        assert [watch.stdout.readline() for _ in range(3)] == [b"PUT\n", b"quiet\n", b"finally\n"]
    finally:
        watch.kill()
        watch.wait(10)
    shell.send(b"c.range('quiet').count\r")  # unary calls still work
    shell.expect("1")


def test_unreachable_endpoint_is_one_line_and_status_1(tmp_path):
    from etcd3.testing.server import free_port

    env = dict(os.environ, ETCD3_SHELL="python", XDG_STATE_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "etcd3.cli.shell", "--endpoints",
                           "127.0.0.1:%d" % free_port(), "--dial-timeout", "1s"],
                          input="", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("etcd3 shell: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "127.0.0.1" in proc.stderr


# -- pure: printing and completion -----------------------------------------------------------

def _model(version: str, method: str, side: str = "response"):
    op = load_bundle(version).operations[method]
    return (op.response if side == "response" else op.request).getModel()


def test_models_print_as_trees_with_utf8_bytes_as_text():
    RangeResponse = _model("3.5", "range")
    resp = RangeResponse(header={"revision": 5, "raft_term": 2},
                         kvs=[{"key": b"caf\xc3\xa9", "value": b"\xff\x00", "mod_revision": 3},
                              {"key": b"b", "value": b"hello"}], count=2)
    assert format_value(resp) == "\n".join([
        "RangeResponse",
        "  header: revision=5 raft_term=2",
        "  kvs:",
        "    - key: 'café'",
        "      mod_revision: 3",
        "      value: b'\\xff\\x00'",
        "    - key: 'b'",
        "      value: 'hello'",
        "  count: 2",
    ])
    assert format_value(resp.kvs).splitlines()[0] == "- key: 'café'"
    assert format_value(_model("3.5", "delete_range")()) == "DeleteRangeResponse()"
    assert format_value({"a": [1, 2]}) == "{'a': [1, 2]}"


def test_enums_show_even_as_their_first_member():
    WatchResponse = _model("3.5", "watch")
    text = format_value(WatchResponse(events=[{"type": "PUT", "kv": {"key": b"k", "value": b"v"}}]))
    assert "    - type: PUT\n      kv: key='k' value='v'" in text


@pytest.fixture(scope="module")
def offline_client():
    import warnings

    from etcd3 import Client
    from etcd3.testing.server import free_port

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no server: the client assumes its default version
        c = Client(port=free_port(), server_version="3.5.0", timeout=1)
    yield c
    c.close()


def test_completion_of_rpcs_and_keyword_arguments(offline_client):
    ns = namespace(offline_client)
    import etcd3
    from etcd3 import errors

    assert ns["c"] is ns["client"] is offline_client
    assert (ns["Lease"], ns["Election"], ns["FairLock"]) == (etcd3.Lease, etcd3.Election, etcd3.FairLock)
    assert ns["errors"] is errors and ns["Etcd3APIError"] is errors.Etcd3APIError
    completer = ShellCompleter(ns)
    assert completer.matches_for("c.pu", "") == ["c.put("]
    assert "c.lease_grant(" in completer.matches_for("c.lease_", "")
    assert "client.range(" in completer.matches_for("client.ra", "")
    assert completer.matches_for("k", "c.put(") == ["key="]
    assert completer.matches_for("", 'c.put("a", ')[:2] == ["key=", "value="]
    assert "key=" not in completer.matches_for("", "c.put(key=b'a', ")  # given already
    assert {"keys_only=", "key="} <= set(completer.matches_for("k", "x = c.range("))
    assert completer.matches_for("Txn", "")[0].startswith("Txn")
    assert completer.matches_for("", "") == ["\t"]  # Tab at the start of a line indents
    assert completer.matches_for("c.down", "") == ["c.downgrade("]


def test_completion_follows_the_servers_spec():
    import warnings

    from etcd3 import Client
    from etcd3.testing.server import free_port

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = Client(port=free_port(), server_version="3.3.25", timeout=1)
    with old:
        assert ShellCompleter(namespace(old)).matches_for("c.down", "") == []  # Downgrade is 3.5's


def test_history_path_follows_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "etcd3" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".local" / "state" / "etcd3" / "history"
