"""Programs written for etcd3-py 0.1.6 run unchanged: each file of ``programs/`` is a
small script in the style of 0.1.6's README and docs that asserts what 0.1.6 gave; it
runs here as a subprocess (this interpreter) against a real server and must exit 0.
Programs that change cluster-wide state (auth, compaction) get a server of their own."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.etcd_versions("oldest", "3.4.23", "newest")  # a version per minor

PROGRAMS = Path(__file__).resolve().parent / "programs"
REPO = PROGRAMS.parents[2]
# programs that turn auth on or compact the store
NEED_OWN_SERVER = {"auth_roles.py", "errors_by_name.py"}
TIMEOUT = 120


def program_names():
    return sorted(p.name for p in PROGRAMS.glob("*.py"))


def run_program(name: str, server) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONDONTWRITEBYTECODE="1")
    env.pop("ETCD_HOST", None)
    env.pop("ETCD_PORT", None)
    return subprocess.run([sys.executable, str(PROGRAMS / name), server.host, str(server.port)],
                          cwd=str(PROGRAMS), env=env, capture_output=True, text=True, timeout=TIMEOUT)


def test_there_are_enough_programs():
    assert 10 <= len(program_names()) <= 15


@pytest.mark.parametrize("name", sorted(set(program_names()) - NEED_OWN_SERVER))
def test_program(name, etcd):
    check(name, run_program(name, etcd))


@pytest.mark.parametrize("name", sorted(NEED_OWN_SERVER))
def test_program_with_a_server_of_its_own(name, fresh_etcd):
    check(name, run_program(name, fresh_etcd))


def check(name: str, done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, "%s exited %d\n--- stdout\n%s\n--- stderr\n%s" % (
        name, done.returncode, done.stdout[-4000:], done.stderr[-6000:])
    assert done.stdout.rstrip().endswith("OK"), done.stdout[-2000:]
