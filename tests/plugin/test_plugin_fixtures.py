"""The pytest plugin (etcd3/testing/pytest_plugin.py) as users meet it: small user projects
run by pytest's own ``pytester`` in a subprocess, with the plugin loaded from its
``pytest11`` entry point.  The outer run's version matrix plays no part here (the inner
runs pick their own versions), so nothing is parametrized over it.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etcd3.testing.server import EtcdServer, binary_version, cache_dir, find_etcd

pytest_plugins = ["pytester"]

# pytester gives the inner runs a HOME of their own: point them at the real cache
CACHE = cache_dir()


@pytest.fixture(autouse=True)
def _real_cache(monkeypatch):
    monkeypatch.setenv("ETCD3_CACHE", str(CACHE))

# the user project: every fixture, and a conftest-free factory use
USER_PROJECT = '''
import asyncio
import os

from etcd3.testing.pytest_plugin import etcd_client_factory, etcd_proc_factory

etcd_secure = etcd_proc_factory(tls=True, auth=True)
etcd_secure_client = etcd_client_factory("etcd_secure")


def record(*servers):
    with open(os.environ["PLUGIN_PIDS"], "a") as f:
        for server in servers:
            f.write("%d %s\\n" % (server.pid, server.data_dir))


def test_proc(etcd_proc):
    record(etcd_proc)
    assert etcd_proc.running
    assert str(etcd_proc.get("/health")["health"]).lower() == "true"


def test_writes(etcd_client):
    etcd_client.put("shared/key", "left behind?")
    lease = etcd_client.lease_grant(TTL=600)
    etcd_client.put("shared/leased", "x", lease=lease.ID)
    etcd_client.user_add(name="alice", password="pw")
    etcd_client.role_add(name="reader")
    assert etcd_client.range("shared/key").kvs[0].value == b"left behind?"


def test_does_not_see_the_earlier_test(etcd_client):
    assert not etcd_client.range("shared/", prefix=True).kvs
    assert not etcd_client.lease_leases().leases
    assert not etcd_client.user_list().users
    assert not etcd_client.role_list().roles


def test_enables_auth_without_telling(etcd_client):
    etcd_client.user_add(name="root", password="secret")
    etcd_client.role_add(name="root")
    etcd_client.user_grant_role(user="root", role="root")
    etcd_client.auth_enable()


def test_auth_is_off_again(etcd_client):
    etcd_client.put("k", "v")
    assert etcd_client.range("k").kvs[0].value == b"v"


def test_aio(aio_etcd_client):
    async def go():
        await aio_etcd_client.put("aio/k", "v")
        return (await aio_etcd_client.range("aio/k")).kvs[0].value

    assert asyncio.run(go()) == b"v"


def test_noproc(etcd_noproc, etcd_client_of_noproc):
    assert etcd_noproc.endpoint == os.environ["OUTER_ENDPOINT"]
    etcd_client_of_noproc.put("noproc/k", "v")
    assert etcd_noproc.version


def test_tls_and_auth(etcd_secure, etcd_secure_client):
    record(etcd_secure)
    assert etcd_secure.endpoint.startswith("https://")
    etcd_secure_client.put("secure/k", "v")
    assert etcd_secure_client.range("secure/k").kvs[0].value == b"v"
    assert etcd_secure_client.auth_status().enabled if "auth_status" in etcd_secure_client.operations else True


def test_cluster(etcd_cluster):
    record(*etcd_cluster.members)
    assert len(etcd_cluster.endpoints) == 3
    leader = etcd_cluster.leader()
    index = etcd_cluster.members.index(leader)
    etcd_cluster.kill_member(index)
    assert not leader.running
    assert etcd_cluster.leader(timeout=10) not in (None, leader)
    etcd_cluster.restart_member(index)
    assert leader.running
'''

NOPROC_CLIENT = '''
from etcd3.testing.pytest_plugin import etcd_client_factory

etcd_client_of_noproc = etcd_client_factory("etcd_noproc")
'''


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def pids(pytester, monkeypatch):
    """The file the user project records its servers' pids and data dirs in; afterwards
    every one of those processes is gone and so is its data dir."""
    path = pytester.path / "pids.txt"
    monkeypatch.setenv("PLUGIN_PIDS", str(path))
    monkeypatch.delenv("ETCD_BINARY", raising=False)
    yield path
    for line in path.read_text().splitlines() if path.exists() else ():
        pid, data_dir = line.split(" ", 1)
        assert not alive(int(pid)), f"etcd pid {pid} outlived the session"
        assert not Path(data_dir).exists(), f"{data_dir} left behind"


@pytest.fixture(scope="module")
def outer_server():
    with EtcdServer() as server:
        yield server


def _etcd_leftovers(pytester) -> list:
    return [p for p in pytester.path.rglob("etcd3-py-*") if p.is_dir()]


def test_a_user_project_using_every_fixture_passes(pytester, pids, outer_server, monkeypatch):
    monkeypatch.setenv("OUTER_ENDPOINT", outer_server.endpoint)
    pytester.makepyfile(test_user_project=USER_PROJECT + NOPROC_CLIENT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--etcd-port",
                                           str(outer_server.port), "-v")
    result.assert_outcomes(passed=9)
    assert len(pids.read_text().splitlines()) == 5  # proc, secure, 3 members
    assert not _etcd_leftovers(pytester)


VERSION_PROJECT = '''
import os

def test_version(etcd_proc, etcd_client, etcd_matrix_version):
    with open(os.environ["PLUGIN_PIDS"], "a") as f:
        f.write("%d %s\\n" % (etcd_proc.pid, etcd_proc.data_dir))
    assert etcd_proc.version.startswith(etcd_matrix_version + ".")
    etcd_client.put("k", etcd_proc.version)

def test_no_etcd():
    pass
'''


def test_two_versions_run_every_etcd_test_once_per_version(pytester, pids):
    pytester.makepyfile(test_versions=VERSION_PROJECT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v",
                                           "--etcd-versions", "3.4,3.5")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_version?etcd3.4? PASSED*", "*test_version?etcd3.5? PASSED*",
                                 "*test_no_etcd PASSED*"])
    assert len(pids.read_text().splitlines()) == 2


def test_the_ini_names_the_version_and_the_command_line_wins(pytester, pids):
    pytester.makepyfile(test_versions=VERSION_PROJECT)
    pytester.makeini("[pytest]\netcd_versions = 3.4, 3.5\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "--etcd-version", "3.4")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_version PASSED*"])


XDIST_PROJECT = '''
import os

def _record(etcd_proc, etcd_client):
    etcd_client.put("k", "v")
    with open(os.environ["PLUGIN_PIDS"], "a") as f:
        f.write("%d %s\\n" % (etcd_proc.pid, etcd_proc.data_dir))
    with open(os.environ["PLUGIN_PORTS"], "a") as f:
        f.write("%s %d\\n" % (os.environ.get("PYTEST_XDIST_WORKER"), etcd_proc.port))
''' + "".join(f'''
def test_{i}(etcd_proc, etcd_client):
    _record(etcd_proc, etcd_client)
''' for i in range(6))


def test_xdist_workers_get_servers_and_ports_of_their_own(pytester, pids, monkeypatch):
    pytest.importorskip("xdist")
    ports = pytester.path / "ports.txt"
    monkeypatch.setenv("PLUGIN_PORTS", str(ports))
    pytester.makepyfile(test_parallel=XDIST_PROJECT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=6)
    by_worker = {}
    for line in ports.read_text().splitlines():
        worker, port = line.split()
        by_worker.setdefault(worker, set()).add(port)
    assert set(by_worker) == {"gw0", "gw1"}
    assert all(len(p) == 1 for p in by_worker.values())  # one server per worker session
    assert by_worker["gw0"] != by_worker["gw1"]
    assert len({line.split()[0] for line in pids.read_text().splitlines()}) == 2
    assert not _etcd_leftovers(pytester)


def test_a_suite_without_etcd_fixtures_starts_nothing_and_imports_no_etcd3(pytester):
    pytester.makepyfile(test_plain=(
        "import sys\n"
        "def test_plain(request):\n"
        "    assert request.config.pluginmanager.get_plugin('etcd3') is not None\n"
        "    assert 'etcd3' not in sys.modules\n"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_ctrl_c_stops_the_server(pytester, pids):
    pytester.makepyfile(test_interrupted=(
        "import os, time\n"
        "def test_waits(etcd_proc):\n"
        "    with open(os.environ['PLUGIN_PIDS'], 'a') as f:\n"
        "        f.write('%d %s\\n' % (etcd_proc.pid, etcd_proc.data_dir))\n"
        "    time.sleep(120)  # interrupted by the outer test\n"))
    proc = pytester.popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           f"--basetemp={pytester.path / 'tmp'}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and pids.read_text().endswith("\n")):
            assert proc.poll() is None and time.monotonic() < deadline, "the inner run never started etcd"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the pids fixture checks that the server and its data dir are gone


# --------------------------------------------------------------------------- bad input

USES_PROC = "def test_it(etcd_proc):\n    pass\n"


def _setup_error(pytester, *args, source=USES_PROC) -> str:
    pytester.makepyfile(test_bad=source)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)
    result.assert_outcomes(errors=1)
    return result.stdout.str()


def test_an_unknown_version_is_a_fixture_error_naming_it(pytester):
    out = _setup_error(pytester, "--etcd-version", "9.9.9", "--etcd-fetch")
    assert "etcd 9.9.9 is not installed and not a version etcd3-py can fetch" in out


def test_a_missing_version_says_how_to_get_it(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("ETCD3_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("ETCD_BINARY", raising=False)
    out = _setup_error(pytester, "--etcd-version", "3.4")
    assert "etcd 3.4 not found" in out and "--etcd-fetch" in out


def test_a_binary_that_is_not_etcd_is_named(pytester):
    out = _setup_error(pytester, "--etcd-binary", "/bin/true")
    assert "/bin/true --version printed no version" in out


def test_a_port_in_use_is_named_with_the_log(pytester, pids):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _setup_error(pytester, source=(
            "from etcd3.testing.pytest_plugin import etcd_proc_factory\n"
            f"etcd_fixed = etcd_proc_factory(port={port})\n"
            "def test_it(etcd_fixed):\n    pass\n"))
    assert "exited with code" in out and "last lines of etcd" in out
    assert "address already in use" in out


def test_a_server_exiting_at_start_shows_its_log(pytester):
    out = _setup_error(pytester, source=(
        "from etcd3.testing.pytest_plugin import etcd_proc_factory\n"
        "etcd_broken = etcd_proc_factory(extra_args=['--no-such-flag'])\n"
        "def test_it(etcd_broken):\n    pass\n"))
    assert "exited with code" in out and "no-such-flag" in out


def test_the_binary_found_is_the_newest(pytester):
    # without any option the plugin runs what find_etcd() finds
    pytester.makepyfile(test_any=(
        "def test_any(etcd_proc):\n"
        f"    assert etcd_proc.binary_version == {binary_version(find_etcd())!r}\n"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
